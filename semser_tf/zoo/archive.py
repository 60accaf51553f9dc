"""Zoo bundles as ``.zip`` / ``.tar.gz`` archives: deterministic packing and safe extraction.

:func:`safe_extract` refuses, before writing anything, any member whose name is absolute
or contains ``..``, any symbolic or hard link that points outside the destination, and any
device file, FIFO or other special member. Members are extracted into a temporary folder
beside the destination, links last, every link is checked again on disk, and the folder
is renamed to the destination only when everything succeeded. The sizes the members
declare, and the bytes actually written, are capped in total and per member
(:data:`DEFAULT_MAX_TOTAL`, or the entry's expected size), so a small archive cannot fill
the disk.
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from semser_tf.errors import SemserError
from semser_tf.io import OWNER_MARKER, check_replaceable, mark_owned, replace_dir

_CHUNK = 1 << 20
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)

DEFAULT_MAX_TOTAL = 1 << 30
"""Bytes :func:`safe_extract` writes at most by default (1 GiB, all members together)."""


class UnsafeArchiveError(SemserError, ValueError):
    """An archive member could escape the destination folder or is not a plain file/folder."""


class OutputExistsError(SemserError, FileExistsError):
    """The destination folder exists and replacing it was not asked for (``overwrite=False``)."""


@dataclass
class _Member:
    name: str  # normalised relative POSIX path
    kind: str  # "file", "dir", "symlink", "hardlink"
    target: str | None = None  # link target (symlink: as stored; hardlink: normalised member path)
    source: object = None  # ZipInfo or TarInfo
    mode: int = 0o644


def _normalise(archive: Path, raw: str) -> str:
    name = raw.replace("\\", "/")
    if not name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(
            f"{archive}: member '{raw}' has an absolute path; refusing to extract"
        )
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeArchiveError(f"{archive}: member '{raw}' contains '..'; refusing to extract")
    if not parts:
        return ""
    return "/".join(parts)


def _check_link(archive: Path, member: _Member) -> None:
    target = member.target or ""
    if member.kind == "symlink":
        if (
            target.startswith("/")
            or target.replace("\\", "/").startswith("/")
            or (len(target) > 1 and target[1] == ":")
        ):
            raise UnsafeArchiveError(
                f"{archive}: member '{member.name}' is a symlink to the absolute path '{target}'; refusing to extract"
            )
        resolved = posixpath.normpath(
            posixpath.join(posixpath.dirname(member.name), target.replace("\\", "/"))
        )
    else:
        resolved = posixpath.normpath(target.replace("\\", "/"))
        if target.startswith("/"):
            raise UnsafeArchiveError(
                f"{archive}: member '{member.name}' is a hard link to the absolute path '{target}'; refusing to extract"
            )
    if resolved == ".." or resolved.startswith("../") or resolved.startswith("/"):
        raise UnsafeArchiveError(
            f"{archive}: member '{member.name}' is a link to '{target}', outside the destination; refusing to extract"
        )
    if member.kind == "hardlink":
        member.target = resolved


def _zip_members(archive: Path, zf: zipfile.ZipFile) -> list[_Member]:
    members = []
    for info in zf.infolist():
        name = _normalise(archive, info.filename)
        mode = (info.external_attr >> 16) & 0xFFFF
        ftype = stat.S_IFMT(mode)
        if info.is_dir():
            kind = "dir"
        elif ftype == stat.S_IFLNK:
            kind = "symlink"
        elif ftype in (0, stat.S_IFREG):
            kind = "file"
        else:
            raise UnsafeArchiveError(
                f"{archive}: member '{info.filename}' is a device file or other special file; refusing to extract"
            )
        member = _Member(name=name, kind=kind, source=info, mode=stat.S_IMODE(mode) or 0o644)
        if kind == "symlink":
            member.target = zf.read(info).decode("utf-8", errors="replace")
            _check_link(archive, member)
        members.append(member)
    return members


def _tar_members(archive: Path, tf: tarfile.TarFile) -> list[_Member]:
    members = []
    for info in tf.getmembers():
        name = _normalise(archive, info.name)
        if info.isdir():
            kind = "dir"
        elif info.isreg():
            kind = "file"
        elif info.issym():
            kind = "symlink"
        elif info.islnk():
            kind = "hardlink"
        else:
            raise UnsafeArchiveError(
                f"{archive}: member '{info.name}' is a device file, FIFO or other special file; refusing to extract"
            )
        member = _Member(name=name, kind=kind, source=info, mode=info.mode & 0o777 or 0o644)
        if kind in ("symlink", "hardlink"):
            member.target = info.linkname
            _check_link(archive, member)
        members.append(member)
    return members


def _inside(root: Path, path: Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
        return True
    except ValueError:
        return False


def _declared_size(member: _Member) -> int:
    return int(getattr(member.source, "file_size", None) or getattr(member.source, "size", 0) or 0)


def _check_sizes(
    archive: Path,
    members: list[_Member],
    max_total: int | None,
    max_member: int | None,
    expected: dict | None = None,
) -> None:
    total = 0
    for member in members:
        if expected is not None and member.kind in ("symlink", "hardlink"):
            raise UnsafeArchiveError(
                f"{archive}: member '{member.name}' is a link; a zoo entry archive holds only its listed files"
            )
        if member.kind != "file":
            continue
        size = _declared_size(member)
        if expected is not None:
            if member.name not in expected:
                raise UnsafeArchiveError(
                    f"{archive}: member '{member.name}' is not a file of the entry's entry.json "
                    f"(expected only: {', '.join(sorted(expected))}); refusing to extract"
                )
            if size != expected[member.name]:
                raise UnsafeArchiveError(
                    f"{archive}: member '{member.name}' declares {size} bytes but the entry lists "
                    f"{expected[member.name]}; refusing to extract"
                )
        if max_member is not None and size > max_member:
            raise UnsafeArchiveError(
                f"{archive}: member '{member.name}' declares {size} bytes, more than the {max_member} allowed "
                "per member; refusing to extract"
            )
        total += size
        if max_total is not None and total > max_total:
            raise UnsafeArchiveError(
                f"{archive}: its members declare more than the {max_total} bytes allowed in all; refusing to extract"
            )


def _copy_capped(
    archive: Path, member: _Member, src, dst, budget: list, max_member: int | None
) -> None:
    """Copy at most the member's declared size (and what is left of the total budget)."""
    declared = _declared_size(member)  # checked against the entry's size when one is given
    written = 0
    while True:
        chunk = src.read(_CHUNK)
        if not chunk:
            break
        written += len(chunk)
        if (
            written > declared
            or (max_member is not None and written > max_member)
            or (budget[0] is not None and written > budget[0])
        ):
            raise UnsafeArchiveError(
                f"{archive}: member '{member.name}' holds more bytes than it declares ({declared}) or than "
                "the size cap allows; refusing to extract"
            )
        dst.write(chunk)
    if budget[0] is not None:
        budget[0] -= written


