"""``load_pretrained``: a zoo model ready to predict from audio (and words)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from semser_tf.errors import ConfigError
from semser_tf.zoo.pretrained_model import VOCABULARY_LM_MAX_WORDS as VOCABULARY_LM_MAX_WORDS
from semser_tf.zoo.pretrained_model import PretrainedModel as PretrainedModel
from semser_tf.zoo.pretrained_model import load_embeddings as load_embeddings

DEFAULT_MODEL = "semser-synthetic-attention"
"""The model ``load_pretrained()`` returns when no name is given (bundled, no network)."""


def _trained_with_embeddings(cfg: dict) -> bool:
    """Whether a run's recorded config says its semantic input came from embeddings (not zeros)."""
    features = str(cfg.get("frame_features") or "")
    return bool(
        cfg.get("semantic_mode")
        or cfg.get("embeddings")
        or (features and not features.startswith("ZeroFrameFeatures"))
    )


def _legacy_input_format(model, config, cfg):
    from semser_tf.models.preset import InputFormat

    mode = cfg.get("semantic_mode") or ("lookup" if _trained_with_embeddings(cfg) else None)
    training = cfg.get("training") if isinstance(cfg.get("training"), dict) else {}
    return InputFormat.for_model(
        model,
        speaker_slots=config.speaker_slots,
        delay_frames=training.get("delay_frames", 0),
        semantic_mode=mode,
        frame_features=cfg.get("frame_features"),
    )


def _with_embeddings(model, input_format, found, given, where):
    """The embeddings to use: ``given`` (a folder) over ``found`` (``(emb, folder)`` or ``None``);
    an error when the model's semantic input needs embeddings and there are none (never
    zeros in their place)."""
    if given is not None:
        emb = load_embeddings(given)
        if emb is None:
            raise ConfigError(
                f"embeddings={given}: no aligned-embeddings folder there "
                "(embeddings.json, embeddings.npz)"
            )
        found = (emb, Path(given))
    takes_semantic = "semantic" in [t.name for t in model.inputs]
    if takes_semantic and found is None and input_format.uses_embeddings:
        raise ConfigError(
            f"{where}: the model was trained with {input_format.semantic_mode!r} semantic features from aligned "
            "embeddings, but none came with it; pass embeddings=<folder> (the aligned embeddings it was trained "
            "with) rather than predicting from zeros in their place"
        )
    if takes_semantic and found is not None and found[0].dim != model.semantic_dim:
        raise ConfigError(
            f"{where}: embeddings of dimension {found[0].dim}, but the model's semantic input has "
            f"{model.semantic_dim}"
        )
    if (
        found is not None
        and input_format.text_space is None
        and getattr(found[0], "text_space", None)
    ):
        input_format = dataclasses.replace(input_format, text_space=found[0].text_space)
    return found, input_format


def load_run(run_dir, embedding_mode=None, embeddings=None) -> PretrainedModel:
    """A :class:`PretrainedModel` from a local run folder (``best.keras``, ``config.json``)."""
    from semser_tf.models.config import ModelConfig
    from semser_tf.training.run_folder import BEST, EMBEDDINGS_DIR, REPORT

    run_dir = Path(run_dir)
    model_path = next((run_dir / n for n in (BEST, "model.keras") if (run_dir / n).is_file()), None)
    if model_path is None:
        raise ConfigError(f"{run_dir}: no {BEST} or model.keras; expected a training run folder.")
    from semser_tf.models.builder import as_semser_model
    from semser_tf.models.builder import load_model as load_keras_model
    from semser_tf.semantic.embeddings import check_mode
    from semser_tf.training.run_folder import CONFIG, read_run_config

    cfg = read_run_config(run_dir / CONFIG)
    config = ModelConfig.from_dict(
        cfg.get("model", cfg), source=str(run_dir / CONFIG), recorded=True
    )
    check_mode(embedding_mode, cfg.get("semantic_mode"), run_dir / CONFIG)
    report_path = run_dir / REPORT
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    model = as_semser_model(load_keras_model(model_path), config)
    fmt = _legacy_input_format(model, config, cfg)
    emb = load_embeddings(run_dir / EMBEDDINGS_DIR)
    found, fmt = _with_embeddings(
        model,
        fmt,
        None if emb is None else (emb, run_dir / EMBEDDINGS_DIR),
        embeddings,
        str(run_dir),
    )
    return PretrainedModel(
        model,
        config,
        found and found[0],
        None,
        report,
        embedding_mode or cfg.get("semantic_mode") or "lookup",
        trained_mode=cfg.get("semantic_mode"),
        input_format=fmt,
        embeddings_dir=found and found[1],
        run_config=cfg,
    )


