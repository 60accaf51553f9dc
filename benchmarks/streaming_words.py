"""What live word recognition costs a stream: CCC against the labels of held-out synthetic
speech for the bundled model given the true words, words recognised offline (``predict``),
words recognised live with a delay (``Predictor.stream(words_from="asr", delay=D)``), and
no words (the voice alone).

Usage::

    python benchmarks/streaming_words.py --seed 2026 --minutes 2 --delays 1,3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--seed", type=int, default=2026, help="seed of the held-out corpus (default: %(default)s)"
    )
    p.add_argument(
        "--minutes",
        type=float,
        default=2.0,
        help="minutes of corpus generated (default: %(default)s)",
    )
    p.add_argument(
        "--delays", default="1,3", help="comma-separated delays in seconds (default: %(default)s)"
    )
    args = p.parse_args(argv)

    from semser_tf import load_pretrained
    from semser_tf.data.audio import load_audio
    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.data.synthetic import generate_corpus
    from semser_tf.metrics_numpy import ccc_np

    tmp = Path(tempfile.mkdtemp())
    generate_corpus(
        tmp / "c", minutes=args.minutes, seed=args.seed, recipe="real", recording_seconds=40.0
    )
    corpus = SEWACorpus(tmp / "c")
    model = load_pretrained(offline=True, progress=False)
    predictor = model.predictor()
    delays = [float(d) for d in args.delays.split(",") if d]
    names = (
        ["true words", "recognised offline (predict)"]
        + [f"live, delay {d:g} s" for d in delays]
        + ["no words"]
    )
    rows = {k: [] for k in names}
    gold, seconds = [], 0.0
    for rec in corpus.recordings("Test"):
        audio = load_audio(rec.audio_path)
        seconds += len(audio) / 22050
        chunks = [audio[i : i + 2205] for i in range(0, len(audio), 2205)]
        out = {
            "true words": model.predict(rec.audio_path, words=rec.words).values,
            "recognised offline (predict)": model.predict(rec.audio_path).values,
        }
        for d in delays:
            t0 = time.perf_counter()
            out[f"live, delay {d:g} s"] = np.stack(
                [f.values for f in predictor.stream(chunks, words_from="asr", delay=d)]
            )
            print(
                f"{rec.name}: live {d:g} s streamed {len(audio) / 22050:.0f} s in {time.perf_counter() - t0:.1f} s",
                flush=True,
            )
        out["no words"] = np.stack([f.values for f in predictor.stream(chunks)])
        m = min(len(rec.labels), *(len(v) for v in out.values()))
        for k in names:
            rows[k].append(out[k][:m])
        gold.append(rec.labels[:m])
    g = np.concatenate(gold)
    true = np.concatenate(rows["true words"])
    print(f"\nseed {args.seed}, Test partition, {seconds:.0f} s of held-out speech\n")
    print("| semantic input | arousal | valence | liking | mean abs difference from true words |")
    print("|---|---:|---:|---:|---:|")
    for k in names:
        v = np.concatenate(rows[k])
        c = [ccc_np(g[:, j], v[:, j]) for j in range(g.shape[1])]
        print(
            f"| {k} | " + " | ".join(f"{x:.3f}" for x in c) + f" | {np.abs(v - true).mean():.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
