"""Presets: one verified folder holding a :class:`SemserModel` and what its inputs must be.

In the manner of keras-hub's presets (``keras_hub/src/utils/preset_utils.py``: a
``config.json`` of the serialised model, ``model.weights.h5``, a ``metadata.json``), a
preset folder holds::

    config.json          the model, serialised (SemserModel.get_config: the architecture)
    model.weights.h5     its weights
    input_format.json    the input it expects (InputFormat: sample rate, frame length,
                         samples per frame, targets, label convention, semantic features)
    embeddings/          the aligned embeddings the semantic input is made from (optional)
    report.json ...      other JSON files carried along (optional)
    metadata.json        format, versions, parameter count, and every file above with its
                         size and SHA-256

:func:`load_preset` checks every listed file against ``metadata.json`` before reading
anything, and refuses a folder holding a file the manifest does not list (only a zoo
``entry.json`` and the package's owner marker may sit beside them). :func:`save_preset`
writes a temporary folder, then renames it into place, and replaces only a folder this
package wrote (:func:`semser_tf.io.check_replaceable`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from semser_tf.constants import DEFAULT_TARGETS, FRAME_RATE, SAMPLE_RATE, SAMPLES_PER_FRAME
from semser_tf.errors import ConfigError
from semser_tf.io import OWNER_MARKER, atomic_write_text, check_replaceable, mark_owned, replace_dir

PRESET_FORMAT = "semser-preset"
PRESET_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
INPUT_FORMAT_FILE = "input_format.json"
METADATA_FILE = "metadata.json"
EMBEDDINGS_DIR = "embeddings"
PRESET_KIND = "preset"
"""The owner-marker kind of a preset folder (:func:`semser_tf.io.mark_owned`)."""

BESIDE = ("entry.json", OWNER_MARKER)
"""Files that may sit in a preset folder without being in its manifest: a zoo registry
entry pointing at the folder, and the package's owner marker. Neither is ever loaded."""

CARRIED_SUFFIXES = (".json", ".npz", ".weights.h5")
"""File types a preset may carry besides its weights (nothing that runs code on load)."""

LABEL_CONVENTION = (
    "continuous ratings in [-1, 1], one per 100 ms frame; frame k covers "
    "[k/10 s, (k+1)/10 s) of the audio; the label of frame k+delay_frames is paired "
    "with the audio of frame k (AVEC 2017 / SEWA)"
)
"""The label convention of the package's corpora and loader."""

_CHUNK = 1 << 20


