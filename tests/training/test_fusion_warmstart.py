"""Issue 17's fusion remedies beyond plain modality dropout: paired (per-target) modality
dropout, where each window is in its batch twice and the waveform-dropped copy is not
scored on arousal, and the unimodal warm start of the fused model's paralinguistic branch
(Du et al., ICML 2023), frozen or fine-tuned after some epochs."""

from __future__ import annotations

import json
import warnings

import keras
import numpy as np
import pytest

from semser_tf.errors import ConfigError
from tests.data.conftest import loader_corpus  # noqa: F401
from tests.training.conftest import SMALL, train_small


@pytest.fixture
def corpus(loader_corpus):  # noqa: F811
    from semser_tf.data.sewa import SEWACorpus

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SEWACorpus(loader_corpus["root"])


def _batches(n_batches=3, batch=4, T=5, D=3):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    sem = rng.uniform(0.5, 1.5, (n_batches, batch, T, D)).astype("float32")
    wav = rng.uniform(0.5, 1.5, (n_batches, batch, T, 4)).astype("float32")
    y = rng.uniform(-1, 1, (n_batches, batch, T, 3)).astype("float32")
    w = (rng.uniform(size=(n_batches, batch, T)) > 0.2).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices(({"waveform": wav, "semantic": sem}, y, w))
    return ds, sem, wav, y, w


def _np_ccc(t, p):
    mt, mp = t.mean(), p.mean()
    return 2 * np.mean((t - mt) * (p - mp)) / (t.var() + p.var() + (mt - mp) ** 2)


def test_paired_dropout_puts_each_window_twice_and_leaves_arousal_unscored_on_the_copy():
    from semser_tf.data.pipeline import modality_dropout

    ds, sem, wav, y, w = _batches()
    out = list(
        modality_dropout(
            ds, 0.0, seed=5, key="waveform", unscored=(0,), paired=True
        ).as_numpy_iterator()
    )
    assert len(out) == 3
    for b, (x, yy, ww) in enumerate(out):
        np.testing.assert_array_equal(x["waveform"], np.concatenate([wav[b], 0 * wav[b]]))
        np.testing.assert_array_equal(x["semantic"], np.concatenate([sem[b], sem[b]]))
        np.testing.assert_array_equal(yy, np.concatenate([y[b], y[b]]))
        want = np.repeat(np.concatenate([w[b], w[b]])[..., None], 3, axis=-1)
        want[4:, :, 0] = 0  # the copies: arousal not scored
        np.testing.assert_array_equal(ww, want)


def test_paired_dropout_can_teach_arousal_on_the_whole_windows_only():
    from semser_tf.data.pipeline import modality_dropout

    ds, _, _, _, w = _batches()
    out = modality_dropout(
        ds, 0.0, seed=5, key="waveform", unscored=(0,), paired=True, kept_unscored=(1, 2)
    )
    for b, (_, _, ww) in enumerate(out.as_numpy_iterator()):
        want = np.zeros((8, 5, 3), "f4")
        want[:4, :, 0] = w[b]  # whole windows: arousal only
        want[4:, :, 1] = want[4:, :, 2] = w[b]  # their copies: valence and liking only
        np.testing.assert_array_equal(ww, want)


def test_random_dropout_with_unscored_targets_zeroes_them_on_the_dropped_windows_only():
    from semser_tf.data.pipeline import modality_dropout

    ds, _, wav, _, w = _batches(n_batches=20)
    out = list(
        modality_dropout(ds, 0.5, seed=2, key="waveform", unscored=(0, 2)).as_numpy_iterator()
    )
    for b, (x, _, ww) in enumerate(out):
        gone = (x["waveform"] == 0).all(axis=(1, 2))
        assert ww.shape == (4, 5, 3)
        np.testing.assert_array_equal(ww[..., 1], w[b])  # valence scored everywhere
        for t in (0, 2):
            np.testing.assert_array_equal(ww[..., t], w[b] * ~gone[:, None])


def test_modality_dropout_rejects_an_unscored_target_outside_the_targets():
    from semser_tf.data.pipeline import modality_dropout

    ds, *_ = _batches(n_batches=1)
    with pytest.raises(ConfigError, match="unscored target index 3"):
        modality_dropout(ds, 0.5, seed=0, key="waveform", unscored=(3,))


def test_ccc_loss_with_per_target_weights_is_the_ccc_over_the_scored_parts():
    from semser_tf.data.pipeline import modality_dropout
    from semser_tf.losses import CCCLoss

    ds, *_ = _batches(n_batches=1)
    x, y, w = next(
        iter(modality_dropout(ds, 0.0, seed=5, key="waveform", unscored=(0,), paired=True))
    )
    y, w = np.asarray(y), np.asarray(w)
    p = np.random.default_rng(4).uniform(-1, 1, y.shape).astype("float32")
    want = []
    for t in range(3):  # NumPy: each target's CCC over its frames of weight 1
        keep = w[..., t] > 0
        want.append(_np_ccc(y[..., t][keep].astype("f8"), p[..., t][keep].astype("f8")))
    # arousal only from the whole windows (the first half of the batch)
    assert (w[4:, :, 0] == 0).all() and w[:4, :, 0].sum() == (w[4:, :, 1]).sum()
    got = float(CCCLoss()(y, p, sample_weight=w))
    np.testing.assert_allclose(got, 1 - np.mean(want), atol=1e-5)


