"""``semser words recognize | align | lm``: words from audio on the command line."""

from __future__ import annotations

import sys
from pathlib import Path

from semser_tf.errors import ConfigError

RECOGNIZER_WORKERS_HELP = (
    "pocketsphinx decoder processes: auto (default: one per usable CPU, at most 4, and one "
    "for recordings under 60 s) or a whole number; a long recording is cut at pauses into that "
    "many contiguous parts decoded side by side; 1 decodes with one decoder in this process "
    "(the words of earlier versions)"
)


def recognizer_workers_arg(text: str):
    """``--recognizer-workers``: ``auto`` or a whole number >= 1."""
    import argparse

    value = text.strip().lower()
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(
            f"expected auto or a whole number of processes >= 1, got {text!r}"
        )
    return n


def check_recognizer_workers(args) -> None:
    """Refuse ``--recognizer-workers N`` with a recogniser other than pocketsphinx."""
    from semser_tf.semantic.words.source import resolve_recognizer

    workers = getattr(args, "recognizer_workers", "auto")
    if (
        workers != "auto"
        and resolve_recognizer(args.recognizer, args.language_model) != "pocketsphinx"
    ):
        raise ConfigError(
            f"--recognizer-workers {workers} applies to pocketsphinx only; Whisper is the "
            "recogniser here (pass --recognizer pocketsphinx, or leave --recognizer-workers out)"
        )


def _out_path(args, audio: Path, transcript=None) -> Path:
    from semser_tf.io import check_outputs

    out = Path(args.out) if args.out else audio.with_suffix(".words.csv")
    # --overwrite replaces an earlier words file, never an input (the audio, the transcript)
    check_outputs({"--out": out}, {"AUDIO": audio, "TRANSCRIPT": transcript})
    if out.exists() and not args.overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it, or --out another file")
    return out


def _report(words, out, how):
    from semser_tf.semantic.words.source import write_words

    write_words(out, words)
    span = f", {words[0].start:.2f}-{words[-1].end:.2f} s" if words else ""
    print(f"{len(words)} words {how}{span}: {out}")
    return 0


def _recognize(args):
    from semser_tf.semantic.words.source import WordSource, resolve_recognizer

    audio = Path(args.audio)
    out = _out_path(args, audio)
    check_recognizer_workers(args)
    src = WordSource(
        "asr",
        language_model=args.language_model,
        recognizer=resolve_recognizer(args.recognizer, args.language_model),
        whisper_model=args.whisper_model,
        workers=args.recognizer_workers,
    )
    return _report(src.recognize(audio), out, "recognised")


def _align(args):
    from semser_tf.semantic.words.forced_align import align

    audio = Path(args.audio)
    transcript = Path(args.transcript) if Path(args.transcript).is_file() else args.transcript
    out = _out_path(args, audio, transcript if isinstance(transcript, Path) else None)
    words = align(audio, transcript, on_failure="spread" if args.spread else "raise")
    return _report(words, out, "aligned")


def _lm(args):
    from semser_tf.io import check_outputs
    from semser_tf.semantic.words.language_model import build_language_model

    out = Path(args.out)
    check_outputs({"--out": out}, {f"TEXT {i + 1}": t for i, t in enumerate(args.text)})
    if out.exists() and not args.overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it")
    texts = []
    for name in args.text:
        p = Path(name)
        if not p.is_file():
            raise ConfigError(
                f"{p}: text file not found; expected UTF-8 text, one sentence per line"
            )
        texts.extend(p.read_text(encoding="utf-8", errors="replace").splitlines())
    build_language_model(texts, out)
    print(f"language model of {len(texts)} lines: {out}", file=sys.stderr)
    return 0


