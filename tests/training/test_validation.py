"""Validation during training by the carried-state rule of predict and evaluate (issue 17):
semser_tf.training.validation, TrainSettings.validation."""

from __future__ import annotations

import csv
import types

import keras
import numpy as np
import pytest

from semser_tf.data.sewa import SEWACorpus
from semser_tf.errors import ConfigError
from semser_tf.models import ModelConfig, build_model
from semser_tf.training import TrainSettings, train
from semser_tf.training.evaluate import predict_partition
from semser_tf.training.validation import CarriedValidation, partition_ccc
from tests.training.conftest import SMALL, speech_corpus  # noqa: F401  (session fixture)

TARGETS = ("arousal", "valence", "liking")


def _ccc(x, y):
    """Lin's CCC with population moments, written out."""
    mx, my = np.mean(x), np.mean(y)
    cov = np.mean((x - mx) * (y - my))
    return 2 * cov / (np.var(x) + np.var(y) + (mx - my) ** 2)


def test_partition_ccc_concatenates_shifts_by_the_delay_and_skips_unlabelled_frames():
    rng = np.random.default_rng(0)
    g1, g2 = rng.normal(size=(40, 2)), rng.normal(size=(25, 2))
    g2[3] = np.nan  # an unlabelled frame
    p1, p2 = rng.normal(size=(40, 2)), rng.normal(size=(27, 2))  # p2 longer than its labels
    recs = [
        types.SimpleNamespace(name="a", labels=g1, has_labels=True),
        types.SimpleNamespace(name="b", labels=g2, has_labels=True),
        types.SimpleNamespace(name="c", labels=None, has_labels=False),
    ]
    corpus = types.SimpleNamespace(recordings=lambda part: recs)
    d = 2
    per, mean = partition_ccc({"a": p1, "b": p2, "c": p1}, corpus, "Devel", ("x", "y"), d)
    # by hand: prediction at t against the label at t + d, labelled frames only
    P = np.concatenate([p1[: 40 - d], np.delete(p2[: 25 - d], 3 - d, axis=0)])
    G = np.concatenate([g1[d:], np.delete(g2[d:25], 3 - d, axis=0)])
    assert per["x"] == pytest.approx(_ccc(P[:, 0], G[:, 0]), abs=1e-12)
    assert per["y"] == pytest.approx(_ccc(P[:, 1], G[:, 1]), abs=1e-12)
    assert mean == pytest.approx((per["x"] + per["y"]) / 2)


def test_carried_validation_equals_one_pass_over_each_whole_recording(speech_corpus):
    """The callback's CCC is that of the model run once over each whole Devel recording
    (one window as long as the longest recording, from zero state), not window by window."""
    keras.utils.set_random_seed(0)
    config = ModelConfig(variant="paralinguistic", **SMALL)
    model = build_model(config)
    corpus = SEWACorpus(speech_corpus)
    cb = CarriedValidation(corpus, "Devel", TARGETS, config.sequence_length, delay_frames=3)
    cb.set_model(model)
    logs = cb.evaluate()
    longest = max(r.n_frames for r in corpus.recordings("Devel"))
    whole = predict_partition(model, corpus, "Devel", sequence_length=longest, window_reset=True)
    preds, golds = [], []
    for rec in corpus.recordings("Devel"):
        p, g = whole[rec.name], rec.labels
        n = min(len(p), len(g))
        keep = ~np.isnan(g[3:n]).any(axis=1)
        preds.append(p[: n - 3][keep])
        golds.append(g[3:n][keep])
    P, G = np.concatenate(preds), np.concatenate(golds)
    for i, t in enumerate(TARGETS):
        assert logs[f"val_ccc_{t}"] == pytest.approx(_ccc(P[:, i], G[:, i]), abs=2e-4)
    assert logs["val_ccc"] == pytest.approx(np.mean([logs[f"val_ccc_{t}"] for t in TARGETS]))
    assert logs["val_loss"] == pytest.approx(1 - logs["val_ccc"])
    # the per-window rule gives another figure on recordings longer than a window
    windows = predict_partition(model, corpus, "Devel", config.sequence_length, window_reset=True)
    w_per, _ = partition_ccc(windows, corpus, "Devel", TARGETS, 3)
    assert any(abs(w_per[t] - logs[f"val_ccc_{t}"]) > 1e-4 for t in TARGETS)


