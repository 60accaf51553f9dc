"""Audio decoding, resampling and writing (semser_tf.data.audio).

References are independent: scipy.io.wavfile for decoding, scipy.signal.resample_poly for
resampling, the `wave` module and NumPy for writing. Test audio is at most 2 s long.
"""

import os
import struct
import wave
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile as wavfile
import scipy.signal as ss

from semser_tf.data import audio as A
from semser_tf.errors import ConfigError, DataError

TFIO_OK = A._probe_tfio()[0]
needs_tfio = pytest.mark.skipif(not TFIO_OK, reason="tensorflow-io ops do not load here")
BACKENDS = ["tf"] + (["tfio"] if TFIO_OK else [])


def _signal(n, seed=0, channels=1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.9, 0.9, (n, channels))
    return x[:, 0] if channels == 1 else x


def _snr_db(reference, estimate):
    reference = np.asarray(reference, np.float64)
    err = np.asarray(estimate, np.float64) - reference
    return 10 * np.log10(np.sum(reference**2) / max(np.sum(err**2), 1e-300))


def _write_pcm24(path, x, rate):
    """24-bit PCM WAV written byte by byte (scipy cannot write 24-bit)."""
    v = np.clip(np.round(np.asarray(x) * (1 << 23)), -(1 << 23), (1 << 23) - 1).astype(np.int64)
    v = np.where(v < 0, v + (1 << 24), v).astype(np.uint32)
    raw = (
        np.stack([v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF], axis=-1).astype(np.uint8).tobytes()
    )
    ch = 1 if np.ndim(x) == 1 else np.shape(x)[1]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(ch)
        w.setsampwidth(3)
        w.setframerate(rate)
        w.writeframes(raw)
    return v


# --------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("channels", [1, 2])
def test_both_backends_decode_16bit_identically(tmp_path, channels):
    pcm = np.round(_signal(22050, 1, channels) * 32767).astype(np.int16)
    path = tmp_path / "x.wav"
    wavfile.write(path, 22050, pcm)
    rate, ref = wavfile.read(path)
    ref = ref.astype(np.float64) / 32768.0
    expected = ref if ref.ndim == 1 else ref.mean(axis=1)
    outs = {b: A.load_audio(path, backend=b) for b in BACKENDS}
    for b, out in outs.items():
        assert out.dtype == np.float32 and out.ndim == 1 and len(out) == 22050, b
        np.testing.assert_allclose(out, expected, atol=1e-7, err_msg=b)
    if len(outs) == 2:
        np.testing.assert_array_equal(outs["tf"], outs["tfio"])


@pytest.mark.parametrize("kind", ["u8", "i32", "f32", "f64", "i24"])
def test_other_wav_encodings(tmp_path, kind):
    x = _signal(8000, 2, 2) * 0.8
    path = tmp_path / f"{kind}.wav"
    if kind == "u8":
        data = np.round(x * 127 + 128).astype(np.uint8)
        ref = (data.astype(np.float64) - 128) / 128
    elif kind == "i32":
        data = np.round(x * 2**31).astype(np.int32)
        ref = data / 2.0**31
    elif kind == "i24":
        v = np.clip(np.round(x * 2**23), -(2**23), 2**23 - 1)
        _write_pcm24(path, x, 8000)
        ref = v / 2.0**23
        data = None
    else:
        data = x.astype(np.float32 if kind == "f32" else np.float64)
        ref = data.astype(np.float64)
    if data is not None:
        wavfile.write(path, 8000, data)
    for backend in BACKENDS:
        out = A.load_audio(path, sample_rate=None, backend=backend)
        np.testing.assert_allclose(out, ref.mean(axis=1), atol=2e-7, err_msg=backend)


def test_extra_chunks_and_extensible_header(tmp_path):
    """A LIST chunk before the data and WAVE_FORMAT_EXTENSIBLE do not disturb decoding."""
    pcm = np.round(_signal(1000, 3) * 30000).astype("<i2")
    fmt = struct.pack("<HHIIHH", 0xFFFE, 1, 16000, 32000, 2, 16) + struct.pack("<HHI", 22, 16, 4)
    fmt += struct.pack("<H", 1) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"LIST" + struct.pack("<I", 5) + b"abcde" + b"\x00"  # odd size: padded
    body += b"data" + struct.pack("<I", pcm.nbytes) + pcm.tobytes()
    path = tmp_path / "ext.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    for backend in BACKENDS:
        out = A.load_audio(path, sample_rate=None, backend=backend)
        np.testing.assert_allclose(out, pcm / 32768.0, atol=1e-7, err_msg=backend)


