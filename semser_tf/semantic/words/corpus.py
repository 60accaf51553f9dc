"""Words for a whole corpus that has no word files: recognised or aligned once, cached.

:func:`fill_corpus_words` gives every recording of a corpus
(:class:`semser_tf.data.corpus.Corpus`: a SEWA-layout folder or a manifest) that has no
word-level timings its words from the audio: the forced alignment of its transcript when
there is one (SEWA's ``transcriptions/<name>.csv``, aligned sentence by sentence in its
span, instead of the character-count spreading the loader falls back to), else speech
recognition. Each result is stored as a words file (``start;end;word``) in a cache folder,
under a name that changes with the audio file (size, modification time), the transcript
and the word source's settings, so each recording is processed once and stale results are
never reused. :func:`write_corpus_words` writes the missing ``words/<name>.csv`` of a
SEWA-layout corpus, so that every command (``train``, ``evaluate``, ``finetune``,
``embed``) then reads them like any word file; existing files are never touched.

Example:
    >>> from semser_tf.data.sewa import SEWACorpus
    >>> corpus = SEWACorpus("corpora/new")                                    # doctest: +SKIP
    >>> report = fill_corpus_words(corpus, "cache/words")                     # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from semser_tf.errors import ConfigError

from .source import WordSource, write_words

__all__ = ["transcript_path", "cache_name", "fill_corpus_words", "write_corpus_words"]


def transcript_path(recording) -> Path | None:
    """The recording's sentence transcript (SEWA layout: ``transcriptions/<name>.csv``), if any."""
    audio = Path(recording.audio_path)
    candidate = audio.parent.parent / "transcriptions" / f"{recording.name}.csv"
    return candidate if candidate.is_file() else None


def _has_word_file(recording) -> bool:
    audio = Path(recording.audio_path)
    return (audio.parent.parent / "words" / f"{recording.name}.csv").is_file()


def cache_name(recording, source: WordSource, transcript: Path | None) -> str:
    """The cache file name of one recording's words (changes with audio, transcript, source)."""
    st = Path(recording.audio_path).stat()
    h = hashlib.sha256()
    h.update(
        f"{Path(recording.audio_path).resolve()}:{st.st_size}:{st.st_mtime_ns}:{source.cache_key}".encode()
    )
    if transcript is not None:
        h.update(Path(transcript).read_bytes())
    return f"{recording.name}.{h.hexdigest()[:16]}.csv"


def fill_corpus_words(
    corpus,
    cache_dir,
    source: WordSource | None = None,
    only_missing: bool = True,
    progress: bool = False,
) -> dict:
    """Give the recordings without word timings words from their audio (cached).

    Args:
        corpus: a :class:`~semser_tf.data.corpus.Corpus`; its recordings' ``words`` are
            replaced in place.
        cache_dir: folder of the cached words files.
        source: the word source (default ``WordSource("auto", on_failure="spread")``: a
            sentence that does not align falls back to character-count spreading).
        only_missing: leave recordings that have a word file alone (default); ``False``
            redoes every recording (e.g. to compare recognition with the true words).
        progress: print one line per recording processed.

    Returns:
        Counts: ``{"aligned": n, "recognised": n, "cached": n, "kept": n}``.
    """
    from semser_tf.data.timings import read_words

    source = source or WordSource("auto", on_failure="spread")
    if source.mode in ("file", "none"):
        raise ConfigError(
            f"fill_corpus_words: word source mode {source.mode!r} gives no words from audio"
        )
    cache_dir = Path(cache_dir)
    counts = {"aligned": 0, "recognised": 0, "cached": 0, "kept": 0}
    for rec in corpus.recordings():
        if only_missing and _has_word_file(rec):
            counts["kept"] += 1
            continue
        transcript = transcript_path(rec) if source.mode in ("auto", "align") else None
        cached = cache_dir / cache_name(rec, source, transcript)
        if cached.is_file():
            rec.words = read_words(cached) if cached.stat().st_size else []
            counts["cached"] += 1
            continue
        result = source.words(rec.audio_path, transcript=transcript)
        write_words(cached, result.words)
        rec.words = read_words(cached) if result.words else []  # as a later run reads them back
        counts["aligned" if result.source == "align" else "recognised"] += 1
        if progress:
            print(f"{rec.name}: {len(rec.words)} words ({result.source})", file=sys.stderr)
    return counts


def write_corpus_words(
    root, cache_dir=None, source: WordSource | None = None, progress: bool = True
) -> dict:
    """Write ``words/<name>.csv`` for every recording of a SEWA-layout corpus that lacks one.

    Args:
        root: the corpus folder.
        cache_dir: cache of :func:`fill_corpus_words` (default ``root/.words-cache``).
        source: as :func:`fill_corpus_words`.
        progress: print one line per recording.

    Returns:
        The counts of :func:`fill_corpus_words` plus ``"written"``.
    """
    import warnings

    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.data.timings import ApproximateTimingWarning

    root = Path(root)
    with warnings.catch_warnings():  # the loader's spreading warnings: replaced right below
        warnings.simplefilter("ignore", ApproximateTimingWarning)
        corpus = SEWACorpus(root)
    missing = [r for r in corpus.recordings() if not _has_word_file(r)]
    counts = fill_corpus_words(
        corpus, cache_dir or root / ".words-cache", source, progress=progress
    )
    for rec in missing:
        write_words(root / "words" / f"{rec.name}.csv", rec.words)
    counts["written"] = len(missing)
    return counts
