"""Every figure the package draws, in one place (matplotlib, headless).

matplotlib is imported when a figure is drawn, never at import time, with the ``Agg``
backend (no display needed). Each figure is rendered to PNG in memory and written with
:func:`semser_tf.io.atomic_write_bytes`, so a reader never sees half a file.

* :func:`plot_recording`: prediction against gold over time, one panel per target, plus
  the modality-attention weights (``Prediction.plot``, ``semser evaluate --plots``).
* :func:`plot_history`: training and validation loss and CCC per epoch (``history.png`` of
  a run folder).
* :func:`plot_ablation`: CCC per target and variant (``semser ablation``).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from semser_tf.constants import FRAME_RATE
from semser_tf.io import atomic_write_bytes
from semser_tf.metrics_numpy import ccc_np

__all__ = ["pyplot", "save_figure", "plot_recording", "plot_history", "plot_ablation"]


def pyplot():
    """``matplotlib.pyplot`` on the headless ``Agg`` backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, dpi: int = 90) -> Path:
    """Render ``fig`` to PNG, write it atomically to ``path`` and close the figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    pyplot().close(fig)
    return atomic_write_bytes(Path(path), buf.getvalue())


def plot_recording(path, name, pred, gold, targets, weights=None):
    """PNG of prediction against gold over time, one panel per target (+ modality weights)."""
    plt = pyplot()
    n_panels = len(targets) + (1 if weights is not None else 0)
    fig, axes = plt.subplots(
        n_panels, 1, figsize=(10, 1.9 * n_panels + 0.6), sharex=True, squeeze=False
    )
    t = np.arange(len(pred)) / FRAME_RATE
    for i, target in enumerate(targets):
        ax = axes[i, 0]
        if gold is not None:
            n = min(len(gold), len(pred))
            ax.plot(t[:n], gold[:n, i], color="0.3", lw=1.2, label="gold")
            c = ccc_np(pred[:n, i][~np.isnan(gold[:n, i])], gold[:n, i][~np.isnan(gold[:n, i])])
            ax.set_title(
                f"{target}  CCC {c:.3f}" if not math.isnan(c) else target, fontsize=9, loc="left"
            )
        else:
            ax.set_title(target, fontsize=9, loc="left")
        ax.plot(t, pred[:, i], color="tab:red", lw=1.2, label="prediction")
        ax.set_ylim(-1.05, 1.05)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(loc="upper right", fontsize=8)
    if weights is not None:
        ax = axes[-1, 0]
        ax.stackplot(
            t[: len(weights)],
            weights[:, 0],
            weights[:, 1],
            labels=["paralinguistic", "semantic"],
            colors=["tab:blue", "tab:orange"],
            alpha=0.7,
        )
        ax.set_ylim(0, 1)
        ax.set_title("modality attention weights", fontsize=9, loc="left")
        ax.legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(name, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_history(history: list[dict], path) -> Path:
    """PNG of the loss and of the validation CCCs per epoch, from the rows of ``history.csv``."""
    plt = pyplot()
    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    for key, style in (("loss", "-"), ("val_loss", "--")):
        if key in history[0]:
            a.plot(ep, [h[key] for h in history], style, label=key)
    (
        a.set_xlabel("epoch"),
        a.set_title("CCC loss", fontsize=9),
        a.legend(fontsize=8),
        a.grid(alpha=0.3),
    )
    for key in [k for k in history[0] if k.startswith("val_ccc")]:
        b.plot(ep, [h[key] for h in history], label=key[4:])
    (
        b.set_xlabel("epoch"),
        b.set_title("validation CCC", fontsize=9),
        b.legend(fontsize=8),
        b.grid(alpha=0.3),
    )
    fig.tight_layout()
    return save_figure(fig, path)


def plot_ablation(table, path) -> Path:
    """The per-target bars of the table: one panel per partition (Devel, Test), one bar per
    variant (and per selection, when the runs kept a best epoch per target)."""
    plt = pyplot()
    targets = table["targets"]
    partitions = list(dict.fromkeys(r["partition"] for r in table["rows"]))
    fig, axes = plt.subplots(1, len(partitions), figsize=(7 * len(partitions), 3.6), squeeze=False)
    for ax, part in zip(axes[0], partitions):
        rows = [r for r in table["rows"] if r["partition"] == part]
        x = np.arange(len(targets))
        width = 0.8 / max(1, len(rows))
        variants = list(dict.fromkeys(r["variant"] for r in rows))
        for i, r in enumerate(rows):
            per_target = r.get("selection") == "per-target"
            ax.bar(
                x + i * width,
                [r["ccc"][t] for t in targets],
                width,
                color=f"C{variants.index(r['variant'])}",
                label=r["variant"] + (" (per-target)" if per_target else ""),
                hatch="//" if per_target else None,
                edgecolor="white" if per_target else None,
            )
        ax.set_xticks(x + width * (len(rows) - 1) / 2, targets)
        ax.set_ylabel(f"CCC ({part})")
        ax.axhline(0, color="0.5", lw=0.8)
        ax.legend(fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)
