"""Training over several worker processes: ``tf.distribute.MultiWorkerMirroredStrategy``
driven by a custom loop instead of ``model.fit``.

Why not ``model.fit``: with two or more workers, Keras 3's TensorFlow trainer stops before
the first step. ``fit`` builds the model from a first batch (``_maybe_symbolic_build``) by
``strategy.reduce("MEAN", batch)``; the batch is a structure of ``PerReplica`` values, which
``CollectiveAllReduceStrategy`` cannot reduce across workers ("Attempt to convert a value
(PerReplica ...) with an unsupported type ... to a Tensor"; keras-team/keras#20585, also
tensorflow/tensorflow#72388). One worker trains fine, and so does a loop that calls the
model, its own ``compute_loss`` and its optimizer inside ``strategy.run`` (the pattern of
TensorFlow's "Custom training loop with MultiWorkerMirroredStrategy" tutorial), which is
what :func:`fit_multiworker` does. ``train(..., strategy=make_strategy("multiworker"))``
uses it when ``TF_CONFIG`` names more than one worker, and ``model.fit``
(:func:`semser_tf.training.loop.fit_run`) otherwise.

What stays as on one host:

- the step: ``model(x, training=True)``, ``model.compute_loss`` (the compiled
  :class:`~semser_tf.losses.CCCLoss`, whose moment sums are all-reduced over every replica
  of every worker, so each replica holds the CCC loss of the global batch), then
  ``model.optimizer.apply_gradients`` (which all-reduces the gradients);
- the metrics: the streaming :class:`~semser_tf.metrics.CCC` of the compiled targets
  (``ccc``, ``ccc_<target>``), whose per-batch moments are all-reduced before the merge, so
  the epoch's CCC is that of every frame of every worker concatenated, not a mean of
  per-worker or per-batch CCCs; ``loss`` and ``val_loss`` are, as in Keras, the mean of
  the global batches' losses weighted by their sizes;
- the run folder: ``history.csv``, ``best.keras`` (``best-<target>.keras``), early
  stopping and ``logs/`` come from the callbacks of
  :func:`~semser_tf.training.loop.run_callbacks`, called by this loop.

Input: each worker builds the same (seeded) dataset of GLOBAL batches, and
``strategy.experimental_distribute_dataset`` shards it by data
(``tf.data.experimental.AutoShardPolicy.DATA``, set by :func:`shard_by_data`): every
global batch is split into per-replica batches and each worker keeps its replicas' part.
Every worker thus reads the whole input pipeline but trains on its share, and all
workers run the same number of steps (file sharding would give workers different
recordings, hence different step counts, and the collective ops would wait forever).
When reading the input is the bottleneck, the tf.data service serves it instead
(docs/scaling.md).

Resume (BackupAndRestore-style, at a step rather than an epoch): every worker writes its
own run folder (each worker gets its own ``out_dir``, worker 0's is the result). Every
``backup_steps`` steps and at each epoch's end each worker writes
``checkpoints/step-P.weights.h5`` (weights and optimizer state, ``Model.save_weights``)
and then ``checkpoints/step-P.json`` (the commit point: epoch, batches done in it, the
epoch's running loss and CCC moments, the dropout generators' states and the callbacks'
state), both to a temporary name and renamed. The workers then pass a barrier (a
collective op) and only after it remove older checkpoints: a worker can be at most one
checkpoint ahead of another, and still holds the previous one. When the job restarts (a
worker was killed: the others stop with an error at their next collective op, and the
cluster manager restarts all of them), the workers agree on the latest position every
one of them has committed (an all-gather of each worker's last), load it and go on from
the next batch of the same seeded epoch: no step is lost or trained twice, and
``model.optimizer.iterations`` counts each step once.

Example (on each worker, with its own ``TF_CONFIG`` and ``out_dir``):

>>> strategy = make_strategy("multiworker")                     # doctest: +SKIP
>>> train(corpus, f"runs/w{index}", config, settings, strategy=strategy)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import keras
import numpy as np

from semser_tf.errors import DataError
from semser_tf.io import atomic_path, atomic_write_json
from semser_tf.metrics import ccc_metrics
from semser_tf.training.loop import (
    CHECKPOINTS,
    HISTORY,
    MONITOR,
    _callback_state,
    best_row,
    read_history,
    restore_seed_states,
    run_callbacks,
    seed_states,
    trim_history,
)

STEP_STATE = re.compile(r"^step-(\d+)\.json$")
"""A committed multi-worker checkpoint's state file in ``checkpoints/``."""


