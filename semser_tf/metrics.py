"""A streaming CCC metric: the CCC over everything seen, whatever the batching."""

from __future__ import annotations

import keras
from keras import ops

from semser_tf.distribute import replica_sum

_EPS = 1e-8


def _frame_weights(sample_weight, y):
    """``sample_weight`` per frame, ``(frames, 1)``, or per frame and target when it has
    a target axis like ``y`` (the rule of :func:`semser_tf.losses.frame_weights`, which
    this layer may not import)."""
    n_targets = y.shape[-1]
    w = ops.convert_to_tensor(sample_weight)
    per_target = len(w.shape) == len(y.shape) and w.shape[-1] == n_targets
    return ops.reshape(ops.cast(w, "float32"), (-1, n_targets if per_target else 1))


@keras.saving.register_keras_serializable(package="semser_tf")
class CCC(keras.metrics.Metric):
    """Concordance correlation coefficient over all frames seen since the last reset.

    Keras's built-in ``ConcordanceCorrelation`` averages per-batch values; the AVEC
    convention needs the CCC of the concatenated predictions of a whole partition. This
    metric keeps, per target, the weighted count, the two means, the two sums of squared
    deviations and the co-moment, and merges each batch into them with Chan et al.'s
    pairwise update. That equals the CCC of everything seen concatenated for any split
    into batches, and unlike raw sums of x, x^2 and xy it does not cancel catastrophically
    in float32 over long runs (millions of frames with a non-zero mean).

    Args:
        target: index of the target to report, or ``None`` for the mean over targets.
        name: metric name (``ccc`` by default; use e.g. ``ccc_valence`` with ``target=1``).
        **kwargs: base ``keras.metrics.Metric`` arguments.

    Example:

    >>> import numpy as np
    >>> m = CCC()
    >>> y = np.random.default_rng(0).uniform(-1, 1, (4, 10, 3)).astype("float32")
    >>> m.update_state(y[:2], y[:2]); m.update_state(y[2:], y[2:])
    >>> round(float(m.result()), 5)
    1.0
    """

    def __init__(self, target=None, name="ccc", **kwargs):
        super().__init__(name=name, **kwargs)
        if target is not None and (
            isinstance(target, bool) or not isinstance(target, int) or target < 0
        ):
            raise ValueError(f"CCC: target must be None or a non-negative index, got {target!r}.")
        self.target = target
        self._n_targets = None

    def _create(self, n_targets):
        self._n_targets = n_targets
        # One (6, targets) variable for the six running moments: count, mean_true,
        # mean_pred, m2_true, m2_pred, comoment. One variable instead of six means one
        # assign per update and per reset (a JAX train_on_batch syncs and resets every
        # metric variable from Python: 24 variables for the four CCC metrics cost ~12 ms
        # per call on the GPU host, docs/measurements/benchmarks.md).
        # Every replica holds the same (global) state: read the first, never sum them.
        self.moments = self.add_variable(
            shape=(6, n_targets),
            initializer="zeros",
            name="moments",
            dtype="float32",
            aggregation="only_first_replica",
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
        y_true = ops.cast(ops.convert_to_tensor(y_true), "float32")
        n_targets = y_pred.shape[-1]
        if self._n_targets is None:
            self._create(n_targets)
        elif n_targets != self._n_targets:
            raise ValueError(
                f"CCC ({self.name}): {n_targets} targets, but {self._n_targets} before."
            )
        t = ops.reshape(y_true, (-1, n_targets))
        p = ops.reshape(y_pred, (-1, n_targets))
        if sample_weight is None:
            w = ops.ones_like(t[:, :1])
        else:
            w = _frame_weights(sample_weight, y_pred)
        # Under a tf.distribute strategy the batch's moments are all-reduced over the
        # replicas (replica_sum), so every replica merges the same global batch.
        nb, st_b, sp_b = replica_sum(
            [
                ops.sum(w, axis=0) * ops.ones((n_targets,), "float32"),
                ops.sum(w * t, axis=0),
                ops.sum(w * p, axis=0),
            ]
        )
        safe_nb = ops.maximum(nb, _EPS)
        mt_b = st_b / safe_nb
        mp_b = sp_b / safe_nb
        dt, dp = t - mt_b, p - mp_b
        m2t_b, m2p_b, c_b = replica_sum(
            [
                ops.sum(w * dt * dt, axis=0),
                ops.sum(w * dp * dp, axis=0),
                ops.sum(w * dt * dp, axis=0),
            ]
        )

        m = self.moments.value
        na, mean_t, mean_p, m2_t, m2_p, co = (m[i] for i in range(6))
        n = na + nb
        safe_n = ops.maximum(n, _EPS)
        delta_t = mt_b - mean_t
        delta_p = mp_b - mean_p
        frac = nb / safe_n
        cross = na * frac  # na * nb / n
        self.moments.assign(
            ops.stack(
                [
                    n,
                    mean_t + delta_t * frac,
                    mean_p + delta_p * frac,
                    m2_t + m2t_b + delta_t * delta_t * cross,
                    m2_p + m2p_b + delta_p * delta_p * cross,
                    co + c_b + delta_t * delta_p * cross,
                ]
            )
        )

    def result_per_target(self):
        """CCC of each target, (targets,)."""
        if self._n_targets is None:
            return ops.zeros((0,), "float32")
        m = self.moments.value
        n = ops.maximum(m[0], _EPS)
        vt, vp = m[3] / n, m[4] / n
        cov = m[5] / n
        diff = m[1] - m[2]
        return 2.0 * cov / (vt + vp + diff * diff + _EPS)

    def result(self):
        if self._n_targets is None:
            return ops.convert_to_tensor(0.0, "float32")
        ccc = self.result_per_target()
        if self.target is None:
            return ops.mean(ccc)
        return ccc[self.target]

    def reset_state(self):
        if self._n_targets is None:
            return
        self.moments.assign(ops.zeros_like(self.moments.value))

    def get_config(self):
        config = super().get_config()
        config.update(target=self.target)
        return config


def ccc_metrics(targets):
    """The mean CCC (``ccc``) and one CCC per target (``ccc_<name>``), for ``compile``.

    Args:
        targets: target names in output order, e.g. ``("arousal", "valence", "liking")``.

    Example:

    >>> ", ".join(m.name for m in ccc_metrics(["arousal", "valence"]))
    'ccc, ccc_arousal, ccc_valence'
    """
    return [CCC(name="ccc")] + [CCC(target=i, name=f"ccc_{t}") for i, t in enumerate(targets)]