def test_train_selects_by_the_carried_rule(speech_corpus, tmp_path):
    """history.csv holds the carried validation CCC, and best.keras is the epoch it ranks first:
    re-evaluating best.keras by the carried rule gives the best row's val_ccc."""
    keras.utils.set_random_seed(0)
    config = ModelConfig(variant="paralinguistic", **SMALL)
    corpus = SEWACorpus(speech_corpus)
    out = tmp_path / "run"
    train(corpus, out, config, TrainSettings(epochs=3, patience=3), verbose=0)
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert len(rows) == 3 and all(r["val_ccc"] for r in rows)
    best = max(rows, key=lambda r: float(r["val_ccc"]))
    cb = CarriedValidation(corpus, "Devel", TARGETS, config.sequence_length)
    cb.set_model(keras.models.load_model(out / "best.keras"))
    again = cb.evaluate()
    assert again["val_ccc"] == pytest.approx(float(best["val_ccc"]), abs=1e-4)
    for t in TARGETS:
        assert again[f"val_ccc_{t}"] == pytest.approx(float(best[f"val_ccc_{t}"]), abs=1e-4)


def test_window_rule_stays_available_and_bad_rules_are_refused(speech_corpus, tmp_path):
    keras.utils.set_random_seed(0)
    config = ModelConfig(variant="paralinguistic", **SMALL)
    report = train(
        SEWACorpus(speech_corpus),
        tmp_path / "run",
        config,
        TrainSettings(epochs=1, validation="window"),
        verbose=0,
    )
    assert report is not None
    rows = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))
    assert len(rows) == 1 and rows[0]["val_ccc"]
    with pytest.raises(ConfigError, match="carried or window"):
        TrainSettings(validation="stateful")


def test_context_frames_score_every_frame_once_after_a_warm_up(speech_corpus):
    """Windows of T + B frames started T apart, the first B frames of each unscored: every
    frame of a recording from frame B on is scored exactly once (counted by hand from the
    window arithmetic), and the context frames are fed to the model."""
    from semser_tf.data.pipeline import make_dataset, unscored_context
    from semser_tf.training.run_data import training_window

    T, B = 50, 20
    corpus = SEWACorpus(speech_corpus)
    settings = TrainSettings(context_frames=B)
    config = ModelConfig(variant="paralinguistic", **SMALL)
    assert training_window(settings, config) == (T + B, T)
    rec = corpus.recordings("Train")[0]  # unshuffled, its windows come first
    ds = make_dataset(
        corpus, "Train", sequence_length=T + B, hop=T, batch_size=1, shuffle=False, progress=False
    )
    ds = unscored_context(ds, B)
    n = rec.n_frames
    scored = np.zeros(n)
    seen = np.zeros(n)
    for k, (_, _, w) in enumerate(ds):
        w = w.numpy()[0]
        start = k * T
        if start >= n:  # the next recording's windows
            break
        stop = min(start + T + B, n)
        seen[start:stop] += 1
        scored[start:stop] += w[: stop - start]
        assert (w[:B] == 0).all()
    # by hand: frame t >= B lies in the scored part [kT + B, kT + T + B) of exactly one window
    assert (scored[B:] == 1).all() and (scored[:B] == 0).all()
    assert (seen[B:T] == 1).all() and seen[T : n - B].min() >= 1
    with pytest.raises(ConfigError, match="context_frames"):
        TrainSettings(context_frames=-1)
