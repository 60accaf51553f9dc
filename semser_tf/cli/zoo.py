"""``semser predict``, ``publish``, ``finetune``, ``zoo`` and ``demo``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def _predict(args):
    if len(args.audio) == 1 and args.out is None and not Path(args.audio[0]).is_dir():
        return _predict_one(args, args.audio[0])
    return _predict_many(args)


def _predict_many(args):
    """``semser predict A.wav B.wav ... --out DIR`` / ``semser predict FOLDER --out DIR``."""
    from semser_tf.errors import ConfigError
    from semser_tf.inference_batch import plan_outputs, write_predictions
    from semser_tf.zoo.pretrained import load_pretrained

    if args.out is None:
        raise ConfigError("several inputs (or a folder) need --out DIR for their predictions")
    single = {"--words": args.words, "--transcript": args.transcript, "--csv": args.csv}
    single["--plot"] = args.plot
    given = [k for k, v in single.items() if v is not None]
    if given:
        raise ConfigError(
            f"{', '.join(given)} name(s) one file; with several inputs or --out use "
            "--words-dir (STEM.words.csv per audio file) and --no-plot"
        )
    from semser_tf.cli.words import check_recognizer_workers

    check_recognizer_workers(args)
    jobs = plan_outputs(args.audio, args.out, args.words_dir, not args.no_plot, args.model)
    model = load_pretrained(
        args.model, offline=args.offline, embedding_mode=args.mode, timeout=args.timeout
    )
    if args.precision != "float32":
        model = model.with_precision(args.precision)
    if args.words_from == "none" or (args.words_from == "file" and not args.words_dir):
        print(
            "semser predict: no words: the semantic input is empty (zeros) for a "
            "transcript-lookup model; predictions then rest on the voice alone.",
            file=sys.stderr,
        )
    done = write_predictions(model, jobs, args)
    print(
        f"{done['files']} files, {done['audio_seconds']:.1f} s of audio in "
        f"{done['seconds']:.1f} s ({done['files'] / max(done['seconds'], 1e-9):.1f} files/s); "
        f"written to {args.out}"
    )
    return 0


def _predict_one(args, audio):
    from semser_tf.cli.words import check_recognizer_workers
    from semser_tf.io import check_outputs
    from semser_tf.zoo.pretrained import load_pretrained

    audio = Path(audio)
    out_csv = Path(args.csv) if args.csv else audio.with_suffix(".pred.csv")
    out_png = Path(args.plot) if args.plot else out_csv.with_suffix(".png")
    transcript = args.transcript
    if transcript is not None and Path(transcript).is_file():
        transcript = Path(transcript)
    # never write an output onto an input (checked before the model is loaded)
    words_out = None if args.words else out_csv.parent / f"{audio.stem}.words.csv"
    check_outputs(
        {"--csv": out_csv, "--plot": None if args.no_plot else out_png, "words file": words_out},
        {
            "AUDIO": audio,
            "--words": args.words,
            "--model": args.model,
            "--transcript": transcript if isinstance(transcript, Path) else None,
        },
    )
    check_recognizer_workers(args)
    model = load_pretrained(
        args.model, offline=args.offline, embedding_mode=args.mode, timeout=args.timeout
    )
    if args.precision != "float32":
        model = model.with_precision(args.precision)
    if args.words_from == "none" or (args.words_from == "file" and not args.words):
        print(
            "semser predict: no words: the semantic input is empty (zeros) for a "
            "transcript-lookup model; predictions then rest on the voice alone.",
            file=sys.stderr,
        )
    t0 = time.time()
    pred = model.predict(
        audio,
        words=args.words,
        progress=args.progress,
        transcript=transcript,
        words_from=args.words_from,
        language_model=args.language_model,
        recognizer=args.recognizer,
        whisper_model=args.whisper_model,
        recognizer_workers=args.recognizer_workers,
    )
    seconds = time.time() - t0
    features = model.frame_features()
    if pred.words and features is not None and hasattr(features, "coverage"):
        print(
            f"semantic input ({model.embedding_mode} mode): "
            f"{features.coverage([w.word for w in pred.words]).summary()}",
            file=sys.stderr,
        )
    pred.to_csv(out_csv)
    words_csv = None
    if pred.words_source in ("asr", "align"):
        from semser_tf.semantic.words import format_words, write_words

        words_csv = out_csv.parent / f"{audio.stem}.words.csv"
        if words_csv.exists() and words_csv.read_text(
            encoding="utf-8", errors="replace"
        ) != format_words(pred.words):
            # a words file of the user's (or an earlier run, perhaps edited): never overwritten
            print(
                f"semser predict: {words_csv} exists and differs from the words used now: kept; "
                f"pass --words {words_csv} to predict from it",
                file=sys.stderr,
            )
            words_csv = None
        else:
            write_words(words_csv, pred.words)
        how = "recognised" if pred.words_source == "asr" else "aligned to the transcript"
        from semser_tf.semantic.words.source import resolve_recognizer

        using = (
            f"whisper {args.whisper_model}"
            if resolve_recognizer(args.recognizer, args.language_model) == "whisper"
            and pred.words_source == "asr"
            else f"pocketsphinx, English; language model: {args.language_model}"
        )
        print(f"words: {len(pred.words)} {how} ({using})", file=sys.stderr)
    if not args.no_plot:
        pred.plot(out_png, title=f"{audio.name} - {model.name}")
    duration = len(pred.times) / 10
    print(
        f"{audio}: {duration:.1f} s of audio in {seconds:.1f} s ({duration / max(seconds, 1e-9):.0f} audio s/s)"
    )
    means = ", ".join(f"{t} {pred[t].mean():+.3f}" for t in pred.targets)
    print(f"mean prediction: {means}")
    print(
        f"written: {out_csv}"
        + ("" if args.no_plot else f", {out_png}")
        + ("" if words_csv is None else f", {words_csv}")
    )
    return 0


def _publish(args):
    from semser_tf.zoo import publish_run

    entry = publish_run(
        args.run,
        args.name,
        args.out or Path("zoo") / args.name,
        version=args.version,
        base_url=args.base_url,
        description=args.description,
        license=args.license,
        overwrite=args.overwrite,
        exports=args.export or (),
    )
    data = json.loads(Path(entry).read_text())
    print(f"published {data['name']} {data['version']}: {entry}")
    for f in data["files"]:
        print(f"  {f['role']:<28} {f['size']:>10} B  sha256 {f['sha256'][:16]}...  {f['url']}")
    return 0


def _finetune(args):
    from semser_tf.cli.run_inputs import open_corpus
    from semser_tf.zoo.finetune import finetune

    finetune(
        args.model,
        open_corpus(args.corpus, args.words_dir),
        args.out,
        targets=args.targets.split(",") if args.targets else None,
        freeze=tuple(args.freeze.split(",")) if args.freeze else (),
        epochs=args.epochs,
        patience=args.patience,
        learning_rate=args.learning_rate,
        sequence_length=args.sequence_length,
        batch_size=args.batch_size,
        val_partition=args.val_partition,
        val_fraction=args.val_fraction,
        cache_dir=args.cache_dir,
        resume=args.resume,
        overwrite=args.overwrite,
        verbose=1 if args.verbose else 2,
        embeddings=args.embeddings,
        embedding_mode=args.embedding_mode,
    )
    print((Path(args.out) / "finetune.md").read_text())
    return 0


def _zoo_list(args):
    from semser_tf.zoo import get_entry, list_pretrained

    names = list_pretrained()
    if not names:
        print("no models in the zoo registry")
    for name in names:
        e = get_entry(name)
        metric = next(iter(e.metrics), None)
        m = ""
        if metric is not None:
            m = "  " + ", ".join(f"{k} {v:.3f}" for k, v in metric.ccc.items())
        print(
            f"{e.name} {e.version} ({e.variant}, {e.total_size / 1e6:.1f} MB){m}\n    {e.description}"
        )
    return 0


def _demo(args):
    from semser_tf.demo import run_demo

    return run_demo(args.out, model=args.model, recordings=args.recordings, seed=args.seed)


def register(sub):
    from semser_tf.cli.train import add_finetune_arguments
    from semser_tf.cli.words import RECOGNIZER_WORKERS_HELP, recognizer_workers_arg

    p = sub.add_parser("predict", help="predict arousal/valence/liking over time for audio files")
    p.add_argument(
        "audio",
        nargs="+",
        help="WAV (streamed), FLAC, MP3 or OGG file; several files, or folders (their .wav "
        "files, sorted), with --out DIR",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="folder of the predictions of several inputs: STEM.pred.csv (and STEM.pred.png) "
        "per audio file, predicted several per model call",
    )
    p.add_argument(
        "--words-dir",
        metavar="DIR",
        help="with --out: word timings STEM.words.csv per audio file, where they exist "
        "(the others get words as --words-from says)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=32,
        help="with --out: the most recordings per model call (default 32)",
    )
    p.add_argument("--words", help="word timings file (start;end;word); optional")
    p.add_argument(
        "--words-from",
        default="auto",
        choices=("auto", "file", "asr", "align", "none"),
        help="where the words come from: auto (default: --words, else the alignment of "
        "--transcript, else English speech recognition), file (only --words), asr, "
        "align (needs --transcript) or none (semantic input zero); recognised or "
        "aligned words are written to STEM.words.csv beside the predictions",
    )
    p.add_argument(
        "--transcript",
        help="transcript to align when there is no --words file: a text "
        "file, a timed transcript (start;end;'text') or the text itself",
    )
    p.add_argument(
        "--language-model",
        default="auto",
        help="for recognition: auto (default: the model's own vocabulary when it has at most "
        "5000 words, as the bundled model, else pocketsphinx's general English model), "
        "vocabulary, general, or an n-gram file (ARPA) of the domain's text (semser words lm)",
    )
    p.add_argument(
        "--recognizer",
        default="auto",
        choices=("auto", "pocketsphinx", "whisper"),
        help="speech recogniser: auto (default: whisper when installed, as by make, and no "
        "pocketsphinx --language-model is given; else pocketsphinx), pocketsphinx or whisper "
        "(faster-whisper + the Whisper base model packages, see docs/words.md)",
    )
    p.add_argument(
        "--whisper-model",
        default="base",
        help="with whisper: base (packaged) or a CTranslate2 Whisper model folder (default: base)",
    )
    p.add_argument(
        "--recognizer-workers",
        type=recognizer_workers_arg,
        default="auto",
        metavar="N",
        help=RECOGNIZER_WORKERS_HELP,
    )
    p.add_argument(
        "--model", default=None, help="zoo name, entry path or run folder (default: bundled)"
    )
    p.add_argument(
        "--mode",
        default=None,
        help="semantic features: lookup (aligned speech table), text (Word2Vec) or encode "
        "(speech segments); default: the model's",
    )
    p.add_argument("--csv", help="output CSV (default AUDIO.pred.csv)")
    p.add_argument("--plot", help="output PNG (default next to the CSV)")
    p.add_argument(
        "--no-plot", action="store_true", help="write the CSV only (default: CSV and PNG)"
    )
    p.add_argument("--offline", action="store_true", help="never download")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="most seconds the model's downloads may take in all (default 1800)",
    )
    p.add_argument(
        "--progress",
        action="store_true",
        help="show a progress bar over the audio (default: off; on a long file it says how far it is)",
    )
    p.add_argument(
        "--precision",
        default="float32",
        help="float32 (default) or mixed_bfloat16 (faster on CPUs with AVX512_BF16/AMX and on GPUs; "
        "outputs within bfloat16's rounding of float32's)",
    )
    p.set_defaults(func=_predict)

    p = sub.add_parser("publish", help="pack a training run into a zoo registry entry")
    p.add_argument("run", help="run folder (best.keras, config.json, report.json, embeddings/)")
    p.add_argument(
        "--name",
        required=True,
        help="entry name (letters, digits, '.', '_', '-'), as load_pretrained takes it",
    )
    p.add_argument("--out", help="entry folder (default zoo/NAME)")
    p.add_argument("--version", default="1.0.0", help="entry version, e.g. 1.0.0")
    p.add_argument(
        "--base-url", help="where the files will be served, e.g. https://host/models/NAME/"
    )
    p.add_argument(
        "--description",
        help="one line for the zoo table (default: generated from the variant and the run folder name)",
    )
    p.add_argument(
        "--license", default="unspecified", help="licence of the weights, e.g. BSD-3-Clause"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out if it is an entry folder publish wrote (never another folder, the run or "
        "a folder above it)",
    )
    p.add_argument(
        "--export",
        action="append",
        metavar="DIR",
        help="a folder written by 'semser export RUN ...' to carry in the entry under exports/FORMAT/ "
        "(repeatable, one per format; checked to hold the run's weights; default: none)",
    )
    p.set_defaults(func=_publish)

    p = sub.add_parser("finetune", help="fine-tune a zoo model on a new corpus")
    add_finetune_arguments(p)  # one home with finetune's API: semser_tf.cli.train
    p.set_defaults(func=_finetune)

    p = sub.add_parser("zoo", help="list the models of the zoo registry")
    p.set_defaults(func=_zoo_list)

    p = sub.add_parser("demo", help="predict held-out synthetic speech with the bundled model")
    p.add_argument("--out", default="demo_out", help="folder of the CSVs, plots and summary.md")
    p.add_argument(
        "--model", default=None, help="zoo name, entry path or run folder (default: bundled)"
    )
    p.add_argument(
        "--recordings", type=int, default=3, help="held-out recordings synthesized and predicted"
    )
    p.add_argument("--seed", type=int, default=2026, help="seed of the held-out recordings")
    p.set_defaults(func=_demo)
