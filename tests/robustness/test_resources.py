"""Bounds on what a damaged or hostile input can cost: issue 15, "Resources"."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import tarfile
import threading
import time
import zipfile

import numpy as np
import pytest

from semser_tf.errors import ConfigError, DataError
from tests.robustness.conftest import float_wav, snapshot

# --------------------------------------------------------------------------- WAV headers


@pytest.mark.parametrize(
    "rate", [4_000_000_000, 1, 999, 384_001], ids=["4GHz", "1Hz", "999Hz", "384001Hz"]
)
def test_wav_header_rate_outside_the_accepted_range(tmp_path, cli, rate):
    from semser_tf.data.audio import load_audio

    wav = float_wav(tmp_path / "odd.wav", np.zeros(4000, np.float32), declared_rate=rate)
    with pytest.raises(DataError) as err:
        load_audio(wav)
    assert str(wav) in str(err.value) and f"sample rate {rate} Hz" in str(err.value)
    assert "1000 to 384000 Hz" in str(err.value)
    before = snapshot(tmp_path)
    t0 = time.monotonic()
    code, msg = cli("predict", wav, "--offline", "--no-plot")  # the streaming path checks it too
    assert code == 2 and f"sample rate {rate} Hz" in msg and time.monotonic() - t0 < 30
    assert snapshot(tmp_path) == before


def test_wav_data_chunk_longer_than_the_file(tmp_path):
    from semser_tf.data.audio import wav_info

    wav = float_wav(tmp_path / "cut.wav", np.zeros(100, np.float32), data_size=10_000_000)
    with pytest.raises(
        DataError,
        match=r"cut.wav: truncated WAV: header announces 10000000 data bytes, the file holds 400",
    ):
        wav_info(wav)


def test_resampling_filter_size_is_checked_before_it_is_built(monkeypatch):
    from semser_tf.data import audio

    def built(*args):
        raise AssertionError("the prototype filter was allocated")

    monkeypatch.setattr(audio, "_prototype_filter", built)
    audio._polyphase_kernel.cache_clear()
    up, down = audio._factors(383_999, 22050)
    with pytest.raises(ConfigError, match=f"resampling by {up}/{down} needs"):
        audio._polyphase_kernel(up, down, 10, 5.0)


# --------------------------------------------------------------------------- downloads


class Trickle:
    """An HTTP server on 127.0.0.1 that announces 1000 bytes and sends one every 0.2 s."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/model.keras"

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn):
        try:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n")
            for _ in range(1000):
                if self.stop.is_set():
                    break
                conn.sendall(b"x")
                time.sleep(0.2)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()


@pytest.fixture
def trickle():
    server = Trickle()
    yield server
    server.close()


def test_download_has_an_overall_deadline(tmp_path, trickle):
    from semser_tf.zoo.download import DownloadError, download_file

    dest = tmp_path / "dl" / "model.keras"
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="deadline"):
        download_file(trickle.url, dest, timeout=5, deadline=1.0, progress=False)
    assert time.monotonic() - t0 < 4  # the deadline plus at most one silent period
    assert list((tmp_path / "dl").iterdir()) == []  # no partial file


def test_load_pretrained_timeout_bounds_the_downloads(tmp_path, trickle, monkeypatch):
    from semser_tf.zoo import registry as registry_module
    from semser_tf.zoo.download import DownloadError
    from semser_tf.zoo.pretrained import load_pretrained
    from tests.zoo.zoo_helpers import write_entry

    registry = tmp_path / "registry"
    write_entry(
        registry,
        "slow",
        {"model.keras": b"x" * 1000, "config.json": b"{}"},
        url_for=lambda name: trickle.url,
        bundle=False,
    )
    monkeypatch.setenv("SEMSER_ZOO_PATH", str(registry))
    monkeypatch.setenv("SEMSER_TF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(registry_module, "_user_paths", [])
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="deadline"):
        load_pretrained("slow", timeout=1.0, progress=False)
    assert time.monotonic() - t0 < 4
    cache = tmp_path / "cache"
    assert not cache.exists() or not [p for p in cache.rglob("*") if p.is_file()]
    with pytest.raises(ConfigError, match="timeout=-1: expected a positive number"):
        load_pretrained("slow", timeout=-1)


def test_cli_timeout_option_is_checked(tmp_path, cli):
    wav = float_wav(tmp_path / "a.wav", np.zeros(22050, np.float32))
    code, err = cli("predict", wav, "--timeout", "0", "--no-plot")
    assert code == 2 and "timeout=0.0: expected a positive number of seconds" in err
    assert not (tmp_path / "a.pred.csv").exists()


# --------------------------------------------------------------------------- archives


def _zip_of_zeros(path, members):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, size in members:
            zf.writestr(name, b"\0" * size)
    return path


