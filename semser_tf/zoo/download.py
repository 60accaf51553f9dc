"""Resolution and download of zoo files: bundled -> cache -> download, always verified.

Downloads use :mod:`urllib.request` only (``http://``, ``https://``, ``file://`` URLs and
absolute local paths; no hub client). A download is streamed to a temporary file in the
destination folder, its size and SHA-256 are checked, and only then is it renamed into
place with :func:`os.replace`: an interrupted or corrupted download leaves nothing in the
cache.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from semser_tf.errors import ConfigError, SemserError
from semser_tf.zoo.cache import ChecksumError, entry_cache_dir, verify_file
from semser_tf.zoo.registry import FileSpec, ModelEntry, check_filename, get_entry, url_kind

DEFAULT_TIMEOUT = 60.0

DEFAULT_DEADLINE = 1800.0
"""Seconds one ``load_pretrained`` call may spend downloading in all (30 minutes): a
server that trickles bytes (never silent for ``timeout``) is cut off here."""
"""Seconds a connection may stay silent before a download is abandoned."""

_CHUNK = 1 << 16
_USER_AGENT = "semser-tf-zoo/1"


class DownloadError(SemserError, OSError):
    """A file could not be downloaded (network error, early close, wrong size)."""


def _format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


class _Progress:
    """A one-line progress bar on a terminal stream; silent when the stream is not a TTY."""

    def __init__(self, label: str, total: int | None, enabled: bool, stream: IO | None):
        stream = sys.stderr if stream is None else stream
        isatty = getattr(stream, "isatty", None)
        self.enabled = bool(enabled and isatty is not None and isatty())
        self.stream = stream
        self.label = label
        self.total = total
        self.done = 0
        self._last = 0.0

    def update(self, n: int, final: bool = False) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self._last < 0.1:
            return
        self._last = now
        if self.total:
            frac = min(1.0, self.done / self.total)
            width = 30
            bar = "#" * int(frac * width) + "." * (width - int(frac * width))
            text = (
                f"\r{self.label} [{bar}] {_format_bytes(self.done)} / {_format_bytes(self.total)}"
            )
        else:
            text = f"\r{self.label} {_format_bytes(self.done)}"
        self.stream.write(text)
        if final:
            self.stream.write("\n")
        self.stream.flush()


def _to_url(url: str) -> str:
    kind = url_kind(url)
    if kind == "local":
        return Path(url).as_uri()
    if kind == "relative":
        raise ConfigError(
            f"{url!r} is a path relative to a zoo entry, not a URL that can be downloaded"
        )
    return url


def download_file(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    size: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
    stream: IO | None = None,
    deadline: float | None = None,
) -> Path:
    """Download ``url`` to ``dest`` atomically, checking size and SHA-256 when given.

    The content is streamed to a temporary file beside ``dest`` and renamed over ``dest``
    only once complete and verified. On any failure the temporary file is removed.

    Args:
        url: ``http(s)://`` or ``file://`` URL, or an absolute local path.
        dest: destination file; its folder is created.
        sha256: expected lowercase hex digest.
        size: expected size in bytes; also bounds how much is read.
        timeout: seconds a connection may stay silent.
        progress: show a progress bar on ``stream`` (only when it is a TTY).
        stream: where the bar goes (default ``sys.stderr``).
        deadline: seconds the whole download may take (``None``: no overall limit); checked
            after every receive, so it is overrun by at most ``timeout``.

    Returns:
        ``dest`` as a :class:`~pathlib.Path`.

    Raises:
        DownloadError: network error, timeout, connection closed early, wrong size.
        ChecksumError: the content's SHA-256 differs from ``sha256``.

    Example:
        >>> download_file("https://example.org/m/config.json", "/tmp/config.json")  # doctest: +SKIP
    """
    dest = Path(dest)
    if deadline is not None and deadline <= 0:
        raise DownloadError(f"{url}: no time left for the download (deadline {deadline:.1f} s)")
    if deadline is not None:
        timeout = min(timeout, deadline)
    t_end = None if deadline is None else time.monotonic() + deadline
    try:
        full_url = _to_url(url)
    except ValueError as err:
        raise ConfigError(f"{url!r}: {err}") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    received = 0
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(full_url, headers={"User-Agent": _USER_AGENT})
            try:
                response = urllib.request.urlopen(request, timeout=timeout)
            except urllib.error.HTTPError as err:
                raise DownloadError(f"{url}: HTTP error {err.code} {err.reason}") from None
            except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as err:
                reason = getattr(err, "reason", err)
                raise DownloadError(f"{url}: cannot connect: {reason}") from None
            with response:
                final_scheme = urllib.request.urlparse(response.geturl()).scheme.lower()
                if final_scheme not in ("http", "https", "file"):
                    raise DownloadError(
                        f"{url}: redirected to an unsupported scheme '{final_scheme}:'"
                    )
                length_header = response.headers.get("Content-Length")
                length = int(length_header) if length_header and length_header.isdigit() else None
                if size is not None and length is not None and length != size:
                    raise DownloadError(
                        f"{url}: the server announces {length} bytes, the zoo entry expects {size}"
                    )
                bar = _Progress(dest.name, size if size is not None else length, progress, stream)
                limit = size if size is not None else None
                read = getattr(response, "read1", None) or response.read  # read1: what has arrived
                while True:
                    if t_end is not None and time.monotonic() > t_end:
                        raise DownloadError(
                            f"{url}: still downloading after the {deadline:.0f} s deadline ({received} bytes "
                            "received); the server is too slow. Retry later or raise the timeout"
                        )
                    try:
                        chunk = read(_CHUNK)
                    except (OSError, http.client.HTTPException) as err:
                        raise DownloadError(
                            f"{url}: connection lost after {received} bytes ({type(err).__name__}: {err})"
                        ) from None
                    if not chunk:
                        break
                    received += len(chunk)
                    if limit is not None and received > limit:
                        raise DownloadError(
                            f"{url}: more data than the {limit} bytes the zoo entry expects"
                        )
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
                bar.update(0, final=True)
        expected_total = size if size is not None else length
        if length is not None and received != length:
            raise DownloadError(
                f"{url}: connection closed after {received} of {length} bytes (incomplete download)"
            )
        if expected_total is not None and received != expected_total:
            raise DownloadError(
                f"{url}: received {received} bytes, expected {expected_total} (incomplete download)"
            )
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256.lower():
            raise ChecksumError(
                f"{url}: SHA-256 mismatch for {dest.name}: expected {sha256.lower()}, got {actual}; "
                "the download was discarded"
            )
        os.replace(tmp, dest)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    return dest


def resolve_file(
    entry: ModelEntry,
    spec: FileSpec | str,
    cache_dir: str | os.PathLike | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
    offline: bool = False,
    deadline: float | None = None,
) -> Path:
    """The verified local path of one file of an entry: bundled, else cached, else downloaded.

    Args:
        entry: the zoo entry.
        spec: the file (a :class:`FileSpec` or its role).
        cache_dir: cache root (see :func:`semser_tf.zoo.cache_dir`).
        timeout: download timeout in seconds.
        progress: show a progress bar when stderr is a TTY.
        offline: never download; fail if the file is neither bundled nor cached.
        deadline: seconds the download may take in all (see :func:`download_file`).

    Returns:
        The file's path: beside the entry (bundled) or ``<cache>/<name>/<version>/<filename>``.

    Raises:
        ChecksumError: a file does not match its hash (a cached copy is removed first).
        DownloadError: the download failed; nothing is left in the cache.
        ConfigError: a bundled-only file (relative URL) is missing, or ``offline`` and
            the file is not available locally.

    Example:
        >>> path = resolve_file(get_entry("semser-attention-sewa-de"), "model")  # doctest: +SKIP
    """
    if isinstance(spec, str):
        spec = entry.file(spec)
    source = entry.path if entry.path is not None else f"zoo entry '{entry.name}'"
    check_filename(spec.filename, source, f"files[role={spec.role}].filename")
    kind = url_kind(spec.url)
    entry_dir = entry.entry_dir
    # 1. bundled beside the entry file: checked, never removed (it belongs to the source tree
    #    or to the installed package).
    if entry_dir is not None:
        candidates = [entry_dir / spec.filename]
        if kind == "relative":
            candidates.append(entry_dir / spec.url)
        for candidate in candidates:
            if candidate.is_file():
                return verify_file(candidate, spec.sha256, spec.size, remove=False)
    # 2. the cache: checked; a corrupted copy is removed and refused.
    target = entry_cache_dir(entry.name, entry.version, cache_dir) / spec.filename
    if target.is_file():
        return verify_file(target, spec.sha256, spec.size, remove=True)
    # 3. download (or copy a local file) into the cache.
    if kind == "relative":
        where = entry_dir / spec.url if entry_dir is not None else spec.url
        raise ConfigError(
            f"zoo entry '{entry.name}': bundled file '{spec.filename}' (role '{spec.role}') "
            f"not found at {where}"
        )
    if offline:
        raise ConfigError(
            f"zoo entry '{entry.name}': file '{spec.filename}' is not in the cache {target.parent} "
            f"and downloads are disabled (offline); its URL is {spec.url}"
        )
    return download_file(
        spec.url,
        target,
        sha256=spec.sha256,
        size=spec.size,
        timeout=timeout,
        progress=progress,
        deadline=deadline,
    )


def fetch_entry_files(
    entry: ModelEntry | str,
    cache_dir: str | os.PathLike | None = None,
    *,
    roles=None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
    offline: bool = False,
    deadline: float | None = None,
) -> dict[str, Path]:
    """Make every file of an entry available locally, verified, and return their paths.

    Args:
        entry: a :class:`ModelEntry` or a registered model name.
        cache_dir: cache root (default: see :func:`semser_tf.zoo.cache_dir`).
        roles: only these roles (default: all files of the entry but its exports,
            ``exports/<format>/...``, which are fetched only when their roles are named).
        timeout: download timeout in seconds.
        progress: show progress bars when stderr is a TTY.
        offline: never download.
        deadline: seconds all downloads of the entry may take together (``None``: no limit).

    Returns:
        ``{role: path}`` for each file. Files keep their relative ``filename`` under the
        entry's folder or cache folder, so ``paths["embeddings/aligned.npz"].parent`` is
        the embeddings folder.

    Raises:
        ConfigError, ChecksumError, DownloadError: see :func:`resolve_file`.

    Example:
        >>> paths = fetch_entry_files("semser-attention-sewa-de")  # doctest: +SKIP
        >>> sorted(paths)  # doctest: +SKIP
        ['config', 'embeddings/aligned.npz', 'model', 'report']
    """
    if isinstance(entry, str):
        entry = get_entry(entry)
    wanted = None if roles is None else set(roles)
    if wanted is not None:
        for role in wanted:
            entry.file(role)  # raises on an unknown role
    paths: dict[str, Path] = {}
    t_end = None if deadline is None else time.monotonic() + deadline
    for spec in entry.files:
        if (
            (spec.role in wanted)
            if wanted is not None
            else not spec.filename.startswith("exports/")
        ):
            left = None if t_end is None else t_end - time.monotonic()
            paths[spec.role] = resolve_file(
                entry,
                spec,
                cache_dir,
                timeout=timeout,
                progress=progress,
                offline=offline,
                deadline=left,
            )
    return paths


__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_TIMEOUT",
    "ChecksumError",
    "DownloadError",
    "download_file",
    "fetch_entry_files",
    "resolve_file",
]
