"""Model configuration and the builder of the paper's variants.

The names are imported on first use (PEP 562), so that importing a sub-module such as
``semser_tf.models.config`` or ``semser_tf.models.commands`` does not load Keras; load
saved models with :func:`~semser_tf.models.builder.load_model`, which registers the
package's Keras classes first.
"""

import importlib

_LAZY = {
    "PRECISIONS": "builder", "build_model": "builder", "compile_model": "builder", "input_names": "builder",
    "model_inputs": "builder", "precision_policy": "builder", "select_inputs": "builder",
    "with_precision": "builder", "load_model": "builder", "PRESETS": "config", "VARIANTS": "config", "ModelConfig": "config",
}

__all__ = ["ModelConfig", "PRECISIONS", "PRESETS", "VARIANTS", "build_model", "compile_model", "input_names",
           "model_inputs", "precision_policy", "select_inputs", "with_precision", "load_model"]


def __getattr__(name):
    if name in _LAZY:
        # the builder first, whatever the name: it registers the package's Keras classes, so
        # that a model saved by the package loads after ``from semser_tf.models import ...``
        importlib.import_module("semser_tf.models.builder")
        return getattr(importlib.import_module(f"semser_tf.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'semser_tf.models' has no attribute {name!r}")