class PresetError(ConfigError):
    """A preset folder that cannot be used: missing, changed or unlisted files, or a bad record."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class InputFormat:
    """What a model's inputs must be: the record a preset carries in ``input_format.json``.

    Args:
        sample_rate: audio is resampled to this rate (22050 Hz).
        frame_rate: label frames per second (10: one prediction per 100 ms).
        frame_length: audio samples per label frame (2205).
        samples_per_frame: the model's waveform input per frame: ``frame_length``, or
            ``2 * frame_length`` with ``speaker_slots`` (the official two-slot layout:
            the frame's samples in slot 0 while the subject speaks, else in slot 1).
        speaker_slots: the two-slot layout.
        targets: the predicted dimensions, in output order.
        label_convention: how labels are aligned with the audio (:data:`LABEL_CONVENTION`).
        delay_frames: the annotation delay the model was trained with (frames).
        semantic_mode: ``lookup``, ``text`` or ``encode`` (see
            ``AlignedEmbeddings.frame_features``); ``None`` when the model was trained
            with zero semantic input (or has none).
        semantic_dim: size of the semantic vectors (``None`` without a semantic input).
        text_space: the word-vector space of the ``text`` mode (e.g. ``glove-6b-50d:100000``).
        frame_features: a description of the training's frame features.

    Example:

    >>> InputFormat(speaker_slots=True, samples_per_frame=4410).frame_length
    2205
    """

    sample_rate: int = SAMPLE_RATE
    frame_rate: int = FRAME_RATE
    frame_length: int = SAMPLES_PER_FRAME
    samples_per_frame: int = SAMPLES_PER_FRAME
    speaker_slots: bool = False
    targets: tuple[str, ...] = DEFAULT_TARGETS
    label_convention: str = LABEL_CONVENTION
    delay_frames: int = 0
    semantic_mode: str | None = None
    semantic_dim: int | None = None
    text_space: str | None = None
    frame_features: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "targets", tuple(self.targets))
        where = "input_format"
        if (
            self.sample_rate != SAMPLE_RATE
            or self.frame_rate != FRAME_RATE
            or self.frame_length != SAMPLES_PER_FRAME
        ):
            raise PresetError(
                f"{where}: sample_rate {self.sample_rate}, frame_rate {self.frame_rate}, frame_length "
                f"{self.frame_length}: this package reads audio at {SAMPLE_RATE} Hz in frames of "
                f"{SAMPLES_PER_FRAME} samples ({FRAME_RATE} per second)"
            )
        expected = self.frame_length * (2 if self.speaker_slots else 1)
        if self.samples_per_frame != expected:
            raise PresetError(
                f"{where}: samples_per_frame {self.samples_per_frame} contradicts speaker_slots="
                f"{self.speaker_slots} (expected {expected})"
            )
        if self.semantic_mode not in (None, "lookup", "text", "encode"):
            raise PresetError(
                f"{where}: semantic_mode: expected null, 'lookup', 'text' or 'encode', "
                f"got {self.semantic_mode!r}"
            )

    @property
    def uses_embeddings(self) -> bool:
        """Whether the semantic input was made from aligned embeddings (not zeros)."""
        return self.semantic_mode is not None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["targets"] = list(self.targets)
        return d

    @classmethod
    def from_dict(cls, data, source="input_format") -> InputFormat:
        if not isinstance(data, dict):
            raise PresetError(f"{source}: expected a JSON object of input-format fields")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise PresetError(
                f"{source}: unknown field(s) {', '.join(unknown)}; expected {', '.join(names)}"
            )
        try:
            return cls(**data)
        except PresetError as err:
            raise PresetError(f"{source}: {err}") from None

    @classmethod
    def for_model(
        cls,
        model,
        *,
        speaker_slots=None,
        delay_frames=0,
        semantic_mode=None,
        text_space=None,
        frame_features=None,
    ) -> InputFormat:
        """The input format of ``model`` (a SemserModel), with the training's semantic record."""
        spf = int(model.samples_per_frame)
        slots = (spf == 2 * SAMPLES_PER_FRAME) if speaker_slots is None else bool(speaker_slots)
        has_semantic = "semantic" in [t.name for t in model.inputs]
        return cls(
            samples_per_frame=spf,
            speaker_slots=slots,
            targets=tuple(model.targets),
            delay_frames=int(delay_frames or 0),
            semantic_mode=semantic_mode if has_semantic else None,
            semantic_dim=int(model.semantic_dim) if has_semantic else None,
            text_space=text_space if has_semantic else None,
            frame_features=frame_features if has_semantic else None,
        )

    def check_model(self, model, source) -> None:
        """Refuse a record that does not describe ``model``'s inputs and outputs."""
        problems = []
        if tuple(model.targets) != self.targets:
            problems.append(
                f"targets {list(self.targets)} but the model predicts {list(model.targets)}"
            )
        if (
            "waveform" in [t.name for t in model.inputs]
            and model.samples_per_frame != self.samples_per_frame
        ):
            problems.append(
                f"samples_per_frame {self.samples_per_frame} but the model takes {model.samples_per_frame}"
            )
        if "semantic" in [t.name for t in model.inputs] and self.semantic_dim not in (
            None,
            model.semantic_dim,
        ):
            problems.append(
                f"semantic_dim {self.semantic_dim} but the model takes {model.semantic_dim}"
            )
        if problems:
            raise PresetError(
                f"{source}: the input format does not match the model: " + "; ".join(problems)
            )


@dataclasses.dataclass
class Preset:
    """A loaded preset: the model, its input format, and where its files are.

    Attributes:
        model: the :class:`SemserModel`.
        input_format: the :class:`InputFormat`.
        path: the preset folder.
        metadata: ``metadata.json``.
        embeddings_dir: the verified ``embeddings/`` folder, or ``None``.
    """

    model: object
    input_format: InputFormat
    path: Path
    metadata: dict

    @property
    def embeddings_dir(self) -> Path | None:
        listed = self.metadata.get("files", {})
        return (
            self.path / EMBEDDINGS_DIR
            if any(f.startswith(EMBEDDINGS_DIR + "/") for f in listed)
            else None
        )

    def file(self, name: str) -> Path | None:
        """A carried file (e.g. ``report.json``) when the manifest lists it."""
        return self.path / name if name in self.metadata.get("files", {}) else None


def is_preset(path) -> bool:
    """Whether ``path`` is a folder holding a preset's ``metadata.json``."""
    meta = Path(path) / METADATA_FILE
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text(encoding="utf-8")).get("format") == PRESET_FORMAT
    except (ValueError, OSError, AttributeError):
        return False


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PresetError(f"{path}: the preset's {what} is not valid JSON ({err})") from None


