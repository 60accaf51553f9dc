"""13 MFCCs in TensorFlow, for word segments (the input of Speech2Vec).

Definition (every step is a TensorFlow op; ``tests/semantic/test_mfcc.py`` checks it
against an independent NumPy/SciPy implementation of the same definition):

1. frames of 25 ms (``round(0.025 * 22050) = 551`` samples) every 10 ms
   (``round(0.010 * 22050) = 220`` samples), no padding at the end: a segment of
   ``n >= 551`` samples gives ``1 + (n - 551) // 220`` frames;
2. a symmetric Hann window ``0.5 - 0.5 cos(2 pi n / 550)``, ``n = 0..550`` (what
   ``tf.signal.hann_window`` gives for an odd length), FFT of 1024 points, magnitude ``|X|``;
3. 40 triangular mel filters between 20 Hz and 8000 Hz
   (``tf.signal.linear_to_mel_weight_matrix``: HTK mel scale ``1127 ln(1 + f / 700)``,
   triangles in the mel domain, DC bin excluded);
4. ``log(mel + 1e-6)``;
5. DCT-II scaled by ``1 / sqrt(2 * 40)`` (``tf.signal.mfccs_from_log_mel_spectrograms``),
   first 13 coefficients (coefficient 0 included).

Segments shorter than one frame (under 551 samples, i.e. 25 ms) are **zero-padded to one
frame** and give exactly one MFCC frame; an empty segment (``end <= start`` after rounding
to samples) gives one frame of silence. Timings are rounded to the nearest sample.

Example:
    >>> import numpy as np
    >>> m = mfcc(np.zeros(22050, np.float32))
    >>> m.shape
    (98, 13)
"""

from __future__ import annotations

import numpy as np

from semser_tf.constants import SAMPLE_RATE
from semser_tf.errors import DataError

__all__ = [
    "N_MFCC",
    "FRAME_LENGTH",
    "FRAME_STEP",
    "FFT_LENGTH",
    "N_MELS",
    "LOWER_HZ",
    "UPPER_HZ",
    "LOG_OFFSET",
    "n_mfcc_frames",
    "mfcc",
    "segment_bounds",
    "segment_mfccs",
]

N_MFCC = 13
FRAME_LENGTH = int(round(0.025 * SAMPLE_RATE))  # 551
FRAME_STEP = int(round(0.010 * SAMPLE_RATE))  # 220
FFT_LENGTH = 1024
N_MELS = 40
LOWER_HZ = 20.0
UPPER_HZ = 8000.0
LOG_OFFSET = 1e-6


def n_mfcc_frames(n_samples: int) -> int:
    """MFCC frames of a segment of ``n_samples`` samples (at least 1: short ones are padded).

    Example:
        >>> n_mfcc_frames(100), n_mfcc_frames(551), n_mfcc_frames(771)
        (1, 1, 2)
    """
    if n_samples <= FRAME_LENGTH:
        return 1
    return 1 + (n_samples - FRAME_LENGTH) // FRAME_STEP


_MEL = {}


def _mel_matrix():
    import tensorflow as tf

    if "w" not in _MEL:
        _MEL["w"] = tf.signal.linear_to_mel_weight_matrix(
            num_mel_bins=N_MELS,
            num_spectrogram_bins=FFT_LENGTH // 2 + 1,
            sample_rate=SAMPLE_RATE,
            lower_edge_hertz=LOWER_HZ,
            upper_edge_hertz=UPPER_HZ,
        )
    return _MEL["w"]


def _hann(length, dtype):
    import tensorflow as tf

    return tf.signal.hann_window(length, periodic=False, dtype=dtype)


def _mfcc_batch(x):
    """(batch, samples) float32 tensor, samples >= FRAME_LENGTH -> (batch, frames, 13)."""
    import tensorflow as tf

    spec = tf.abs(
        tf.signal.stft(x, FRAME_LENGTH, FRAME_STEP, FFT_LENGTH, window_fn=_hann, pad_end=False)
    )
    mel = tf.tensordot(spec, _mel_matrix(), 1)
    logmel = tf.math.log(mel + LOG_OFFSET)
    return tf.signal.mfccs_from_log_mel_spectrograms(logmel)[..., :N_MFCC]


