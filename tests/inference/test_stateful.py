"""Predictions without seams: the LSTM state carried across windows equals one long pass."""

import numpy as np
import pytest

from tests.inference.conftest import speechlike, tiny_model

pytestmark = pytest.mark.backend_agnostic


class FixedFeatures:
    """Frame features that are a fixed (n, dim) array, whatever the words."""

    def __init__(self, table):
        self.table, self.dim, self.cache_key = table, table.shape[1], "fixed"

    def __call__(self, recording, n_frames):
        return self.table[:n_frames]


def whole_pass(model, audio, semantic=None):
    """model(x) over the whole sequence: the audio zero-padded to whole 2205-sample frames."""
    n = -(-len(audio) // 2205)
    wav = np.zeros(n * 2205, np.float32)
    wav[: len(audio)] = audio
    x = {"waveform": wav.reshape(1, n, 2205)}
    if semantic is not None:
        x["semantic"] = semantic[None, :n]
    x = {k: v for k, v in x.items() if k in [t.name for t in model.inputs]}
    return np.asarray(model(x, training=False))[0]


@pytest.mark.parametrize("variant", ["paralinguistic", "attention", "concat"])
def test_stateful_predict_equals_one_long_pass(variant):
    from semser_tf.inference import Predictor

    model, config = tiny_model(variant, sequence_length=20)
    audio = speechlike(9.55)  # 96 frames: 5 windows of 20, the last partial, a partial frame
    table = np.random.default_rng(1).normal(size=(96, 6)).astype(np.float32)
    pred = Predictor(model, config, FixedFeatures(table)).predict(audio, sample_rate=22050)
    ref = whole_pass(model, audio, table)
    assert pred.values.shape == ref.shape == (96, 3)
    np.testing.assert_allclose(pred.values, ref, atol=1e-5)
    one = Predictor(model, config, FixedFeatures(table), windows_per_call=1).predict(
        audio, sample_rate=22050
    )
    np.testing.assert_allclose(one.values, ref, atol=1e-5)  # the state carried across every window
    # the older rule restarts each window: it differs from the long pass after frame 20
    old = Predictor(model, config, FixedFeatures(table)).predict(
        audio, sample_rate=22050, window_reset=True
    )
    np.testing.assert_allclose(old.values[:20], ref[:20], atol=1e-5)
    assert np.abs(old.values[20:] - ref[20:]).max() > 1e-3


def test_stateful_attention_with_words_and_weights(features):
    import keras

    from semser_tf.data.corpus import Recording
    from semser_tf.inference import Predictor

    f, words = features
    model, config = tiny_model("attention", sequence_length=15)
    audio = speechlike(7.0, seed=2)
    pred = Predictor(model, config, f).predict(audio, words=words, sample_rate=22050)
    rec = Recording(
        name="a",
        partition="predict",
        audio_path="<array>",
        label_path=None,
        targets=config.targets,
        labels=None,
        words=words,
    )
    semantic = f(rec, 70)
    assert np.abs(semantic).sum() > 0
    ref = whole_pass(model, audio, semantic)
    np.testing.assert_allclose(pred.values, ref, atol=1e-5)
    wmodel = keras.Model(model.input, model.get_layer("modality_attention").output[1])
    n = 70
    ref_w = np.asarray(
        wmodel({"waveform": audio[: n * 2205].reshape(1, n, 2205), "semantic": semantic[None]})
    )[0]
    np.testing.assert_allclose(pred.weights, ref_w, atol=1e-5)
    np.testing.assert_allclose(pred.weights.sum(axis=1), 1.0, atol=1e-5)


def test_step_model_shares_the_trained_weights():
    """A later change of the trained model's weights is seen by its step model."""
    from semser_tf.models.stateful import StatefulRunner

    model, _ = tiny_model("paralinguistic")
    run = StatefulRunner(model)
    x = {"waveform": speechlike(1.0).reshape(1, 10, 2205)}
    before = run.step(x)["emotion"]
    model.get_layer("emotion").bias.assign(np.full(3, 0.5, np.float32))
    run.reset()
    after = run.step(x)["emotion"]
    np.testing.assert_allclose(after, np.asarray(model(x, training=False)), atol=1e-6)
    assert np.abs(after - before).max() > 1e-3


def seam_ratio(values, boundaries):
    """Mean |frame-to-frame change| at the window boundaries over its mean on all frames, per target."""
    d = np.abs(np.diff(values, axis=0))  # d[t - 1] = |v[t] - v[t - 1]|
    return d[np.asarray(boundaries) - 1].mean(axis=0) / d.mean(axis=0)


def test_no_seams_on_a_long_file_with_the_bundled_model(tmp_path):
    """60 s of speech-like audio: at each 10 s window boundary the frame-to-frame change
    is at most 1.5x its mean over all frames (the older rule jumps there)."""
    import semser_tf
    from semser_tf.data.audio import save_wav

    m = semser_tf.load_pretrained(offline=True, progress=False)
    path = save_wav(tmp_path / "long.wav", speechlike(60.0, seed=3), 22050)
    T = m.config.sequence_length
    p = m.predictor()
    new = p.predict(path).values
    old = p.predict(path, window_reset=True).values
    boundaries = np.arange(T, len(new), T)
    assert len(boundaries) >= 5
    assert (seam_ratio(new, boundaries) <= 1.5).all(), seam_ratio(new, boundaries)
    assert (seam_ratio(old, boundaries) > 1.5).any(), seam_ratio(old, boundaries)


def test_stateful_predict_of_a_resampled_wav_file_equals_one_long_pass(tmp_path):
    from semser_tf.data.audio import load_audio, save_wav
    from semser_tf.inference import Predictor

    model, config = tiny_model("paralinguistic", sequence_length=20)
    path = save_wav(tmp_path / "a.wav", speechlike(8.0, rate=16000, seed=6), 16000)
    pred = Predictor(model, config, windows_per_call=2).predict(path)
    ref = whole_pass(model, load_audio(path))  # decoded and resampled whole
    assert pred.values.shape == ref.shape == (80, 3)
    np.testing.assert_allclose(pred.values, ref, atol=1e-5)
