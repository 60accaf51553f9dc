"""Cross-domain similarity local scaling (CSLS, Conneau et al. 2018), exact and blocked.

:func:`csls_scores` and :func:`csls_knn` for small problems; :func:`_csls_pass`, the
combined tiled sweep behind the dictionary, the criterion and the refinement, keeps one
tile of a few MB per core in cache (top-k means from per-chunk maxima).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import NamedTuple

import numpy as np

from semser_tf.semantic.alignment.tables import _check_k, _pair, normalize_rows

# ------------------------------------------------------------------- top-k means


def _topk_rows(M: np.ndarray, k: int, chunk: int = 32) -> np.ndarray:
    """The ``k`` largest values of each row of ``M`` (unordered), exact.

    The row is cut into ``n // chunk`` strided chunks; the ``k`` largest values lie in the
    ``k`` chunks with the largest maxima, so only those are searched.
    """
    b, n = M.shape
    if k >= n:
        return M.copy()
    nc = n // chunk
    if nc <= 2 * k:
        return np.partition(M, n - k, axis=1)[:, n - k :]
    main = M[:, : nc * chunk].reshape(b, chunk, nc)
    cmax = main.max(axis=1)
    sel = np.argpartition(cmax, nc - k, axis=1)[:, nc - k :]
    cand = np.take_along_axis(main, sel[:, None, :], axis=2).reshape(b, chunk * k)
    if nc * chunk < n:
        cand = np.concatenate([cand, M[:, nc * chunk :]], axis=1)
    return np.partition(cand, cand.shape[1] - k, axis=1)[:, cand.shape[1] - k :]


def _blocks(n: int, block: int):
    for i in range(0, n, block):
        yield i, min(n, i + block)


def knn_mean_similarity(Q, B, k: int = 10, block: int = 2048) -> np.ndarray:
    """Mean cosine of each row of ``Q`` with its ``k`` most similar rows of ``B``.

    This is ``r_T(Wx)`` of CSLS when ``Q`` holds mapped source vectors and ``B`` the target
    vectors (and ``r_S(y)`` the other way round). ``k`` is capped to ``len(B)``.

    Args:
        Q: queries ``(n_q, dim)``.
        B: the searched table ``(n_b, dim)``.
        k: number of neighbours.
        block: rows of ``Q`` per matrix product.

    Returns:
        ``(n_q,)`` array.

    Example:
        >>> knn_mean_similarity(np.eye(2), np.eye(2), k=1)
        array([1., 1.])
    """
    Q, B = _pair(Q, B, ("queries", "searched table"))
    k = min(_check_k(k), B.shape[0])
    Qn, Bn = normalize_rows(Q), normalize_rows(B)
    out = np.empty(Q.shape[0], dtype=Qn.dtype)
    for a, b in _blocks(Q.shape[0], block):
        out[a:b] = _topk_rows(Qn[a:b] @ Bn.T, k).mean(axis=1)
    return out


def csls_scores(X, Y, k: int = 10) -> np.ndarray:
    """The full CSLS matrix ``2 cos(x_i, y_j) - r_Y(x_i) - r_X(y_j)`` (small tables only).

    Args:
        X: mapped source vectors ``(n_x, dim)`` (i.e. ``S @ W.T``).
        Y: target vectors ``(n_y, dim)``.
        k: neighbourhood size of the ``r`` terms (capped to the table sizes).

    Returns:
        ``(n_x, n_y)`` array. Use :func:`csls_knn` for large tables.

    Example:
        >>> csls_scores(np.eye(3), np.eye(3), k=1).shape
        (3, 3)
    """
    X, Y = _pair(X, Y, ("mapped source vectors", "target vectors"))
    rx = knn_mean_similarity(X, Y, k)
    ry = knn_mean_similarity(Y, X, k)
    C = normalize_rows(X) @ normalize_rows(Y).T
    return 2 * C - rx[:, None] - ry[None, :]


def csls_knn(X, Y, k: int = 10, topn: int = 1, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """The ``topn`` best targets of each mapped source vector under CSLS.

    Args:
        X: mapped source vectors ``(n_x, dim)``.
        Y: target vectors ``(n_y, dim)``.
        k: neighbourhood size of the ``r`` terms (10 in MUSE).
        topn: how many targets per source, best first.
        block: rows per matrix product.

    Returns:
        ``(indices, scores)``, both ``(n_x, topn)``, best first.

    Example:
        >>> idx, _ = csls_knn(np.eye(3), np.eye(3), k=1)
        >>> idx[:, 0].tolist()
        [0, 1, 2]
    """
    X, Y = _pair(X, Y, ("mapped source vectors", "target vectors"))
    topn = min(_check_k(topn, "topn"), Y.shape[0])
    rx = knn_mean_similarity(X, Y, k, block)
    ry = knn_mean_similarity(Y, X, k, block)
    Xn, Yn = normalize_rows(X), normalize_rows(Y)
    idx = np.empty((X.shape[0], topn), dtype=np.int64)
    val = np.empty((X.shape[0], topn), dtype=Xn.dtype)
    for a, b in _blocks(X.shape[0], block):
        sc = 2 * (Xn[a:b] @ Yn.T) - rx[a:b, None] - ry[None, :]
        if topn == 1:
            j = sc.argmax(axis=1)[:, None]
        else:
            j = np.argpartition(sc, sc.shape[1] - topn, axis=1)[:, sc.shape[1] - topn :]
            order = np.argsort(-np.take_along_axis(sc, j, axis=1), axis=1, kind="stable")
            j = np.take_along_axis(j, order, axis=1)
        idx[a:b] = j
        val[a:b] = np.take_along_axis(sc, j, axis=1)
    return idx, val


# ------------------------------------------------------------ the combined pass


class _Pass(NamedTuple):
    s2t: np.ndarray  # (rank_s,) best target (among the first rank_t) of each source
    s2t_cos: np.ndarray  # cosine of that pair
    t2s: np.ndarray | None  # (rank_t,) best source (among the first rank_s) of each target;
    # None when only the source-to-target search was run


class _Workspace:
    """Buffers reused across blocks and sweeps.

    A sweep needs the same arrays every time; allocating them afresh costs page faults
    (expensive on virtual machines), so :func:`refine` keeps one workspace for all its
    sweeps. Each worker thread uses its own names.
    """

    def __init__(self):
        self.bufs = {}

    def get(self, name, shape, dtype):
        size = int(np.prod(shape))
        buf = self.bufs.get(name)
        if buf is None or buf.dtype != dtype or buf.size < size:
            buf = self.bufs[name] = np.empty(size, dtype=dtype)
        return buf[:size].reshape(shape)


_BLAS_CONTROLLER = None


def _blas():
    """threadpoolctl's controller of the loaded BLAS libraries, or ``None`` without one."""
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController

            ctl = ThreadpoolController().select(user_api="blas")
            _BLAS_CONTROLLER = ctl if ctl.lib_controllers else False
        except Exception:  # threadpoolctl missing or unable to inspect the process
            _BLAS_CONTROLLER = False
    return _BLAS_CONTROLLER or None