def verify_preset(path) -> dict:
    """Check a preset folder against its manifest; return ``metadata.json``.

    Raises:
        PresetError: no preset there, a listed file missing or changed (size or SHA-256),
            or a file in the folder that the manifest does not list.
    """
    path = Path(path)
    meta_path = path / METADATA_FILE
    if not meta_path.is_file():
        raise PresetError(
            f"{path}: not a preset folder (no {METADATA_FILE}); expected a folder written by "
            "SemserModel.save_to_preset"
        )
    meta = _read_json(meta_path, "metadata")
    if not isinstance(meta, dict) or meta.get("format") != PRESET_FORMAT:
        raise PresetError(f"{meta_path}: field 'format': expected {PRESET_FORMAT!r}")
    if meta.get("version") != PRESET_VERSION:
        raise PresetError(
            f"{meta_path}: field 'version': {meta.get('version')!r}; this package reads version "
            f"{PRESET_VERSION}"
        )
    files = meta.get("files")
    if not isinstance(files, dict) or CONFIG_FILE not in files or INPUT_FORMAT_FILE not in files:
        raise PresetError(
            f"{meta_path}: field 'files': expected an object listing at least {CONFIG_FILE} and "
            f"{INPUT_FORMAT_FILE} with their size and sha256"
        )
    for rel, spec in files.items():
        if (
            not isinstance(rel, str)
            or rel.startswith("/")
            or "\\" in rel
            or any(p in ("", ".", "..") for p in rel.split("/"))
        ):
            raise PresetError(
                f"{meta_path}: field 'files': {rel!r} is not a relative path inside the preset"
            )
        target = path / rel
        if (
            not isinstance(spec, dict)
            or not isinstance(spec.get("sha256"), str)
            or not isinstance(spec.get("size"), int)
        ):
            raise PresetError(
                f'{meta_path}: field \'files.{rel}\': expected {{"size": int, "sha256": hex}}'
            )
        if not target.is_file() or target.is_symlink():
            raise PresetError(
                f"{target}: listed in {METADATA_FILE} but missing (or not a regular file)"
            )
        size = target.stat().st_size
        if size != spec["size"]:
            raise PresetError(
                f"{target}: changed since the preset was saved: {size} bytes, {METADATA_FILE} "
                f"lists {spec['size']}; refusing to load it"
            )
        actual = _sha256(target)
        if actual != spec["sha256"].lower():
            raise PresetError(
                f"{target}: changed since the preset was saved: SHA-256 {actual}, {METADATA_FILE} "
                f"lists {spec['sha256']}; refusing to load it"
            )
    for item in sorted(path.rglob("*")):
        rel = item.relative_to(path).as_posix()
        if item.is_dir() and not item.is_symlink():
            continue
        if rel in files or rel == METADATA_FILE or rel in BESIDE or rel.startswith("exports/"):
            continue  # exports/: a zoo entry's files for other runtimes, checked by the entry's SHA-256
        raise PresetError(
            f"{item}: not listed in {path / METADATA_FILE}; a preset holds only the files its "
            "manifest lists (each verified by its SHA-256), so it is refused"
        )
    return meta


