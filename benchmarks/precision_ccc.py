"""Does the fast setting learn the same model? Mean CCC after a short training, per precision.

Generates a small synthetic corpus (``semser_tf.data.synthetic.generate_corpus``, SEWA
layout) unless ``--corpus`` names one, then trains the attention model with
``semser_tf.training.train`` once per precision (float32 and mixed_bfloat16 by default),
each in a fresh process with the same config, seed and data, and evaluates the best
checkpoint on the Devel partition (AVEC convention: CCC of the concatenated
predictions). Prints one JSON line per precision and a summary with the difference of
the mean CCCs; the target is ``|bf16 - float32| <= 0.01``.

Usage:
    python benchmarks/precision_ccc.py --minutes 4 --epochs 8
    python benchmarks/precision_ccc.py --corpus corpora/synth --precisions float32,mixed_bfloat16
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine  # noqa: E402


def child(corpus, precision, epochs, seq, batch, seed, out_dir, cache_dir):
    import keras

    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.models import ModelConfig
    from semser_tf.training.run import TrainSettings, train

    if precision != "float32":
        keras.mixed_precision.set_global_policy(precision)
    config = ModelConfig(variant="attention", sequence_length=seq, batch_size=batch, seed=seed)
    settings = TrainSettings(epochs=epochs, patience=epochs)
    t0 = time.perf_counter()
    report = train(
        SEWACorpus(corpus),
        out_dir,
        config,
        settings,
        cache_dir=cache_dir,
        verbose=0,
        plots=False,
        overwrite=True,
    )
    metrics = report["metrics"][0] if report["metrics"] else {}
    return {
        "precision": precision,
        "epochs": report["epochs_done"],
        "best_epoch": report["best_epoch"],
        "best_val_ccc_during_training": report["best_val_ccc"],
        "devel_mean_ccc": metrics.get("mean"),
        "devel_ccc": metrics.get("ccc"),
        "wall_s": round(time.perf_counter() - t0, 1),
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--corpus", default=None, help="a SEWA-layout corpus (default: generate one)")
    p.add_argument("--minutes", type=float, default=4.0, help="size of the generated corpus")
    p.add_argument("--precisions", default="float32,mixed_bfloat16")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--sequence-length", type=int, default=100)
    p.add_argument("--batch", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json-out", default=None)
    p.add_argument("--self", default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    p.add_argument("--cache", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.self:
        emit(
            child(
                args.corpus,
                args.self,
                args.epochs,
                args.sequence_length,
                args.batch,
                args.seed,
                args.out,
                args.cache,
            )
        )
        return
    with tempfile.TemporaryDirectory() as tmp:
        corpus = args.corpus
        if corpus is None:
            from semser_tf.data.synthetic import generate_corpus

            corpus = str(
                generate_corpus(
                    Path(tmp) / "corpus", minutes=args.minutes, seed=args.seed, progress=False
                )
            )
        rows = []
        for precision in [x.strip() for x in args.precisions.split(",") if x.strip()]:
            cmd = [
                sys.executable,
                __file__,
                "--self",
                precision,
                "--corpus",
                corpus,
                "--epochs",
                str(args.epochs),
                "--sequence-length",
                str(args.sequence_length),
                "--batch",
                str(args.batch),
                "--seed",
                str(args.seed),
                "--out",
                str(Path(tmp) / f"run_{precision}"),
                "--cache",
                str(Path(tmp) / "cache"),
            ]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode:
                rows.append({"precision": precision, "error": res.stderr[-3000:]})
            else:
                rows.append(
                    json.loads(
                        [line for line in res.stdout.splitlines() if line.startswith("{")][-1]
                    )
                )
            emit(rows[-1])
    ok = [r for r in rows if r.get("devel_mean_ccc") is not None]
    summary = {
        "summary": "Devel mean CCC per precision",
        "corpus": args.corpus or f"synthetic {args.minutes} min",
        "machine": machine(),
    }
    if len(ok) >= 2:
        summary["difference_vs_first"] = {
            r["precision"]: round(r["devel_mean_ccc"] - ok[0]["devel_mean_ccc"], 4) for r in ok[1:]
        }
    emit(summary)
    if args.json_out:
        tmpf = Path(f"{args.json_out}.tmp")
        tmpf.write_text(json.dumps(rows + [summary], indent=1))
        os.replace(tmpf, args.json_out)


if __name__ == "__main__":
    main()
