"""A synthetic corpus of real (synthesised) speech in the AVEC 2017 SEWA layout.

Each recording is one speaker (an eSpeak NG voice) saying English sentences built from a
small lexicon of positive, negative and neutral words, separated by pauses. The labels
are made so that the paper's claim can be checked: **valence** comes only from the words
(their sentiment), **arousal** only from the voice (speaking rate, pitch, pitch range and
loudness, driven by a smooth random trajectory drawn independently of the words), and
**liking** mixes both. Labels are then smoothed and delayed as human ratings are.

Layout (``generate_corpus``)::

    audio/<Part>_NN.wav            22050 Hz, 16-bit PCM, mono
    labels/<Part>_NN.csv           'name';time;arousal;valence;liking   (10 Hz, no header)
    turns/<Part>_NN.csv            start;end            (speech spans)
    transcriptions/<Part>_NN.csv   start;end;'sentence'
    words/<Part>_NN.csv            start;end;word
    corpus.json                    parameters, ground truth per sentence, sizes

Formulas (frame ``k`` covers ``[0.1 k, 0.1 (k + 1))`` s; see ``docs/synthetic_corpus.md``):

* arousal trajectory ``a(t) = tanh(c + 0.6 z(t))``: ``z`` is white noise at 10 Hz,
  Gaussian-smoothed (sigma 4 s) and scaled to unit variance, ``c ~ U(-0.2, 0.2)`` per recording.
  A sentence starting at ``t0`` is spoken with ``rate = 170 + 50 a``, ``pitch = 50 + 25 a``,
  ``pitch_range = 50 + 40 a``, ``volume = 100 + 40 a`` with ``a = a(t0)``.
* valence: a word's sentiment ``s_w`` in [-1, 1] (0 for neutral words). From the onset of
  the first sentiment-bearing word of a sentence to the sentence's end, raw valence is the
  mean sentiment of the sentence's sentiment-bearing words spoken so far; elsewhere
  (silence, neutral openings) it relaxes toward 0 with time constant 2 s.
* liking: ``0.7 valence + 0.3 arousal``.
* rating model: first-order low-pass (time constant 0.5 s), then a delay of 2.0 s
  (``ANNOTATION_LAG_S``); values clipped to [-1, 1].
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semser_tf.constants import FRAME_RATE, SAMPLE_RATE, SAMPLES_PER_FRAME
from semser_tf.errors import ConfigError, DataError, SemserError
from semser_tf.io import atomic_write_text, check_replaceable
from semser_tf.types import WordTiming

__all__ = [
    "ANNOTATION_LAG_S",
    "DEFAULT_VOICES",
    "GENERATOR_VERSION",
    "LEXICON",
    "GeneratedRecording",
    "SentenceInfo",
    "generate_corpus",
    "generate_recording",
    "lexicon_sizes",
    "make_sentence",
    "prosody_for_arousal",
    "read_corpus_meta",
    "rating_filter",
    "write_recording",
]

GENERATOR_VERSION = "1.0"
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
"""Level of the white background noise added to every recording (silence is not digital zero)."""

DEFAULT_VOICES = (
    "en+m1",
    "en+f3",
    "en-us+m3",
    "en-us+f2",
    "en-gb-x-rp+m7",
    "en-gb-scotland+f4",
    "en-029+m2",
    "en-us-nyc+f1",
)
"""eSpeak NG voices (language + variant) used by default, one per recording in turn."""

PARTITIONS = {"Train": 0.6, "Devel": 0.2, "Test": 0.2}

# --------------------------------------------------------------------------- lexicon
# Sentiment in [-1, 1]; 0 marks neutral words, which carry no valence.

_POS_ADJ = dict(
    wonderful=0.9, great=0.8, good=0.6, nice=0.5, lovely=0.8, excellent=0.9, fantastic=0.9,
    amazing=0.9, beautiful=0.8, brilliant=0.8, pleasant=0.6, delightful=0.8, perfect=0.9,
    superb=0.9, charming=0.7, cheerful=0.7, happy=0.8, friendly=0.6, gorgeous=0.8, marvelous=0.9,
    splendid=0.8, fine=0.4, decent=0.3, cool=0.5, fun=0.6, clever=0.6, helpful=0.6,
    comfortable=0.5, fresh=0.4, tasty=0.6, elegant=0.6, exciting=0.7, impressive=0.7,
    enjoyable=0.7, generous=0.6, kind=0.6, sweet=0.6, reliable=0.5, useful=0.5, glorious=0.9,
)
_NEG_ADJ = dict(
    terrible=-0.9, awful=-0.9, horrible=-0.9, bad=-0.6, poor=-0.5, nasty=-0.8, ugly=-0.7,
    boring=-0.5, dreadful=-0.9, disgusting=-0.9, annoying=-0.6, stupid=-0.7, useless=-0.7,
    broken=-0.5, dirty=-0.5, painful=-0.7, sad=-0.7, miserable=-0.8, awkward=-0.4, rude=-0.7,
    cheap=-0.3, noisy=-0.4, disappointing=-0.7, unpleasant=-0.6, worthless=-0.8, gloomy=-0.6,
    pathetic=-0.8, mediocre=-0.4, stale=-0.5, ridiculous=-0.6, hopeless=-0.8, wrong=-0.5,
    weak=-0.4, messy=-0.4, cruel=-0.8, lousy=-0.7, dull=-0.5, grim=-0.6,
)
_NEU_ADJ = (
    "red blue green yellow small large new old long short round square wooden metal plastic "
    "early late local public usual normal plain simple recent modern daily weekly other same "
    "second third first final main open closed heavy white black brown tall narrow"
).split()
_NEU_NOUN = (
    "car house table chair window phone book movie film song meal coffee tea train bus ticket "
    "hotel room city street garden shop office meeting computer screen camera shirt jacket bag "
    "box letter email website product price service dinner lunch breakfast weather holiday trip "
    "weekend game team teacher doctor neighbour brother sister kitchen door bike road river park "
    "beach hill picture paper radio show story plan idea report lesson class concert museum "
    "restaurant market station airport flight cake pizza soup bread apartment laptop printer "
    "sofa lamp bottle"
).split()
_POS_NOUN = dict(gift=0.5, party=0.4, success=0.8, victory=0.8, joy=0.9, smile=0.6, bonus=0.6,
                 reward=0.6, treat=0.5, surprise=0.4, bargain=0.5, masterpiece=0.9)
_NEG_NOUN = dict(disaster=-0.9, failure=-0.8, mess=-0.5, problem=-0.5, accident=-0.7,
                 mistake=-0.5, crash=-0.7, loss=-0.6, delay=-0.4, complaint=-0.5, nightmare=-0.9,
                 scandal=-0.7)
_POS_VERB = dict(love=0.8, like=0.5, enjoy=0.7, adore=0.9, admire=0.7, appreciate=0.6,
                 recommend=0.6, cherish=0.8)
_NEG_VERB = dict(hate=-0.9, dislike=-0.6, detest=-0.9, regret=-0.6, despise=-0.9, fear=-0.6,
                 resent=-0.7, loathe=-0.9)
_NEU_VERB = ("bought saw found need have got took watched used checked ordered booked tried "
             "visited remember borrowed cleaned opened carried sold").split()
_DEGREE = "quite really very rather so fairly".split()
_TIME = ["today", "yesterday", "again", "now", "recently", "twice", "this week", "last year", "on monday"]
_FUNCTION = ("the a an this my we i it was is were and what they you looks felt honestly "
             "said seems our their that").split()

LEXICON: dict[str, float] = {}
for _table in (_POS_ADJ, _NEG_ADJ, _POS_NOUN, _NEG_NOUN, _POS_VERB, _NEG_VERB):
    LEXICON.update(_table)
for _w in _NEU_ADJ + _NEU_NOUN + _NEU_VERB + _DEGREE + _FUNCTION + " ".join(_TIME).split():
    LEXICON.setdefault(_w, 0.0)

# Slots: A adjective, N noun, V verb (all may carry sentiment), D degree adverb, T time.
TEMPLATES = (
    "the {N} was {A}",
    "I {V} this {N}",
    "this {N} is {D} {A}",
    "we {U} a {A} {N} {T}",
    "honestly I {V} the {A} {N}",
    "my {N} looks {A}",
    "they {U} the {N} {T}",
    "what a {A} {N}",
    "the {N} and the {N} were {A}",
    "it was a {A} {N} and I {V} it",
    "{T} the {N} felt {D} {A}",
    "our {N} seems {A}",
    "you said the {N} was {A}",
    "I {V} their {A} {N}",
)


def lexicon_sizes() -> dict:
    """Counts of the built-in lexicon: positive, negative, neutral words and templates.

    Example:
        >>> lexicon_sizes()["templates"]
        14
    """
    values = np.array(list(LEXICON.values()))
    return {
        "positive": int(np.sum(values > 0)),
        "negative": int(np.sum(values < 0)),
        "neutral": int(np.sum(values == 0)),
        "templates": len(TEMPLATES),
    }


def _pick(rng, items):
    return items[int(rng.integers(len(items)))]


def _polarity(rng, mood: float) -> int:
    """+1, -1 or 0 (neutral) for one sentiment-capable slot, biased by the mood in [-1, 1]."""
    u = rng.random()
    p_pos = 0.35 * (1.0 + mood)
    p_neg = 0.35 * (1.0 - mood)
    if u < p_pos:
        return 1
    if u < p_pos + p_neg:
        return -1
    return 0


def make_sentence(rng: np.random.Generator, mood: float = 0.0) -> tuple[str, list[tuple[str, float]]]:
    """One sentence from a template, its slots filled according to ``mood``.

    Args:
        rng: the random generator (the text stream, independent of prosody).
        mood: in [-1, 1]; positive makes positive words likelier.

    Returns:
        ``(text, [(word, sentiment), ...])`` with the text's words in order (lower case
        except ``I``; the text has no final punctuation).

    Example:
        >>> text, words = make_sentence(np.random.default_rng(0), mood=0.5)
    """
    template = _pick(rng, TEMPLATES)
    parts = []
    for token in template.split():
        if token == "{A}":
            pol = _polarity(rng, mood)
            word = _pick(rng, list(_POS_ADJ) if pol > 0 else list(_NEG_ADJ) if pol < 0 else _NEU_ADJ)
        elif token == "{V}":
            pol = _polarity(rng, mood)
            word = _pick(rng, list(_POS_VERB) if pol > 0 else list(_NEG_VERB) if pol < 0 else _NEU_VERB)
        elif token == "{N}":
            if rng.random() < 0.2:
                pol = _polarity(rng, mood)
                word = _pick(rng, list(_POS_NOUN) if pol > 0 else list(_NEG_NOUN) if pol < 0 else _NEU_NOUN)
            else:
                word = _pick(rng, _NEU_NOUN)
        elif token == "{U}":
            word = _pick(rng, _NEU_VERB)
        elif token == "{D}":
            word = _pick(rng, _DEGREE)
        elif token == "{T}":
            word = _pick(rng, _TIME)
        else:
            word = token
        parts.extend(word.split())
    for i in range(len(parts) - 1):  # "a" -> "an" before a vowel
        if parts[i] == "a" and parts[i + 1][0] in "aeiou":
            parts[i] = "an"
    return " ".join(parts), [(w, LEXICON.get(w.lower(), 0.0)) for w in parts]


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


def _smooth_trajectory(rng, n: int, sigma_frames: float, scale: float, offset: float) -> np.ndarray:
    """``tanh(offset + scale z(t))`` with ``z`` unit-variance Gaussian-smoothed white noise."""
    half = int(math.ceil(4 * sigma_frames))
    noise = rng.standard_normal(n + 2 * half)
    k = np.arange(-half, half + 1)
    kernel = np.exp(-0.5 * (k / sigma_frames) ** 2)
    kernel /= kernel.sum()
    # divided by the analytic standard deviation, so short recordings are not rescaled
    z = np.convolve(noise, kernel, mode="valid")[:n] / math.sqrt(float(np.sum(kernel**2)))
    return np.tanh(offset + scale * z)


def rating_filter(raw: np.ndarray, lag_s: float = ANNOTATION_LAG_S, tau_s: float = SMOOTHING_TAU_S) -> np.ndarray:
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


@dataclass
class SentenceInfo:
    """Ground truth of one spoken sentence (times in seconds from the recording's start)."""

    text: str
    start: float
    end: float
    words: list  # list[WordTiming]
    sentiments: list  # per word, 0 for neutral
    sentiment: float  # mean over sentiment-bearing words (0 if none)
    arousal: float  # a(t0) that set the prosody
    prosody: dict

    def to_json(self) -> dict:
        return {
            "text": self.text,
            "start": round(self.start, 6),
            "end": round(self.end, 6),
            "sentiment": round(self.sentiment, 6),
            "arousal": round(self.arousal, 6),
            "prosody": self.prosody,
            "word_sentiments": [round(s, 3) for s in self.sentiments],
        }


@dataclass
class GeneratedRecording:
    """A generated recording: audio, 10 Hz labels and the spoken material."""

    name: str
    voice: str
    audio: np.ndarray  # float32, 22050 Hz
    labels: np.ndarray  # (frames, 3): arousal, valence, liking
    raw: np.ndarray  # (frames, 3) before the rating model
    sentences: list = field(default_factory=list)  # list[SentenceInfo]

    @property
    def words(self) -> list:
        return [w for s in self.sentences for w in s.words]

    @property
    def turns(self) -> list:
        return [(s.start, s.end) for s in self.sentences]


def generate_recording(name: str, duration_s: float, voice: str, seed, lag_s: float = ANNOTATION_LAG_S,
                       noise_dbfs: float = NOISE_DBFS) -> GeneratedRecording:
    """Generate one recording of ``duration_s`` seconds (rounded up to whole 100 ms frames).

    Args:
        name: the recording's name (e.g. ``"Train_01"``).
        duration_s: its length in seconds (at least 2).
        voice: eSpeak NG voice, e.g. ``"en-us+f2"``.
        seed: an int or ``np.random.SeedSequence``; text, prosody and noise use
            independent child streams of it.
        lag_s: annotation delay of the labels.
        noise_dbfs: background noise level (``None``: none).

    Returns:
        A :class:`GeneratedRecording`.

    Example:
        >>> rec = generate_recording("Train_01", 10.0, "en+f3", seed=0)
        >>> rec.labels.shape
        (100, 3)
    """
    from semser_tf.data.espeak import synthesize

    if duration_s < 2.0:
        raise ConfigError(f"recording duration must be at least 2 s, got {duration_s}")
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))
    text_seq, prosody_seq, time_seq, noise_seq = seq.spawn(4)
    rng_text = np.random.default_rng(text_seq)
    rng_pros = np.random.default_rng(prosody_seq)
    rng_time = np.random.default_rng(time_seq)
    n_frames = int(math.ceil(round(duration_s * FRAME_RATE, 6)))
    n_samples = n_frames * SAMPLES_PER_FRAME
    arousal = _smooth_trajectory(rng_pros, n_frames, AROUSAL_SIGMA_S * FRAME_RATE, AROUSAL_SCALE,
                                 float(rng_pros.uniform(-0.2, 0.2)))
    mood = _smooth_trajectory(rng_text, n_frames, MOOD_SIGMA_S * FRAME_RATE, MOOD_SCALE,
                              float(rng_text.uniform(-0.3, 0.3)))
    audio = np.zeros(n_samples, dtype=np.float32)
    sentences: list[SentenceInfo] = []
    t = float(rng_time.uniform(0.2, 1.0))
    while True:
        start_sample = int(round(t * SAMPLE_RATE))
        frame = min(int(t * FRAME_RATE), n_frames - 1)
        text, tagged = make_sentence(rng_text, float(mood[frame]))
        a = float(arousal[frame])
        prosody = prosody_for_arousal(a)
        speech, timings = synthesize(text, voice=voice, seed=int(rng_time.integers(2**31)), **prosody)
        if not timings:
            break
        first = int(round(timings[0].start * SAMPLE_RATE))
        last = int(math.ceil(timings[-1].end * SAMPLE_RATE))
        speech = speech[first:last]
        if start_sample + len(speech) > n_samples - int(0.2 * SAMPLE_RATE):
            break
        audio[start_sample:start_sample + len(speech)] = speech
        offset = start_sample / SAMPLE_RATE - first / SAMPLE_RATE
        words = [WordTiming(round(w.start + offset, 6), round(w.end + offset, 6), w.word) for w in timings]
        sentiments = [LEXICON.get(w.word.lower(), 0.0) for w in words]
        bearing = [s for s in sentiments if s != 0.0]
        sentences.append(SentenceInfo(
            text=text, start=words[0].start, end=words[-1].end, words=words, sentiments=sentiments,
            sentiment=float(np.mean(bearing)) if bearing else 0.0, arousal=a, prosody=prosody,
        ))
        t = (start_sample + len(speech)) / SAMPLE_RATE + float(rng_time.uniform(0.4, 1.6))
    if noise_dbfs is not None:
        rng_noise = np.random.default_rng(noise_seq)
        audio += (10.0 ** (noise_dbfs / 20.0) * rng_noise.standard_normal(n_samples)).astype(np.float32)
    valence = _valence_track(sentences, n_frames)
    liking = LIKING_WEIGHTS[0] * valence + LIKING_WEIGHTS[1] * arousal
    raw = np.stack([arousal, valence, liking], axis=1)
    labels = np.clip(rating_filter(raw, lag_s=lag_s), -1.0, 1.0)
    return GeneratedRecording(name, voice, audio, labels, raw, sentences)


