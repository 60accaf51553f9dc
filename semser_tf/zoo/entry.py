"""A zoo entry: the ``entry.json`` schema, its files and metrics, and their validation.

Only file types that load without executing code are accepted in an entry (see
:data:`ALLOWED_SUFFIXES`): Keras ``.keras`` archives (loaded with ``safe_mode=True``),
``.weights.h5`` weights, ``.json`` and ``.npz`` (read with ``allow_pickle=False``).
Where entries are found is :mod:`semser_tf.zoo.registry`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from semser_tf.errors import ConfigError
from semser_tf.io import atomic_write_text

ENTRY_FILENAME = "entry.json"
"""Name of the JSON file that describes one model inside its registry folder."""

ALLOWED_SUFFIXES = (".keras", ".weights.h5", ".json", ".npz")
"""File name endings accepted in an entry; anything else is refused at validation."""

EXPORTS_DIR = "exports"
"""Folder of an entry's exports (``exports/<format>/...``, written by ``semser export``)."""

EXPORT_SUFFIXES = (".onnx", ".tflite", ".pb", ".md", ".json", ".index")
"""Endings accepted under :data:`EXPORTS_DIR` besides SavedModel's ``.data-NNNNN-of-NNNNN``
shards: files for other runtimes, downloaded and verified on request, never loaded by the
package."""

_SHARD_RE = re.compile(r"\.data-\d{5}-of-\d{5}$")

SCHEMA_VERSION = 1
"""Version of the ``entry.json`` format written by :meth:`ModelEntry.to_json`."""

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_ROLE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")
_MEAN_TOLERANCE = 5e-3


def _fail(source, field: str, message: str) -> ConfigError:
    where = f"{source}: " if source is not None else ""
    return ConfigError(f"{where}field '{field}': {message}")


def _require_str(data: Mapping, key: str, source, prefix: str = "", allow_empty=False) -> str:
    field = prefix + key
    if key not in data:
        raise _fail(source, field, "missing; expected a string")
    value = data[key]
    if not isinstance(value, str):
        raise _fail(source, field, f"expected a string, got {type(value).__name__} {value!r}")
    if not allow_empty and not value.strip():
        raise _fail(source, field, "expected a non-empty string")
    return value


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_filename(filename: str, source=None, field: str = "filename") -> str:
    """Check that ``filename`` is a safe relative POSIX path with an allowed ending.

    Args:
        filename: path relative to the entry folder, e.g. ``"embeddings/aligned.npz"``.
        source: the entry file, named in the error.
        field: the field name used in the error.

    Returns:
        ``filename`` unchanged.

    Raises:
        ConfigError: empty, absolute, containing ``..``, a backslash or an empty
            component, or not ending in one of :data:`ALLOWED_SUFFIXES`.

    Example:
        >>> check_filename("embeddings/aligned.npz")
        'embeddings/aligned.npz'
    """
    if not isinstance(filename, str) or not filename:
        raise _fail(source, field, f"expected a non-empty relative path, got {filename!r}")
    if "\\" in filename or filename.startswith("/") or re.match(r"^[A-Za-z]:", filename):
        raise _fail(source, field, f"{filename!r} must be a relative POSIX path (forward slashes)")
    parts = filename.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise _fail(source, field, f"{filename!r} must not contain '..', '.' or empty components")
    if (
        parts[0] == EXPORTS_DIR
        and len(parts) > 2
        and (filename.lower().endswith(EXPORT_SUFFIXES) or _SHARD_RE.search(filename))
    ):
        return filename  # an export's file: fetched only on request, never loaded here
    if not filename.lower().endswith(ALLOWED_SUFFIXES):
        raise _fail(
            source,
            field,
            f"{filename!r} has a file type that is not accepted; expected one of "
            f"{', '.join(ALLOWED_SUFFIXES)} (files that load without executing code)",
        )
    return filename


def url_kind(url: str) -> str:
    """Classify a file ``url`` of an entry.

    Args:
        url: the ``url`` field of a file.

    Returns:
        ``"relative"`` (a path relative to the entry folder), ``"local"`` (an absolute local
        path), ``"file"`` (a ``file://`` URL) or ``"http"`` (``http://`` or ``https://``).

    Raises:
        ValueError: any other scheme (``ftp:``, ``hf:``, ``s3:``...) or an empty string.

    Example:
        >>> url_kind("https://example.org/m/model.keras"), url_kind("model.keras")
        ('http', 'relative')
    """
    if not isinstance(url, str) or not url:
        raise ValueError("expected a non-empty string")
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return "http"
    if scheme == "file":
        return "file"
    if os.path.isabs(url):
        return "local"
    if scheme and len(scheme) > 1:
        raise ValueError(
            f"URL scheme '{scheme}:' is not supported; expected a path relative to the entry, "
            "an absolute local path, a file:// URL or an http(s):// URL"
        )
    return "relative"


