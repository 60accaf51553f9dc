"""A one-line progress bar on stderr, for the command line's long jobs without Keras's own
(Word2Vec, Speech2Vec, alignment)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """A one-line progress bar on stderr.

    Args:
        total: number of steps.
        label: text before the bar.
        stream: where to draw (stderr).

    Example:
        >>> bar = ProgressBar(3, "epochs", stream=None)
        >>> bar.update(1, "loss 0.5")
    """

    def __init__(self, total: int, label: str, stream=sys.stderr):
        self.total = max(1, int(total))
        self.label = label
        self.stream = stream
        self.t0 = time.perf_counter()

    def update(self, done: int, note: str = "") -> None:
        """Redraw with ``done`` steps completed and an optional note."""
        if self.stream is None:
            return
        frac = min(1.0, done / self.total)
        bar = "#" * int(frac * 30)
        el = time.perf_counter() - self.t0
        self.stream.write(f"\r{self.label} [{bar:<30}] {done}/{self.total} {el:6.1f}s {note}   ")
        if done >= self.total:
            self.stream.write("\n")
        self.stream.flush()
