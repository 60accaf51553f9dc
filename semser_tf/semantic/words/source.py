"""One object the rest of the package calls for words: :class:`WordSource`.

A word source answers "which words are spoken when" for one recording, from the first of
what is available (mode ``"auto"``): a word-timing file or list the user gives, else the
forced alignment of a transcript the user gives, else speech recognition. Modes ``"file"``,
``"align"``, ``"asr"`` and ``"none"`` force one route. Like a pretrained bundle
(torchaudio's ``pipelines`` bundles, SpeechBrain's ``from_hparams`` interfaces) it names
its model and input rate (``name``, ``sample_rate``) and does its own resampling, so callers
pass audio at any rate.

Example:
    >>> from semser_tf.semantic.words import WordSource
    >>> result = WordSource().words("talk.wav")                   # doctest: +SKIP
    >>> result.source, result.words[:1]                           # doctest: +SKIP
    ('asr', [WordTiming(start=0.13, end=0.4, word='whether')])
    >>> write_words("talk.words.csv", result.words)               # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from semser_tf.errors import ConfigError
from semser_tf.types import WordTiming

__all__ = [
    "MODES",
    "RECOGNIZERS",
    "resolve_recognizer",
    "WordSource",
    "WordsResult",
    "write_words",
    "format_words",
]

MODES = ("auto", "file", "asr", "align", "none")
"""Where words may come from (see :class:`WordSource`)."""

RECOGNIZERS = ("pocketsphinx", "whisper")


def resolve_recognizer(recognizer: str = "auto", language_model="auto") -> str:
    """``auto``: Whisper base when its packages are installed and no pocketsphinx language
    model is asked for, else pocketsphinx. Chosen by the numbers: on held-out speech of real
    English Whisper base's WER is 0.22-0.27 against pocketsphinx's 0.72-0.85, and the
    bundled model's valence from bare audio 0.66 against 0.34-0.44 (docs/measurements/results.md)."""
    if recognizer != "auto":
        return recognizer
    from semser_tf.semantic.words.whisper import whisper_installed

    pocketsphinx_lm = language_model is not None and not (
        isinstance(language_model, str) and language_model == "auto"
    )
    return "whisper" if whisper_installed() and not pocketsphinx_lm else "pocketsphinx"


"""Speech recognisers: pocketsphinx (:mod:`.asr`, a pinned dependency) and Whisper
(:mod:`.whisper`, optional: faster-whisper and a model package)."""


class WordsResult(NamedTuple):
    """Words of a recording and the route that produced them (``file``, ``align``, ``asr``, ``none``)."""

    words: list
    source: str


def format_words(words) -> str:
    """The project's word-file text: one ``start;end;word`` line per word, 3 decimals.

    Example:
        >>> format_words([WordTiming(0.0, 0.25, "hello")])
        '0.000;0.250;hello\\n'
    """
    return "".join(
        f"{float(w[0]):.3f};{float(w[1]):.3f};{str(w[2]).replace(chr(10), ' ')}\n" for w in words
    )


def write_words(path, words) -> Path:
    """Write word timings as a words file (``start;end;word``), atomically.

    The file reads back with :func:`semser_tf.data.timings.read_words`.
    """
    from semser_tf.io import atomic_write_text

    return atomic_write_text(path, format_words(words))


