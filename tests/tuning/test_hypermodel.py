"""SemserHyperModel is a plain keras-tuner HyperModel: isinstance, subclassing and keras-tuner's
own tuners work; each Semser tuner trial is seeded once, before its build."""

import pytest

from tests.tuning.conftest import TINY

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def corpus(tiny_corpus):
    from semser_tf.data.sewa import SEWACorpus

    return SEWACorpus(tiny_corpus)


def settings(epochs):
    from semser_tf.training.run import TrainSettings

    return TrainSettings(epochs=epochs, steps_per_epoch=1, jit_compile=False)


def lstm_units(model):
    import keras

    return [
        layer.units for layer in model._flatten_layers() if isinstance(layer, keras.layers.LSTM)
    ]


def test_isinstance_and_one_class_for_every_import():
    import keras_tuner as kt

    from semser_tf.models import ModelConfig
    from semser_tf.tuning import SemserHyperModel
    from semser_tf.tuning.hypermodel import SemserHyperModel as Direct

    hm = SemserHyperModel(
        ModelConfig(**TINY), {"lstm_units": [4, 8]}, corpus=None, settings=settings(1)
    )
    assert isinstance(hm, SemserHyperModel) and isinstance(hm, kt.HyperModel)
    assert SemserHyperModel is Direct and type(hm) is Direct
    assert type(
        SemserHyperModel(ModelConfig(**TINY), {"lstm_units": [4]}, None, settings(1))
    ) is type(hm)
    assert hm.space.names() == ["lstm_units"]  # a dict space is parsed


def test_a_subclass_overriding_build_runs_in_keras_tuners_random_search(
    corpus, tiny_cache, tmp_path
):
    import keras_tuner as kt

    from semser_tf.models import ModelConfig
    from semser_tf.models.builder import build_model, compile_model
    from semser_tf.tuning import SemserHyperModel, make_objective

    calls = []

    class FewerUnits(SemserHyperModel):
        def build(self, hp):
            units = hp.Choice("my_units", [3, 5])
            config = self.config(hp).replace(lstm_units=units)
            model = compile_model(build_model(config), config, jit_compile=False)
            calls.append((units, lstm_units(model)))
            return model

    hm = FewerUnits(
        ModelConfig(**TINY), {"learning_rate": [1e-3]}, corpus, settings(1), cache_dir=tiny_cache
    )
    tuner = kt.RandomSearch(
        hm,
        objective=make_objective("val_ccc", corpus.targets),
        max_trials=1,
        seed=1,
        directory=str(tmp_path),
        project_name="p",
    )
    calls.clear()  # keras-tuner builds once at the tuner's creation to see the space
    tuner.search(verbose=0)
    (trial,) = tuner.oracle.trials.values()
    assert trial.status == "COMPLETED" and -1 <= trial.score <= 1
    assert trial.hyperparameters.values["my_units"] in (
        3,
        5,
    )  # the override's hyperparameter was searched
    units = trial.hyperparameters.values["my_units"]
    assert calls == [
        (units, [units])
    ]  # the trial's model came from the override, with its LSTM size


