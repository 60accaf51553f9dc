"""Words from audio, measured: WER, word-boundary error and speed of recognition and alignment.

Synthetic speech (eSpeak NG, several voices) of known text with eSpeak's own word events
as the timing reference, and optionally real recorded speech from Debian packages
(``tools/fetch_real_speech.py``: ``pocketsphinx-testdata`` 16 kHz read sentences,
``asterisk-core-sounds-en-wav`` 8 kHz telephone prompts) with their transcripts.

Usage::

    python benchmarks/words_from_audio.py --seconds 30 --voices en+m1,en-us+f2
    python benchmarks/words_from_audio.py --real pocketsphinx --cache ~/.cache/semser-speech

Prints one Markdown table row per set: words, WER of recognition, median / 90th
percentile of |start| and |end| errors of correctly recognised words, the same for the
forced alignment of the true text, and the real-time factors (audio seconds per second).
Nothing is written; no audio is kept.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))


def _stats(be: np.ndarray) -> str:
    if be.size == 0:
        return "- | -"
    e = be.max(axis=1)  # worse of start and end per word
    return f"{np.median(be[:, 0]) * 1000:.0f} / {np.median(be[:, 1]) * 1000:.0f} ms | {np.percentile(e, 90) * 1000:.0f} ms ({(e <= 0.1).mean():.0%} <= 100 ms)"


def measure(
    items, label: str, align_too: bool = True, language_model=None, recognizer="pocketsphinx"
) -> dict:
    """items: (audio, sample_rate, reference text, reference timings or None)."""
    from semser_tf.semantic.words import align, boundary_errors, corpus_word_error_rate
    from semser_tf.semantic.words import recognize as recognize_ps
    from semser_tf.semantic.words.forced_align import AlignmentError

    if recognizer in ("whisper", "whisper-raw"):
        from semser_tf.semantic.words.whisper import recognize_whisper

        def recognize(audio, sr, language_model=None):
            return recognize_whisper(audio, sr, align_timings=recognizer == "whisper")
    else:
        recognize = recognize_ps

    pairs, be_r, be_a = [], [], []
    t_rec = t_al = audio_s = 0.0
    failed = 0
    for audio, sr, text, ref in items:
        audio_s += len(audio) / sr
        t0 = time.perf_counter()
        hyp = recognize(audio, sr, language_model=language_model)
        t_rec += time.perf_counter() - t0
        pairs.append((text, [w.word for w in hyp]))
        if ref is not None:
            be_r.append(boundary_errors(ref, hyp))
        if align_too:
            t0 = time.perf_counter()
            try:
                al = align(audio, text, sr)
            except AlignmentError:
                failed += 1
                al = None
            t_al += time.perf_counter() - t0
            if ref is not None and al is not None:
                be_a.append(boundary_errors(ref, al))
    n_words = sum(len(p[0].split()) for p in pairs)
    wer = corpus_word_error_rate(pairs)
    br = np.concatenate(be_r) if be_r else np.zeros((0, 2))
    ba = np.concatenate(be_a) if be_a else np.zeros((0, 2))
    row = (
        f"| {label} | {len(pairs)} / {audio_s:.0f} s / {n_words} | {wer:.3f} | {_stats(br)} | "
        f"{_stats(ba)} | {failed if align_too else '-'} | {audio_s / t_rec:.1f} | "
        f"{f'{audio_s / t_al:.1f}' if align_too else '-'} |"
    )
    print(row, flush=True)
    return {
        "wer": wer,
        "rtf_rec": audio_s / t_rec,
        "boundary_rec": br,
        "boundary_align": ba,
        "failed": failed,
    }


def synthetic_items(voice: str, seconds: float, seed: int):
    from semser_tf.data.synthetic import generate_recording

    rec = generate_recording("Test_01", seconds, voice, seed)
    out = []
    for s in rec.sentences:  # one utterance per sentence, as a segmenter would give
        a, b = (
            int(max(0.0, s.start - 0.3) * 22050),
            int(min(len(rec.audio) / 22050, s.end + 0.3) * 22050),
        )
        ref = [type(w)(w.start - a / 22050, w.end - a / 22050, w.word) for w in s.words]
        out.append((rec.audio[a:b], 22050, s.text, ref))
    return out, rec


def speed() -> None:
    """CPU and wall time of recognition and alignment on one generated minute of speech."""
    from semser_tf.data.synthetic import generate_recording
    from semser_tf.semantic.words import align, recognize

    rec = generate_recording("Test_01", 60.0, "en-us+m3", 5)
    recognize(rec.audio[:22050], 22050)  # warm-up: TensorFlow's resampler, the decoder
    seconds = len(rec.audio) / 22050
    text = " ".join(s.text for s in rec.sentences)
    import tempfile

    from semser_tf.zoo.pretrained import load_pretrained

    os.environ.setdefault("SEMSER_TF_CACHE", tempfile.mkdtemp())
    vocab_lm = load_pretrained(offline=True).vocabulary_language_model()
    recognize(rec.audio[:22050], 22050, language_model=vocab_lm)  # warm-up of that decoder
    runs = (
        ("recognize", lambda: recognize(rec.audio, 22050)),
        (
            "recognize, the bundled model's vocabulary (predict's default)",
            lambda: recognize(rec.audio, 22050, language_model=vocab_lm),
        ),
        ("align (whole text, one utterance)", lambda: align(rec.audio, text, 22050)),
        (
            "align (timed sentences)",
            lambda: align(rec.audio, [(s.start, s.end, s.text) for s in rec.sentences], 22050),
        ),
    )
    for name, run in runs:
        w0, c0 = time.perf_counter(), time.process_time()
        run()
        w, c = time.perf_counter() - w0, time.process_time() - c0
        print(
            f"{name}: {seconds:.1f} s of audio, wall {w:.2f} s ({seconds / w:.1f} audio-s/s), "
            f"CPU {c:.2f} s ({seconds / c:.1f} audio-s per CPU-s)",
            flush=True,
        )


def _memory_child(path: str, what: str = "recognize") -> None:
    import resource

    warm = np.full(16000, 0.01, np.float32) * np.sin(np.arange(16000))
    if what == "predict":  # semser predict's route: the bundled model, words recognised (auto)
        from semser_tf import load_pretrained

        model = load_pretrained()
        model.predict(warm, sample_rate=16000)  # warm-up (model, recogniser, text space)
        run = lambda: model.predict(path)  # noqa: E731
        count = lambda out: f"{len(out.times)} frames"  # noqa: E731
    else:
        from semser_tf.semantic.words import recognize
        from semser_tf.semantic.words.whisper import recognize_whisper

        fn = recognize_whisper if what == "whisper" else recognize
        fn(warm, 16000)  # warm-up
        run = lambda: fn(path)  # noqa: E731
        count = lambda out: f"{len(out)} words"  # noqa: E731
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    out = run()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{what} {Path(path).name}: max RSS {before:.0f} MB after the warm-up, {after:.0f} MB after the "
        f"run ({count(out)}, {time.perf_counter() - t0:.1f} s)",
        flush=True,
    )


def _memory_make(path: str, minutes: float) -> None:
    from semser_tf.data.audio import save_wav
    from semser_tf.data.espeak import synthesize

    sr = 22050
    rng = np.random.default_rng(0)
    x = (10 ** (-70 / 20) * rng.standard_normal(int(minutes * 60 * sr))).astype(np.float32)
    for i, t in enumerate(
        ("the weather today was wonderful", "we walked along the river", "my service looks sad")
    ):
        a, _ = synthesize(t, voice="en-us")
        s = int((20 + i * minutes * 15) * sr)
        x[s : s + len(a)] += a
    save_wav(path, x)


def memory(minutes_list, what="recognize") -> None:
    """Peak memory of ``recognize(path)`` on WAV files of several lengths.

    Each file is written by one child process and recognised by another, so that the
    measuring process inherits no peak from the one that built the audio (``ru_maxrss``
    survives ``fork`` and ``exec`` on Linux).
    """
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for minutes in minutes_list:
            path = str(Path(tmp) / f"long{minutes:g}.wav")
            subprocess.run(
                [sys.executable, __file__, "--memory-make", path, str(minutes)], check=True
            )
            subprocess.run(
                [sys.executable, __file__, "--memory-child", path, "--memory-of", what], check=True
            )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--voices", default="en+m1,en+f3,en-us+m3,en-us+f2,en-gb-x-rp+m7,en-029+m2")
    p.add_argument("--seconds", type=float, default=30.0, help="synthetic seconds per voice")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--whole", action="store_true", help="also recognise each synthetic recording whole"
    )
    p.add_argument("--real", default="", help="comma list: pocketsphinx, asterisk")
    p.add_argument("--cache", default=os.path.expanduser("~/.cache/semser-real-speech"))
    p.add_argument("--limit", type=int, default=0, help="at most this many real utterances per set")
    p.add_argument(
        "--domain-lm",
        type=int,
        default=0,
        metavar="N",
        help="also recognise the synthetic speech with a trigram model of N background "
        "sentences of the synthetic templates (generate_text_corpus, seed 1)",
    )
    p.add_argument(
        "--recognizer",
        default="pocketsphinx",
        choices=("pocketsphinx", "whisper", "whisper-raw"),
        help="the recogniser of the WER and recognised-word columns: pocketsphinx, Whisper base "
        "(the packaged model) with its words re-timed by forced alignment (the default of "
        "recognize_whisper), or whisper-raw (Whisper's own word times)",
    )
    p.add_argument(
        "--no-align", action="store_true", help="recognition only (no forced alignment columns)"
    )
    p.add_argument(
        "--speed", action="store_true", help="only time recognition and alignment (CPU and wall)"
    )
    p.add_argument(
        "--memory",
        default="",
        help="only peak memory of recognize on WAV files of these minutes, e.g. 4,40",
    )
    p.add_argument(
        "--memory-of",
        default="recognize",
        choices=("recognize", "whisper", "predict"),
        help="with --memory: pocketsphinx recognize, recognize_whisper, or the bundled model's "
        "predict on the bare file (words recognised, as semser predict does)",
    )
    p.add_argument("--memory-child", help=argparse.SUPPRESS)
    p.add_argument("--memory-make", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.memory_child:
        _memory_child(args.memory_child, args.memory_of)
        return 0
    if args.memory_make:
        _memory_make(args.memory_make[0], float(args.memory_make[1]))
        return 0
    if args.speed:
        speed()
        return 0
    if args.memory:
        memory([float(m) for m in args.memory.split(",")], args.memory_of)
        return 0
    print(
        "| set | utterances / audio / words | WER | recognised words: median start / end error "
        "| p90 (share <= 100 ms) | aligned words: median start / end | p90 (share) | alignment failures "
        "| recognition audio-s/s | alignment audio-s/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    lm = None
    if args.domain_lm:
        import tempfile

        from semser_tf.data.synthetic import generate_text_corpus
        from semser_tf.semantic.words.language_model import build_language_model

        tmp = Path(tempfile.mkdtemp())
        lm = build_language_model(
            generate_text_corpus(tmp / "bg.txt", sentences=args.domain_lm, seed=1), tmp / "bg.arpa"
        )
    for voice in [v for v in args.voices.split(",") if v]:
        items, rec = synthetic_items(voice, args.seconds, args.seed)
        measure(items, f"eSpeak {voice}", align_too=not args.no_align, recognizer=args.recognizer)
        if lm is not None:
            measure(items, f"eSpeak {voice}, domain LM", align_too=False, language_model=lm)
        if args.whole:
            text = " ".join(s.text for s in rec.sentences)
            measure([(rec.audio, 22050, text, rec.words)], f"eSpeak {voice}, whole recording")
    real = [r for r in args.real.split(",") if r]
    if real:
        import fetch_real_speech as frs

        for name in real:
            fetch = {
                "pocketsphinx": frs.fetch_pocketsphinx_testdata,
                "asterisk": frs.fetch_asterisk,
            }[name]
            pairs = fetch(Path(args.cache))
            if args.limit:
                pairs = pairs[: args.limit]
            from semser_tf.data.audio import decode_audio

            items = []
            for path, text in pairs:
                audio, sr = decode_audio(path)
                items.append((audio, sr, frs.spoken_form(text), None))
            measure(
                items,
                f"{name} ({len(items)})",
                align_too=not args.no_align,
                recognizer=args.recognizer,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
