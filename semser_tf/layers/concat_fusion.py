"""The concatenation baseline of the paper's ablation."""

from __future__ import annotations

import keras
from keras import layers, ops

from semser_tf.layers._checks import check_positive_int


@keras.saving.register_keras_serializable(package="semser_tf")
class ConcatFusion(layers.Layer):
    """``Dense(units)`` per modality, concatenated, then ``Dense(output_units)``.

    Args:
        units: projection size of each modality (1024).
        output_units: size of the fused representation (512).
        **kwargs: base ``keras.layers.Layer`` arguments.

    Example:

    >>> import numpy as np
    >>> ConcatFusion(16, 8)([np.ones((2, 5, 20), "float32"), np.ones((2, 5, 4), "float32")]).shape
    (2, 5, 8)
    """

    def __init__(self, units=1024, output_units=512, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.output_units = check_positive_int("output_units", output_units)
        dt = self.dtype_policy
        self.proj_a = layers.Dense(self.units, activation="relu", name="proj_a", dtype=dt)
        self.proj_b = layers.Dense(self.units, activation="relu", name="proj_b", dtype=dt)
        self.out = layers.Dense(self.output_units, activation="relu", name="fused", dtype=dt)

    def build(self, input_shape):
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) != 2
            or any(len(s) != 3 or s[-1] is None for s in input_shape)
        ):
            raise ValueError(
                f"ConcatFusion ({self.name}): expected two inputs of rank 3 "
                f"(batch, frames, features), got {input_shape}."
            )
        self.proj_a.build(input_shape[0])
        self.proj_b.build(input_shape[1])
        self.out.build((None, None, 2 * self.units))
        self.built = True

    def call(self, inputs):
        a, b = inputs
        return self.out(ops.concatenate([self.proj_a(a), self.proj_b(b)], axis=-1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], input_shape[0][1], self.output_units)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, output_units=self.output_units)
        return config
