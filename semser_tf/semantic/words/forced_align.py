"""Word timings for a known transcript: forced alignment with pocketsphinx.

pocketsphinx 5 aligns a given word sequence to audio (``Decoder.set_align_text``: a
left-to-right network of the words' pronunciations with optional silences between them,
searched with the bundled ``en-us`` acoustic model). This module gives every transcript
word its span in seconds of the original audio.

Transcripts:

* a text (``str``): the words of the whole recording, aligned as one utterance;
* timed sentences (:class:`semser_tf.data.timings.Sentence` or ``(start, end, text)``,
  e.g. SEWA's turn transcriptions): each sentence is aligned inside its own span, widened
  by ``pad`` seconds (0.25) on each side, so long recordings stay cheap.

Words are tokenised as the project's transcripts are
(:func:`semser_tf.data.timings.transcript_words`: tags such as ``<laughter>`` and edge
punctuation removed) and looked up lower-cased in the CMU dictionary. A word missing from
the dictionary cannot be aligned on its own. The aligner explains an unknown word's audio
as silence, so a run of unknown words first goes to the voiced part of the gap between
its aligned neighbours, when that part holds at least 50 ms per word; only otherwise does
it **share the span of the preceding aligned
word** (the following one at the start of a sentence) in proportion to the characters of
each. The aligner may instead stretch a neighbour over the unknown word's audio (seen with
"was wonderfulxyz and": "and" took the audio of "wonderful"), so unknown words cost their
neighbours' accuracy up to the next pause. The words returned are the transcript's, as
written.

When alignment fails, :class:`AlignmentError` names the sentence (and the file when
known): the decoder finds no path through the words (the transcript does not match the
audio, or there are more words than the audio can hold), or the alignment leaves much of
the speech unexplained (more than ``max_unexplained``, 25 %, of the voiced 10 ms frames lie
in silences of 0.3 s or more that it inserted: a transcript covering only part of what
is said). With ``on_failure="spread"`` the failing sentence instead falls back to the
project's character-count spreading over its span
(:func:`semser_tf.data.timings.spread_words`, which warns).

Example:
    >>> from semser_tf.semantic.words import align
    >>> align("talk.wav", transcript="the weather today was wonderful")  # doctest: +SKIP
    [WordTiming(start=0.0, end=0.11, word='the'), WordTiming(start=0.11, end=0.42, word='weather'), ...]
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from semser_tf.errors import ConfigError
from semser_tf.types import WordTiming

from .asr import (
    ASR_SAMPLE_RATE,
    BEAMS,
    FRAMES_PER_SECOND,
    RecognitionError,
    _frame_db,
    _lock,
    check_duration,
    decode_segments,
    decoder,
    fresh_decoders,
    is_silent,
    prepare_audio,
    use_lm_search,
)

__all__ = ["AlignmentError", "align", "read_transcript", "VOICED_DB", "MAX_UNEXPLAINED"]

VOICED_DB = -35.0
"""10 ms frames within this many dB of the loudest frame count as voiced (as in espeak.py)."""

MAX_UNEXPLAINED = 0.25
"""Largest share of voiced frames an alignment may put in its long silences."""

LONG_SILENCE = 0.3
"""Inserted silences at least this long (seconds) count for the unexplained share."""


class AlignmentError(RecognitionError):
    """A transcript could not be aligned to the audio."""


def read_transcript(transcript):
    """A transcript argument as ``(sentences, path)``.

    ``sentences`` is a list of ``(start, end, text)`` with ``start``/``end`` ``None`` for
    untimed text. Accepted: a text; a list of sentences or ``(start, end, text)``; a
    path to a timed transcript file (``start;end;'text'``, as SEWA's) or to a plain text
    file (its whole content is one text).
    """
    from semser_tf.data.timings import read_transcription

    if isinstance(transcript, Path):
        path = transcript
        if not path.is_file():
            raise AlignmentError("transcript file not found", path)
        text = path.read_text(encoding="utf-8", errors="replace")
        if _TIMED_LINE.match(text):  # start;end;'text' lines (errors name the line)
            sentences = read_transcription(path)
            return [(float(s.start), float(s.end), s.text) for s in sentences], path
        body = text.splitlines()
        if (
            body
            and _TIMED_HEADER.match(body[0])
            and len(body) > 1
            and _TIMED_LINE.match("\n".join(body[1:]))
        ):
            sentences = read_transcription(path)
            return [(float(s.start), float(s.end), s.text) for s in sentences], path
        return [(None, None, " ".join(text.split()))], path
    if isinstance(transcript, str):
        return [(None, None, transcript)], None
    try:
        out = [(float(s[0]), float(s[1]), str(s[2])) for s in transcript]
    except (TypeError, ValueError, IndexError) as err:
        raise ConfigError(
            "transcript: expected a text, a path, or (start, end, text) sentences"
        ) from err
    return out, None


_TIMED_LINE = re.compile(r"^\s*\d+(\.\d*)?\s*[;,]\s*\d")
_TIMED_HEADER = re.compile(r"^\s*['\"]?start['\"]?\s*[;,]", re.IGNORECASE)


def _dictionary_form(word: str) -> str:
    return word.replace("\u2019", "'").lower()


def _voiced(x: np.ndarray) -> np.ndarray:
    db = _frame_db(x)
    return db > db.max() + VOICED_DB


def _unexplained(voiced: np.ndarray, segments, words: list[WordTiming]) -> float:
    """Share of voiced frames inside long inserted silences that no word covers."""
    if not voiced.any():
        return 0.0
    inside = np.zeros_like(voiced)
    for s, e, w in segments:
        if w is None and e - s >= LONG_SILENCE:
            inside[int(round(s * FRAMES_PER_SECOND)) : int(round(e * FRAMES_PER_SECOND))] = True
    for w in words:
        inside[int(round(w.start * FRAMES_PER_SECOND)) : int(round(w.end * FRAMES_PER_SECOND))] = (
            False
        )
    return float((voiced & inside).sum() / voiced.sum())


def _share(start: float, end: float, words: list[str]) -> list[WordTiming]:
    lengths = np.array([max(len(w), 1) for w in words], dtype=np.float64)
    edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(lengths) / lengths.sum()])
    return [WordTiming(float(edges[k]), float(edges[k + 1]), w) for k, w in enumerate(words)]


def _place_unknown(words, timings, voiced, duration):
    """Give the runs of out-of-dictionary words (``None`` in ``timings``) their spans.

    A run goes to the voiced part of the gap the alignment left between its known
    neighbours (the aligner explains an unknown word's audio as silence) when that part
    holds at least 50 ms per word; otherwise it shares the preceding known word's span
    (the following one's at the start) by character counts.
    """
    n = len(words)
    i = 0
    while i < n:
        if timings[i] is not None:
            i += 1
            continue
        j = i
        while j < n and timings[j] is None:
            j += 1
        left = timings[i - 1][1] if i > 0 else 0.0
        right = timings[j][0] if j < n else duration
        fa, fb = int(round(left * FRAMES_PER_SECOND)), int(round(right * FRAMES_PER_SECOND))
        loud = np.nonzero(voiced[fa:fb])[0]
        run = [words[k] for k in range(i, j)]
        if loud.size and (loud[-1] + 1 - loud[0]) / FRAMES_PER_SECOND >= 0.05 * len(run):
            a, b = (fa + loud[0]) / FRAMES_PER_SECOND, (fa + loud[-1] + 1) / FRAMES_PER_SECOND
            for k, t in zip(range(i, j), _share(a, b, run)):
                timings[k] = t
        elif i > 0:  # share the preceding word's span
            t0 = timings[i - 1]
            shared = _share(t0[0], t0[1], [words[i - 1]] + run)
            for k, t in zip(range(i - 1, j), shared):
                timings[k] = t
        else:  # a leading run shares the following word's span
            t1 = timings[j]
            shared = _share(t1[0], t1[1], run + [words[j]])
            for k, t in zip(range(i, j + 1), shared):
                timings[k] = t
        i = j
    return timings


def _align_span(
    x: np.ndarray, offset: float, words: list[str], max_unexplained: float, where: str, path
) -> list[WordTiming]:
    d = decoder()
    known = [i for i, w in enumerate(words) if d.lookup_word(_dictionary_form(w)) is not None]
    if not known:
        raise AlignmentError(
            f"{where}: no word of the transcript is in the recogniser's English "
            f"dictionary ({' '.join(words[:8])!r}); expected English text",
            path,
        )
    text = " ".join(_dictionary_form(words[i]) for i in known)
    mismatch = f"{where}: the transcript does not match the audio"
    reason = ""
    for key in BEAMS:  # see BEAMS: retry when the search stops before the last word
        d = decoder(key)
        d.set_align_text(text)
        try:
            segments = decode_segments(d, x, 0.0, keep_fillers=True)
        finally:
            use_lm_search(d)
        if segments is None:
            reason = f"no alignment of its {len(words)} words to {len(x) / ASR_SAMPLE_RATE:.2f} s of audio"
            continue
        spans = [(s, e) for s, e, w in segments if w is not None]
        if len(spans) != len(known):
            reason = f"the alignment reached {len(spans)} of its {len(known)} dictionary words"
            continue
        break
    else:
        raise AlignmentError(f"{mismatch} ({reason})", path)
    timings: list = [None] * len(words)
    for k, (s, e) in zip(known, spans):
        timings[k] = WordTiming(float(s), float(e), words[k])
    voiced = _voiced(x)
    timings = _place_unknown(words, timings, voiced, len(x) / ASR_SAMPLE_RATE)
    share = _unexplained(voiced, segments, timings)
    if share > max_unexplained:
        raise AlignmentError(
            f"{mismatch} ({share:.0%} of the speech is left outside its words; at most "
            f"{max_unexplained:.0%} expected)",
            path,
        )
    return [WordTiming(offset + t.start, offset + t.end, t.word) for t in timings]


def align(
    audio,
    transcript,
    sample_rate: int | None = None,
    *,
    pad: float = 0.25,
    max_unexplained: float = MAX_UNEXPLAINED,
    on_failure: str = "raise",
) -> list[WordTiming]:
    """Word timings of a known English transcript, by forced alignment.

    Args:
        audio: a path or an array (with ``sample_rate``).
        transcript: a text, timed sentences ``(start, end, text)``, or a path (``Path``) to
            a timed transcript file or a plain text file (see :func:`read_transcript`).
        sample_rate: the rate of an array input.
        pad: seconds added on each side of a timed sentence's span before aligning it.
        max_unexplained: largest share of voiced frames the alignment may leave in its
            inserted silences before it counts as a mismatch.
        on_failure: ``"raise"`` (default) or ``"spread"`` (character-count spreading of the
            failing sentence over its span, or over the whole audio for untimed text).

    Returns:
        One timing per transcript word (tags and punctuation removed), in order, in
        seconds of the input.

    Raises:
        AlignmentError: the transcript does not match the audio, or has no dictionary
            word (with ``on_failure="raise"``); audio shorter than 0.1 s.
        ConfigError: a bad ``on_failure`` or transcript argument.
    """
    from semser_tf.data.timings import spread_words, transcript_words

    if on_failure not in ("raise", "spread"):
        raise ConfigError(f"on_failure={on_failure!r}: expected 'raise' or 'spread'")
    sentences, tpath = read_transcript(transcript)
    x, path = prepare_audio(audio, sample_rate)
    check_duration(x, path, "alignment")
    if is_silent(x):
        raise AlignmentError(
            "the audio is silent (no 10 ms frame above -50 dBFS): nothing to align "
            "the transcript to",
            path,
        )
    where_path = tpath or path
    duration = len(x) / ASR_SAMPLE_RATE
    out: list[WordTiming] = []
    with _lock:
        fresh_decoders()  # the same timings whatever the process decoded before
        for n, (start, end, text) in enumerate(sentences):
            words = transcript_words(text)
            if not words:
                continue
            where = (
                f"sentence {n + 1} ({text[:40]!r})"
                if len(sentences) > 1
                else f"transcript {text[:40]!r}"
            )
            if start is None:
                a, b = 0, len(x)
            else:
                a = max(0, int((start - pad) * ASR_SAMPLE_RATE))
                b = min(len(x), int(np.ceil((end + pad) * ASR_SAMPLE_RATE)))
                if b - a < int(0.1 * ASR_SAMPLE_RATE):
                    raise AlignmentError(
                        f"{where}: span {start:.2f}-{end:.2f} s lies outside the "
                        f"audio ({duration:.2f} s)",
                        where_path,
                    )
            try:
                out.extend(
                    _align_span(
                        x[a:b], a / ASR_SAMPLE_RATE, words, max_unexplained, where, where_path
                    )
                )
            except AlignmentError:
                if on_failure == "raise":
                    raise
                s0 = a / ASR_SAMPLE_RATE if start is None else start
                s1 = b / ASR_SAMPLE_RATE if end is None else end
                out.extend(spread_words([(s0, s1, text)], name=str(where_path or "audio")))
    return out
