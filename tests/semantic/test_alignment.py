"""Alignment: Procrustes, CSLS, dictionary induction, refinement, criterion, adversarial stage.

The references here are written independently: brute-force Python loops over explicit
cosines, written from the formulas of MUSE (Conneau et al., ICLR 2018), not from the module's code.
"""

from __future__ import annotations

import numpy as np
import pytest

from semser_tf.errors import ConfigError
from semser_tf.semantic import alignment as al

# ------------------------------------------------------------------ references


def _cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _r(query, table, k):
    """Mean cosine of query with its k most similar rows of table (loop reference)."""
    sims = sorted((_cos(query, row) for row in table), reverse=True)
    k = min(k, len(sims))
    return sum(sims[:k]) / k


def _csls_ref(X, Y, k):
    rx = [_r(x, Y, k) for x in X]
    ry = [_r(y, X, k) for y in Y]
    out = np.zeros((len(X), len(Y)))
    for i, x in enumerate(X):
        for j, y in enumerate(Y):
            out[i, j] = 2 * _cos(x, y) - rx[i] - ry[j]
    return out


def _structured(n=600, dim=16, seed=0, noise=0.02, n_clusters=8, shuffle_freq=True, spread=False):
    """Anisotropic Gaussian mixture T, random rotation Q, S with s_i = Q^T t_i + noise.

    With ``spread`` the anisotropy is strong and shared (centres and within-cluster scales
    decay geometrically along the axes), which makes the rotation identifiable from the
    distribution alone, the condition for the adversarial stage to work.

    Rows are sorted by noisy power-law counts, separately on each side, so the two tables
    are not in the same order; returns the true (source row, target row) pairs.
    """
    rng = np.random.default_rng(seed)
    if spread:
        centres = rng.standard_normal((n_clusters, dim)) * np.geomspace(3.0, 0.5, dim)
        scales = np.geomspace(2.0, 0.2, dim)
    else:
        centres = rng.standard_normal((n_clusters, dim)) * 2.0
        scales = np.exp(rng.uniform(-1.5, 0.5, size=dim))
    weights = rng.dirichlet(np.ones(n_clusters))
    assign = rng.choice(n_clusters, size=n, p=weights)
    T = centres[assign] + rng.standard_normal((n, dim)) * scales
    Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    S = T @ Q + noise * rng.standard_normal((n, dim))
    if not shuffle_freq:
        return S, T, Q, np.stack([np.arange(n)] * 2, axis=1)
    f = 1.0 / np.arange(1, n + 1)
    cs = rng.poisson(f * 1e5 * rng.uniform(0.8, 1.2, n))
    ct = rng.poisson(f * 1e5 * rng.uniform(0.8, 1.2, n))
    os_, ot = np.argsort(-cs, kind="stable"), np.argsort(-ct, kind="stable")
    inv_t = np.empty(n, dtype=int)
    inv_t[ot] = np.arange(n)
    if spread:  # unit mean norm, the scale of normalised embeddings
        f = np.linalg.norm(T, axis=1).mean()
        S, T = S / f, T / f
    return S[os_], T[ot], Q, np.stack([np.arange(n), inv_t[os_]], axis=1)


# ------------------------------------------------------------------ procrustes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_procrustes_recovers_random_orthogonal_map_from_noisy_pairs(dtype):
    rng = np.random.default_rng(1)
    dim, n = 30, 400
    Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    S = rng.standard_normal((n, dim))
    T = S @ Q.T + 0.01 * rng.standard_normal((n, dim))  # t_i = Q s_i + noise
    W = al.procrustes(S.astype(dtype), T.astype(dtype))
    assert W.dtype == dtype
    assert np.linalg.norm(W - Q) < 0.03  # noise 0.01 over 400 pairs: ~0.015 expected
    np.testing.assert_allclose(W @ W.T, np.eye(dim), atol=1e-5)
    # orientation: W acts on column vectors, W @ s ~ t
    np.testing.assert_allclose(W @ S[0], T[0], atol=0.05)
    pairs = np.stack([np.arange(n)] * 2, axis=1)
    assert al.precision_at_k(W, S, T, pairs, k=(1, 5)) == {1: 1.0, 5: 1.0}


