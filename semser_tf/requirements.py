"""The installed package's runtime requirements, printed for pip: the CPU-only install route.

``pip install semser-tf`` asks for ``tensorflow``, which runs on CPUs and GPUs. A machine without
a GPU can take TensorFlow's smaller CPU-only build instead (``tensorflow-cpu``, the same code
without the GPU kernels); pip cannot swap one for the other, so the route is::

    pip install --no-deps semser-tf
    pip install $(python -m semser_tf.requirements --cpu)

``--extra NAME`` adds an extra's requirements (``tuning``, ``synth``, ``whisper``, ``jax``,
``export``). The list is read from the installed package's own metadata, so it always matches the
ranges of the version installed.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import metadata

DISTRIBUTION = "semser-tf"

_EXTRA = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


def requirements(cpu: bool = False, extras: tuple[str, ...] = ()) -> list[str]:
    """Requirement strings of the installed distribution, for the given extras.

    Args:
        cpu: replace ``tensorflow`` with ``tensorflow-cpu`` (same version range).
        extras: extras whose requirements are added (``all`` for every one).

    Returns:
        One pip requirement per entry, without environment markers.
    """
    out = []
    wanted = set(extras)
    reqs = metadata.requires(DISTRIBUTION) or []
    known = {m.group(1) for r in reqs if (m := _EXTRA.search(r.partition(";")[2]))}
    unknown = sorted(wanted - known)
    if unknown:
        raise ValueError(
            f"unknown extra {', '.join(unknown)}: expected one of {', '.join(sorted(known))}"
        )
    for req in reqs:
        spec, _, marker = req.partition(";")
        m = _EXTRA.search(marker)
        if m is not None and m.group(1) not in wanted:
            continue
        spec = spec.strip().replace(" ", "")
        if spec.startswith("semser-tf["):  # the 'all' extra names the others
            inner = spec[len("semser-tf[") : spec.index("]")]
            out += requirements(cpu=cpu, extras=tuple(inner.split(",")))
            continue
        if cpu and re.match(r"tensorflow(?![-_\w])", spec):
            spec = "tensorflow-cpu" + spec[len("tensorflow") :]
        out.append(spec)
    return list(dict.fromkeys(out))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m semser_tf.requirements",
        description="Print the installed semser-tf's requirements, one per line, for pip.",
    )
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="tensorflow-cpu instead of tensorflow (default: off, tensorflow)",
    )
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME",
        help="also an extra's requirements, repeatable: tuning, synth, whisper, jax, export, all "
        "(default: none)",
    )
    args = parser.parse_args(argv)
    try:
        lines = requirements(cpu=args.cpu, extras=tuple(args.extra))
    except ValueError as err:
        print(f"python -m semser_tf.requirements: {err}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
