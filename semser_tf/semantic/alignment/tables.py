"""Embedding tables and linear maps: checks, normalisation, Procrustes (MUSE, Conneau et al. 2018).

Conventions in :mod:`semser_tf.semantic.alignment`."""

from __future__ import annotations

import numpy as np

from semser_tf.errors import ConfigError

_FLOATS = (np.float32, np.float64)


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