# --------------------------------------------------------------------------- cluster


def _cluster(strategy) -> dict:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return {}
    try:
        return resolver.cluster_spec().as_dict()
    except (AttributeError, ValueError):
        return {}


def worker_count(strategy) -> int:
    """Worker processes (``chief`` and ``worker`` tasks) of a strategy's cluster; 1 without one.

    Example:

    >>> worker_count(None)
    1
    """
    spec = _cluster(strategy)
    return max(1, sum(len(spec.get(job, ())) for job in ("chief", "worker")))


def uses_multiworker_loop(strategy) -> bool:
    """True for a ``MultiWorkerMirroredStrategy`` over more than one worker: the strategies
    ``model.fit`` cannot train under (keras-team/keras#20585), which :func:`fit_multiworker`
    trains instead.

    Example:

    >>> uses_multiworker_loop(None)
    False
    """
    if strategy is None or keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and worker_count(strategy) > 1
    )


def is_chief(strategy) -> bool:
    """The task that holds the result: ``chief``, else ``worker`` 0 (TensorFlow's rule)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    return task_type == "worker" and int(task_id or 0) == 0 and "chief" not in _cluster(strategy)


def shard_by_data(ds):
    """``ds`` with ``AutoShardPolicy.DATA``: under a multi-worker strategy every worker keeps
    its replicas' share of each (global) batch, so all workers run the same steps on
    disjoint windows."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


# --------------------------------------------------------------------------- steps


class DistributedSteps:
    """The training and evaluation steps of ``model`` under ``strategy``, and the metrics.

    Args:
        model: a compiled Keras model built under ``strategy.scope()``.
        strategy: a ``tf.distribute`` strategy (any: ``MultiWorkerMirroredStrategy``,
            ``MirroredStrategy`` or the default one).
        targets: the target names (metrics ``ccc`` and ``ccc_<target>``).
        sample_batch: a (local) batch ``(x, y, w)`` to build the loss and the optimizer
            from, before the first distributed step (variables cannot be created inside).
    """

    def __init__(self, model, strategy, targets, sample_batch):
        import tensorflow as tf

        self.model = model
        self.strategy = strategy
        self.targets = list(targets)
        with strategy.scope():
            self.train_metrics = ccc_metrics(self.targets)
            self.val_metrics = ccc_metrics(self.targets)
            for m in (*self.train_metrics, *self.val_metrics):
                m._create(len(self.targets))  # the variables, outside any replica context
            x, y, w = keras.utils.unpack_x_y_sample_weight(sample_batch)
            model.compute_loss(x=x, y=y, y_pred=model(x, training=False), sample_weight=w)
            if model.optimizer is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
        self._train = tf.function(self._train_batch, reduce_retracing=True)
        self._test = tf.function(self._test_batch, reduce_retracing=True)
        self._gather = tf.function(self._gather_fn)

    # -- replica functions
    def _replica_train(self, batch):
        import tensorflow as tf

        model, opt = self.model, self.model.optimizer
        x, y, w = keras.utils.unpack_x_y_sample_weight(batch)
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=w, training=True)
            scaled = opt.scale_loss(loss)
        variables = model.trainable_variables
        opt.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        for m in self.train_metrics:
            m.update_state(y, y_pred, w)
        return self._global_loss(loss, y)

    def _replica_test(self, batch):
        model = self.model
        x, y, w = keras.utils.unpack_x_y_sample_weight(batch)
        y_pred = model(x, training=False)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=w, training=False)
        for m in self.val_metrics:
            m.update_state(y, y_pred, w)
        return self._global_loss(loss, y)

    @staticmethod
    def _global_loss(loss, y):
        """The global batch's loss (the compiled loss is divided by the replica count, as
        Keras sums the replicas' gradients) and its number of windows."""
        import tensorflow as tf

        ctx = tf.distribute.get_replica_context()
        windows = ctx.all_reduce("SUM", tf.cast(tf.shape(y)[0], "float32"))
        return tf.cast(loss, "float32") * ctx.num_replicas_in_sync, windows

    def _train_batch(self, batch):
        out = self.strategy.run(self._replica_train, args=(batch,))
        return self.strategy.experimental_local_results(out)[0]

    def _test_batch(self, batch):
        out = self.strategy.run(self._replica_test, args=(batch,))
        return self.strategy.experimental_local_results(out)[0]

    def _gather_fn(self, value):
        import tensorflow as tf

        def fn():
            ctx = tf.distribute.get_replica_context()
            return ctx.all_gather(tf.reshape(tf.cast(value, "float32"), (1,)), axis=0)

        return self.strategy.experimental_local_results(self.strategy.run(fn))[0]

    # -- host side
    def gather(self, value: int) -> list[int]:
        """``value`` of every replica of every worker (a collective op: also a barrier)."""
        import tensorflow as tf

        # float32 holds positions up to 2**24 exactly
        return [int(round(float(v))) for v in self._gather(tf.constant(value, "float32")).numpy()]

    def distribute(self, ds):
        """``ds`` (global batches) as the strategy's distributed dataset, sharded by data."""
        return self.strategy.experimental_distribute_dataset(shard_by_data(ds))

    def train_batch(self, batch) -> tuple[float, float]:
        loss, windows = self._train(batch)
        return float(loss), float(windows)

    def evaluate(self, val_ds) -> dict:
        """``val_loss`` and ``val_ccc...`` over the validation data (exact under sharding)."""
        for m in self.val_metrics:
            m.reset_state()
        total = count = 0.0
        for batch in self.distribute(val_ds):
            loss, n = self._test(batch)
            total += float(loss) * float(n)
            count += float(n)
        logs = {"val_loss": total / count if count else float("nan")}
        logs.update({f"val_{m.name}": float(m.result()) for m in self.val_metrics})
        return logs

    def train_logs(self, loss_sum, count) -> dict:
        logs = {"loss": loss_sum / count if count else float("nan")}
        logs.update({m.name: float(m.result()) for m in self.train_metrics})
        return logs

    def metric_state(self) -> list:
        return [np.asarray(m.moments.value).tolist() for m in self.train_metrics]

    def restore_metric_state(self, state) -> None:
        for m, value in zip(self.train_metrics, state):
            m.moments.assign(np.asarray(value, "float32"))

    def reset_train_metrics(self) -> None:
        for m in self.train_metrics:
            m.reset_state()


