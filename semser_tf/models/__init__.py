"""Model configuration and the builder of the paper's variants."""

from semser_tf.models.builder import build_model, compile_model, input_names, model_inputs, select_inputs
from semser_tf.models.config import PRESETS, VARIANTS, ModelConfig

__all__ = ["ModelConfig", "PRESETS", "VARIANTS", "build_model", "compile_model", "input_names", "model_inputs", "select_inputs"]
