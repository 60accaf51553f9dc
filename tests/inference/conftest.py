import numpy as np
import pytest

TINY = dict(conv_filters=(4, 4, 4), fusion_units=8, stream_units=8, lstm_units=8, semantic_dim=6)


def tiny_model(variant, sequence_length=20):
    """A seeded tiny model and its config (seconds to build and run)."""
    import keras

    from semser_tf.models import ModelConfig, build_model

    keras.utils.set_random_seed(0)
    config = ModelConfig(variant=variant, sequence_length=sequence_length, **TINY)
    return build_model(config), config


def speechlike(seconds, rate=22050, seed=0):
    """Syllable-rate bursts of harmonic tones and noise with pauses: 'speech-like' audio."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = 120 + 40 * np.sin(2 * np.pi * 0.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) * (
        np.sin(2 * np.pi * 0.25 * t + 1) > -0.3
    )
    x = 0.3 * envelope * voiced + 0.02 * rng.normal(size=n)
    return x.astype(np.float32)


@pytest.fixture
def features():
    """Lookup frame features over a 3-word table (dim 6) and word timings for them."""
    from semser_tf.semantic.frame_features import LookupFrameFeatures
    from semser_tf.types import WordTiming

    rng = np.random.default_rng(5)
    table = rng.normal(size=(3, 6)).astype(np.float32)
    f = LookupFrameFeatures(["good", "bad", "fine"], table)
    words = [
        WordTiming(0.3 + 1.1 * i, 0.3 + 1.1 * i + 0.6, ["good", "bad", "fine", "zebra"][i % 4])
        for i in range(6)
    ]
    return f, words