# --------------------------------------------------------------------------- checkpoints


def committed_positions(ckpt_dir) -> list[int]:
    """Positions (``epoch * steps_per_epoch + batch``) committed in ``ckpt_dir``, ascending."""
    ckpt_dir = Path(ckpt_dir)
    found = []
    for p in ckpt_dir.glob("step-*.json") if ckpt_dir.is_dir() else ():
        match = STEP_STATE.match(p.name)
        if match and (ckpt_dir / f"step-{match.group(1)}.weights.h5").is_file():
            found.append(int(match.group(1)))
    return sorted(found)


def read_step_state(ckpt_dir, position: int) -> dict:
    """The state committed at ``position`` (``checkpoints/step-P.json``), checked."""
    path = Path(ckpt_dir) / f"step-{position}.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise DataError(
            f"cannot read the multi-worker checkpoint ({err}); expected the JSON state that "
            "fit_multiworker writes",
            path,
        ) from None
    needed = ("epoch", "batch", "steps_per_epoch", "loss_sum", "windows", "metrics")
    if not isinstance(state, dict) or any(k not in state for k in needed):
        raise DataError(f"expected a JSON object with {', '.join(needed)}", path)
    return state


def _remove_other_checkpoints(ckpt_dir: Path, keep: int) -> None:
    for p in ckpt_dir.glob("step-*"):
        head = p.name.split(".", 1)[0]
        if head != f"step-{keep}":
            p.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the loop