def _corpus(args):
    from semser_tf.semantic.words.corpus import write_corpus_words
    from semser_tf.semantic.words.source import WordSource, resolve_recognizer

    check_recognizer_workers(args)
    counts = write_corpus_words(
        args.corpus,
        args.cache_dir,
        WordSource(
            args.words_from,
            on_failure="spread",
            language_model=args.language_model,
            recognizer=resolve_recognizer(args.recognizer, args.language_model),
            whisper_model=args.whisper_model,
            workers=args.recognizer_workers,
        ),
    )
    print(
        f"{args.corpus}: {counts['written']} words files written ({counts['aligned']} aligned, "
        f"{counts['recognised']} recognised, {counts['cached']} from the cache); "
        f"{counts['kept']} existing files kept"
    )
    return 0


def _recognizer_args(q):
    q.add_argument(
        "--recognizer",
        default="auto",
        choices=("auto", "pocketsphinx", "whisper"),
        help="auto (default: whisper when its packages are installed and no --language-model is "
        "given, as for semser predict), pocketsphinx, or whisper",
    )
    q.add_argument(
        "--whisper-model",
        default="base",
        help="with whisper: base (packaged) or a CTranslate2 Whisper model folder (default: base)",
    )
    q.add_argument(
        "--recognizer-workers",
        type=recognizer_workers_arg,
        default="auto",
        metavar="N",
        help=RECOGNIZER_WORKERS_HELP,
    )


def register(sub):
    p = sub.add_parser(
        "words",
        help="words with timings from audio: recognise, align a transcript, "
        "build a domain language model",
    )
    wsub = p.add_subparsers(dest="words_command", metavar="WORDS_COMMAND")

    q = wsub.add_parser("recognize", help="recognise English speech; write start;end;word")
    q.add_argument(
        "audio", help="WAV, FLAC, MP3 or OGG file (resampled to 16 kHz mono for the recogniser)"
    )
    q.add_argument("--out", help="words file (default AUDIO.words.csv)")
    q.add_argument(
        "--language-model", help="ARPA n-gram file of the domain's text (semser words lm)"
    )
    _recognizer_args(q)
    q.add_argument(
        "--overwrite", action="store_true", help="replace an existing output file (never an input)"
    )
    q.set_defaults(func=_recognize)

    q = wsub.add_parser("align", help="word timings of a known transcript (forced alignment)")
    q.add_argument("audio", help="WAV, FLAC, MP3 or OGG file of the transcript's speech")
    q.add_argument(
        "--transcript",
        required=True,
        help="a text file, a timed transcript (start;end;'text') or the text itself",
    )
    q.add_argument("--out", help="words file (default AUDIO.words.csv)")
    q.add_argument(
        "--spread",
        action="store_true",
        help="when a sentence does not align, spread its words by character count instead of failing",
    )
    q.add_argument(
        "--overwrite", action="store_true", help="replace an existing output file (never an input)"
    )
    q.set_defaults(func=_align)

    q = wsub.add_parser(
        "lm", help="an ARPA trigram model of text files, for recognition in their domain"
    )
    q.add_argument("text", nargs="+", help="UTF-8 text files, one sentence per line")
    q.add_argument("--out", required=True, help="the .arpa file to write")
    q.add_argument(
        "--overwrite", action="store_true", help="replace an existing output file (never an input)"
    )
    q.set_defaults(func=_lm)

    q = wsub.add_parser(
        "corpus",
        help="write the missing words/NAME.csv of a SEWA-layout corpus from its "
        "audio (transcripts aligned, else speech recognised)",
    )
    q.add_argument("corpus", help="SEWA-layout corpus folder")
    q.add_argument(
        "--words-from",
        default="auto",
        choices=("auto", "asr", "align"),
        help="auto (default): align transcriptions/NAME.csv when present, else recognise",
    )
    q.add_argument("--cache-dir", help="cache of results (default CORPUS/.words-cache)")
    q.add_argument(
        "--language-model", help="ARPA n-gram file of the domain's text (semser words lm)"
    )
    _recognizer_args(q)
    q.set_defaults(func=_corpus)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
