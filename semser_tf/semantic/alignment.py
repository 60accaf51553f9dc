"""Alignment of the speech embedding space onto the text space (MUSE, Conneau et al. 2018).

Conventions (read this first):

* **Vectors are rows.** An embedding table is an array of shape ``(n_words, dim)``;
  row ``i`` is the vector of word ``i``. Rows are ordered by decreasing word frequency
  (row 0 is the most frequent word): "the most frequent words" means "the first rows".
* **The mapping acts on column vectors**, as in the paper: ``W`` has shape ``(dim, dim)``
  and maps a speech vector ``s`` to ``W @ s``. For a table of row vectors this is
  ``S @ W.T``; :func:`apply_mapping` does exactly that.
* ``S`` is the source (speech) table, ``T`` the target (text) table. A dictionary is an
  integer array of shape ``(m, 2)`` of ``(source row, target row)`` pairs.

The pieces:

* :func:`procrustes` - the orthogonal ``W`` minimising ``||W S^T - T^T||_F`` over paired
  rows: ``W = U V^T`` with ``U Sigma V^T = SVD(T^T S)``.
* :func:`csls_scores`, :func:`csls_knn` - cross-domain similarity local scaling,
  ``CSLS(Wx, y) = 2 cos(Wx, y) - r_T(Wx) - r_S(y)``, where ``r_T(Wx)`` is the mean cosine of
  ``Wx`` with its ``k`` nearest target vectors and ``r_S(y)`` the mean cosine of ``y`` with
  its ``k`` nearest mapped source vectors (``k = 10``).
* :func:`build_dictionary` - mutual nearest neighbours under CSLS among the
  ``max_rank`` most frequent words of each side (MUSE's ``dico_max_rank`` = 15000).
* :func:`refine` - iterated Procrustes: rebuild the dictionary from the current mapping,
  solve Procrustes, repeat (5 iterations); the mapping with the best
  :func:`unsupervised_criterion` is kept.
* :func:`unsupervised_criterion` - model selection without a dictionary: the mean cosine
  of the CSLS translations of the 10000 most frequent source words (capped to the
  vocabulary; translations are searched among the ``max_rank`` most frequent targets).
* :func:`precision_at_k` - evaluation against a known dictionary.
* :func:`identical_words_dictionary` - the supervised dictionary (same word on both sides).
* :func:`adversarial_align` - the adversarial stage (Keras 3, TensorFlow backend): a
  discriminator tells mapped speech vectors from text vectors, the mapping learns to fool
  it, and stays near orthogonal by ``W <- (1 + beta) W - beta W W^T W`` after each step.

All CSLS computations are exact (no approximate search) and blocked. The sweeps of
:func:`build_dictionary`, :func:`unsupervised_criterion` and :func:`refine` cut the
similarity matrix into tiles of a few MB that are reduced while in cache (top-k means
found from per-chunk maxima: the ``k`` largest values of a row lie in the ``k`` chunks
with the largest maxima), so a 20000 x 20000 problem never materialises more than one
tile per core; see :func:`_csls_pass`.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> T = rng.standard_normal((500, 20))
    >>> Q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    >>> S = T @ Q                      # s_i = Q^T t_i, so W = Q maps S onto T
    >>> W = procrustes(S, T)
    >>> bool(np.allclose(W, Q))
    True
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from semser_tf.errors import ConfigError

__all__ = [
    "as_table",
    "normalize_rows",
    "apply_mapping",
    "orthogonalize",
    "procrustes",
    "knn_mean_similarity",
    "csls_scores",
    "csls_knn",
    "build_dictionary",
    "unsupervised_criterion",
    "refine",
    "RefineResult",
    "precision_at_k",
    "identical_words_dictionary",
    "supervised_align",
    "AdversarialConfig",
    "AdversarialResult",
    "adversarial_align",
]

_FLOATS = (np.float32, np.float64)


# --------------------------------------------------------------------------- checks


def as_table(X, name: str = "embeddings", dim: int | None = None) -> np.ndarray:
    """Check an embedding table and return it as a float32/float64 array.

    Args:
        X: array-like of shape ``(n_words, dim)``, one vector per row.
        name: what the table is, for error messages (e.g. ``"source vectors"``).
        dim: the required vector dimension, or ``None`` for any.

    Returns:
        The table; float32 and float64 are kept, other dtypes become float64.

    Raises:
        ConfigError: not 2-D, empty (no words or zero dimension), the wrong dimension, or
            non-finite values.

    Example:
        >>> as_table([[1.0, 0.0]], "S").shape
        (1, 2)
    """
    A = np.asarray(X)
    if A.dtype not in _FLOATS:
        A = A.astype(np.float64)
    if A.ndim != 2:
        raise ConfigError(f"{name}: expected a 2-D array (n_words, dim), got shape {A.shape}")
    if A.shape[0] == 0:
        raise ConfigError(f"{name}: empty vocabulary (0 rows); expected at least one word vector")
    if A.shape[1] == 0:
        raise ConfigError(f"{name}: vectors of dimension 0; expected dim >= 1")
    if dim is not None and A.shape[1] != dim:
        raise ConfigError(
            f"{name}: vectors of dimension {A.shape[1]}, expected {dim} "
            "(both spaces must have the same dimension)"
        )
    if not np.all(np.isfinite(A)):
        raise ConfigError(f"{name}: contains NaN or infinite values")
    return A


def _pair(S, T, names=("source vectors S", "target vectors T")):
    S = as_table(S, names[0])
    T = as_table(T, names[1], dim=S.shape[1])
    dtype = np.result_type(S.dtype, T.dtype)
    return S.astype(dtype, copy=False), T.astype(dtype, copy=False)


def _check_mapping(W, dim: int) -> np.ndarray:
    W = np.asarray(W)
    if W.shape != (dim, dim):
        raise ConfigError(f"mapping W: expected shape ({dim}, {dim}), got {W.shape}")
    if not np.all(np.isfinite(W)):
        raise ConfigError("mapping W: contains NaN or infinite values")
    return W


def _check_k(k: int, name: str = "k") -> int:
    if int(k) != k or k < 1:
        raise ConfigError(f"{name}: expected a positive integer, got {k!r}")
    return int(k)


# ------------------------------------------------------------------------ basics


def normalize_rows(X: np.ndarray, center: bool = False) -> np.ndarray:
    """Scale every row to unit length (rows of zeros stay zero).

    Args:
        X: table ``(n, dim)``.
        center: subtract the mean vector first (MUSE's optional ``center`` step).

    Returns:
        A new array of the same dtype.

    Example:
        >>> normalize_rows(np.array([[3.0, 4.0]]))
        array([[0.6, 0.8]])
    """
    X = np.array(X, dtype=np.result_type(np.asarray(X).dtype, np.float32), copy=True)
    if center:
        X -= X.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    X /= norms
    return X


def apply_mapping(W: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Map a table of row vectors: row ``i`` of the result is ``W @ S[i]``.

    Args:
        W: mapping ``(dim, dim)``.
        S: table ``(n, dim)``.

    Returns:
        ``S @ W.T``.

    Example:
        >>> apply_mapping(np.eye(2), np.ones((3, 2))).shape
        (3, 2)
    """
    S = np.asarray(S)
    return S @ np.asarray(W, dtype=S.dtype).T


def orthogonalize(W: np.ndarray, beta: float = 0.01) -> np.ndarray:
    """One step of ``W <- (1 + beta) W - beta W W^T W`` (keeps ``W`` near orthogonal).

    Args:
        W: square mapping.
        beta: step size; 0.01 is the paper's value, 0.001 the official code's.

    Returns:
        The updated mapping.

    Example:
        >>> np.allclose(orthogonalize(np.eye(3)), np.eye(3))
        True
    """
    W = np.asarray(W)
    return (1.0 + beta) * W - beta * (W @ W.T @ W)


def procrustes(S, T) -> np.ndarray:
    """Orthogonal Procrustes: the ``W`` minimising ``sum_i ||W s_i - t_i||^2`` over orthogonal ``W``.

    Rows ``S[i]`` and ``T[i]`` are a pair (a dictionary entry). Then ``W = U V^T`` with
    ``U Sigma V^T = SVD(T^T S)`` (``T^T S = sum_i t_i s_i^T``), and ``S @ W.T`` approximates
    ``T``.

    Args:
        S: source vectors of the pairs, ``(m, dim)``.
        T: target vectors of the pairs, ``(m, dim)``.

    Returns:
        ``W`` of shape ``(dim, dim)``, orthogonal, dtype of the inputs.

    Raises:
        ConfigError: empty input, different dimensions or different numbers of rows.

    Example:
        >>> W = procrustes(np.eye(2), np.array([[0.0, 1.0], [-1.0, 0.0]]))
        >>> W @ np.array([1.0, 0.0])
        array([0., 1.])
    """
    S, T = _pair(S, T, ("dictionary source vectors", "dictionary target vectors"))
    if S.shape[0] != T.shape[0]:
        raise ConfigError(
            f"procrustes: {S.shape[0]} source rows but {T.shape[0]} target rows; "
            "expected one target row per source row"
        )
    M = T.astype(np.float64).T @ S.astype(np.float64)
    U, _, Vt = np.linalg.svd(M)
    return (U @ Vt).astype(S.dtype)


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


# ------------------------------------------------------------------ adversarial


@dataclasses.dataclass
class AdversarialConfig:
    """Settings of the adversarial stage (defaults: the paper / MUSE).

    Args:
        hidden_units: units of each discriminator hidden layer (2048).
        hidden_layers: number of hidden layers (2).
        input_dropout: dropout on the discriminator input (0.1).
        hidden_dropout: dropout after each hidden layer (0.0, MUSE).
        leaky_slope: LeakyReLU negative slope (0.2).
        smoothing: label smoothing (0.1): speech labelled ``1 - s``, text ``s``.
        dis_steps: discriminator steps per mapping step (5).
        learning_rate: SGD learning rate of both (0.1).
        batch_size: words per side per step (32).
        lr_decay: mapping learning-rate factor after each epoch (0.98).
        lr_shrink: factor applied when the criterion drops below the best (0.5).
        min_lr: lower bound of the learning rate.
        epochs: number of epochs.
        epoch_size: samples per epoch (MUSE: 1000000; each iteration consumes ``batch_size``).
        most_frequent: only the most frequent words are discriminated (75000, capped to
            each vocabulary).
        beta: orthogonalisation step, 0.01 (paper) or 0.001 (official code).
        n_criterion: source words of the model-selection criterion (10000, capped).
        csls_k: CSLS neighbourhood of the criterion.
        restarts: independent runs (seeds ``seed, seed + 1, ...``); the mapping with the
            best criterion over all of them is kept. Adversarial training sometimes lands
            in a wrong local optimum, which shows as a lower criterion.
        seed: seeds the weights, the sampling and the dropout.

    Example:
        >>> AdversarialConfig(epochs=2, epoch_size=3200).beta
        0.01
    """

    hidden_units: int = 2048
    hidden_layers: int = 2
    input_dropout: float = 0.1
    hidden_dropout: float = 0.0
    leaky_slope: float = 0.2
    smoothing: float = 0.1
    dis_steps: int = 5
    learning_rate: float = 0.1
    batch_size: int = 32
    lr_decay: float = 0.98
    lr_shrink: float = 0.5
    min_lr: float = 1e-6
    epochs: int = 5
    epoch_size: int = 1_000_000
    most_frequent: int = 75000
    beta: float = 0.01
    n_criterion: int = 10000
    csls_k: int = 10
    restarts: int = 1
    seed: int = 0

    def validate(self) -> AdversarialConfig:
        """Check the fields; raise :class:`ConfigError` naming the bad one."""
        for name in (
            "hidden_units",
            "hidden_layers",
            "dis_steps",
            "batch_size",
            "epochs",
            "epoch_size",
            "most_frequent",
            "n_criterion",
            "csls_k",
            "restarts",
        ):
            v = getattr(self, name)
            if int(v) != v or v < (0 if name == "hidden_layers" else 1):
                raise ConfigError(f"adversarial.{name}: expected a positive integer, got {v!r}")
        for name in ("input_dropout", "hidden_dropout", "smoothing"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise ConfigError(f"adversarial.{name}: expected a value in [0, 1), got {v!r}")
        for name in ("learning_rate", "lr_decay", "lr_shrink", "beta"):
            v = getattr(self, name)
            if not v > 0:
                raise ConfigError(f"adversarial.{name}: expected a positive number, got {v!r}")
        return self


class AdversarialResult(NamedTuple):
    """Outcome of :func:`adversarial_align`.

    Args:
        W: the mapping with the best criterion over the epochs.
        criterion: that criterion.
        history: one dict per epoch (epoch, criterion, learning rate, losses, seconds).
    """

    W: np.ndarray
    criterion: float
    history: list


def _build_discriminator(dim: int, cfg: AdversarialConfig):
    import keras

    layers = [keras.Input((dim,)), keras.layers.Dropout(cfg.input_dropout)]
    x = layers[0]
    x = layers[1](x)
    for _ in range(cfg.hidden_layers):
        x = keras.layers.Dense(cfg.hidden_units)(x)
        x = keras.layers.LeakyReLU(negative_slope=cfg.leaky_slope)(x)
        if cfg.hidden_dropout:
            x = keras.layers.Dropout(cfg.hidden_dropout)(x)
    out = keras.layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(layers[0], out, name="alignment_discriminator")


def adversarial_align(
    S,
    T,
    config: AdversarialConfig | None = None,
    W0=None,
    progress: Callable[[dict], None] | None = None,
) -> AdversarialResult:
    """Learn ``W`` adversarially (MUSE), without any dictionary; see :func:`_adversarial_once`.

    Runs ``config.restarts`` independent trainings (seeds ``seed + r``) and returns the
    one with the best unsupervised criterion; its history entries carry ``"restart"``.

    Args:
        S: source (speech) table, most frequent first.
        T: target (text) table, most frequent first, same dimension.
        config: :class:`AdversarialConfig`.
        W0: initial mapping (identity when ``None``).
        progress: called after every epoch with its history entry.

    Returns:
        :class:`AdversarialResult`.

    Example:
        >>> cfg = AdversarialConfig(hidden_units=64, epochs=1, epoch_size=320)  # doctest: +SKIP
        >>> res = adversarial_align(S, T, cfg)                                  # doctest: +SKIP
    """
    cfg = (config or AdversarialConfig()).validate()
    best = None
    for r in range(cfg.restarts):
        run_cfg = dataclasses.replace(cfg, seed=cfg.seed + r, restarts=1)

        def tagged(entry, r=r):
            entry["restart"] = r
            if progress:
                progress(entry)

        res = _adversarial_once(S, T, run_cfg, W0, tagged)
        if best is None or res.criterion > best.criterion:
            best = res
    return best


def _adversarial_once(
    S,
    T,
    config: AdversarialConfig | None = None,
    W0=None,
    progress: Callable[[dict], None] | None = None,
) -> AdversarialResult:
    """Learn ``W`` adversarially (MUSE), without any dictionary.

    Each iteration runs ``dis_steps`` discriminator steps, then one mapping step. A
    discriminator step samples ``batch_size`` words from each side among the
    ``most_frequent`` ones, maps the speech ones (``W s``) and minimises
    ``L_D = -1/n sum log P(speech=1 | W s_i) - 1/m sum log P(speech=0 | t_i)`` (with label
    smoothing). A mapping step minimises ``L_G``, the same loss with the labels flipped, over
    ``W`` only (discriminator in inference mode), then orthogonalises ``W``. After each epoch
    the unsupervised criterion is computed; the best mapping is kept; the learning rate is
    multiplied by ``lr_decay``, and by ``lr_shrink`` when the criterion fell below the best.

    Runs on the TensorFlow backend (``tf.GradientTape`` in a ``tf.function``). Arguments
    and result as :func:`adversarial_align` (one restart).
    """
    cfg = (config or AdversarialConfig()).validate()
    S, T = _pair(S, T)
    dim = S.shape[1]
    W_init = np.eye(dim) if W0 is None else _check_mapping(W0, dim)

    import keras
    import tensorflow as tf

    n_s = min(cfg.most_frequent, S.shape[0])
    n_t = min(cfg.most_frequent, T.shape[0])
    keras.utils.set_random_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    src = tf.constant(S[:n_s], dtype=tf.float32)
    tgt = tf.constant(T[:n_t], dtype=tf.float32)
    disc = _build_discriminator(dim, cfg)
    W = tf.Variable(W_init.astype(np.float32), name="mapping")
    lr = float(cfg.learning_rate)
    dis_opt = keras.optimizers.SGD(learning_rate=cfg.learning_rate)
    map_lr = tf.Variable(lr, dtype=tf.float32, trainable=False)
    bs = cfg.batch_size
    sm = cfg.smoothing
    y_dis = tf.constant(
        np.concatenate([np.full(bs, 1.0 - sm), np.full(bs, sm)])[:, None], tf.float32
    )
    y_map = 1.0 - y_dis
    beta = float(cfg.beta)
    bce = keras.losses.BinaryCrossentropy()
    dis_vars = disc.trainable_variables
    dis_opt.build(dis_vars)

    def batch(si, ti):
        xs = tf.matmul(tf.gather(src, si), W, transpose_b=True)
        return tf.concat([xs, tf.gather(tgt, ti)], axis=0)

    @tf.function(reduce_retracing=True)
    def dis_step(si, ti):
        x = tf.stop_gradient(batch(si, ti))
        with tf.GradientTape() as tape:
            loss = bce(y_dis, disc(x, training=True))
        grads = tape.gradient(loss, dis_vars)
        dis_opt.apply_gradients(zip(grads, dis_vars))
        return loss

    @tf.function(reduce_retracing=True)
    def map_step(si, ti):
        with tf.GradientTape() as tape:
            loss = bce(y_map, disc(batch(si, ti), training=False))
        g = tape.gradient(loss, W)
        W.assign_sub(map_lr * g)
        W.assign((1.0 + beta) * W - beta * tf.matmul(tf.matmul(W, W, transpose_b=True), W))
        return loss

    @tf.function(reduce_retracing=True)
    def iteration(si, ti):  # si, ti: (dis_steps + 1, bs)
        d = tf.constant(0.0)
        for j in range(cfg.dis_steps):
            d += dis_step(si[j], ti[j])
        g = map_step(si[cfg.dis_steps], ti[cfg.dis_steps])
        return d / cfg.dis_steps, g

    iters = max(1, cfg.epoch_size // bs)
    history = []
    best_W = W_init.astype(S.dtype)
    best_c = unsupervised_criterion(best_W, S, T, cfg.n_criterion, cfg.csls_k)
    history.append({"epoch": 0, "criterion": best_c, "learning_rate": lr})
    if progress:
        progress(history[-1])
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        dl = gl = 0.0
        for _ in range(iters):
            si = rng.integers(0, n_s, size=(cfg.dis_steps + 1, bs))
            ti = rng.integers(0, n_t, size=(cfg.dis_steps + 1, bs))
            d, g = iteration(tf.constant(si, tf.int32), tf.constant(ti, tf.int32))
            dl += float(d)
            gl += float(g)
        Wn = W.numpy().astype(S.dtype)
        crit = unsupervised_criterion(Wn, S, T, cfg.n_criterion, cfg.csls_k)
        entry = {
            "epoch": epoch,
            "criterion": crit,
            "learning_rate": lr,
            "dis_loss": dl / iters,
            "map_loss": gl / iters,
            "seconds": time.perf_counter() - t0,
        }
        history.append(entry)
        if crit > best_c:
            best_W, best_c = Wn, crit
        else:
            lr = max(cfg.min_lr, lr * cfg.lr_shrink)
        lr = max(cfg.min_lr, lr * cfg.lr_decay)
        map_lr.assign(lr)
        if progress:
            progress(entry)
    return AdversarialResult(best_W, float(best_c), history)
