"""``load_pretrained``: a zoo model ready to predict from audio (and words)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from semser_tf.errors import ConfigError

DEFAULT_MODEL = "semser-synthetic-attention"

VOCABULARY_LM_MAX_WORDS = 5000
"""``language_model="auto"`` recognises with the model's own vocabulary up to this many words.

Measured with the bundled model (304 words) on held-out synthetic speech: valence CCC 0.576
with its vocabulary model, 0.292 with pocketsphinx's general English model (true words:
0.753; docs/measurements/results.md, "Words from audio"). A large vocabulary makes a weak unigram model,
so above this size the general model is kept."""
"""The model ``load_pretrained()`` returns when no name is given (bundled, no network)."""


def load_embeddings(folder):
    """Aligned embeddings from a folder (``None`` when the folder is absent or empty)."""
    if folder is None or not Path(folder).is_dir() or not any(Path(folder).iterdir()):
        return None
    from semser_tf.semantic.embeddings import AlignedEmbeddings

    return AlignedEmbeddings.load(folder)


class PretrainedModel:
    """A trained :class:`~semser_tf.models.SemserModel` plus what turns audio (and words)
    into its inputs.

    Attributes:
        model: the :class:`~semser_tf.models.SemserModel` (weights verified; no code
            from files).
        config: its run's :class:`~semser_tf.models.ModelConfig` (architecture + training).
        input_format: the :class:`~semser_tf.models.InputFormat` it expects.
        embeddings: the aligned embeddings for the semantic input, or ``None`` (only for
            a model trained with zero semantic input, or without one).
        entry: the zoo :class:`~semser_tf.zoo.ModelEntry` when loaded from the zoo.
        report: the metrics shipped with the model.

    Example:

    >>> import semser_tf
    >>> m = semser_tf.load_pretrained()                 # doctest: +SKIP
    >>> pred = m.predict("talk.wav", words="talk.csv")  # doctest: +SKIP
    >>> pred.to_csv("talk_pred.csv"); pred.plot("talk_pred.png")  # doctest: +SKIP
    >>> m.save_to_preset("my-preset")                    # doctest: +SKIP
    """

    def __init__(
        self,
        model,
        config,
        embeddings=None,
        entry=None,
        report=None,
        embedding_mode=None,
        trained_mode=None,
        input_format=None,
        embeddings_dir=None,
        run_config=None,
    ):
        from semser_tf.models.builder import as_semser_model
        from semser_tf.models.preset import InputFormat

        self.model = as_semser_model(model, config)
        self.trained_mode = trained_mode
        self.config = config
        self.embeddings = embeddings
        self.embeddings_dir = embeddings_dir
        self.entry = entry
        self.report = report or {}
        self.run_config = run_config
        self.embedding_mode = embedding_mode or "lookup"
        self.input_format = input_format or InputFormat.for_model(
            self.model,
            speaker_slots=getattr(config, "speaker_slots", None),
            semantic_mode=trained_mode,
            text_space=getattr(embeddings, "text_space", None),
        )

    def save_to_preset(self, preset_dir, overwrite: bool = False):
        """Write the model, its input format, embeddings and report as one preset folder
        (:meth:`semser_tf.models.SemserModel.save_to_preset`)."""
        import tempfile

        from semser_tf.io import atomic_write_json

        with tempfile.TemporaryDirectory() as tmp:
            extra = {}
            if self.report:
                extra["report.json"] = atomic_write_json(Path(tmp) / "report.json", self.report)
            if self.run_config:
                extra["run_config.json"] = atomic_write_json(
                    Path(tmp) / "run_config.json", self.run_config
                )
            return self.model.save_to_preset(
                preset_dir,
                input_format=self.input_format,
                embeddings=self.embeddings_dir,
                extra_files=extra,
                overwrite=overwrite,
            )

    @property
    def targets(self):
        return tuple(self.config.targets)

    @property
    def name(self):
        return self.entry.name if self.entry is not None else self.model.name

    def frame_features(self, mode=None):
        """The frame-feature function for the data pipeline (``None`` without embeddings)."""
        if self.embeddings is None:
            return None
        from semser_tf.semantic.embeddings import check_mode

        check_mode(mode, self.trained_mode, f"model {self.name!r}")
        return self.embeddings.frame_features(mode=mode or self.embedding_mode)

    def with_precision(self, precision: str) -> PretrainedModel:
        """The same pretrained model rebuilt under another dtype policy (e.g. ``mixed_bfloat16``).

        Args:
            precision: ``float32``, ``mixed_bfloat16`` or ``mixed_float16``.
        """
        from semser_tf.models.builder import with_precision

        return PretrainedModel(
            with_precision(self.model, self.config, precision),
            self.config,
            self.embeddings,
            self.entry,
            self.report,
            self.embedding_mode,
            self.trained_mode,
            self.input_format,
            self.embeddings_dir,
            self.run_config,
        )

    def predictor(self, mode=None):
        """The :class:`~semser_tf.inference.Predictor` of this model in a semantic ``mode``
        (default: the model's), built once per mode: its traced step model is reused by
        every later ``predict`` / ``stream`` call instead of being traced again."""
        from semser_tf.inference import Predictor

        cache = self.__dict__.setdefault("_predictors", {})
        if mode not in cache:
            cache[mode] = Predictor(
                self.model, self.config, self.frame_features(mode), input_format=self.input_format
            )
        return cache[mode]

    @property
    def uses_words(self) -> bool:
        """Whether the model has a semantic input and embeddings to fill it from words."""
        return self.embeddings is not None and "semantic" in [t.name for t in self.model.inputs]

    def vocabulary_language_model(self):
        """A unigram model of the embeddings' vocabulary (counts-weighted) for recognition.

        Written once to the cache folder (:func:`semser_tf.zoo.cache.cache_dir`), named by
        a hash of the vocabulary; ``None`` without embeddings.
        """
        if self.embeddings is None:
            return None
        import hashlib

        from semser_tf.semantic.words.language_model import vocabulary_language_model
        from semser_tf.zoo.cache import cache_dir

        words, counts = list(self.embeddings.words), self.embeddings.counts
        key = hashlib.sha256(("\n".join(words) + repr(counts)).encode()).hexdigest()[:16]
        path = cache_dir() / "language_models" / f"vocabulary-{key}.arpa"
        if not path.is_file():
            vocabulary_language_model(words, path, counts)
        return path

    def words(
        self,
        audio,
        sample_rate=None,
        words=None,
        transcript=None,
        words_from="auto",
        language_model="auto",
        recognizer="auto",
        whisper_model="base",
    ):
        """The words of a recording: given, aligned from a transcript, or recognised.

        See :class:`semser_tf.semantic.words.WordSource`; returns its ``WordsResult``
        (``words``, ``source``). ``language_model``: ``"auto"`` (default: ``"vocabulary"`` for
        a model whose vocabulary has at most :data:`VOCABULARY_LM_MAX_WORDS` words, else
        ``"general"``), ``"vocabulary"`` (:meth:`vocabulary_language_model`), ``"general"``
        (pocketsphinx's general English model), or an n-gram file (pocketsphinx only).
        ``recognizer``: ``"auto"`` (default: Whisper when installed, see
        :func:`~semser_tf.semantic.words.source.resolve_recognizer`), ``"pocketsphinx"`` or
        ``"whisper"`` (``whisper_model``: ``"base"``
        or a CTranslate2 folder; ``language_model`` must stay ``"auto"``).
        """
        from semser_tf.semantic.words import WordSource
        from semser_tf.semantic.words.source import resolve_recognizer

        recognizer = resolve_recognizer(recognizer, language_model)
        if recognizer == "whisper":
            if language_model is None or (
                isinstance(language_model, str) and language_model == "auto"
            ):
                language_model = None
            return WordSource(
                words_from,
                language_model=language_model,
                recognizer="whisper",
                whisper_model=whisper_model,
            ).words(audio, sample_rate, words=words, transcript=transcript)
        if language_model is None or (isinstance(language_model, str) and language_model == "auto"):
            small = (
                self.embeddings is not None
                and len(self.embeddings.words) <= VOCABULARY_LM_MAX_WORDS
            )
            language_model = "vocabulary" if small else "general"
        if isinstance(language_model, str) and language_model == "vocabulary":
            language_model = self.vocabulary_language_model()
        elif isinstance(language_model, str) and language_model == "general":
            language_model = None
        return WordSource(words_from, language_model=language_model).words(
            audio, sample_rate, words=words, transcript=transcript
        )

    def predict(
        self,
        audio,
        words=None,
        sample_rate=None,
        mode=None,
        progress=False,
        transcript=None,
        words_from="auto",
        language_model="auto",
        recognizer="auto",
        whisper_model="base",
    ):
        """Per-frame predictions (10 Hz) for a WAV/FLAC/MP3/OGG file or an array.

        Without ``words`` the words come from the audio (``words_from="auto"``): the forced
        alignment of ``transcript`` when one is given, else English speech recognition
        (pocketsphinx, :mod:`semser_tf.semantic.words`); ``words_from="none"`` leaves the
        semantic input at zero, as before recognition existed.

        Args:
            audio: a path, or a 1-D array with ``sample_rate``.
            words: optional word timings (``start;end;word`` file or list of WordTiming).
            sample_rate: the rate of an array input.
            mode: ``lookup`` (transcript words) or ``encode`` (speech encodings of the
                word segments); default: the model's.
            progress: show a progress bar.
            transcript: a text, timed sentences, or a ``Path`` to a transcript file, to
                align when ``words`` are not given.
            words_from: ``auto``, ``file``, ``asr``, ``align`` or ``none``.
            language_model: for recognition: ``"auto"`` (default; see :meth:`words`: the
                model's own vocabulary for the bundled model), ``"vocabulary"``,
                ``"general"`` (pocketsphinx's general English model), or an n-gram file of
                the domain's text
                (:func:`semser_tf.semantic.words.language_model.build_language_model`).
            recognizer: ``"pocketsphinx"`` (default) or ``"whisper"`` (faster-whisper;
                :mod:`semser_tf.semantic.words.whisper`).
            whisper_model: ``"base"`` (packaged) or a CTranslate2 Whisper model folder.

        Returns:
            A :class:`semser_tf.inference.Prediction` (``times``, ``values``, ``targets``,
            modality ``weights`` for attention models, the ``words`` used and their
            ``words_source``; ``to_csv``, ``plot``).
        """
        if self.uses_words:
            used, source = self.words(
                audio,
                sample_rate,
                words,
                transcript,
                words_from,
                language_model,
                recognizer,
                whisper_model,
            )
        else:  # the words cannot change the prediction: do not recognise
            from semser_tf.data.timings import read_words_arg

            used, source = read_words_arg(words), ("file" if words is not None else "none")
        pred = self.predictor(mode).predict(
            audio, words=used, sample_rate=sample_rate, progress=progress
        )
        pred.words, pred.words_source = used, source
        return pred

    def predict_many(
        self, items, words=None, sample_rate=None, mode=None, batch_size=32, **options
    ):
        """:meth:`predict` for many recordings, several per model call: one
        :class:`~semser_tf.inference.Prediction` per item, in order, each equal to
        ``predict(item, words=words[i], ...)`` within float rounding
        (:meth:`semser_tf.inference.Predictor.predict_many`).

        Args:
            items: paths and/or 1-D arrays (``sample_rate``: one number or one per item).
            words: ``None`` or one entry per item (``None``, a words file or a list of
                ``WordTiming``); an item without words gets them as :meth:`predict`
                does (recognised by default).
            batch_size: the most recordings per model call.
            **options: ``words_from``, ``language_model``, ``recognizer``,
                ``whisper_model``, as :meth:`predict` takes them.
        """
        items = list(items)
        out = [None] * len(items)
        for i, pred in self.iter_predict_many(
            items, words, sample_rate, mode, batch_size, **options
        ):
            out[i] = pred
        return out

    def iter_predict_many(
        self, items, words=None, sample_rate=None, mode=None, batch_size=32, **options
    ):
        """:meth:`predict_many` as ``(index, Prediction)`` pairs, yielded batch by batch (in
        order of length); an item's words are found just before its batch is predicted
        (:func:`semser_tf.inference_batch.iter_pretrained`)."""
        from semser_tf.inference_batch import iter_pretrained

        return iter_pretrained(self, items, words, sample_rate, mode, batch_size, **options)

    def __repr__(self):
        return f"PretrainedModel({self.name!r}, variant={self.config.variant!r}, targets={self.targets})"


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