def _extract_into(
    archive: Path,
    members: list[_Member],
    opener,
    root: Path,
    max_total: int | None = None,
    max_member: int | None = None,
    expected: dict | None = None,
) -> None:
    _check_sizes(archive, members, max_total, max_member, expected)
    budget = [max_total]
    seen: set[str] = set()
    for member in members:
        if member.kind != "dir" and not member.name:
            raise UnsafeArchiveError(
                f"{archive}: a {member.kind} member has an empty name; refusing to extract"
            )
        if member.kind != "dir" and member.name in seen:
            raise UnsafeArchiveError(
                f"{archive}: member '{member.name}' appears twice; refusing to extract"
            )
        seen.add(member.name)
    links = {m.name for m in members if m.kind in ("symlink", "hardlink")}
    files = {m.name for m in members if m.kind == "file"}
    for member in members:
        parts = member.name.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in links or prefix in files:
                raise UnsafeArchiveError(
                    f"{archive}: member '{member.name}' lies under the link or file '{prefix}'; refusing to extract"
                )
    # plain folders and files first, links last, so nothing is ever written through a link
    for member in members:
        if not member.name:
            continue
        path = root / member.name
        if member.kind == "dir":
            path.mkdir(parents=True, exist_ok=True)
        elif member.kind == "file":
            path.parent.mkdir(parents=True, exist_ok=True)
            if not _inside(root, path.parent):
                raise UnsafeArchiveError(
                    f"{archive}: member '{member.name}' would be written outside the destination"
                )
            with opener(member) as src, open(path, "xb") as dst:
                _copy_capped(archive, member, src, dst, budget, max_member)
            os.chmod(path, (member.mode & 0o755) | 0o600)
    for member in members:
        path = root / member.name
        if member.kind not in ("symlink", "hardlink"):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if member.kind == "symlink":
            os.symlink(member.target, path)
            if not _inside(root, path):
                raise UnsafeArchiveError(
                    f"{archive}: member '{member.name}' is a link to '{member.target}', which resolves "
                    "outside the destination; refusing to extract"
                )
        else:
            source = root / member.target
            if not source.is_file() or source.is_symlink() or not _inside(root, source):
                raise UnsafeArchiveError(
                    f"{archive}: member '{member.name}' is a hard link to '{member.target}', which is not a "
                    "regular file of the archive; refusing to extract"
                )
            size = source.stat().st_size
            if budget[0] is not None:
                if size > budget[0]:
                    raise UnsafeArchiveError(
                        f"{archive}: hard link '{member.name}' would exceed the size cap; refusing to extract"
                    )
                budget[0] -= size
            shutil.copyfile(source, path)
    # a link may only point outside once a later link exists: check them all again
    for member in members:
        if member.kind == "symlink" and not _inside(root, root / member.name):
            raise UnsafeArchiveError(
                f"{archive}: member '{member.name}' is a link to '{member.target}', which resolves "
                "outside the destination; refusing to extract"
            )


