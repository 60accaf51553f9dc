#!/usr/bin/env python3
"""Generate the synthetic SEWA-layout corpus (same options as ``semser synth``).

Example:
    python tools/make_synthetic_corpus.py corpora/synth --minutes 60 --seed 0 --jobs 2
    python tools/make_synthetic_corpus.py corpora/old --minutes 60 --recipe template

``--recipe real`` (the default) speaks real English sentences rated with VADER and gives
the Test partition held-out voices (``--test-voices``); ``--recipe template`` reproduces
the generator 1.0 corpus. See docs/synthetic_corpus.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import semser_tf.cli.data  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from semser_tf.cli.data import add_synth_arguments, run_synth  # noqa: E402
from semser_tf.errors import SemserError  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_synth_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_synth(args)
    except SemserError as err:
        print(f"make_synthetic_corpus: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
