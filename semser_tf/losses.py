"""The concordance correlation coefficient (CCC) loss."""

from __future__ import annotations

import keras
from keras import ops

from semser_tf.distribute import num_replicas, replica_sum

_EPS = 1e-8


def frame_weights(sample_weight, y, dtype):
    """``sample_weight`` as a column per frame, ``(frames, 1)``, or per frame and target,
    ``(frames, targets)`` when it has a target axis like ``y`` (the per-target weights of
    :func:`semser_tf.data.pipeline.modality_dropout` with ``unscored`` targets)."""
    n_targets = y.shape[-1]
    w = ops.convert_to_tensor(sample_weight)
    per_target = len(w.shape) == len(y.shape) and w.shape[-1] == n_targets
    return ops.reshape(ops.cast(w, dtype), (-1, n_targets if per_target else 1))


def ccc_per_target(y_true, y_pred, sample_weight=None):
    """CCC of each target over all batch items and frames, (targets,).

    ``CCC(x, y) = 2 cov(x, y) / (var x + var y + (mean x - mean y)^2)`` with population
    (biased) moments, computed over every frame of every sequence in the batch, i.e. as
    if the batch's frames were concatenated (the AVEC convention), separately per target.

    Args:
        y_true: (batch, frames, targets) gold values (or any (..., targets)).
        y_pred: predictions of the same shape.
        sample_weight: optional (batch, frames) weights, or (batch, frames, targets) for
            a weight per target; frames of weight 0 (padding) do not count (for that
            target). Weighted moments are used.

    Computed in float32 (float64 for float64 predictions), whatever the dtype policy.
    """
    y_true = ops.convert_to_tensor(y_true)
    y_pred = ops.convert_to_tensor(y_pred)
    # float32 at least: under mixed precision the model's outputs may be bfloat16/float16,
    # whose 8/11-bit mantissas put the moments (and the loss) ~1e-3 off
    dtype = "float64" if keras.backend.standardize_dtype(y_pred.dtype) == "float64" else "float32"
    y_pred = ops.cast(y_pred, dtype)
    y_true = ops.cast(y_true, dtype)
    n_targets = y_pred.shape[-1]
    t = ops.reshape(y_true, (-1, n_targets))
    p = ops.reshape(y_pred, (-1, n_targets))
    if sample_weight is None:
        w = ops.ones_like(t[:, :1])
    else:
        w = frame_weights(sample_weight, y_pred, p.dtype)
    # Under a tf.distribute strategy each replica holds part of the batch: the sums are
    # all-reduced (replica_sum), so every replica computes the global-batch CCC.
    n, st, sp = replica_sum([ops.sum(w, axis=0), ops.sum(w * t, axis=0), ops.sum(w * p, axis=0)])
    n = n + _EPS
    mt, mp = st / n, sp / n
    dt, dp = t - mt, p - mp
    vt, vp, cov = replica_sum(
        [ops.sum(w * dt * dt, axis=0), ops.sum(w * dp * dp, axis=0), ops.sum(w * dt * dp, axis=0)]
    )
    vt, vp, cov = vt / n, vp / n, cov / n
    return 2.0 * cov / (vt + vp + ops.square(mt - mp) + _EPS)


@keras.saving.register_keras_serializable(package="semser_tf")
class CCCLoss(keras.losses.Loss):
    """``1 - CCC`` per target, averaged over targets (optionally weighted).

    The CCC is computed over the whole batch (all sequences and frames together) per
    target; it is not a per-sample loss, so ``sample_weight`` (e.g. the zero weights of the
    padded tail of a recording's last window) enters the moments instead of scaling
    per-sample values.

    Args:
        target_weights: optional weight per target; normalised to sum to one. The
            official code weights arousal, valence, liking 1, 1/2, 1/3 (the ``official``
            preset); the paper's default is equal weights.
        name: loss name.
        **kwargs: base ``keras.losses.Loss`` arguments.

    Example:

    >>> import numpy as np
    >>> y = np.random.default_rng(0).uniform(-1, 1, (2, 10, 3)).astype("float32")
    >>> float(CCCLoss()(y, y)) < 1e-6
    True
    """

    def __init__(self, target_weights=None, name="ccc_loss", **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="none", **kwargs)
        if target_weights is not None:
            target_weights = [float(v) for v in target_weights]
            if not target_weights or any(v < 0 for v in target_weights) or sum(target_weights) <= 0:
                raise ValueError(
                    f"CCCLoss: target_weights must be non-negative with a positive sum, got {target_weights}."
                )
        self.target_weights = target_weights

    def __call__(self, y_true, y_pred, sample_weight=None):
        # Keras sums the replicas' gradients and multiplies the logged loss by the replica
        # count; every replica holds the global-batch loss, so it is divided by that count.
        loss = self.call(y_true, y_pred, sample_weight)
        replicas = num_replicas()
        return loss if replicas == 1 else loss / replicas

    def call(self, y_true, y_pred, sample_weight=None):
        ccc = ccc_per_target(y_true, y_pred, sample_weight)
        if self.target_weights is None:
            return 1.0 - ops.mean(ccc)
        if len(self.target_weights) != ccc.shape[-1]:
            raise ValueError(
                f"CCCLoss: {len(self.target_weights)} target_weights for {ccc.shape[-1]} targets."
            )
        w = ops.convert_to_tensor(self.target_weights, dtype=ccc.dtype)
        return 1.0 - ops.sum(w * ccc) / ops.sum(w)

    def get_config(self):
        return {"name": self.name, "target_weights": self.target_weights}
