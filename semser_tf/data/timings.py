"""Word timings: word-level files, sentence transcripts, and the fallback between them.

SEWA ships sentence-level transcripts (``transcriptions/<name>.csv``:
``start;end;'text'``); the official code ran a forced aligner to get word timings. Here
word timings come from a word-level file (``words/<name>.csv``: ``start;end;word``) when
there is one. Otherwise the **fallback** spreads each transcript sentence's words over
the sentence's ``[start, end]`` span in proportion to their length in characters (tags
such as ``<laughter>`` removed, punctuation at word edges removed), and warns, naming the
recording, because such timings are an approximation.

Example:
    >>> words = word_timings(None, "transcriptions/Train_01.csv", name="Train_01")  # doctest: +SKIP
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import NamedTuple

from semser_tf.data.text_files import is_number, parse_number, read_rows, strip_quotes
from semser_tf.errors import DataError
from semser_tf.types import WordTiming

__all__ = [
    "Sentence",
    "read_transcription",
    "read_words",
    "read_words_arg",
    "transcript_words",
    "spread_words",
    "word_timings",
    "ApproximateTimingWarning",
]

_TAG = re.compile(r"<[^<>]*>|\[[^\[\]]*\]")
_EDGE = " \t.,;:!?\"'`()[]{}«»„“”‚‘’…-–—/*"


class ApproximateTimingWarning(UserWarning):
    """Word timings were spread over transcript sentences, not read from a word file."""


class Sentence(NamedTuple):
    """One transcript line.

    Args:
        start: onset in seconds.
        end: offset in seconds.
        text: the text as written (tags included, quotes removed).
    """

    start: float
    end: float
    text: str


def _read_timed_text(
    path, what: str, expected: str, exact: bool = False
) -> list[tuple[int, float, float, str]]:
    rows, delimiter = read_rows(path, min_fields=3, maxsplit=2, expected=expected)
    if rows and not is_number(rows[0].fields[0]):
        rows = rows[1:]  # header row
    out = []
    prev_start = None
    prev_line = None
    for row in rows:
        start = parse_number(row.fields[0], path, row.line, "start time")
        end = parse_number(row.fields[1], path, row.line, "end time")
        if start < 0:
            raise DataError(f"negative start time {start}: expected >= 0", path, row.line)
        if end < start:
            raise DataError(
                f"non-monotonic time: end {end} before start {start}; expected {expected} "
                "with start <= end",
                path,
                row.line,
            )
        if prev_start is not None and start < prev_start:
            raise DataError(
                f"non-monotonic time: start {start} is before the start of line {prev_line} "
                f"({prev_start}); expected {what} in time order",
                path,
                row.line,
            )
        raw = row.fields[2]
        if (
            exact
            and delimiter in raw
            and not (len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"")
        ):
            n = 2 + len(raw.split(delimiter))
            raise DataError(
                f"{n} columns: expected exactly 3 ({expected}); quote a word that contains {delimiter!r}",
                path,
                row.line,
            )
        text = strip_quotes(raw, path, row.line, "text")
        out.append((row.line, start, end, text))
        prev_start, prev_line = start, row.line
    return out


def read_transcription(path) -> list[Sentence]:
    """Read a sentence-level transcript ``start;end;'text'``.

    Accepts a header row or none, ``;`` or ``,`` separators, quoted (``'...'`` or
    ``"..."``) or unquoted text (which may itself contain the separator), CRLF line ends,
    blank lines and UTF-8 (latin-1 fallback with a warning).

    Args:
        path: the transcript file.

    Returns:
        The sentences in file order.

    Raises:
        DataError: missing column, non-numeric or NaN time, ``end < start``, a start
            before the previous line's start, or unbalanced quotes; the message names the
            file and the line.

    Example:
        >>> read_transcription("transcriptions/Train_01.csv")[0]  # doctest: +SKIP
        Sentence(start=0.52, end=2.1, text='Hallo <laughter> ja')
    """
    rows = _read_timed_text(path, "sentences", "start;end;'text'")
    return [Sentence(s, e, t) for _, s, e, t in rows]


def read_words(path) -> list[WordTiming]:
    """Read a word-level timing file ``start;end;word``.

    Same tolerance as :func:`read_transcription`, but a line has exactly three columns:
    an extra column is an error (a word holding the separator must be quoted). Empty
    words are kept as ``""``.

    Args:
        path: the word file.

    Returns:
        The word timings in file order.

    Raises:
        DataError: as :func:`read_transcription`, naming the file and line.

    Example:
        >>> read_words("words/Train_01.csv")[:1]  # doctest: +SKIP
        [WordTiming(start=0.52, end=0.9, word='Hallo')]
    """
    rows = _read_timed_text(path, "words", "start;end;word", exact=True)
    return [WordTiming(s, e, t.strip()) for _, s, e, t in rows]


def transcript_words(text: str) -> list[str]:
    """Split transcript text into words: tags (``<laughter>``, ``[noise]``) and
    punctuation at word edges removed; letters of any script kept.

    Args:
        text: one transcript sentence.

    Returns:
        The words in order.

    Example:
        >>> transcript_words("Ja, <filler> äh... genau!")
        ['Ja', 'äh', 'genau']
    """
    out = []
    for token in _TAG.sub(" ", text).split():
        word = token.strip(_EDGE)
        if word:
            out.append(word)
    return out


def spread_words(sentences, name: str | None = None, warn: bool = True) -> list[WordTiming]:
    """The fallback: spread each sentence's words over its span by character length.

    A sentence ``[start, end]`` with words ``w1..wk`` of lengths ``l1..lk`` gives word
    ``j`` the span ``start + (end - start) * [L(j-1), L(j)] / L(k)`` with ``L`` the
    cumulative length. Sentences without words give nothing.

    Args:
        sentences: :class:`Sentence` items (or ``(start, end, text)`` tuples).
        name: the recording, named in the warning.
        warn: issue an :class:`ApproximateTimingWarning` (once per call).

    Returns:
        Word timings in order.

    Example:
        >>> spread_words([Sentence(0.0, 3.0, "ab c")], warn=False)
        [WordTiming(start=0.0, end=2.0, word='ab'), WordTiming(start=2.0, end=3.0, word='c')]
    """
    out = []
    for start, end, text in sentences:
        words = transcript_words(text)
        if not words:
            continue
        total = float(sum(len(w) for w in words))
        acc = 0
        for w in words:
            a = start + (end - start) * acc / total
            acc += len(w)
            b = start + (end - start) * acc / total
            out.append(WordTiming(a, b, w))
    if warn and out:
        warnings.warn(
            f"{name or 'recording'}: no word-level timings; word times spread over transcript "
            "sentences by character length (approximate)",
            ApproximateTimingWarning,
            stacklevel=2,
        )
    return out


def word_timings(
    words_path=None, transcription_path=None, name: str | None = None, warn: bool = True
) -> list[WordTiming]:
    """Word timings of one recording: from the word file if it exists, else the fallback.

    Args:
        words_path: ``words/<name>.csv`` or ``None``.
        transcription_path: ``transcriptions/<name>.csv`` or ``None``.
        name: the recording, named in the fallback's warning.
        warn: warn when the fallback is used (a corpus warns once for all its recordings).

    Returns:
        The word timings; empty when neither file exists.

    Raises:
        DataError: a file exists but cannot be read.

    Example:
        >>> word_timings("words/Train_01.csv", "transcriptions/Train_01.csv")  # doctest: +SKIP
    """
    if words_path is not None and Path(words_path).is_file():
        return read_words(words_path)
    if transcription_path is not None and Path(transcription_path).is_file():
        return spread_words(read_transcription(transcription_path), name=name, warn=warn)
    return []


def read_words_arg(words) -> list[WordTiming]:
    """Word timings from a words file (``start;end;word``), a list of
    ``(start, end, word)``, or ``None`` (no words): the ``words=`` argument of prediction
    and streaming."""
    if words is None:
        return []
    if isinstance(words, (str, Path)):
        return read_words(words)
    return [WordTiming(float(w[0]), float(w[1]), str(w[2])) for w in words]
