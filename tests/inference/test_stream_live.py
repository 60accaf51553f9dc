"""Streaming with words recognised live: utterances cut at pauses, each frame held until its
words are final or ``delay`` s have passed. The recogniser is replaced by one that returns
known words, so the checks are against ``predict`` with those words (an independent path)."""

import numpy as np
import pytest

from tests.inference.conftest import tiny_model
from tests.inference.test_stream import chunked

pytestmark = pytest.mark.backend_agnostic

SR = 22050


def bursts(spans, seconds):
    """Tone bursts (speech) at ``spans`` [(start, end)] seconds, quiet noise elsewhere."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SR)) / SR
    x = 0.001 * rng.normal(size=t.size)
    for a, b in spans:
        m = (t >= a) & (t < b)
        x[m] += 0.3 * np.sin(2 * np.pi * 180 * t[m])
    return x.astype(np.float32)


SPANS = [(0.5, 1.7), (2.4, 3.1), (4.0, 5.6)]
WORDS_PER_SPAN = [("good", "bad"), ("fine",), ("bad", "good")]


def fake_recognizer(calls):
    """Words evenly over each utterance it is given (times relative to it), logged in ``calls``."""
    from semser_tf.types import WordTiming

    def recognize(audio, rate):
        calls.append(len(audio) / rate)
        words = WORDS_PER_SPAN[len(calls) - 1] if len(calls) <= len(WORDS_PER_SPAN) else ()
        voiced = np.flatnonzero(np.abs(audio) > 0.05)
        if not len(voiced) or not words:
            return []
        a, b = voiced[0] / rate, voiced[-1] / rate
        step = (b - a) / len(words)
        return [WordTiming(a + i * step, a + (i + 1) * step, w) for i, w in enumerate(words)]

    return recognize


def test_live_words_cut_utterances_at_pauses():
    from semser_tf.semantic.words.live import LiveWords

    calls = []
    live = LiveWords(SR, recognize=fake_recognizer(calls))
    x = bursts(SPANS, 6.5)
    for c in chunked(x, 2205):
        live.push(c)
    live.flush()
    words = live.take()
    assert live.utterances == 3 and len(calls) == 3
    # each utterance's words lie inside its burst (times in seconds of the stream)
    for (a, b), ws in zip(SPANS, [words[0:2], words[2:3], words[3:5]]):
        assert all(a - 0.02 <= w.start < w.end <= b + 0.02 for w in ws), (a, b, ws)
    assert [w.word for w in words] == ["good", "bad", "fine", "bad", "good"]


def test_stream_with_live_words_equals_predict_with_those_words(features):
    """With a long enough delay every frame waits for its words: the stream equals offline
    prediction given the words the recogniser returned."""
    from semser_tf.inference import Predictor
    from semser_tf.semantic.words.live import LiveWords

    f, _ = features
    model, config = tiny_model("attention")
    p = Predictor(model, config, f)
    x = bursts(SPANS, 6.5)
    calls = []
    live = LiveWords(SR, recognize=fake_recognizer(calls))
    frames = list(p.stream(chunked(x, 2205), SR, words_from="asr", delay=60.0, recognizer=live))
    # the words the recogniser gave, recomputed the same way on the whole file
    again = LiveWords(SR, recognize=fake_recognizer([]))
    again.push(x)
    again.flush()
    words = again.take()
    offline = p.predict(x, words=words, sample_rate=SR)
    assert [fr.index for fr in frames] == list(range(65))
    np.testing.assert_allclose(np.stack([fr.values for fr in frames]), offline.values, atol=1e-5)
    zeros = p.predict(x, words=[], sample_rate=SR)
    assert np.abs(offline.values - zeros.values).max() > 1e-3  # the words did change the prediction


def test_no_frame_waits_longer_than_the_delay(features):
    """Frame k comes out once its words are final, and at the latest ``delay`` s of audio
    after its end; with ``delay=0`` frames come at once and those of an open utterance get
    no words."""
    from semser_tf.inference import Predictor
    from semser_tf.semantic.words.live import LiveWords

    f, _ = features
    model, config = tiny_model("attention")
    p = Predictor(model, config, f)
    x = bursts(SPANS, 6.5)
    for delay in (0.0, 0.5, 2.0):
        read = []

        def source():
            for i, c in enumerate(chunked(x, 2205)):
                read.append(i)  # noqa: B023  (consumed in this iteration)
                yield c

        live = LiveWords(SR, recognize=fake_recognizer([]))
        waits = []
        for fr in p.stream(source(), SR, words_from="asr", delay=delay, recognizer=live):
            waits.append((read[-1] + 1) / 10 - (fr.time + 0.1))  # audio read after the frame's end
        waits = np.array(waits[:60])  # the end of the stream flushes the rest
        assert waits.max() <= delay + 0.1 + 1e-9, (delay, waits.max())
        if delay == 0.0:
            assert waits.max() < 1e-9
    # with delay 0.5 the frames inside the 1.6 s utterance at 4.0-5.6 s go before it closes
    live = LiveWords(SR, recognize=fake_recognizer([]))
    half = list(p.stream(chunked(x, 2205), SR, words_from="asr", delay=0.5, recognizer=live))
    full = list(
        p.stream(
            chunked(x, 2205),
            SR,
            words_from="asr",
            delay=60.0,
            recognizer=LiveWords(SR, recognize=fake_recognizer([])),
        )
    )
    assert np.abs(half[45].values - full[45].values).max() > 1e-4


def test_live_words_options_are_checked():
    from semser_tf.errors import ConfigError
    from semser_tf.inference import Predictor
    from semser_tf.semantic.words.live import LiveWords

    with pytest.raises(ConfigError, match="pause"):
        LiveWords(SR, pause=2.0, max_utterance=1.0, recognize=lambda a, r: [])
    model, config = tiny_model("attention")
    p = Predictor(model, config)
    with pytest.raises(ConfigError, match="words_from 'maybe'"):
        list(p.stream([np.zeros(2205, np.float32)], SR, words_from="maybe"))
    with pytest.raises(ConfigError, match="delay"):
        list(
            p.stream(
                [np.zeros(2205, np.float32)],
                SR,
                words_from="asr",
                delay=-1,
                recognizer=LiveWords(SR, recognize=lambda a, r: []),
            )
        )
