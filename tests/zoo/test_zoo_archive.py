"""safe_extract refuses members that could escape the destination; make_archive is reproducible."""

from __future__ import annotations

import hashlib
import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from semser_tf.zoo import UnsafeArchiveError, make_archive, safe_extract
from tests.zoo.zoo_helpers import files_under


def _zip(path: Path, members) -> Path:
    """members: (name, content) for files, (name, target, 'symlink') for links."""
    with zipfile.ZipFile(path, "w") as zf:
        for member in members:
            if len(member) == 3:
                info = zipfile.ZipInfo(member[0])
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, member[1])
            else:
                zf.writestr(member[0], member[1])
    return path


def _tar(path: Path, members) -> Path:
    """members: TarInfo-producing tuples (name, kind, payload)."""
    with tarfile.open(path, "w:gz") as tf:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload))
                continue
            if kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, payload
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, payload
            elif kind == "chr":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            tf.addfile(info)
    return path


def _assert_refused(archive, dest, member, outside):
    with pytest.raises(UnsafeArchiveError) as err:
        safe_extract(archive, dest)
    assert f"'{member}'" in str(err.value), str(err.value)
    assert str(archive) in str(err.value)
    assert not dest.exists()
    assert [
        p.name for p in dest.parent.iterdir() if p.name.startswith(".")
    ] == []  # no temp folder left
    assert not outside.exists()


ZIP_ATTACKS = [
    ("dotdot", [("ok.json", b"{}"), ("../evil.json", b"x")], "../evil.json", ".."),
    ("nested-dotdot", [("a/../../evil.json", b"x")], "a/../../evil.json", ".."),
    ("absolute", [("/tmp/semser_evil_abs.json", b"x")], "/tmp/semser_evil_abs.json", "absolute"),
    ("backslash-dotdot", [("..\\evil.json", b"x")], "..\\evil.json", ".."),
    ("symlink-out", [("link", "../outside", "symlink")], "link", "outside"),
    ("symlink-abs", [("link", "/etc", "symlink")], "link", "absolute"),
]


@pytest.mark.parametrize("case,members,bad,word", ZIP_ATTACKS, ids=[c[0] for c in ZIP_ATTACKS])
def test_zip_attacks_are_refused(tmp_path, case, members, bad, word):
    work = tmp_path / "work"
    work.mkdir()
    archive = _zip(tmp_path / "bundle.zip", members)
    _assert_refused(archive, work / "dest", bad, tmp_path / "evil.json")
    assert word in str(
        pytest.raises(UnsafeArchiveError, safe_extract, archive, work / "dest").value
    )


TAR_ATTACKS = [
    ("dotdot", [("ok.json", "file", b"{}"), ("../evil.json", "file", b"x")], "../evil.json"),
    ("absolute", [("/tmp/semser_evil_abs.json", "file", b"x")], "/tmp/semser_evil_abs.json"),
    ("symlink-out", [("link", "symlink", "../../outside")], "link"),
    ("symlink-abs", [("link", "symlink", "/etc/passwd")], "link"),
    ("hardlink-out", [("hl", "hardlink", "../evil.json")], "hl"),
    ("hardlink-abs", [("hl", "hardlink", "/etc/passwd")], "hl"),
    ("device", [("null", "chr", None)], "null"),
    ("fifo", [("pipe", "fifo", None)], "pipe"),
    # each link looks inside on its own; together l1 resolves to the destination's parent
    ("link-chain", [("l1", "symlink", "l2/.."), ("l2", "symlink", ".")], "l1"),
    # a file written through a link member
    (
        "through-link",
        [("d", "symlink", "sub"), ("sub", "dir", None), ("d/x.json", "file", b"{}")],
        "d/x.json",
    ),
]


@pytest.mark.parametrize("case,members,bad", TAR_ATTACKS, ids=[c[0] for c in TAR_ATTACKS])
def test_tar_attacks_are_refused(tmp_path, case, members, bad):
    work = tmp_path / "work"
    work.mkdir()
    archive = _tar(tmp_path / "bundle.tar.gz", members)
    _assert_refused(archive, work / "dest", bad, tmp_path / "evil.json")


def test_safe_members_are_extracted_with_inside_links(tmp_path):
    payload = b'{"a": 1}'
    archive = _tar(
        tmp_path / "ok.tar.gz",
        [
            ("m/config.json", "file", payload),
            ("m/emb", "dir", None),
            ("m/emb/v.npz", "file", b"\x00" * 10),
            ("m/alias.json", "symlink", "config.json"),
            ("m/emb/up.json", "symlink", "../config.json"),
            ("m/copy.json", "hardlink", "m/config.json"),
        ],
    )
    dest = safe_extract(archive, tmp_path / "out")
    assert files_under(dest) == [
        "m/alias.json",
        "m/config.json",
        "m/copy.json",
        "m/emb/up.json",
        "m/emb/v.npz",
    ]
    for name in ("m/alias.json", "m/config.json", "m/copy.json", "m/emb/up.json"):
        assert (dest / name).read_bytes() == payload
    assert (dest / "m/alias.json").is_symlink()

    zarchive = _zip(
        tmp_path / "ok.zip",
        [("m/config.json", payload), ("m/alias.json", "config.json", "symlink")],
    )
    zdest = safe_extract(zarchive, tmp_path / "zout")
    assert (zdest / "m/alias.json").is_symlink() and (
        zdest / "m/alias.json"
    ).read_bytes() == payload


def test_existing_destination_needs_overwrite(tmp_path):
    archive = _zip(tmp_path / "b.zip", [("x.json", b"{}")])
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "old.json").write_text("{}")
    with pytest.raises(FileExistsError):
        safe_extract(archive, dest)
    assert files_under(dest) == ["old.json"]
    safe_extract(archive, dest, overwrite=True)
    assert files_under(dest) == ["x.json"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_make_archive_is_reproducible_and_round_trips(tmp_path):
    src = tmp_path / "entry"
    (src / "embeddings").mkdir(parents=True)
    (src / "entry.json").write_text('{"name": "x"}')
    (src / "embeddings" / "a.npz").write_bytes(bytes(range(256)))
    for suffix in ("zip", "tar.gz"):
        first = make_archive(src, tmp_path / f"one.{suffix}")
        second = make_archive(src, tmp_path / f"two.{suffix}")
        digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
        assert digest(first) == digest(second)
        out = safe_extract(first, tmp_path / f"x_{suffix.replace('.', '_')}")
        assert files_under(out) == ["entry/embeddings/a.npz", "entry/entry.json"]
        assert (out / "entry/embeddings/a.npz").read_bytes() == bytes(range(256))
    with pytest.raises(ValueError, match=".zip or .tar.gz"):
        make_archive(src, tmp_path / "x.rar")