@pytest.mark.parametrize(
    "members,cap,named",
    [
        (
            [("big.npz", 8 << 20)],
            dict(max_total=1 << 20),
            "'big.npz' declares 8388608 bytes, more than the 1048576",
        ),
        ([("a.npz", 600_000), ("b.npz", 600_000)], dict(max_total=1 << 20), "allowed in all"),
        (
            [("a.npz", 300_000)],
            dict(max_total=1 << 20, max_member=100_000),
            "'a.npz' declares 300000 bytes",
        ),
    ],
    ids=["one-member-bomb", "total-over-cap", "per-member"],
)
def test_archive_extraction_is_capped(tmp_path, members, cap, named):
    from semser_tf.zoo import UnsafeArchiveError, safe_extract

    archive = _zip_of_zeros(tmp_path / "bomb.zip", members)
    assert archive.stat().st_size < 50_000  # small on disk
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeArchiveError, match=named):
        safe_extract(archive, tmp_path / "out", **cap)
    assert snapshot(tmp_path) == before  # nothing extracted, no temporary folder


def test_tar_member_over_the_per_member_cap(tmp_path):
    """A tar member's declared size is what is read; the cap applies to it before reading."""
    from semser_tf.zoo import UnsafeArchiveError, safe_extract

    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("weights.npz")
        info.size = 3 << 20
        tf.addfile(info, io.BytesIO(b"\0" * info.size))
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeArchiveError, match="'weights.npz' declares 3145728 bytes"):
        safe_extract(archive, tmp_path / "out", max_total=4 << 20, max_member=1 << 20)
    assert snapshot(tmp_path) == before
    out = safe_extract(archive, tmp_path / "ok", max_total=4 << 20)  # within the caps: extracted
    assert (out / "weights.npz").stat().st_size == 3 << 20


# ----------------------------------------------------- entry archives: caps from the entry itself


def _published_archive(tmp_path):
    """A real published entry archive (publish_run on a small run folder), and its entry."""
    from semser_tf.zoo import publish_run
    from tests.zoo.test_zoo_publish import make_run

    run = make_run(tmp_path / "src")
    publish_run(run, "packed", tmp_path / "dist" / "packed", archive="zip")
    archive = tmp_path / "dist" / "packed.zip"
    entry = json.loads((tmp_path / "dist" / "packed" / "entry.json").read_text())
    return archive, entry


def _rewrite(archive, out, change):
    """Copy a zip archive member by member, ``change(name, data) -> [(name, data), ...]``."""
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            for name, data in change(info.filename, src.read(info)):
                dst.writestr(name, data)
    return out


def test_entry_archive_extracts_and_verifies(tmp_path):
    from semser_tf.zoo import extract_entry_archive, get_entry

    archive, entry = _published_archive(tmp_path)
    out = extract_entry_archive(archive, tmp_path / "registry" / "packed")
    assert get_entry(str(out / "entry.json")).name == "packed"
    for spec in entry["files"]:
        data = (out / spec["filename"]).read_bytes()
        assert len(data) == spec["size"] and hashlib.sha256(data).hexdigest() == spec["sha256"]


@pytest.mark.parametrize(
    "change,named",
    [
        # a member the entry does not list (a 50 MB bomb of zeros beside the listed files)
        (
            lambda n, d: (
                [(n, d)]
                + ([("packed/extra.bin", b"\0" * (50 << 20))] if n.endswith("entry.json") else [])
            ),
            "'packed/extra.bin' is not a file of the entry's entry.json",
        ),
        # a listed file grown far past its listed size
        (
            lambda n, d: [(n, d + b"\0" * (20 << 20) if n.endswith("report.json") else d)],
            "'packed/report.json' declares 20971",
        ),
        # a listed file of the right size but other bytes
        (
            lambda n, d: [(n, bytes(len(d)) if n.endswith("report.json") else d)],
            "'packed/report.json'",
        ),
        # no entry.json at all
        (lambda n, d: [] if n.endswith("entry.json") else [(n, d)], "expected one entry.json"),
    ],
    ids=["unlisted-member", "oversized-member", "changed-bytes", "no-entry-json"],
)
def test_entry_archive_caps_come_from_the_entry(tmp_path, change, named):
    from semser_tf.zoo import UnsafeArchiveError, extract_entry_archive

    archive, _ = _published_archive(tmp_path)
    bad = _rewrite(archive, tmp_path / "bad.zip", change)
    (tmp_path / "registry").mkdir()
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeArchiveError, match=named):
        extract_entry_archive(bad, tmp_path / "registry" / "packed")
    assert snapshot(tmp_path) == before  # nothing written, no temporary folder left


def test_entry_archive_never_replaces_a_users_folder(tmp_path):
    from semser_tf.zoo import extract_entry_archive

    archive, _ = _published_archive(tmp_path)
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("mine")
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError, match="notes"):
        extract_entry_archive(archive, mine, overwrite=True)
    assert snapshot(tmp_path) == before
    first = extract_entry_archive(archive, tmp_path / "entry")
    assert extract_entry_archive(archive, first, overwrite=True) == first  # its own entry: replaced
