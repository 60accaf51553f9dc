"""Evaluation and supervision of an alignment: precision@k against a known dictionary,
the identical-words dictionary and supervised Procrustes (MUSE, Conneau et al. 2018)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from semser_tf.errors import ConfigError
from semser_tf.semantic.alignment.csls import knn_mean_similarity
from semser_tf.semantic.alignment.refinement import refine
from semser_tf.semantic.alignment.tables import (
    _check_k,
    _check_mapping,
    _pair,
    apply_mapping,
    normalize_rows,
    procrustes,
)

# ------------------------------------------------------------------- evaluation


def precision_at_k(
    W,
    S,
    T,
    pairs,
    k: Sequence[int] = (1, 5),
    method: str = "csls",
    csls_k: int = 10,
    block: int = 2048,
) -> dict:
    """Translation precision of the mapping against a reference dictionary.

    A source word counts as correct at ``k`` when one of its reference targets is among
    its ``k`` best targets (searched over the whole target table).

    Args:
        W: mapping ``(dim, dim)``.
        S: source table ``(n_s, dim)``.
        T: target table ``(n_t, dim)``.
        pairs: reference ``(m, 2)`` array of ``(source row, target row)``; a source row
            may appear with several targets.
        k: the precisions to report.
        method: ``"csls"`` (default) or ``"nn"`` (plain cosine nearest neighbour).
        csls_k: CSLS neighbourhood size.
        block: rows per matrix product.

    Returns:
        ``{k: precision}`` with precisions in ``[0, 1]`` over the distinct source words.

    Raises:
        ConfigError: empty or out-of-range pairs, bad ``k`` or ``method``.

    Example:
        >>> precision_at_k(np.eye(2), np.eye(2), np.eye(2), [[0, 0], [1, 1]], csls_k=1)
        {1: 1.0, 5: 1.0}
    """
    S, T = _pair(S, T)
    W = _check_mapping(W, S.shape[1])
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.shape[0] == 0:
        raise ConfigError(
            f"pairs: expected a non-empty (m, 2) array of (source, target) rows, got shape {pairs.shape}"
        )
    pairs = pairs.astype(np.int64)
    if (
        pairs[:, 0].min() < 0
        or pairs[:, 0].max() >= S.shape[0]
        or pairs[:, 1].min() < 0
        or pairs[:, 1].max() >= T.shape[0]
    ):
        raise ConfigError("pairs: row index out of range of the source or target table")
    ks = sorted({_check_k(x, "k") for x in k})
    top = min(max(ks), T.shape[0])
    src = np.unique(pairs[:, 0])
    X = apply_mapping(W, S)
    if method == "csls":
        rx = knn_mean_similarity(X[src], T, csls_k, block)
        ry = knn_mean_similarity(T, X, csls_k, block)
    elif method == "nn":
        rx = np.zeros(src.shape[0], dtype=X.dtype)
        ry = np.zeros(T.shape[0], dtype=X.dtype)
    else:
        raise ConfigError(f"method: expected 'csls' or 'nn', got {method!r}")
    Xn, Tn = normalize_rows(X[src]), normalize_rows(T)
    sc = 2 * (Xn @ Tn.T) - rx[:, None] - ry[None, :]
    idx = np.argsort(-sc, axis=1, kind="stable")[:, :top]
    gold = {}
    for s, t in pairs:
        gold.setdefault(int(s), set()).add(int(t))
    out = {}
    for kk in ks:
        hits = [bool(gold[int(s)] & set(idx[r, :kk].tolist())) for r, s in enumerate(src)]
        out[kk] = float(np.mean(hits))
    return out


def identical_words_dictionary(
    source_words: Sequence[str], target_words: Sequence[str], max_pairs: int | None = None
) -> np.ndarray:
    """The supervised dictionary: every word spelled the same in both vocabularies.

    Args:
        source_words: source vocabulary, row order.
        target_words: target vocabulary, row order.
        max_pairs: keep only the first (most frequent source) pairs.

    Returns:
        ``(m, 2)`` int64 array of ``(source row, target row)`` in source order.

    Example:
        >>> identical_words_dictionary(["a", "b", "c"], ["c", "a"]).tolist()
        [[0, 1], [2, 0]]
    """
    where = {}
    for j, w in enumerate(target_words):
        where.setdefault(w, j)
    pairs = [(i, where[w]) for i, w in enumerate(source_words) if w in where]
    if max_pairs is not None:
        pairs = pairs[: int(max_pairs)]
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def supervised_align(S, T, pairs, refine_iterations: int = 0, **refine_kwargs) -> np.ndarray:
    """Procrustes on a given dictionary (e.g. identical words), optionally refined.

    Args:
        S: source table.
        T: target table.
        pairs: ``(m, 2)`` dictionary of ``(source row, target row)``.
        refine_iterations: CSLS refinements after the supervised solution (0: none).
        **refine_kwargs: passed to :func:`refine`.

    Returns:
        The mapping ``W`` ``(dim, dim)``.

    Example:
        >>> supervised_align(np.eye(2), np.eye(2), [[0, 0], [1, 1]]).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    S, T = _pair(S, T)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if pairs.shape[0] == 0:
        raise ConfigError("pairs: empty dictionary; expected at least one (source, target) pair")
    W = procrustes(S[pairs[:, 0]], T[pairs[:, 1]])
    if refine_iterations:
        W = refine(W, S, T, iterations=refine_iterations, **refine_kwargs).W
    return W