def load_preset(preset, load_weights: bool = True, cls=None, **kwargs) -> Preset:
    """Load and verify a preset (a folder, or a zoo registry name); see the module doc.

    Args:
        preset: a preset folder, or a zoo name (fetched with
            :func:`semser_tf.zoo.presets.fetch_preset`).
        load_weights: load ``model.weights.h5`` (else a fresh initialisation).
        cls: the class expected (``SemserModel`` or a subclass).
        **kwargs: overrides of the model's config (``dtype``, ``name``...).

    Raises:
        PresetError: see :func:`verify_preset`; a config of another class; weights or an
            input format that do not fit the model.
    """
    import keras

    from semser_tf.models.semser_model import SemserModel

    cls = cls or SemserModel
    path = Path(preset) if not isinstance(preset, str) else Path(preset).expanduser()
    if not path.is_dir():
        if isinstance(preset, str) and "/" not in preset and os.sep not in preset:
            # a registry name: the zoo (an upper layer) resolves it to a verified local folder
            import importlib

            path = importlib.import_module("semser_tf.zoo.presets").fetch_preset(preset)
        else:
            raise PresetError(f"{path}: preset folder not found")
    meta = verify_preset(path)
    config = _read_json(path / CONFIG_FILE, "model config")
    registered = config.get("registered_name") if isinstance(config, dict) else None
    found = keras.saving.get_registered_object(registered) if isinstance(registered, str) else None
    if found is None or not (isinstance(found, type) and issubclass(found, cls)):
        raise PresetError(
            f"{path / CONFIG_FILE}: holds {registered!r}, expected a serialised "
            f"{cls.__name__} (registered as 'semser_tf>{cls.__name__}')"
        )
    config = {**config, "config": {**config.get("config", {}), **kwargs}}
    try:
        model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except (TypeError, ValueError) as err:
        raise PresetError(
            f"{path / CONFIG_FILE}: cannot build the model ({type(err).__name__}: "
            f"{' '.join(str(err).split())[:300]})"
        ) from None
    if load_weights:
        if WEIGHTS_FILE not in meta["files"]:
            raise PresetError(f"{path / METADATA_FILE}: lists no {WEIGHTS_FILE}")
        try:
            model.load_weights(path / WEIGHTS_FILE)
        except (ValueError, KeyError, OSError) as err:
            raise PresetError(
                f"{path / WEIGHTS_FILE}: the weights do not fit the model of {CONFIG_FILE} "
                f"({' '.join(str(err).split())[:300]})"
            ) from None
    fmt = InputFormat.from_dict(
        _read_json(path / INPUT_FORMAT_FILE, "input format"), str(path / INPUT_FORMAT_FILE)
    )
    fmt.check_model(model, path / INPUT_FORMAT_FILE)
    return Preset(model, fmt, path, meta)


def _copy_tree_files(src: Path, dst: Path) -> None:
    for item in sorted(src.rglob("*")):
        rel = item.relative_to(src)
        if item.is_symlink():
            raise ConfigError(
                f"{item}: symbolic links are not carried into a preset; copy the file"
            )
        if item.is_dir() or item.name.startswith("."):
            continue
        if not item.name.lower().endswith(CARRIED_SUFFIXES):
            raise ConfigError(
                f"{item}: file type not carried in a preset; expected one of {', '.join(CARRIED_SUFFIXES)}"
            )
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(item, dst / rel)


def _bare(model, config):
    """``model`` without its optimizer: a compiled model's ``save_weights`` also writes the
    optimizer's slots (a warm-started fused model's weights file tripled), which a preset,
    loaded into a fresh model, neither needs nor reads. Same class, config and weights."""
    import keras

    if getattr(model, "optimizer", None) is None:
        return model
    bare = keras.saving.deserialize_keras_object(config)
    bare.set_weights(model.get_weights())
    return bare


