"""``Predictor.stream``: 100 ms chunks in, one prediction per frame out, equal to ``predict``."""

import numpy as np
import pytest

from tests.inference.conftest import speechlike, tiny_model

pytestmark = pytest.mark.backend_agnostic


def chunked(x, n):
    return [x[i : i + n] for i in range(0, len(x), n)]


@pytest.mark.parametrize(
    "variant,chunk_ms", [("paralinguistic", 100), ("attention", 100), ("attention", 300)]
)
def test_stream_equals_stateful_predict(variant, chunk_ms, features):
    from semser_tf.inference import Predictor

    f, words = features
    model, config = tiny_model(variant, sequence_length=20)
    audio = speechlike(6.63, seed=1)  # 67 frames, the last partial: a partial last chunk
    p = Predictor(model, config, f)
    offline = p.predict(audio, words=words, sample_rate=22050)
    frames = list(p.stream(chunked(audio, 2205 * chunk_ms // 100), 22050, words=words))
    assert [fr.index for fr in frames] == list(range(67))
    np.testing.assert_allclose([fr.time for fr in frames], np.arange(67) / 10)
    np.testing.assert_allclose(np.stack([fr.values for fr in frames]), offline.values, atol=1e-5)
    if variant == "attention":
        np.testing.assert_allclose(
            np.stack([fr.weights for fr in frames]), offline.weights, atol=1e-5
        )
    else:
        assert frames[0].weights is None


def test_frames_come_as_soon_as_their_samples_arrive():
    """At 22050 Hz each 100 ms chunk gives its frame before the next chunk is read."""
    from semser_tf.inference import Predictor

    model, config = tiny_model("paralinguistic")
    audio = speechlike(1.0)
    read = []

    def source():
        for i, c in enumerate(chunked(audio, 2205)):
            read.append(i)
            yield c

    for fr in Predictor(model, config).stream(source()):
        assert read[-1] == fr.index  # frame k out while chunk k is the last one read


@pytest.mark.parametrize("rate", [16000, 44100])
def test_stream_resamples_as_predict_does(rate):
    from semser_tf.data.audio import resample
    from semser_tf.inference import Predictor
    from semser_tf.streaming import StreamResampler

    x = speechlike(2.5, rate=rate, seed=4)
    r = StreamResampler(rate)
    parts = [r.push(c) for c in chunked(x, rate // 10)] + [r.flush()]
    np.testing.assert_allclose(np.concatenate(parts), resample(x, rate, 22050), atol=1e-6)
    model, config = tiny_model("paralinguistic")
    p = Predictor(model, config)
    offline = p.predict(x, sample_rate=rate).values
    streamed = np.stack([fr.values for fr in p.stream(chunked(x, rate // 10), rate)])
    assert streamed.shape == offline.shape == (25, 3)
    np.testing.assert_allclose(streamed, offline, atol=1e-5)


def test_stream_rejects_bad_chunks_and_rates():
    from semser_tf.errors import ConfigError, DataError
    from semser_tf.inference import Predictor

    model, config = tiny_model("paralinguistic")
    p = Predictor(model, config)
    with pytest.raises(
        DataError, match=r"chunk 0 has 1000 samples, not a multiple of the 100 ms frame \(2205"
    ):
        list(p.stream([np.zeros(1000), np.zeros(2205)]))
    with pytest.raises(ConfigError, match="11025 Hz: 100 ms is not a whole number"):
        list(p.stream([np.zeros(1102)], sample_rate=11025))
    with pytest.raises(DataError, match="NaN or infinite"):
        list(p.stream([np.full(2205, np.nan)]))
    # a short last chunk is fine: its partial frame is padded, as predict pads the file's end
    assert len(list(p.stream([np.zeros(2205), np.zeros(1000)]))) == 2
