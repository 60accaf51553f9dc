"""``make demo``: the bundled model on freshly synthesized, held-out speech."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np


def run_demo(out_dir="demo_out", model=None, recordings=3, seed=2026, seconds=40.0) -> int:
    """Load the default zoo model, synthesize held-out recordings, predict, score, plot.

    Writes ``<out_dir>/<recording>.csv`` (time and one column per target, plus the modality
    weights), ``<recording>.png`` (prediction against the synthetic labels) and
    ``summary.md``; prints CCC per target against the labels.
    """
    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.data.synthetic import generate_corpus
    from semser_tf.io import atomic_write_text
    from semser_tf.metrics_numpy import ccc_np
    from semser_tf.zoo.pretrained import load_pretrained

    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pretrained = load_pretrained(model)
    print(
        f"model: {pretrained.name} ({pretrained.config.variant}, "
        f"{pretrained.model.count_params():,} parameters) loaded in {time.time() - t0:.1f} s"
    )
    with tempfile.TemporaryDirectory(prefix="semser-demo-") as tmp:
        root = Path(tmp) / "heldout"
        # the real-language recipe's Test partition: held-out voices, sentences the model
        # may not have heard
        generate_corpus(
            root,
            minutes=recordings * seconds / 60.0,
            seed=seed,
            recipe="real",
            recording_seconds=seconds,
            partitions={"Test": 1.0},
            progress=False,
        )
        corpus = SEWACorpus(root, require_labels=())
        recs = corpus.recordings()
        print(
            f"synthesized {len(recs)} held-out recordings (seed {seed}, {recordings * seconds:.0f} s of "
            f"eSpeak NG speech of real English sentences, in voices the model never heard)"
        )
        targets = pretrained.targets
        # the better recogniser where its packages are installed (make installs them):
        # Whisper base (WER 0.22-0.27 here against pocketsphinx's 0.72-0.80, docs/measurements/results.md)
        from semser_tf.semantic.words.source import resolve_recognizer

        recognizer = resolve_recognizer("auto")
        print(f"recognising the words with {recognizer}")
        runs = {
            f"bare audio (words recognised, {recognizer})": ([], [], []),
            "true words given": ([], [], []),
        }
        for rec in recs:
            n = None
            for how, (golds, preds, rows) in runs.items():
                # the main job: a bare WAV file, words recognised from the audio
                bare = how.startswith("bare")
                pred = (
                    pretrained.predict(rec.audio_path, recognizer=recognizer)
                    if bare
                    else pretrained.predict(rec.audio_path, words=rec.words)
                )
                n = min(len(pred.values), len(rec.labels))
                gold = rec.labels[:n]
                ok = ~np.isnan(gold).any(axis=1)
                golds.append(gold[ok])
                preds.append(pred.values[:n][ok])
                rows.append(
                    (
                        rec.name,
                        [ccc_np(pred.values[:n][ok, i], gold[ok, i]) for i in range(len(targets))],
                    )
                )
                if bare:
                    pred.to_csv(out / f"{rec.name}.csv")
                    pred.plot(
                        out / f"{rec.name}.png",
                        gold=rec.labels,
                        title=f"{rec.name} ({pretrained.name})",
                    )
                    if pred.words is not None:
                        from semser_tf.semantic.words import write_words

                        write_words(out / f"{rec.name}.words.csv", pred.words)
    table = ""
    for how, (golds, preds, rows) in runs.items():
        g, p = np.concatenate(golds), np.concatenate(preds)
        overall = [ccc_np(p[:, i], g[:, i]) for i in range(len(targets))]
        lines = [
            f"| {how}: recording | " + " | ".join(targets) + " |",
            "|---|" + "---:|" * len(targets),
        ]
        for name, vals in rows:
            lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
        lines.append(
            "| **all (concatenated)** | " + " | ".join(f"**{v:.3f}**" for v in overall) + " |"
        )
        table += "\n".join(lines) + "\n\n"
    atomic_write_text(
        out / "summary.md",
        f"# Demo: {pretrained.name} on held-out synthetic speech\n\n"
        "CCC of the predictions against the synthetic labels, from the bare audio (the words "
        "recognised, as `semser predict talk.wav` does) and with the true words.\n\n" + table,
    )
    print("\nCCC against the labels:\n" + table)
    print(
        f"written: {out}/<recording>.csv, <recording>.png, <recording>.words.csv, summary.md  ({time.time() - t0:.1f} s in all)"
    )
    return 0
