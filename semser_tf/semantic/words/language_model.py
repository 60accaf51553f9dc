"""A domain language model for the recogniser, built from text (pocketsphinx's ARPA builder).

pocketsphinx's default trigram model covers general American English; speech from a
narrow domain (the synthetic corpus's templates, a call centre's prompts) is recognised
far better with a model of that domain's text. :func:`build_language_model` counts
trigrams of the given sentences with :class:`pocketsphinx.lm.ArpaBoLM` (Katz-style
back-off with a fixed discount mass of 0.5, the builder bundled with the pocketsphinx
wheel) and writes an ARPA file; ``recognize(..., language_model=path)`` then decodes with
it. Words missing from the recogniser's dictionary are dropped from the text (they could
never be recognised), and sentences are lower-cased and tokenised as transcripts are
(:func:`semser_tf.data.timings.transcript_words`).

Only words of the model can be recognised: keep the general model (the default) for open
speech.

Example:
    >>> lm = build_language_model(["the cake was wonderful", "the day was awful"], "/tmp/d.arpa")  # doctest: +SKIP
    >>> recognize("talk.wav", language_model=lm)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
from pathlib import Path

from semser_tf.errors import ConfigError

__all__ = ["build_language_model", "dictionary_words", "vocabulary_language_model"]


@functools.lru_cache(maxsize=1)
def dictionary_words() -> frozenset:
    """The words of the bundled CMU dictionary (variants such as ``to(2)`` folded)."""
    import pocketsphinx

    path = Path(pocketsphinx.get_model_path("en-us/cmudict-en-us.dict"))
    words = set()
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            head = line.split(" ", 1)[0]
            if head:
                words.add(head.split("(", 1)[0])
    return frozenset(words)


def build_language_model(texts, path, discount_mass: float = 0.5) -> Path:
    """Write an ARPA trigram model of ``texts`` to ``path`` (atomically).

    Args:
        texts: sentences (strings), or a path to a UTF-8 text file with one per line.
        path: the ``.arpa`` file to write.
        discount_mass: probability mass reserved for back-off (0 < m < 1).

    Returns:
        The path written.

    Raises:
        ConfigError: no sentence holds a dictionary word.
    """
    from pocketsphinx.lm import ArpaBoLM

    from semser_tf.data.timings import transcript_words
    from semser_tf.io import atomic_path

    if isinstance(texts, (str, Path)) and Path(texts).is_file():
        texts = Path(texts).read_text(encoding="utf-8", errors="replace").splitlines()
    known = dictionary_words()
    lines = []
    for text in texts:
        words = [w.replace("\u2019", "'").lower() for w in transcript_words(str(text))]
        words = [w for w in words if w in known]
        if words:
            lines.append(" ".join(words))
    if not lines:
        raise ConfigError("language model: no sentence holds a word of the recogniser's dictionary")
    lm = ArpaBoLM(text="\n".join(lines) + "\n", add_start=True, discount_mass=discount_mass)
    lm.compute()
    with atomic_path(path) as tmp:
        lm.write_file(str(tmp))
    return Path(path)


def vocabulary_language_model(words, path, counts=None, max_lines: int = 200_000) -> Path:
    """A unigram model of a vocabulary (e.g. a model's embedding table), written to ``path``.

    Recognition is then restricted to ``words`` (those in the recogniser's dictionary),
    each with probability proportional to its count (uniform without counts): the words a
    model has vectors for, when no text of the domain is at hand.

    Args:
        words: the vocabulary.
        path: the ``.arpa`` file to write.
        counts: occurrences per word (e.g. ``AlignedEmbeddings.counts``).
        max_lines: counts are scaled down so that at most this many one-word lines are counted.

    Returns:
        The path written.
    """
    words = [str(w) for w in words]
    if counts is None:
        counts = [1] * len(words)
    counts = [max(int(c), 1) for c in counts]
    if len(counts) != len(words):
        raise ConfigError("vocabulary language model: counts must have one entry per word")
    scale = min(1.0, max_lines / max(sum(counts), 1))
    lines = []
    for w, c in zip(words, counts):
        lines.extend([w] * max(1, int(round(c * scale))))
    return build_language_model(lines, path)