def test_procrustes_matches_least_squares_optimum_by_scipy():
    from scipy.linalg import orthogonal_procrustes

    rng = np.random.default_rng(2)
    S, T = rng.standard_normal((50, 6)), rng.standard_normal((50, 6))
    R, _ = orthogonal_procrustes(S, T)  # minimises ||S R - T||: R = W^T
    np.testing.assert_allclose(al.procrustes(S, T), R.T, atol=1e-10)


def test_orthogonalize_pulls_towards_orthogonal():
    rng = np.random.default_rng(3)
    Q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    W = Q * 1.05
    for _ in range(1000):  # contracts the singular values' error by (1 - 2 beta) per step
        W = al.orthogonalize(W, beta=0.01)
    np.testing.assert_allclose(W @ W.T, np.eye(8), atol=1e-6)
    W2 = 1.01 * W - 0.01 * W @ W.T @ W  # the formula written out
    np.testing.assert_allclose(al.orthogonalize(W, 0.01), W2)


# ------------------------------------------------------------------------ CSLS


@pytest.mark.parametrize("k", [1, 3, 10])
def test_csls_scores_against_brute_force_loops(k):
    rng = np.random.default_rng(4)
    X, Y = rng.standard_normal((23, 5)), rng.standard_normal((17, 5))
    np.testing.assert_allclose(al.csls_scores(X, Y, k=k), _csls_ref(X, Y, k), atol=1e-10)


def test_knn_mean_similarity_chunked_path_against_brute_force():
    rng = np.random.default_rng(5)
    Q, B = rng.standard_normal((7, 4)), rng.standard_normal((1500, 4))  # > 2k chunks
    ref = [_r(q, B, 10) for q in Q]
    np.testing.assert_allclose(al.knn_mean_similarity(Q, B, 10), ref, atol=1e-10)


def test_csls_knn_topn_against_reference_ranking():
    rng = np.random.default_rng(6)
    X, Y = rng.standard_normal((20, 6)), rng.standard_normal((30, 6))
    ref = _csls_ref(X, Y, 10)
    idx, val = al.csls_knn(X, Y, k=10, topn=3, block=7)
    for i in range(20):
        order = sorted(range(30), key=lambda j: -ref[i, j])[:3]
        assert idx[i].tolist() == order
        np.testing.assert_allclose(val[i], ref[i, order], atol=1e-10)


def _mutual_ref(X, Y, k, rank):
    sc = _csls_ref(X, Y, k)[:rank, :rank]  # r over all words, candidates restricted
    out = []
    for i in range(sc.shape[0]):
        j = int(np.argmax(sc[i]))
        if int(np.argmax(sc[:, j])) == i:
            out.append([i, j])
    return out


@pytest.mark.parametrize("rank", [None, 40])
def test_build_dictionary_mutual_nn_against_reference(rank):
    S, T, Q, pairs = _structured(n=70, dim=6, noise=0.5, seed=7)
    X = S @ Q.T
    d = al.build_dictionary(X, T, k=10, max_rank=rank or 10**6, block=16)
    assert d.tolist() == _mutual_ref(X, T, 10, rank or 70)
    assert len(d) > 10


def test_column_r_terms_with_many_chunks_against_reference():
    # more than 16 * k source rows, so r_S comes from the chunk path
    rng = np.random.default_rng(8)
    X, Y = rng.standard_normal((700, 5)), rng.standard_normal((60, 5))
    p = al._csls_pass(X, Y, 10, 700, 60, block=96)
    ref = _csls_ref(X, Y, 10)
    assert p.s2t.tolist() == ref.argmax(axis=1).tolist()
    assert p.t2s.tolist() == ref.argmax(axis=0).tolist()
    p2 = al._csls_pass(X, Y, 10, 700, 60, block=32, tile_cols=7)  # many small tiles
    assert p2.t2s.tolist() == p.t2s.tolist() and p2.s2t.tolist() == p.s2t.tolist()
    p3 = al._csls_pass(X, Y, 10, 700, 60, block=96, threads=2)
    assert p3.t2s.tolist() == p.t2s.tolist() and p3.s2t.tolist() == p.s2t.tolist()


