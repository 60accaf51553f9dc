"""The tolerant reader of the small delimited text files of every format.

Labels, turns, transcriptions, words and manifests are all short ``;``, tab or ``,``
separated files, written by hand or exported from spreadsheets. This module reads them:
UTF-8 with or without a BOM (latin-1 as a fallback, with a warning), CRLF/CR line ends,
blank lines, a sniffed delimiter, quoted fields and numbers checked to be finite. Every
error names the file, the line and the expected form.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path

from semser_tf.errors import DataError

__all__ = [
    "TextRow",
    "read_text",
    "read_rows",
    "parse_number",
    "strip_quotes",
    "is_number",
]

_DELIMITERS = (";", "\t", ",")
_QUOTES = ("'", '"')


# --------------------------------------------------------------------------- text files


def read_text(path) -> str:
    """Read a small text file as UTF-8 (BOM removed), falling back to latin-1.

    Args:
        path: the file.

    Returns:
        The decoded text. When the bytes are not valid UTF-8 they are decoded as latin-1
        and a ``UnicodeWarning`` naming the file is issued.

    Raises:
        DataError: the file does not exist or cannot be read.

    Example:
        >>> text = read_text("labels/Train_01.csv")  # doctest: +SKIP
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found", path) from None
    except OSError as err:
        raise DataError(f"cannot read file ({err.strerror})", path) from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        warnings.warn(f"{path}: not valid UTF-8, decoded as latin-1", UnicodeWarning, stacklevel=2)
        return data.decode("latin-1")


@dataclasses.dataclass(frozen=True)
class TextRow:
    """One non-blank line of a delimited file, split into fields.

    Args:
        line: 1-based line number in the file.
        fields: the fields, stripped of surrounding whitespace (quotes are kept).
    """

    line: int
    fields: tuple


def _split(text: str, delimiter: str, maxsplit: int) -> list[str]:
    return [f.strip() for f in text.split(delimiter, maxsplit)]


def read_rows(
    path,
    *,
    min_fields: int,
    maxsplit: int = -1,
    expected: str,
) -> tuple[list[TextRow], str]:
    """Split a small ``;``/tab/``,`` separated file into rows of fields.

    The delimiter is sniffed: among ``;``, tab and ``,``, those that split each of the first
    five non-blank lines into at least ``min_fields`` fields, the one that comes first on
    the first line (so commas inside a text column of a ``;`` file, or semicolons inside
    the text of a ``,`` file, do not confuse it).
    CRLF/CR line ends, a UTF-8 BOM and blank lines (trailing or not) are accepted.

    Args:
        path: the file.
        min_fields: the number of fields a data row must have.
        maxsplit: split at most this many times (``-1``: no limit); the last field keeps
            the rest of the line, delimiters included (used for text columns).
        expected: the expected form, quoted in error messages (e.g. ``"start;end"``).

    Returns:
        ``(rows, delimiter)``; the rows may include a header row (the caller decides).

    Raises:
        DataError: the file is missing, or a row has fewer than ``min_fields`` fields
            (message names the file, the line and ``expected``).

    Example:
        >>> rows, delim = read_rows("turns/Train_01.csv", min_fields=2,
        ...                         expected="start;end")  # doctest: +SKIP
    """
    path = Path(path)
    text = read_text(path)
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    if not lines:
        return [], ";"
    probe = lines[:5]
    fits = [
        c for c in _DELIMITERS if all(len(_split(ln, c, maxsplit)) >= min_fields for _, ln in probe)
    ]
    present = [c for c in fits if c in probe[0][1]]
    if present:  # the separator is the one that comes first on the line
        delimiter = min(present, key=probe[0][1].index)
    elif fits:
        delimiter = fits[0]
    else:  # the file is wrong; pick the best guess for the message
        delimiter = max(_DELIMITERS, key=lambda c: len(_split(probe[0][1], c, maxsplit)))
    rows = []
    for lineno, ln in lines:
        fields = _split(ln, delimiter, maxsplit)
        if len(fields) < min_fields:
            raise DataError(
                f"missing column: found {len(fields)} field(s), expected at least "
                f"{min_fields} ({expected}) separated by ';' or ','",
                path,
                lineno,
            )
        rows.append(TextRow(lineno, tuple(fields)))
    return rows, delimiter


def strip_quotes(text: str, path=None, line: int | None = None, field: str = "text") -> str:
    """Remove one pair of matching quotes (``'`` or ``"``) around a field.

    Args:
        text: the field (already stripped of whitespace).
        path: the file, for the error message.
        line: the line, for the error message.
        field: the field's name, for the error message.

    Returns:
        The field without its quotes; an unquoted field is returned unchanged.

    Raises:
        DataError: the field opens a quote it does not close (``'Hallo``), or ends with
            an unmatched double quote (``Hallo"``). A trailing single quote alone is
            accepted, because apostrophes end words (``geht'``).

    Example:
        >>> strip_quotes("'Hallo Welt'")
        'Hallo Welt'
    """
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] == text[0]:
        return text[1:-1]
    if text[:1] in _QUOTES:
        raise DataError(
            f"unbalanced quotes in {field} {text!r}: expected the {field} enclosed in "
            f"matching quotes ({text[0]}...{text[0]}) or unquoted",
            path,
            line,
        )
    if len(text) >= 2 and text[-1] == '"' and text.count('"') % 2 == 1:
        raise DataError(
            f"unbalanced quotes in {field} {text!r}: a closing quote without an opening one; "
            f"expected the {field} enclosed in matching quotes or unquoted",
            path,
            line,
        )
    return text


def parse_number(text: str, path=None, line: int | None = None, field: str = "value") -> float:
    """Parse one finite number from a field (quotes allowed).

    Args:
        text: the field.
        path: the file, for the error message.
        line: the line, for the error message.
        field: the column's name, for the error message.

    Returns:
        The value as a float.

    Raises:
        DataError: the field is not a number, or is NaN or infinite.

    Example:
        >>> parse_number("0.25")
        0.25
    """
    raw = text.strip()
    if len(raw) >= 2 and raw[0] in _QUOTES and raw[-1] == raw[0]:
        raw = raw[1:-1].strip()
    try:
        value = float(raw)
    except ValueError:
        raise DataError(f"non-numeric {field} {text!r}: expected a number", path, line) from None
    if not math.isfinite(value):
        raise DataError(f"{field} is {text!r}: expected a finite number", path, line)
    return value


def is_number(text: str) -> bool:
    """Whether a field is a number (used to tell a header row from a data row).

    Args:
        text: the field (quotes allowed).

    Returns:
        True when it parses as a float.

    Example:
        >>> is_number("'0.5'"), is_number("time")
        (True, False)
    """
    raw = text.strip().strip("'\"").strip()
    try:
        float(raw)
    except ValueError:
        return False
    return True
