"""Many short files: clips per second of ``predict_many`` against per-file ``predict``.

Synthesizes ``--clips`` clips (default 180) of ``--min``-``--max`` seconds (1-3 s) with eSpeak
NG (:func:`semser_tf.data.espeak.synthesize`, words of the bundled model's vocabulary,
several voices and rates; the eSpeak word timings written beside each clip as
``STEM.words.csv``), as 22050 Hz WAV files in a temporary folder, then times with the
bundled model (``semser_tf.load_pretrained(offline=True)``):

- ``per-file``: ``model.predict(path, words=STEM.words.csv)`` clip by clip, as before;
- ``predict_many``: ``model.predict_many(paths, words=word_files)``, cold (the first call
  in the process: its few shapes traced) and warm (a second call);
- ``predict_many, no words``: ``words_from="none"`` (the semantic input zero);
- ``cli``: the whole ``semser predict FOLDER --out DIR --words-dir DIR --no-plot`` command
  in a fresh process (interpreter, imports, model load, CSVs), and with ``--plots`` also
  without ``--no-plot``;
- ``recognition``: ``--asr-clips`` clips (default 30) without words (``words_from`` auto:
  the default recogniser), per file and through ``predict_many`` (``same_words``: clips
  whose recognised words are identical in both runs; the recogniser's word timings vary
  by about 10 ms from run to run, so the last row predicts with the per-file run's words).

Each row's largest difference from the per-file predictions is printed beside it. One JSON
line per row, then a Markdown table.

Usage:
    python benchmarks/many_files.py
    python benchmarks/many_files.py --clips 180 --asr-clips 30 --plots
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def make_clips(folder, n, lo, hi, vocabulary, seed=0):
    """``n`` WAV clips of ``lo``-``hi`` s of spoken vocabulary words and their words files."""
    import numpy as np

    from semser_tf.data.audio import save_wav
    from semser_tf.data.espeak import synthesize
    from semser_tf.semantic.words import write_words

    rng = np.random.default_rng(seed)
    voices = ["en", "en-us", "en+f3", "en+m3"]
    paths, words_files, seconds = [], [], []
    for i in range(n):
        target = float(rng.uniform(lo, hi))
        text = " ".join(rng.choice(vocabulary, size=int(rng.integers(2, 9))))
        audio, words = synthesize(
            text, voice=voices[i % len(voices)], rate=int(rng.integers(150, 230)), seed=i
        )
        n_out = int(target * 22050)
        audio = np.pad(audio, (0, max(0, n_out - len(audio))))[:n_out]
        words = [w for w in words if w.start < target - 0.05]
        words = [w._replace(end=min(w.end, target)) for w in words]
        path = save_wav(Path(folder) / f"clip{i:03d}.wav", audio)
        paths.append(path)
        words_files.append(write_words(Path(folder) / f"clip{i:03d}.words.csv", words))
        seconds.append(target)
    return paths, words_files, seconds


def _max_diff(preds, ref):
    import numpy as np

    return float(max(np.abs(a.values - b.values).max() for a, b in zip(preds, ref)))


def _cli(args, env):
    """Wall seconds of the whole command, and its own seconds from the model loaded to the
    last file written (its summary line: "N files, ... in S s")."""
    import re

    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "semser_tf.cli", "predict", *map(str, args)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    wall = time.perf_counter() - t0
    own = re.search(r"of audio in ([0-9.]+) s \(", out)
    return wall, float(own.group(1)) if own else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=180)
    parser.add_argument("--min", type=float, default=1.0)
    parser.add_argument("--max", type=float, default=3.0)
    parser.add_argument("--asr-clips", type=int, default=30, help="clips of the recognition rows")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--plots", action="store_true", help="also time the CLI with plots")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import semser_tf

    model = semser_tf.load_pretrained(offline=True)
    rows = []

    def row(name, n, seconds, diff=None, **extra):
        rec = {
            "row": name,
            "clips": n,
            "seconds": round(seconds, 3),
            "clips_per_s": round(n / seconds, 1) if seconds else None,
            "max_abs_diff_vs_per_file": diff,
            **extra,
        }
        rows.append(rec)
        emit(rec)

    with tempfile.TemporaryDirectory() as tmp:
        clips = Path(tmp) / "clips"
        clips.mkdir()
        t0 = time.perf_counter()
        paths, words, seconds = make_clips(
            clips, args.clips, args.min, args.max, list(model.embeddings.words)
        )
        emit(
            {
                "clips": len(paths),
                "audio_s": round(sum(seconds), 1),
                "synthesis_s": round(time.perf_counter() - t0, 1),
                "machine": machine(),
            }
        )
        n = len(paths)
        model.predict(paths[0], words=words[0])  # per-file warm-up: its one window shape traced
        t0 = time.perf_counter()
        ref = [model.predict(p, words=w) for p, w in zip(paths, words)]
        row("per-file predict, words given", n, time.perf_counter() - t0)
        t0 = time.perf_counter()
        many = model.predict_many(paths, words=words, batch_size=args.batch_size)
        row(
            "predict_many, words given, cold (shapes traced)",
            n,
            time.perf_counter() - t0,
            _max_diff(many, ref),
        )
        t0 = time.perf_counter()
        many = model.predict_many(paths, words=words, batch_size=args.batch_size)
        row("predict_many, words given, warm", n, time.perf_counter() - t0, _max_diff(many, ref))
        t0 = time.perf_counter()
        model.predict_many(paths, words_from="none", batch_size=args.batch_size)
        row("predict_many, no words (semantic input zero), warm", n, time.perf_counter() - t0)

        env = {
            **os.environ,
            "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        base = [clips, "--words-dir", clips, "--offline", "--words-from", "file"]
        wall, own = _cli([*base, "--out", Path(tmp) / "out", "--no-plot"], env)
        row(
            "cli `semser predict FOLDER --out DIR --words-dir DIR --no-plot`, whole command",
            n,
            wall,
        )
        row("the same command, model loaded to last CSV written (cold: traces included)", n, own)
        if args.plots:
            wall, own = _cli([*base, "--out", Path(tmp) / "out_plots"], env)
            row("cli, with a plot per file, whole command", n, wall)
            row("the same command, model loaded to last file written", n, own)

        k = min(args.asr_clips, n)
        from semser_tf.semantic.words.source import resolve_recognizer

        recognizer = resolve_recognizer("auto", "auto")
        model.predict(paths[0])  # the recogniser loaded
        t0 = time.perf_counter()
        ref_asr = [model.predict(p) for p in paths[:k]]
        row(f"per-file predict, words recognised ({recognizer})", k, time.perf_counter() - t0)
        t0 = time.perf_counter()
        many_asr = model.predict_many(paths[:k], batch_size=args.batch_size)
        row(
            f"predict_many, words recognised ({recognizer})",
            k,
            time.perf_counter() - t0,
            _max_diff(many_asr, ref_asr),
            same_words=sum(a.words == b.words for a, b in zip(many_asr, ref_asr)),
        )
        # the recogniser's timings vary by 10 ms from run to run; with the words fixed:
        fixed = model.predict_many(paths[:k], words=[p.words for p in ref_asr])
        row(
            "predict_many, the per-file run's recognised words given",
            k,
            0.0,
            _max_diff(fixed, ref_asr),
        )
    print("\n| row | clips | s | clips/s | max abs diff vs per-file |\n|---|---|---|---|---|")
    for r in rows:
        diff = r["max_abs_diff_vs_per_file"]
        print(
            f"| {r['row']} | {r['clips']} | {r['seconds']:.2f} | {r['clips_per_s'] or ''} | "
            + ("" if diff is None else f"{diff:.1e}")
            + " |"
        )


if __name__ == "__main__":
    main()
