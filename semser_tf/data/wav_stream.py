"""A WAV file read and resampled in chunks, so that long files never sit in memory whole.

Used by prediction (22050 Hz windows for the model, :mod:`semser_tf.inference`) and by
recognition (16 kHz for the recogniser, :mod:`semser_tf.semantic.words.stream`). Each
requested range of output samples is computed from the input samples it needs plus a
margin of context on each side, the chunk aligned to the resampler's period so that chunk
boundaries leave no seams: the polyphase resampler of
:func:`semser_tf.data.audio.resample` has no delay and a finite support. Every chunk read
is checked for NaN/Inf samples, as :func:`~semser_tf.data.audio.load_audio` checks a whole
file.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from semser_tf.errors import DataError

__all__ = ["WavStream", "check_finite", "mono_array"]

MARGIN = 4096  # input samples of context each side when resampling a chunk


def check_finite(x, path=None, offset_s: float = 0.0, rate: int = 22050) -> None:
    """Refuse NaN or infinite samples, naming the time of the first one.

    Raises:
        DataError: naming ``path`` and the time in seconds.
    """
    bad = ~np.isfinite(x)
    if bad.any():
        at = offset_s + int(np.argmax(bad)) / rate
        raise DataError(
            f"audio holds NaN or infinite samples (the first at {at:.3f} s); "
            "expected finite samples",
            path,
        )


def mono_array(audio, sample_rate, error=DataError) -> np.ndarray:
    """An audio array given by a caller as mono float32: ``(samples,)``, or
    ``(samples, channels)`` / ``(channels, samples)`` (at most 8 channels) averaged.

    Raises:
        ``error`` (a :class:`DataError` subclass): another shape, or no ``sample_rate``.
    """
    x = np.asarray(audio, np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1) if x.shape[1] <= 8 else x.mean(axis=0)
    if x.ndim != 1:
        raise error(f"audio array of shape {x.shape}: expected (samples,) or (samples, channels)")
    if sample_rate is None:
        raise error("an audio array needs its sample_rate (e.g. sample_rate=22050)")
    return x


class WavStream:
    """Mono float32 samples of a WAV file, raw or resampled to ``target_rate``, by range.

    Attributes:
        path, info (``wav_info``), rate (the file's), total_in (its frames), target_rate,
        resampler: ``resample(x, rate, target_rate)``, by default
        :func:`semser_tf.data.audio.resample` (TensorFlow ops);
        :func:`~semser_tf.data.audio.resample_numpy` keeps a process free of TensorFlow.
    """

    def __init__(self, path, target_rate: int, resampler=None):
        from semser_tf.data.wav import wav_info

        self.resampler = resampler
        self.path = Path(path)
        self.info = wav_info(self.path)
        self.rate = int(self.info["sample_rate"])
        self.total_in = int(self.info["frames"])
        self.target_rate = int(target_rate)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Input samples ``[start, stop)`` (clipped to the file), channels averaged."""
        from semser_tf.data.wav import _read_wav_numpy

        start, stop = max(0, int(start)), min(self.total_in, int(stop))
        if stop <= start:
            return np.zeros(0, np.float32)
        info = dict(
            self.info,
            data_offset=self.info["data_offset"] + start * self.info["block_align"],
            frames=stop - start,
        )
        x = _read_wav_numpy(self.path, info).mean(axis=1).astype(np.float32)
        check_finite(x, self.path, start / self.rate, self.rate)
        return x

    def resampled(self, out_start: int, out_stop: int) -> np.ndarray:
        """Output samples ``[out_start, out_stop)`` at ``target_rate``, zero-padded past the end."""
        if self.rate == self.target_rate:
            x = self.read(out_start, out_stop)
        else:
            from semser_tf.data.audio import _factors, resample

            resample = self.resampler or resample
            up, down = _factors(self.rate, self.target_rate)
            # output sample j sits at input position j * down / up: align chunks to `up`
            o0 = (out_start // up) * up
            i0 = o0 * down // up
            i1 = int(math.ceil(out_stop * down / up)) + 1
            m0 = min(MARGIN - MARGIN % down, i0)  # a margin that keeps the alignment exact
            y = resample(self.read(i0 - m0, i1 + MARGIN), self.rate, self.target_rate)
            skip = m0 * up // down + (out_start - o0)
            x = y[skip : skip + (out_stop - out_start)]
        if len(x) < out_stop - out_start:
            x = np.pad(x, (0, out_stop - out_start - len(x)))
        return np.ascontiguousarray(x, np.float32)
