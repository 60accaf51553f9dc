"""What a prediction reads and what it gives: chunked audio readers over a WAV file (streamed),
another audio file or an array, and :class:`Prediction`, the time series of one recording.

Shared by :class:`~semser_tf.inference.Predictor` (one file) and
:mod:`semser_tf.inference_batch` (many files), which both build on it.
"""

from __future__ import annotations

import dataclasses
import io
import math
from pathlib import Path

import numpy as np

from semser_tf.constants import SAMPLE_RATE, SAMPLES_PER_FRAME
from semser_tf.data.timings import read_words_arg
from semser_tf.data.wav_stream import check_finite
from semser_tf.errors import DataError


@dataclasses.dataclass
class Prediction:
    """A time series of predictions: one row per 100 ms frame.

    Args:
        times: (n,) frame start times in seconds.
        values: (n, targets) predictions in [-1, 1].
        targets: target names, in column order.
        weights: optional (n, 2) modality weights [paralinguistic, semantic].
        words: the word timings the semantic input was made from (``None``: not recorded).
        words_source: where they came from: ``file``, ``align``, ``asr`` or ``none``.
    """

    times: np.ndarray
    values: np.ndarray
    targets: tuple
    weights: np.ndarray | None = None
    words: list | None = None
    words_source: str | None = None

    def __getitem__(self, target: str) -> np.ndarray:
        return self.values[:, list(self.targets).index(target)]

    def to_csv(self, path) -> Path:
        """Write ``time,<target>...`` (and the modality weights if present), atomically."""
        from semser_tf.io import atomic_write_text

        cols = ["time", *self.targets] + (
            ["w_paralinguistic", "w_semantic"] if self.weights is not None else []
        )
        data = np.column_stack(
            [self.times, self.values] + ([self.weights] if self.weights is not None else [])
        )
        buf = io.StringIO()
        buf.write(",".join(cols) + "\n")
        np.savetxt(buf, data, delimiter=",", fmt=["%.1f"] + ["%.5f"] * (data.shape[1] - 1))
        return atomic_write_text(path, buf.getvalue())

    def plot(self, path, gold=None, title=None) -> Path:
        """PNG of the predictions over time (against gold labels when given)."""
        from semser_tf.plotting import plot_recording

        return plot_recording(
            path, title or "prediction", self.values, gold, self.targets, self.weights
        )


class _WavStream:
    """Chunks of a WAV file as mono float32 at 22050 Hz (:class:`~semser_tf.data.wav_stream.WavStream`)."""

    def __init__(self, path):
        from semser_tf.data.wav_stream import WavStream

        self.stream = WavStream(path, SAMPLE_RATE)
        self.path, self.rate, self.total_in = (
            self.stream.path,
            self.stream.rate,
            self.stream.total_in,
        )
        if self.total_in == 0:
            raise DataError("the WAV file holds no audio", self.path)
        self.total_out = int(math.ceil(self.total_in * SAMPLE_RATE / self.rate))

    def samples(self, out_start, out_stop):
        """Output samples [out_start, out_stop) at 22050 Hz (zero-padded past the end)."""
        x = self.stream.resampled(out_start, min(out_stop, self.total_out))
        return np.pad(x, (0, out_stop - out_start - len(x))) if len(x) < out_stop - out_start else x


class _ArrayStream:
    def __init__(self, audio):
        self.audio = np.asarray(audio, np.float32)
        check_finite(self.audio, None)
        self.total_out = len(self.audio)

    def samples(self, a, b):
        x = self.audio[a:b]
        return np.pad(x, (0, (b - a) - len(x))) if len(x) < b - a else x


def open_audio_stream(audio, sample_rate=None):
    """A chunked reader over a WAV path, another audio file, or an array."""
    if isinstance(audio, (str, Path)):
        path = Path(audio)
        if not path.is_file():
            raise DataError("audio file not found", path)
        from semser_tf.data.audio import load_audio, sniff_format

        if sniff_format(path) == "wav":
            return _WavStream(path)
        return _ArrayStream(load_audio(path))
    from semser_tf.data.wav_stream import mono_array

    audio = mono_array(audio, sample_rate)
    if sample_rate != SAMPLE_RATE:
        from semser_tf.data.audio import resample

        audio = resample(audio, sample_rate, SAMPLE_RATE)
    return _ArrayStream(audio)


def frames_of(stream) -> int:
    """Frames (100 ms, the last one zero-padded) of an :func:`open_audio_stream` reader."""
    return max(1, int(math.ceil(stream.total_out / SAMPLES_PER_FRAME)))


def checked_words(words, stream, audio=None) -> list:
    """:func:`read_words_arg`, refusing a word that starts after the end of the audio."""
    words = read_words_arg(words)
    duration = stream.total_out / SAMPLE_RATE
    late = [w for w in words if w.start > duration + 0.1]
    if late:
        raise DataError(
            f"word {late[0].word!r} starts at {late[0].start:.2f} s, after the end of the "
            f"audio ({duration:.2f} s)",
            audio if isinstance(audio, (str, Path)) else None,
        )
    return words


__all__ = ["Prediction", "checked_words", "frames_of", "open_audio_stream"]
