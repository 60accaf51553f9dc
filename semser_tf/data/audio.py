"""Audio input/output: decode WAV/FLAC/MP3/OGG to mono float32 at 22050 Hz, write WAV.

Two decoding paths sit behind :func:`load_audio`:

* ``"tfio"``: tensorflow-io's ``AudioIOTensor`` decodes WAV, FLAC, MP3 and OGG/Vorbis.
* ``"tf"``: core TensorFlow only. WAV only: ``tf.audio.decode_wav`` for 16-bit PCM, a
  RIFF parser in NumPy for 8/24/32-bit integer PCM and 32/64-bit float.

tensorflow-io is no longer maintained; its compiled ops fail to load against TensorFlow
2.18 and later (undefined symbols), so importing it is not enough to know that it works.
The backend is chosen once per process by calling one tensorflow-io op; the result is
cached. ``backend="tfio"|"tf"`` or the environment variable ``SEMSER_AUDIO_BACKEND``
forces one.

Resampling is the same on both paths: a polyphase windowed-sinc (Kaiser) filter with
rational factors ``up/down`` (reduced by their gcd), computed with TensorFlow ops so it
also runs inside a graph (:func:`resample_tensor`). Its filter design is that of
``scipy.signal.resample_poly`` (Kaiser beta 5, ten zero crossings of the slower rate on
each side), so the two agree to float32 precision. ``tfio.audio.resample`` is available
through ``resample(..., backend="tfio")`` only: it delays its output by 32 to 72 input
samples and agrees less closely with a reference (see ``docs/audio.md``). Using one
resampler keeps ``load_audio`` bit-identical across backends for WAV input.
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
import threading
import wave
from pathlib import Path

import numpy as np

from semser_tf.constants import SAMPLE_RATE
from semser_tf.data.wav import (
    _WAVE_FORMAT_IEEE_FLOAT,
    _WAVE_FORMAT_PCM,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    _check_rate,
    _read_wav_numpy,
    sniff_format,
    wav_info,
)
from semser_tf.errors import ConfigError, DataError

__all__ = [
    "BACKENDS",
    "BACKEND_ENV",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "audio_backend",
    "decode_audio",
    "load_audio",
    "resample",
    "resample_numpy",
    "resample_tensor",
    "save_wav",
    "sniff_format",
    "wav_info",
]

BACKENDS = ("tfio", "tf")
"""The decoding backends, in order of preference."""

BACKEND_ENV = "SEMSER_AUDIO_BACKEND"
"""Environment variable forcing a backend (``tfio``, ``tf``; ``auto`` or empty: probe)."""

_probe_lock = threading.Lock()
_probe_result: tuple[bool, str] | None = None


# ---------------------------------------------------------------------------
# Backend selection
# ---------------------------------------------------------------------------


def _probe_tfio() -> tuple[bool, str]:
    """Call one tensorflow-io op (once per process) and report whether it ran."""
    global _probe_result
    with _probe_lock:
        if _probe_result is None:
            try:
                import tensorflow as tf
                import tensorflow_io as tfio

                out = tfio.audio.resample(
                    tf.zeros([16, 1], tf.float32), rate_in=16000, rate_out=8000
                )
                _ = out.numpy()
                _probe_result = (
                    True,
                    f"tensorflow-io {getattr(tfio, '__version__', '?')} ops load",
                )
            except Exception as err:  # ImportError, NotFoundError (undefined symbol), ...
                _probe_result = (
                    False,
                    f"{type(err).__name__}: {str(err).strip().splitlines()[0][:300]}",
                )
        return _probe_result


def audio_backend(backend: str | None = None) -> str:
    """The decoding backend in use: ``"tfio"`` or ``"tf"``.

    Args:
        backend: ``"tfio"``, ``"tf"``, ``"auto"`` or ``None``. ``None`` reads the
            environment variable ``SEMSER_AUDIO_BACKEND`` (unset, empty or ``auto``:
            probe). Probing calls one tensorflow-io op once per process and caches
            the answer.

    Returns:
        The backend name.

    Raises:
        ConfigError: an unknown name, or ``"tfio"`` forced while its ops do not load.

    Example:
        >>> audio_backend("tf")
        'tf'
    """
    source = "backend argument"
    if backend is None:
        backend = os.environ.get(BACKEND_ENV, "")
        source = f"environment variable {BACKEND_ENV}"
    name = backend.strip().lower()
    if name in ("", "auto"):
        ok, _ = _probe_tfio()
        return "tfio" if ok else "tf"
    if name not in BACKENDS:
        raise ConfigError(
            f"{source}: unknown audio backend {backend!r}; expected one of tfio, tf, auto"
        )
    if name == "tfio":
        ok, why = _probe_tfio()
        if not ok:
            raise ConfigError(
                f"{source}: audio backend 'tfio' requested but tensorflow-io ops do not load ({why}); "
                "use 'tf' (WAV only) or install a tensorflow-io built for this TensorFlow"
            )
    return name


# ---------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------


def _decode_tf(path: Path, fmt: str) -> tuple[np.ndarray, int]:
    if fmt != "wav":
        ok, why = _probe_tfio()
        hint = "its ops do not load here: " + why if not ok else "the 'tf' backend was forced"
        raise DataError(
            f"{fmt.upper()} needs tensorflow-io ({hint}); the core-TensorFlow backend reads WAV only. "
            "Convert the file to WAV or use a working tensorflow-io",
            path,
        )
    info = wav_info(path)
    if info["frames"] == 0:
        raise DataError("zero-length audio (the WAV data chunk holds no samples)", path)
    if info["format"] == _WAVE_FORMAT_PCM and info["bits"] == 16 and not info["extensible"]:
        import tensorflow as tf

        try:
            audio, rate = tf.audio.decode_wav(tf.io.read_file(str(path)))
            return audio.numpy(), int(rate.numpy())
        except Exception:  # unusual chunk layouts: the NumPy parser reads the same samples
            pass
    return _read_wav_numpy(path, info), info["sample_rate"]


def _decode_tfio(path: Path, fmt: str) -> tuple[np.ndarray, int]:
    if fmt == "wav":
        info = wav_info(path)
        if info["frames"] == 0:
            raise DataError("zero-length audio (the WAV data chunk holds no samples)", path)
        # tensorflow-io 0.37 returns 8-bit PCM unscaled, reads 32-bit integer PCM as float32
        # bit patterns and returns no samples for WAVE_FORMAT_EXTENSIBLE headers; only plain
        # 16-bit PCM and 32-bit float are decoded by it.
        if info["extensible"] or not (
            (info["format"] == _WAVE_FORMAT_PCM and info["bits"] == 16)
            or (info["format"] == _WAVE_FORMAT_IEEE_FLOAT and info["bits"] == 32)
        ):
            return _read_wav_numpy(path, info), info["sample_rate"]
    import tensorflow as tf
    import tensorflow_io as tfio

    try:
        tensor = tfio.audio.AudioIOTensor(str(path))
        rate = int(tensor.rate.numpy())
        data = tensor.to_tensor()
        dtype = data.dtype
        data = data.numpy()
    except Exception as err:
        raise DataError(
            f"cannot decode {fmt.upper()} with tensorflow-io: {type(err).__name__}: "
            f"{str(err).strip().splitlines()[0][:200] if str(err).strip() else ''}",
            path,
        ) from err
    if dtype == tf.int16:
        data = data.astype(np.float32) / 32768.0
    elif dtype == tf.int32:
        data = (data.astype(np.float64) / float(1 << 31)).astype(np.float32)
    elif dtype == tf.uint8:
        data = (data.astype(np.float32) - 128.0) / 128.0
    else:
        data = data.astype(np.float32)
    if data.ndim == 1:
        data = data[:, None]
    return data, rate


def decode_audio(path, backend: str | None = None) -> tuple[np.ndarray, int]:
    """Decode an audio file to mono float32 at its own sample rate.

    Args:
        path: WAV (both backends), FLAC, MP3 or OGG/Vorbis (``tfio`` backend).
        backend: ``"tfio"``, ``"tf"`` or ``None`` (see :func:`audio_backend`).

    Returns:
        ``(samples, sample_rate)``: a 1-D float32 array (channels averaged, integer PCM
        scaled to [-1, 1]) and the file's rate in Hz.

    Raises:
        DataError: naming the file: missing, empty, truncated, unsupported or zero-length.

    Example:
        >>> x, sr = decode_audio("audio/Train_01.wav", backend="tf")  # doctest: +SKIP
    """
    path = Path(path)
    fmt = sniff_format(path)
    if fmt == "ogg":
        from semser_tf.data.ogg import TruncatedAudioWarning, ogg_truncation

        why = ogg_truncation(path)
        if why is not None:
            import warnings

            warnings.warn(
                f"{path}: truncated OGG ({why}); only the audio before the cut is decoded",
                TruncatedAudioWarning,
                stacklevel=2,
            )
    name = audio_backend(backend)
    data, rate = _decode_tfio(path, fmt) if name == "tfio" else _decode_tf(path, fmt)
    if data.size == 0 or data.shape[0] == 0:
        raise DataError("zero-length audio (no samples decoded)", path)
    _check_rate(rate, path, "decoder reported")
    mono = data[:, 0] if data.shape[1] == 1 else np.mean(data, axis=1, dtype=np.float32)
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if not np.all(np.isfinite(mono)):
        raise DataError("audio holds NaN or infinite samples", path)
    return mono, rate


def load_audio(
    path, sample_rate: int | None = SAMPLE_RATE, backend: str | None = None
) -> np.ndarray:
    """Load an audio file as mono float32 at ``sample_rate``.

    Args:
        path: WAV (any backend), FLAC, MP3 or OGG/Vorbis (needs the ``tfio`` backend).
        sample_rate: target rate in Hz (default 22050); ``None`` keeps the file's rate.
        backend: ``"tfio"``, ``"tf"`` or ``None`` (automatic, see :func:`audio_backend`).

    Returns:
        1-D float32 array in [-1, 1] (for integer PCM), stereo mixed down by averaging,
        resampled with :func:`resample_tensor` when the file's rate differs.

    Raises:
        DataError: naming the file when it is missing, empty, truncated, of an unsupported
            format or encoding, or holds no samples.

    Example:
        >>> x = load_audio("audio/Train_01.wav")  # doctest: +SKIP
        >>> x.dtype, x.ndim  # doctest: +SKIP
        (dtype('float32'), 1)
    """
    audio, rate = decode_audio(path, backend=backend)
    if sample_rate is None or int(sample_rate) == rate:
        return audio
    try:
        return resample(audio, rate, int(sample_rate), backend="tf")
    except ConfigError as err:
        raise DataError(str(err), path) from err


# ---------------------------------------------------------------------------
# Resampling
# ---------------------------------------------------------------------------

_MAX_FILTER_COEFFS = 8_000_000


def _factors(orig_sr: int, target_sr: int) -> tuple[int, int]:
    if int(orig_sr) != orig_sr or int(target_sr) != target_sr or orig_sr <= 0 or target_sr <= 0:
        raise ConfigError(f"sample rates must be positive integers, got {orig_sr} -> {target_sr}")
    g = math.gcd(int(orig_sr), int(target_sr))
    return int(target_sr) // g, int(orig_sr) // g


@functools.lru_cache(maxsize=32)
def _polyphase_kernel(up: int, down: int, half_zeros: int, beta: float):
    """Kernel of the strided convolution that computes ``up`` outputs per ``down`` inputs.

    The prototype filter is ``scipy.signal.firwin(2 * half_len + 1, 1 / max(up, down),
    window=("kaiser", beta)) * up`` with ``half_len = half_zeros * max(up, down)``, built
    here with TensorFlow ops (float64). Output ``n`` of the resampler is
    ``y[n] = sum_k x[k] h[n * down - k * up + half_len]``; writing ``n = b * up + r``
    this is a stride-``down`` correlation of ``x`` with ``up`` kernels (one per phase
    ``r``), each holding the taps ``h[p_r + j * up]`` at offsets ``c_r - j``.
    """
    import tensorflow as tf

    max_rate = max(up, down)
    half_len = half_zeros * max_rate
    length = 2 * half_len + 1
    _check_kernel_size(up, down, half_len, length)  # before anything is allocated
    with tf.init_scope():  # a constant: computed eagerly even when called while tracing
        h = _prototype_filter(up, down, half_zeros, beta)

    return _polyphase_layout(h, up, down, half_len, length)


def _prototype_filter(up: int, down: int, half_zeros: int, beta: float) -> np.ndarray:
    import tensorflow as tf

    max_rate = max(up, down)
    half_len = half_zeros * max_rate
    length = 2 * half_len + 1
    n = tf.range(length, dtype=tf.float64)
    m = n - half_len
    cutoff = 1.0 / max_rate
    arg = cutoff * m
    pi = tf.constant(math.pi, tf.float64)
    sinc = tf.where(
        tf.equal(arg, 0.0),
        tf.ones_like(arg),
        tf.sin(pi * arg) / (pi * tf.where(tf.equal(arg, 0.0), tf.ones_like(arg), arg)),
    )
    ratio = 2.0 * n / (length - 1) - 1.0 if length > 1 else tf.zeros_like(n)
    window = tf.math.special.bessel_i0(
        beta * tf.sqrt(tf.maximum(1.0 - ratio * ratio, 0.0))
    ) / tf.math.special.bessel_i0(tf.constant(beta, tf.float64))
    h = cutoff * sinc * window
    h = h / tf.reduce_sum(h) * up
    return h.numpy()


def _kernel_width(up: int, down: int, half_len: int, length: int) -> int:
    taps = (length - 1) // up + 1
    c_min, c_max = half_len // up, ((up - 1) * down + half_len) // up  # c_r is increasing in r
    return c_max - (c_min - (taps - 1)) + 1


def _check_kernel_size(up: int, down: int, half_len: int, length: int) -> None:
    width = _kernel_width(up, down, half_len, length)
    if width * up > _MAX_FILTER_COEFFS or length > 4 * _MAX_FILTER_COEFFS:
        raise ConfigError(
            f"resampling by {up}/{down} needs a {width}x{up} polyphase kernel; choose rates with a larger "
            "common divisor (e.g. 8000, 16000, 22050, 44100, 48000 Hz)"
        )


def _polyphase_layout(h: np.ndarray, up: int, down: int, half_len: int, length: int):
    taps = (length - 1) // up + 1  # J: taps per phase
    r = np.arange(up)
    t = r * down + half_len
    c = t // up
    p = t % up
    lo = int(c.min()) - (taps - 1)
    width = int(c.max()) - lo + 1
    if width * up > _MAX_FILTER_COEFFS:
        raise ConfigError(
            f"resampling by {up}/{down} needs a {width}x{up} polyphase kernel; choose rates with a larger "
            "common divisor (e.g. 8000, 16000, 22050, 44100, 48000 Hz)"
        )
    kernel = np.zeros((width, up), dtype=np.float64)
    for j in range(taps):
        idx = p + j * up
        valid = idx < length
        kernel[(c - j - lo)[valid], r[valid]] = h[idx[valid]]
    pad_left = -lo
    return kernel.astype(np.float32), pad_left, width


def resample_tensor(x, orig_sr: int, target_sr: int, half_zeros: int = 10, beta: float = 5.0):
    """Band-limited resampling of a 1-D float32 tensor with TensorFlow ops (graph-safe).

    Polyphase windowed-sinc: rates reduced to ``up/down`` by their gcd, a Kaiser
    windowed-sinc lowpass at the slower Nyquist rate, zero padding outside the signal,
    output length ``ceil(len(x) * up / down)``, no delay. Equals
    ``scipy.signal.resample_poly(x, up, down)`` up to float32 rounding with the defaults.

    Args:
        x: 1-D float32 tensor (length may be dynamic inside a ``tf.function``).
        orig_sr: its sample rate (Python int).
        target_sr: the wanted rate (Python int).
        half_zeros: zero crossings of the slower rate on each side of the filter.
        beta: Kaiser window parameter.

    Returns:
        1-D float32 tensor at ``target_sr``.

    Example:
        >>> import tensorflow as tf
        >>> resample_tensor(tf.zeros([16000]), 16000, 22050).shape
        TensorShape([22050])
    """
    import tensorflow as tf

    up, down = _factors(orig_sr, target_sr)
    x = tf.convert_to_tensor(x, tf.float32)
    if up == down:
        return tf.identity(x)
    kernel, pad_left, width = _polyphase_kernel(up, down, int(half_zeros), float(beta))
    n_in = tf.shape(x)[0]
    n_out = (n_in * up + down - 1) // down
    blocks = (n_out + up - 1) // up
    needed = (blocks - 1) * down + width
    pad_right = tf.maximum(needed - pad_left - n_in, 0)
    xp = tf.pad(x, [[pad_left, 0]])
    xp = tf.pad(xp, [[0, pad_right]])
    y = tf.nn.conv1d(
        xp[None, :, None], tf.constant(kernel)[:, None, :], stride=down, padding="VALID"
    )
    y = tf.reshape(y[0, :blocks, :], [-1])
    return y[:n_out]


def resample(x, orig_sr: int, target_sr: int, backend: str | None = None) -> np.ndarray:
    """Resample a 1-D signal (NumPy in, NumPy out, computed with TensorFlow ops).

    Args:
        x: 1-D array of samples.
        orig_sr: its rate in Hz.
        target_sr: the wanted rate in Hz.
        backend: ``None`` or ``"tf"``: the in-graph polyphase resampler
            (:func:`resample_tensor`, what :func:`load_audio` uses). ``"tfio"``:
            ``tfio.audio.resample`` as it is, including its delay of 32-72 input samples.

    Returns:
        1-D float32 array of length ``ceil(len(x) * target_sr / orig_sr)`` (``"tf"``).

    Raises:
        ConfigError: bad rates, an unknown backend, or ``"tfio"`` while its ops do not load.

    Example:
        >>> resample(np.zeros(16000, np.float32), 16000, 22050).shape
        (22050,)
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise ConfigError(f"resample expects a 1-D signal, got shape {x.shape}")
    _factors(orig_sr, target_sr)
    name = "tf" if backend is None else audio_backend(backend)
    if int(orig_sr) == int(target_sr):
        return x.copy()
    if x.size == 0:
        return x.copy()
    if name == "tfio":
        import tensorflow_io as tfio

        out = tfio.audio.resample(x[:, None], rate_in=int(orig_sr), rate_out=int(target_sr))
        return np.asarray(out.numpy()[:, 0], dtype=np.float32)
    return resample_tensor(x, int(orig_sr), int(target_sr)).numpy()