def _default_threads() -> int:
    """Worker threads of a CSLS sweep: as many as BLAS would use, within the usable cores.

    Without threadpoolctl BLAS cannot be set to one thread per worker, so one worker (and
    multi-threaded BLAS) is used.
    """
    ctl = _blas()
    if ctl is None:
        return 1
    n_blas = max(int(lc.num_threads) for lc in ctl.lib_controllers)
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )
    return max(1, min(n_blas, cores))


def _run_threads(fn, n: int) -> None:
    """Run ``fn(0) .. fn(n - 1)`` on ``n`` threads (NumPy releases the GIL in its loops)."""
    if n <= 1:
        fn(0)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(n) as pool:
        for f in [pool.submit(fn, t) for t in range(n)]:
            f.result()


def _parallel(fn, tasks, threads: int) -> None:
    """Call ``fn(tid, *task)`` for every task; ``threads`` workers take tasks in order.

    ``tid`` (0 .. threads - 1) names the worker, so that it can use its own buffers.
    """
    tasks = list(tasks)
    threads = max(1, min(threads, len(tasks)))
    if threads == 1:
        for t in tasks:
            fn(0, *t)
        return
    lock = threading.Lock()
    it = iter(tasks)
    failed = []

    def worker(tid):
        while not failed:
            with lock:
                t = next(it, None)
            if t is None:
                return
            try:
                fn(tid, *t)
            except BaseException:
                failed.append(True)
                raise

    _run_threads(worker, threads)


