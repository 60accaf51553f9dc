"""Hierarchical fusion through arousal, valence and liking streams."""

from __future__ import annotations

import keras
from keras import layers

from semser_tf.layers._checks import check_positive_int
from semser_tf.layers.cross_attention_fusion import CrossAttentionFusion


@keras.saving.register_keras_serializable(package="semser_tf")
class HierarchicalAVLFusion(layers.Layer):
    """Three streams a, v, l from the fused features, fused as Attention(Attention(a, l), v).

    Each stream is a ``Dense(units, relu)`` of the input; the two attention steps are
    :class:`CrossAttentionFusion` layers over equal-sized inputs (no projection), so each
    weighs its two streams per frame.

    Args:
        units: size of each stream (512 in the paper).
        return_weights: also return the weights of both attention steps, (batch, frames, 2)
            each: ``[w(a, l), w(al, v)]``.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Example:

    >>> import numpy as np
    >>> HierarchicalAVLFusion(units=32)(np.ones((2, 5, 64), "float32")).shape
    (2, 5, 32)
    """

    def __init__(self, units=512, return_weights=False, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.return_weights = bool(return_weights)
        dt = self.dtype_policy
        self.stream_a = layers.Dense(self.units, activation="relu", name="arousal_stream", dtype=dt)
        self.stream_v = layers.Dense(self.units, activation="relu", name="valence_stream", dtype=dt)
        self.stream_l = layers.Dense(self.units, activation="relu", name="liking_stream", dtype=dt)
        self.attend_al = CrossAttentionFusion(
            self.units, project="never", return_weights=True, name="attend_al", dtype=dt
        )
        self.attend_v = CrossAttentionFusion(
            self.units, project="never", return_weights=True, name="attend_v", dtype=dt
        )

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"HierarchicalAVLFusion ({self.name}): expected (batch, frames, features) with "
                f"known features, got shape {tuple(input_shape)}."
            )
        for stream in (self.stream_a, self.stream_v, self.stream_l):
            stream.build(input_shape)
        s = (input_shape[0], input_shape[1], self.units)
        self.attend_al.build([s, s])
        self.attend_v.build([s, s])
        self.built = True

    def call(self, inputs):
        a, v, lang = self.stream_a(inputs), self.stream_v(inputs), self.stream_l(inputs)
        al, w_al = self.attend_al([a, lang])
        out, w_v = self.attend_v([al, v])
        if self.return_weights:
            return out, [w_al, w_v]
        return out

    def compute_output_shape(self, input_shape):
        out = (input_shape[0], input_shape[1], self.units)
        if self.return_weights:
            w = (input_shape[0], input_shape[1], 2)
            return out, [w, w]
        return out

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, return_weights=self.return_weights)
        return config