def _dense_ref(X, Y, k):
    """CSLS matrix and cosines in float64 from full sorts (vectorised brute force)."""
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    Yn = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    C = Xn @ Yn.T
    rx = -np.sort(-C, axis=1)[:, : min(k, len(Y))].mean(axis=1)
    ry = -np.sort(-C, axis=0)[: min(k, len(X))].mean(axis=0)
    return 2 * C - rx[:, None] - ry[None, :], C


def _pass_ref(X, Y, k, rank_s, rank_t):
    sc, C = _dense_ref(X, Y, k)
    blk = sc[:rank_s, :rank_t]
    s2t = blk.argmax(axis=1)  # the first maximum: ties go to the lowest index
    return s2t, C[np.arange(rank_s), s2t], blk.argmax(axis=0)


def test_dense_reference_agrees_with_loop_reference():
    rng = np.random.default_rng(13)
    X, Y = rng.standard_normal((19, 4)), rng.standard_normal((23, 4))
    for k in (1, 5, 30):
        np.testing.assert_allclose(_dense_ref(X, Y, k)[0], _csls_ref(X, Y, k), atol=1e-12)


def test_tile_chunks_partition_the_columns_and_give_their_maxima():
    rng = np.random.default_rng(14)
    for n, width in [(100, 40), (97, 32), (20, 7), (5, 64), (4096 + 19, 4096)]:
        members = al._tile_chunk_members(n, width)
        got = members[members >= 0]
        assert sorted(got.tolist()) == list(range(n))  # every column exactly once
        M = rng.standard_normal((3, n)).astype(np.float32)
        out = np.empty((3, members.shape[0]), np.float32)
        first = 0
        for p in range(0, n, width):  # tile by tile, chunks numbered in order
            w = min(n, p + width) - p
            al._tile_chunk_maxima(M[:, p : p + w], out[:, first:])
            first += w // 16 + (w % 16 > 0)
        assert first == members.shape[0]
        for h, cols in enumerate(members):
            cols = cols[cols >= 0]
            assert np.all(out[:, h] == M[:, cols].max(axis=1))


@pytest.mark.parametrize("k", [1, 10, 20, 40])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tiled_pass_against_dense_reference_on_ragged_shapes(k, dtype):
    # sizes that are multiples of neither the 16-value chunks nor the tiles; k = 20 and 40
    # exceed a chunk (40 takes the argpartition path); rank_s != rank_t, both cutting tiles
    rng = np.random.default_rng(15)
    X, Y = rng.standard_normal((517, 8)), rng.standard_normal((463, 8))
    rank_s, rank_t = 301, 389
    s2t, cos, t2s = _pass_ref(X, Y, k, rank_s, rank_t)
    for block, tile_cols, threads in [(48, 100, 1), (40, 37, 2), (1024, 4096, 1)]:
        p = al._csls_pass(
            X.astype(dtype),
            Y.astype(dtype),
            k,
            rank_s,
            rank_t,
            block=block,
            tile_cols=tile_cols,
            threads=threads,
        )
        assert p.s2t.tolist() == s2t.tolist()
        assert p.t2s.tolist() == t2s.tolist()
        np.testing.assert_allclose(p.s2t_cos, cos, atol=1e-12 if dtype == np.float64 else 1e-5)
        q = al._csls_pass(
            X.astype(dtype),
            Y.astype(dtype),
            k,
            rank_s,
            rank_t,
            block=block,
            tile_cols=tile_cols,
            threads=threads,
            both_ways=False,
        )
        assert q.t2s is None and q.s2t.tolist() == s2t.tolist()