def test_ccc_metric_with_per_target_weights_matches_numpy():
    from semser_tf.metrics import CCC

    rng = np.random.default_rng(3)
    y = rng.uniform(-1, 1, (6, 7, 3)).astype("float32")
    p = rng.uniform(-1, 1, (6, 7, 3)).astype("float32")
    w = (rng.uniform(size=(6, 7, 3)) > 0.3).astype("float32")
    m = CCC()
    m.update_state(y[:3], p[:3], sample_weight=w[:3])
    m.update_state(y[3:], p[3:], sample_weight=w[3:])
    want = [_np_ccc(y[..., t][w[..., t] > 0], p[..., t][w[..., t] > 0]) for t in range(3)]
    np.testing.assert_allclose(np.asarray(m.result_per_target()), want, atol=1e-5)


def test_a_training_step_on_paired_batches_lowers_the_loss():
    from semser_tf.data.pipeline import modality_dropout
    from semser_tf.models.builder import build_model, compile_model
    from semser_tf.models.config import ModelConfig

    keras.utils.set_random_seed(0)
    cfg = ModelConfig(variant="concat", **{**SMALL, "semantic_dim": 3, "learning_rate": 1e-2})
    model = compile_model(build_model(cfg), cfg, jit_compile=False)
    import tensorflow as tf

    rng = np.random.default_rng(0)
    wav = rng.normal(size=(1, 4, 5, 2205)).astype("float32")
    sem = rng.normal(size=(1, 4, 5, 3)).astype("float32")
    y = rng.uniform(-0.5, 0.5, (1, 4, 5, 3)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices(
        ({"waveform": wav, "semantic": sem}, y, np.ones((1, 4, 5), "f4"))
    )
    x, yy, ww = next(
        iter(modality_dropout(ds, 0, seed=0, key="waveform", unscored=(0,), paired=True))
    )
    before = float(model.evaluate(x, yy, sample_weight=ww, verbose=0, return_dict=True)["loss"])
    for _ in range(5):
        model.train_on_batch(x, yy, sample_weight=ww)
    after = float(model.evaluate(x, yy, sample_weight=ww, verbose=0, return_dict=True)["loss"])
    assert after < before - 0.01


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("dropout_mode", "twice", "one of random, paired"),
        ("dropped_unscored", "arousal", "a list of target names"),
        ("dropped_unscored", ["arousal", "arousal"], "distinct target names"),
        ("kept_unscored", "valence", "a list of target names"),
        ("warm_start", 3, "the path of a paralinguistic run"),
        ("staged_frozen_epochs", -1, "non-negative integer or None"),
        ("staged_finetune_lr", 0.0, r"a number in \(0, 1\]"),
        ("staged_finetune_lr", 2.0, r"a number in \(0, 1\]"),
    ],
)
def test_train_settings_check_the_new_remedies(field, value, expected):
    from semser_tf.training.run import TrainSettings

    with pytest.raises(ConfigError, match=f"TrainSettings.{field}: expected.*{expected}"):
        TrainSettings(**{field: value})


_train = train_small


def test_an_unknown_unscored_target_is_refused_naming_the_field(corpus, tmp_path):
    with pytest.raises(
        ConfigError, match="TrainSettings.dropped_unscored: 'voice' is not a target"
    ):
        _train(corpus, tmp_path / "r", variant="concat", epochs=1, dropped_unscored=("voice",))


class Record(keras.callbacks.Callback):
    """The paralinguistic branch's weights and the learning rate at each epoch's end."""

    def __init__(self):
        super().__init__()
        self.branch, self.lr = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.branch.append([w.copy() for w in self.model.get_layer("paralinguistic").get_weights()])
        self.lr.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def test_warm_start_copies_the_branch_and_keeps_it_frozen_then_fine_tunes(corpus, tmp_path):
    from semser_tf.models.builder import load_model

    para = tmp_path / "para"
    _train(corpus, para, epochs=1)
    want = load_model(para / "best.keras").get_layer("paralinguistic").get_weights()
    rec = Record()
    _train(
        corpus,
        tmp_path / "fused",
        variant="attention",
        epochs=3,
        warm_start=str(para),
        staged_frozen_epochs=2,
        staged_finetune_lr=0.25,
        dropout_mode="paired",
        dropped_unscored=("arousal",),
        callbacks=[rec],
    )
    assert not (tmp_path / "fused" / "stage1").exists()  # no first stage: the warm start
    for epoch in (0, 1):  # frozen: the paralinguistic model's weights exactly
        for got, w in zip(rec.branch[epoch], want):
            np.testing.assert_array_equal(got, w)
    assert any(not np.array_equal(g, w) for g, w in zip(rec.branch[2], want))  # fine-tuned
    np.testing.assert_allclose(rec.lr, [1e-3, 1e-3, 2.5e-4], rtol=1e-6)
    cfg = json.loads((tmp_path / "fused" / "config.json").read_text())["training"]
    assert cfg["warm_start"] == str(para) and cfg["dropped_unscored"] == ["arousal"]


