"""Unsupervised refinement: CSLS dictionaries, the unsupervised criterion, iterated Procrustes
(MUSE, Conneau et al. 2018)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from semser_tf.errors import ConfigError
from semser_tf.semantic.alignment.csls import _csls_pass, _Pass, _Workspace
from semser_tf.semantic.alignment.tables import (
    _check_k,
    _check_mapping,
    _pair,
    apply_mapping,
    procrustes,
)


def _mutual(p: _Pass) -> np.ndarray:
    src = np.arange(p.s2t.shape[0])
    ok = p.t2s[p.s2t] == src
    return np.stack([src[ok], p.s2t[ok]], axis=1).astype(np.int64)


def build_dictionary(
    X, Y, k: int = 10, max_rank: int = 15000, method: str = "mutual", block: int = 256
) -> np.ndarray:
    """Induce a dictionary from mapped source vectors and target vectors under CSLS.

    Args:
        X: mapped source vectors ``(n_s, dim)`` (``S @ W.T``), most frequent first.
        Y: target vectors ``(n_t, dim)``, most frequent first.
        k: CSLS neighbourhood size.
        max_rank: only the ``max_rank`` most frequent words of each side take part (capped
            to the vocabularies); the ``r`` terms still use every word.
        method: ``"mutual"`` (pairs that are each other's CSLS nearest neighbour),
            ``"S2T"`` (every source word with its best target) or ``"T2S"``.
        block: rows per tile of the similarity sweeps (multiple of 16; 256 keeps a tile in cache).

    Returns:
        ``(m, 2)`` int64 array of ``(source row, target row)``, sorted by source row.

    Example:
        >>> build_dictionary(np.eye(4), np.eye(4), k=1).tolist()
        [[0, 0], [1, 1], [2, 2], [3, 3]]
    """
    X, Y = _pair(X, Y, ("mapped source vectors", "target vectors"))
    k = _check_k(k)
    rank_s, rank_t = _ranks(max_rank, X.shape[0], Y.shape[0])
    p = _csls_pass(X, Y, k, rank_s, rank_t, block)
    if method == "mutual":
        return _mutual(p)
    if method == "S2T":
        return np.stack([np.arange(rank_s), p.s2t], axis=1)
    if method == "T2S":
        return np.stack([p.t2s, np.arange(rank_t)], axis=1)[np.argsort(p.t2s, kind="stable")]
    raise ConfigError(f"method: expected 'mutual', 'S2T' or 'T2S', got {method!r}")


def _ranks(max_rank, n_s, n_t):
    if max_rank is None:
        return n_s, n_t
    max_rank = _check_k(max_rank, "max_rank")
    return min(max_rank, n_s), min(max_rank, n_t)


def unsupervised_criterion(
    W, S, T, n_words: int = 10000, k: int = 10, max_rank: int = 15000, block: int = 256
) -> float:
    """Mean cosine of the CSLS translations of the ``n_words`` most frequent source words.

    The model-selection criterion of MUSE (no dictionary needed). ``n_words`` is capped to
    the source vocabulary; translations are searched among the ``max_rank`` most frequent
    target words; ``r`` terms use all words.

    Args:
        W: mapping ``(dim, dim)`` (acts on column vectors: ``W @ s``).
        S: source table ``(n_s, dim)``, most frequent first.
        T: target table ``(n_t, dim)``, most frequent first.
        n_words: number of source words translated (10000).
        k: CSLS neighbourhood size.
        max_rank: target search range (and at least ``n_words`` source rows).
        block: rows per tile of the similarity sweeps (see :func:`build_dictionary`).

    Returns:
        The mean cosine, a float in ``[-1, 1]``.

    Example:
        >>> round(unsupervised_criterion(np.eye(2), np.eye(2), np.eye(2), k=1), 6)
        1.0
    """
    S, T = _pair(S, T)
    W = _check_mapping(W, S.shape[1])
    n = min(_check_k(n_words, "n_words"), S.shape[0])
    rank_s, rank_t = _ranks(max(max_rank, n), S.shape[0], T.shape[0])
    p = _csls_pass(apply_mapping(W, S), T, _check_k(k), n, rank_t, block, both_ways=False)
    return float(p.s2t_cos[:n].mean())


class RefineResult(NamedTuple):
    """Outcome of :func:`refine`.

    Args:
        W: the selected mapping (best criterion).
        criterion: its unsupervised criterion.
        history: one dict per evaluated mapping (iteration, criterion, dictionary size,
            seconds).
    """

    W: np.ndarray
    criterion: float
    history: list


def refine(
    W,
    S,
    T,
    iterations: int = 5,
    k: int = 10,
    max_rank: int = 15000,
    n_criterion: int = 10000,
    select_best: bool = True,
    block: int = 256,
    log: Callable[[dict], None] | None = None,
    threads: int | None = None,
) -> RefineResult:
    """Iterative Procrustes refinement on CSLS mutual-nearest-neighbour dictionaries.

    Each iteration builds a dictionary from the current mapping (:func:`build_dictionary`,
    mutual NN among the ``max_rank`` most frequent words) and replaces ``W`` by the
    Procrustes solution on it. The criterion of each mapping comes out of the same sweep
    that builds the next dictionary, so ``iterations`` refinements take
    ``iterations + 1`` sweeps; the last one only scores the final mapping (source-to-target
    search only, about a third cheaper). The sweeps share one workspace of buffers. With ``select_best`` the mapping with the highest
    :func:`unsupervised_criterion` (initial one included) is returned, else the last.

    Args:
        W: initial mapping ``(dim, dim)`` (identity, adversarial, or supervised).
        S: source table, most frequent first.
        T: target table, most frequent first.
        iterations: number of refinements (5).
        k: CSLS neighbourhood size (10).
        max_rank: dictionary candidates per side (15000, capped).
        n_criterion: source words in the criterion (10000, capped).
        select_best: keep the best mapping by the criterion.
        block: rows per tile of the similarity sweeps (see :func:`build_dictionary`).
        log: called with each history entry (for progress output).
        threads: worker threads of the sweeps, each running BLAS on one thread (default:
            as many as BLAS uses, within the usable cores; 1 = one worker, BLAS as set).

    Returns:
        :class:`RefineResult`.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> T = rng.standard_normal((300, 10)); Q, _ = np.linalg.qr(rng.standard_normal((10, 10)))
        >>> res = refine(procrustes((T @ Q)[:50], T[:50]), T @ Q, T, iterations=1)
        >>> bool(np.allclose(res.W, Q, atol=1e-6))
        True
    """
    S, T = _pair(S, T)
    W = _check_mapping(W, S.shape[1]).astype(S.dtype)
    if int(iterations) != iterations or iterations < 0:
        raise ConfigError(f"iterations: expected an integer >= 0, got {iterations!r}")
    k = _check_k(k)
    n_crit = min(_check_k(n_criterion, "n_criterion"), S.shape[0])
    rank_s, rank_t = _ranks(max_rank, S.shape[0], T.shape[0])
    threads = None if threads is None else _check_k(threads, "threads")
    sweep_s = max(rank_s, n_crit)
    history = []
    ws = _Workspace()
    best_W, best_c = W, -np.inf
    for it in range(int(iterations) + 1):
        t0 = time.perf_counter()
        need_dict = it < iterations
        if not need_dict and not select_best:
            break
        # the last sweep only scores the mapping: no target-to-source search, no r_T
        p = _csls_pass(
            apply_mapping(W, S),
            T,
            k,
            sweep_s if need_dict else n_crit,
            rank_t,
            block,
            ws=ws,
            both_ways=need_dict,
            threads=threads,
        )
        crit = float(p.s2t_cos[:n_crit].mean())
        entry = {"iteration": it, "criterion": crit}
        if crit > best_c:
            best_W, best_c = W, crit
        if need_dict:
            dico = _mutual(p)
            dico = dico[dico[:, 0] < rank_s]
            entry["dictionary_size"] = int(dico.shape[0])
            if dico.shape[0] == 0:
                entry["seconds"] = time.perf_counter() - t0
                history.append(entry)
                if log:
                    log(entry)
                break
            W = procrustes(S[dico[:, 0]], T[dico[:, 1]])
        entry["seconds"] = time.perf_counter() - t0
        history.append(entry)
        if log:
            log(entry)
    if not select_best:
        best_W = W
        best_c = (
            history[-1]["criterion"]
            if history and "dictionary_size" not in history[-1]
            else float("nan")
        )
    return RefineResult(best_W, float(best_c), history)