@dataclasses.dataclass(frozen=True)
class FileSpec:
    """One file of a zoo entry.

    Args:
        role: what the file is, unique within the entry: ``"model"`` (a ``.keras``
            model), ``"weights"``, ``"config"``, ``"report"``, ``"embeddings/<file>"``...
        filename: path relative to the entry folder and to the cache folder of the entry.
        size: size in bytes.
        sha256: lowercase hex SHA-256 of the content (64 characters).
        url: where to get it: a path relative to the entry folder, an absolute local
            path, a ``file://`` URL or an ``http(s)://`` URL.

    Example:
        >>> FileSpec("config", "config.json", 2, "0" * 64, "config.json").size
        2
    """

    role: str
    filename: str
    size: int
    sha256: str
    url: str

    @classmethod
    def from_dict(cls, data: Any, source=None, index: int = 0) -> FileSpec:
        """Build and validate a file description.

        Args:
            data: the JSON object ``{role, filename, size, sha256, url}``.
            source: the entry file, named in errors.
            index: position in the entry's ``files`` list, named in errors.

        Raises:
            ConfigError: naming ``files[<index>].<field>`` and the expected form.

        Example:
            >>> FileSpec.from_dict({"role": "config", "filename": "config.json", "size": 2,
            ...                     "sha256": "0" * 64, "url": "config.json"}).role
            'config'
        """
        prefix = f"files[{index}]."
        if not isinstance(data, Mapping):
            raise _fail(source, f"files[{index}]", f"expected an object, got {type(data).__name__}")
        unknown = sorted(set(data) - {"role", "filename", "size", "sha256", "url"})
        if unknown:
            raise _fail(
                source,
                prefix + unknown[0],
                "unknown field; expected role, filename, size, sha256, url",
            )
        role = _require_str(data, "role", source, prefix)
        if not _ROLE_RE.match(role):
            raise _fail(source, prefix + "role", f"{role!r}: expected letters, digits, '._-/'")
        filename = check_filename(
            _require_str(data, "filename", source, prefix), source, prefix + "filename"
        )
        size = data.get("size")
        if "size" not in data:
            raise _fail(
                source, prefix + "size", "missing; expected the size in bytes (an integer >= 0)"
            )
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _fail(source, prefix + "size", f"expected an integer >= 0, got {size!r}")
        sha = _require_str(data, "sha256", source, prefix)
        if not _SHA_RE.match(sha.lower()):
            raise _fail(
                source,
                prefix + "sha256",
                f"expected 64 hexadecimal characters, got {len(sha)} characters {sha!r}",
            )
        url = _require_str(data, "url", source, prefix)
        try:
            kind = url_kind(url)
        except ValueError as err:
            raise _fail(source, prefix + "url", f"{url!r}: {err}") from None
        if kind == "relative":
            check_filename(url, source, prefix + "url")
        return cls(role=role, filename=filename, size=size, sha256=sha.lower(), url=url)

    def to_dict(self) -> dict:
        """The JSON form of the file description."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """Figures of one evaluation of a zoo model.

    Args:
        dataset: e.g. ``"SEWA-DE (AVEC 2017)"``.
        partition: e.g. ``"devel"`` or ``"test"``.
        ccc: concordance correlation coefficient per target, e.g.
            ``{"arousal": 0.51, "valence": 0.44, "liking": 0.20}``.
        mean: mean of the per-target CCC.

    Example:
        >>> MetricSpec("SEWA", "devel", {"arousal": 0.5, "valence": 0.3}, 0.4).mean
        0.4
    """

    dataset: str
    partition: str
    ccc: dict
    mean: float

    @classmethod
    def from_dict(cls, data: Any, source=None, index: int = 0) -> MetricSpec:
        """Build and validate one metrics record.

        Args:
            data: the JSON object ``{dataset, partition, ccc, mean}``.
            source: the entry file, named in errors.
            index: position in the entry's ``metrics`` list, named in errors.

        Raises:
            ConfigError: naming ``metrics[<index>].<field>`` and the expected form.

        Example:
            >>> MetricSpec.from_dict({"dataset": "SEWA", "partition": "devel",
            ...                       "ccc": {"arousal": 0.5}, "mean": 0.5}).partition
            'devel'
        """
        prefix = f"metrics[{index}]."
        if not isinstance(data, Mapping):
            raise _fail(
                source, f"metrics[{index}]", f"expected an object, got {type(data).__name__}"
            )
        unknown = sorted(set(data) - {"dataset", "partition", "ccc", "mean"})
        if unknown:
            raise _fail(
                source, prefix + unknown[0], "unknown field; expected dataset, partition, ccc, mean"
            )
        dataset = _require_str(data, "dataset", source, prefix)
        partition = _require_str(data, "partition", source, prefix)
        ccc = data.get("ccc")
        if not isinstance(ccc, Mapping) or not ccc:
            raise _fail(
                source,
                prefix + "ccc",
                f'expected a non-empty object target -> CCC, e.g. {{"arousal": 0.5}}, got {ccc!r}',
            )
        for target, value in ccc.items():
            if not _is_number(value) or not -1.0 <= value <= 1.0:
                raise _fail(
                    source, f"{prefix}ccc.{target}", f"expected a number in [-1, 1], got {value!r}"
                )
        mean = data.get("mean")
        if "mean" not in data or not _is_number(mean):
            raise _fail(
                source,
                prefix + "mean",
                f"expected a number (mean of the per-target CCC), got {mean!r}",
            )
        expected = sum(ccc.values()) / len(ccc)
        if abs(mean - expected) > _MEAN_TOLERANCE:
            raise _fail(
                source,
                prefix + "mean",
                f"{mean!r} is not the mean of the per-target CCC ({expected:.4f})",
            )
        return cls(dataset=dataset, partition=partition, ccc=dict(ccc), mean=float(mean))

    def to_dict(self) -> dict:
        """The JSON form of the record."""
        return {
            "dataset": self.dataset,
            "partition": self.partition,
            "ccc": dict(self.ccc),
            "mean": self.mean,
        }


_REQUIRED = (
    "name",
    "version",
    "description",
    "variant",
    "config",
    "training",
    "metrics",
    "license",
    "files",
)
_OPTIONAL = ("schema", "citation", "created")


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """A pretrained model of the zoo: what it is, how it was trained, how good it is, its files.

    Args:
        name: registry name (letters, digits, ``._-``); also the entry's folder name.
        version: version string, e.g. ``"1.0.0"``; part of the cache path.
        description: one or two sentences for people.
        variant: model variant, e.g. ``"attention"``, ``"concat"``, ``"paralinguistic"``.
        config: the model/training configuration (the run's ``config.json``).
        training: ``{"data": ..., "command": ...}``: what it was trained on and how.
        metrics: evaluation records (:class:`MetricSpec`).
        license: licence of the weights (mind the licence of the training data).
        files: the files (:class:`FileSpec`), roles unique.
        citation: optional reference to cite.
        created: optional creation date (ISO 8601).
        path: the ``entry.json`` this entry was read from (not serialised); relative file
            URLs and bundled files are looked up beside it.

    Example:
        >>> entry = ModelEntry.from_json("zoo/my-model/entry.json")  # doctest: +SKIP
        >>> entry.file("model").filename  # doctest: +SKIP
        'best.keras'
    """

    name: str
    version: str
    description: str
    variant: str
    config: dict
    training: dict
    metrics: tuple
    license: str
    files: tuple
    citation: str | None = None
    created: str | None = None
    path: Path | None = dataclasses.field(default=None, compare=False)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, source=None, path: Path | None = None) -> ModelEntry:
        """Build an entry from its JSON object, validating every field.

        Args:
            data: the parsed JSON object.
            source: what to name in errors (defaults to ``path``).
            path: the ``entry.json`` the data came from, if any.

        Raises:
            ConfigError: naming the source, the field and the expected form.

        Example:
            >>> ModelEntry.from_dict({"name": "x"})  # doctest: +SKIP
            ConfigError: field 'version': missing; expected a string
        """
        source = source if source is not None else path
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(_REQUIRED) - set(_OPTIONAL))
        if unknown:
            raise _fail(
                source, unknown[0], f"unknown field; expected {', '.join(_REQUIRED + _OPTIONAL)}"
            )
        schema = data.get("schema", SCHEMA_VERSION)
        if schema != SCHEMA_VERSION:
            raise _fail(source, "schema", f"expected {SCHEMA_VERSION}, got {schema!r}")
        name = _require_str(data, "name", source)
        if not _NAME_RE.match(name):
            raise _fail(
                source, "name", f"{name!r}: expected letters, digits, '.', '_', '-' (max 128)"
            )
        version = _require_str(data, "version", source)
        if not _VERSION_RE.match(version) or ".." in version:
            raise _fail(
                source, "version", f"{version!r}: expected e.g. '1.0.0' (letters, digits, '.+_-')"
            )
        description = _require_str(data, "description", source)
        variant = _require_str(data, "variant", source)
        license_ = _require_str(data, "license", source)
        if "config" not in data or not isinstance(data["config"], Mapping):
            raise _fail(
                source,
                "config",
                f"expected an object (the model configuration), got {data.get('config')!r}",
            )
        training = data.get("training")
        if not isinstance(training, Mapping):
            raise _fail(
                source,
                "training",
                f'expected an object {{"data": ..., "command": ...}}, got {training!r}',
            )
        _require_str(training, "data", source, "training.")
        _require_str(training, "command", source, "training.")
        metrics = data.get("metrics")
        if not isinstance(metrics, list):
            raise _fail(
                source, "metrics", f"expected a list of evaluation records, got {metrics!r}"
            )
        metric_specs = tuple(MetricSpec.from_dict(m, source, i) for i, m in enumerate(metrics))
        files = data.get("files")
        if not isinstance(files, list) or not files:
            raise _fail(
                source, "files", f"expected a non-empty list of file descriptions, got {files!r}"
            )
        file_specs = tuple(FileSpec.from_dict(f, source, i) for i, f in enumerate(files))
        roles, names = set(), set()
        for i, spec in enumerate(file_specs):
            if spec.role in roles:
                raise _fail(
                    source, f"files[{i}].role", f"{spec.role!r} appears twice; roles must be unique"
                )
            if spec.filename in names:
                raise _fail(source, f"files[{i}].filename", f"{spec.filename!r} appears twice")
            roles.add(spec.role)
            names.add(spec.filename)
        optional = {}
        for key in ("citation", "created"):
            if key in data:
                optional[key] = _require_str(data, key, source)
        return cls(
            name=name,
            version=version,
            description=description,
            variant=variant,
            config=json.loads(json.dumps(data["config"])),
            training=dict(training),
            metrics=metric_specs,
            license=license_,
            files=file_specs,
            path=Path(path) if path is not None else None,
            **optional,
        )

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> ModelEntry:
        """Read and validate an ``entry.json`` file.

        Args:
            path: the ``entry.json`` file, or the entry folder holding it.

        Raises:
            ConfigError: the file is missing, is not JSON (line and column named) or has an
                invalid field (field named).

        Example:
            >>> entry = ModelEntry.from_json("zoo/my-model")  # doctest: +SKIP
        """
        path = Path(path)
        if path.is_dir():
            path = path / ENTRY_FILENAME
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"{path}: cannot read the zoo entry: {err.strerror or err}") from None
        except UnicodeDecodeError as err:
            raise ConfigError(
                f"{path}: not a text file (byte {err.start} is not UTF-8); expected the zoo "
                "entry's JSON"
            ) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(
                f"{path}:{err.lineno}: not valid JSON ({err.msg}, column {err.colno})"
            ) from None
        return cls.from_dict(data, source=path, path=path.resolve())

    def to_dict(self) -> dict:
        """The JSON object of the entry (``path`` is not included)."""
        data = {
            "schema": SCHEMA_VERSION,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "variant": self.variant,
            "license": self.license,
            "config": self.config,
            "training": dict(self.training),
            "metrics": [m.to_dict() for m in self.metrics],
            "files": [f.to_dict() for f in self.files],
        }
        if self.citation is not None:
            data["citation"] = self.citation
        if self.created is not None:
            data["created"] = self.created
        return data

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """Serialise the entry; write it atomically to ``path`` when given.

        Args:
            path: destination ``entry.json`` (written to a temporary name, then renamed).

        Returns:
            The JSON text.

        Example:
            >>> text = entry.to_json("zoo/my-model/entry.json")  # doctest: +SKIP
        """
        text = json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"
        if path is not None:
            write_text_atomic(Path(path), text)
        return text

    # -- helpers --------------------------------------------------------------------------
    @property
    def entry_dir(self) -> Path | None:
        """The folder holding the entry file (where bundled files live), if known."""
        return self.path.parent if self.path is not None else None

    @property
    def total_size(self) -> int:
        """Sum of the sizes of the entry's files in bytes."""
        return sum(f.size for f in self.files)

    @property
    def exports(self) -> dict:
        """``{format: [FileSpec, ...]}`` of the exports the entry carries (``exports/<format>/``)."""
        out: dict = {}
        for spec in self.files:
            parts = spec.filename.split("/")
            if parts[0] == EXPORTS_DIR and len(parts) > 2:
                out.setdefault(parts[1], []).append(spec)
        return out

    def file(self, role: str) -> FileSpec:
        """The file with the given role.

        Raises:
            ConfigError: no such role (the roles of the entry are listed).
        """
        for spec in self.files:
            if spec.role == role:
                return spec
        known = ", ".join(f.role for f in self.files)
        raise ConfigError(f"zoo entry '{self.name}' has no file with role '{role}'; roles: {known}")


def write_text_atomic(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :mod:`semser_tf.io`).

    Example:
        >>> write_text_atomic(Path("/tmp/example.json"), "{}")
    """
    atomic_write_text(path, text)
