"""One training loop for a run folder: a single ``model.fit`` over all epochs with Keras's
own callbacks.

:func:`fit_run` is the loop that ``train``, ``finetune`` and the tuner share. It calls
``model.fit(stream, epochs=settings.epochs, initial_epoch=k, steps_per_epoch=n)`` once,
with these callbacks after the caller's (the caller's own ``EarlyStopping`` or
``ReduceLROnPlateau`` therefore sees every epoch of the run):

* ``keras.callbacks.EarlyStopping`` on ``val_ccc`` (mode max, ``settings.patience``);
* :class:`BestCheckpoint`, Keras's ``ModelCheckpoint`` (``best.keras``, best ``val_ccc``)
  writing to a temporary name that is then renamed; with ``settings.select_per_target``
  one more per target (``best-<target>.keras``, best ``val_ccc_<target>``);
* ``keras.callbacks.TensorBoard`` (``logs/``);
* :class:`HistoryLogger`, Keras's ``CSVLogger`` (``history.csv``, 1-based epochs, the
  epoch's seconds, appending on resume);
* :class:`RunBackup`, Keras's ``BackupAndRestore`` with atomic writes and the complete
  state of an exact resume (last: it commits what the others did in the epoch).

The resume point, ``checkpoints/``: ``epoch-N.weights.h5`` (weights and optimizer state,
``Model.save_weights``) and ``training_metadata.json`` (BackupAndRestore's file: the
epochs done, the weights file's name, the dropout layers' random states, which Keras's
weights files do not hold, and the state of every callback: ``wait``, ``best``,
``best_epoch``, ``stopped_epoch``, ``cooldown_counter``). Both are written to temporary
names and renamed; the metadata is the commit point. A kill at any moment (SIGKILL
included) leaves the last committed epoch; the interrupted epoch is trained again from its
start, and the rows ``history.csv`` got from it are dropped.

The training data are one stream over the epochs: epoch ``e`` is ``train_epoch(e)`` (the
caller shuffles it with seed ``config.seed + e``) cut to ``steps_per_epoch`` batches, so a
run resumed at epoch ``k`` sees exactly the batches of an uninterrupted one.

Seeds are the caller's: it calls ``keras.utils.set_random_seed`` once before building the
model; nothing here sets a seed.

Steps per execution (``settings.steps_per_execution``, :func:`execution_steps`): Keras runs
that many training steps per call of its train function and calls the batch callbacks (the
progress bar, which reads the logs back from the device when it prints) once per call. It
is kept to a divisor of ``steps_per_epoch``: Keras would otherwise read the batches of the
next epoch from the one stream. The weights after a step are those of one step at a time
(tests/training/test_fast_path.py; bitwise equal on an H200, docs/measurements/benchmarks.md); only the
batch-level callbacks see fewer calls. On JAX, Keras 3.15 runs the k steps as k calls of
the one jitted step, so at ``verbose=0`` it measured no faster on the H200 (docs/measurements/benchmarks.md,
"GPU (H200)"); it bounds the progress bar's read-backs. It is set for the ``fit`` and
restored after it, so that the saved models keep their compile settings.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import time
import uuid
import warnings
from pathlib import Path

import keras
import numpy as np

from semser_tf.errors import DataError
from semser_tf.io import atomic_path, atomic_write_json, atomic_write_text
from semser_tf.training.device_feed import feed_for_fit
from semser_tf.training.run_folder import (  # the run folder's layout has one home
    BEST,
    CHECKPOINTS,
    HISTORY,
    METADATA,
    best_target_path,
)

LOGS = "logs"
MONITOR = "val_ccc"
STATE_ATTRS = ("wait", "best", "best_epoch", "stopped_epoch", "cooldown_counter")
"""Attributes of a callback saved with each epoch and restored on resume (those it has)."""


def committed_state(out_dir) -> dict | None:
    """The run's resume point (``checkpoints/training_metadata.json``) or ``None``.

    Keys: ``epoch`` (epochs done), ``weights`` (file in ``checkpoints/``), ``stopped``
    (a callback stopped the run), ``seed_states``, ``callbacks``.
    """
    return _read_state(Path(out_dir) / CHECKPOINTS / METADATA)


def _read_state(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"not valid JSON ({err}); expected the run's resume point", path) from None
    if (
        not isinstance(state, dict)
        or not isinstance(state.get("epoch"), int)
        or not state.get("weights")
    ):
        raise DataError(
            "expected a JSON object with 'epoch' and 'weights' (the run's resume point)", path
        )
    return state


# --------------------------------------------------------------------------- random state


def _seed_generators(model) -> list:
    """The model's random-state generators (dropout, recurrent dropout), in layer order."""
    return [
        g
        for layer in model._flatten_layers(include_self=True, recursive=True)
        for g in getattr(layer, "_seed_generators", [])
    ]


