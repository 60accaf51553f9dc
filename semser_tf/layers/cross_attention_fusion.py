"""Attention over modalities (the official code's ``attention_model``) and scorings that can move."""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from semser_tf.layers._checks import check_positive_int

SCORINGS = ("official", "temperature", "per_modality", "gate")
"""How :class:`CrossAttentionFusion` scores the two modalities per frame (see its docstring)."""

EVIDENCE = ("none", "feature", "mask")
"""What :class:`CrossAttentionFusion` does with the second input's evidence (non-zero frames)."""


@keras.saving.register_keras_serializable(package="semser_tf")
class CrossAttentionFusion(layers.Layer):
    """Fuse two per-frame modalities by per-frame weights over the modalities.

    Both inputs are (batch, frames, d_a) and (batch, frames, d_b). When their sizes differ
    (or ``project="always"``) each is first projected by its own ``Dense(units, relu)``,
    giving ``x_a``, ``x_b`` of size d. Each frame gets two weights ``w_a + w_b = 1`` and the
    output is ``w_a * x_a + w_b * x_b``, (batch, frames, d). The weights say, per frame, which
    modality the model listened to; ``return_weights=True`` also returns them,
    (batch, frames, 2), in input order.

    ``scoring`` gives the two logits ``s_a, s_b`` (weights = softmax over the two):

    - ``"official"``: the official code's formula: one shared ``Dense(1)`` scores each
      modality, ``s_m = (x_m . v + c) / sqrt(d)``.
    - ``"temperature"``: the same shared ``Dense(1)`` times a learned scale
      ``exp(t)`` (``t`` starts at 0: the unscaled dot product) instead of the fixed
      ``1 / sqrt(d)``.
    - ``"per_modality"``: each modality its own additive scorer (Bahdanau et al., 2015),
      ``s_m = v_m . tanh(W_m x_m + c_m) + e_m`` with ``W_m`` of ``score_units`` columns, no
      fixed scale.
    - ``"gate"``: a gate conditioned on both modalities,
      ``w_b = sigmoid(g . [x_a, x_b] + c)`` (``s_a = 0``, ``s_b`` the gate's logit).

    ``evidence`` lets a frame whose **second** input is all zeros (in the model: the
    semantic vector of a frame without a word) lean on the first:
    ``e = 1`` where the raw second input has a non-zero entry, else 0.

    - ``"none"``: not used (the official behaviour).
    - ``"feature"``: ``e`` is a scorer input: the logits become ``s_m + u_m e`` with learned
      ``u`` (starting at 0).
    - ``"mask"``: ``w_b = e * softmax(s)_b`` and ``w_a = 1 - w_b``: a frame without evidence
      is the first modality alone.

    Args:
        units: projection size when the modalities are projected (1024 in the paper).
        project: ``"auto"`` (project only when sizes differ), ``"always"`` or ``"never"``.
        return_weights: also return the modality weights.
        scoring: one of :data:`SCORINGS` (default ``"official"``).
        evidence: one of :data:`EVIDENCE` (default ``"none"``).
        score_units: hidden size of each ``"per_modality"`` scorer.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Example:

    >>> import numpy as np
    >>> fuse = CrossAttentionFusion(units=64, return_weights=True)
    >>> out, w = fuse([np.ones((2, 5, 2000), "float32"), np.ones((2, 5, 100), "float32")])
    >>> tuple(out.shape), tuple(w.shape)
    ((2, 5, 64), (2, 5, 2))
    >>> gate = CrossAttentionFusion(units=8, scoring="gate", evidence="mask", return_weights=True)
    >>> _, w = gate([np.ones((1, 2, 6), "float32"), np.zeros((1, 2, 3), "float32")])
    >>> keras.ops.convert_to_numpy(w).tolist()  # no semantic evidence: all weight on the first input
    [[[1.0, 0.0], [1.0, 0.0]]]
    """

    def __init__(
        self,
        units=1024,
        project="auto",
        return_weights=False,
        scoring="official",
        evidence="none",
        score_units=64,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        if project not in ("auto", "always", "never"):
            raise ValueError(
                f"CrossAttentionFusion: project must be 'auto', 'always' or 'never', got {project!r}."
            )
        if scoring not in SCORINGS:
            raise ValueError(
                f"CrossAttentionFusion: scoring must be one of {', '.join(SCORINGS)}, got {scoring!r}."
            )
        if evidence not in EVIDENCE:
            raise ValueError(
                f"CrossAttentionFusion: evidence must be one of {', '.join(EVIDENCE)}, got {evidence!r}."
            )
        self.project = project
        self.return_weights = bool(return_weights)
        self.scoring = scoring
        self.evidence = evidence
        self.score_units = check_positive_int("score_units", score_units)

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
        dt = self.dtype_policy
        if self._projected:
            self.proj_a = layers.Dense(self.units, activation="relu", name="proj_a", dtype=dt)
            self.proj_b = layers.Dense(self.units, activation="relu", name="proj_b", dtype=dt)
            self.proj_a.build(a)
            self.proj_b.build(b)
            d = self.units
        else:
            d = a[-1]
        if self.scoring in ("official", "temperature"):
            self.score = layers.Dense(1, name="score", dtype=dt)
            self.score.build((None, None, 2, d))
        if self.scoring == "temperature":
            self.log_scale = self.add_weight(name="log_scale", shape=(), initializer="zeros")
        elif self.scoring == "per_modality":
            self.score_hidden_a = layers.Dense(
                self.score_units, activation="tanh", name="score_hidden_a", dtype=dt
            )
            self.score_hidden_b = layers.Dense(
                self.score_units, activation="tanh", name="score_hidden_b", dtype=dt
            )
            self.score_a = layers.Dense(1, name="score_a", dtype=dt)
            self.score_b = layers.Dense(1, name="score_b", dtype=dt)
            for hidden, out in (
                (self.score_hidden_a, self.score_a),
                (self.score_hidden_b, self.score_b),
            ):
                hidden.build((None, None, d))
                out.build((None, None, self.score_units))
        elif self.scoring == "gate":
            self.gate = layers.Dense(1, name="gate", dtype=dt)
            self.gate.build((None, None, 2 * d))
        if self.evidence == "feature":
            self.evidence_weight = self.add_weight(
                name="evidence_weight", shape=(2,), initializer="zeros"
            )
        self._scale = 1.0 / math.sqrt(d)
        self.built = True

    def _logits(self, a, b):
        """(batch, frames, 2) logits of the projected inputs."""
        if self.scoring in ("official", "temperature"):
            stacked = ops.stack([a, b], axis=2)  # (batch, frames, 2, d)
            scores = ops.squeeze(self.score(stacked), axis=-1)
            if self.scoring == "official":
                return scores * ops.cast(self._scale, scores.dtype)
            return scores * ops.cast(ops.exp(self.log_scale), scores.dtype)
        if self.scoring == "per_modality":
            return ops.concatenate(
                [self.score_a(self.score_hidden_a(a)), self.score_b(self.score_hidden_b(b))],
                axis=-1,
            )
        z = self.gate(ops.concatenate([a, b], axis=-1))
        return ops.concatenate([ops.zeros_like(z), z], axis=-1)

    def call(self, inputs):
        a, b = inputs
        evidence = None
        if self.evidence != "none":
            # 1 where the raw second input has a non-zero entry (a word), else 0
            evidence = ops.cast(
                ops.any(ops.not_equal(b, 0), axis=-1, keepdims=True), self.compute_dtype
            )
        if self._projected:
            a, b = self.proj_a(a), self.proj_b(b)
        logits = self._logits(a, b)
        if self.evidence == "feature":
            logits = logits + evidence * ops.cast(self.evidence_weight, logits.dtype)
        weights = ops.softmax(logits, axis=-1)  # over the two modalities
        if self.evidence == "mask":
            w_b = weights[..., 1:] * evidence
            weights = ops.concatenate([1 - w_b, w_b], axis=-1)
        fused = a * weights[..., :1] + b * weights[..., 1:]
        if self.return_weights:
            return fused, weights
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
        if self.scoring != "official" or self.evidence != "none":
            # written only when used: an official layer's config stays what earlier versions read
            config.update(
                scoring=self.scoring, evidence=self.evidence, score_units=self.score_units
            )
        return config
