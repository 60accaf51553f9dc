"""Fusion training remedies (issue 17): per-target model selection, modality dropout on the
semantic input, staged training (paralinguistic branch first, then frozen), and the
ablation's PNG of per-target bars."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from semser_tf.errors import ConfigError
from tests.data.conftest import loader_corpus  # noqa: F401
from tests.training.conftest import SMALL, train_small

# crafted validation CCC per epoch: arousal peaks at epoch 2, valence at epoch 4, liking at 3,
# the mean at epoch 4 (as on the synthetic corpus: arousal early, valence late)
CRAFTED = {
    "arousal": [0.2, 0.9, 0.3, 0.1],
    "valence": [0.1, 0.2, 0.3, 0.8],
    "liking": [0.1, 0.3, 0.7, 0.6],
}


class Crafted(keras.callbacks.Callback):
    """Sets ``val_ccc_<target>`` and ``val_ccc`` to :data:`CRAFTED` and records the
    weights at the end of each epoch (what a checkpoint of that epoch holds)."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        for t, v in CRAFTED.items():
            logs[f"val_ccc_{t}"] = v[epoch]
        logs["val_ccc"] = float(np.mean([v[epoch] for v in CRAFTED.values()]))
        self.weights.append([w.copy() for w in self.model.get_weights()])


@pytest.fixture
def corpus(loader_corpus):  # noqa: F811
    from semser_tf.data.sewa import SEWACorpus

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SEWACorpus(loader_corpus["root"])


_train = train_small


def test_per_target_checkpoints_hold_each_targets_best_epoch(corpus, tmp_path):
    from semser_tf.models.builder import load_model

    crafted = Crafted()
    run = tmp_path / "run"
    report = _train(corpus, run, epochs=4, patience=10, select_per_target=True, callbacks=[crafted])
    assert report["best_epoch"] == 4  # the mean: (0.1 + 0.8 + 0.6) / 3 = 0.5 is the highest
    expected = {"arousal": 2, "valence": 4, "liking": 3}
    assert {t: v["epoch"] for t, v in report["best_epoch_per_target"].items()} == expected
    for target, epoch in expected.items():
        saved = load_model(run / f"best-{target}.keras").get_weights()
        for got, want in zip(saved, crafted.weights[epoch - 1]):
            np.testing.assert_array_equal(got, want)
    # no temporary file is left beside the checkpoints
    assert sorted(p.name for p in run.glob("*.keras")) == [
        "best-arousal.keras",
        "best-liking.keras",
        "best-valence.keras",
        "best.keras",
    ]


def test_without_per_target_selection_only_best_keras(corpus, tmp_path):
    report = _train(corpus, tmp_path / "run", epochs=1)
    assert [p.name for p in (tmp_path / "run").glob("*.keras")] == ["best.keras"]
    assert set(report["best_epoch_per_target"]) == {
        "arousal",
        "valence",
        "liking",
    }  # from the history


def _batches(n_batches=50, batch=8, T=5, D=3):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    sem = rng.uniform(0.5, 1.5, (n_batches, batch, T, D)).astype("float32")  # never zero
    wav = rng.normal(size=(n_batches, batch, T, 4)).astype("float32")
    y = rng.normal(size=(n_batches, batch, T, 3)).astype("float32")
    w = np.ones((n_batches, batch, T), "float32")
    ds = tf.data.Dataset.from_tensor_slices(({"waveform": wav, "semantic": sem}, y, w))
    return ds, sem, wav, y


def test_modality_dropout_zeroes_whole_windows_of_the_semantic_input_only():
    from semser_tf.data.pipeline import modality_dropout

    ds, sem, wav, y = _batches()
    out = list(modality_dropout(ds, 0.3, seed=11).as_numpy_iterator())
    got = np.stack([x["semantic"] for x, _, _ in out])
    dropped = (got == 0).all(axis=(2, 3))  # (batches, windows)
    kept = ~dropped
    # a window is either all zeros or exactly its input; nothing else is touched
    np.testing.assert_array_equal(got[kept], sem[kept])
    assert not (got[kept] == 0).any()
    np.testing.assert_array_equal(np.stack([x["waveform"] for x, _, _ in out]), wav)
    np.testing.assert_array_equal(np.stack([t for _, t, _ in out]), y)
    # 400 windows at p = 0.3: the share dropped is within 4.5 standard deviations (0.023) of 0.3
    assert abs(dropped.mean() - 0.3) < 0.1
    # the same seed drops the same windows, another seed others
    again = np.stack(
        [x["semantic"] for x, _, _ in modality_dropout(ds, 0.3, seed=11).as_numpy_iterator()]
    )
    np.testing.assert_array_equal(again, got)
    other = np.stack(
        [x["semantic"] for x, _, _ in modality_dropout(ds, 0.3, seed=12).as_numpy_iterator()]
    )
    assert ((other == 0).all(axis=(2, 3)) != dropped).any()