def fit_multiworker(
    model,
    train_epoch,
    val_data,
    out_dir,
    settings,
    *,
    steps_per_epoch: int,
    strategy=None,
    callbacks=(),
    verbose="auto",
    targets=(),
    backup_steps: int | None = None,
    validation_callbacks=(),
) -> dict:
    """Train ``model`` under ``strategy`` with a custom loop, resuming from the last
    checkpoint all workers committed (see the module doc); the counterpart of
    :func:`~semser_tf.training.loop.fit_run`, with the same arguments and result.

    Every worker calls this with the same arguments (its own ``out_dir``).

    Args:
        model: a model compiled under ``strategy.scope()`` (CCC loss, an optimizer).
        train_epoch: ``epoch -> tf.data.Dataset`` of that epoch's GLOBAL training batches,
            the same on every worker (seeded).
        val_data: the validation dataset (global batches), evaluated whole each epoch, or
            ``None`` when ``validation_callbacks`` write the validation logs (each worker
            computes them whole, as :func:`~semser_tf.training.loop.fit_run` does).
        out_dir: this worker's run folder.
        settings: ``TrainSettings`` (``epochs``, ``patience``, ``select_per_target``).
        steps_per_epoch: batches per epoch.
        strategy: the strategy the model was built under (default: the current one).
        callbacks: the caller's Keras callbacks, called by this loop (``on_epoch_end``
            etc.; ``model.stop_training`` stops the run), before the run's own.
        verbose: 0 for silence; otherwise the chief shows Keras's progress bar.
        targets: the model's targets (default: ``model.targets``).
        backup_steps: commit a checkpoint every this many steps as well as at each
            epoch's end (``None``: at epoch ends only).
        validation_callbacks: callbacks that write ``val_*`` into the epoch's logs
            (:class:`~semser_tf.training.validation.CarriedValidation`), run first.

    Returns:
        ``{"epochs_done", "best_epoch", "best_val_ccc", "stopped_early", "history",
        "per_target", "steps"}``: as :func:`~semser_tf.training.loop.fit_run`, plus
        ``steps``, the optimizer's step counter.
    """
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
    targets = list(targets or getattr(model, "targets", None) or ())
    out_dir = Path(out_dir)
    ckpt_dir = out_dir / CHECKPOINTS
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    spe = int(steps_per_epoch)
    chief = is_chief(strategy)

    sample = next(iter(train_epoch(0).take(1)))
    steps = DistributedSteps(model, strategy, targets, sample)
    own = run_callbacks(out_dir, settings, [*validation_callbacks, *callbacks], targets)[:-1]
    # (run_callbacks ends with RunBackup: this loop commits its own checkpoints instead)
    cbs = keras.callbacks.CallbackList(
        own,
        add_history=False,
        add_progbar=chief and verbose != 0,
        model=model,
        verbose=1 if verbose == "auto" else verbose,
        epochs=settings.epochs,
        steps=spe,
    )

    for p in ckpt_dir.glob(".*.step-*"):  # a temporary of a save that a kill interrupted
        p.unlink(missing_ok=True)
    # the position every worker has committed: the minimum of the workers' last ones
    mine = committed_positions(ckpt_dir)
    agreed = min(steps.gather(mine[-1] if mine else -1))
    state = None
    if agreed >= 0:
        if agreed not in mine:
            raise DataError(
                f"the workers agreed to resume at checkpoint step-{agreed}, which this worker "
                f"does not hold (it has {mine}); restart every worker from its own run folder, "
                "or start the run anew",
                ckpt_dir,
            )
        state = read_step_state(ckpt_dir, agreed)
        if int(state["steps_per_epoch"]) != spe:
            raise DataError(
                f"the checkpoint was written with {state['steps_per_epoch']} steps per epoch, "
                f"this run has {spe}; resume with the same data and settings",
                ckpt_dir / f"step-{agreed}.json",
            )
    elif mine:
        warnings.warn(
            f"{ckpt_dir}: another worker holds no checkpoint: the run starts anew", stacklevel=2
        )

    epoch, batch = 0, 0
    loss_sum, windows = 0.0, 0.0
    stopped = False
    trim_history(out_dir / HISTORY, int(state["epoch"]) if state else 0)
    cbs.on_train_begin()  # before the restore: the callbacks' on_train_begin resets them
    if state is not None:
        with strategy.scope():
            model.load_weights(ckpt_dir / f"step-{agreed}.weights.h5")
        restore_seed_states(model, state.get("seed_states"), ckpt_dir / f"step-{agreed}.json")
        for cb, entry in zip(own, state.get("callbacks", [])):
            if entry.get("class") == type(cb).__name__:
                for name, value in entry.get("state", {}).items():
                    setattr(cb, name, value)
        epoch, batch = int(state["epoch"]), int(state["batch"])
        loss_sum, windows = float(state["loss_sum"]), float(state["windows"])
        steps.restore_metric_state(state["metrics"])
        stopped = bool(state.get("stopped", False))

    def commit(epoch_, batch_, stopped_=False):
        position = epoch_ * spe + batch_
        name = f"step-{position}"
        with atomic_path(ckpt_dir / f"{name}.weights.h5") as tmp:
            model.save_weights(tmp)
        atomic_write_json(
            ckpt_dir / f"{name}.json",
            {
                "epoch": epoch_,
                "batch": batch_,
                "steps_per_epoch": spe,
                "iterations": int(model.optimizer.iterations.numpy()),
                "loss_sum": loss_sum,
                "windows": windows,
                "metrics": steps.metric_state(),
                "stopped": bool(stopped_),
                "seed_states": seed_states(model),
                "callbacks": [
                    {"class": type(cb).__name__, "state": _callback_state(cb)} for cb in own
                ],
            },
        )
        steps.gather(position)  # barrier: every worker has committed this position
        _remove_other_checkpoints(ckpt_dir, position)

    logs = {}
    while epoch < settings.epochs and not stopped:
        cbs.on_epoch_begin(epoch)
        if batch == 0:
            steps.reset_train_metrics()
            loss_sum, windows = 0.0, 0.0
        # the same seeded epoch on every worker, from the batch after the last commit
        for dist_batch in steps.distribute(train_epoch(epoch).take(spe).skip(batch)):
            cbs.on_train_batch_begin(batch)
            loss, n = steps.train_batch(dist_batch)
            loss_sum += loss * n
            windows += n
            batch += 1
            cbs.on_train_batch_end(batch - 1, {"loss": loss_sum / windows})
            if backup_steps and batch % backup_steps == 0 and batch < spe:
                commit(epoch, batch)
        if batch < spe:
            raise DataError(
                f"epoch {epoch + 1} gave {batch} training batches, expected {spe} "
                "(steps_per_epoch); the training data must give every epoch in full",
                out_dir,
            )
        logs = steps.train_logs(loss_sum, windows)
        if val_data is not None:
            logs.update(steps.evaluate(val_data))
        cbs.on_epoch_end(epoch, logs)
        stopped = bool(model.stop_training)
        epoch, batch = epoch + 1, 0
        loss_sum, windows = 0.0, 0.0
        steps.reset_train_metrics()
        commit(epoch, 0, stopped)
    cbs.on_train_end(logs)
    return _result(out_dir, targets, model, epochs_done=epoch, stopped=stopped)