def _csls_pass(
    X,
    Y,
    k: int,
    rank_s: int,
    rank_t: int,
    block: int = 256,
    ws: _Workspace | None = None,
    threads: int | None = None,
    timings: dict | None = None,
    both_ways: bool = True,
    tile_cols: int | None = None,
) -> _Pass:
    """CSLS nearest neighbours both ways among the first ``rank_s`` / ``rank_t`` rows.

    ``r`` terms are computed against the whole other table. The similarity matrix is
    computed in ``block x tile_cols`` tiles (default 256 x 4096, a few MB), each reduced
    right after its product while it is still in cache; nothing of the size of the
    similarity matrix is ever stored, so nothing large is allocated per sweep:

    1. ``cos = X Y^T`` over the first ``rank_s`` rows (all columns) and the first
       ``rank_t`` columns (all rows); a worker takes a whole row block. Each tile leaves
       the maxima of its 16-value row chunks (strided columns, :func:`_tile_chunk_members`)
       and of its 16-row column chunks. ``r_T`` of the block's sources is finished as soon
       as its tiles are done, ``r_S`` of the targets after the sweep, both exactly by
       :func:`_knn_means_from_chunks`: the ``k`` largest values lie in the ``k`` chunks
       with the largest maxima, whose ``16 k`` cosines are recomputed.
    2. The restricted ``rank_s x rank_t`` block of ``CSLS / 2 = cos - r_T(x)/2 - r_S(y)/2``,
       computed as one product of augmented vectors ``[x, 1, -r_T(x)/2] . [y, -r_S(y)/2, 1]``:
       a source's best target is the arg-max of its row (its own ``r_T`` is constant along
       the row; each tile keeps its row maxima and their positions), a target's best source
       the arg-max of its column (each tile keeps its column maxima; the arg-max is
       recomputed within the first row tile that holds the column's maximum).

    Recomputing the restricted block (~40% of the first sweep's products) costs less than
    storing 15000 x 15000 cosines and reading them back. ``threads`` workers (default: as
    many as BLAS would use, for problems of at least 4M pairs) take whole tiles with BLAS
    set to one thread (threadpoolctl), so the reductions run on every core as well as the
    products. With ``both_ways=False`` only the source-to-target search is made (all the
    criterion needs): no ``r_T``, no column arg-maxima, and ``t2s`` is ``None``.

    Results equal brute force up to floating-point rounding; ties go to the lowest index.
    ``ws`` keeps the buffers between calls; ``timings``, if given, accumulates the
    seconds of each phase under its name.
    """
    ws = ws if ws is not None else _Workspace()
    Xn, Yn = normalize_rows(X), normalize_rows(Y)
    n_s, n_t = Xn.shape[0], Yn.shape[0]
    if threads is None:
        threads = _default_threads() if n_s * n_t >= 1 << 22 else 1
    ctl = _blas() if threads > 1 else None
    with ctl.limit(limits=1, user_api="blas") if ctl is not None else contextlib.nullcontext():
        return _csls_sweeps(
            Xn,
            Yn,
            k,
            rank_s,
            rank_t,
            block,
            tile_cols or _TILE_COLS,
            ws,
            int(threads),
            timings,
            both_ways,
        )


_CHUNK = 16  # values per chunk of a row or column in the first sweep
_TILE_COLS = 4096  # columns per tile (rows per tile: ``block``)
_R_BLOCK = (
    64  # queries per step when finishing the r terms (keeps the gathered candidates in cache)
)


def _tile_chunk_members(n: int, width: int, c: int = _CHUNK) -> np.ndarray:
    """The columns of every row chunk when ``n`` columns are cut into tiles of ``width``.

    Within a tile of ``w`` columns starting at ``p``, chunk ``g`` (``g < w // c``) holds the
    strided columns ``p + g + m * (w // c)``, ``m < c`` (so a tile's chunk maxima are one
    reduction over its middle axis); the last ``w % c`` columns of a tile form one more
    chunk. Chunks are numbered tile after tile. Returns ``(n_chunks, c)`` column indices,
    ``-1`` where a chunk has fewer than ``c`` members.
    """
    out = []
    for p in range(0, n, width):
        w = min(width, n - p)
        g = w // c
        if g:
            out.append(p + np.arange(g)[:, None] + g * np.arange(c)[None, :])
        if w % c:
            last = np.full((1, c), -1, dtype=np.int64)
            last[0, : w % c] = np.arange(p + g * c, p + w)
            out.append(last)
    return np.concatenate(out, axis=0).astype(np.int64)


