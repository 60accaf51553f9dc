"""``PretrainedModel``: a trained model plus what turns audio (and words) into its inputs.

Built by the loaders of :mod:`semser_tf.zoo.pretrained` (``load_pretrained``, ``load_run``,
``load_preset_model``); predicts one file, many files or a live stream.
"""

from __future__ import annotations

from pathlib import Path

VOCABULARY_LM_MAX_WORDS = 5000
"""``language_model="auto"`` recognises with the model's own vocabulary up to this many words.

Measured with the bundled model (304 words) on held-out synthetic speech: valence CCC 0.576
with its vocabulary model, 0.292 with pocketsphinx's general English model (true words:
0.753; docs/measurements/results.md, "Words from audio"). A large vocabulary makes a weak unigram model,
so above this size the general model is kept."""


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
        recognizer_workers="auto",
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
        ``recognizer_workers``: pocketsphinx decoder processes, ``"auto"`` (default) or a
        whole number (``1``: one decoder in this process), see
        :func:`semser_tf.semantic.words.recognize`.
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
                workers=recognizer_workers,
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
        return WordSource(
            words_from, language_model=language_model, workers=recognizer_workers
        ).words(audio, sample_rate, words=words, transcript=transcript)

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
        recognizer_workers="auto",
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
            recognizer_workers: pocketsphinx decoder processes: ``"auto"`` (default: one
                per usable CPU, at most four, one for recordings under 60 s) or a whole
                number; ``1`` decodes in this process with one decoder
                (:mod:`semser_tf.semantic.words.parallel`).

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
                recognizer_workers,
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
                ``whisper_model``, ``recognizer_workers``, as :meth:`predict` takes them.
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
