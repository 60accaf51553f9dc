"""MFCCs against an independent NumPy implementation of the documented definition."""

from __future__ import annotations

import numpy as np
import pytest

from semser_tf.errors import DataError
from semser_tf.semantic import mfcc as M
from semser_tf.types import WordTiming

SR = 22050


def _ref_mfcc(x):
    """25 ms / 10 ms frames, symmetric Hann, |FFT 1024|, 40 HTK mel triangles 20-8000 Hz
    (mel-domain triangles, DC excluded), log(. + 1e-6), DCT-II * 1/sqrt(80), 13 coefs."""
    flen, hop, nfft, nmel = 551, 220, 1024, 40
    x = np.asarray(x, np.float64)
    if len(x) < flen:
        x = np.concatenate([x, np.zeros(flen - len(x))])
    n_frames = 1 + (len(x) - flen) // hop
    n = np.arange(flen)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / (flen - 1))
    frames = np.stack([x[i * hop : i * hop + flen] * window for i in range(n_frames)])
    spec = np.abs(np.fft.rfft(frames, n=nfft, axis=1))  # (frames, 513)

    def hz2mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)

    freqs = np.linspace(0, SR / 2, nfft // 2 + 1)
    mel_bins = hz2mel(freqs)
    edges = np.linspace(hz2mel(20.0), hz2mel(8000.0), nmel + 2)
    weights = np.zeros((nfft // 2 + 1, nmel))
    for m in range(nmel):
        lo, c, hi = edges[m], edges[m + 1], edges[m + 2]
        for b in range(1, nfft // 2 + 1):  # the DC bin gets no weight
            up = (mel_bins[b] - lo) / (c - lo)
            down = (hi - mel_bins[b]) / (hi - c)
            weights[b, m] = max(0.0, min(up, down))
    logmel = np.log(spec @ weights + 1e-6)
    k = np.arange(nmel)[:, None]
    j = np.arange(nmel)[None, :]
    dct = 2.0 * np.cos(np.pi * k * (2 * j + 1) / (2 * nmel))  # DCT-II, unnormalised
    return (logmel @ dct.T / np.sqrt(2 * nmel))[:, :13]


def _signal(n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    return (
        0.3 * np.sin(2 * np.pi * 220 * t)
        + 0.2 * np.sin(2 * np.pi * 1375 * t)
        + 0.05 * rng.standard_normal(n)
    ).astype(np.float32)


def test_constants():
    assert (M.FRAME_LENGTH, M.FRAME_STEP, M.N_MFCC) == (551, 220, 13)


@pytest.mark.parametrize("n", [551, 771, 5000, 22050])
def test_mfcc_matches_numpy_reference(n):
    x = _signal(n)
    got = M.mfcc(x)
    ref = _ref_mfcc(x)
    assert got.shape == ref.shape == (1 + (n - 551) // 220, 13)
    np.testing.assert_allclose(got, ref, atol=2e-3, rtol=1e-3)


def test_short_segment_is_padded_to_one_frame():
    x = _signal(300)
    got = M.mfcc(x)
    assert got.shape == (1, 13)
    padded = np.concatenate([x, np.zeros(251, np.float32)])
    np.testing.assert_allclose(got, _ref_mfcc(padded), atol=2e-3, rtol=1e-3)
    out = M.segment_mfccs(_signal(SR), [WordTiming(0.1, 0.105, "a"), WordTiming(0.2, 0.2, "")])
    assert [o.shape for o in out] == [(1, 13), (1, 13)]


def test_segment_mfccs_equal_per_segment_reference():
    x = _signal(2 * SR, seed=1)
    timings = [WordTiming(0.0, 0.31, "a"), WordTiming(0.5, 0.52, "b"), WordTiming(1.0, 1.9, "c")]
    out = M.segment_mfccs(x, timings, batch_samples=30000)  # forces several batches
    for (s, e, _), got in zip(timings, out):
        seg = x[int(round(s * SR)) : int(round(e * SR))]
        np.testing.assert_allclose(got, _ref_mfcc(seg), atol=2e-3, rtol=1e-3)


def test_timings_outside_the_audio_rejected():
    x = np.zeros(SR, np.float32)  # 1 s
    with pytest.raises(
        DataError, match=r"words/a.csv:2: word 'late' at \[1.500, 1.800\] s lies outside"
    ):
        M.segment_mfccs(
            x, [WordTiming(0.1, 0.2, "ok"), WordTiming(1.5, 1.8, "late")], path="words/a.csv"
        )
    with pytest.raises(DataError, match="outside the audio"):
        M.segment_bounds([WordTiming(0.5, 1.3, "long")], SR)
    with pytest.raises(DataError, match="expected 0 <= start <= end"):
        M.segment_bounds([WordTiming(0.5, 0.4, "rev")], SR)
    # a few ms past the end (rounding in timing files) is clipped
    assert M.segment_bounds([WordTiming(0.9, 1.01, "x")], SR) == [(19845, SR)]


def test_bad_audio_rejected():
    with pytest.raises(DataError, match="expected 22050 Hz"):
        M.mfcc(np.zeros(1000), sample_rate=16000)
    with pytest.raises(DataError, match="1-D"):
        M.mfcc(np.zeros((2, 1000)))