def _valence_track(sentences, n_frames: int) -> np.ndarray:
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
            target[min(int(w.start * FRAME_RATE), n_frames - 1):end_frame] = total / count
    decay = math.exp(-1.0 / (FRAME_RATE * VALENCE_RELAX_TAU_S))
    out = np.zeros(n_frames)
    prev = 0.0
    for k in range(n_frames):
        prev = target[k] if not np.isnan(target[k]) else prev * decay
        out[k] = prev
    return out


# --------------------------------------------------------------------------- writing


def _quote(text: str) -> str:
    return "'" + text.replace("'", "") + "'"


def write_recording(rec: GeneratedRecording, root) -> None:
    """Write one recording's audio, labels, turns, transcription and words under ``root``.

    Args:
        rec: the recording.
        root: corpus folder; the sub-folders are created.

    Example:
        >>> write_recording(generate_recording("Train_01", 10, "en", 0), "corpus")  # doctest: +SKIP
    """
    from semser_tf.data.audio import save_wav

    root = Path(root)
    for sub in ("audio", "labels", "turns", "transcriptions", "words"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    save_wav(root / "audio" / f"{rec.name}.wav", rec.audio, SAMPLE_RATE)
    rows = [
        f"{_quote(rec.name)};{k / FRAME_RATE:.6f};{a:.6f};{v:.6f};{li:.6f}\n"
        for k, (a, v, li) in enumerate(rec.labels)
    ]
    atomic_write_text(root / "labels" / f"{rec.name}.csv", "".join(rows))
    atomic_write_text(root / "turns" / f"{rec.name}.csv",
                       "".join(f"{s:.3f};{e:.3f}\n" for s, e in rec.turns))
    atomic_write_text(root / "transcriptions" / f"{rec.name}.csv",
                       "".join(f"{s.start:.3f};{s.end:.3f};{_quote(s.text)}\n" for s in rec.sentences))
    atomic_write_text(root / "words" / f"{rec.name}.csv",
                       "".join(f"{w.start:.3f};{w.end:.3f};{w.word}\n" for w in rec.words))


class _Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: float, enabled: bool, width: int = 30):
        self.total, self.enabled, self.width = total, enabled, width
        self.t0 = time.perf_counter()

    def update(self, done: float, note: str = "") -> None:
        if not self.enabled:
            return
        frac = 0.0 if self.total <= 0 else min(1.0, done / self.total)
        bar = "#" * int(round(frac * self.width))
        elapsed = time.perf_counter() - self.t0
        sys.stderr.write(f"\r[{bar:<{self.width}}] {frac * 100:5.1f}% {note} {elapsed:6.1f}s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _plan(minutes: float, recording_seconds: float, partitions: dict) -> list[tuple[str, float]]:
    if not isinstance(partitions, dict) or not partitions:
        raise ConfigError(f"partitions must be a non-empty dict of name -> fraction, got {partitions!r}")
    total = sum(partitions.values())
    if any(f < 0 for f in partitions.values()) or total <= 0:
        raise ConfigError(f"partition fractions must be >= 0 with a positive sum, got {partitions!r}")
    seconds = minutes * 60.0
    plan = []
    for part, frac in partitions.items():
        if not str(part).isidentifier():
            raise ConfigError(f"partition name {part!r} must be a word such as Train, Devel, Test")
        share = seconds * frac / total
        if share <= 0:
            continue
        count = max(1, int(round(share / recording_seconds)))
        length = max(2.0, share / count)
        digits = max(2, len(str(count)))
        plan.extend((f"{part}_{i + 1:0{digits}d}", length) for i in range(count))
    return plan


def _generate_and_write(job: tuple) -> dict:
    """Worker: generate one recording, write it under ``root``, return its metadata."""
    name, length, voice, entropy, spawn_key, root, lag_s = job
    seq = np.random.SeedSequence(entropy, spawn_key=tuple(spawn_key))
    rec = generate_recording(name, length, voice, seq, lag_s=lag_s)
    write_recording(rec, root)
    return {
        "voice": voice,
        "seconds": round(len(rec.audio) / SAMPLE_RATE, 6),
        "frames": int(rec.labels.shape[0]),
        "sentences": [s.to_json() for s in rec.sentences],
        "n_words": len(rec.words),
    }


def _run_isolated(work: list, jobs: int):
    """Run ``_generate_and_write`` for each job in a fresh Python process, ``jobs`` at a time.

    Yields the results in job order. The job goes in as JSON on stdin, the result comes
    back as JSON on stdout (``python -m semser_tf.data.synthetic``).
    """
    from concurrent.futures import ThreadPoolExecutor

    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")

    def run(job):
        proc = subprocess.run(
            [sys.executable, "-m", "semser_tf.data.synthetic"],
            input=json.dumps(job), capture_output=True, text=True, env=env,
        )
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise SemserError(f"generating recording {job[0]} failed (exit {proc.returncode}):\n{tail}")
        return json.loads(proc.stdout)

    with ThreadPoolExecutor(max_workers=max(1, min(int(jobs), len(work)))) as pool:
        futures = [pool.submit(run, job) for job in work]
        try:
            for fut in futures:
                yield fut.result()
        finally:
            for fut in futures:
                fut.cancel()


def generate_corpus(out_dir, minutes: float = 10.0, seed: int = 0, voices=None,
                    recording_seconds: float = 60.0, partitions=None, progress: bool = True,
                    overwrite: bool = False, lag_s: float = ANNOTATION_LAG_S, jobs: int = 1) -> Path:
    """Generate a synthetic SEWA-layout corpus of ``minutes`` of speech.

    The corpus is built in a temporary folder next to ``out_dir`` and renamed to
    ``out_dir`` when complete, so an interrupted run leaves no partial corpus.

    Args:
        out_dir: destination folder; must not exist (or be empty) unless ``overwrite``.
        minutes: total audio length in minutes, split over the partitions.
        seed: random seed; the same seed gives byte-identical files.
        voices: eSpeak NG voices (default :data:`DEFAULT_VOICES`), assigned to the
            recordings in turn.
        recording_seconds: approximate length of each recording (at least 2 s).
        partitions: name -> fraction (default Train 0.6, Devel 0.2, Test 0.2).
        progress: draw a progress bar on stderr.
        overwrite: replace an existing ``out_dir``.
        lag_s: annotation delay of the labels in seconds.
        jobs: worker processes. Each recording is made in a fresh process (eSpeak NG
            carries state from one synthesis to the next, so this is what makes the
            audio reproducible); ``jobs`` of them run at a time.

    Returns:
        The corpus folder.

    Raises:
        ConfigError: bad sizes, partitions or voices; ``out_dir`` exists.

    Example:
        >>> generate_corpus("corpora/synth", minutes=2, seed=0)  # doctest: +SKIP
        PosixPath('corpora/synth')
    """
    from semser_tf.data import espeak

    out_dir = Path(out_dir)
    if not (isinstance(minutes, (int, float)) and minutes > 0):
        raise ConfigError(f"minutes must be a positive number, got {minutes!r}")
    if not (isinstance(recording_seconds, (int, float)) and recording_seconds >= 2.0):
        raise ConfigError(f"recording_seconds must be at least 2, got {recording_seconds!r}")
    partitions = dict(PARTITIONS if partitions is None else partitions)
    voices = list(DEFAULT_VOICES if voices is None else voices)
    if not voices:
        raise ConfigError("voices must name at least one eSpeak NG voice")
    for v in voices:  # fail before any work on an unknown voice
        espeak.synthesize("a", voice=v)
    if not (isinstance(lag_s, (int, float)) and 0 <= lag_s < 3600):
        raise ConfigError(f"lag_s (--lag) must be a delay of 0 s or more, got {lag_s!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs (--jobs) must be a positive integer, got {jobs!r}")
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: is a file; expected a folder for the corpus (or a new path)")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise ConfigError(f"{out_dir}: output folder exists and is not empty (pass overwrite=True, or --overwrite)")
    if overwrite:  # only a corpus this generator wrote is replaced
        check_replaceable(out_dir, "corpus", option="overwrite=True (--overwrite)")
    plan = _plan(float(minutes), float(recording_seconds), partitions)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=str(out_dir.parent)))
    bar = _Progress(sum(length for _, length in plan), progress)
    try:
        root_seq = np.random.SeedSequence(int(seed))
        work = [
            (name, length, voices[i % len(voices)], root_seq.entropy, list(child.spawn_key), str(tmp), lag_s)
            for i, ((name, length), child) in enumerate(zip(plan, root_seq.spawn(len(plan))))
        ]
        records = {}
        done = 0.0
        counts = {"sentences": 0, "words": 0, "audio_seconds": 0.0}
        t0 = time.perf_counter()
        for i, info in enumerate(_run_isolated(work, jobs)):
            name, length = plan[i]
            counts["sentences"] += len(info["sentences"])
            counts["words"] += info.pop("n_words")
            counts["audio_seconds"] += info["seconds"]
            records[name] = info
            done += length
            bar.update(done, f"{i + 1}/{len(plan)} recordings")
        elapsed = time.perf_counter() - t0
        bar.close()
        meta = {
            "format": "SEWA (AVEC 2017) layout with words/",
            "generator": "semser_tf.data.synthetic",
            "generator_version": GENERATOR_VERSION,
            "seed": int(seed),
            "minutes": float(minutes),
            "recording_seconds": float(recording_seconds),
            "partitions": {p: [n for n, _ in plan if n.rsplit("_", 1)[0] == p] for p in partitions},
            "voices": voices,
            "sample_rate": SAMPLE_RATE,
            "frame_rate": FRAME_RATE,
            "targets": ["arousal", "valence", "liking"],
            "labels": {
                "annotation_lag_s": lag_s,
                "smoothing_tau_s": SMOOTHING_TAU_S,
                "valence_relax_tau_s": VALENCE_RELAX_TAU_S,
                "liking": f"{LIKING_WEIGHTS[0]} * valence + {LIKING_WEIGHTS[1]} * arousal",
                "arousal": f"tanh(c + {AROUSAL_SCALE} z), z unit-variance Gaussian-smoothed noise "
                           f"(sigma {AROUSAL_SIGMA_S} s), c ~ U(-0.2, 0.2)",
                "prosody": "rate = 170 + 50 a, pitch = 50 + 25 a, pitch_range = 50 + 40 a, volume = 100 + 40 a",
            },
            "noise_dbfs": NOISE_DBFS,
            "lexicon": lexicon_sizes(),
            "sizes": {
                "recordings": len(plan),
                "audio_seconds": round(counts["audio_seconds"], 3),
                "sentences": counts["sentences"],
                "words": counts["words"],
            },
            "recordings": records,
        }
        atomic_write_text(tmp / "corpus.json", json.dumps(meta, indent=1, sort_keys=True) + "\n")
        if out_dir.exists():
            if out_dir.is_dir() and not any(out_dir.iterdir()):
                out_dir.rmdir()
            elif overwrite:
                shutil.rmtree(out_dir)
            else:  # appeared meanwhile
                raise ConfigError(f"{out_dir}: output folder exists and is not empty (pass overwrite=True, or --overwrite)")
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if progress:
        speed = counts["audio_seconds"] / max(elapsed, 1e-9)
        print(f"{out_dir}: {len(plan)} recordings, {counts['audio_seconds'] / 60:.2f} min of audio "
              f"in {elapsed:.1f} s ({speed:.0f} audio s per s)", file=sys.stderr)
    return out_dir