def save_preset(
    model,
    preset_dir,
    *,
    input_format: InputFormat | None = None,
    embeddings=None,
    extra_files: dict | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``model`` as a preset folder (see the module doc); returns the folder.

    Args:
        model: a :class:`SemserModel`.
        preset_dir: the folder to create.
        input_format: its :class:`InputFormat` (default :meth:`InputFormat.for_model`).
        embeddings: an aligned-embeddings folder to carry as ``embeddings/``.
        extra_files: ``{name: path}`` of JSON files to carry (``report.json``...).
        overwrite: replace an existing preset folder this package wrote.

    Raises:
        ConfigError: ``preset_dir`` exists (without ``overwrite``), or is not the package's
            preset folder, or holds an input; a non-JSON extra file.
    """
    import keras

    from semser_tf.models.semser_model import SemserModel

    if not isinstance(model, SemserModel):
        raise ConfigError(
            f"save_preset: expected a SemserModel, got {type(model).__name__} "
            "(semser_tf.models.builder.as_semser_model converts an older functional model)"
        )
    preset_dir = Path(preset_dir)
    extra = {str(k): Path(v) for k, v in (extra_files or {}).items()}
    reserved = {CONFIG_FILE, WEIGHTS_FILE, INPUT_FORMAT_FILE, METADATA_FILE, *BESIDE}
    for name, src in extra.items():
        if name in reserved or "/" in name or not name.endswith(".json"):
            raise ConfigError(
                f"extra file {name!r}: expected a top-level .json name other than {sorted(reserved)}"
            )
        if not src.is_file():
            raise ConfigError(f"{src}: extra file for the preset not found")
    if preset_dir.exists() and any(preset_dir.iterdir()) and not overwrite:
        raise ConfigError(
            f"{preset_dir}: exists; pass overwrite=True to replace a preset folder this package wrote"
        )
    check_replaceable(
        preset_dir, PRESET_KIND, inputs=[embeddings, *extra.values()], option="overwrite=True"
    )
    fmt = input_format or InputFormat.for_model(model)
    fmt.check_model(model, "input_format")
    preset_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(
        tempfile.mkdtemp(dir=preset_dir.parent, prefix=f".{preset_dir.name}.", suffix=".saving")
    )
    try:
        config = keras.saving.serialize_keras_object(model)
        for key in ("compile_config", "build_config"):  # as keras-hub's preset saver
            config.pop(key, None)
        atomic_write_text(tmp / CONFIG_FILE, json.dumps(config, indent=2, sort_keys=True) + "\n")
        _bare(model, config).save_weights(tmp / WEIGHTS_FILE)
        atomic_write_text(
            tmp / INPUT_FORMAT_FILE, json.dumps(fmt.to_dict(), indent=2, sort_keys=True) + "\n"
        )
        if embeddings is not None:
            _copy_tree_files(Path(embeddings), tmp / EMBEDDINGS_DIR)
        for name, src in extra.items():
            _read_json(src, name)
            shutil.copyfile(src, tmp / name)
        from semser_tf import __version__

        files = {}
        for item in sorted(tmp.rglob("*")):
            if item.is_file():
                rel = item.relative_to(tmp).as_posix()
                files[rel] = {"size": item.stat().st_size, "sha256": _sha256(item)}
        meta = {
            "format": PRESET_FORMAT,
            "version": PRESET_VERSION,
            "class_name": config.get("registered_name"),
            "keras_version": keras.version(),
            "semser_tf_version": __version__,
            "parameter_count": int(model.count_params()),
            "date_saved": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
            "files": files,
        }
        atomic_write_text(tmp / METADATA_FILE, json.dumps(meta, indent=2, sort_keys=True) + "\n")
        verify_preset(tmp)
        mark_owned(tmp, PRESET_KIND)
        os.chmod(tmp, 0o755)
        replace_dir(tmp, preset_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return preset_dir


__all__ = [
    "InputFormat",
    "Preset",
    "PresetError",
    "is_preset",
    "load_preset",
    "save_preset",
    "verify_preset",
    "LABEL_CONVENTION",
    "PRESET_FORMAT",
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "INPUT_FORMAT_FILE",
    "METADATA_FILE",
]
