"""semser-tf: continuous speech emotion recognition from what is said and how it is said.

Keras 3 implementation of Tzirakis et al., "Speech Emotion Recognition Using Semantic
Information" (ICASSP 2021). Heavy modules are imported on first use, so ``import
semser_tf`` stays cheap.

Example:

>>> import semser_tf
>>> model = semser_tf.load_pretrained()          # doctest: +SKIP
>>> series = model.predict("speech.wav")         # doctest: +SKIP
>>> model.model                                  # the SemserModel (a keras.Model)  # doctest: +SKIP
>>> net = semser_tf.SemserModel.from_preset("semser-synthetic-attention")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "SemserModel": "semser_tf.models",
    "ModelConfig": "semser_tf.models",
    "TrainingConfig": "semser_tf.models",
    "build_model": "semser_tf.models",
    "compile_model": "semser_tf.models",
    "CCCLoss": "semser_tf.losses",
    "CCC": "semser_tf.metrics",
    "load_pretrained": "semser_tf.zoo.pretrained",
    "list_pretrained": "semser_tf.zoo",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'semser_tf' has no attribute {name!r}")
