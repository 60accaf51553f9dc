"""A plain NumPy transcription of MUSE's refinement loop, the reference for the alignment benchmark.

MUSE (Conneau et al. 2018, facebookresearch/MUSE) refines a mapping with Procrustes on a
dictionary built from CSLS nearest neighbours, written in PyTorch as batched matrix
products: the ``r`` terms are the mean of the ``k`` best similarities of each word against
the whole other table (batches of 1024 queries), the candidates of each source word come
from batches of 128 rows of the CSLS score matrix against every target (top 2), the
dictionary is the intersection of the source-to-target and target-to-source candidate
pairs among the ``dico_max_rank`` (15000) most frequent words, and the model-selection
criterion is the mean cosine of the CSLS translations of the 10000 most frequent source
words. This module does the same steps the same way with NumPy (no Faiss, no GPU), so
``benchmarks/alignment.py --reference`` can time it beside ``semser_tf``'s blocked sweeps
on the same data and machine. It is a benchmark yardstick, not part of the package.
"""

from __future__ import annotations

import numpy as np


def _normalize(X):
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def _topk_mean(scores, k):
    part = np.argpartition(scores, scores.shape[1] - k, axis=1)[:, -k:]
    return np.take_along_axis(scores, part, axis=1).mean(axis=1)


def nn_avg_dist(emb, query, knn=10, bs=1024):
    """Mean similarity of each query with its ``knn`` nearest rows of ``emb``."""
    out = np.empty(query.shape[0], dtype=emb.dtype)
    for i in range(0, query.shape[0], bs):
        out[i : i + bs] = _topk_mean(query[i : i + bs] @ emb.T, knn)
    return out


def candidates(emb1, emb2, knn=10, max_rank=15000, bs=128):
    """(source, target) pairs: each of the first ``max_rank`` sources with its CSLS best target."""
    n_src = min(max_rank, emb1.shape[0])
    r1 = nn_avg_dist(emb2, emb1, knn)
    r2 = nn_avg_dist(emb1, emb2, knn)
    targets = np.empty(n_src, dtype=np.int64)
    scores = np.empty(n_src, dtype=emb1.dtype)
    for i in range(0, n_src, bs):
        j = min(i + bs, n_src)
        s = 2 * (emb1[i:j] @ emb2.T) - r1[i:j, None] - r2[None, :]
        top2 = np.argpartition(s, s.shape[1] - 2, axis=1)[:, -2:]
        best = np.take_along_axis(s, top2, axis=1).argmax(axis=1)
        targets[i:j] = top2[np.arange(len(top2)), best]
        scores[i:j] = s[np.arange(len(s)), targets[i:j]]
    pairs = np.stack([np.arange(n_src), targets], axis=1)
    keep = pairs[:, 1] < max_rank  # MUSE's dico_max_rank also bounds the targets
    return pairs[keep], scores


def build_dictionary(src, tgt, knn=10, max_rank=15000):
    """MUSE's ``S2T&T2S``: pairs found in both directions."""
    s2t, _ = candidates(src, tgt, knn, max_rank)
    t2s, _ = candidates(tgt, src, knn, max_rank)
    both = {(int(a), int(b)) for a, b in s2t} & {(int(b), int(a)) for a, b in t2s}
    return np.array(sorted(both), dtype=np.int64).reshape(-1, 2)


def procrustes(A, B):
    """W minimising ||W a - b|| over the pairs: U V^T of SVD(B^T A)."""
    U, _, Vt = np.linalg.svd(B.T.astype(np.float64) @ A.astype(np.float64))
    return (U @ Vt).astype(A.dtype)


def mean_cosine_criterion(src, tgt, knn=10, n_words=10000, max_rank=15000):
    """Mean cosine of the CSLS translations of the ``n_words`` most frequent sources."""
    pairs, _ = candidates(src[:n_words], tgt, knn, max_rank)
    return float(np.mean(np.sum(src[pairs[:, 0]] * tgt[pairs[:, 1]], axis=1)))


def refine(W, S, T, iterations=5, knn=10, max_rank=15000, n_criterion=10000):
    """MUSE's refinement: ``iterations`` x (dictionary, Procrustes), best criterion kept."""
    S, T = S.astype(np.float32), T.astype(np.float32)
    Tn = _normalize(T)
    best_W, best_c, history = W, -np.inf, []
    for it in range(iterations + 1):
        src = _normalize(S @ W.T)
        crit = mean_cosine_criterion(src, Tn, knn, n_criterion, max_rank)
        history.append({"iteration": it, "criterion": crit})
        if crit > best_c:
            best_W, best_c = W, crit
        if it == iterations:
            break
        dico = build_dictionary(src, Tn, knn, max_rank)
        history[-1]["dictionary_size"] = int(len(dico))
        W = procrustes(S[dico[:, 0]], T[dico[:, 1]])
    return best_W, best_c, history