def seed_states(model) -> list:
    """The generators' states: weights files do not keep them, and without them a resumed
    run draws other dropout masks than an uninterrupted one."""
    return [
        np.asarray(g.state.value if hasattr(g.state, "value") else g.state).tolist()
        for g in _seed_generators(model)
    ]


def restore_seed_states(model, states, where) -> None:
    gens = _seed_generators(model)
    if states is None:
        return
    if len(states) != len(gens):
        warnings.warn(
            f"{where}: the checkpoint holds {len(states)} random states for {len(gens)} generators; "
            "dropout after the resume is not that of an uninterrupted run",
            stacklevel=3,
        )
        return
    for g, value in zip(gens, states):
        g.state.assign(np.asarray(value, dtype=np.asarray(g.state).dtype))


def _callback_state(cb) -> dict:
    out = {}
    for name in STATE_ATTRS:
        value = getattr(cb, name, None)
        if isinstance(value, (bool, int, float, np.integer, np.floating)) or (
            value is None and hasattr(cb, name)
        ):
            out[name] = value.item() if isinstance(value, np.generic) else value
    return out


# --------------------------------------------------------------------------- callbacks


class RunBackup(keras.callbacks.BackupAndRestore):
    """Keras's ``BackupAndRestore``, writing atomically and keeping the complete state.

    After each epoch: the weights (with the optimizer state) go to
    ``epoch-N.weights.h5`` through a temporary name, then ``training_metadata.json``
    (the commit point) names that file and holds the dropout layers' random states and
    the state of ``callbacks`` (see :data:`STATE_ATTRS`); the previous weights file is
    then removed. At the start of ``fit`` the committed state is restored (after the
    other callbacks' ``on_train_begin``: put it last). The backup is kept at the end, so
    that a larger ``epochs`` extends a finished run.

    Args:
        backup_dir: the folder (a run's ``checkpoints/``).
        callbacks: the callbacks whose state is saved and restored, in ``fit``'s order
            (matched by position and class).
    """

    def __init__(self, backup_dir, callbacks=()):
        super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=False)
        self.dir = Path(backup_dir)
        self.tracked = list(callbacks)

    def on_train_begin(self, logs=None):
        state = _read_state(self.dir / METADATA)
        keep = state["weights"] if state else None
        for p in self.dir.glob("epoch-*.weights.h5"):
            if p.name != keep:
                p.unlink(missing_ok=True)  # saved by a killed run after its last commit
        if state is None:
            return
        if not (self.dir / keep).is_file():
            raise DataError(
                f"the resume point names {keep}, which is not there; resume is impossible: "
                "start a new run (or --overwrite this one)",
                self.dir / METADATA,
            )
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(self.dir / keep)
        restore_seed_states(self.model, state.get("seed_states"), self.dir / METADATA)
        saved = state.get("callbacks", [])
        for cb, entry in zip(self.tracked, saved):
            if entry.get("class") == type(cb).__name__:
                for name, value in entry.get("state", {}).items():
                    setattr(cb, name, value)
        self._current_epoch = state["epoch"]

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._save_model()

    def on_train_batch_end(self, batch, logs=None):
        pass  # saves after each epoch only

    def _save_model(self):
        n = self._current_epoch
        name = f"epoch-{n}.weights.h5"
        with atomic_path(self.dir / name) as tmp:
            self.model.save_weights(tmp)
        atomic_write_json(
            self.dir / METADATA,
            {
                "epoch": n,
                "weights": name,
                "stopped": bool(self.model.stop_training),
                "seed_states": seed_states(self.model),
                "callbacks": [
                    {"class": type(cb).__name__, "state": _callback_state(cb)}
                    for cb in self.tracked
                ],
            },
        )
        for p in self.dir.glob("epoch-*.weights.h5"):
            if p.name != name:
                p.unlink(missing_ok=True)

    def on_train_end(self, logs=None):
        pass  # the backup stays: it is the run's resume point


class BestCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras's ``ModelCheckpoint`` (``save_best_only``, mode max) writing the model to a
    hidden temporary name, then renaming it to ``path``: a kill mid-save leaves the
    previous best model."""

    def __init__(self, path, monitor=MONITOR):
        self.final = Path(path)
        tmp = self.final.with_name(f".{uuid.uuid4().hex[:12]}.{self.final.name}")
        super().__init__(str(tmp), monitor=monitor, mode="max", save_best_only=True, verbose=0)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if os.path.exists(self.filepath):
            os.replace(self.filepath, self.final)


class HistoryLogger(keras.callbacks.CSVLogger):
    """Keras's ``CSVLogger`` appending to ``history.csv``: 1-based ``epoch``, the logs and
    the epoch's ``seconds``; on resume it keeps the columns of the file's header."""

    def __init__(self, path):
        super().__init__(str(path), append=True)
        self._t0 = time.time()

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        header = _header(Path(self.filename))
        if header:
            self.keys = header[1:]

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.time()

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(
            epoch + 1, {**(logs or {}), "seconds": round(time.time() - self._t0, 2)}
        )


def _header(path: Path) -> list[str]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return next(csv.reader(f), [])


def run_callbacks(out_dir, settings, callbacks=(), targets=()) -> list:
    """The callbacks of a run, in ``fit``'s order: ``callbacks`` (the caller's), early
    stopping, ``best.keras`` (and ``best-<target>.keras`` per target with
    ``settings.select_per_target``), TensorBoard, ``history.csv`` and the backup, last.

    Args:
        out_dir: the run folder.
        settings: a :class:`~semser_tf.training.run.TrainSettings` (``patience``,
            ``select_per_target``).
        callbacks: the caller's Keras callbacks (their state is kept across a resume too).
        targets: the model's targets (for the per-target checkpoints).
    """
    out_dir = Path(out_dir)
    per_target = [
        BestCheckpoint(best_target_path(out_dir, t), monitor=f"{MONITOR}_{t}")
        for t in (targets if getattr(settings, "select_per_target", False) else ())
    ]
    ours = [
        keras.callbacks.EarlyStopping(monitor=MONITOR, mode="max", patience=settings.patience),
        BestCheckpoint(out_dir / BEST),
        *per_target,
        keras.callbacks.TensorBoard(log_dir=str(out_dir / LOGS)),
        HistoryLogger(out_dir / HISTORY),
    ]
    listed = [*callbacks, *ours]
    return [*listed, RunBackup(out_dir / CHECKPOINTS, listed)]


# --------------------------------------------------------------------------- data and loop


def epoch_stream(train_epoch, start: int, stop: int, steps_per_epoch: int):
    """The batches of epochs ``start .. stop - 1`` in one dataset: ``train_epoch(e)`` cut
    to ``steps_per_epoch`` batches each (concatenated as a balanced tree, so that the
    nesting stays ``log2`` of the epochs)."""
    parts = [train_epoch(e).take(steps_per_epoch) for e in range(start, stop)]
    while len(parts) > 1:
        parts = [
            parts[i].concatenate(parts[i + 1]) if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), 2)
        ]
    return parts[0]


def trim_history(path: Path, epochs_done: int) -> None:
    """Keep the rows of committed epochs (a kill may leave a row, or half of one, of the
    epoch it interrupted)."""
    path = Path(path)
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    if epochs_done == 0 or not lines:
        path.unlink()
        return
    keep = [lines[0]]
    for line in lines[1:]:
        head = line.split(",", 1)[0]
        if line.endswith("\n") and head.isdigit() and int(head) <= epochs_done:
            keep.append(line)
    if keep != lines:
        atomic_write_text(path, "".join(keep))


def read_history(path) -> list[dict]:
    """``history.csv`` as a list of dicts (``epoch`` an int, the rest floats)."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))

    def num(v):
        try:
            return float(v)
        except (TypeError, ValueError):
            return float("nan")

    return [{k: (int(v) if k == "epoch" else num(v)) for k, v in r.items()} for r in rows]


def best_row(history: list[dict], monitor: str = MONITOR) -> dict | None:
    """The first row with the highest ``monitor`` (``ModelCheckpoint``'s choice)."""
    best = None
    for row in history:
        v = row.get(monitor, float("nan"))
        if not np.isnan(v) and (best is None or v > best[monitor]):
            best = row
    return best


def execution_steps(requested, steps_per_epoch: int) -> int:
    """The steps per execution of a run: ``requested`` (``None``: 1, Keras's default; more
    measured no faster on the H200, docs/measurements/benchmarks.md, "GPU (H200)") cut to the
    largest divisor of ``steps_per_epoch`` not above it, so that no execution reaches into
    the next epoch's batches."""
    k = 1 if requested is None else int(requested)
    k = max(1, min(k, int(steps_per_epoch)))
    while steps_per_epoch % k:
        k -= 1
    return k


