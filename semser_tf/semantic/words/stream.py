"""16 kHz mono audio for the recogniser, read in chunks so that long files stay cheap.

A WAV file is read and resampled piece by piece by the same
:class:`~semser_tf.data.wav_stream.WavStream` that streams 22050 Hz windows for the model
(no seams at chunk boundaries, NaN/Inf samples refused). Other formats
(FLAC, MP3, OGG) and arrays are decoded whole and resampled once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semser_tf.errors import DataError

__all__ = ["ASR_SAMPLE_RATE", "AudioSource", "RecognitionError", "open_source"]

ASR_SAMPLE_RATE = 16000
"""The rate the bundled acoustic model was trained at (the rate every source delivers)."""

BLOCK = ASR_SAMPLE_RATE * 30  # output samples per block when scanning a whole source


class RecognitionError(DataError):
    """Audio cannot be recognised (too short, wrong shape, recogniser unavailable)."""


class AudioSource:
    """Random access to 16 kHz mono float32 samples ``[a, b)`` of one recording.

    Attributes:
        total: number of 16 kHz samples (``floor(n_in * 16000 / rate)``: no time past the
            input's end).
        rate: the input's sample rate.
        path: the file, or ``None`` for an array.
    """

    def __init__(self, total: int, rate: int, path=None):
        self.total = int(total)
        self.rate = int(rate)
        self.path = path

    def _raw(self, a: int, b: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def read(self, a: int, b: int) -> np.ndarray:
        """Samples ``[a, b)``, clipped to the source."""
        a, b = max(0, int(a)), min(self.total, int(b))
        if b <= a:
            return np.zeros(0, np.float32)
        return self._raw(a, b)

    def blocks(self):
        """``(start, samples)`` over the whole source in blocks of 30 s."""
        for a in range(0, self.total, BLOCK):
            yield a, self.read(a, a + BLOCK)


class _ArraySource(AudioSource):
    def __init__(self, x: np.ndarray, rate: int, path=None):
        super().__init__(len(x), rate, path)
        self.x = x

    def _raw(self, a, b):
        return self.x[a:b].copy()


class _WavSource(AudioSource):
    """A WAV file resampled to 16 kHz chunk by chunk (:class:`~semser_tf.data.wav_stream.WavStream`)."""

    def __init__(self, path, resampler=None):
        from semser_tf.data.wav_stream import WavStream

        self.stream = WavStream(path, ASR_SAMPLE_RATE, resampler)
        self.total_in = self.stream.total_in
        super().__init__(
            self.total_in * ASR_SAMPLE_RATE // self.stream.rate, self.stream.rate, Path(path)
        )

    def _raw(self, a, b):
        return self.stream.resampled(a, b)


def open_source(audio, sample_rate: int | None = None, resampler=None) -> AudioSource:
    """An :class:`AudioSource` over a path (WAV streamed) or an array (with its rate).

    ``resampler``: ``resample(x, rate, 16000)``, default :func:`semser_tf.data.audio.resample`
    (TensorFlow ops); :func:`~semser_tf.data.audio.resample_numpy` keeps TensorFlow out of
    the process (the recogniser's worker processes).

    Raises:
        RecognitionError: a missing file, an array without its rate, of a bad shape, or
            with NaN/inf.
        DataError: a file that cannot be read (naming it).
    """
    from semser_tf.data.audio import decode_audio, resample, sniff_format

    path = None
    if isinstance(audio, (str, Path)):
        path = Path(audio)
        if not path.is_file():
            raise RecognitionError("audio file not found", path)
        if sniff_format(path) == "wav":
            src = _WavSource(path, resampler)
            if src.total_in == 0:
                raise RecognitionError("the WAV file holds no audio", path)
            return src
        x, sample_rate = decode_audio(path)
    else:
        from semser_tf.data.wav_stream import mono_array

        x = mono_array(audio, sample_rate, RecognitionError)
        if not np.all(np.isfinite(x)):
            raise RecognitionError("audio array holds NaN or infinite samples")
    rate = int(sample_rate)
    if rate != ASR_SAMPLE_RATE:
        n_in = len(x)
        try:
            x = (resampler or resample)(x, rate, ASR_SAMPLE_RATE)
        except Exception as err:
            raise RecognitionError(
                f"cannot resample {rate} Hz audio to {ASR_SAMPLE_RATE} Hz: {err}", path
            ) from err
        x = x[: n_in * ASR_SAMPLE_RATE // rate]
    return _ArraySource(np.ascontiguousarray(x, np.float32), rate, path)