class WordSource:
    """Words of a recording from a file, a transcript's alignment, or recognition.

    Args:
        mode: ``"auto"`` (given words, else alignment of a given transcript, else
            recognition), ``"file"`` (only given words; none given: no words), ``"asr"``
            (recognition, ignoring any transcript), ``"align"`` (a transcript is
            required), ``"none"`` (no words: the semantic input stays zero).
        max_utterance: longest stretch recognised as one utterance (seconds).
        on_failure: alignment failures ``"raise"`` or fall back to ``"spread"``
            (character-count spreading over the sentence).
        language_model: an n-gram file of the domain's text for recognition
            (:func:`~semser_tf.semantic.words.language_model.build_language_model`);
            default: pocketsphinx's general English model (pocketsphinx only).
        recognizer: ``"pocketsphinx"`` (default) or ``"whisper"`` (faster-whisper,
            :func:`~semser_tf.semantic.words.whisper.recognize_whisper`).
        whisper_model: the Whisper model: ``"base"`` (packaged) or a CTranslate2 model folder.
        workers: pocketsphinx decoder processes: ``"auto"`` (default: one per usable CPU,
            at most four, one for short recordings) or a whole number; ``1`` decodes in
            this process with one decoder (see :mod:`~semser_tf.semantic.words.parallel`).

    Attributes:
        name: the recogniser (``pocketsphinx-5.1.1-en-us``, ``faster-whisper-1.2.1-base``).
        sample_rate: the rate the recogniser works at (16000); inputs are resampled.
    """

    sample_rate = 16000

    def __init__(
        self,
        mode: str = "auto",
        max_utterance: float = 60.0,
        on_failure: str = "raise",
        language_model=None,
        recognizer: str = "pocketsphinx",
        whisper_model="base",
        workers="auto",
    ):
        from .parallel import check_workers

        if mode not in MODES:
            raise ConfigError(f"word source mode {mode!r}: expected one of {', '.join(MODES)}")
        if on_failure not in ("raise", "spread"):
            raise ConfigError(f"on_failure={on_failure!r}: expected 'raise' or 'spread'")
        if recognizer not in RECOGNIZERS:
            raise ConfigError(
                f"recognizer {recognizer!r}: expected one of {', '.join(RECOGNIZERS)}"
            )
        if recognizer == "whisper" and language_model is not None:
            raise ConfigError(
                "a language model applies to recognizer 'pocketsphinx' only, not 'whisper'"
            )
        check_workers(workers)
        if recognizer == "whisper" and workers != "auto":
            raise ConfigError(
                f"workers={workers!r} applies to recognizer 'pocketsphinx' only, not 'whisper'"
            )
        self.workers = workers
        self.mode = mode
        self.recognizer = recognizer
        self.whisper_model = whisper_model
        self.max_utterance = float(max_utterance)
        self.on_failure = on_failure
        self.language_model = None if language_model is None else Path(language_model)

    @property
    def name(self) -> str:
        from importlib.metadata import version

        dist = "faster-whisper" if self.recognizer == "whisper" else "pocketsphinx"
        try:
            v = version(dist)
        except Exception:  # pragma: no cover
            v = "unknown"
        if self.recognizer == "whisper":
            return f"faster-whisper-{v}-{self.whisper_model}"
        return f"pocketsphinx-{v}-en-us"

    @property
    def cache_key(self) -> str:
        """Identifies the recogniser and settings (for caches of words per recording)."""
        lm = "default"
        if self.language_model is not None:
            import hashlib

            lm = hashlib.sha256(self.language_model.read_bytes()).hexdigest()[:16]
        key = f"{self.name}:utt={self.max_utterance:g}:fail={self.on_failure}:lm={lm}"
        # one decoder (workers=1) keeps the key of the versions before parallel decoding
        return key if self.workers == 1 else f"{key}:workers={self.workers}"

    def recognize(self, audio, sample_rate: int | None = None) -> list[WordTiming]:
        """Recognised words (see :func:`semser_tf.semantic.words.asr.recognize` and
        :func:`semser_tf.semantic.words.whisper.recognize_whisper`)."""
        if self.recognizer == "whisper":
            from .whisper import recognize_whisper

            return recognize_whisper(audio, sample_rate, model=self.whisper_model)
        from .asr import recognize

        return recognize(
            audio,
            sample_rate,
            max_utterance=self.max_utterance,
            language_model=self.language_model,
            workers=self.workers,
        )

    def align(self, audio, transcript, sample_rate: int | None = None) -> list[WordTiming]:
        """Aligned transcript words (see :func:`semser_tf.semantic.words.forced_align.align`)."""
        from .forced_align import align

        return align(audio, transcript, sample_rate, on_failure=self.on_failure)

    def words(
        self, audio, sample_rate: int | None = None, words=None, transcript=None
    ) -> WordsResult:
        """The words of one recording and where they came from.

        Args:
            audio: a path or an array (with ``sample_rate``).
            sample_rate: the rate of an array input.
            words: given word timings (a ``start;end;word`` file or ``WordTiming`` list).
            transcript: a text, timed sentences, or a ``Path`` to a transcript file.

        Raises:
            ConfigError: mode ``"align"`` without a transcript.
        """
        if self.mode == "none":
            return WordsResult([], "none")
        if words is not None and self.mode in ("auto", "file"):
            if isinstance(words, (str, Path)):
                from semser_tf.data.timings import read_words

                return WordsResult(read_words(words), "file")
            return WordsResult(
                [WordTiming(float(w[0]), float(w[1]), str(w[2])) for w in words], "file"
            )
        if self.mode == "file":
            return WordsResult([], "none")
        if transcript is not None and self.mode in ("auto", "align"):
            return WordsResult(self.align(audio, transcript, sample_rate), "align")
        if self.mode == "align":
            raise ConfigError("word source 'align' needs a transcript (text or file)")
        return WordsResult(self.recognize(audio, sample_rate), "asr")

    def __repr__(self) -> str:
        return f"WordSource(mode={self.mode!r}, recogniser={self.name!r})"
