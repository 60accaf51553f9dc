"""The local cache of downloaded zoo files and their verification.

The cache root is, in order of precedence: the ``cache_dir`` argument, the ``zoo``
sub-folder of ``$SEMSER_TF_CACHE`` (whose ``frames`` sub-folder is the data loader's
frame cache, :func:`semser_tf.data.pipeline.default_cache_dir`: the two never share a
folder, so :func:`clear_cache` leaves the frames), ``$KERAS_HOME/semser_tf``, then
``~/.keras/semser_tf``. Files live at ``<root>/<name>/<version>/<filename>``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from semser_tf.errors import SemserError

ENV_CACHE = "SEMSER_TF_CACHE"
"""Environment variable of the package's cache folder: the zoo's files go to its ``zoo`` sub-folder."""

ZOO_SUBDIR = "zoo"
"""The sub-folder of ``$SEMSER_TF_CACHE`` that holds the zoo cache."""

_CHUNK = 1 << 20


class ChecksumError(SemserError, ValueError):
    """A file's size or SHA-256 differs from its zoo entry; the cached copy was removed."""


def cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The root folder of the zoo cache (not created here).

    Args:
        cache_dir: explicit root; overrides the environment.

    Returns:
        ``cache_dir`` if given, else ``$SEMSER_TF_CACHE/zoo``, else ``$KERAS_HOME/semser_tf``,
        else ``~/.keras/semser_tf``.

    Example:
        >>> cache_dir("/tmp/zoo_cache")
        PosixPath('/tmp/zoo_cache')
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser() / ZOO_SUBDIR
    keras_home = os.environ.get("KERAS_HOME")
    if keras_home:
        return Path(keras_home).expanduser() / "semser_tf"
    return Path("~/.keras").expanduser() / "semser_tf"


def entry_cache_dir(name: str, version: str, root: str | os.PathLike | None = None) -> Path:
    """The cache folder of one model version: ``<root>/<name>/<version>``.

    Args:
        name: model name (validated by the registry: no path separators).
        version: model version.
        root: cache root (see :func:`cache_dir`).

    Example:
        >>> entry_cache_dir("m", "1.0.0", "/tmp/c")
        PosixPath('/tmp/c/m/1.0.0')
    """
    for label, value in (("name", name), ("version", version)):
        if not value or "/" in value or "\\" in value or value in (".", "..") or ".." in value:
            raise ValueError(f"model {label} {value!r}: expected no path separators and no '..'")
    return cache_dir(root) / name / version


def sha256_file(path: str | os.PathLike) -> str:
    """Lowercase hex SHA-256 of a file, read in 1 MiB chunks.

    Example:
        >>> sha256_file("/dev/null")
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(
    path: str | os.PathLike,
    sha256: str,
    size: int | None = None,
    *,
    remove: bool = True,
) -> Path:
    """Check a file's size and SHA-256 before it is used.

    Args:
        path: the file.
        sha256: expected lowercase hex digest.
        size: expected size in bytes (not checked if None).
        remove: delete the file when it does not match (cache files); bundled files of a
            source tree or of the installed package are checked with ``remove=False``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ChecksumError: naming the file, the expected and the actual value.

    Example:
        >>> verify_file("/dev/null", sha256_file("/dev/null"), 0, remove=False)
        PosixPath('/dev/null')
    """
    path = Path(path)
    actual_size = path.stat().st_size
    problem = None
    if size is not None and actual_size != size:
        problem = f"size mismatch: expected {size} bytes, got {actual_size}"
    else:
        actual = sha256_file(path)
        if actual != sha256.lower():
            problem = f"SHA-256 mismatch: expected {sha256.lower()}, got {actual}"
    if problem is None:
        return path
    if remove:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        raise ChecksumError(
            f"{path}: {problem}; the file was removed, fetch again to download a fresh copy"
        )
    raise ChecksumError(f"{path}: {problem}; refusing to use it")


def clear_cache(name: str | None = None, root: str | os.PathLike | None = None) -> None:
    """Delete the cache of one model (all versions) or the whole zoo cache.

    Only the zoo's folder (:func:`cache_dir`) is touched: the data loader's frame cache
    (``$SEMSER_TF_CACHE/frames``) and anything else under ``$SEMSER_TF_CACHE`` stay.

    Args:
        name: model name; None removes every model's files.
        root: cache root (see :func:`cache_dir`).

    Example:
        >>> clear_cache("semser-attention-sewa-de")  # doctest: +SKIP
    """
    import shutil

    base = cache_dir(root)
    if name is not None and (not name or "/" in name or os.sep in name or name in (".", "..")):
        raise ValueError(f"model name {name!r}: expected a registry name without path separators")
    target = base / name if name is not None else base
    if target.exists():
        shutil.rmtree(target)
