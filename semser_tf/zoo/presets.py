"""Zoo entries that are presets: a registry name to a verified local preset folder.

A preset entry lists every file of a preset folder (:mod:`semser_tf.models.preset`:
``config.json``, ``model.weights.h5``, ``input_format.json``, ``metadata.json``,
``embeddings/...``) with its size and SHA-256; the files are resolved as any entry's
(bundled beside ``entry.json`` -> cache -> download, each verified), and the folder they
form is then verified against its own ``metadata.json`` when it is loaded.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from semser_tf.errors import ConfigError

METADATA_FILE = "metadata.json"
"""The file whose presence in an entry makes it a preset entry (the preset's manifest)."""


def is_preset_entry(entry) -> bool:
    """Whether a :class:`~semser_tf.zoo.ModelEntry` lists a preset's ``metadata.json``."""
    return any(spec.filename == METADATA_FILE for spec in entry.files)


def fetch_preset(
    name,
    cache_dir=None,
    *,
    offline: bool = False,
    progress: bool = True,
    timeout: float | None = None,
    deadline: float | None = None,
) -> Path:
    """The local folder of a preset entry, every file verified against the entry.

    Args:
        name: a registry name, an ``entry.json`` path, or a :class:`ModelEntry`.
        cache_dir: as :func:`semser_tf.zoo.fetch_entry_files`.
        offline: as :func:`semser_tf.zoo.fetch_entry_files`.
        progress: as :func:`semser_tf.zoo.fetch_entry_files`.
        timeout: as :func:`semser_tf.zoo.fetch_entry_files`.
        deadline: as :func:`semser_tf.zoo.fetch_entry_files`.

    Returns:
        The folder holding the preset's files: the entry's own folder when they are all
        bundled there, else ``<cache>/<name>/<version>/``.

    Raises:
        ConfigError: the entry is not a preset (an older entry with a ``.keras`` model:
            :func:`semser_tf.load_pretrained` loads those).
    """
    from semser_tf.zoo.cache import entry_cache_dir, verify_file
    from semser_tf.zoo.download import DEFAULT_TIMEOUT, fetch_entry_files
    from semser_tf.zoo.registry import ModelEntry, get_entry

    entry = name if isinstance(name, ModelEntry) else get_entry(name)
    if not is_preset_entry(entry):
        raise ConfigError(
            f"zoo entry {entry.name!r} is not a preset (it lists no {METADATA_FILE}); "
            "semser_tf.load_pretrained loads entries of the older layout"
        )
    paths = fetch_entry_files(
        entry,
        cache_dir,
        offline=offline,
        progress=progress,
        timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
        deadline=deadline,
    )
    specs = {spec.role: spec for spec in entry.files}
    meta_role = next(spec.role for spec in entry.files if spec.filename == METADATA_FILE)
    try:
        manifest = json.loads(Path(paths[meta_role]).read_text(encoding="utf-8")).get("files", {})
    except (ValueError, AttributeError) as err:
        raise ConfigError(
            f"{paths[meta_role]}: the preset's manifest is not a JSON object ({err})"
        ) from None
    listed = {spec.filename for spec in entry.files}
    missing = sorted(set(manifest) - listed)
    if missing:
        raise ConfigError(
            f"zoo entry {entry.name!r}: lists the preset's files but not {', '.join(missing)}; "
            "every file the model loads must be listed (and verified)"
        )
    roots = set()
    for role, path in paths.items():
        parts = len(Path(specs[role].filename).parts)
        roots.add(Path(path).parents[parts - 1])
    if len(roots) == 1:
        return roots.pop()
    # some files bundled, some cached: gather them in the cache folder, verified again
    target = entry_cache_dir(entry.name, entry.version, cache_dir)
    for role, path in paths.items():
        spec = specs[role]
        dest = target / spec.filename
        if Path(path) != dest:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.partial")
            shutil.copyfile(path, tmp)
            tmp.replace(dest)
            verify_file(dest, spec.sha256, spec.size, remove=True)
    return target


__all__ = ["fetch_preset", "is_preset_entry", "METADATA_FILE"]
