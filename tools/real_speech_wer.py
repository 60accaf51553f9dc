"""WER of each recogniser on the real recorded speech that Debian packages carry.

The utterances are those `real_speech_valence.py` rates (the lexicon-rated prompts of
`asterisk-core-sounds-en-wav`, or `pocketsphinx-testdata`'s sentences), fetched with
`apt-get download` (`fetch_real_speech.py`); each is recognised from its file and the
corpus WER against the packaged transcripts printed, with the recognition CPU time.

Usage::

    python tools/real_speech_wer.py --data asterisk --recognizers whisper,pocketsphinx
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", choices=("asterisk", "pocketsphinx-testdata"), default="asterisk")
    p.add_argument("--cache", default=str(Path.home() / ".cache" / "semser-real-speech"))
    p.add_argument("--recognizers", default="whisper,pocketsphinx")
    args = p.parse_args(argv)

    from fetch_real_speech import fetch_asterisk, fetch_pocketsphinx_testdata
    from real_speech_valence import lexicon_labels

    from semser_tf.data.lexicon import load_vader
    from semser_tf.semantic.words import corpus_word_error_rate, recognize
    from semser_tf.semantic.words.whisper import recognize_whisper

    pairs = (fetch_asterisk if args.data == "asterisk" else fetch_pocketsphinx_testdata)(
        Path(args.cache)
    )
    utts = lexicon_labels(pairs, load_vader())
    funcs = {"whisper": recognize_whisper, "pocketsphinx": recognize}
    for name in args.recognizers.split(","):
        out, cpu = [], 0.0
        for path, text, _label, _total in utts:
            c = time.process_time()
            out.append((text, funcs[name](path)))
            cpu += time.process_time() - c
        print(
            f"{args.data} {name}: {len(utts)} utterances, WER {corpus_word_error_rate(out):.3f}, "
            f"recognition CPU {cpu:.1f} s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
