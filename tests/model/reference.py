"""Independent NumPy references of the model's computations (no Keras)."""

import numpy as np


def conv1d_same(x, kernel, bias):
    """x (n, length, cin), kernel (k, cin, cout): Keras/TF 'same' (left pad (k-1)//2)."""
    k = kernel.shape[0]
    left = (k - 1) // 2
    right = k - 1 - left
    xp = np.pad(x, ((0, 0), (left, right), (0, 0)))
    n, length, _ = x.shape
    out = np.zeros((n, length, kernel.shape[2]), np.float64)
    for j in range(k):
        out += np.einsum("nlc,cd->nld", xp[:, j : j + length, :], kernel[j])
    return out + bias


def maxpool_valid(x, p):
    n, length, c = x.shape
    steps = length // p
    return x[:, : steps * p].reshape(n, steps, p, c).max(axis=2)


def conv_stack(frames, weights, pools, pooling="flatten"):
    """frames (batch, T, spf); weights [(kernel, bias), ...] -> (batch, T, features)."""
    b, t, spf = frames.shape
    x = frames.reshape(b * t, spf, 1).astype(np.float64)
    for (kernel, bias), p in zip(weights, pools):
        x = maxpool_valid(np.maximum(conv1d_same(x, kernel, bias), 0.0), p)
    if pooling == "flatten":
        return x.reshape(b, t, -1)
    if pooling == "mean":
        return x.mean(axis=1).reshape(b, t, -1)
    return x.max(axis=1).reshape(b, t, -1)


def dense(x, kernel, bias, act=None):
    y = x @ kernel + bias
    if act == "relu":
        y = np.maximum(y, 0)
    return y


def attention(a, b, score_kernel, score_bias):
    st = np.stack([a, b], axis=2)  # B,T,2,d
    s = (st @ score_kernel + score_bias) / np.sqrt(st.shape[-1])  # B,T,2,1
    s = s - s.max(axis=2, keepdims=True)
    w = np.exp(s) / np.exp(s).sum(axis=2, keepdims=True)
    return (st * w).sum(axis=2), w[..., 0]


def ccc(x, y, w=None):
    """CCC of 1-D arrays in float64, optionally weighted (textbook definition)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    w = np.ones_like(x) if w is None else np.asarray(w, np.float64)
    n = w.sum()
    mx, my = (w * x).sum() / n, (w * y).sum() / n
    vx, vy = (w * (x - mx) ** 2).sum() / n, (w * (y - my) ** 2).sum() / n
    cov = (w * (x - mx) * (y - my)).sum() / n
    return 2 * cov / (vx + vy + (mx - my) ** 2)
