"""The model zoo: a registry of pretrained models, their verified download and publishing.

Registry entries are ``<registry>/<name>/entry.json`` files (see ``docs/zoo.md``); their
files are resolved bundled -> cache -> download and checked against their SHA-256 before
use.

Example:
    >>> from semser_tf.zoo import list_pretrained, get_entry, fetch_entry_files
    >>> names = list_pretrained()
    >>> paths = fetch_entry_files(get_entry(names[0]))  # doctest: +SKIP
"""

from semser_tf.zoo.archive import (
    OutputExistsError,
    UnsafeArchiveError,
    extract_entry_archive,
    make_archive,
    safe_extract,
)
from semser_tf.zoo.cache import ChecksumError, cache_dir, clear_cache, sha256_file, verify_file
from semser_tf.zoo.download import DownloadError, download_file, fetch_entry_files, resolve_file
from semser_tf.zoo.publish import publish_run
from semser_tf.zoo.registry import (
    ALLOWED_SUFFIXES,
    FileSpec,
    MetricSpec,
    ModelEntry,
    add_registry_path,
    get_entry,
    list_pretrained,
    load_entries,
    registry_paths,
    remove_registry_path,
)

__all__ = [
    "ALLOWED_SUFFIXES",
    "ChecksumError",
    "DownloadError",
    "FileSpec",
    "MetricSpec",
    "ModelEntry",
    "OutputExistsError",
    "UnsafeArchiveError",
    "add_registry_path",
    "cache_dir",
    "clear_cache",
    "download_file",
    "fetch_entry_files",
    "get_entry",
    "list_pretrained",
    "load_entries",
    "make_archive",
    "publish_run",
    "registry_paths",
    "remove_registry_path",
    "resolve_file",
    "extract_entry_archive",
    "safe_extract",
    "sha256_file",
    "verify_file",
]
