"""Seams at window boundaries and the live semantic rule, measured with a zoo model.

Held-out synthetic speech (the real-language recipe's Test partition: voices and
sentences the bundled model was not trained on) is predicted three ways:

- ``carried``: ``Predictor.predict``'s rule, the LSTM state carried across windows;
- ``reset``: the older rule (``window_reset=True``), every window from zero state;
- ``carried, no words``: the state carried, the semantic input zero (``Predictor.stream``'s
  rule when no words are given: the voice alone).

For each it reports the seam ratio per target (mean absolute frame-to-frame change at the
window boundaries over its mean on all frames, pooled over recordings; 1 means no seam)
and the CCC against the synthetic labels (concatenated over recordings), and for the
no-words rule its mean absolute difference from the carried prediction with the true words.

    python benchmarks/seams.py --minutes 5 --seed 2026
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--model", default=None, help="zoo name or run folder (default: the bundled model)"
    )
    ap.add_argument(
        "--minutes", type=float, default=5.0, help="minutes of held-out speech (default 5)"
    )
    ap.add_argument(
        "--seconds", type=float, default=60.0, help="length of each recording (default 60)"
    )
    ap.add_argument(
        "--seed", type=int, default=2026, help="seed of the held-out corpus (default 2026)"
    )
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)

    import semser_tf
    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.data.synthetic import generate_corpus
    from semser_tf.metrics_numpy import ccc_np

    m = semser_tf.load_pretrained(args.model, offline=True, progress=False)
    p = m.predictor()
    T = p.sequence_length
    rules = {
        "carried": dict(window_reset=False),
        "reset": dict(window_reset=True),
        "carried, no words": dict(window_reset=False, no_words=True),
    }
    out = {k: {"pred": [], "gold": [], "boundary": [], "all": []} for k in rules}
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="semser-seams-") as tmp:
        root = Path(tmp) / "heldout"
        generate_corpus(
            root,
            minutes=args.minutes,
            seed=args.seed,
            recipe="real",
            recording_seconds=args.seconds,
            partitions={"Test": 1.0},
            progress=False,
        )
        recs = SEWACorpus(root, require_labels=()).recordings()
        for rec in recs:
            for name, kw in rules.items():
                words = [] if kw.get("no_words") else rec.words
                v = p.predict(rec.audio_path, words=words, window_reset=kw["window_reset"]).values
                d = np.abs(np.diff(v, axis=0))
                b = np.arange(T, len(v), T)
                o = out[name]
                o["boundary"].append(d[b - 1])
                o["all"].append(d)
                n = min(len(v), len(rec.labels))
                ok = ~np.isnan(rec.labels[:n]).any(axis=1)
                o["pred"].append(v[:n][ok])
                o["gold"].append(rec.labels[:n][ok])
    targets = m.targets
    report = {
        "model": m.name,
        "recordings": len(recs),
        "seconds": args.seconds,
        "seed": args.seed,
        "window_frames": T,
        "rules": {},
    }
    for name, o in out.items():
        b, a = np.concatenate(o["boundary"]), np.concatenate(o["all"])
        pr, g = np.concatenate(o["pred"]), np.concatenate(o["gold"])
        report["rules"][name] = {
            "boundaries": int(len(b)),
            "seam_ratio": {
                t: float(b[:, i].mean() / a[:, i].mean()) for i, t in enumerate(targets)
            },
            "ccc": {t: ccc_np(pr[:, i], g[:, i]) for i, t in enumerate(targets)},
        }
    ref = np.concatenate(out["carried"]["pred"])
    nw = np.concatenate(out["carried, no words"]["pred"])
    report["no_words_vs_words"] = {
        "mean_abs_diff": {
            t: float(np.abs(nw[:, i] - ref[:, i]).mean()) for i, t in enumerate(targets)
        },
        "ccc_between": {t: ccc_np(nw[:, i], ref[:, i]) for i, t in enumerate(targets)},
    }
    report["seconds_taken"] = round(time.time() - t0, 1)
    print(json.dumps(report, indent=2))
    if args.json:
        from semser_tf.io import atomic_write_json

        atomic_write_json(args.json, report)


if __name__ == "__main__":
    main()