def _tile_chunk_maxima(M: np.ndarray, out: np.ndarray, c: int = _CHUNK) -> None:
    """Row chunk maxima of one tile (chunks as in :func:`_tile_chunk_members`) into ``out``."""
    rows, w = M.shape
    g = w // c
    if g:
        np.max(M[:, : g * c].reshape(rows, c, g), axis=1, out=out[:, :g])
    if w % c:
        np.max(M[:, g * c :], axis=1, out=out[:, g])


def _knn_means_from_chunks(cm, members, Q, B, k, ws, tag):
    """Mean of the ``k`` largest cosines of each row of ``Q`` with the rows of ``B``, exact.

    ``cm[i, h]`` is the largest of ``Q[i] . B[members[h]]`` (``members`` rows padded with
    -1). The ``k`` largest values of a row lie in its ``k`` chunks with the largest maxima
    (whatever the ties): those ``k * c`` cosines are recomputed and the ``k`` largest kept.
    ``cm`` is overwritten.
    """
    w, n_chunks = cm.shape
    c = members.shape[1]
    d = Q.shape[1]
    kc = min(k, n_chunks)
    if kc <= 16:  # k successive arg-maxima: much faster than argpartition for small k
        sel = ws.get(f"sel{tag}", (w, kc), np.int64)
        r = np.arange(w)
        for i in range(kc):
            j = cm.argmax(axis=1)
            sel[:, i] = j
            cm[r, j] = -np.inf
    else:
        sel = np.argpartition(cm, n_chunks - kc, axis=1)[:, n_chunks - kc :]
    idx = members[sel].reshape(w, kc * c)
    G = ws.get(f"G{tag}", (w, kc * c, d), Q.dtype)
    np.take(B, idx, axis=0, out=G, mode="clip")
    sims3 = ws.get(f"sims{tag}", (w, kc * c, 1), Q.dtype)
    np.matmul(G, Q[:, :, None], out=sims3)
    sims = sims3[:, :, 0]
    pad = idx < 0
    if pad.any():
        sims[pad] = -np.inf
    n = kc * c
    return np.partition(sims, n - k, axis=1)[:, n - k :].mean(axis=1)


