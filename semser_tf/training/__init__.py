"""Training, evaluation with the AVEC conventions, and the paper's ablation.

The names are imported on first use (PEP 562), so that ``semser_tf.cli.train``
(the CLI) does not load TensorFlow before a command runs.
"""

import importlib

# eager: the function shares its name with its module, and loads nothing heavy
from semser_tf.training.ablation import ablation

_LAZY = {
    "evaluate_model": "evaluate",
    "evaluate_predictions": "evaluate",
    "predict_partition": "evaluate",
    "TrainSettings": "run",
    "train": "run",
    "fit_run": "loop",
    "run_callbacks": "loop",
    "device_batches": "device_feed",
    "feed_for_fit": "device_feed",
}

__all__ = [
    "TrainSettings",
    "ablation",
    "device_batches",
    "evaluate_model",
    "evaluate_predictions",
    "feed_for_fit",
    "fit_run",
    "predict_partition",
    "run_callbacks",
    "train",
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"semser_tf.training.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'semser_tf.training' has no attribute {name!r}")
