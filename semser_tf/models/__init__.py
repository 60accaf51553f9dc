"""Model configuration and the builder of the paper's variants."""

from semser_tf.models.builder import (PRECISIONS, build_model, compile_model, input_names, model_inputs,
                                      precision_policy, select_inputs, with_precision)
from semser_tf.models.config import PRESETS, VARIANTS, ModelConfig

__all__ = ["ModelConfig", "PRECISIONS", "PRESETS", "VARIANTS", "build_model", "compile_model", "input_names",
           "model_inputs", "precision_policy", "select_inputs", "with_precision"]
