"""The label model of the synthetic corpus: trajectories, prosody, valence, the raters.

Shared by both recipes (``docs/synthetic_corpus.md``): arousal from a smooth random
trajectory that sets the voice's prosody; valence from the ratings of the words spoken;
liking a mix; then the simulated raters (low-pass and delay).
"""

from __future__ import annotations

import math

import numpy as np

from semser_tf.constants import FRAME_RATE

__all__ = [
    "ANNOTATION_LAG_S",
    "LIKING_WEIGHTS",
    "polarity",
    "prosody_for_arousal",
    "rating_filter",
    "smooth_trajectory",
    "valence_track",
]

ANNOTATION_LAG_S = 2.0
"""Delay of the simulated ratings behind the speech (the AVEC 2018 baseline's 2.0 s)."""
SMOOTHING_TAU_S = 0.5
"""Time constant of the raters' first-order low-pass."""
VALENCE_RELAX_TAU_S = 2.0
"""Time constant with which valence returns to 0 outside sentiment-bearing speech."""
LIKING_WEIGHTS = (0.7, 0.3)
"""liking = 0.7 valence + 0.3 arousal (before the rating model, which is linear)."""
AROUSAL_SIGMA_S = 4.0
"""Time scale (Gaussian sigma) of the arousal trajectory."""
AROUSAL_SCALE = 0.6
MOOD_SIGMA_S = 8.0
"""Time scale of the conversation's mood, which biases word choice (valence)."""
MOOD_SCALE = 0.8
NOISE_DBFS = -60.0


def polarity(rng, mood: float) -> int:
    """+1, -1 or 0 (neutral) for one sentiment-capable slot, biased by the mood in [-1, 1]."""
    u = rng.random()
    p_pos = 0.35 * (1.0 + mood)
    p_neg = 0.35 * (1.0 - mood)
    if u < p_pos:
        return 1
    if u < p_pos + p_neg:
        return -1
    return 0


def prosody_for_arousal(a: float) -> dict:
    """eSpeak parameters for arousal ``a`` in [-1, 1].

    Example:
        >>> prosody_for_arousal(0.0)
        {'rate': 170, 'pitch': 50, 'pitch_range': 50, 'volume': 100}
    """
    a = float(np.clip(a, -1.0, 1.0))
    return {
        "rate": int(round(170 + 50 * a)),
        "pitch": int(round(50 + 25 * a)),
        "pitch_range": int(round(50 + 40 * a)),
        "volume": int(round(100 + 40 * a)),
    }


def smooth_trajectory(rng, n: int, sigma_frames: float, scale: float, offset: float) -> np.ndarray:
    """``tanh(offset + scale z(t))`` with ``z`` unit-variance Gaussian-smoothed white noise."""
    half = int(math.ceil(4 * sigma_frames))
    noise = rng.standard_normal(n + 2 * half)
    k = np.arange(-half, half + 1)
    kernel = np.exp(-0.5 * (k / sigma_frames) ** 2)
    kernel /= kernel.sum()
    # divided by the analytic standard deviation, so short recordings are not rescaled
    z = np.convolve(noise, kernel, mode="valid")[:n] / math.sqrt(float(np.sum(kernel**2)))
    return np.tanh(offset + scale * z)


def rating_filter(
    raw: np.ndarray, lag_s: float = ANNOTATION_LAG_S, tau_s: float = SMOOTHING_TAU_S
) -> np.ndarray:
    """The simulated raters: first-order low-pass (time constant ``tau_s``), then a delay.

    ``y[k] = y[k-1] + (1 - exp(-0.1 / tau_s)) (x[k] - y[k-1])``, ``y[-1] = 0``;
    output ``[k] = y[k - round(10 lag_s)]`` (0 before the delay has elapsed).

    Args:
        raw: (frames,) or (frames, dims) at 10 Hz.
        lag_s: delay in seconds.
        tau_s: low-pass time constant in seconds (0: none).

    Returns:
        Array of the same shape.

    Example:
        >>> rating_filter(np.ones(40), lag_s=1.0, tau_s=0.0)[8:12]
        array([0., 0., 1., 1.])
    """
    raw = np.asarray(raw, dtype=np.float64)
    alpha = 1.0 if tau_s <= 0 else 1.0 - math.exp(-1.0 / (FRAME_RATE * tau_s))
    y = np.zeros_like(raw)
    prev = np.zeros(raw.shape[1:])
    for k in range(raw.shape[0]):
        prev = prev + alpha * (raw[k] - prev)
        y[k] = prev
    lag = int(round(lag_s * FRAME_RATE))
    out = np.zeros_like(raw)
    if lag < raw.shape[0]:
        out[lag:] = y[: raw.shape[0] - lag]
    return out


def valence_track(sentences, n_frames: int) -> np.ndarray:
    """Raw 10 Hz valence: running mean sentiment within sentences, relaxing to 0 elsewhere."""
    target = np.full(n_frames, np.nan)
    for s in sentences:
        total, count = 0.0, 0
        end_frame = min(n_frames, int(math.ceil(s.end * FRAME_RATE)))
        for w, sent in zip(s.words, s.sentiments):
            if sent == 0.0:
                continue
            total += sent
            count += 1
            target[min(int(w.start * FRAME_RATE), n_frames - 1) : end_frame] = total / count
    decay = math.exp(-1.0 / (FRAME_RATE * VALENCE_RELAX_TAU_S))
    out = np.zeros(n_frames)
    prev = 0.0
    for k in range(n_frames):
        prev = target[k] if not np.isnan(target[k]) else prev * decay
        out[k] = prev
    return out