def _csls_sweeps(
    Xn, Yn, k, rank_s, rank_t, block, tile_cols, ws, threads, timings, both_ways
) -> _Pass:
    clock = [time.perf_counter()]

    def lap(name):
        if timings is not None:
            now = time.perf_counter()
            timings[name] = timings.get(name, 0.0) + now - clock[0]
            clock[0] = now

    dt = Xn.dtype
    n_s, n_t, d = Xn.shape[0], Yn.shape[0], Xn.shape[1]
    ks, kt = min(k, n_t), min(k, n_s)
    c = _CHUNK
    R = max(c, int(block) - int(block) % c)
    Wc = max(1, int(tile_cols))
    row_tiles = list(_blocks(n_s, R))
    col_tiles = list(_blocks(n_t, Wc))

    # ---- sweep 1: cos = X Y^T in R x Wc tiles; chunk maxima of the first rank_s rows
    # (row chunks as in _tile_chunk_members), finished into r_T as soon as a row block is
    # done, and of the first rank_t columns (16-row chunks)
    members = ws.bufs.get(("members", n_t, Wc))
    if members is None:
        members = ws.bufs[("members", n_t, Wc)] = _tile_chunk_members(n_t, Wc, c)
    row_chunks = members.shape[0]
    tile_chunks = Wc // c + (Wc % c > 0)  # row chunks of a full tile
    col_members = np.arange(-(-n_s // c) * c).reshape(-1, c)
    col_members[col_members >= n_s] = -1
    col_chunks = col_members.shape[0]
    YnT = ws.get("YnT", (d, n_t), dt)
    YnT[...] = Yn.T
    col_max = ws.get("col_max", (col_chunks, rank_t), dt)
    rows_wide = rank_s if both_ways else 0  # rows whose r_T is needed: all their columns
    r_src = np.empty(rank_s, dtype=dt)

    def sweep1(tid, a, b):  # one row block: its tiles, then r_T of its rows
        e = min(b, rows_wide)
        row_max = ws.get(f"row_max{tid}", (max(0, e - a), row_chunks), dt)
        for ti, (p, q) in enumerate(col_tiles):
            if a >= rows_wide:
                if p >= rank_t:
                    break
                q = min(q, rank_t)
            M = ws.get(f"M{tid}", (b - a, q - p), dt)
            np.matmul(Xn[a:b], YnT[:, p:q], out=M)
            if e > a:
                _tile_chunk_maxima(M[: e - a], row_max[:, ti * tile_chunks :], c)
            if p < rank_t:
                Mt = M[:, : min(q, rank_t) - p]
                rows = b - a
                full = rows - rows % c
                if full:
                    np.max(
                        Mt[:full].reshape(full // c, c, Mt.shape[1]),
                        axis=1,
                        out=col_max[a // c : (a + full) // c, p : p + Mt.shape[1]],
                    )
                if full < rows:
                    np.max(Mt[full:], axis=0, out=col_max[(a + full) // c, p : p + Mt.shape[1]])
        for u, v in _blocks(max(0, e - a), _R_BLOCK):
            r_src[a + u : a + v] = _knn_means_from_chunks(
                row_max[u:v], members, Xn[a + u : a + v], Yn, ks, ws, tid
            )

    lap("prepare")
    _parallel(sweep1, row_tiles, threads)
    lap("sweep1")

    # ---- r_S of the first rank_t targets, finished exactly from their k best chunks
    r_tgt = np.empty(rank_t, dtype=dt)

    def target_terms(tid, a, b):
        cm = ws.get(f"cmT{tid}", (b - a, col_chunks), dt)
        np.copyto(cm, col_max[:, a:b].T)
        r_tgt[a:b] = _knn_means_from_chunks(cm, col_members, Yn[a:b], Xn, kt, ws, tid)

    _parallel(target_terms, _blocks(rank_t, _R_BLOCK), threads)
    lap("r_terms")

    # ---- sweep 2: CSLS / 2 = cos - r_T(x)/2 - r_S(y)/2 on the restricted block, as the
    # product of augmented vectors [x, 1, -r_T(x)/2] . [y, -r_S(y)/2, 1]
    da = d + 2
    XA = ws.get("XA", (rank_s, da), dt)
    XA[:, :d] = Xn[:rank_s]
    XA[:, d] = 1.0
    XA[:, d + 1] = -0.5 * r_src if both_ways else 0.0
    YAT = ws.get("YAT", (da, rank_t), dt)
    YAT[:d] = YnT[:, :rank_t]
    YAT[d] = -0.5 * r_tgt
    YAT[d + 1] = 1.0
    tiles_s = list(_blocks(rank_s, R))
    tiles_t = list(_blocks(rank_t, Wc))
    row_best = ws.get("row_best", (len(tiles_t), rank_s), dt)
    row_arg = ws.get("row_arg", (len(tiles_t), rank_s), np.int64)
    col_best = ws.get("col_best", (len(tiles_s), rank_t), dt)
    tasks = [(i, j) for i in range(len(tiles_s)) for j in range(len(tiles_t))]

    def sweep2(tid, i, j):
        (a, b), (p, q) = tiles_s[i], tiles_t[j]
        M = ws.get(f"M{tid}", (b - a, q - p), dt)
        np.matmul(XA[a:b], YAT[:, p:q], out=M)
        arg = M.argmax(axis=1)
        row_best[j, a:b] = M[np.arange(b - a), arg]
        row_arg[j, a:b] = arg + p
        if both_ways:
            np.max(M, axis=0, out=col_best[i, p:q])

    lap("prepare2")
    _parallel(sweep2, tasks, threads)
    lap("sweep2")

    # a source's best target: from the first column tile holding its row maximum
    s2t = row_arg[row_best.argmax(axis=0), np.arange(rank_s)]
    s2t_cos = np.einsum("ij,ij->i", Xn[:rank_s], Yn[s2t])
    if not both_ways:
        lap("argmax")
        return _Pass(s2t, s2t_cos, None)
    # a target's best source: recomputed within the first row tile holding its maximum
    best_tile = col_best.argmax(axis=0)
    order = np.argsort(best_tile, kind="stable")
    bounds = np.searchsorted(best_tile[order], np.arange(len(tiles_s) + 1))
    t2s = np.empty(rank_t, dtype=np.int64)

    def column_argmax(tid, i):
        cols = order[bounds[i] : bounds[i + 1]]
        if cols.size:
            a, b = tiles_s[i]
            t2s[cols] = a + (XA[a:b] @ YAT[:, cols]).argmax(axis=0)

    _parallel(column_argmax, [(i,) for i in range(len(tiles_s))], threads)
    lap("argmax")
    return _Pass(s2t, s2t_cos, t2s)
