"""The isolated worker of the corpus generator: one job (JSON) on stdin, its metadata on stdout.

Run as ``python -m semser_tf.data.synthetic`` by ``corpus._run_isolated``; each recording
is made in a fresh process so that eSpeak NG's carried-over state cannot change the audio.
"""

from __future__ import annotations

import json
import sys

from semser_tf.data.synthetic.corpus import _generate_and_write
from semser_tf.errors import SemserError


def main() -> int:
    job = json.loads(sys.stdin.read())
    try:
        info = _generate_and_write(tuple(job))
    except SemserError as err:  # a user error: its message is enough
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