@contextlib.contextmanager
def steps_per_execution(model, k: int):
    """``model`` running ``k`` steps per execution inside the block (its train, test and
    predict functions rebuilt when ``k`` differs), restored after it."""
    previous = model.steps_per_execution
    if k == previous:
        yield model
        return

    def use(n):
        model.steps_per_execution = n
        model.train_function = model.test_function = model.predict_function = None

    use(k)
    try:
        yield model
    finally:
        use(previous)


def fit_run(
    model,
    train_epoch,
    val_data,
    out_dir,
    settings,
    *,
    steps_per_epoch: int,
    callbacks=(),
    verbose="auto",
    targets=(),
    validation_callbacks=(),
) -> dict:
    """Train ``model`` in the run folder ``out_dir`` with one ``model.fit``, resuming from
    its committed epoch (see the module doc).

    The caller has built and compiled the model and set the seeds
    (``keras.utils.set_random_seed``) once; holds the run folder (lock, ``config.json``).

    Args:
        model: a compiled Keras model.
        train_epoch: ``epoch -> tf.data.Dataset`` of that epoch's training batches (at
            least ``steps_per_epoch`` of them), deterministic in ``epoch``.
        val_data: the validation dataset (whole, each epoch), or ``None`` when
            ``validation_callbacks`` write the validation logs
            (:class:`~semser_tf.training.validation.CarriedValidation`).
        out_dir: the run folder.
        settings: ``TrainSettings`` (``epochs``, ``patience``, ``steps_per_execution``).
        steps_per_epoch: batches per epoch.
        callbacks: the caller's Keras callbacks (``EarlyStopping``, ``ReduceLROnPlateau``,
            ...), run before the loop's own.
        verbose: Keras's progress-bar verbosity.
        targets: the model's targets: with ``settings.select_per_target`` each gets its own
            best checkpoint, ``best-<target>.keras``.
        validation_callbacks: callbacks that write ``val_*`` into the epoch's logs; they run
            first, before the caller's and the loop's own callbacks read them.

    Returns:
        ``{"epochs_done", "best_epoch", "best_val_ccc", "stopped_early", "history",
        "per_target"}``; ``per_target``: ``{target: {"epoch", "val_ccc"}}``, the epoch of
        each target's best validation CCC (from the history, for every run).

    Example:

    >>> result = fit_run(model, lambda e: make_dataset(corpus, "Train", shuffle=True, seed=1 + e),  # doctest: +SKIP
    ...                  make_dataset(corpus, "Devel"), "runs/x", TrainSettings(epochs=5), steps_per_epoch=40)
    """
    out_dir = Path(out_dir)
    (out_dir / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
    state = committed_state(out_dir) or {}
    start = int(state.get("epoch", 0))
    trim_history(out_dir / HISTORY, start)
    if start < settings.epochs and not state.get("stopped"):
        k = execution_steps(getattr(settings, "steps_per_execution", None), steps_per_epoch)
        with warnings.catch_warnings(), steps_per_execution(model, k):
            warnings.filterwarnings("ignore", message=".*ran out of data.*")
            model.fit(
                feed_for_fit(epoch_stream(train_epoch, start, settings.epochs, steps_per_epoch)),
                validation_data=val_data,
                epochs=settings.epochs,
                initial_epoch=start,
                steps_per_epoch=steps_per_epoch,
                shuffle=False,
                callbacks=run_callbacks(
                    out_dir, settings, [*validation_callbacks, *callbacks], targets
                ),
                verbose=verbose,
            )
    state = committed_state(out_dir) or {}
    history = read_history(out_dir / HISTORY)
    best = best_row(history)
    per_target = {}
    for t in targets:
        row = best_row(history, f"{MONITOR}_{t}")
        if row is not None:
            per_target[t] = {"epoch": row["epoch"], "val_ccc": row[f"{MONITOR}_{t}"]}
    return {
        "epochs_done": int(state.get("epoch", 0)),
        "best_epoch": best["epoch"] if best else None,
        "best_val_ccc": best[MONITOR] if best else None,
        "stopped_early": bool(state.get("stopped", False)),
        "history": history,
        "per_target": per_target,
    }


__all__ = [
    "BestCheckpoint",
    "HistoryLogger",
    "RunBackup",
    "best_target_path",
    "committed_state",
    "epoch_stream",
    "execution_steps",
    "fit_run",
    "read_history",
    "run_callbacks",
    "steps_per_execution",
    "trim_history",
]
