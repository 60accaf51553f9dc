"""The model zoo registry: entry files, their validation and where they are found.

A registry is a folder holding one sub-folder per model, ``<root>/<name>/entry.json``,
with any small bundled files beside the ``entry.json``. The registry search path is, in
order (a later folder overrides an entry of the same name from an earlier one):

1. ``semser_tf/zoo/bundled/`` inside the installed package (in a checkout a link to the
   repository's ``zoo/``, copied into wheels as package data, so regular installs find
   the bundled models too);
2. the repository's ``zoo/`` folder, when the package is imported from a source checkout
   (the folder above ``semser_tf/`` holds ``setup.cfg`` and ``zoo/``);
3. the folders listed in the environment variable ``SEMSER_ZOO_PATH`` (separated by
   ``os.pathsep``);
4. folders added at run time with :func:`add_registry_path`.

The entry format itself (``entry.json``, :class:`ModelEntry` and its validation) is
:mod:`semser_tf.zoo.entry`; its names are re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from semser_tf.errors import ConfigError
from semser_tf.zoo.entry import (
    _NAME_RE,
    ALLOWED_SUFFIXES,
    ENTRY_FILENAME,
    EXPORT_SUFFIXES,
    EXPORTS_DIR,
    SCHEMA_VERSION,
    FileSpec,
    MetricSpec,
    ModelEntry,
    _fail,
    check_filename,
    url_kind,
    write_text_atomic,
)

__all__ = [
    "ALLOWED_SUFFIXES",
    "ENTRY_FILENAME",
    "ENV_ZOO_PATH",
    "EXPORTS_DIR",
    "EXPORT_SUFFIXES",
    "SCHEMA_VERSION",
    "FileSpec",
    "MetricSpec",
    "ModelEntry",
    "add_registry_path",
    "check_filename",
    "get_entry",
    "list_pretrained",
    "load_entries",
    "registry_paths",
    "remove_registry_path",
    "url_kind",
    "write_text_atomic",
]

ENV_ZOO_PATH = "SEMSER_ZOO_PATH"
"""Environment variable with extra registry folders, separated by ``os.pathsep``."""

_PACKAGE_BUNDLED = Path(__file__).resolve().parent / "bundled"
_user_paths: list[Path] = []


# -- the registry search path ---------------------------------------------------------------
def _repo_zoo_dir() -> Path | None:
    root = Path(__file__).resolve().parents[2]
    candidate = root / "zoo"
    if (root / "setup.cfg").is_file() and candidate.is_dir():
        return candidate
    return None


def add_registry_path(path: str | os.PathLike) -> None:
    """Add a registry folder (holding ``<name>/entry.json`` folders) to the search path.

    Args:
        path: the folder; it takes precedence over the earlier folders of the path.

    Raises:
        ConfigError: the folder does not exist.

    Example:
        >>> add_registry_path("/data/my_zoo")  # doctest: +SKIP
        >>> "my-model" in list_pretrained()  # doctest: +SKIP
        True
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ConfigError(
            f"{folder}: zoo registry folder not found; expected a folder of <name>/entry.json"
        )
    folder = folder.resolve()
    if folder in _user_paths:
        _user_paths.remove(folder)
    _user_paths.append(folder)


def remove_registry_path(path: str | os.PathLike) -> None:
    """Remove a folder added with :func:`add_registry_path` (no error if absent).

    Args:
        path: the folder given to :func:`add_registry_path`.

    Example:
        >>> remove_registry_path("/data/my_zoo")
    """
    folder = Path(path).expanduser().resolve()
    if folder in _user_paths:
        _user_paths.remove(folder)


def registry_paths() -> list[Path]:
    """The registry folders searched, lowest precedence first.

    Returns:
        Existing folders: the package's ``bundled/``, the repository's ``zoo/`` (source
        checkouts), ``SEMSER_ZOO_PATH`` entries, then :func:`add_registry_path` folders.

    Example:
        >>> [p.name for p in registry_paths()]  # doctest: +SKIP
        ['bundled', 'zoo']
    """
    paths: list[Path] = []
    candidates: list[Path] = [_PACKAGE_BUNDLED]
    repo = _repo_zoo_dir()
    if repo is not None:
        candidates.append(repo)
    env = os.environ.get(ENV_ZOO_PATH, "")
    candidates.extend(Path(p).expanduser() for p in env.split(os.pathsep) if p.strip())
    candidates.extend(_user_paths)
    for folder in candidates:
        if folder.is_dir():
            folder = folder.resolve()
            if folder in paths:
                paths.remove(folder)
            paths.append(folder)
    return paths


def _entry_files(paths: Iterable[Path] | None = None) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in registry_paths() if paths is None else paths:
        for child in sorted(Path(folder).iterdir()):
            entry = child / ENTRY_FILENAME
            if child.is_dir() and entry.is_file() and _NAME_RE.match(child.name):
                found[child.name] = entry
    return found


def list_pretrained() -> list[str]:
    """Names of the models in the registry, sorted.

    Example:
        >>> list_pretrained()  # doctest: +SKIP
        ['semser-attention-sewa-de']
    """
    return sorted(_entry_files())


def get_entry(name: str) -> ModelEntry:
    """The validated entry of a registered model.

    Args:
        name: a name from :func:`list_pretrained`, or the path of an ``entry.json`` file
            or of a folder holding one.

    Raises:
        ConfigError: unknown name (the known names and the searched folders are listed),
            or an invalid entry (the file and the field are named).

    Example:
        >>> entry = get_entry("semser-attention-sewa-de")  # doctest: +SKIP
        >>> entry.version  # doctest: +SKIP
        '1.0.0'
    """
    if not isinstance(name, str):
        raise ConfigError(f"model name: expected a string, got {type(name).__name__}")
    entries = _entry_files()
    if name not in entries:
        candidate = Path(name).expanduser()
        if ("/" in name or os.sep in name or name.endswith(".json")) and (
            candidate.is_file() or (candidate / ENTRY_FILENAME).is_file()
        ):
            return ModelEntry.from_json(candidate)
        known = ", ".join(sorted(entries)) or "(none)"
        searched = ", ".join(str(p) for p in registry_paths()) or "(no registry folder exists)"
        raise ConfigError(
            f"unknown pretrained model '{name}'; known models: {known}. "
            f"Registry folders searched: {searched} (add one with ${ENV_ZOO_PATH} or add_registry_path)"
        )
    entry = ModelEntry.from_json(entries[name])
    if entry.name != name:
        raise _fail(
            entries[name], "name", f"{entry.name!r} differs from the entry's folder name {name!r}"
        )
    return entry


def load_entries(paths: Iterable[str | os.PathLike] | None = None) -> list[ModelEntry]:
    """Every entry of the registry (or of the given registry folders), validated, by name.

    Args:
        paths: registry folders to read instead of :func:`registry_paths` (a later folder
            overrides an entry of the same name from an earlier one).

    Raises:
        ConfigError: an invalid entry (the file and the field are named).

    Example:
        >>> [e.name for e in load_entries()]  # doctest: +SKIP
        ['semser-attention-sewa-de']
    """
    folders = None if paths is None else [Path(p).expanduser() for p in paths]
    if folders is not None:
        for folder in folders:
            if not folder.is_dir():
                raise ConfigError(f"{folder}: zoo registry folder not found")
    found = _entry_files(folders)
    result = []
    for name in sorted(found):
        entry = ModelEntry.from_json(found[name])
        if entry.name != name:
            raise _fail(
                found[name], "name", f"{entry.name!r} differs from the entry's folder name {name!r}"
            )
        result.append(entry)
    return result