def test_tiled_pass_breaks_ties_towards_the_lowest_index():
    # exact duplicates (on both sides, across tile and chunk boundaries) make exact ties
    rng = np.random.default_rng(16)
    base = rng.standard_normal((300, 6))
    src_rows = np.arange(300)
    src_rows[[200, 77, 250]] = [5, 5, 60]  # sources 5 = 77 = 200, 60 = 250
    tgt_rows = rng.permutation(300)
    tgt_rows[[150, 290]] = tgt_rows[[3, 40]]  # targets 3 = 150, 40 = 290
    X, Y = base[src_rows], base[tgt_rows]
    s2t, _, t2s = _pass_ref(X, Y, 10, 300, 300)
    inv = {int(v): j for j, v in reversed(list(enumerate(tgt_rows)))}
    assert t2s[inv[5]] == 5 and t2s[inv[60]] == 60  # the tie exists and goes low
    assert s2t[np.flatnonzero(src_rows == tgt_rows[3])[0]] == 3
    for block, tile_cols, threads in [(48, 100, 1), (32, 64, 2)]:
        p = al._csls_pass(X, Y, 10, 300, 300, block=block, tile_cols=tile_cols, threads=threads)
        assert p.s2t.tolist() == s2t.tolist()
        assert p.t2s.tolist() == t2s.tolist()


def test_unsupervised_criterion_against_reference():
    rng = np.random.default_rng(9)
    S, T = rng.standard_normal((50, 5)), rng.standard_normal((40, 5))
    W, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    X = S @ W.T
    sc = _csls_ref(X, T, 10)
    n = 30
    ref = np.mean([_cos(X[i], T[int(np.argmax(sc[i]))]) for i in range(n)])
    assert al.unsupervised_criterion(W, S, T, n_words=n) == pytest.approx(ref, abs=1e-10)
    # n_words capped to the vocabulary
    ref_all = np.mean([_cos(X[i], T[int(np.argmax(sc[i]))]) for i in range(50)])
    assert al.unsupervised_criterion(W, S, T, n_words=10000) == pytest.approx(ref_all, abs=1e-10)


def test_precision_at_k_against_manual_count():
    rng = np.random.default_rng(10)
    S, T = rng.standard_normal((12, 4)), rng.standard_normal((15, 4))
    pairs = np.array([[0, 3], [1, 1], [2, 7], [2, 8], [5, 0]])
    ref = _csls_ref(S, T, 10)
    hits1 = hits5 = 0
    for s in (0, 1, 2, 5):
        gold = {int(t) for ss, t in pairs if ss == s}
        order = list(np.argsort(-ref[s], kind="stable"))
        hits1 += bool(gold & set(order[:1]))
        hits5 += bool(gold & set(order[:5]))
    p = al.precision_at_k(np.eye(4), S, T, pairs, k=(1, 5))
    assert p == {1: hits1 / 4, 5: hits5 / 4}


def test_identical_words_dictionary():
    d = al.identical_words_dictionary(["der", "die", "das", "haus"], ["haus", "x", "der"])
    assert d.tolist() == [[0, 2], [3, 0]]
    assert al.identical_words_dictionary(["a"], ["b"]).shape == (0, 2)


# ------------------------------------------------------------------ refinement


def test_refine_recovers_rotation_from_a_poor_start():
    S, T, Q, pairs = _structured(n=800, dim=16, seed=11)
    # a poor start: Procrustes on 30 pairs of which a third are wrong
    rng = np.random.default_rng(0)
    seed_pairs = pairs[:30].copy()
    seed_pairs[:10, 1] = rng.integers(0, 800, 10)
    W0 = al.procrustes(S[seed_pairs[:, 0]], T[seed_pairs[:, 1]])
    res = al.refine(W0, S, T, iterations=5)
    assert al.precision_at_k(res.W, S, T, pairs)[1] >= 0.95
    assert np.linalg.norm(res.W - Q) < 0.1
    crits = [h["criterion"] for h in res.history]
    assert res.criterion == pytest.approx(max(crits))


def test_refine_same_result_with_one_or_two_worker_threads():
    S, T, Q, pairs = _structured(n=900, dim=12, seed=17, noise=0.3)
    W0 = al.procrustes(S[pairs[:40, 0]], T[pairs[:40, 1]])
    one = al.refine(W0, S, T, iterations=2, max_rank=700, n_criterion=500, block=64, threads=1)
    two = al.refine(W0, S, T, iterations=2, max_rank=700, n_criterion=500, block=64, threads=2)
    np.testing.assert_allclose(one.W, two.W, atol=1e-12)
    assert [h["dictionary_size"] for h in one.history[:2]] == [
        h["dictionary_size"] for h in two.history[:2]
    ]
    assert one.criterion == pytest.approx(two.criterion, abs=1e-12)
    with pytest.raises(ConfigError, match="threads"):
        al.refine(W0, S, T, iterations=1, threads=0)


