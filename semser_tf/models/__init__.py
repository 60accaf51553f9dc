"""The model class (:class:`SemserModel`), its presets, configuration and builder.

``SemserModel`` is a registered ``keras.Model`` whose config is the architecture only;
:class:`ModelConfig` is a run's recorded settings (``architecture()`` + ``training_config()``,
a :class:`TrainingConfig`); presets are verified folders (:mod:`semser_tf.models.preset`).

The names are imported on first use (PEP 562), so that importing a sub-module such as
``semser_tf.models.config`` or ``semser_tf.cli.models`` does not load Keras; load
saved models with :func:`~semser_tf.models.builder.load_model`, which registers the
package's Keras classes first.
"""

import importlib

_LAZY = {
    "PRECISIONS": "builder",
    "build_model": "builder",
    "compile_model": "builder",
    "input_names": "builder",
    "model_inputs": "builder",
    "precision_policy": "builder",
    "select_inputs": "builder",
    "with_precision": "builder",
    "load_model": "builder",
    "as_semser_model": "builder",
    "PRESETS": "config",
    "VARIANTS": "config",
    "ModelConfig": "config",
    "TrainingConfig": "config",
    "ARCHITECTURE_FIELDS": "config",
    "TRAINING_FIELDS": "config",
    "SemserModel": "semser_model",
    "InputFormat": "preset",
    "Preset": "preset",
    "PresetError": "preset",
    "load_preset": "preset",
    "save_preset": "preset",
}

__all__ = [
    "ARCHITECTURE_FIELDS",
    "InputFormat",
    "ModelConfig",
    "PRECISIONS",
    "PRESETS",
    "Preset",
    "PresetError",
    "SemserModel",
    "TRAINING_FIELDS",
    "TrainingConfig",
    "VARIANTS",
    "as_semser_model",
    "build_model",
    "compile_model",
    "input_names",
    "load_model",
    "load_preset",
    "model_inputs",
    "precision_policy",
    "save_preset",
    "select_inputs",
    "with_precision",
]


def __getattr__(name):
    if name in _LAZY:
        # the builder first, whatever the name: it registers the package's Keras classes, so
        # that a model saved by the package loads after ``from semser_tf.models import ...``
        importlib.import_module("semser_tf.models.builder")
        return getattr(importlib.import_module(f"semser_tf.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'semser_tf.models' has no attribute {name!r}")