def mfcc(audio, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """13 MFCCs of one signal (see the module docstring for the definition).

    Args:
        audio: 1-D float waveform at 22050 Hz.
        sample_rate: must be 22050 (resample first).

    Returns:
        ``(n_mfcc_frames(len(audio)), 13)`` float32.

    Raises:
        DataError: not 1-D or another sample rate.

    Example:
        >>> mfcc(np.zeros(300, np.float32)).shape   # shorter than a frame: padded
        (1, 13)
    """
    import tensorflow as tf

    x = _check_audio(audio, sample_rate)
    if x.shape[0] < FRAME_LENGTH:
        x = np.pad(x, (0, FRAME_LENGTH - x.shape[0]))
    return _mfcc_batch(tf.constant(x[None, :]))[0].numpy()


def _check_audio(audio, sample_rate) -> np.ndarray:
    if sample_rate != SAMPLE_RATE:
        raise DataError(
            f"sample rate {sample_rate} Hz: expected {SAMPLE_RATE} Hz (resample on load)"
        )
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 1:
        raise DataError(f"audio of shape {x.shape}: expected a 1-D mono waveform")
    return x


def segment_bounds(
    timings, n_samples: int, sample_rate: int = SAMPLE_RATE, path=None, tolerance_s: float = 0.05
) -> list[tuple[int, int]]:
    """Sample ranges ``[a, b)`` of word timings, checked against the audio length.

    Args:
        timings: ``WordTiming`` items (or ``(start, end, ...)`` tuples) in seconds.
        n_samples: length of the audio.
        sample_rate: its rate.
        path: the words file, named in errors.
        tolerance_s: an end up to this much past the audio is clipped (rounding in
            timing files); further out is an error.

    Returns:
        One ``(a, b)`` per timing, ``0 <= a <= b <= n_samples``.

    Raises:
        DataError: negative times, ``end < start``, or a word outside the audio, naming
            the file and the 1-based word (line) number.

    Example:
        >>> segment_bounds([(0.0, 0.5, "a")], 22050)
        [(0, 11025)]
    """
    duration = n_samples / sample_rate
    out = []
    for i, t in enumerate(timings, 1):
        start, end = float(t[0]), float(t[1])
        word = t[2] if len(t) > 2 else ""
        if not (np.isfinite(start) and np.isfinite(end)) or start < 0 or end < start:
            raise DataError(
                f"word {word!r}: bad timing [{start}, {end}]: expected 0 <= start <= end seconds",
                path,
                i,
            )
        if start >= duration or end > duration + tolerance_s:
            raise DataError(
                f"word {word!r} at [{start:.3f}, {end:.3f}] s lies outside the audio "
                f"(duration {duration:.3f} s): expected timings within the recording",
                path,
                i,
            )
        a = int(round(start * sample_rate))
        b = min(int(round(end * sample_rate)), n_samples)
        out.append((a, max(a, b)))
    return out


def segment_mfccs(
    audio, timings, sample_rate: int = SAMPLE_RATE, path=None, batch_samples: int = 4_000_000
) -> list[np.ndarray]:
    """MFCCs of each word segment of a recording, computed segment by segment.

    Equal to ``mfcc(audio[a:b])`` for each segment (short segments padded to one frame),
    batched: segments are grouped by length and zero-padded within a batch, and only each
    segment's own frames are kept.

    Args:
        audio: 1-D waveform at 22050 Hz.
        timings: ``WordTiming`` items in seconds.
        sample_rate: must be 22050.
        path: the words file, named in errors.
        batch_samples: padded samples per TensorFlow call (memory bound).

    Returns:
        One ``(frames_i, 13)`` float32 array per timing.

    Raises:
        DataError: timings outside the audio (see :func:`segment_bounds`).

    Example:
        >>> out = segment_mfccs(np.zeros(22050, np.float32), [(0.0, 0.5, "a"), (0.5, 0.51, "b")])
        >>> [m.shape for m in out]
        [(48, 13), (1, 13)]
    """
    import tensorflow as tf

    x = _check_audio(audio, sample_rate)
    bounds = segment_bounds(timings, x.shape[0], sample_rate, path)
    out: list = [None] * len(bounds)
    lengths = np.array([max(b - a, FRAME_LENGTH) for a, b in bounds], dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    i = 0
    while i < len(order):
        longest = lengths[order[i]]
        j = i
        while j < len(order) and lengths[order[j]] * (j - i + 1) <= max(
            batch_samples, lengths[order[j]]
        ):
            longest = lengths[order[j]]
            j += 1
        idx = order[i:j]
        batch = np.zeros((len(idx), longest), dtype=np.float32)
        for r, k in enumerate(idx):
            a, b = bounds[k]
            batch[r, : b - a] = x[a:b]
        feats = _mfcc_batch(tf.constant(batch)).numpy()
        for r, k in enumerate(idx):
            out[k] = feats[r, : n_mfcc_frames(bounds[k][1] - bounds[k][0])]
        i = j
    return out
