"""Publishing: pack a preset or a trained run folder into a zoo entry (files + hashes + ``entry.json``).

A preset folder (``SemserModel.save_to_preset``: ``config.json``, ``model.weights.h5``,
``input_format.json``, ``metadata.json``, ``embeddings/``...) is packed file by file, so
the entry folder is itself a preset that ``SemserModel.from_preset`` loads. A run folder
(the older layout, below) is packed as it is.

Paths are recorded relative to the current folder, the repository or the run's parent
(a path outside them keeps only its name): an entry never names the folders of the
machine that built it (:func:`relative_paths`).

The run folder layout it expects is defined in ``docs/zoo.md``::

    <run_dir>/
      config.json       the run's configuration (required)
      best.keras        the selected Keras model (required; ``model.keras`` is accepted)
      report.json       evaluation figures (required; ``metrics.json`` is accepted)
      history.csv       per-epoch log (not packed: .csv is not an accepted zoo file type)
      embeddings/       aligned embeddings etc.: .npz, .json, .weights.h5 files (optional)

Each file of ``embeddings/`` is listed in the entry on its own (role
``embeddings/<file>``), so that every file is verified by its own hash and the entry holds
only accepted file types. :func:`semser_tf.zoo.archive.make_archive` can in addition pack
the entry folder into one ``.zip`` / ``.tar.gz`` for upload (``archive=`` argument).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import quote

from semser_tf.errors import ConfigError
from semser_tf.io import check_outputs, check_replaceable, mark_owned, replace_dir
from semser_tf.training.run_folder import BEST, CONFIG, REPORT
from semser_tf.training.run_folder import EMBEDDINGS_DIR as RUN_EMBEDDINGS
from semser_tf.zoo.archive import OutputExistsError, make_archive
from semser_tf.zoo.cache import verify_file
from semser_tf.zoo.registry import ALLOWED_SUFFIXES, ENTRY_FILENAME, ModelEntry, url_kind

MODEL_NAMES = (BEST, "model.keras")
"""Model files looked for in a run folder, first found wins."""

REPORT_NAMES = (REPORT, "metrics.json")
"""Metrics files looked for in a run folder, first found wins."""

EMBEDDINGS_DIR = RUN_EMBEDDINGS
"""Sub-folder of a run folder whose files are all packed (role ``embeddings/<file>``)."""

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_CHUNK = 1 << 20


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"{path}:{err.lineno}: not valid JSON ({err.msg}, column {err.colno})"
        ) from None


def _check_content(path: Path, rel: str) -> None:
    """Refuse files whose content does not match their safe type."""
    lower = rel.lower()
    if lower.endswith(".keras"):
        if not zipfile.is_zipfile(path):
            raise ConfigError(f"{path}: expected a Keras v3 '.keras' archive (a zip file)")
        _check_keras_safe(path)
    elif lower.endswith(".weights.h5"):
        with open(path, "rb") as handle:
            if handle.read(8) != _HDF5_SIGNATURE:
                raise ConfigError(f"{path}: expected an HDF5 '.weights.h5' file")
    elif lower.endswith(".npz"):
        import numpy as np

        try:
            with np.load(path, allow_pickle=False) as data:
                for key in data.files:
                    data[key]
        except ValueError as err:
            raise ConfigError(
                f"{path}: expected an .npz of plain arrays loadable with allow_pickle=False ({err})"
            ) from None
        except (OSError, zipfile.BadZipFile) as err:
            raise ConfigError(f"{path}: not a readable .npz file ({err})") from None
    elif lower.endswith(".json"):
        _read_json(path)


def _check_keras_safe(path: Path) -> None:
    """Refuse a ``.keras`` archive that ``load`` would refuse in safe mode (a Python lambda)."""
    with zipfile.ZipFile(path) as zf:
        try:
            text = zf.read("config.json").decode("utf-8", errors="replace")
        except KeyError:
            return  # no model config to inspect: load reports it
    if '"__lambda__"' in text:
        raise ConfigError(
            f"{path}: the model holds a Python lambda (a Lambda layer), which Keras safe mode refuses "
            "to load, so the published entry could not be used; rebuild it from the package's layers"
        )


def _metrics_from_report(report_path: Path, config: dict) -> tuple[list, dict | None]:
    report = _read_json(report_path)
    if not isinstance(report, dict):
        raise ConfigError(f"{report_path}: expected a JSON object with a 'metrics' list")
    records = report.get("metrics")
    if not isinstance(records, list):
        raise ConfigError(
            f"{report_path}: field 'metrics': expected a list of "
            '{"dataset": ..., "partition": ..., "ccc": {"arousal": ...}, "mean": ...}'
        )
    default_dataset = report.get("dataset") or config.get("dataset") or "unspecified"
    metrics = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise ConfigError(f"{report_path}: field 'metrics[{i}]': expected an object")
        ccc = record.get("ccc")
        item = {
            "dataset": record.get("dataset", default_dataset),
            "partition": record.get("partition"),
            "ccc": ccc,
        }
        if "mean" in record:
            item["mean"] = record["mean"]
        elif (
            isinstance(ccc, dict) and ccc and all(isinstance(v, (int, float)) for v in ccc.values())
        ):
            item["mean"] = sum(ccc.values()) / len(ccc)
        metrics.append(item)
    training = report.get("training")
    return metrics, training if isinstance(training, dict) else None


_ABSOLUTE = re.compile(r"(?:^|(?<=[\s'\"=,\[]))(/[^\s'\"]+)")
"""An absolute POSIX path inside a text: at its start or after a space, a quote, ``=``,
``,`` or ``[`` (not the path part of a URL, not a ratio such as ``(k+1)/10``)."""


def _repo_root() -> Path | None:
    root = Path(__file__).resolve().parents[2]
    return root if (root / "setup.cfg").is_file() else None


def relative_paths(value, bases):
    """``value`` (a JSON value) with every absolute path in its strings made relative.

    A path under one of ``bases`` (tried in order) becomes relative to it; any other
    absolute path keeps only its last component, so no folder of this machine is named.

    Example:
        >>> relative_paths({"command": "semser train /repo/corpora/x --out /tmp/r/run"}, ["/repo"])
        {'command': 'semser train corpora/x --out run'}
    """
    bases = [str(Path(b)) for b in bases if b is not None]

    def fix(match):
        path = match.group(1)
        for base in bases:
            if path == base:
                return "."
            if path.startswith(base.rstrip("/") + "/"):
                return path[len(base.rstrip("/")) + 1 :]
        return Path(path).name or "."

    if isinstance(value, str):
        return _ABSOLUTE.sub(fix, value)
    if isinstance(value, list):
        return [relative_paths(v, bases) for v in value]
    if isinstance(value, dict):
        return {k: relative_paths(v, bases) for k, v in value.items()}
    return value


def _path_bases(run_dir: Path) -> list:
    return [
        os.path.realpath(os.getcwd()),
        _repo_root() and os.path.realpath(_repo_root()),
        os.path.realpath(run_dir.parent),
        os.getcwd(),
        str(run_dir.parent.absolute()),
    ]


def _copy_hashed(src: Path, dst: Path, bases=None) -> tuple[int, str]:
    if bases is not None and src.name.lower().endswith(".json"):
        text = src.read_text(encoding="utf-8")
        data = json.loads(text)
        fixed = relative_paths(data, bases)
        if fixed != data:  # rewritten only when it named a folder of this machine
            content = (json.dumps(fixed, indent=2, sort_keys=True) + "\n").encode("utf-8")
            dst.parent.mkdir(parents=True, exist_ok=True)
            with open(dst, "xb") as fout:
                fout.write(content)
            return len(content), hashlib.sha256(content).hexdigest()
    dst.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with open(src, "rb") as fin, open(dst, "xb") as fout:
        for chunk in iter(lambda: fin.read(_CHUNK), b""):
            digest.update(chunk)
            fout.write(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _export_files(run_dir: Path, exports) -> list[tuple[str, str, Path]]:
    """``(role, filename, path)`` of the export folders to pack, each checked to hold this
    run's network (the SHA-256 of its weights) and unchanged files."""
    if not exports:
        return []
    from semser_tf.zoo.exported import EXPORT_RECORD, read_export, weights_sha256
    from semser_tf.zoo.pretrained import load_pretrained

    expected = weights_sha256(load_pretrained(str(run_dir), offline=True, progress=False).model)
    out, formats = [], set()
    for folder in map(Path, exports):
        meta = read_export(folder)
        fmt = meta.get("format")
        if fmt in formats:
            raise ConfigError(
                f"{folder}: a second {fmt} export; an entry carries one export per format"
            )
        formats.add(fmt)
        if meta.get("weights_sha256") != expected:
            raise ConfigError(
                f"{folder}: this {fmt} export holds another network than {run_dir} (the SHA-256 "
                "of its weights differs); export the run's own model: semser export RUN ..."
            )
        for rel in [EXPORT_RECORD, *sorted(meta["files"])]:
            out.append((f"export/{fmt}/{rel}", f"exports/{fmt}/{rel}", folder / rel))
    return out


def run_files(run_dir: str | os.PathLike) -> list[tuple[str, str, Path]]:
    """The files of a run folder that :func:`publish_run` packs.

    Args:
        run_dir: the run folder (layout in ``docs/zoo.md``).

    Returns:
        ``(role, filename, path)`` triples: ``model``, ``config``, ``report``, one
        ``weights`` when exactly one top-level ``*.weights.h5`` exists (else each under its
        file name), and ``embeddings/<file>`` for every file under ``embeddings/``.

    Raises:
        ConfigError: the folder, the model, ``config.json`` or the report is missing, or a
            file under ``embeddings/`` has a type that is not accepted.

    Example:
        >>> [role for role, _, _ in run_files("runs/attention")]  # doctest: +SKIP
        ['model', 'config', 'report', 'embeddings/aligned.npz']
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: run folder not found")
    from semser_tf.models.preset import METADATA_FILE, PresetError, is_preset

    if is_preset(run_dir):
        try:
            listed = json.loads((run_dir / METADATA_FILE).read_text(encoding="utf-8"))["files"]
        except (ValueError, KeyError, TypeError) as err:
            raise PresetError(f"{run_dir / METADATA_FILE}: unreadable manifest ({err})") from None
        roles = {
            "config.json": "config",
            "model.weights.h5": "weights",
            "input_format.json": "input_format",
            "report.json": "report",
            "run_config.json": "run_config",
        }
        found = [("metadata", METADATA_FILE, run_dir / METADATA_FILE)]
        found += [(roles.get(rel, rel), rel, run_dir / rel) for rel in sorted(listed)]
        for _, rel, path in found:
            if not rel.lower().endswith(ALLOWED_SUFFIXES):
                raise ConfigError(
                    f"{path}: file type not accepted in a zoo entry; expected one of "
                    f"{', '.join(ALLOWED_SUFFIXES)}"
                )
        return found
    found: list[tuple[str, str, Path]] = []
    model = next((run_dir / n for n in MODEL_NAMES if (run_dir / n).is_file()), None)
    if model is None:
        raise ConfigError(f"{run_dir}: no Keras model; expected {' or '.join(MODEL_NAMES)}")
    found.append(("model", model.name, model))
    config = run_dir / CONFIG
    if not config.is_file():
        raise ConfigError(f"{run_dir}: {CONFIG} not found; expected the run's configuration")
    found.append(("config", config.name, config))
    report = next((run_dir / n for n in REPORT_NAMES if (run_dir / n).is_file()), None)
    if report is None:
        raise ConfigError(f"{run_dir}: no metrics; expected {' or '.join(REPORT_NAMES)}")
    found.append(("report", report.name, report))
    weights = sorted(p for p in run_dir.glob("*.weights.h5") if p.is_file())
    for path in weights:
        found.append(("weights" if len(weights) == 1 else path.name, path.name, path))
    emb = run_dir / EMBEDDINGS_DIR
    if emb.is_dir():
        for path in sorted(emb.rglob("*")):
            if path.is_symlink():
                raise ConfigError(
                    f"{path}: symbolic links are not packed; copy the file into the run folder"
                )
            if not path.is_file():
                continue
            rel = path.relative_to(run_dir).as_posix()
            if path.name.startswith("."):
                continue
            if not rel.lower().endswith(ALLOWED_SUFFIXES):
                raise ConfigError(
                    f"{path}: file type not accepted in a zoo entry; expected one of {', '.join(ALLOWED_SUFFIXES)}"
                )
            found.append((rel, rel, path))
    return found


def publish_run(
    run_dir: str | os.PathLike,
    name: str,
    out_dir: str | os.PathLike,
    version: str = "1.0.0",
    base_url: str | None = None,
    description: str | None = None,
    license: str = "unspecified",
    *,
    variant: str | None = None,
    training: dict | None = None,
    citation: str | None = None,
    overwrite: bool = False,
    archive: str | None = None,
    exports=(),
) -> Path:
    """Pack a trained run folder into a zoo entry folder with sizes and SHA-256 hashes.

    The entry folder is assembled in a temporary folder beside ``out_dir``, validated
    (the written ``entry.json`` is read back and every file re-hashed), and renamed into
    place. For the entry to be found by name, put it at ``<registry>/<name>`` (e.g. the
    repository's ``zoo/<name>``) or upload its files to ``base_url``.

    Args:
        run_dir: the trained run (layout in ``docs/zoo.md``).
        name: registry name of the model (letters, digits, ``._-``).
        out_dir: the entry folder to create (``<registry>/<name>``).
        version: entry version; part of the cache path.
        base_url: where the files will be served from; each file's ``url`` becomes
            ``base_url + filename``. None: URLs relative to the entry (bundled files).
        description: one or two sentences (default: generated from the variant and run).
        license: licence of the weights (mind the training data's licence).
        variant: model variant (default: ``variant`` of ``config.json``, top level or under
            ``model``).
        training: ``{"data": ..., "command": ...}`` (default: ``training`` of the report,
            else "not recorded").
        citation: optional reference.
        overwrite: replace an existing ``out_dir``: only an entry folder written by this
            function (it carries :data:`semser_tf.io.OWNER_MARKER`), never the run folder,
            a folder above it or any other folder.
        archive: also write ``<out_dir>.zip`` (``"zip"``) or ``<out_dir>.tar.gz``
            (``"tar.gz"``) holding the entry folder.
        exports: folders written by :func:`semser_tf.export.export_model` from this run's
            model; each is checked (its files against its ``export.json``, its weights
            against the run's) and packed under ``exports/<format>/``, listed in the entry
            with their SHA-256 (fetched only on request:
            ``fetch_entry_files(entry, roles=[...])``).

    Returns:
        The path of the written ``entry.json``.

    Raises:
        ConfigError: missing run files, unaccepted file types or content, invalid metrics,
            a bad ``base_url``.
        OutputExistsError: ``out_dir`` exists and ``overwrite`` is False (a ``FileExistsError``).

    Example:
        >>> publish_run("runs/attention", "semser-attention-sewa-de", "zoo/semser-attention-sewa-de",
        ...             base_url="https://example.org/zoo/semser-attention-sewa-de/1.0.0/")  # doctest: +SKIP
        PosixPath('zoo/semser-attention-sewa-de/entry.json')
    """
    run_dir = Path(run_dir)
    out_dir = Path(out_dir)
    if archive not in (None, "zip", "tar.gz"):
        raise ConfigError(f"archive: expected None, 'zip' or 'tar.gz', got {archive!r}")
    if base_url is not None:
        try:
            kind = url_kind(base_url)
        except ValueError as err:
            raise ConfigError(f"base_url {base_url!r}: {err}") from None
        if kind not in ("http", "file"):
            raise ConfigError(f"base_url {base_url!r}: expected an http(s):// or file:// URL")
        if not base_url.endswith("/"):
            base_url += "/"
    files = run_files(run_dir)
    preset = any(role == "metadata" for role, _, _ in files)
    if preset:
        from semser_tf.models.preset import verify_preset

        verify_preset(run_dir)  # a changed or unlisted file is refused before anything is packed
    if out_dir.resolve() == run_dir.resolve() or run_dir.resolve() in out_dir.resolve().parents:
        raise ConfigError(f"{out_dir}: the entry folder must lie outside the run folder {run_dir}")
    if out_dir.exists() and not overwrite:
        raise OutputExistsError(f"{out_dir}: exists; pass overwrite=True to replace it")
    # --overwrite replaces only an entry folder this package wrote, never the run or a parent of it
    check_replaceable(out_dir, "zoo-entry", inputs=[run_dir], option="overwrite=True (--overwrite)")
    archive_path = None
    if archive is not None:
        archive_path = out_dir.parent / f"{out_dir.name}.{archive}"
        if archive_path.exists() and not overwrite:
            raise OutputExistsError(f"{archive_path}: exists; pass overwrite=True to replace it")
        check_outputs({"archive": archive_path}, {"run": run_dir})
    config_path = run_dir / (
        "run_config.json" if preset and (run_dir / "run_config.json").is_file() else CONFIG
    )
    config = _read_json(config_path)
    if not isinstance(config, dict):
        raise ConfigError(f"{config_path}: expected a JSON object")
    report_path = next((p for role, _, p in files if role == "report"), None)
    if report_path is None:
        raise ConfigError(
            f"{run_dir}: no report.json; expected the evaluation figures (carry it with "
            "save_to_preset(..., extra_files={'report.json': ...}))"
        )
    metrics, report_training = _metrics_from_report(report_path, config)
    bases = _path_bases(run_dir)
    config = relative_paths(config, bases)
    if variant is None:
        variant = config.get("variant")
        if variant is None and isinstance(config.get("model"), dict):
            variant = config["model"].get("variant")
        variant = variant if isinstance(variant, str) and variant else "unspecified"
    if training is None:
        training = report_training or {"data": "not recorded", "command": "not recorded"}
    training = relative_paths(training, bases)
    if description is None:
        description = f"semser-tf {variant} model published from the run '{run_dir.name}'."

    for _, rel, path in files:
        _check_content(path, rel)
    files += _export_files(run_dir, exports)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(
        tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".publishing")
    )
    try:
        file_specs = []
        hashed = {}
        for role, rel, path in files:
            if role == "metadata":
                continue
            hashed[rel] = _copy_hashed(path, tmp / rel, bases)
        if (
            preset
        ):  # the manifest names the files as packed (a JSON file may have lost machine paths)
            meta = _read_json(run_dir / "metadata.json")
            meta["files"] = {
                rel: {"size": size, "sha256": sha} for rel, (size, sha) in hashed.items()
            }
            content = (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8")
            (tmp / "metadata.json").write_bytes(content)
            hashed["metadata.json"] = (len(content), hashlib.sha256(content).hexdigest())
        for role, rel, _path in files:
            size, sha = hashed[rel]
            url = base_url + quote(rel) if base_url is not None else rel
            file_specs.append(
                {"role": role, "filename": rel, "size": size, "sha256": sha, "url": url}
            )
        data = {
            "name": name,
            "version": version,
            "description": description,
            "variant": variant,
            "license": license,
            "config": config,
            "training": training,
            "metrics": metrics,
            "files": file_specs,
            "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
        }
        if citation is not None:
            data["citation"] = citation
        entry = ModelEntry.from_dict(
            data, source=f"entry '{name}' built from {run_dir} (metrics from {report_path.name})"
        )
        entry_path = tmp / ENTRY_FILENAME
        entry.to_json(entry_path)
        written = ModelEntry.from_json(entry_path)
        for spec in written.files:
            verify_file(tmp / spec.filename, spec.sha256, spec.size, remove=False)
        if preset:
            from semser_tf.models.preset import verify_preset

            verify_preset(tmp)
        mark_owned(tmp, "zoo-entry")
        os.chmod(tmp, 0o755)
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if archive_path is not None:
        make_archive(out_dir, archive_path, arcname=out_dir.name)
    return out_dir / ENTRY_FILENAME


__all__ = ["publish_run", "run_files", "MODEL_NAMES", "REPORT_NAMES", "EMBEDDINGS_DIR"]
