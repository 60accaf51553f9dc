"""``SemserHyperModel``: the paper's model as a keras-tuner HyperModel.

A module-level subclass of ``keras_tuner.HyperModel``, in the manner of keras-tuner's
own ``keras_tuner.applications.HyperResNet``: use it with any keras-tuner tuner, check it
with ``isinstance`` and subclass it (override :meth:`SemserHyperModel.build` for another
architecture or :meth:`SemserHyperModel.fit` for another training). This module imports
keras-tuner; ``semser_tf.tuning`` loads it on first use of the name.

Seeds: neither ``build`` nor ``fit`` sets the global random seed. The caller of ``build``
seeds once per trial, at the trial's start: the tuners of :mod:`semser_tf.tuning.tuners`
call ``keras.utils.set_random_seed`` with ``hypermodel.trial_seed(hp)`` in ``run_trial``; with
another tuner, seed it yourself (e.g. in your tuner's ``run_trial``).
"""

from __future__ import annotations

import keras_tuner

from semser_tf.models.config import ModelConfig
from semser_tf.tuning.space import SearchSpace, config_for


class SemserHyperModel(keras_tuner.HyperModel):
    """A keras-tuner HyperModel of the paper's model trained on a corpus.

    ``build(hp)`` declares the search space, makes the trial's ModelConfig
    (:func:`~semser_tf.tuning.space.config_for`) and returns the compiled model;
    ``fit(hp, model, ...)`` trains it on the corpus's training partition with validation
    data (so ``val_ccc`` and ``val_ccc_<target>`` are logged) and returns the History.

    Args:
        base_config: the base ModelConfig (everything not searched).
        space: the :class:`~semser_tf.tuning.space.SearchSpace` (a dict is parsed).
        corpus: the corpus (with a validation partition, or ``val_fraction`` in settings).
        settings: ``TrainSettings`` (epochs, partitions, steps per epoch, delay).
        frame_features: semantic frame features, or ``None`` for zeros.
        cache_dir: the loader's cache folder.

    Example:

    >>> hm = SemserHyperModel(ModelConfig(), SearchSpace.from_dict(DEFAULT_SPACE), corpus, TrainSettings())  # doctest: +SKIP
    >>> tuner = keras_tuner.RandomSearch(hm, objective=make_objective("val_ccc", corpus.targets), max_trials=5)  # doctest: +SKIP
    >>> tuner.search()  # doctest: +SKIP
    """

    def __init__(
        self,
        base_config: ModelConfig,
        space,
        corpus,
        settings,
        frame_features=None,
        cache_dir=None,
        **kwargs,
    ):
        kwargs.setdefault("name", "semser")
        kwargs.setdefault("tunable", True)
        super().__init__(**kwargs)
        if isinstance(space, dict):
            space = SearchSpace.from_dict(space)
        self.base_config, self.space, self.corpus = base_config, space, corpus
        self.settings, self.frame_features, self.cache_dir = settings, frame_features, cache_dir

    def config(self, hp) -> ModelConfig:
        """The trial's ModelConfig: declares the search space on ``hp``, then :func:`config_for`.

        :meth:`build` and :meth:`fit` (its windows, batch size, seed) both read it: override
        it to change the config of a trial (other hyperparameters ``hp`` holds are ignored).
        """
        return config_for(self.base_config, self.space.declare(hp))

    def trial_seed(self, hp) -> int:
        """The seed of the trial whose values ``hp`` holds (the ``seed`` searched, else the base config's).

        Read by the caller of :meth:`build` at the trial's start; declares nothing.
        """
        values = {k: v for k, v in hp.values.items() if k in self.space.params}
        return int(config_for(self.base_config, values).seed)

    def build(self, hp):
        """The compiled model of the trial's config (a fused one warm-started as
        ``semser train`` does with ``settings.warm_start``)."""
        from semser_tf.models.builder import build_model, compile_model
        from semser_tf.training.staged import (
            branch_schedule,
            is_staged,
            warm_start_file,
            warm_started,
        )

        config = self.config(hp)
        model = build_model(config)
        # the warm start of semser train's fused runs; a trial trains no first stage: with
        # the default staged_epochs (None) and no warm_start its fused model starts fresh
        staged = is_staged(self.settings, config)
        if staged and not self.settings.warm_start and self.settings.staged_epochs is None:
            staged = False
        if staged:
            if not self.settings.warm_start:
                from semser_tf.errors import ConfigError

                raise ConfigError(
                    "TrainSettings.staged_epochs: a tuner trial trains no first stage; give "
                    "the paralinguistic run to start from with warm_start (--warm-start RUN)"
                )
            model = warm_started(model, warm_start_file(self.settings.warm_start))
        model = compile_model(model, config, jit_compile=self.settings.jit_compile)
        # the branch's unfreezing after staged_frozen_epochs, as in semser train
        self._schedules = {
            id(model): branch_schedule(model, config, self.settings) if staged else []
        }
        return model

    def datasets(self, hp, model):
        """``(train_epoch, val_ds, steps_per_epoch)`` of the trial's config, in ``model``'s
        input form: the same data as ``semser train`` with that config
        (:func:`semser_tf.training.run_data.training_data`: epoch ``e`` reshuffled with seed
        ``config.seed + e``)."""
        from semser_tf.data.pipeline import ZeroFrameFeatures
        from semser_tf.training.run_data import training_data

        config = self.config(hp)
        features = self.frame_features or ZeroFrameFeatures(config.semantic_dim)
        return training_data(self.corpus, self.settings, config, features, self.cache_dir, model)

    # -- THE TRAINING CALL ----------------------------------------------------------------
    # The one place a trial trains: the data of semser train (training_data) streamed over
    # the epochs as train's loop does (epoch_stream), in one model.fit with keras-tuner's
    # callbacks (its best-epoch checkpoint among them); returns the History.
    def fit(self, hp, model, *args, **kwargs):
        """Train ``model`` for the trial ``hp`` on the corpus; returns the Keras History.

        The data come from the corpus (positional data arguments are refused);
        ``validation_data`` given by a caller is replaced by the validation partition.
        ``epochs`` defaults to ``settings.epochs`` (Hyperband passes its own budget and
        ``initial_epoch``); every other keyword, the tuner's ``callbacks`` included, goes
        to ``model.fit``.
        """
        import warnings

        from semser_tf.training.device_feed import feed_for_fit
        from semser_tf.training.loop import epoch_stream

        if args:
            raise TypeError(
                "SemserHyperModel.fit takes its data from the corpus; do not pass data to "
                "tuner.search() (got positional arguments)."
            )
        from semser_tf.data.pipeline import ZeroFrameFeatures
        from semser_tf.training.run_data import validation_setup

        train_epoch, val_ds, steps = self.datasets(hp, model)
        config = self.config(hp)
        features = self.frame_features or ZeroFrameFeatures(config.semantic_dim)
        val_data, val_callbacks = validation_setup(
            self.corpus, self.settings, config, features, self.cache_dir, val_ds
        )
        # the carried validation writes val_* before keras-tuner's callbacks read them
        schedule = list(getattr(self, "_schedules", {}).get(id(model), []))
        kwargs["callbacks"] = [*val_callbacks, *kwargs.get("callbacks", []), *schedule]
        epochs = kwargs.pop("epochs", self.settings.epochs)
        initial = kwargs.pop("initial_epoch", 0)
        kwargs.setdefault("verbose", 0)
        kwargs.pop("validation_data", None)
        kwargs.pop("steps_per_epoch", None)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ran out of data.*")
            return model.fit(
                feed_for_fit(epoch_stream(train_epoch, initial, epochs, steps)),
                validation_data=val_data,
                epochs=epochs,
                initial_epoch=initial,
                steps_per_epoch=steps,
                shuffle=False,
                **kwargs,
            )
