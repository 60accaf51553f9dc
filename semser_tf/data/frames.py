"""The frames the model sees: the waveform cut into 100 ms frames, and the protocol of the
per-frame semantic features (:class:`FrameFeatures`) that the pipeline and prediction call."""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import numpy as np

from semser_tf.constants import SAMPLES_PER_FRAME
from semser_tf.data.corpus import Recording
from semser_tf.errors import ConfigError

__all__ = ["FrameFeatures", "ZeroFrameFeatures", "frames_from_audio"]

# --------------------------------------------------------------------------- features


@runtime_checkable
class FrameFeatures(Protocol):
    """Per-frame features of a recording (the semantic branch's input).

    An implementation is a callable ``f(recording, n_frames) -> np.ndarray`` of shape
    ``(n_frames, f.dim)`` (float32-convertible) with an integer attribute ``dim``. It
    should also define ``cache_key`` (a string that changes whenever its output would
    change, e.g. a hash of the embedding table); without it the class name and ``dim``
    identify it in the cache, so a retrained table would not invalidate cached shards.

    ``recording.words`` (word timings) and ``recording.audio_path`` are the usual inputs.

    Example:
        >>> class Ones:
        ...     dim = 4
        ...     cache_key = "ones-v1"
        ...     def __call__(self, recording, n_frames):
        ...         return np.ones((n_frames, self.dim), np.float32)
        >>> isinstance(Ones(), FrameFeatures)
        True
    """

    dim: int

    def __call__(self, recording: Recording, n_frames: int) -> np.ndarray: ...


class ZeroFrameFeatures:
    """Default frame features: zeros of shape ``(n_frames, dim)``.

    Args:
        dim: feature size (the paper's embedding size is 100).

    Example:
        >>> ZeroFrameFeatures(3)(None, 2).shape
        (2, 3)
    """

    def __init__(self, dim: int = 100):
        self.dim = int(dim)
        self.cache_key = f"zeros:{self.dim}"

    def __call__(self, recording, n_frames: int) -> np.ndarray:
        return np.zeros((n_frames, self.dim), np.float32)

    def __repr__(self) -> str:
        return f"ZeroFrameFeatures(dim={self.dim})"


def _features_key(features) -> str:
    key = getattr(features, "cache_key", None)
    if key is None:
        key = f"{type(features).__module__}.{getattr(features, '__qualname__', type(features).__qualname__)}"
    return f"{key}|dim={int(features.dim)}"


# --------------------------------------------------------------------------- audio


def frames_from_audio(audio, n_frames: int | None = None) -> np.ndarray:
    """Cut a 22050 Hz waveform into 100 ms frames (no cache; for one-file prediction).

    Args:
        audio: (samples,) mono waveform at 22050 Hz.
        n_frames: frames wanted; default ``ceil(samples / 2205)``. Missing samples are
            zeros; extra samples are dropped.

    Returns:
        (n_frames, 2205) float32 where row ``i`` is ``audio[i * 2205:(i + 1) * 2205]``.

    Example:
        >>> frames_from_audio(np.ones(3000)).shape
        (2, 2205)
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if n_frames is None:
        n_frames = int(math.ceil(len(audio) / SAMPLES_PER_FRAME))
    total = n_frames * SAMPLES_PER_FRAME
    out = np.zeros(total, np.float32)
    k = min(total, len(audio))
    out[:k] = audio[:k]
    return out.reshape(n_frames, SAMPLES_PER_FRAME)


def _check_features(features) -> None:
    if not callable(features) or not isinstance(getattr(features, "dim", None), (int, np.integer)):
        raise ConfigError(
            f"frame_features {features!r}: expected a callable f(recording, n_frames) with an "
            "integer attribute 'dim' (see semser_tf.data.pipeline.FrameFeatures)"
        )
