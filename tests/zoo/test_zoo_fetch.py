"""Resolution bundled -> cache -> download, verification, and downloads from a real HTTP server."""

from __future__ import annotations

import hashlib
import io
import json
import time

import pytest

from semser_tf.errors import ConfigError
from semser_tf.zoo import (
    ChecksumError,
    DownloadError,
    cache_dir,
    download_file,
    fetch_entry_files,
    get_entry,
)
from tests.zoo.zoo_helpers import FILES, files_under, sha256_bytes, write_entry


def _serve_entry(registry, server, name="remote", files=FILES, modes=None):
    """An entry whose files are only on the HTTP server (nothing bundled)."""
    modes = modes or {}
    for filename, content in files.items():
        server.add(f"{name}/{filename}", content, modes.get(filename, "ok"))
    return write_entry(
        registry, name, files, bundle=False, url_for=lambda f: f"{server.base_url}{name}/{f}"
    )


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("SEMSER_TF_CACHE", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".keras" / "semser_tf"
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert cache_dir() == tmp_path / "kh" / "semser_tf"
    monkeypatch.setenv("SEMSER_TF_CACHE", str(tmp_path / "explicit"))
    assert (
        cache_dir() == tmp_path / "explicit" / "zoo"
    )  # beside the loader's frames, not above them
    assert cache_dir(tmp_path / "arg") == tmp_path / "arg"


def test_offline_load_by_name_uses_bundled_files(zoo_env, no_network):
    registry, cache = zoo_env
    write_entry(registry, "bundled", FILES)
    paths = fetch_entry_files("bundled")
    assert set(paths) == {"model", "config", "embeddings/aligned.npz"}
    for role, filename in (
        ("model", "model.keras"),
        ("config", "config.json"),
        ("embeddings/aligned.npz", "embeddings/aligned.npz"),
    ):
        assert paths[role] == (registry / "bundled" / filename).resolve()
        assert hashlib.sha256(paths[role].read_bytes()).hexdigest() == sha256_bytes(FILES[filename])
    assert files_under(cache) == []  # bundled files are used in place


def test_corrupted_bundled_file_is_refused_but_kept(zoo_env, no_network):
    registry, _ = zoo_env
    write_entry(registry, "bundled", FILES)
    target = registry / "bundled" / "config.json"
    target.write_bytes(b'{"variant": "concat"}   ')  # same size, other content
    with pytest.raises(ChecksumError) as err:
        fetch_entry_files("bundled")
    message = str(err.value)
    assert str(target.resolve()) in message
    assert sha256_bytes(FILES["config.json"]) in message
    assert sha256_bytes(target.read_bytes()) in message
    assert target.exists()  # part of the source tree: reported, not deleted


def test_missing_bundled_file_is_a_clear_error(zoo_env, no_network):
    registry, _ = zoo_env
    write_entry(registry, "bundled", FILES)
    (registry / "bundled" / "model.keras").unlink()
    with pytest.raises(ConfigError, match="bundled file 'model.keras'.*not found"):
        fetch_entry_files("bundled")


def test_download_by_url_then_second_fetch_uses_the_cache(zoo_env, http_server):
    registry, cache = zoo_env
    _serve_entry(registry, http_server)
    paths = fetch_entry_files("remote", progress=False)
    for filename, content in FILES.items():
        role = {"model.keras": "model", "config.json": "config"}.get(filename, filename)
        assert paths[role] == cache / "remote" / "1.0.0" / filename
        assert paths[role].read_bytes() == content
        assert http_server.counts[f"/remote/{filename}"] == 1
    assert files_under(cache) == sorted(f"remote/1.0.0/{f}" for f in FILES)

    again = fetch_entry_files(get_entry("remote"), progress=False)
    assert again == paths
    assert sum(http_server.counts.values()) == len(FILES)  # no new request


def test_cache_dir_argument_overrides_environment(zoo_env, http_server, tmp_path):
    registry, cache = zoo_env
    _serve_entry(registry, http_server)
    other = tmp_path / "other_cache"
    paths = fetch_entry_files("remote", cache_dir=other, roles=["config"], progress=False)
    assert paths == {"config": other / "remote" / "1.0.0" / "config.json"}
    assert files_under(cache) == []
    with pytest.raises(ConfigError, match="no file with role 'nope'"):
        fetch_entry_files("remote", roles=["nope"])


def test_corrupted_cached_file_is_refused_and_removed(zoo_env, http_server):
    registry, cache = zoo_env
    _serve_entry(registry, http_server)
    paths = fetch_entry_files("remote", progress=False)
    cached = paths["embeddings/aligned.npz"]
    corrupted = bytearray(cached.read_bytes())
    corrupted[100] ^= 0xFF
    cached.write_bytes(bytes(corrupted))
    with pytest.raises(ChecksumError) as err:
        fetch_entry_files("remote", progress=False)
    message = str(err.value)
    assert str(cached) in message
    assert sha256_bytes(FILES["embeddings/aligned.npz"]) in message
    assert hashlib.sha256(bytes(corrupted)).hexdigest() in message
    assert not cached.exists()
    # the next fetch downloads a fresh, verified copy
    paths = fetch_entry_files("remote", progress=False)
    assert paths["embeddings/aligned.npz"].read_bytes() == FILES["embeddings/aligned.npz"]
    assert http_server.counts["/remote/embeddings/aligned.npz"] == 2


def test_served_content_with_wrong_hash_never_enters_the_cache(zoo_env, http_server):
    registry, cache = zoo_env
    _serve_entry(registry, http_server)
    tampered = bytearray(FILES["embeddings/aligned.npz"])
    tampered[0] ^= 0x01
    http_server.add("remote/embeddings/aligned.npz", bytes(tampered))
    with pytest.raises(ChecksumError) as err:
        fetch_entry_files("remote", roles=["embeddings/aligned.npz"], progress=False)
    assert sha256_bytes(FILES["embeddings/aligned.npz"]) in str(err.value)
    assert hashlib.sha256(bytes(tampered)).hexdigest() in str(err.value)
    assert files_under(cache) == []


@pytest.mark.parametrize("mode", ["truncate", "nolength", "reset"])
def test_interrupted_download_leaves_nothing(zoo_env, http_server, mode):
    registry, cache = zoo_env
    _serve_entry(registry, http_server, modes={"embeddings/aligned.npz": mode})
    with pytest.raises(DownloadError) as err:
        fetch_entry_files("remote", roles=["embeddings/aligned.npz"], progress=False, timeout=5)
    message = str(err.value)
    assert "aligned.npz" in message
    assert any(word in message for word in ("incomplete", "connection lost", "closed")), message
    assert files_under(cache) == []  # neither the file nor a temporary file


def test_announced_size_mismatch_is_refused_before_reading(zoo_env, http_server):
    registry, cache = zoo_env
    path = _serve_entry(registry, http_server)
    http_server.add("remote/config.json", FILES["config.json"] + b" " * 1000)
    with pytest.raises(DownloadError, match=r"announces 1024 bytes, the zoo entry expects 24"):
        fetch_entry_files("remote", roles=["config"], progress=False)
    assert files_under(cache) == []
    assert json.loads(path.read_text())["files"][1]["size"] == 24


def test_timeout_is_a_clear_error(zoo_env, http_server):
    registry, cache = zoo_env
    _serve_entry(registry, http_server, modes={"config.json": "slow"})
    http_server.httpd.delay = 1.5
    start = time.monotonic()
    with pytest.raises(DownloadError, match="config.json"):
        fetch_entry_files("remote", roles=["config"], progress=False, timeout=0.3)
    assert time.monotonic() - start < 1.4
    assert files_under(cache) == []


def test_http_404_and_unreachable_server(zoo_env, http_server):
    registry, cache = zoo_env
    write_entry(
        registry,
        "missing",
        FILES,
        bundle=False,
        url_for=lambda f: http_server.base_url + "nowhere/" + f,
    )
    with pytest.raises(DownloadError, match="HTTP error 404"):
        fetch_entry_files("missing", progress=False)
    port = http_server.httpd.server_address[1]
    http_server.close()
    write_entry(
        registry, "down", FILES, bundle=False, url_for=lambda f: f"http://127.0.0.1:{port}/{f}"
    )
    with pytest.raises(DownloadError, match="cannot connect"):
        fetch_entry_files("down", progress=False, timeout=2)
    assert files_under(cache) == []


def test_offline_flag_refuses_to_download(zoo_env, http_server):
    registry, _ = zoo_env
    _serve_entry(registry, http_server)
    with pytest.raises(ConfigError, match="offline"):
        fetch_entry_files("remote", offline=True)
    assert sum(http_server.counts.values()) == 0


def test_local_path_and_file_url_are_copied_into_the_cache(zoo_env, tmp_path):
    registry, cache = zoo_env
    source = tmp_path / "published"
    for filename, content in FILES.items():
        (source / filename).parent.mkdir(parents=True, exist_ok=True)
        (source / filename).write_bytes(content)
    write_entry(registry, "local", FILES, bundle=False, url_for=lambda f: str(source / f))
    write_entry(registry, "fileurl", FILES, bundle=False, url_for=lambda f: (source / f).as_uri())
    for name in ("local", "fileurl"):
        paths = fetch_entry_files(name, progress=False)
        assert paths["model"] == cache / name / "1.0.0" / "model.keras"
        assert paths["model"].read_bytes() == FILES["model.keras"]


class _FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_tty_only(http_server, tmp_path):
    content = bytes(200_000)
    url = http_server.add("big.npz", content)
    tty = _FakeTTY()
    download_file(
        url, tmp_path / "a.npz", sha256=sha256_bytes(content), size=len(content), stream=tty
    )
    shown = tty.getvalue()
    assert "a.npz" in shown and "195.3 KiB / 195.3 KiB" in shown and "#" * 30 in shown
    quiet = _FakeTTY()
    download_file(url, tmp_path / "b.npz", size=len(content), stream=quiet, progress=False)
    not_tty = io.StringIO()
    download_file(url, tmp_path / "c.npz", size=len(content), stream=not_tty)
    assert quiet.getvalue() == "" and not_tty.getvalue() == ""
    assert (tmp_path / "c.npz").read_bytes() == content


def test_unsupported_scheme_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="not supported"):
        download_file("ftp://example.org/x.npz", tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []


def test_more_bytes_than_expected_are_refused(http_server, tmp_path):
    url = http_server.add("long.npz", bytes(5000), mode="nolength")
    # the server closes after half of the body: 2500 bytes, more than the 1000 expected
    with pytest.raises(DownloadError, match="more data than the 1000 bytes"):
        download_file(url, tmp_path / "long.npz", size=1000, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_exception_raised_mid_read_leaves_nothing(monkeypatch, tmp_path):
    import urllib.request

    class _Dropping:
        """A response that delivers one chunk, then fails as a dropped connection does."""

        headers = {"Content-Length": "100000"}

        def __init__(self):
            self.calls = 0

        def geturl(self):
            return "http://127.0.0.1:9/x.npz"

        def read(self, n):
            self.calls += 1
            if self.calls == 1:
                return b"\x00" * 1000
            raise ConnectionResetError(104, "Connection reset by peer")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: _Dropping())
    with pytest.raises(DownloadError, match="connection lost after 1000 bytes"):
        download_file(
            "http://127.0.0.1:9/x.npz", tmp_path / "cache" / "x.npz", size=100000, progress=False
        )
    assert files_under(tmp_path / "cache") == []
