"""Recognition on several processes (``recognize(..., workers=N)``) against one decoder.

For each WAV file (and, with ``--excerpts``, its first seconds written to a temporary WAV
file), recognises with each worker count in turn, ``--rounds`` times interleaved (the
machine's load changes between calls), and prints per call: wall seconds, CPU seconds of
this process and of its finished child processes, audio-s/s; then per worker count the
words' agreement with one decoder's and, when a ``STEM.words.csv`` of true words sits
beside the file, the WER and word-boundary agreement against them
(:mod:`semser_tf.semantic.words.metrics`). The language model is the bundled model's
vocabulary (what ``semser predict`` recognises with by default), or the general one
(``--language-model general``).

Usage::

    python benchmarks/recognizer_workers.py talk10.wav other.wav --workers 1,2 --rounds 2
    python benchmarks/recognizer_workers.py talk10.wav --excerpts 75,120 --skip-whole --rounds 2

Nothing is kept: excerpts are written to a temporary folder and removed.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _cpu():
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime


def _agreement(ref, hyp) -> str:
    from semser_tf.semantic.words import boundary_errors, word_errors

    e = word_errors(ref, hyp)
    be = boundary_errors(ref, hyp)
    both = float(np.mean(np.all(be <= 0.0105, axis=1))) if len(be) else float("nan")
    return (
        f"WER {e.wer:.3f} (S {e.substitutions}, D {e.deletions}, I {e.insertions} of "
        f"{e.reference_words}); matched {len(be)}, both boundaries within 10 ms: {both:.1%}"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("wav", nargs="+", help="WAV files (STEM.words.csv beside: true words)")
    ap.add_argument("--workers", default="1,2", help="worker counts, comma-separated (default 1,2)")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved rounds (default 1)")
    ap.add_argument(
        "--excerpts",
        default="",
        help="also the first S seconds of each file, comma-separated (default: whole files only)",
    )
    ap.add_argument(
        "--skip-whole", action="store_true", help="only the excerpts (default: whole files too)"
    )
    ap.add_argument(
        "--language-model",
        default="vocabulary",
        help="vocabulary (default: the bundled model's, as semser predict), general, or an ARPA file",
    )
    args = ap.parse_args(argv)

    from semser_tf.data.audio import save_wav
    from semser_tf.data.timings import read_words
    from semser_tf.data.wav_stream import WavStream
    from semser_tf.semantic.words import recognize

    lm = args.language_model
    if lm == "vocabulary":
        from semser_tf.zoo.pretrained import load_pretrained

        lm = load_pretrained(offline=True).vocabulary_language_model()
    elif lm == "general":
        lm = None
    workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name in args.wav:
            path = Path(name)
            truth = path.with_suffix(".words.csv")
            truth = read_words(truth) if truth.is_file() else None
            if not args.skip_whole:
                files.append((path, truth))
            for s in [float(x) for x in args.excerpts.split(",") if x]:
                st = WavStream(path, 16000)
                x = st.read(0, int(s * st.rate))
                cut = Path(tmp) / f"{path.stem}-{s:g}s.wav"
                save_wav(cut, x, st.rate)
                files.append((cut, None if truth is None else [w for w in truth if w.end <= s]))
        recognize(files[0][0], language_model=lm, workers=1)  # warm-up: decoder, TensorFlow
        for path, truth in files:
            seconds = WavStream(path, 16000).total_in / WavStream(path, 16000).rate
            got = {}
            for r in range(args.rounds):
                for w in workers:
                    own0, kids0 = _cpu()
                    t = time.perf_counter()
                    words = recognize(path, language_model=lm, workers=w)
                    wall = time.perf_counter() - t
                    own1, kids1 = _cpu()
                    got[w] = words
                    print(
                        f"{path.name} ({seconds:.0f} s) workers={w} round {r + 1}: wall {wall:.1f} s "
                        f"({seconds / wall:.1f} audio-s/s); CPU {own1 - own0:.1f} s here + "
                        f"{kids1 - kids0:.1f} s in workers; {len(words)} words",
                        flush=True,
                    )
            for w in workers:
                if w != workers[0]:
                    print(
                        f"  workers={w} against workers={workers[0]}: {_agreement(got[workers[0]], got[w])}"
                    )
                if truth is not None:
                    print(f"  workers={w} against the true words: {_agreement(truth, got[w])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