def read_corpus_meta(root) -> dict:
    """Read ``corpus.json`` of a generated corpus.

    Args:
        root: the corpus folder.

    Returns:
        The parsed metadata.

    Raises:
        DataError: missing or not valid JSON.

    Example:
        >>> read_corpus_meta("corpora/synth")["seed"]  # doctest: +SKIP
        0
    """
    path = Path(root) / "corpus.json"
    if not path.is_file():
        raise DataError("no corpus.json: not a generated corpus", path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"corpus.json is not valid JSON: {err.msg}", path, err.lineno) from err


def _worker_main() -> int:
    """Entry of the isolated worker: one job (JSON) on stdin, its metadata (JSON) on stdout."""
    job = json.loads(sys.stdin.read())
    try:
        info = _generate_and_write(tuple(job))
    except SemserError as err:  # a user error: its message is enough
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main())


def generate_text_corpus(path, sentences: int = 20000, seed: int = 0) -> Path:
    """Background text for Word2Vec: the analogue of the paper's external text corpus.

    The paper trains Word2Vec on a large text collection (German SWC wiki text), not on
    the emotion corpus's transcripts. The synthetic transcripts alone cannot give word
    vectors that carry sentiment: their templates put positive and negative words in the
    same slots, so the two share their contexts (measured: nearest-centroid polarity
    accuracy of such vectors is chance, 0.49). Real text is not like that: words of one
    polarity co-occur ("a lovely, wonderful day"). This writes ``sentences`` lines, each
    two or three template sentences sharing one strong mood (+1 or -1) joined by "and",
    so sentiment words co-occur with words of the same polarity, as in natural text.

    Args:
        path: the text file to write (UTF-8, one sentence per line), atomically.
        sentences: number of lines.
        seed: random seed (independent of the corpus's speech).

    Returns:
        The path.

    Example:
        >>> generate_text_corpus("/tmp/background.txt", sentences=10)  # doctest: +SKIP
    """
    rng = np.random.default_rng([seed, 7919])
    lines = []
    for _ in range(int(sentences)):
        mood = 1.0 if rng.random() < 0.5 else -1.0
        parts = [make_sentence(rng, mood)[0] for _ in range(int(rng.integers(2, 4)))]
        lines.append(" and ".join(parts))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
