"""One recording of the synthetic corpus: sentences spoken by eSpeak NG, labels, files."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semser_tf.constants import FRAME_RATE, SAMPLE_RATE, SAMPLES_PER_FRAME
from semser_tf.data.synthetic.labels import (
    ANNOTATION_LAG_S,
    AROUSAL_SCALE,
    AROUSAL_SIGMA_S,
    LIKING_WEIGHTS,
    MOOD_SCALE,
    MOOD_SIGMA_S,
    NOISE_DBFS,
    prosody_for_arousal,
    rating_filter,
    smooth_trajectory,
    valence_track,
)
from semser_tf.errors import ConfigError
from semser_tf.io import atomic_write_text
from semser_tf.types import WordTiming

__all__ = ["RECIPES", "GeneratedRecording", "SentenceInfo", "generate_recording", "write_recording"]

RECIPES = ("real", "template")
"""``real``: real English sentences rated with VADER (version 2.0); ``template``: the
built-in template lexicon (version 1.0, kept reproducible)."""


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

    extra: dict = field(default_factory=dict)  # recipe-specific: source unit, text before swaps

    def to_json(self) -> dict:
        out = {
            "text": self.text,
            "start": round(self.start, 6),
            "end": round(self.end, 6),
            "sentiment": round(self.sentiment, 6),
            "arousal": round(self.arousal, 6),
            "prosody": self.prosody,
            "word_sentiments": [round(s, 3) for s in self.sentiments],
        }
        out.update(self.extra)
        return out


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


def generate_recording(
    name: str,
    duration_s: float,
    voice: str,
    seed,
    lag_s: float = ANNOTATION_LAG_S,
    noise_dbfs: float = NOISE_DBFS,
    recipe: str = "template",
    text_split: str | None = None,
    lexicon=None,
) -> GeneratedRecording:
    """Generate one recording of ``duration_s`` seconds (rounded up to whole 100 ms frames).

    Args:
        name: the recording's name (e.g. ``"Train_01"``).
        duration_s: its length in seconds (at least 2).
        voice: eSpeak NG voice, e.g. ``"en-us+f2"``.
        seed: an int or ``np.random.SeedSequence``; text, prosody and noise use
            independent child streams of it.
        lag_s: annotation delay of the labels.
        noise_dbfs: background noise level (``None``: none).
        recipe: what is said: ``"real"`` (real English sentences, VADER ratings) or
            ``"template"`` (the built-in template lexicon); see :data:`RECIPES`.
        text_split: recipe ``real`` only: ``None`` (all sentence units), ``"train"``
            or ``"test"`` (the units outside / inside the held-out documents).
        lexicon: recipe ``real`` only: a word-rating file read with
            :func:`semser_tf.data.lexicon.load_lexicon` (default: VADER).

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
    if recipe == "template":
        from semser_tf.data.synthetic.template import LEXICON, make_sentence

        if text_split is not None or lexicon is not None:
            raise ConfigError("text_split and lexicon apply to recipe 'real' only")

        def next_sentence(rng, m):
            return make_sentence(rng, m)[0], {}

        def rating(word):
            return LEXICON.get(word.lower(), 0.0)
    elif recipe == "real":
        from semser_tf.data.lexicon import load_lexicon
        from semser_tf.data.synthetic.real import RealSentences, sentence_pool

        pool = sentence_pool(None if lexicon is None else load_lexicon(lexicon))
        source = RealSentences(pool, split=text_split)
        next_sentence, rating = source.next, source.rating
    else:
        raise ConfigError(f"recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))
    text_seq, prosody_seq, time_seq, noise_seq = seq.spawn(4)
    rng_text = np.random.default_rng(text_seq)
    rng_pros = np.random.default_rng(prosody_seq)
    rng_time = np.random.default_rng(time_seq)
    n_frames = int(math.ceil(round(duration_s * FRAME_RATE, 6)))
    n_samples = n_frames * SAMPLES_PER_FRAME
    arousal = smooth_trajectory(
        rng_pros,
        n_frames,
        AROUSAL_SIGMA_S * FRAME_RATE,
        AROUSAL_SCALE,
        float(rng_pros.uniform(-0.2, 0.2)),
    )
    mood = smooth_trajectory(
        rng_text,
        n_frames,
        MOOD_SIGMA_S * FRAME_RATE,
        MOOD_SCALE,
        float(rng_text.uniform(-0.3, 0.3)),
    )
    audio = np.zeros(n_samples, dtype=np.float32)
    sentences: list[SentenceInfo] = []
    t = float(rng_time.uniform(0.2, 1.0))
    while True:
        start_sample = int(round(t * SAMPLE_RATE))
        frame = min(int(t * FRAME_RATE), n_frames - 1)
        text, extra = next_sentence(rng_text, float(mood[frame]))
        a = float(arousal[frame])
        prosody = prosody_for_arousal(a)
        speech, timings = synthesize(
            text, voice=voice, seed=int(rng_time.integers(2**31)), **prosody
        )
        if not timings:
            break
        first = int(round(timings[0].start * SAMPLE_RATE))
        last = int(math.ceil(timings[-1].end * SAMPLE_RATE))
        speech = speech[first:last]
        if start_sample + len(speech) > n_samples - int(0.2 * SAMPLE_RATE):
            break
        audio[start_sample : start_sample + len(speech)] = speech
        offset = start_sample / SAMPLE_RATE - first / SAMPLE_RATE
        words = [
            WordTiming(round(w.start + offset, 6), round(w.end + offset, 6), w.word)
            for w in timings
        ]
        sentiments = [rating(w.word) for w in words]
        if recipe != "template":  # the label's inputs, unrounded (words/ has three decimals)
            extra = dict(extra, word_starts=[w.start for w in words])
        bearing = [s for s in sentiments if s != 0.0]
        sentences.append(
            SentenceInfo(
                text=text,
                start=words[0].start,
                end=words[-1].end,
                words=words,
                sentiments=sentiments,
                sentiment=float(np.mean(bearing)) if bearing else 0.0,
                arousal=a,
                prosody=prosody,
                extra=extra,
            )
        )
        t = (start_sample + len(speech)) / SAMPLE_RATE + float(rng_time.uniform(0.4, 1.6))
    if noise_dbfs is not None:
        rng_noise = np.random.default_rng(noise_seq)
        audio += (10.0 ** (noise_dbfs / 20.0) * rng_noise.standard_normal(n_samples)).astype(
            np.float32
        )
    valence = valence_track(sentences, n_frames)
    if recipe != "template":  # the voice's arousal: held at a(t0) while a sentence is spoken
        arousal = arousal.copy()
        for s in sentences:
            k0 = min(int(s.start * FRAME_RATE), n_frames - 1)
            arousal[k0 : min(n_frames, int(math.ceil(s.end * FRAME_RATE)))] = s.arousal
    liking = LIKING_WEIGHTS[0] * valence + LIKING_WEIGHTS[1] * arousal
    raw = np.stack([arousal, valence, liking], axis=1)
    labels = np.clip(rating_filter(raw, lag_s=lag_s), -1.0, 1.0)
    return GeneratedRecording(name, voice, audio, labels, raw, sentences)


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
    atomic_write_text(
        root / "turns" / f"{rec.name}.csv", "".join(f"{s:.3f};{e:.3f}\n" for s, e in rec.turns)
    )
    atomic_write_text(
        root / "transcriptions" / f"{rec.name}.csv",
        "".join(f"{s.start:.3f};{s.end:.3f};{_quote(s.text)}\n" for s in rec.sentences),
    )
    atomic_write_text(
        root / "words" / f"{rec.name}.csv",
        "".join(f"{w.start:.3f};{w.end:.3f};{w.word}\n" for w in rec.words),
    )