def test_modality_dropout_of_either_input_drops_one_of_the_two():
    from semser_tf.data.pipeline import modality_dropout

    ds, sem, _, y = _batches()
    rng = np.random.default_rng(1)
    wav = rng.uniform(0.5, 1.5, sem.shape[:3] + (4,)).astype("float32")  # never zero
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(
        ({"waveform": wav, "semantic": sem}, y, np.ones(sem.shape[:3], "f4"))
    )
    out = list(modality_dropout(ds, 0.5, seed=3, key=("waveform", "semantic")).as_numpy_iterator())
    no_wav = np.stack([(x["waveform"] == 0).all(axis=(1, 2)) for x, _, _ in out])
    no_sem = np.stack([(x["semantic"] == 0).all(axis=(1, 2)) for x, _, _ in out])
    assert not (no_wav & no_sem).any()  # never both
    # 400 windows at p = 0.5, one input drawn uniformly: about 100 of each, 200 kept
    assert 60 < no_wav.sum() < 140 and 60 < no_sem.sum() < 140
    kept_w, kept_s = ~no_wav, ~no_sem
    np.testing.assert_array_equal(np.stack([x["waveform"] for x, _, _ in out])[kept_w], wav[kept_w])
    np.testing.assert_array_equal(np.stack([x["semantic"] for x, _, _ in out])[kept_s], sem[kept_s])


def test_modality_dropout_rejects_bad_input():
    from semser_tf.data.pipeline import modality_dropout

    ds, *_ = _batches(n_batches=1)
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        modality_dropout(ds, 1.0, seed=0)
    with pytest.raises(ConfigError, match="no input 'words'"):
        modality_dropout(ds, 0.5, seed=0, key="words")


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("modality_dropout", 1.5, r"\[0, 1\)"),
        ("modality_dropout", -0.1, r"\[0, 1\)"),
        ("staged_epochs", -1, "non-negative integer"),
        ("staged_epochs", 1.5, "non-negative integer"),
        ("select_per_target", "yes", "true or false"),
        ("dropped_input", "words", "one of semantic, waveform, either"),
    ],
)
def test_train_settings_check_the_remedies(field, value, expected):
    from semser_tf.training.run import TrainSettings

    with pytest.raises(ConfigError, match=f"TrainSettings.{field}: expected.*{expected}"):
        TrainSettings(**{field: value})


def test_staged_training_keeps_the_pretrained_branch_frozen(corpus, tmp_path):
    from semser_tf.models.builder import load_model
    from semser_tf.training.loop import read_history

    run = tmp_path / "run"
    report = _train(
        corpus,
        run,
        variant="concat",
        epochs=2,
        staged_epochs=2,
        modality_dropout=0.5,
        dropped_input="either",
    )
    assert [r["epoch"] for r in read_history(run / "stage1" / "history.csv")] == [1, 2]
    assert report["epochs_done"] == 2
    stage1 = load_model(run / "stage1" / "best.keras")
    fused = load_model(run / "best.keras")
    assert stage1.variant == "paralinguistic" and fused.variant == "concat"
    # the fused model's paralinguistic branch is the first stage's best, untouched by stage 2
    for got, want in zip(
        fused.get_layer("paralinguistic").get_weights(),
        stage1.get_layer("paralinguistic").get_weights(),
    ):
        np.testing.assert_array_equal(got, want)
    # while the rest of the fused model did train: its head is not the one it was built with
    from semser_tf.models.builder import build_model
    from semser_tf.models.config import ModelConfig

    keras.utils.set_random_seed(0)
    fresh = build_model(ModelConfig(variant="concat", **SMALL))
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(
            fused.get_layer("lstm").get_weights(), fresh.get_layer("lstm").get_weights()
        )
    )


def test_ablation_writes_a_png_of_the_per_target_bars(corpus, tmp_path):
    from semser_tf.models.config import ModelConfig
    from semser_tf.training.ablation import ablation
    from semser_tf.training.run import TrainSettings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = ablation(
            corpus,
            tmp_path / "abl",
            ModelConfig(**SMALL),
            TrainSettings(epochs=1, select_per_target=True),
            variants=("paralinguistic",),
            verbose=0,
            evaluate_partition="Devel",
        )
    png = (tmp_path / "abl" / "ablation.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    # rows: the mean-selected model and the per-target selection, on both partitions asked for
    assert [(r["partition"], r["selection"]) for r in table["rows"]] == [
        ("Devel", "mean"),
        ("Devel", "per-target"),
        ("Devel", "mean"),
        ("Devel", "per-target"),
    ]
    md = (tmp_path / "abl" / "ablation.md").read_text()
    assert "| paralinguistic | Devel | per-target |" in md
