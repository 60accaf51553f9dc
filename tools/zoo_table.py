#!/usr/bin/env python
"""Print or update the Markdown table of the zoo's models and their figures.

The table goes into ``docs/zoo.md`` between the lines ``<!-- zoo-table:begin -->`` and
``<!-- zoo-table:end -->``; one row per evaluation record of each entry.

Usage::

    python tools/zoo_table.py                 # print the table
    python tools/zoo_table.py --write         # update docs/zoo.md in place
    python tools/zoo_table.py --check         # exit 1 if docs/zoo.md is out of date
    python tools/zoo_table.py --registry DIR  # read only these registry folders
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
try:
    import semser_tf.zoo  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without an installed package
    sys.path.insert(0, str(REPO))

from semser_tf.constants import DEFAULT_TARGETS  # noqa: E402
from semser_tf.errors import SemserError  # noqa: E402
from semser_tf.zoo.registry import load_entries, write_text_atomic  # noqa: E402

BEGIN = "<!-- zoo-table:begin -->"
END = "<!-- zoo-table:end -->"
DEFAULT_DOC = REPO / "docs" / "zoo.md"


def format_size(n: int) -> str:
    """Human-readable size in binary units, e.g. ``1536 -> '1.5 KiB'``.

    Example:
        >>> format_size(1536)
        '1.5 KiB'
    """
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    return f"{value:.1f} TiB"  # pragma: no cover


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_table(entries) -> str:
    """The Markdown table of the given entries (``ModelEntry`` objects).

    Args:
        entries: zoo entries, e.g. ``semser_tf.zoo.load_entries()``.

    Returns:
        The table text, ending with a newline; a one-line note when there is no entry.

    Example:
        >>> print(render_table([]))
        _No model is published in the zoo yet._
        <BLANKLINE>
    """
    entries = list(entries)
    if not entries:
        return "_No model is published in the zoo yet._\n"
    seen = []
    for entry in entries:
        for metric in entry.metrics:
            for target in metric.ccc:
                if target not in seen:
                    seen.append(target)
    targets = [t for t in DEFAULT_TARGETS if t in seen] + sorted(
        t for t in seen if t not in DEFAULT_TARGETS
    )
    if not targets:
        targets = list(DEFAULT_TARGETS)
    header = ["Model", "Version", "Variant", "Training data", "Evaluated on"]
    header += [f"CCC {t}" for t in targets] + ["CCC mean", "Size"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * 5 + ["---:"] * (len(targets) + 2)) + "|",
    ]
    for entry in sorted(entries, key=lambda e: (e.name, e.version)):
        base = [f"`{entry.name}`", entry.version, entry.variant, entry.training.get("data", "")]
        size = format_size(entry.total_size)
        records = entry.metrics or [None]
        for metric in records:
            if metric is None:
                row = base + ["not evaluated"] + ["—"] * (len(targets) + 1) + [size]
            else:
                ccc = [f"{metric.ccc[t]:.3f}" if t in metric.ccc else "—" for t in targets]
                row = (
                    base
                    + [f"{metric.dataset} / {metric.partition}"]
                    + ccc
                    + [f"{metric.mean:.3f}", size]
                )
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines) + "\n"


def replace_between_markers(text: str, table: str, source: str = "document") -> str:
    """Put ``table`` between the begin/end markers of ``text``.

    Raises:
        SemserError: a marker is missing or they are in the wrong order.

    Example:
        >>> replace_between_markers("a\\n<!-- zoo-table:begin -->\\nold\\n<!-- zoo-table:end -->\\n", "T\\n")
        'a\\n<!-- zoo-table:begin -->\\nT\\n<!-- zoo-table:end -->\\n'
    """
    start = text.find(BEGIN)
    end = text.find(END)
    if start < 0 or end < 0 or end < start:
        raise SemserError(
            f"{source}: expected the lines '{BEGIN}' then '{END}' around the zoo table"
        )
    head = text[: start + len(BEGIN)]
    return head + "\n" + table + text[end:]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--write",
        nargs="?",
        const=str(DEFAULT_DOC),
        metavar="FILE",
        help="update the table in FILE (default docs/zoo.md)",
    )
    parser.add_argument(
        "--check",
        nargs="?",
        const=str(DEFAULT_DOC),
        metavar="FILE",
        help="exit 1 if the table in FILE (default docs/zoo.md) is out of date",
    )
    parser.add_argument(
        "--registry",
        action="append",
        metavar="DIR",
        help="read only this registry folder (repeatable); default: the search path",
    )
    args = parser.parse_args(argv)
    try:
        table = render_table(load_entries(args.registry))
        target = args.write or args.check
        if target is None:
            sys.stdout.write(table)
            return 0
        path = Path(target)
        text = path.read_text(encoding="utf-8")
        updated = replace_between_markers(text, table, str(path))
        if args.check:
            if updated != text:
                print(
                    f"{path}: the zoo table is out of date; run python tools/zoo_table.py --write",
                    file=sys.stderr,
                )
                return 1
            return 0
        if updated != text:
            write_text_atomic(path, updated)
        return 0
    except (SemserError, OSError) as err:
        print(f"zoo_table: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
