"""End to end: align a Speech2Vec table onto a Word2Vec table, evaluate, build the artifact.

Preprocessing (MUSE's ``center,renorm``): each table has its mean vector subtracted and
every row scaled to unit length, so that a rotation can align them (Speech2Vec and
Word2Vec vectors have unrelated offsets and scales).

Evaluation: the reference dictionary is the set of words present in both vocabularies
(identical words). It is split, with a seeded shuffle, into a **train** half (the
supervised dictionary) and a **test** half; precision@k is always reported on the test
half only, for both modes, so that the supervised numbers never count the words they
were fitted on. The unsupervised mode uses no dictionary at all.

Example:
    >>> res = align_tables(sw, sv, tw, tv, method="supervised")  # doctest: +SKIP
    >>> res.scores["test"]["p_at_1"]                              # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from semser_tf.errors import ConfigError
from semser_tf.semantic import alignment as al

__all__ = ["preprocess", "split_dictionary", "AlignmentOutcome", "align_tables"]


def preprocess(X) -> tuple[np.ndarray, np.ndarray]:
    """Centre and unit-normalise a table.

    Args:
        X: ``(n, dim)`` table.

    Returns:
        ``(normalised table, mean vector)``.

    Example:
        >>> Y, m = preprocess(np.array([[1.0, 0.0], [3.0, 0.0]]))
        >>> Y.tolist(), m.tolist()
        ([[-1.0, 0.0], [1.0, 0.0]], [2.0, 0.0])
    """
    X = al.as_table(X, "table").astype(np.float32)
    mean = X.mean(axis=0)
    return al.normalize_rows(X - mean), mean


def split_dictionary(
    pairs: np.ndarray, test_fraction: float = 0.5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split reference pairs into a train dictionary and a disjoint test set.

    Args:
        pairs: ``(m, 2)`` identical-word pairs.
        test_fraction: share of pairs held out for evaluation.
        seed: shuffle seed.

    Returns:
        ``(train_pairs, test_pairs)``, each sorted by source row.

    Example:
        >>> tr, te = split_dictionary(np.array([[0, 0], [1, 1], [2, 2], [3, 3]]))
        >>> len(tr), len(te)
        (2, 2)
    """
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction: expected a value in (0, 1), got {test_fraction!r}")
    perm = np.random.default_rng(seed).permutation(len(pairs))
    n_test = int(round(len(pairs) * test_fraction))
    test, train = pairs[np.sort(perm[:n_test])], pairs[np.sort(perm[n_test:])]
    return train, test


class AlignmentOutcome(NamedTuple):
    """Result of :func:`align_tables`.

    Args:
        W: the mapping (acts on column vectors of the preprocessed speech space).
        source_mean: mean subtracted from the speech vectors.
        target: the preprocessed text table.
        target_mean: mean subtracted from the text vectors.
        scores: ``{"test": {...}, "dictionary_and_test": {...}, "criterion": float, ...}``;
            ``test`` counts only the held-out words, ``dictionary_and_test`` all identical
            words including the supervised dictionary's own pairs (not a generalisation figure).
        history: training / refinement history.
    """

    W: np.ndarray
    source_mean: np.ndarray
    target: np.ndarray
    target_mean: np.ndarray
    scores: dict
    history: dict


def align_tables(
    speech_words: Sequence[str],
    speech_vectors,
    text_words: Sequence[str],
    text_vectors,
    method: str = "unsupervised",
    adversarial: al.AdversarialConfig | None = None,
    refine_iterations: int = 5,
    test_fraction: float = 0.5,
    seed: int = 0,
    progress: Callable[[dict], None] | None = None,
) -> AlignmentOutcome:
    """Align speech vectors onto text vectors and score the result on held-out words.

    Args:
        speech_words: speech vocabulary, most frequent first.
        speech_vectors: ``(n_s, dim)``.
        text_words: text vocabulary, most frequent first.
        text_vectors: ``(n_t, dim)``, same ``dim``.
        method: ``"unsupervised"`` (adversarial, then CSLS refinement) or
            ``"supervised"`` (Procrustes on the train half of the identical words, then
            refinement).
        adversarial: settings of the adversarial stage (unsupervised mode).
        refine_iterations: CSLS/Procrustes refinements (5; 0 for none).
        test_fraction: share of identical words held out for evaluation.
        seed: dictionary split seed.
        progress: called with each history entry.

    Returns:
        :class:`AlignmentOutcome`; ``scores["test"]`` holds P@1 / P@5 (CSLS) and
        ``p_at_1_nn`` (plain nearest neighbour) on the held-out identical words.

    Raises:
        ConfigError: mismatched dimensions, empty vocabularies, unknown method, or fewer
            than 2 identical words (nothing to evaluate on).

    Example:
        >>> out = align_tables(sw, sv, tw, tv, method="unsupervised")  # doctest: +SKIP
    """
    S_raw = al.as_table(speech_vectors, "speech vectors")
    T_raw = al.as_table(text_vectors, "text vectors")
    if T_raw.shape[1] != S_raw.shape[1]:
        raise ConfigError(
            f"align: speech vectors have dimension {S_raw.shape[1]}, the text space {T_raw.shape[1]}; "
            f"train Speech2Vec with --dim {T_raw.shape[1]} (the mapping is square)"
        )
    if len(speech_words) != S_raw.shape[0] or len(text_words) != T_raw.shape[0]:
        raise ConfigError("align: one word per vector row expected on both sides")
    S, s_mean = preprocess(S_raw)
    T, t_mean = preprocess(T_raw)
    gold = al.identical_words_dictionary(speech_words, text_words)
    if len(gold) < 2:
        raise ConfigError(
            f"align: only {len(gold)} word(s) common to both vocabularies; "
            "need at least 2 to evaluate (check word normalisation)"
        )
    train, test = split_dictionary(gold, test_fraction, seed)
    history = {}
    t0 = time.perf_counter()
    dim = S.shape[1]
    if method == "supervised":
        W = al.procrustes(S[train[:, 0]], T[train[:, 1]])
        history["dictionary_pairs"] = int(len(train))
    elif method == "unsupervised":
        res = al.adversarial_align(S, T, adversarial, progress=progress)
        W = res.W
        history["adversarial"] = res.history
    else:
        raise ConfigError(f"align method: expected 'unsupervised' or 'supervised', got {method!r}")
    before = al.precision_at_k(W, S, T, test)
    if refine_iterations:
        ref = al.refine(W, S, T, iterations=refine_iterations, log=progress)
        W = ref.W
        history["refinement"] = ref.history
    scores = {
        "method": method,
        "identical_words": int(len(gold)),
        "train_pairs": int(len(train)) if method == "supervised" else 0,
        "test_pairs": int(len(test)),
        "test_before_refinement": {f"p_at_{k}": v for k, v in before.items()},
        "test": {f"p_at_{k}": v for k, v in al.precision_at_k(W, S, T, test).items()},
        "dictionary_and_test": {
            f"p_at_{k}": v for k, v in al.precision_at_k(W, S, T, gold).items()
        },
        "criterion": al.unsupervised_criterion(W, S, T),
        "identity_test": {
            f"p_at_{k}": v for k, v in al.precision_at_k(np.eye(dim), S, T, test).items()
        },
        "seconds": round(time.perf_counter() - t0, 2),
    }
    scores["test"]["p_at_1_nn"] = al.precision_at_k(W, S, T, test, k=(1,), method="nn")[1]
    return AlignmentOutcome(W.astype(np.float32), s_mean, T, t_mean, scores, history)
