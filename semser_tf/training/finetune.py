"""Fine-tuning moved to :mod:`semser_tf.zoo.finetune`: it starts from a zoo model, and the
zoo package sits above training (docs/architecture.md). This name still works.

The module is loaded on first use of a name (PEP 562), so that importing training never
imports the zoo: the layers contract (``.importlinter``) checks the package's imports.
"""

import importlib

_MOVED = ("FREEZABLE", "finetune", "transplant")


def __getattr__(name):
    if name in _MOVED:
        return getattr(importlib.import_module("semser_tf.zoo.finetune"), name)
    raise AttributeError(f"module 'semser_tf.training.finetune' has no attribute {name!r}")