def test_supervised_identical_words_mode():
    S, T, Q, pairs = _structured(n=300, dim=10, seed=12)
    src_words = [f"w{i}" for i in range(300)]
    tgt_words = [None] * 300
    for s, t in pairs:
        tgt_words[t] = f"w{s}"
    d = al.identical_words_dictionary(src_words, tgt_words)
    assert sorted(map(tuple, d.tolist())) == sorted(map(tuple, pairs.tolist()))
    W = al.supervised_align(S, T, d[:100])
    assert np.linalg.norm(W - Q) < 0.05
    assert al.precision_at_k(W, S, T, pairs[100:])[1] == 1.0


# ------------------------------------------------------------------- bad input


def test_mismatched_dimensions_rejected():
    with pytest.raises(ConfigError, match="dimension 5, expected 4"):
        al.procrustes(np.ones((3, 4)), np.ones((3, 5)))
    with pytest.raises(ConfigError, match="dimension"):
        al.refine(np.eye(4), np.ones((3, 4)), np.ones((3, 5)))
    with pytest.raises(ConfigError, match=r"mapping W: expected shape \(4, 4\)"):
        al.unsupervised_criterion(np.eye(3), np.ones((3, 4)), np.ones((3, 4)))


def test_empty_vocabulary_rejected():
    with pytest.raises(ConfigError, match="empty vocabulary"):
        al.csls_scores(np.zeros((0, 4)), np.ones((3, 4)))
    with pytest.raises(ConfigError, match="empty vocabulary"):
        al.adversarial_align(np.ones((3, 4)), np.zeros((0, 4)))
    with pytest.raises(ConfigError, match="empty dictionary"):
        al.supervised_align(np.ones((3, 4)), np.ones((3, 4)), np.zeros((0, 2)))


def test_bad_adversarial_config_rejected():
    with pytest.raises(ConfigError, match="adversarial.smoothing"):
        al.AdversarialConfig(smoothing=1.5).validate()


# ------------------------------------------------------------------ adversarial


def _adversarial_run(n, dim, clusters, hidden, epochs, epoch_size, seed, restarts):
    S, T, Q, pairs = _structured(n=n, dim=dim, n_clusters=clusters, seed=seed, spread=True)
    cfg = al.AdversarialConfig(
        hidden_units=hidden,
        epochs=epochs,
        epoch_size=epoch_size,
        n_criterion=n,
        seed=0,
        restarts=restarts,
    )
    res = al.adversarial_align(S, T, cfg)
    p_adv = al.precision_at_k(res.W, S, T, pairs)[1]
    ref = al.refine(res.W, S, T, iterations=5)
    p_ref = al.precision_at_k(ref.W, S, T, pairs)[1]
    return res, p_adv, p_ref


def test_adversarial_fast_variant_recovers_rotation():
    # 1000 words, dim 10, 30 clusters, discriminator 128 wide, 3 epochs of 500 iterations,
    # up to 3 restarts selected by the criterion (a few seconds each)
    res, p_adv, p_ref = _adversarial_run(1000, 10, 30, 128, 3, 16000, seed=0, restarts=3)
    assert res.criterion == pytest.approx(
        max(h["criterion"] for h in res.history if h["restart"] == res.history[0]["restart"])
    )
    assert p_adv >= 0.7
    assert p_ref >= 0.95


@pytest.mark.slow
def test_adversarial_recovers_rotation_of_structured_embeddings():
    # 2000 words, dim 10, 30 clusters, discriminator 256 wide, 5 epochs of 1000 iterations,
    # up to 3 restarts (~30 s each on 2 cores)
    res, p_adv, p_ref = _adversarial_run(2000, 10, 30, 256, 5, 32000, seed=0, restarts=3)
    assert p_adv >= 0.7
    assert p_ref >= 0.95