def test_the_stock_class_in_a_keras_tuner_search_passes_callbacks_to_keras(
    corpus, tiny_cache, tmp_path
):
    import keras
    import keras_tuner as kt

    from semser_tf.models import ModelConfig
    from semser_tf.tuning import SemserHyperModel, make_objective

    epochs_seen, val_ccc = [], []

    class Record(keras.callbacks.Callback):  # keras-tuner deep-copies callbacks: record outside
        def on_epoch_end(self, epoch, logs=None):
            epochs_seen.append((epoch, sorted(k for k in logs if k.startswith("val_ccc"))))
            val_ccc.append(float(logs["val_ccc"]))

    hm = SemserHyperModel(
        ModelConfig(**TINY), {"lstm_units": [4, 8]}, corpus, settings(2), cache_dir=tiny_cache
    )
    tuner = kt.RandomSearch(
        hm,
        objective=make_objective("val_ccc", corpus.targets),
        max_trials=1,
        seed=1,
        directory=str(tmp_path),
        project_name="p",
    )
    tuner.search(callbacks=[Record()], verbose=0)
    expected = ["val_ccc", "val_ccc_arousal", "val_ccc_liking", "val_ccc_valence"]
    assert epochs_seen == [
        (0, expected),
        (1, expected),
    ]  # settings.epochs, the user's callback, val metrics
    (trial,) = tuner.oracle.trials.values()
    assert trial.status == "COMPLETED"
    assert trial.score == pytest.approx(
        max(val_ccc)
    )  # the objective: the best epoch's val_ccc, maximised
    assert trial.best_step == val_ccc.index(max(val_ccc))
    # keras-tuner's own callback reached Keras too: it saved the best epoch's weights
    assert list((tmp_path / "p" / f"trial_{trial.trial_id}").glob("checkpoint*"))
    with pytest.raises(TypeError, match="takes its data from the corpus"):
        hm.fit(trial.hyperparameters, None, "x")


def test_semser_tuner_seeds_each_trial_once_before_its_build(tmp_path, monkeypatch):
    import sys
    from pathlib import Path

    import keras

    from semser_tf.models import ModelConfig
    from semser_tf.tuning import SemserHyperModel, make_objective, make_tuner

    events = []
    real_seed = keras.utils.set_random_seed

    def seed(value):
        caller = Path(sys._getframe(1).f_code.co_filename)
        events.append(("seed", value, f"{caller.parent.name}/{caller.name}"))
        real_seed(value)

    class Logged(SemserHyperModel):  # no training: the seeding around build is tested
        def build(self, hp):
            self.config(hp)
            events.append(("build", hp.values.get("seed")))
            return keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])

        def fit(self, hp, model, *args, **kwargs):
            return {"val_ccc": float(hp.values["seed"]) / 10}

    hm = Logged(ModelConfig(**TINY), {"seed": [3, 7]}, None, settings(1))
    tuner = make_tuner(
        "random", hm, make_objective("val_ccc", ["arousal"]), tmp_path, max_trials=2, seed=1
    )
    monkeypatch.setattr(keras.utils, "set_random_seed", seed)
    events.clear()  # keras-tuner builds once at the tuner's creation to see the space
    tuner.search(verbose=0)
    assert [e[0] for e in events] == ["seed", "build", "seed", "build"]
    assert {e[2] for e in events if e[0] == "seed"} == {"tuning/tuners.py"}
    assert (
        events[0][1] == events[1][1] and events[2][1] == events[3][1]
    )  # each trial's own seed, before build
    assert sorted([events[0][1], events[2][1]]) == [3, 7]


def test_semser_hyperband_keeps_hyperbands_epoch_budgets(tmp_path):
    import keras
    import keras_tuner as kt

    from semser_tf.models import ModelConfig
    from semser_tf.tuning import SemserHyperModel, adapter, make_objective, make_tuner

    fits = []

    class Budget(SemserHyperModel):  # no training: what Hyperband passes to fit is tested
        def build(self, hp):
            self.config(hp)
            return keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])

        def fit(self, hp, model, *args, **kwargs):
            fits.append((kwargs["epochs"], kwargs["initial_epoch"]))
            return {"val_ccc": hp.values["lstm_units"] / 100}

    hm = Budget(ModelConfig(**TINY), {"lstm_units": [4, 8, 12]}, None, settings(1))
    tuner = make_tuner(
        "hyperband", hm, make_objective("val_ccc", ["arousal"]), tmp_path, max_epochs=1
    )
    assert isinstance(tuner, kt.Hyperband) and isinstance(tuner.oracle, adapter.HyperbandOracle)
    assert tuner.oracle.max_epochs == 1 and tuner.oracle.max_retries_per_trial == 1
    tuner.search(verbose=0)
    # max_epochs 1, factor 3: one bracket of one round, every trial trained for 1 epoch from 0
    assert fits and set(fits) == {(1, 0)}
    assert all(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
