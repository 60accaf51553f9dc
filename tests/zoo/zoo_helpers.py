"""Helpers of the zoo tests: entry writing and a real local HTTP server."""

from __future__ import annotations

import collections
import hashlib
import http.server
import json
import socket
import struct
import threading
import time
from pathlib import Path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_entry(
    root: Path, name: str, files: dict[str, bytes], *, url_for=None, bundle=True, **overrides
) -> Path:
    """Write ``root/name/entry.json`` describing ``files`` ({filename: content}).

    ``url_for(filename)`` gives each file's URL (default: the relative filename); with
    ``bundle`` the files are also written beside the entry. Returns the entry.json path.
    """
    entry_dir = root / name
    entry_dir.mkdir(parents=True, exist_ok=True)
    specs = []
    for filename, content in files.items():
        role = {"model.keras": "model", "config.json": "config"}.get(filename, filename)
        specs.append(
            {
                "role": role,
                "filename": filename,
                "size": len(content),
                "sha256": sha256_bytes(content),
                "url": url_for(filename) if url_for else filename,
            }
        )
        if bundle:
            (entry_dir / filename).parent.mkdir(parents=True, exist_ok=True)
            (entry_dir / filename).write_bytes(content)
    data = {
        "name": name,
        "version": "1.0.0",
        "description": "A test model.",
        "variant": "attention",
        "config": {"variant": "attention", "lstm_units": 256},
        "training": {"data": "SEWA-DE Train", "command": "semser train --config config.json"},
        "metrics": [
            {
                "dataset": "SEWA-DE",
                "partition": "devel",
                "ccc": {"arousal": 0.5, "valence": 0.4, "liking": 0.3},
                "mean": 0.4,
            }
        ],
        "license": "CC-BY-NC-4.0",
        "files": specs,
    }
    data.update(overrides)
    path = entry_dir / "entry.json"
    path.write_text(json.dumps(data, indent=2))
    return path


FILES = {
    "model.keras": b"PK\x05\x06" + b"\x00" * 18,  # an empty zip: stands for a .keras archive
    "config.json": b'{"variant": "attention"}',
    "embeddings/aligned.npz": bytes(range(256)) * 40,
}


def files_under(folder: Path) -> list[str]:
    """Every file (temporary ones included) under ``folder``, relative, sorted."""
    if not folder.exists():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):  # noqa: N802
        srv = self.server
        path = self.path.split("?")[0]
        srv.counts[path] += 1
        if path not in srv.files:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = srv.files[path]
        mode = srv.modes.get(path, "ok")
        if mode == "slow":
            time.sleep(srv.delay)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if mode != "nolength":
            self.send_header("Content-Length", str(len(body)))
        if mode == "nolength":
            self.send_header("Connection", "close")
        self.end_headers()
        if mode in ("truncate", "nolength", "reset"):
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            if mode == "reset":  # abortive close: the client sees a connection reset
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(body)


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # clients that hang up on purpose
        pass


class ZooServer:
    """A real HTTP server on 127.0.0.1 (ephemeral port) in a thread, counting requests."""

    def __init__(self):
        self.httpd = _QuietServer(("127.0.0.1", 0), _Handler)
        self.httpd.files = {}
        self.httpd.modes = {}
        self.httpd.counts = collections.Counter()
        self.httpd.delay = 0.0
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def counts(self):
        return self.httpd.counts

    def add(self, url_path: str, content: bytes, mode: str = "ok") -> str:
        path = "/" + url_path.lstrip("/")
        self.httpd.files[path] = content
        self.httpd.modes[path] = mode
        return self.base_url + path.lstrip("/")

    def add_folder(self, folder: Path, prefix: str = "") -> None:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                self.add(prefix + path.relative_to(folder).as_posix(), path.read_bytes())

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