@needs_tfio
def test_tfio_reads_flac(tmp_path):
    import tensorflow_io as tfio

    pcm = np.round(_signal(16000, 4, 2) * 20000).astype(np.int16)
    flac = tfio.audio.encode_flac(pcm, rate=16000).numpy()
    path = tmp_path / "x.flac"
    path.write_bytes(flac)
    out = A.load_audio(path, sample_rate=None, backend="tfio")
    np.testing.assert_allclose(out, pcm.astype(np.float64).mean(axis=1) / 32768.0, atol=1e-7)
    with pytest.raises(DataError, match="tensorflow-io") as info:
        A.load_audio(path, backend="tf")
    assert str(path) in str(info.value)


@needs_tfio
def test_tfio_reads_ogg_vorbis(tmp_path):
    """Lossy: the decoded tone agrees with the encoded one to > 30 dB (measured 41 dB)."""
    import tensorflow_io as tfio

    t = np.arange(44100) / 44100
    x = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1200 * t)).astype(np.float32)
    path = tmp_path / "x.ogg"
    path.write_bytes(tfio.audio.encode_vorbis(x[:, None], rate=44100).numpy())
    assert A.sniff_format(path) == "ogg"
    out = A.load_audio(path, sample_rate=None, backend="tfio")
    n = min(len(out), len(x))
    assert abs(len(out) - len(x)) <= 64 and _snr_db(x[:n], out[:n]) > 30.0
    assert len(A.load_audio(path, backend="tfio")) == pytest.approx(22050, abs=64)
    with pytest.raises(DataError, match="OGG needs tensorflow-io"):
        A.load_audio(path, backend="tf")


# --------------------------------------------------------------------------- resampling


