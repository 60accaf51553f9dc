"""Names shared by the tuning modules (no TensorFlow, no keras-tuner)."""

from __future__ import annotations

from semser_tf.errors import ConfigError, SemserError

PROJECT = "search"
"""keras-tuner's project folder inside a search's output folder."""

TUNERS = ("random", "bayesian", "hyperband")


class TuningError(SemserError):
    """A search cannot proceed (unreachable oracle, port in use, an untested keras-tuner, ...)."""


def safe_id(tuner_id: str) -> str:
    """A worker id usable as a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(tuner_id))


def require_keras_tuner() -> None:
    """Raise a ConfigError naming the extra when keras-tuner is not installed."""
    try:
        import keras_tuner  # noqa: F401
    except ImportError:
        raise ConfigError(
            "hyperparameter search needs keras-tuner, which is not installed: "
            "pip install 'semser-tf[tuning]'"
        ) from None


def check_tuner(kind: str):
    """An error unless ``kind`` is a tuner that can run here.

    Example:

    >>> check_tuner("random")
    """
    if kind not in TUNERS:
        raise ConfigError(f"--tuner {kind!r}: expected one of {', '.join(TUNERS)}.")
    require_keras_tuner()
    if kind == "bayesian":
        try:
            import sklearn  # noqa: F401  keras-tuner's Gaussian process needs it
        except ImportError:
            raise ConfigError(
                "--tuner bayesian: keras-tuner's Bayesian optimisation needs scikit-learn "
                "(pip install 'keras-tuner[bayesian]'), which is not installed; use random or hyperband."
            ) from None
