"""The bundled model from bare audio with each speech recogniser: WER, CCC and speed.

Held-out synthetic recordings on real English (``generate_corpus(recipe="real")``,
partition Test, a seed the model was not built from) are recognised with each recogniser,
then predicted with the bundled model (``load_pretrained()``) from the recognised words,
beside the true word file. Recognisers (``--recognizers``):

* ``pocketsphinx-vocabulary`` - pocketsphinx 5.1.1 with a unigram model of the bundled
  model's vocabulary (``predict``'s default ``language_model="auto"``);
* ``pocketsphinx-general`` - pocketsphinx's general English trigram model;
* ``whisper-base`` - Whisper base through faster-whisper (int8, CPU), the packaged model;
* ``whisper:/path/to/ct2-folder`` - any CTranslate2 Whisper folder.

Prints, per recogniser, CCC per target pooled over the recordings, the corpus WER, and the
recognition speed (audio seconds per CPU second of this process, all threads counted).

Usage::

    python benchmarks/words_recognizers.py --seed 1 --recordings 6 --seconds 40
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT = "pocketsphinx-vocabulary,pocketsphinx-general,whisper-base"


def _recognizer(label: str, model):
    """A function audio path -> words for one recogniser label."""
    from semser_tf.semantic.words import WordSource

    if label == "pocketsphinx-vocabulary":
        src = WordSource("asr", language_model=model.vocabulary_language_model())
    elif label == "pocketsphinx-general":
        src = WordSource("asr")
    elif label == "whisper-base":
        src = WordSource("asr", recognizer="whisper", whisper_model="base")
    elif label.startswith("whisper:"):
        src = WordSource("asr", recognizer="whisper", whisper_model=label[len("whisper:") :])
    else:
        raise SystemExit(
            f"unknown recogniser {label!r}; expected one of {DEFAULT} or whisper:FOLDER"
        )
    return lambda path: src.words(path).words


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--recordings", type=int, default=6)
    p.add_argument("--seconds", type=float, default=40.0)
    p.add_argument("--recognizers", default=DEFAULT, help=f"comma-separated (default {DEFAULT})")
    p.add_argument("--json", help="also write the figures to this JSON file")
    args = p.parse_args(argv)

    from benchmarks._common import machine
    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.data.synthetic import generate_corpus
    from semser_tf.metrics_numpy import ccc_np
    from semser_tf.semantic.words import corpus_word_error_rate
    from semser_tf.zoo.pretrained import load_pretrained

    model = load_pretrained(progress=False)
    results = {
        "seed": args.seed,
        "recordings": args.recordings,
        "seconds": args.seconds,
        "machine": machine(),
        "routes": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "held_out"
        generate_corpus(
            root,
            minutes=args.recordings * args.seconds / 60,
            seed=args.seed,
            recipe="real",
            recording_seconds=args.seconds,
            partitions={"Test": 1.0},
            progress=False,
        )
        recs = SEWACorpus(root, require_labels=()).recordings()
        labels = ["true-words"] + [s for s in args.recognizers.split(",") if s]
        for label in labels:
            recognise = None if label == "true-words" else _recognizer(label, model)
            G, P, pairs, cpu, audio_s = [], [], [], 0.0, 0.0
            for r in recs:
                if recognise is None:
                    words = r.words
                else:
                    t0 = time.process_time()
                    words = recognise(r.audio_path)
                    cpu += time.process_time() - t0
                pred = model.predict(r.audio_path, words=words)
                n = min(len(pred.values), len(r.labels))
                g = r.labels[:n]
                ok = ~np.isnan(g).any(1)
                G.append(g[ok])
                P.append(pred.values[:n][ok])
                pairs.append((" ".join(w.word for w in r.words), [w.word for w in words]))
                audio_s += len(pred.values) / 10.0  # predictions are 10 Hz over the whole recording
            g, pr = np.concatenate(G), np.concatenate(P)
            ccc = {
                t: round(float(ccc_np(pr[:, i], g[:, i])), 3) for i, t in enumerate(model.targets)
            }
            row = {"ccc": ccc, "wer": round(float(corpus_word_error_rate(pairs)), 3)}
            if recognise is not None:
                row["audio_s_per_cpu_s"] = round(audio_s / max(cpu, 1e-9), 2)
            results["routes"][label] = row
            print(
                f"seed {args.seed} {label:26s} CCC {ccc} WER {row['wer']}"
                + (
                    f" speed {row['audio_s_per_cpu_s']} audio-s/CPU-s"
                    if recognise is not None
                    else ""
                ),
                flush=True,
            )
    if args.json:
        from semser_tf.io import atomic_write_json

        atomic_write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
