"""The one training loop with user callbacks (issue 16): a user's ``EarlyStopping`` and
``ReduceLROnPlateau`` passed to ``train(callbacks=...)`` see every epoch of the run, and
the callbacks' state (the loop's own early stopping included) survives a resume."""

from __future__ import annotations

import csv
import warnings

import keras
import numpy as np
import pytest

from tests.data.conftest import loader_corpus  # noqa: F401
from tests.training.conftest import SMALL

LR = 1e-3


class Plateau(keras.callbacks.Callback):
    """A crafted plateau: every epoch's ``val_plateau`` (and, with ``ccc=True``, the
    ``val_ccc`` the loop's early stopping and checkpoint read) is 0.5."""

    def __init__(self, ccc=False):
        super().__init__()
        self.ccc = ccc

    def on_epoch_end(self, epoch, logs=None):
        logs["val_plateau"] = 0.5
        if self.ccc:
            logs["val_ccc"] = 0.5


@pytest.fixture
def corpus(loader_corpus):  # noqa: F811
    from semser_tf.data.sewa import SEWACorpus

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SEWACorpus(loader_corpus["root"])


def _train(corpus, run, epochs, patience=10, callbacks=(), resume=False, **kw):
    from semser_tf.models.config import ModelConfig
    from semser_tf.training.run import TrainSettings, train

    config = (
        None if resume else ModelConfig(variant="paralinguistic", **dict(SMALL, learning_rate=LR))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(
            corpus,
            run,
            config,
            TrainSettings(epochs=epochs, patience=patience),
            verbose=0,
            plots=False,
            callbacks=list(callbacks),
            resume=resume,
            **kw,
        )


def _history(run):
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_user_early_stopping_and_reduce_lr_work_across_epochs(corpus, tmp_path):
    stop = keras.callbacks.EarlyStopping(monitor="val_plateau", mode="min", patience=2)
    reduce = keras.callbacks.ReduceLROnPlateau(
        monitor="val_plateau", mode="min", patience=1, factor=0.5, min_lr=0
    )
    report = _train(
        corpus,
        tmp_path / "run",
        epochs=10,
        callbacks=[Plateau(), stop, reduce],
        evaluate_best=False,
    )
    # epoch 1 sets the best, epochs 2 and 3 do not improve: patience 2 stops after epoch 3
    rows = _history(tmp_path / "run")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert report["epochs_done"] == 3 and report["stopped_early"] and stop.stopped_epoch == 2
    # patience 1: the rate halves at the end of epochs 2 and 3; the logs show the rate each epoch ran with
    np.testing.assert_allclose(
        [float(r["learning_rate"]) for r in rows], [LR, LR, LR / 2], rtol=1e-6
    )
    np.testing.assert_allclose(float(reduce.model.optimizer.learning_rate), LR / 4, rtol=1e-6)


def test_callback_state_survives_a_resume(corpus, tmp_path):
    # the user's early stopping: 2 epochs, then a resume; epoch 3 is its second without improvement
    run = tmp_path / "user"
    stop = lambda: keras.callbacks.EarlyStopping(monitor="val_plateau", mode="min", patience=2)  # noqa: E731
    _train(corpus, run, epochs=2, callbacks=[Plateau(), stop()], evaluate_best=False)
    again = stop()
    report = _train(
        corpus, run, epochs=10, callbacks=[Plateau(), again], resume=True, evaluate_best=False
    )
    assert [int(r["epoch"]) for r in _history(run)] == [1, 2, 3] and report["stopped_early"]
    assert again.best == 0.5 and again.stopped_epoch == 2
    # the loop's own early stopping on val_ccc (patience 2) the same way
    run = tmp_path / "own"
    _train(corpus, run, epochs=2, patience=2, callbacks=[Plateau(ccc=True)], evaluate_best=False)
    report = _train(
        corpus,
        run,
        epochs=10,
        patience=2,
        callbacks=[Plateau(ccc=True)],
        resume=True,
        evaluate_best=False,
    )
    assert [int(r["epoch"]) for r in _history(run)] == [1, 2, 3]
    assert report["stopped_early"] and report["best_epoch"] == 1 and report["best_val_ccc"] == 0.5
    # a stopped run stays stopped: a larger --epochs trains nothing more
    report = _train(
        corpus,
        run,
        epochs=20,
        patience=2,
        callbacks=[Plateau(ccc=True)],
        resume=True,
        evaluate_best=False,
    )
    assert report["epochs_done"] == 3 and len(_history(run)) == 3


def test_history_and_best_model_after_a_resume(corpus, tmp_path):
    run = tmp_path / "run"
    _train(corpus, run, epochs=2, evaluate_best=False)
    # a kill after the epoch-3 row of history.csv and before the commit leaves the row, half written
    with open(run / "history.csv", "a", newline="") as f:
        f.write("3,0.9,0.1,0.")
    report = _train(corpus, run, epochs=4, resume=True)
    rows = _history(run)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert all(r["val_ccc"] not in ("", "NA", None) for r in rows)
    best = max(rows, key=lambda r: float(r["val_ccc"]))  # max() keeps the first of equal values
    assert report["best_epoch"] == int(best["epoch"])
    assert report["best_val_ccc"] == pytest.approx(float(best["val_ccc"]), abs=1e-9)
    # best.keras is that epoch's model: its CCC on the validation partition is the row's val_ccc
    assert report["metrics"][0]["mean"] == pytest.approx(float(best["val_ccc"]), abs=1e-4)


def test_ablation_resume_knows_a_finished_run(corpus, tmp_path):
    from semser_tf.training.ablation import _finished

    run = tmp_path / "run"
    assert not _finished(run)
    _train(corpus, run, epochs=1, evaluate_best=False)
    assert _finished(run)  # its epochs are done
    _train(corpus, run, epochs=2, resume=True, evaluate_best=False)
    cfg = (run / "config.json").read_text()
    (run / "config.json").write_text(cfg.replace('"epochs": 2', '"epochs": 3'))
    assert not _finished(run)  # one epoch to go