def _open_members(archive: Path):
    """``(handle, members, opener)`` of a zip or tar archive: ``opener(member)`` is a binary stream."""
    if zipfile.is_zipfile(archive):
        handle = zipfile.ZipFile(archive)
        members = _zip_members(archive, handle)
        return handle, members, lambda m: handle.open(m.source)
    try:
        handle = tarfile.open(archive, "r:*")
    except tarfile.TarError as err:
        raise UnsafeArchiveError(f"{archive}: not a zip or tar archive ({err})") from None
    members = _tar_members(archive, handle)

    def opener(m):
        stream = handle.extractfile(m.source)
        return stream if stream is not None else io.BytesIO(b"")

    return handle, members, opener


def safe_extract(
    archive: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    overwrite: bool = False,
    max_total: int | None = DEFAULT_MAX_TOTAL,
    max_member: int | None = None,
    expected_sizes: dict | None = None,
) -> Path:
    """Extract a ``.zip`` or ``.tar[.gz|.bz2|.xz]`` archive safely into ``dest``.

    Args:
        archive: the archive file (the format is detected from its content).
        dest: destination folder; must not exist, or be empty, unless ``overwrite``.
        overwrite: replace an existing non-empty ``dest``.
        max_total: bytes the members may hold in all (default 1 GiB; for a zoo entry pass
            its expected size, ``entry.total_size`` plus the size of ``entry.json``);
            ``None``: no cap.
        max_member: bytes one member may hold (default: ``max_total``).
        expected_sizes: ``{member name: bytes}``: the only files the archive may hold, each
            of exactly that size, and no links (how :func:`extract_entry_archive` applies a
            zoo entry's sizes).

    Returns:
        ``dest`` as a :class:`~pathlib.Path`.

    Raises:
        UnsafeArchiveError: a member with ``..`` or an absolute path, a link pointing outside
            ``dest``, a device file/FIFO, or a member under a link (the member is named).
            Members declaring, or holding, more bytes than the caps allow. Nothing is
            written to ``dest`` then.
        OutputExistsError: ``dest`` exists and is not empty and ``overwrite`` is False (a
            ``FileExistsError``).

    Example:
        >>> safe_extract("my-model-1.0.0.zip", "zoo_local/my-model")  # doctest: +SKIP
        PosixPath('zoo_local/my-model')
    """
    archive = Path(archive)
    dest = Path(dest)
    if not archive.is_file():
        raise FileNotFoundError(f"{archive}: archive not found")
    if dest.exists() and not overwrite and (not dest.is_dir() or any(dest.iterdir())):
        raise OutputExistsError(
            f"{dest}: exists and is not empty; pass overwrite=True to replace it"
        )
    handle, members, opener = _open_members(archive)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".extract"))
    try:
        with handle:
            _extract_into(
                archive,
                members,
                opener,
                tmp,
                max_total,
                max_total if max_member is None else max_member,
                expected_sizes,
            )
        os.chmod(tmp, 0o755)
        replace_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


