"""Scaling training out with the existing engines: tf.distribute and keras.distribution.

semser-tf builds no distribution machinery of its own. This module only

- names the strategies ``semser train --strategy`` accepts and builds them
  (:func:`make_strategy`: ``tf.distribute.MirroredStrategy`` for several GPUs of one host,
  ``MultiWorkerMirroredStrategy`` for several hosts, ``keras.distribution.DataParallel``
  on the JAX backend), and
- gives the CCC loss and the streaming CCC metric the one primitive they need to stay
  exact under data parallelism: :func:`replica_sum`, a sum over the replicas of a
  ``tf.distribute`` strategy.

Why the CCC needs it: the CCC is a statistic of the whole batch (means, variances and
the covariance over every frame of every window), not a mean of per-example values. Each
replica of a ``MirroredStrategy`` sees ``global_batch / replicas`` windows; the average
of per-replica CCCs is not the CCC of the global batch. The loss and the metric
therefore all-reduce their moment sums (two passes: counts and sums, then the centred
second moments around the global means) so that every replica computes the global-batch
CCC; the all-reduce's gradient is itself an all-reduce, so the gradients equal the
single-device ones. On JAX, ``DataParallel`` shards global arrays and XLA computes the
whole-batch statistics itself: :func:`replica_sum` is then the identity.

Example:

>>> strategy = make_strategy("mirrored")   # doctest: +SKIP
>>> train(corpus, "runs/mirrored", config, settings, strategy=strategy)   # doctest: +SKIP
"""

from __future__ import annotations

import os

from semser_tf.errors import ConfigError

STRATEGIES = ("default", "mirrored", "multiworker", "data_parallel")
"""Names accepted by :func:`make_strategy` (and ``semser train --strategy``)."""


def _tf_replica_context():
    """The current ``tf.distribute`` replica context when several replicas are in sync."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if tf.distribute.in_cross_replica_context():
        return None
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync <= 1:
        return None
    return ctx


def num_replicas() -> int:
    """Replicas whose batches are summed in the current (replica) context; 1 outside one.

    Example:

    >>> num_replicas()
    1
    """
    ctx = _tf_replica_context()
    return 1 if ctx is None else int(ctx.num_replicas_in_sync)


def replica_sum(values):
    """Sum a (nested) structure of tensors over the replicas of a ``tf.distribute`` strategy.

    Inside ``strategy.run`` with more than one replica in sync this is
    ``ReplicaContext.all_reduce("SUM", values)``, whose gradient is again an all-reduced
    sum, so a loss built from the result differentiates like the single-device loss.
    Anywhere else (one device, cross-replica context, the JAX backend) it returns
    ``values`` unchanged.

    Args:
        values: a tensor or a list/tuple/dict of tensors, of the same shapes on every
            replica.

    Returns:
        The same structure, summed over replicas.

    Example:

    >>> import numpy as np
    >>> replica_sum([np.float32(2.0)])
    [2.0]
    """
    ctx = _tf_replica_context()
    if ctx is None:
        return values
    return ctx.all_reduce("SUM", values)


def make_strategy(name: str | None = "default", devices=None):
    """The distribution strategy (TensorFlow) or distribution (JAX) called ``name``.

    - ``default``: no strategy (``None``): one device.
    - ``mirrored``: ``tf.distribute.MirroredStrategy(devices)``: synchronous data
      parallelism over the GPUs (or the given devices) of one host. The batch size of the
      config is the GLOBAL batch: each replica gets ``batch_size / replicas`` windows.
    - ``multiworker``: ``tf.distribute.MultiWorkerMirroredStrategy()``: the same over
      several hosts, configured by the ``TF_CONFIG`` environment variable (see
      docs/scaling.md).
    - ``data_parallel``: on the JAX backend, ``keras.distribution.DataParallel`` over
      ``devices`` (default: all), made the global distribution; returns ``None``
      because Keras applies it to every model built afterwards.

    Args:
        name: one of :data:`STRATEGIES` (``None`` means ``default``).
        devices: optional device names, e.g. ``["/cpu:0", "/cpu:1"]``
            (MirroredStrategy) or ``["cpu:0", "cpu:1"]`` (DataParallel).

    Returns:
        A ``tf.distribute.Strategy`` or ``None``.

    Raises:
        ConfigError: an unknown name, or a strategy of the other backend.

    Example:

    >>> make_strategy("default") is None
    True
    """
    import keras

    name = name or "default"
    if name not in STRATEGIES:
        raise ConfigError(f"--strategy {name!r}: expected one of {', '.join(STRATEGIES)}.")
    backend = keras.backend.backend()
    if name == "default":
        return None
    if name == "data_parallel":
        if backend != "jax":
            raise ConfigError(
                "--strategy data_parallel is the JAX backend's keras.distribution.DataParallel "
                f"(KERAS_BACKEND=jax); this process runs {backend}: use --strategy mirrored."
            )
        dist = keras.distribution.DataParallel(devices=list(devices) if devices else None)
        keras.distribution.set_distribution(dist)
        return None
    if backend != "tensorflow":
        raise ConfigError(
            f"--strategy {name} is a tf.distribute strategy (TensorFlow backend); on {backend} "
            "use --strategy data_parallel."
        )
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=list(devices) if devices else None)
    if "TF_CONFIG" not in os.environ:
        raise ConfigError(
            "--strategy multiworker needs the TF_CONFIG environment variable "
            '({"cluster": {"worker": ["host1:port", ...]}, "task": {"type": "worker", "index": i}}); '
            "see docs/scaling.md."
        )
    return tf.distribute.MultiWorkerMirroredStrategy()
