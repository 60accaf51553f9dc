"""How far recognised or aligned words are from the truth: WER and word-boundary error.

* :func:`word_errors` - Levenshtein alignment of two word sequences (substitutions,
  deletions, insertions each cost 1), after :func:`normalize` (lower case, tags and edge
  punctuation removed, as the project's transcripts are tokenised).
* :func:`word_error_rate` - ``(S + D + I) / N`` of one utterance;
  :func:`corpus_word_error_rate` sums errors and reference words over utterances first.
* :func:`boundary_errors` - for the words the alignment matched (correct words only),
  the absolute differences of start and of end times in seconds.

Example:
    >>> word_error_rate("the cat sat on the mat", "the cat sat on mat too")
    0.3333333333333333
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = [
    "normalize",
    "WordErrors",
    "word_errors",
    "word_error_rate",
    "corpus_word_error_rate",
    "boundary_errors",
]


def normalize(words) -> list[str]:
    """Words of a text or a sequence (strings or ``WordTiming``), lower-cased, tags removed.

    Example:
        >>> normalize("Ja, <laughter> GENAU!")
        ['ja', 'genau']
    """
    from semser_tf.data.timings import transcript_words

    if isinstance(words, str):
        return [w.lower() for w in transcript_words(words)]
    out = []
    for w in words:
        text = w if isinstance(w, str) else w[2]
        out.extend(t.lower() for t in transcript_words(str(text)))
    return out


class WordErrors(NamedTuple):
    """Edit counts of a hypothesis against a reference, and the matched index pairs."""

    substitutions: int
    deletions: int
    insertions: int
    reference_words: int
    matches: list  # (reference index, hypothesis index) of correct words

    @property
    def wer(self) -> float:
        return (self.substitutions + self.deletions + self.insertions) / max(
            self.reference_words, 1
        )


def _edit_table(ref: Sequence[str], hyp: Sequence[str]) -> np.ndarray:
    n, m = len(ref), len(hyp)
    cost = np.zeros((n + 1, m + 1), np.int64)
    cost[:, 0] = np.arange(n + 1)
    cost[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            sub = cost[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1])
            cost[i, j] = min(sub, cost[i - 1, j] + 1, cost[i, j - 1] + 1)
    return cost


def word_errors(reference, hypothesis) -> WordErrors:
    """Levenshtein alignment of normalised word sequences.

    Ties prefer a match/substitution, then a deletion, then an insertion.

    Example:
        >>> e = word_errors("a b c d", "a x c")
        >>> e.substitutions, e.deletions, e.insertions, e.reference_words
        (1, 1, 0, 4)
    """
    ref, hyp = normalize(reference), normalize(hypothesis)
    cost = _edit_table(ref, hyp)
    i, j = len(ref), len(hyp)
    s = d = ins = 0
    matches = []
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i, j] == cost[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]):
            if ref[i - 1] == hyp[j - 1]:
                matches.append((i - 1, j - 1))
            else:
                s += 1
            i, j = i - 1, j - 1
        elif i > 0 and cost[i, j] == cost[i - 1, j] + 1:
            d += 1
            i -= 1
        else:
            ins += 1
            j -= 1
    return WordErrors(s, d, ins, len(ref), matches[::-1])


def word_error_rate(reference, hypothesis) -> float:
    """WER of one utterance: ``(S + D + I) / N`` (``N`` reference words; 0 words: errors / 1).

    Example:
        >>> word_error_rate("a b c d", "a x c")
        0.5
    """
    return word_errors(reference, hypothesis).wer


def corpus_word_error_rate(pairs) -> float:
    """WER over many utterances: errors and reference words summed before dividing.

    Args:
        pairs: ``(reference, hypothesis)`` items (texts or word sequences).

    Example:
        >>> corpus_word_error_rate([("a b", "a b"), ("c d", "c")])
        0.25
    """
    errors = [word_errors(r, h) for r, h in pairs]
    total = sum(e.substitutions + e.deletions + e.insertions for e in errors)
    return total / max(sum(e.reference_words for e in errors), 1)


def boundary_errors(reference, hypothesis) -> np.ndarray:
    """Absolute start and end differences (seconds) of the correctly matched words.

    Args:
        reference: ``WordTiming`` items (one word each).
        hypothesis: ``WordTiming`` items.

    Returns:
        ``(n_matched, 2)`` array: ``|start_ref - start_hyp|``, ``|end_ref - end_hyp|``.

    Example:
        >>> from semser_tf.types import WordTiming as W
        >>> boundary_errors([W(0, 1, "a"), W(1, 2, "b")], [W(0.1, 1, "a"), W(1, 2.5, "c")]).tolist()
        [[0.1, 0.0]]
    """
    ref = [w for w in reference if normalize([w])]
    hyp = [w for w in hypothesis if normalize([w])]
    matches = word_errors([w.word for w in ref], [w.word for w in hyp]).matches
    out = [(abs(ref[i].start - hyp[j].start), abs(ref[i].end - hyp[j].end)) for i, j in matches]
    return np.array(out, dtype=np.float64).reshape(-1, 2)