def test_warm_start_refuses_a_model_that_is_not_paralinguistic(corpus, tmp_path):
    sem = tmp_path / "concat"
    _train(corpus, sem, variant="concat", epochs=1)
    with pytest.raises(ConfigError, match="TrainSettings.warm_start: .* is a concat model"):
        _train(corpus, tmp_path / "fused", variant="attention", epochs=1, warm_start=str(sem))


def test_warm_start_names_a_missing_model_and_the_expected_form(tmp_path):
    from semser_tf.errors import DataError
    from semser_tf.training.staged import warm_start_file

    (tmp_path / "run").mkdir()
    for where in (tmp_path / "nothing", tmp_path / "run"):  # no path; a folder without best.keras
        with pytest.raises(DataError, match="TrainSettings.warm_start: no model there") as err:
            warm_start_file(where)
        assert str(tmp_path) in str(err.value)
    (tmp_path / "run" / "best.keras").write_bytes(b"x")
    assert warm_start_file(tmp_path / "run") == tmp_path / "run" / "best.keras"


def test_a_run_recorded_before_the_new_settings_resumes_with_them_off(tmp_path):
    from semser_tf.training.run import TrainSettings
    from semser_tf.training.run_folder import resume_settings

    old = {"epochs": 3, "patience": 2, "modality_dropout": 0.7, "dropped_input": "waveform"}
    got = resume_settings(tmp_path, old, None)
    assert (got.dropout_mode, got.dropped_unscored, got.warm_start) == ("random", (), None)
    assert (got.staged_frozen_epochs, got.staged_finetune_lr) == (None, 0.1)
    # a recorded list (JSON) equals the tuple given again: resuming is no change of settings
    rec = {**old, "dropout_mode": "paired", "dropped_unscored": ["arousal"]}
    again = TrainSettings(
        epochs=4,
        patience=2,
        modality_dropout=0.7,
        dropped_input="waveform",
        dropout_mode="paired",
        dropped_unscored=("arousal",),
        validation="window",
        staged_epochs=0,
    )
    assert resume_settings(tmp_path, rec, again).epochs == 4


def test_cli_flags_reach_the_settings():
    from semser_tf.cli import build_parser
    from semser_tf.cli.run_inputs import train_settings as _settings

    args = build_parser().parse_args(
        [
            "ablation",
            "C",
            "--out",
            "R",
            "--dropout-mode",
            "paired",
            "--dropped-unscored",
            "arousal, liking",
            "--kept-unscored",
            "valence",
            "--warm-start",
            "branch",
            "--staged-frozen-epochs",
            "4",
            "--staged-finetune-lr",
            "0.2",
        ]
    )
    s = _settings(args)
    assert (s.dropout_mode, s.dropped_unscored) == ("paired", ("arousal", "liking"))
    assert s.kept_unscored == ("valence",)
    assert s.warm_start is None  # 'branch': the ablation passes its own run on
    assert (s.staged_frozen_epochs, s.staged_finetune_lr) == (4, 0.2)
    args = build_parser().parse_args(["train", "C", "--out", "R", "--warm-start", "runs/p"])
    assert _settings(args).warm_start == "runs/p"


def test_by_default_the_ablation_starts_its_fused_variants_from_its_paralinguistic_run(
    corpus, tmp_path
):
    from semser_tf.models.builder import load_model
    from semser_tf.models.config import ModelConfig
    from semser_tf.training.ablation import ablation
    from semser_tf.training.run import TrainSettings
    from semser_tf.training.staged import first_stage_epochs

    settings = TrainSettings(epochs=1)
    assert settings.staged_epochs is None and first_stage_epochs(settings) == 1  # the default
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = ablation(
            corpus,
            tmp_path / "abl",
            ModelConfig(**SMALL),
            settings,
            variants=("paralinguistic", "concat"),
            verbose=0,
        )
    assert [r["variant"] for r in table["rows"]] == ["paralinguistic", "concat"]
    para = load_model(tmp_path / "abl" / "paralinguistic" / "best.keras")
    fused = load_model(tmp_path / "abl" / "concat" / "best.keras")
    assert not (tmp_path / "abl" / "concat" / "stage1").exists()  # no second first stage
    for got, want in zip(
        fused.get_layer("paralinguistic").get_weights(),
        para.get_layer("paralinguistic").get_weights(),
    ):
        np.testing.assert_array_equal(got, want)
    rec = json.loads((tmp_path / "abl" / "concat" / "config.json").read_text())["training"]
    assert rec["warm_start"] == str(tmp_path / "abl" / "paralinguistic")
    # reloading the model of a frozen branch says nothing of its optimizer's missing slots
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        load_model(tmp_path / "abl" / "concat" / "best.keras")
    assert not [w for w in seen if "optimizer" in str(w.message)]