def _result(out_dir, targets, model, *, epochs_done, stopped=False) -> dict:
    history = read_history(Path(out_dir) / HISTORY)
    best = best_row(history)
    per_target = {}
    for t in targets:
        row = best_row(history, f"{MONITOR}_{t}")
        if row is not None:
            per_target[t] = {"epoch": row["epoch"], "val_ccc": row[f"{MONITOR}_{t}"]}
    return {
        "epochs_done": int(epochs_done),
        "best_epoch": best["epoch"] if best else None,
        "best_val_ccc": best[MONITOR] if best else None,
        "stopped_early": bool(stopped),
        "history": history,
        "per_target": per_target,
        "steps": int(model.optimizer.iterations.numpy()),
    }


def fit_for_strategy(model, train_epoch, val_data, out_dir, settings, *, strategy, **kwargs):
    """:func:`fit_multiworker` when ``strategy`` spans several workers, else
    :func:`~semser_tf.training.loop.fit_run` (``model.fit``): the dispatch ``train`` uses."""
    if uses_multiworker_loop(strategy):
        return fit_multiworker(
            model, train_epoch, val_data, out_dir, settings, strategy=strategy, **kwargs
        )
    from semser_tf.training.loop import fit_run

    return fit_run(model, train_epoch, val_data, out_dir, settings, **kwargs)


__all__ = [
    "DistributedSteps",
    "committed_positions",
    "fit_for_strategy",
    "fit_multiworker",
    "is_chief",
    "read_step_state",
    "shard_by_data",
    "uses_multiworker_loop",
    "worker_count",
]
