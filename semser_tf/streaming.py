"""Live prediction: audio in chunks, one prediction per 100 ms frame as soon as it is known.

:meth:`semser_tf.inference.Predictor.stream` (what ``semser stream`` runs) takes audio in
chunks of 100 ms or any multiple (a chunk of another length is allowed only as the last
one), resamples them to 22050 Hz as they come (:class:`StreamResampler`), cuts whole
frames of 2205 samples (the convolutional front end works on whole frames) and predicts
each frame through the stateful step model (:mod:`semser_tf.models.stateful`) with the
LSTM state carried. So the frames streamed from a file are those of
``Predictor.predict`` on it (same frames, same state, within float rounding).

Rules:

- A frame is predicted when its last sample has arrived (at 22050 Hz: at the end of its
  100 ms chunk). At other rates the resampler needs a few input samples beyond the
  frame's end (its filter's half-width: 10 samples at 16 kHz, 20 at 44.1 kHz), so with
  100 ms chunks a frame comes with the next chunk.
- At the end of the stream, a partial last frame is padded with zeros and predicted,
  as ``Predictor.predict`` does with the end of a file.
- Semantic input: with word timings given up front, each frame gets the semantic vector
  of the word at its centre, exactly as offline. With ``words_from="asr"`` the words are
  recognised live (:class:`~semser_tf.semantic.words.live.LiveWords`: utterances cut at
  0.3 s pauses, or after ``delay`` s (1 to 8), each recognised when it ends): a frame is held back until its words are
  final or ``delay`` seconds of audio have arrived after it, so predictions come up to
  ``delay`` s late and a frame whose utterance is still open by then gets zeros.
  Without either, the semantic input is zero (the features of no words): the prediction
  is the voice alone, what offline prediction with ``words=[]`` gives. The cost of each
  rule against offline prediction is measured in docs/measurements/results.md, "Streaming". Modes
  that read the audio of the word segments (``encode``) need the whole recording and are
  not streamed.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from semser_tf.constants import FRAME_RATE, SAMPLE_RATE, SAMPLES_PER_FRAME
from semser_tf.errors import ConfigError, DataError

__all__ = [
    "StreamFrame",
    "StreamResampler",
    "checked_chunks",
    "stream_predictions",
    "frame_samples",
]


@dataclasses.dataclass
class StreamFrame:
    """One streamed prediction.

    Attributes:
        index: frame number from the start of the stream (0, 1, ...).
        time: the frame's start in seconds (``index / 10``), as ``Prediction.times``.
        values: (targets,) predictions in [-1, 1], in ``Predictor.targets`` order.
        weights: (2,) modality weights [paralinguistic, semantic] of an attention model,
            else ``None``.
    """

    index: int
    time: float
    values: np.ndarray
    weights: np.ndarray | None = None

    def as_dict(self, targets) -> dict:
        """``{"time": ..., <target>: ..., ["w_paralinguistic", "w_semantic"]}`` (JSON-ready)."""
        d = {"time": round(self.time, 1)}
        d.update((t, float(v)) for t, v in zip(targets, self.values))
        if self.weights is not None:
            d["w_paralinguistic"], d["w_semantic"] = float(self.weights[0]), float(self.weights[1])
        return d


def frame_samples(sample_rate) -> int:
    """Input samples per 100 ms frame at ``sample_rate`` (a ``ConfigError`` unless whole)."""
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, (int, np.integer))
        or sample_rate <= 0
    ):
        raise ConfigError(f"sample rate {sample_rate!r}: expected a positive integer in Hz")
    if sample_rate % FRAME_RATE:
        raise ConfigError(
            f"sample rate {sample_rate} Hz: 100 ms is not a whole number of samples; "
            "expected a rate that is a multiple of 10 Hz (e.g. 16000, 22050, 44100, 48000)"
        )
    return int(sample_rate) // FRAME_RATE


class StreamResampler:
    """Resampling of a stream, chunk by chunk, equal to resampling it whole.

    :func:`semser_tf.data.audio.resample` (polyphase windowed sinc, no delay, finite
    support) is applied to the samples received so far with a margin of context; only the
    outputs whose whole filter support has arrived are returned, so the concatenated
    outputs equal ``resample(whole_input)`` (within float rounding).

    Args:
        rate_in: the stream's rate in Hz.
        rate_out: the wanted rate (22050).
    """

    HALF_ZEROS = 10  # resample_tensor's default filter half-length, in zero crossings

    def __init__(self, rate_in: int, rate_out: int = SAMPLE_RATE):
        from semser_tf.data.audio import _factors

        self.rate_in, self.rate_out = int(rate_in), int(rate_out)
        self.up, self.down = _factors(self.rate_in, self.rate_out)
        self.same = self.up == self.down
        # input samples of the filter's half-width (+2 for rounding)
        self.lookahead = int(math.ceil(self.HALF_ZEROS * max(self.up, self.down) / self.up)) + 2
        self.buf = np.zeros(0, np.float32)
        self.buf_start = 0  # input index of buf[0]
        self.n_in = 0
        self.o_done = 0

    def _outputs(self, stop: int) -> np.ndarray:
        from semser_tf.data.audio import resample

        if stop <= self.o_done:
            return np.zeros(0, np.float32)
        # buf_start is a multiple of `down`, so the buffer's first output is a whole index
        y = resample(self.buf, self.rate_in, self.rate_out)
        first = self.buf_start * self.up // self.down
        out = np.asarray(y[self.o_done - first : stop - first], np.float32)
        self.o_done = stop
        keep = (
            self.o_done * self.down // self.up - self.lookahead - 1
        )  # left context of the next output
        keep -= keep % self.down
        if keep > self.buf_start:
            self.buf = self.buf[keep - self.buf_start :]
            self.buf_start = keep
        return out

    def push(self, x) -> np.ndarray:
        """Feed input samples; returns the output samples that are now final."""
        x = np.asarray(x, np.float32)
        self.n_in += len(x)
        if self.same:
            self.o_done += len(x)
            return x
        self.buf = np.concatenate([self.buf, x])
        ready = int(math.floor((self.n_in - self.lookahead) * self.up / self.down))
        return self._outputs(ready) if ready > self.o_done else np.zeros(0, np.float32)

    def flush(self) -> np.ndarray:
        """The remaining outputs at the end of the stream (zeros past its end, as offline)."""
        total = int(math.ceil(self.n_in * self.up / self.down))
        if self.same:
            return np.zeros(0, np.float32)
        return self._outputs(total)


def checked_chunks(chunks, sample_rate: int):
    """``(samples, samples received so far)`` per chunk: mono float32, finite, 100 ms or a
    multiple of it (only the last may be shorter); an empty chunk is skipped.

    Raises:
        DataError: a chunk of another shape, a short chunk that is not the last, or a
            NaN / infinite sample (its time named).
    """
    from semser_tf.data.wav_stream import check_finite

    per_chunk = frame_samples(sample_rate)
    received = 0
    ended_short = None
    for n_chunk, chunk in enumerate(chunks):
        x = np.asarray(chunk, np.float32)
        if x.ndim == 2:
            x = x.mean(axis=1)
        if x.ndim != 1:
            raise DataError(
                f"chunk {n_chunk} of shape {x.shape}: expected (samples,) or (samples, channels)"
            )
        if ended_short is not None:
            raise DataError(
                f"chunk {ended_short[0]} has {ended_short[1]} samples, not a multiple of the 100 ms "
                f"frame ({per_chunk} samples at {sample_rate} Hz); only the last chunk may be shorter"
            )
        if len(x) % per_chunk:
            ended_short = (n_chunk, len(x))
        if not len(x):
            continue
        check_finite(x, None, received / sample_rate, sample_rate)
        received += len(x)
        yield x, received


def _semantic_table(predictor, words):
    """The semantic vectors of the frames the words cover (zeros after), or ``None``."""
    if "semantic" not in predictor.input_names:
        return None
    if not words:
        return np.zeros((0, predictor.semantic_dim), np.float32)
    from semser_tf.semantic.frame_features import frame_spans

    n = max(frame_spans(w.start, w.end, 10**9)[1] for w in words) + 1
    try:
        return predictor._semantic(None, words, n)
    except (OSError, DataError) as err:
        raise ConfigError(
            f"streaming: the semantic features {predictor.frame_features!r} could not be made "
            f"from the words alone ({err}); stream with the lookup or text mode"
        ) from None


def stream_predictions(
    predictor,
    chunks,
    sample_rate: int = SAMPLE_RATE,
    words=None,
    with_weights: bool = True,
    live_words=None,
    delay: float = 3.0,
):
    """The generator behind :meth:`semser_tf.inference.Predictor.stream` (see there)."""
    from semser_tf.data.timings import read_words_arg

    frame_samples(sample_rate)  # a bad rate fails before anything is read
    words = read_words_arg(words)
    if live_words is not None:
        if words:
            raise ConfigError("streaming: give words up front or recognise them live, not both")
        if "semantic" not in predictor.input_names:
            live_words = None  # the voice-only model needs no words
        elif not delay >= 0:
            raise ConfigError(
                f"delay {delay!r}: expected seconds >= 0 a frame may wait for its words"
            )
    if live_words is not None:
        yield from _stream_live(predictor, chunks, sample_rate, with_weights, live_words, delay)
        return
    table = _semantic_table(predictor, words)
    run = predictor.runner(with_weights)
    resampler = StreamResampler(sample_rate)
    spf = SAMPLES_PER_FRAME
    pending = np.zeros(0, np.float32)
    index = 0

    def frames(block):
        nonlocal index
        k = len(block) // spf
        x = {}
        if "waveform" in predictor.input_names:
            wav = np.zeros((1, k, predictor.samples_per_frame), np.float32)
            wav[0, :, :spf] = block[: k * spf].reshape(k, spf)
            x["waveform"] = wav
        if table is not None:
            sem = np.zeros((1, k, table.shape[1]), np.float32)
            part = table[index : index + k]
            sem[0, : len(part)] = part
            x["semantic"] = sem
        out = run.step(x)
        w = out.get("modality_weights")
        for j in range(k):
            yield StreamFrame(
                index, index / FRAME_RATE, out["emotion"][0, j], None if w is None else w[0, j]
            )
            index += 1

    for x, _received in checked_chunks(chunks, sample_rate):
        pending = np.concatenate([pending, resampler.push(x)])
        if len(pending) >= spf:
            k = len(pending) // spf
            yield from frames(pending[: k * spf])
            pending = pending[k * spf :]
    pending = np.concatenate([pending, resampler.flush()])
    if len(pending):
        k = -(-len(pending) // spf)
        yield from frames(np.pad(pending, (0, k * spf - len(pending))))


def _stream_live(predictor, chunks, sample_rate, with_weights, live, delay):
    """Streaming with words recognised live (:class:`~semser_tf.semantic.words.live.LiveWords`):
    each frame waits until its words are final or ``delay`` seconds of audio have come
    after it, then gets the semantic vectors of the words known then (zeros elsewhere)."""
    run = predictor.runner(with_weights)
    resampler = StreamResampler(sample_rate)
    spf = SAMPLES_PER_FRAME
    dim = predictor.semantic_dim
    pending = np.zeros(0, np.float32)  # resampled samples not yet cut into frames
    held: list[np.ndarray] = []  # frames cut, waiting for their words
    first_held = 0  # index of held[0]
    known: list = []  # final words not wholly before first_held

    def emit(k):
        nonlocal first_held, known
        block = np.stack(held[:k])
        del held[:k]
        x = {}
        if "waveform" in predictor.input_names:
            wav = np.zeros((1, k, predictor.samples_per_frame), np.float32)
            wav[0, :, :spf] = block
            x["waveform"] = wav
        base = first_held / FRAME_RATE
        shifted = [type(w)(w.start - base, w.end - base, w.word) for w in known if w.end > base]
        sem = predictor._semantic(None, shifted, k) if shifted else np.zeros((k, dim), np.float32)
        x["semantic"] = np.asarray(sem, np.float32)[None]
        out = run.step(x)
        w = out.get("modality_weights")
        for j in range(k):
            yield StreamFrame(
                first_held + j,
                (first_held + j) / FRAME_RATE,
                out["emotion"][0, j],
                None if w is None else w[0, j],
            )
        first_held += k
        known = [w for w in known if w.end > first_held / FRAME_RATE]

    def ready(now):
        """Frames of ``held`` that may go: their words final, or waited ``delay`` s."""
        k = 0
        while k < len(held):
            end = (first_held + k + 1) / FRAME_RATE
            if end <= live.final_until + 1e-9 or now - end >= delay - 1e-9:
                k += 1
            else:
                break
        return k

    for x, received in checked_chunks(chunks, sample_rate):
        y = resampler.push(x)
        live.push(y)
        known.extend(live.take())
        pending = np.concatenate([pending, y])
        k = len(pending) // spf
        held.extend(pending[: k * spf].reshape(k, spf))
        pending = pending[k * spf :]
        k = ready(received / sample_rate)
        if k:
            yield from emit(k)
    tail = resampler.flush()
    live.push(tail)
    live.flush()
    known.extend(live.take())
    pending = np.concatenate([pending, tail])
    if len(pending):
        k = -(-len(pending) // spf)
        held.extend(np.pad(pending, (0, k * spf - len(pending))).reshape(k, spf))
    if held:
        yield from emit(len(held))
