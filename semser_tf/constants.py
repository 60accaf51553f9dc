"""Signal and frame constants of the paper (Tzirakis et al., ICASSP 2021, and the official code: 22050 Hz audio, 100 ms label frames)."""

SAMPLE_RATE = 22050
"""Audio is resampled to 22050 Hz mono on load."""

FRAME_RATE = 10
"""Labels (and model outputs) come at 10 Hz: one label frame is 100 ms."""

SAMPLES_PER_FRAME = SAMPLE_RATE // FRAME_RATE
"""2205 samples per 100 ms label frame."""

DEFAULT_TARGETS = ("arousal", "valence", "liking")
"""SEWA's three continuous dimensions, in [-1, 1]."""
