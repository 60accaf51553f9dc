"""The concordance correlation coefficient (CCC) in NumPy: the one host-side implementation.

``CCC(x, y) = 2 cov(x, y) / (var x + var y + (mean x - mean y)^2)`` with population
moments (Lin, 1989), the AVEC 2017 evaluation measure the paper reports. Evaluation,
plots, the demo and the benchmarks score predictions with :func:`ccc_np`; the Keras loss
(:mod:`semser_tf.losses`) and metric (:mod:`semser_tf.metrics`) compute the same quantity
with backend ops inside the training graph, and their tests compare them with this one.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ccc_np", "ccc_table"]


def ccc_np(x, y) -> float:
    """CCC of two 1-D arrays (float64, population moments); NaN when undefined.

    Example:
        >>> ccc_np([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
        1.0
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.size < 2:
        return float("nan")
    mx, my = x.mean(), y.mean()
    vx, vy = x.var(), y.var()
    cov = ((x - mx) * (y - my)).mean()
    denom = vx + vy + (mx - my) ** 2
    return float(2 * cov / denom) if denom > 0 else float("nan")


def ccc_table(pred: np.ndarray, gold: np.ndarray, targets) -> dict:
    """CCC per target column of ``(frames, targets)`` arrays, and their mean.

    Returns:
        ``{"ccc": {target: CCC}, "mean": nanmean of the CCCs}``.
    """
    per = {t: ccc_np(pred[:, i], gold[:, i]) for i, t in enumerate(targets)}
    return {"ccc": per, "mean": float(np.nanmean(list(per.values())))}
