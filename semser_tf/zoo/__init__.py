"""The model zoo: a registry of pretrained models, their verified download and publishing.

Registry entries are ``<registry>/<name>/entry.json`` files (see ``docs/zoo.md``); their
files are resolved bundled -> cache -> download and checked against their SHA-256 before
use.

Example:
    >>> from semser_tf.zoo import list_pretrained, get_entry, fetch_entry_files
    >>> names = list_pretrained()
    >>> paths = fetch_entry_files(get_entry(names[0]))  # doctest: +SKIP
    >>> from semser_tf.zoo import load_pretrained       # imported on first use (TensorFlow)
    >>> model = load_pretrained(names[0])               # doctest: +SKIP

``load_pretrained``, ``PretrainedModel``, ``load_run`` and ``fetch_preset`` are imported on
first use (PEP 562), so ``import semser_tf.zoo`` loads neither TensorFlow nor Keras.
"""

import importlib

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

_LAZY = {
    "load_pretrained": "pretrained",
    "PretrainedModel": "pretrained",
    "load_run": "pretrained",
    "load_preset_model": "pretrained",
    "fetch_preset": "presets",
    "is_preset_entry": "presets",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"semser_tf.zoo.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'semser_tf.zoo' has no attribute {name!r}")


__all__ = [
    *_LAZY,
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
