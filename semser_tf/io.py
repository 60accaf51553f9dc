"""Atomic file writes, and the rule of what a command may replace.

Everything is written to a temporary name in the destination's folder and renamed into
place, so a reader (or a crash) never sees a half-written file. One place for the
package: corpora, caches, run folders, zoo entries and embeddings all write through these
helpers.

The replacement rule (:func:`check_replaceable`, :func:`check_outputs`): a command
replaces a folder only when the folder carries the package's own marker file
(:data:`OWNER_MARKER`, written by :func:`mark_owned` into every folder a command creates
for its output), never a folder that holds or lies above one of the command's inputs, and
never writes an output file onto one of its inputs.
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

from semser_tf.errors import ConfigError

OWNER_MARKER = ".semser-owner.json"
"""The marker file a command writes into each folder it creates: ``{"kind": ..., "created": ...}``."""

_KIND_MARKERS = {
    "run": ("run.json", "kind", "semser-run"),
    "corpus": ("corpus.json", "generator", "semser_tf.data.synthetic"),
}
"""Older markers that also prove ownership: a training run's ``run.json`` (kind
``semser-run``), a generated corpus's ``corpus.json`` (generator ``semser_tf.data.synthetic``)."""


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
    return atomic_write_text(
        path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n"
    )


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


def mark_owned(folder, kind: str) -> Path:
    """Write the package's marker into ``folder`` (created by a command for its output).

    Args:
        folder: the folder the command created.
        kind: what it holds (``run``, ``zoo-entry``, ``ablation``, ...).

    Returns:
        The marker's path.
    """
    import time

    return atomic_write_json(Path(folder) / OWNER_MARKER, {"kind": kind, "created": time.time()})


def owned_kind(folder) -> str | None:
    """The kind recorded by :func:`mark_owned` in ``folder`` (``None``: not the package's)."""
    folder = Path(folder)
    try:
        data = json.loads((folder / OWNER_MARKER).read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("kind"), str):
            return data["kind"]
    except (OSError, ValueError):
        pass
    for kind, (name, key, value) in _KIND_MARKERS.items():
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get(key) == value:
            return kind
    return None


def _resolved(path) -> Path:
    return Path(os.path.abspath(Path(path).expanduser()))


def _within(inner: Path, outer: Path) -> bool:
    """True when ``inner`` is ``outer`` or lies under it (real paths, links resolved)."""
    inner, outer = Path(os.path.realpath(inner)), Path(os.path.realpath(outer))
    return inner == outer or outer in inner.parents


def check_replaceable(path, kind: str, *, inputs=(), option: str = "--overwrite") -> None:
    """May a command replace the folder ``path``? Raise :class:`ConfigError` if not.

    A folder may be replaced when it does not exist, or is empty, or carries the marker
    of ``kind`` (:func:`mark_owned`), and it neither is nor holds one of ``inputs``
    (the command's input files and folders). A file in the place of the folder is refused.

    Args:
        path: the output folder.
        kind: the kind of folder the command writes (``run``, ``zoo-entry``, ...).
        inputs: paths the command reads (``None`` items are skipped).
        option: the option named in the message.

    Raises:
        ConfigError: naming ``path`` and the reason.

    Example:
        >>> check_replaceable("/nonexistent/out", "run")
    """
    path = _resolved(path)
    for item in inputs:
        if item is None:
            continue
        if _within(item, path):
            raise ConfigError(
                f"{path}: refusing to replace it: it holds {item}, an input of this command; "
                "choose an output folder that does not contain the inputs"
            )
    if not path.exists():
        return
    if not path.is_dir():
        raise ConfigError(f"{path}: is a file; expected a folder for the output (or a new path)")
    if not any(path.iterdir()):
        return
    found = owned_kind(path)
    if found != kind:
        what = (
            "a folder this package did not create"
            if found is None
            else f"a {found} folder, not a {kind}"
        )
        raise ConfigError(
            f"{path}: refusing to replace {what} (no {OWNER_MARKER} of kind {kind!r}) with {option}; "
            "choose a new output folder or remove it yourself"
        )


def check_outputs(outputs: dict, inputs: dict) -> None:
    """Refuse an output file that is one of the inputs, or two outputs that are one file.

    Args:
        outputs: ``{option: path}`` of the files a command will write (``None`` skipped).
        inputs: ``{option: path}`` of the files and folders it reads (``None`` skipped).

    Raises:
        ConfigError: naming both options and the path.

    Example:
        >>> check_outputs({"--csv": "talk.wav"}, {"AUDIO": "talk.wav"})
        Traceback (most recent call last):
        ...
        semser_tf.errors.ConfigError: --csv talk.wav is the input AUDIO: refusing to overwrite an input; choose another output path
    """
    outs = [(k, v) for k, v in outputs.items() if v is not None]
    ins = [(k, v) for k, v in inputs.items() if v is not None]
    for i, (name, out) in enumerate(outs):
        for in_name, src in ins:
            if os.path.realpath(out) == os.path.realpath(src) or _same_file(out, src):
                raise ConfigError(
                    f"{name} {out} is the input {in_name}: refusing to overwrite an input; choose another output path"
                )
        if Path(out).is_dir():
            raise ConfigError(f"{name} {out}: is a folder; expected a file path")
        for other_name, other in outs[i + 1 :]:
            if _resolved(out) == _resolved(other):
                raise ConfigError(
                    f"{name} and {other_name} are the same file {out}; choose two paths"
                )


def _same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


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
