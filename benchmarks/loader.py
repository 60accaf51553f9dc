"""Throughput of the cached tf.data pipeline (frames per second delivered).

Generates (once) a synthetic SEWA-layout corpus of eSpeak speech with
``semser_tf.data.synthetic.generate_corpus`` (all recordings in the Train partition), or
with ``--noise`` a corpus of noise WAVs with random labels; builds the TFRecord cache
(timed separately); then iterates the training pipeline (shuffled windows, batched,
repeated) and prints one JSON line:

    frames_per_s           10 Hz frames delivered per second (padding included)
    audio_s_per_s          the same in seconds of audio per second (frames / 10)
    labelled_frames_per_s  frames with sample weight 1 per second
    cache_build_s          time to decode and write the cache (first run only)
    corpus_minutes, batch, sequence_length, machine, ...

Usage::

    python benchmarks/loader.py --minutes 10 --batch 25 --sequence-length 300
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from _common import emit, machine  # noqa: E402


def noise_corpus(root: Path, minutes: float, seconds: float = 60.0, seed: int = 0) -> Path:
    """A SEWA-layout corpus of uniform-noise WAVs with random 10 Hz labels (Train only)."""
    from semser_tf.data.audio import save_wav

    rng = np.random.default_rng(seed)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=str(root.parent)))
    try:
        n_rec = max(1, int(round(minutes * 60 / seconds)))
        for sub in ("audio", "labels"):
            (tmp / sub).mkdir()
        for i in range(n_rec):
            name = f"Train_{i + 1:02d}"
            save_wav(
                tmp / "audio" / f"{name}.wav", rng.uniform(-0.3, 0.3, int(seconds * 22050)), 22050
            )
            n = int(seconds * 10)
            lab = rng.uniform(-1, 1, (n, 3))
            (tmp / "labels" / f"{name}.csv").write_text(
                "".join(
                    f"{name};{k / 10:.1f};{a:.4f};{v:.4f};{li:.4f}\n"
                    for k, (a, v, li) in enumerate(lab)
                )
            )
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=None, help="existing corpus (default: generate one)")
    ap.add_argument("--out", default="corpora/loader_bench", help="where to generate the corpus")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--noise", action="store_true", help="noise WAVs instead of eSpeak speech")
    ap.add_argument("--partition", default="Train")
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--sequence-length", type=int, default=300)
    ap.add_argument("--batches", type=int, default=40, help="batches timed")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--no-shuffle", action="store_true")
    ap.add_argument("--speaker-slots", action="store_true")
    ap.add_argument("--cache-dir", default=None, help="default: a fresh temporary folder")
    args = ap.parse_args(argv)

    import tensorflow as tf

    from semser_tf.data.pipeline import build_cache, make_dataset
    from semser_tf.data.sewa import SEWACorpus

    kind = "given"
    if args.corpus:
        root = Path(args.corpus)
    else:
        root = Path(f"{args.out}_{'noise' if args.noise else 'speech'}_{args.minutes:g}min")
        kind = "noise WAVs" if args.noise else "synthetic eSpeak speech (generate_corpus)"
        if not root.exists():
            root.parent.mkdir(parents=True, exist_ok=True)
            if args.noise:
                noise_corpus(root, args.minutes)
            else:
                from semser_tf.data.synthetic import generate_corpus

                generate_corpus(
                    root, minutes=args.minutes, seed=0, partitions={"Train": 1.0}, progress=False
                )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        corpus = SEWACorpus(root)
    recs = corpus.recordings(args.partition)
    minutes = sum(r.n_frames for r in recs) / 600.0

    own_cache = args.cache_dir is None
    cache = (
        Path(tempfile.mkdtemp(prefix="semser_loader_bench_")) if own_cache else Path(args.cache_dir)
    )
    try:
        t0 = time.perf_counter()
        build_cache(corpus, args.partition, cache_dir=cache, progress=False)
        cache_s = time.perf_counter() - t0
        ds = make_dataset(
            corpus,
            args.partition,
            sequence_length=args.sequence_length,
            batch_size=args.batch,
            shuffle=not args.no_shuffle,
            seed=0,
            speaker_slots=args.speaker_slots,
            cache_dir=cache,
            progress=False,
        )
        ds = ds.repeat()
        it = iter(ds)
        for _ in range(args.warmup):
            next(it)
        frames = labelled = 0
        t0 = time.perf_counter()
        for _ in range(args.batches):
            x, y, w = next(it)
            frames += int(w.shape[0]) * int(w.shape[1])
            labelled += float(tf.reduce_sum(w))
        elapsed = time.perf_counter() - t0
        shard_mb = sum(p.stat().st_size for p in cache.glob("*.tfrecord")) / 2**20
    finally:
        if own_cache:
            shutil.rmtree(cache, ignore_errors=True)
    emit(
        {
            "benchmark": "loader",
            "corpus": str(root),
            "corpus_kind": kind,
            "corpus_minutes": round(minutes, 2),
            "recordings": len(recs),
            "partition": args.partition,
            "batch": args.batch,
            "sequence_length": args.sequence_length,
            "shuffle": not args.no_shuffle,
            "speaker_slots": args.speaker_slots,
            "batches_timed": args.batches,
            "frames_per_s": round(frames / elapsed, 1),
            "audio_s_per_s": round(frames / elapsed / 10, 1),
            "labelled_frames_per_s": round(labelled / elapsed, 1),
            "cache_build_s": round(cache_s, 2),
            "cache_mb": round(shard_mb, 1),
            "tensorflow": tf.__version__,
            "machine": machine(),
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