@pytest.mark.parametrize("orig", [16000, 44100, 48000])
def test_resample_matches_resample_poly(orig):
    """Whole signal, edges included (both sides pad with zeros): SNR >= 60 dB."""
    x = _signal(orig * 3 // 2, orig).astype(np.float32) * 0.5  # 1.5 s of white noise
    g = np.gcd(orig, 22050)
    ref = ss.resample_poly(x.astype(np.float64), 22050 // g, orig // g)
    out = A.resample(x, orig, 22050)
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert _snr_db(ref, out) >= 60.0


@pytest.mark.parametrize("orig", [16000, 44100, 48000])
def test_load_audio_resamples_on_both_backends(tmp_path, orig):
    pcm = np.round(_signal(orig, orig + 1) * 20000).astype(np.int16)  # 1 s
    path = tmp_path / f"r{orig}.wav"
    wavfile.write(path, orig, pcm)
    g = np.gcd(orig, 22050)
    ref = ss.resample_poly(pcm / 32768.0, 22050 // g, orig // g)
    outs = {b: A.load_audio(path, backend=b) for b in BACKENDS}
    for b, out in outs.items():
        assert len(out) == 22050
        assert _snr_db(ref, out) >= 60.0, b
    if len(outs) == 2:
        np.testing.assert_array_equal(outs["tf"], outs["tfio"])


def test_resample_tensor_runs_in_graph():
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def f(x):
        return A.resample_tensor(x, 48000, 22050)

    for n in (4800, 9601):
        x = _signal(n, n).astype(np.float32)
        ref = ss.resample_poly(x.astype(np.float64), 147, 320)
        out = f(x).numpy()
        assert out.shape == ref.shape
        assert _snr_db(ref, out) >= 60.0


def test_resample_identity_and_bad_rates():
    x = _signal(100).astype(np.float32)
    np.testing.assert_array_equal(A.resample(x, 22050, 22050), x)
    with pytest.raises(ConfigError, match="positive integers"):
        A.resample(x, 0, 22050)
    with pytest.raises(ConfigError, match="1-D"):
        A.resample(np.zeros((3, 2)), 16000, 22050)


@needs_tfio
def test_tfio_resample_is_delayed():
    """tfio.audio.resample shifts its output (documented reason the TF resampler is used).

    Measured on a 1.5 s band-limited signal: the best integer lag against resample_poly
    is tens of output samples, and the agreement at lag 0 is far below 60 dB.
    """
    rate = 16000
    t = np.arange(rate * 3 // 2) / rate
    x = (
        sum(0.1 * np.sin(2 * np.pi * f * t + f) for f in (150, 440, 1000, 2500))
        * np.hanning(len(t))
    ).astype(np.float32)
    ref = ss.resample_poly(x.astype(np.float64), 441, 320)
    out = A.resample(x, rate, 22050, backend="tfio")
    n = min(len(out), len(ref))
    corr = ss.correlate(out[:n], ref[:n], mode="full")
    lag = int(np.argmax(corr)) - (n - 1)
    assert 20 <= lag <= 80
    assert _snr_db(ref[:n], out[:n]) < 30.0


# --------------------------------------------------------------------------- backend choice


def test_forced_backend_argument_and_environment(monkeypatch):
    assert A.audio_backend("tf") == "tf"
    monkeypatch.setenv(A.BACKEND_ENV, "tf")
    assert A.audio_backend() == "tf"
    monkeypatch.setenv(A.BACKEND_ENV, "auto")
    assert A.audio_backend() == ("tfio" if TFIO_OK else "tf")
    monkeypatch.setenv(A.BACKEND_ENV, "ffmpeg")
    with pytest.raises(ConfigError, match=A.BACKEND_ENV):
        A.audio_backend()
    with pytest.raises(ConfigError, match="unknown audio backend"):
        A.audio_backend("sox")


def test_environment_forces_decoding_path(tmp_path, monkeypatch):
    """With SEMSER_AUDIO_BACKEND=tf a FLAC file is refused even where tfio works."""
    path = tmp_path / "x.flac"
    path.write_bytes(b"fLaC" + bytes(60))
    monkeypatch.setenv(A.BACKEND_ENV, "tf")
    with pytest.raises(DataError, match="needs tensorflow-io") as info:
        A.load_audio(path)
    assert str(path) in str(info.value)


def test_failed_probe_falls_back_and_refuses_forced_tfio(monkeypatch, tmp_path):
    monkeypatch.setattr(
        A, "_probe_result", (False, "NotFoundError: undefined symbol: _ZN10tensorflow")
    )
    monkeypatch.delenv(A.BACKEND_ENV, raising=False)
    assert A.audio_backend() == "tf"
    with pytest.raises(ConfigError, match="undefined symbol"):
        A.audio_backend("tfio")
    pcm = np.round(_signal(500) * 1000).astype(np.int16)
    wavfile.write(tmp_path / "x.wav", 22050, pcm)
    np.testing.assert_allclose(A.load_audio(tmp_path / "x.wav"), pcm / 32768.0, atol=1e-7)


# --------------------------------------------------------------------------- bad input


def _bad_files(tmp_path):
    good = tmp_path / "good.wav"
    wavfile.write(good, 22050, np.zeros(1000, np.int16) + 5)
    raw = good.read_bytes()
    files = {
        "missing": (tmp_path / "nope.wav", "not found"),
        "empty": (tmp_path / "empty.wav", "empty"),
        "truncated": (tmp_path / "trunc.wav", "truncated"),
        "unsupported": (tmp_path / "text.wav", "unsupported audio format"),
        "zero-length": (tmp_path / "zero.wav", "zero-length"),
        "no-data-chunk": (tmp_path / "nodata.wav", "no data chunk"),
        "bad-encoding": (tmp_path / "alaw.wav", "unsupported WAV encoding"),
    }
    files["empty"][0].write_bytes(b"")
    files["truncated"][0].write_bytes(raw[: len(raw) - 500])
    files["unsupported"][0].write_text("name;time\n1;2\n")
    zero = bytearray(raw[:44])
    zero[40:44] = struct.pack("<I", 0)
    files["zero-length"][0].write_bytes(bytes(zero))
    files["no-data-chunk"][0].write_bytes(raw[:36])
    alaw = bytearray(raw)
    alaw[20:22] = struct.pack("<H", 6)  # WAVE_FORMAT_ALAW
    files["bad-encoding"][0].write_bytes(bytes(alaw))
    return files


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "empty",
        "truncated",
        "unsupported",
        "zero-length",
        "no-data-chunk",
        "bad-encoding",
    ],
)
def test_bad_input_names_the_file(tmp_path, backend, case):
    path, message = _bad_files(tmp_path)[case]
    with pytest.raises(DataError, match=message) as info:
        A.load_audio(path, backend=backend)
    assert str(path) in str(info.value)


# --------------------------------------------------------------------------- writing


def test_save_wav_round_trip_and_atomic(tmp_path):
    x = np.concatenate([_signal(2000, 9) * 0.5, [1.5, -1.5]])  # two samples clipped
    path = tmp_path / "out.wav"
    path.write_bytes(b"old content")
    A.save_wav(path, x, 16000)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (
            1,
            2,
            16000,
            2002,
        )
        pcm = np.frombuffer(w.readframes(2002), "<i2")
    expected = np.clip(np.round(np.clip(x, -1, 1) * 32767), -32768, 32767)
    np.testing.assert_array_equal(pcm, expected)
    assert sorted(os.listdir(tmp_path)) == ["out.wav"]  # no temporary left


def test_save_wav_refuses_nan_and_leaves_nothing(tmp_path):
    path = tmp_path / "nan.wav"
    with pytest.raises(DataError, match="NaN") as info:
        A.save_wav(path, np.array([0.0, np.nan]), 22050)
    assert str(path) in str(info.value)
    assert list(Path(tmp_path).iterdir()) == []
