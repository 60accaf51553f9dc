"""``evaluate`` predicts a recording by the rule of ``predict``: the LSTM state carried."""

import numpy as np
import pytest

from tests.inference.conftest import tiny_model


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from semser_tf.data.synthetic import generate_corpus

    root = tmp_path_factory.mktemp("evalrule") / "corpus"
    generate_corpus(
        root,
        minutes=0.4,
        seed=4,
        recording_seconds=8,
        progress=False,
        partitions={"Train": 0.5, "Test": 0.5},
    )
    return root


def test_predict_partition_equals_one_pass_per_recording(corpus, tmp_path):
    from semser_tf.data.audio import load_audio
    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.training.evaluate import predict_partition

    c = SEWACorpus(corpus)
    model, config = tiny_model("paralinguistic", sequence_length=20)
    preds = predict_partition(model, c, "Test", 20, cache_dir=tmp_path / "cache")
    recs = c.recordings("Test")
    assert set(preds) == {r.name for r in recs}
    for rec in recs:
        audio = load_audio(rec.audio_path)
        n = len(preds[rec.name])
        assert n > 40  # more than two windows
        wav = np.zeros(n * 2205, np.float32)
        wav[: min(len(audio), n * 2205)] = audio[: n * 2205]
        ref = np.asarray(model({"waveform": wav.reshape(1, n, 2205)}, training=False))[0]
        np.testing.assert_allclose(preds[rec.name], ref, atol=1e-5)
    old = predict_partition(model, c, "Test", 20, cache_dir=tmp_path / "cache", window_reset=True)
    name = recs[0].name
    assert np.abs(old[name][20:] - preds[name][20:]).max() > 1e-3
    np.testing.assert_allclose(old[name][:20], preds[name][:20], atol=1e-5)