def resample_numpy(x, orig_sr: int, target_sr: int) -> np.ndarray:
    """:func:`resample` in NumPy alone: the same polyphase kernel (its prototype filter
    computed in NumPy instead of TensorFlow) applied as a strided correlation with a
    matrix product, so the two agree to float32 rounding (measured 22050 -> 16000 Hz: at
    most 2e-7 apart on eSpeak NG speech, 1e-6 on unit-variance noise). For processes that must stay light, such as
    the recogniser's workers (:mod:`semser_tf.semantic.words.parallel`), where importing
    TensorFlow (or SciPy's signal module, 0.3 s of CPU) would cost more than the work.

    Example:
        >>> resample_numpy(np.zeros(22050, np.float32), 22050, 16000).shape
        (16000,)
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise ConfigError(f"resample expects a 1-D signal, got shape {x.shape}")
    up, down = _factors(orig_sr, target_sr)
    if up == down or x.size == 0:
        return x.copy()
    kernel, pad_left, width = _polyphase_kernel_numpy(up, down)
    n_out = -(-len(x) * up // down)
    blocks = -(-n_out // up)
    needed = (blocks - 1) * down + width
    xp = np.zeros(max(needed, pad_left + len(x)), np.float32)
    xp[pad_left : pad_left + len(x)] = x
    # a contiguous copy: the matrix product of a strided view does not use BLAS
    frames = np.ascontiguousarray(
        np.lib.stride_tricks.sliding_window_view(xp, width)[::down][:blocks]
    )
    return np.ascontiguousarray((frames @ kernel).reshape(-1)[:n_out], dtype=np.float32)


@functools.lru_cache(maxsize=32)
def _polyphase_kernel_numpy(up: int, down: int, half_zeros: int = 10, beta: float = 5.0):
    """:func:`_polyphase_kernel` with the prototype filter of :func:`_prototype_filter`
    computed in NumPy (float64)."""
    max_rate = max(up, down)
    half_len = half_zeros * max_rate
    length = 2 * half_len + 1
    _check_kernel_size(up, down, half_len, length)
    n = np.arange(length, dtype=np.float64)
    ratio = 2.0 * n / (length - 1) - 1.0
    window = np.i0(beta * np.sqrt(np.maximum(1.0 - ratio * ratio, 0.0))) / np.i0(beta)
    h = (1.0 / max_rate) * np.sinc((n - half_len) / max_rate) * window
    h = h / h.sum() * up
    return _polyphase_layout(h, up, down, half_len, length)


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def save_wav(path, audio, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write 16-bit PCM WAV atomically (temporary file in the same folder, then rename).

    Args:
        path: destination; its folder must exist.
        audio: float samples in [-1, 1], shape (samples,) or (samples, channels);
            values outside are clipped.
        sample_rate: rate in Hz.

    Returns:
        The path written.

    Raises:
        DataError: non-finite samples or a bad shape.

    Example:
        >>> save_wav("/tmp/tone.wav", np.zeros(22050, np.float32))  # doctest: +SKIP
    """
    path = Path(path)
    data = np.asarray(audio, dtype=np.float64)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[1] < 1:
        raise DataError(
            f"audio to write must be (samples,) or (samples, channels), got {data.shape}", path
        )
    if not np.all(np.isfinite(data)):
        raise DataError("audio to write holds NaN or infinite samples", path)
    if int(sample_rate) <= 0:
        raise DataError(f"sample rate must be positive, got {sample_rate}", path)
    pcm = np.round(np.clip(data, -1.0, 1.0) * 32767.0).astype("<i2")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            with wave.open(fh, "wb") as w:
                w.setnchannels(pcm.shape[1])
                w.setsampwidth(2)
                w.setframerate(int(sample_rate))
                w.writeframes(pcm.tobytes())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