def load_preset_model(preset, embedding_mode=None, embeddings=None, entry=None) -> PretrainedModel:
    """A :class:`PretrainedModel` from a preset folder or a preset registry name
    (:meth:`semser_tf.models.SemserModel.from_preset`)."""
    from semser_tf.models.config import ModelConfig
    from semser_tf.models.preset import load_preset
    from semser_tf.semantic.embeddings import check_mode

    loaded = load_preset(preset)
    model, fmt = loaded.model, loaded.input_format
    where = f"preset {str(loaded.path)!r}" if entry is None else f"zoo entry {entry.name!r}"
    check_mode(embedding_mode, fmt.semantic_mode, where)
    run_cfg_path = loaded.file("run_config.json")
    run_cfg = json.loads(run_cfg_path.read_text(encoding="utf-8")) if run_cfg_path else None
    if run_cfg and isinstance(run_cfg.get("model"), dict):
        config = ModelConfig.from_dict(run_cfg["model"], source=str(run_cfg_path), recorded=True)
    else:
        config = ModelConfig.from_parts(model.architecture, speaker_slots=fmt.speaker_slots)
    report_path = loaded.file("report.json")
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path else {}
    emb_dir = loaded.embeddings_dir
    emb = None
    if emb_dir is not None:
        from semser_tf.semantic.embeddings import AlignedEmbeddings

        # verified by load_preset: every file under embeddings/ is listed in the manifest
        emb = AlignedEmbeddings.load(emb_dir)
    found, fmt = _with_embeddings(
        model, fmt, None if emb is None else (emb, emb_dir), embeddings, where
    )
    return PretrainedModel(
        model,
        config,
        found and found[0],
        entry,
        report,
        embedding_mode or fmt.semantic_mode or "lookup",
        trained_mode=fmt.semantic_mode,
        input_format=fmt,
        embeddings_dir=found and found[1],
        run_config=run_cfg,
    )


