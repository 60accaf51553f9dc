"""``semser synth``: generate the synthetic SEWA-layout corpus of eSpeak NG speech."""

from __future__ import annotations

import argparse

from semser_tf.errors import ConfigError

__all__ = ["add_synth_arguments", "parse_partitions", "register", "run_synth"]


def parse_partitions(text: str) -> dict:
    """Parse ``"Train=0.6,Devel=0.2,Test=0.2"`` into a dict of fractions.

    Args:
        text: comma-separated ``Name=fraction`` pairs.

    Returns:
        Ordered dict name -> fraction.

    Raises:
        ConfigError: naming the malformed item and the expected form.

    Example:
        >>> parse_partitions("Train=0.8,Test=0.2")
        {'Train': 0.8, 'Test': 0.2}
    """
    out = {}
    for item in text.split(","):
        name, sep, value = item.strip().partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(
                f"--partitions: bad item {item!r}; expected Name=fraction, e.g. Train=0.6"
            ) from None
    return out


def add_synth_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the corpus generator's options to ``parser`` (shared with the tool script).

    Example:
        >>> p = argparse.ArgumentParser(); add_synth_arguments(p)
    """
    parser.add_argument("out_dir", metavar="OUT_DIR", help="corpus folder to create")
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="total audio in minutes (default 10)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--recording-seconds",
        type=float,
        default=60.0,
        help="approximate length of each recording (default 60)",
    )
    parser.add_argument(
        "--recipe",
        choices=("real", "template"),
        default="real",
        help="what is said: 'real' (real English sentences rated with VADER, generator 2.0; "
        "default) or 'template' (the 1.0 template lexicon, reproducible byte for byte)",
    )
    parser.add_argument(
        "--voices",
        default=None,
        help="comma-separated eSpeak NG voices, e.g. 'en+f3,en-us+m3' (default: eight English "
        "voices); with --recipe real, the voices outside the Test partition",
    )
    parser.add_argument(
        "--test-voices",
        default=None,
        help="comma-separated voices of the Test partition, or 'same' for the --voices rotation "
        "(default: with --recipe real, three held-out voices never used in Train/Devel; "
        "with --recipe template, 'same')",
    )
    parser.add_argument(
        "--lexicon",
        default=None,
        metavar="FILE",
        help="with --recipe real: word ratings from FILE (TSV/CSV: word, rating; ratings divided "
        "by the largest absolute one) instead of VADER's",
    )
    parser.add_argument(
        "--held-out-text",
        action="store_true",
        help="with --recipe real: Test speaks only the sentences of every fifth source document "
        "and Train/Devel never do (default: all partitions draw from all sentences)",
    )
    parser.add_argument(
        "--partitions",
        default="Train=0.6,Devel=0.2,Test=0.2",
        help="Name=fraction pairs (default Train=0.6,Devel=0.2,Test=0.2)",
    )
    parser.add_argument(
        "--lag",
        type=float,
        default=None,
        help="annotation delay of the labels in seconds (default 2.0)",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="recordings generated in parallel (default 1)"
    )
    parser.add_argument(
        "--text-sentences",
        type=int,
        default=0,
        help="also write OUT_DIR/text/background.txt, this many lines of background text "
        "for Word2Vec (the analogue of the paper's external text corpus; default 0: none)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT_DIR")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _voice_list(text, option: str):
    if text is None:
        return None
    voices = [v.strip() for v in text.split(",") if v.strip()]
    if not voices:
        raise ConfigError(
            f"{option}: no voice given; expected comma-separated eSpeak NG voices, e.g. 'en+f3,en-us'"
        )
    return voices


def run_synth(args: argparse.Namespace) -> int:
    """Generate the corpus described by parsed ``args``; return the exit code.

    Example:
        >>> run_synth(argparse.Namespace(out_dir="c", minutes=1, ...))  # doctest: +SKIP
    """
    from semser_tf.data.synthetic import ANNOTATION_LAG_S, DEFAULT_VOICES, generate_corpus

    voices = _voice_list(args.voices, "--voices")
    recipe = getattr(args, "recipe", "template")
    test_voices = getattr(args, "test_voices", None)
    if test_voices is not None and test_voices.strip() == "same":
        test_voices = None if recipe == "template" else list(voices or DEFAULT_VOICES)
    elif test_voices is not None:
        test_voices = _voice_list(test_voices, "--test-voices")
    generate_corpus(
        args.out_dir,
        minutes=args.minutes,
        seed=args.seed,
        voices=voices,
        recording_seconds=args.recording_seconds,
        partitions=parse_partitions(args.partitions),
        progress=not args.quiet,
        overwrite=args.overwrite,
        lag_s=ANNOTATION_LAG_S if args.lag is None else args.lag,
        jobs=args.jobs,
        recipe=recipe,
        test_voices=test_voices,
        held_out_text=getattr(args, "held_out_text", False),
        lexicon=getattr(args, "lexicon", None),
    )
    if getattr(args, "text_sentences", 0):
        from pathlib import Path

        from semser_tf.data.synthetic import generate_text_corpus

        text = generate_text_corpus(
            Path(args.out_dir) / "text" / "background.txt",
            args.text_sentences,
            seed=args.seed,
            recipe=recipe,
        )
        print(f"{text}: {args.text_sentences} lines of background text for Word2Vec")
    print(args.out_dir)
    return 0


def register(subparsers) -> None:
    """Add ``semser synth`` to the CLI."""
    parser = subparsers.add_parser(
        "synth",
        help="generate a synthetic SEWA-layout corpus of eSpeak NG speech",
        description="Generate a synthetic corpus in the AVEC 2017 SEWA layout (plus words/): English "
        "sentences spoken by eSpeak NG (by default real sentences from news and reviews, held-out Test voices), "
        "valence from the VADER ratings of the words, arousal from the voice.",
    )
    add_synth_arguments(parser)
    parser.set_defaults(func=run_synth)
