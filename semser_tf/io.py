"""Atomic file writes: everything is written to a temporary name in the destination's
folder and renamed into place, so a reader (or a crash) never sees a half-written file.

One place for the package: corpora, caches, run folders, zoo entries and embeddings all
write through these helpers.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import uuid
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside ``path`` that becomes ``path`` when the block succeeds.

    The temporary name ends with the destination's name (``.<token>.<name>``), so writers
    that check extensions (``.keras``, ``.weights.h5``) accept it. On an exception the
    temporary file is removed and the destination is left as it was.

    Example:

    >>> with atomic_path("/tmp/out.txt") as tmp:  # doctest: +SKIP
    ...     tmp.write_text("done")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{uuid.uuid4().hex[:12]}.{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def replace_dir(tmp, dest) -> Path:
    """Move the finished folder ``tmp`` to ``dest``, replacing an existing ``dest``.

    The old folder is renamed aside first and restored if the final rename fails, then
    removed; ``tmp`` should sit in ``dest``'s parent so that the renames are atomic.
    """
    tmp, dest = Path(tmp), Path(dest)
    if not dest.exists():
        os.rename(tmp, dest)
        return dest
    old = dest.with_name(f".{uuid.uuid4().hex[:12]}.{dest.name}.old")
    os.rename(dest, old)
    try:
        os.rename(tmp, dest)
    except BaseException:
        os.rename(old, dest)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return dest


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (fsynced before the rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (no newline translation)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj) -> Path:
    """Write ``obj`` as indented, key-sorted JSON (NumPy scalars and arrays allowed)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def atomic_write_csv(path, rows: list[dict], fieldnames=None) -> Path:
    """Write ``rows`` (dicts) as CSV with a header row."""
    fieldnames = fieldnames or (list(rows[0]) if rows else [])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buf.getvalue())


def atomic_save_model(model, path) -> Path:
    """``model.save`` (a ``.keras`` archive) atomically."""
    with atomic_path(path) as tmp:
        model.save(tmp)
    return Path(path)


def _jsonable(value):
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
