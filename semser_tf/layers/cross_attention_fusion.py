"""Attention over modalities (the official code's ``attention_model``)."""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from semser_tf.layers._checks import check_positive_int


@keras.saving.register_keras_serializable(package="semser_tf")
class CrossAttentionFusion(layers.Layer):
    """Fuse two per-frame modalities by a softmax over the modalities.

    Both inputs are (batch, frames, d_a) and (batch, frames, d_b). When their sizes differ
    (or ``project="always"``) each is first projected by its own ``Dense(units, relu)``.
    The two are stacked to (batch, frames, 2, d); one shared ``Dense(1)`` scores each
    modality (a dot product plus a bias), the scores are scaled by ``1 / sqrt(d)`` and a
    softmax over the two modalities gives per-frame weights; the output is the weighted
    sum, (batch, frames, d). The weights say, per frame, which modality the model listened
    to; ``return_weights=True`` also returns them, (batch, frames, 2), in input order.

    Args:
        units: projection size when the modalities are projected (1024 in the paper).
        project: ``"auto"`` (project only when sizes differ), ``"always"`` or ``"never"``.
        return_weights: also return the modality weights.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Example:

    >>> import numpy as np
    >>> fuse = CrossAttentionFusion(units=64, return_weights=True)
    >>> out, w = fuse([np.ones((2, 5, 2000), "float32"), np.ones((2, 5, 100), "float32")])
    >>> out.shape, w.shape
    ((2, 5, 64), (2, 5, 2))
    """

    def __init__(self, units=1024, project="auto", return_weights=False, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        if project not in ("auto", "always", "never"):
            raise ValueError(
                f"CrossAttentionFusion: project must be 'auto', 'always' or 'never', got {project!r}."
            )
        self.project = project
        self.return_weights = bool(return_weights)

    def _shapes(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(
                f"CrossAttentionFusion ({self.name}): expected a list of two inputs "
                f"[(batch, frames, d_a), (batch, frames, d_b)], got {input_shape}."
            )
        a, b = (tuple(s) for s in input_shape)
        for which, s in (("first", a), ("second", b)):
            if len(s) != 3 or s[-1] is None:
                raise ValueError(
                    f"CrossAttentionFusion ({self.name}): the {which} input must have rank 3 "
                    f"(batch, frames, features) with known features, got shape {s}."
                )
        return a, b

    def _projects(self, a, b):
        if self.project == "always":
            return True
        if self.project == "never":
            if a[-1] != b[-1]:
                raise ValueError(
                    f"CrossAttentionFusion ({self.name}): project='never' needs inputs of the "
                    f"same size, got {a[-1]} and {b[-1]}."
                )
            return False
        return a[-1] != b[-1]

    def build(self, input_shape):
        a, b = self._shapes(input_shape)
        self._projected = self._projects(a, b)
        if self._projected:
            self.proj_a = layers.Dense(self.units, activation="relu", name="proj_a", dtype=self.dtype_policy)
            self.proj_b = layers.Dense(self.units, activation="relu", name="proj_b", dtype=self.dtype_policy)
            self.proj_a.build(a)
            self.proj_b.build(b)
            d = self.units
        else:
            d = a[-1]
        self.score = layers.Dense(1, name="score", dtype=self.dtype_policy)
        self.score.build((None, None, 2, d))
        self._scale = 1.0 / math.sqrt(d)
        self.built = True

    def call(self, inputs):
        a, b = inputs
        if self._projected:
            a, b = self.proj_a(a), self.proj_b(b)
        stacked = ops.stack([a, b], axis=2)  # (batch, frames, 2, d)
        scores = self.score(stacked) * ops.cast(self._scale, stacked.dtype)
        weights = ops.softmax(scores, axis=2)  # over the two modalities
        fused = ops.sum(stacked * weights, axis=2)
        if self.return_weights:
            return fused, ops.squeeze(weights, axis=-1)
        return fused

    def compute_output_shape(self, input_shape):
        a, b = self._shapes(input_shape)
        d = self.units if self._projects(a, b) else a[-1]
        out = (a[0], a[1], d)
        if self.return_weights:
            return out, (a[0], a[1], 2)
        return out

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, project=self.project, return_weights=self.return_weights)
        return config