def load_pretrained(
    name: str | None = None,
    *,
    cache_dir=None,
    offline: bool = False,
    progress: bool = True,
    embedding_mode: str | None = None,
    timeout: float | None = None,
    embeddings=None,
) -> PretrainedModel:
    """Load a zoo model by name, entry path, preset folder or run folder; one line to a ready model.

    Resolution of each file: bundled with the package (no network), then the cache
    (``$SEMSER_TF_CACHE/zoo``, else ``$KERAS_HOME/semser_tf``, else ``~/.keras/semser_tf``;
    ``cache_dir`` overrides), then download from the entry's URL. Every file is checked
    against its sha256 before use; a mismatch is refused and the cached file removed.
    Only ``.keras`` (loaded with Keras safe mode), ``.weights.h5``, ``.json`` and ``.npz``
    (no pickles) files are ever read. A preset entry's folder is verified again against
    its own manifest (:meth:`semser_tf.models.SemserModel.from_preset`).

    Args:
        name: a registered model name (see :func:`list_pretrained`), the path of an
            ``entry.json`` or its folder, a preset folder, or a training run folder;
            default ``semser-synthetic-attention``, bundled.
        cache_dir: the download cache root.
        offline: never download.
        progress: show download progress.
        embedding_mode: semantic features from transcript words in the aligned speech
            table (``lookup``), their Word2Vec vectors (``text``), or from the speech
            segments (``encode``); default: the mode the model was trained with.
        timeout: seconds the downloads of the model's files may take in all (default
            :data:`semser_tf.zoo.download.DEFAULT_DEADLINE`, 30 minutes); a connection
            silent for 60 s (or ``timeout``, when shorter) fails at once.
        embeddings: an aligned-embeddings folder to use for the semantic input (e.g.
            fetched separately); without it a model trained with embeddings must bring
            its own, else a ``ConfigError`` (never zeros in their place).

    Returns:
        A :class:`PretrainedModel`: ``.model`` is the :class:`~semser_tf.models.SemserModel`,
        ``.predict("file.wav")`` the prediction.

    Example:

    >>> import semser_tf
    >>> m = semser_tf.load_pretrained()       # doctest: +SKIP
    """
    from semser_tf.models.config import ModelConfig
    from semser_tf.models.preset import is_preset
    from semser_tf.zoo.download import fetch_entry_files
    from semser_tf.zoo.presets import fetch_preset, is_preset_entry
    from semser_tf.zoo.registry import get_entry

    name = name or os.environ.get("SEMSER_DEFAULT_MODEL", DEFAULT_MODEL)
    path = Path(name)
    if path.is_dir() and not (path / "entry.json").is_file():
        if is_preset(path):
            return load_preset_model(path, embedding_mode, embeddings)
        from semser_tf.training.run_folder import CONFIG

        if (path / CONFIG).is_file():
            return load_run(path, embedding_mode, embeddings)
    entry = get_entry(name)
    from semser_tf.zoo.download import DEFAULT_DEADLINE, DEFAULT_TIMEOUT

    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ConfigError(f"timeout={timeout!r}: expected a positive number of seconds")
    deadline = DEFAULT_DEADLINE if timeout is None else float(timeout)
    if is_preset_entry(entry):
        folder = fetch_preset(
            entry,
            cache_dir,
            offline=offline,
            progress=progress,
            timeout=min(DEFAULT_TIMEOUT, deadline),
            deadline=deadline,
        )
        return load_preset_model(folder, embedding_mode, embeddings, entry=entry)
    # an entry of the older layout: a .keras model and the run's config.json
    files = fetch_entry_files(
        entry,
        cache_dir,
        offline=offline,
        progress=progress,
        timeout=min(DEFAULT_TIMEOUT, deadline),
        deadline=deadline,
    )
    if "model" not in files or "config" not in files:
        raise ConfigError(f"zoo entry {entry.name!r}: needs files with roles 'model' and 'config'.")
    from semser_tf.models.builder import as_semser_model
    from semser_tf.models.builder import load_model as load_keras_model
    from semser_tf.semantic.embeddings import check_mode

    try:
        cfg = json.loads(files["config"].read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"{files['config']}: the zoo entry's config is not valid JSON ({err})"
        ) from None
    config = ModelConfig.from_dict(
        cfg.get("model", cfg), source=f"{entry.name}: config", recorded=True
    )
    check_mode(embedding_mode, cfg.get("semantic_mode"), f"zoo entry {entry.name!r}")
    model = as_semser_model(load_keras_model(files["model"]), config)
    fmt = _legacy_input_format(model, config, cfg)
    found, fmt = _with_embeddings(
        model, fmt, _entry_embeddings(entry, files), embeddings, f"zoo entry {entry.name!r}"
    )
    report = json.loads(files["report"].read_text()) if "report" in files else {}
    return PretrainedModel(
        model,
        config,
        found and found[0],
        entry,
        report,
        embedding_mode or cfg.get("semantic_mode") or "lookup",
        trained_mode=cfg.get("semantic_mode"),
        input_format=fmt,
        embeddings_dir=found and found[1],
        run_config=cfg,
    )


def _entry_embeddings(entry, files):
    """The entry's aligned embeddings, read only from files the entry lists (and so verified).

    ``embeddings.json`` and ``embeddings.npz`` must both be listed; the Speech2Vec weights
    (``speech2vec.weights.h5``, the ``encode`` mode) are loaded only when listed too: a
    file that merely lies in the folder is never read.
    """
    listed = {
        role[len("embeddings/") :]: p for role, p in files.items() if role.startswith("embeddings/")
    }
    if not listed:
        return None
    from semser_tf.semantic.embeddings import AlignedEmbeddings

    missing = [n for n in ("embeddings.json", "embeddings.npz") if n not in listed]
    if missing:
        raise ConfigError(
            f"zoo entry {entry.name!r}: lists embeddings files but not {', '.join('embeddings/' + n for n in missing)}; "
            "every file the model loads must be listed (and verified)"
        )
    root = listed["embeddings.json"].parent
    return AlignedEmbeddings.load(root, load_speech2vec="speech2vec.weights.h5" in listed), root
