"""Staged training and the unimodal warm start of a fused model's paralinguistic branch.

A fused variant (``concat``, ``attention``) can start with its ``paralinguistic`` branch
(the waveform conv stack) taken from a paralinguistic-only model trained alone: either a
first stage trained here (``TrainSettings.staged_epochs``, in ``RUN/stage1``) or a model
trained before (``TrainSettings.warm_start``: a run folder or ``.keras`` file; ``semser
ablation`` passes its own paralinguistic run on). Du et al., "On Uni-Modal Feature
Learning in Supervised Multi-Modal Learning" (ICML 2023): a jointly trained fused model
under-learns the features each modality learns alone; initialising its encoders from
models trained alone gives them back.

The branch is frozen in the fused training; with ``TrainSettings.staged_frozen_epochs = K``
it trains again after ``K`` fused epochs, with the learning rate of the whole model cut to
``staged_finetune_lr`` times the config's (first the new layers on fixed features, then all
of them at a lower rate: Kumar et al., "Fine-Tuning can Distort Pretrained Features and
Underperform Out-of-Distribution", ICLR 2022). Only the branch maps one to one between the
models: the paralinguistic-only model's LSTM reads the branch's frame vectors, the fused
model's reads the fusion's output (other widths), and the semantic-only model has no layer
before its LSTM (the aligned word embeddings are its input).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras

from semser_tf.errors import ConfigError, DataError
from semser_tf.training.run_folder import BEST

__all__ = [
    "BRANCH",
    "STAGE1",
    "BranchSchedule",
    "branch_schedule",
    "first_stage_epochs",
    "is_staged",
    "staged_model",
    "warm_start_file",
    "warm_started",
]

STAGE1 = "stage1"
"""Sub-folder of a staged run holding its paralinguistic-only first stage (a run folder of its own)."""

BRANCH = "paralinguistic"
"""The layer a warm start copies: the waveform conv stack."""

FUSED = ("concat", "attention")


def first_stage_epochs(settings) -> int:
    """The epochs of a staged run's first stage: ``settings.staged_epochs``, or
    ``settings.epochs`` when that is ``None`` (the default)."""
    v = getattr(settings, "staged_epochs", 0)
    return int(settings.epochs if v is None else v)


def is_staged(settings, config) -> bool:
    """Whether a run of ``config`` starts from a paralinguistic model (stage 1 or warm start)."""
    return config.variant in FUSED and bool(
        first_stage_epochs(settings) or getattr(settings, "warm_start", None)
    )


def warm_start_file(source) -> Path:
    """The ``.keras`` file ``TrainSettings.warm_start`` names: the file itself, or the
    ``best.keras`` of a run folder; a ``DataError`` when there is none."""
    path = Path(source)
    if path.is_dir():
        path = path / BEST
    if not path.is_file():
        raise DataError(
            "TrainSettings.warm_start: no model there; expected a paralinguistic run folder "
            "(with its best.keras) or a .keras file",
            path,
        )
    return path


def warm_started(fused, source, freeze: bool = True):
    """``fused`` with its ``paralinguistic`` branch set to that of the paralinguistic-only
    model in ``source`` (a ``.keras`` file or a loaded model) and frozen (``freeze``).

    Raises:
        ConfigError: ``source`` is not a paralinguistic model, or its branch has weights
            of other shapes than ``fused``'s (naming ``TrainSettings.warm_start``).
    """
    from semser_tf.models.builder import load_model

    name = str(source)
    if not isinstance(source, keras.Model):
        source = load_model(source)
    variant = getattr(source, "variant", None)
    if variant != "paralinguistic":
        raise ConfigError(
            f"TrainSettings.warm_start: {name} is a {variant or 'non-semser'} model; expected "
            "a paralinguistic-only one (semser train --variant paralinguistic)"
        )
    values = source.get_layer(BRANCH).get_weights()
    branch = fused.get_layer(BRANCH)
    want = [tuple(w.shape) for w in branch.weights]
    if [v.shape for v in values] != want:
        raise ConfigError(
            f"TrainSettings.warm_start: the branch of {name} has weights of shapes "
            f"{[v.shape for v in values]}, the fused model's {want}; train it with the same "
            "conv_filters, conv_kernel_sizes, conv_pool_sizes and frame_pooling"
        )
    branch.set_weights(values)
    branch.trainable = not freeze
    return fused


def staged_model(
    corpus, out_dir, config, settings, frame_features, cache_dir, verbose, fit_run
) -> keras.Model:
    """The fused model of ``config`` whose ``paralinguistic`` branch comes from a
    paralinguistic-only model, frozen: ``settings.warm_start`` when given, else a first
    stage trained :func:`first_stage_epochs` epochs into ``out_dir/stage1`` (resumable like
    any run; its ``best.keras``, selected on the mean CCC)."""
    from semser_tf.models.builder import build_model, compile_model
    from semser_tf.training.run_data import training_data, validation_setup

    if settings.warm_start:
        return warm_started(build_model(config), warm_start_file(settings.warm_start))
    stage_dir = Path(out_dir) / STAGE1
    stage_config = config.replace(variant="paralinguistic")
    stage_settings = dataclasses.replace(
        settings,
        epochs=first_stage_epochs(settings),
        staged_epochs=0,
        staged_frozen_epochs=None,
        select_per_target=False,
        modality_dropout=0.0,
    )
    para = compile_model(build_model(stage_config), stage_config, jit_compile=settings.jit_compile)
    train_epoch, val_ds, steps = training_data(
        corpus, stage_settings, stage_config, frame_features, cache_dir, para, progress=False
    )
    val_data, val_callbacks = validation_setup(
        corpus, stage_settings, stage_config, frame_features, cache_dir, val_ds
    )
    fit_run(
        para,
        train_epoch,
        val_data,
        stage_dir,
        stage_settings,
        verbose=verbose,
        steps_per_epoch=steps,
        validation_callbacks=val_callbacks,
    )
    best = stage_dir / BEST
    if not best.is_file():
        raise DataError(
            "the paralinguistic stage wrote no best.keras (no epoch with a validation CCC); "
            "staged training cannot continue",
            stage_dir,
        )
    return warm_started(build_model(config), best)


class BranchSchedule(keras.callbacks.Callback):
    """Unfreezes the model's ``paralinguistic`` branch at the start of fused epoch
    ``frozen_epochs`` (0-based: after that many epochs) and sets the optimizer's learning
    rate to ``learning_rate`` from then on; Keras's train function is rebuilt so that the
    step updates the branch too. It acts at every epoch's start from the epoch number
    alone, so a resumed run gets the state of an uninterrupted one.

    The optimizer must hold slots for the branch's variables before the first step
    (:func:`branch_schedule` builds it so).
    """

    def __init__(self, frozen_epochs: int, learning_rate: float):
        super().__init__()
        self.frozen_epochs = int(frozen_epochs)
        self.learning_rate = float(learning_rate)

    def on_epoch_begin(self, epoch, logs=None):
        if epoch < self.frozen_epochs:
            return
        branch = self.model.get_layer(BRANCH)
        if not branch.trainable:
            branch.trainable = True
            self.model.make_train_function(force=True)
        self.model.optimizer.learning_rate = self.learning_rate


def branch_schedule(model, config, settings) -> list:
    """The callbacks of a staged or warm-started run's fused stage (``[BranchSchedule]``
    when ``settings.staged_frozen_epochs`` is set, else none), after building the compiled
    ``model``'s optimizer over every variable that will train, the frozen branch's
    included (the same list on a resume, so that the saved optimizer state fits)."""
    k = getattr(settings, "staged_frozen_epochs", None)
    if k is None or not is_staged(settings, config):
        return []
    branch = model.get_layer(BRANCH)
    was = branch.trainable
    branch.trainable = True
    variables = list(model.trainable_variables)
    branch.trainable = was
    if not model.optimizer.built:
        model.optimizer.build(variables)
    return [BranchSchedule(k, config.learning_rate * settings.staged_finetune_lr)]