MAX_ENTRY_JSON = 1 << 20
"""Bytes an archive's ``entry.json`` may hold (it is read before anything is extracted)."""


def extract_entry_archive(
    archive: str | os.PathLike, dest: str | os.PathLike, *, overwrite: bool = False
) -> Path:
    """Unpack a zoo entry archive (as ``publish_run(..., archive="zip")`` writes it) into ``dest``.

    The archive's ``entry.json`` (one, at its top or in one top folder, at most
    :data:`MAX_ENTRY_JSON` bytes) is read and validated first; it then sets the caps: the
    archive may hold only the files the entry lists, each of exactly the listed size (no
    links), so the total written is the entry's size. Every extracted file is checked
    against its SHA-256 before the folder is renamed into place; nothing is left behind
    on any error.

    Args:
        archive: the ``.zip`` / ``.tar.gz`` file.
        dest: the entry folder to create (must not exist or be empty, unless ``overwrite``).
        overwrite: replace an existing ``dest`` that holds a zoo entry the package wrote
            (never another folder, nor one holding ``archive``).

    Returns:
        ``dest`` (holding ``entry.json`` and the entry's files).

    Raises:
        UnsafeArchiveError: no or several ``entry.json``, an unlisted member, a size other
            than the entry's, a link, a file whose SHA-256 differs, or any unsafe member.
        ConfigError: the ``entry.json`` is not a valid entry (field named).

    Example:
        >>> extract_entry_archive("my-model.zip", "zoo_local/my-model")  # doctest: +SKIP
    """
    import json

    from semser_tf.errors import ConfigError
    from semser_tf.zoo.cache import ChecksumError, verify_file
    from semser_tf.zoo.registry import ModelEntry

    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise FileNotFoundError(f"{archive}: archive not found")
    handle, members, opener = _open_members(archive)
    with handle:
        entries = [
            m
            for m in members
            if m.kind == "file"
            and posixpath.basename(m.name) == "entry.json"
            and m.name.count("/") <= 1
        ]
        if len(entries) != 1:
            raise UnsafeArchiveError(
                f"{archive}: expected one entry.json at the top of the archive or in its one top folder, "
                f"found {len(entries)}; is it a zoo entry archive (semser publish --archive)?"
            )
        member = entries[0]
        if _declared_size(member) > MAX_ENTRY_JSON:
            raise UnsafeArchiveError(
                f"{archive}: '{member.name}' declares {_declared_size(member)} bytes, more than the "
                f"{MAX_ENTRY_JSON} an entry.json may hold; refusing to extract"
            )
        with opener(member) as src:
            raw = src.read(MAX_ENTRY_JSON + 1)
    source = f"{archive}:{member.name}"
    if len(raw) > MAX_ENTRY_JSON:
        raise UnsafeArchiveError(f"{source}: more than {MAX_ENTRY_JSON} bytes; refusing to extract")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(
            f"{source}: not a UTF-8 JSON entry ({type(err).__name__}: {err})"
        ) from None
    entry = ModelEntry.from_dict(data, source=source)
    top = posixpath.dirname(member.name)
    prefix = f"{top}/" if top else ""
    expected = {member.name: len(raw)}
    marker = next(
        (m for m in members if m.kind == "file" and m.name == prefix + OWNER_MARKER), None
    )
    if (
        marker is not None and _declared_size(marker) <= 4096
    ):  # publish's own marker, rewritten below
        expected[marker.name] = _declared_size(marker)
    for spec in entry.files:
        name = _normalise(archive, prefix + spec.filename)
        expected[name] = spec.size
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".unpack"))
    try:
        out = safe_extract(
            archive, staging / "x", max_total=sum(expected.values()), expected_sizes=expected
        )
        root = out / top if top else out
        missing = [spec.filename for spec in entry.files if not (root / spec.filename).is_file()]
        if missing:
            raise UnsafeArchiveError(
                f"{archive}: the entry lists files the archive lacks: {', '.join(missing)}"
            )
        for spec in entry.files:
            try:
                verify_file(root / spec.filename, spec.sha256, spec.size, remove=False)
            except ChecksumError as err:
                raise UnsafeArchiveError(
                    f"{archive}: member '{prefix}{spec.filename}': {err}"
                ) from None
        if dest.exists() and not overwrite and (not dest.is_dir() or any(dest.iterdir())):
            raise OutputExistsError(
                f"{dest}: exists and is not empty; pass overwrite=True to replace it"
            )
        check_replaceable(dest, "zoo-entry", inputs=[archive], option="overwrite=True")
        mark_owned(root, "zoo-entry")
        replace_dir(root, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def make_archive(
    src_dir: str | os.PathLike, out_file: str | os.PathLike, *, arcname: str | None = None
) -> Path:
    """Pack a folder into a reproducible ``.zip`` or ``.tar.gz`` (sorted members, fixed dates).

    Args:
        src_dir: folder to pack (regular files only; links are refused).
        out_file: archive to write, ending in ``.zip`` or ``.tar.gz``; written to a
            temporary name then renamed.
        arcname: top-level folder name inside the archive (default: ``src_dir``'s name).

    Returns:
        ``out_file`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: an unsupported ending or a symbolic link inside ``src_dir``.

    Example:
        >>> make_archive("zoo_out/my-model", "dist/my-model-1.0.0.zip")  # doctest: +SKIP
    """
    src_dir = Path(src_dir)
    out_file = Path(out_file)
    top = arcname if arcname is not None else src_dir.name
    name = out_file.name.lower()
    if not (name.endswith(".zip") or name.endswith(".tar.gz") or name.endswith(".tgz")):
        raise ValueError(f"{out_file}: expected a name ending in .zip or .tar.gz")
    files = []
    for path in sorted(src_dir.rglob("*")):
        if path.is_symlink():
            raise ValueError(f"{path}: symbolic links are not packed into zoo archives")
        if path.is_file():
            files.append(path)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out_file.parent, prefix=f".{out_file.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(tmp_name, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for path in files:
                    info = zipfile.ZipInfo(
                        f"{top}/{path.relative_to(src_dir).as_posix()}", _FIXED_DATE
                    )
                    info.external_attr = (stat.S_IFREG | 0o644) << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    with open(path, "rb") as src, zf.open(info, "w") as dst:
                        shutil.copyfileobj(src, dst, _CHUNK)
        else:
            import gzip

            with (
                open(tmp_name, "wb") as raw,
                gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz,
            ):
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf:
                    for path in files:
                        info = tarfile.TarInfo(f"{top}/{path.relative_to(src_dir).as_posix()}")
                        info.size = path.stat().st_size
                        info.mode = 0o644
                        info.mtime = 0
                        with open(path, "rb") as src:
                            tf.addfile(info, src)
        os.replace(tmp_name, out_file)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return out_file
