"""The bundled model from bare audio: CCC with recognised words beside the true words.

Held-out synthetic recordings (``generate_corpus``, partition Test, a seed the model was
not built from) are predicted with the bundled model (``load_pretrained()``) five ways:
the true word file; recognised words (pocketsphinx's general English model); recognised
words with a domain language model (trigrams of N background sentences of the synthetic
templates, ``generate_text_corpus`` seed 1, independent of the test sentences); the true
transcript aligned (forced alignment of each sentence in its span, as for SEWA); and no
words (zeros). Optionally also ``--mode encode`` (Speech2Vec encodings of the recognised
word segments). Prints CCC per target pooled over the recordings, and WER.

Usage::

    python benchmarks/words_valence.py --recordings 6 --seconds 40 --seed 2026
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recordings", type=int, default=6)
    p.add_argument("--seconds", type=float, default=40.0)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--domain-lm", type=int, default=5000)
    p.add_argument(
        "--encode", action="store_true", help="also the encode mode on recognised segments"
    )
    p.add_argument(
        "--only",
        default="",
        help="run only the routes whose label contains one of these "
        "comma-separated words (e.g. 'true,vocabulary')",
    )
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import warnings

    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.data.synthetic import generate_corpus, generate_text_corpus
    from semser_tf.data.timings import ApproximateTimingWarning, read_transcription
    from semser_tf.metrics_numpy import ccc_np
    from semser_tf.semantic.words import WordSource, corpus_word_error_rate
    from semser_tf.semantic.words.language_model import build_language_model
    from semser_tf.zoo.pretrained import load_pretrained

    model = load_pretrained(offline=True)
    with tempfile.TemporaryDirectory(prefix="semser-words-") as tmp:
        root = Path(tmp) / "heldout"
        generate_corpus(
            root,
            minutes=args.recordings * args.seconds / 60.0,
            seed=args.seed,
            recording_seconds=args.seconds,
            partitions={"Test": 1.0},
            progress=False,
        )
        lm = build_language_model(
            generate_text_corpus(Path(tmp) / "bg.txt", sentences=args.domain_lm, seed=1),
            Path(tmp) / "bg.arpa",
        )
        corpus = SEWACorpus(root, require_labels=())
        aligner = WordSource(
            "align", on_failure="spread"
        )  # a failing sentence is spread, and counted
        recs = corpus.recordings()
        routes = {
            "true word file": dict(kw=lambda r: {"words": r.words}),
            "transcript aligned": dict(
                kw=lambda r: {
                    "words": aligner.words(
                        r.audio_path,
                        transcript=read_transcription(root / "transcriptions" / f"{r.name}.csv"),
                    ).words
                }
            ),
            "recognised (general English LM)": dict(kw=lambda r: {"language_model": "general"}),
            "recognised (domain LM)": dict(kw=lambda r: {"language_model": lm}),
            "recognised (model-vocabulary unigram LM)": dict(
                kw=lambda r: {"language_model": "vocabulary"}
            ),
            "no words (zeros)": dict(kw=lambda r: {"words_from": "none"}),
        }
        if args.encode:
            routes["encode mode, recognised segments"] = dict(
                kw=lambda r: {"language_model": "general"}, mode="encode"
            )
        if args.only:
            keep = [k for k in args.only.split(",") if k]
            routes = {k: v for k, v in routes.items() if any(x in k for x in keep)}
        audio_s = sum(len(r.labels) for r in recs) / 10
        print(
            f"{len(recs)} held-out recordings, {audio_s:.0f} s (seed {args.seed}); model {model.name} "
            f"(semantic mode {model.embedding_mode})"
        )
        print(
            "| words | "
            + " | ".join(f"CCC {t}" for t in model.targets)
            + " | WER | sentences spread | seconds |"
        )
        print("|---|" + "---:|" * (len(model.targets) + 3))
        for label, spec in routes.items():
            golds, preds, pairs = [], [], []
            spread = 0
            t0 = time.perf_counter()
            for rec in recs:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    pred = model.predict(rec.audio_path, mode=spec.get("mode"), **spec["kw"](rec))
                spread += sum(issubclass(w.category, ApproximateTimingWarning) for w in caught)
                n = min(len(pred.values), len(rec.labels))
                ok = ~np.isnan(rec.labels[:n]).any(axis=1)
                golds.append(rec.labels[:n][ok])
                preds.append(pred.values[:n][ok])
                pairs.append(([w.word for w in rec.words], [w.word for w in (pred.words or [])]))
            dt = time.perf_counter() - t0
            g, pr = np.concatenate(golds), np.concatenate(preds)
            cccs = [ccc_np(pr[:, i], g[:, i]) for i in range(len(model.targets))]
            wer = corpus_word_error_rate(pairs)
            print(
                f"| {label} | "
                + " | ".join(f"{c:.3f}" for c in cccs)
                + f" | {wer:.3f} | {spread} | {dt:.0f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
