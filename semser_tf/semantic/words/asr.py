"""Words with their times from audio alone: recognition with pocketsphinx's bundled models.

The ``pocketsphinx`` wheel (5.1.1) carries an English acoustic model (``en-us``, a
semi-continuous HMM trained on 16 kHz speech), a trigram language model
(``en-us.lm.bin``) and the CMU pronouncing dictionary (``cmudict-en-us.dict``); nothing
is downloaded. The decoder wants 16 kHz mono 16-bit PCM, so audio is resampled here with
the project's resampler (:func:`semser_tf.data.audio.resample`, no delay), and every time
is reported in seconds of the original audio.

Decoding: recordings up to ``max_utterance`` seconds (60) are decoded as one utterance
(batch cepstral mean normalisation over the whole of it, pocketsphinx's ``-cmn batch``).
Longer ones are cut into utterances at pauses found by pocketsphinx's voice activity
detector (:class:`pocketsphinx.Endpointer`); a stretch of speech longer than
``max_utterance`` is cut at its quietest 10 ms frame near the limit. WAV files are read
and resampled in chunks (:mod:`~semser_tf.semantic.words.stream`) and utterances decoded
one at a time, so memory stays bounded by one utterance and a 30 s block whatever the
file's length (other formats are decoded whole first).

Output: one :class:`~semser_tf.types.WordTiming` per recognised word; pronunciation
variant tags (``to(3)`` -> ``to``) are removed and silence and filler tokens (``<s>``,
``</s>``, ``<sil>``, ``[NOISE]``, ``[SPEECH]``, anything in ``<>``, ``[]`` or ``++``) are
dropped. A word's span is ``[start_frame, end_frame + 1) / 100`` s (pocketsphinx frames
are 10 ms, end frames inclusive).

Bad input: audio shorter than ``MIN_DURATION`` (0.1 s, ten decoder frames) raises
:class:`RecognitionError`; digital silence (no 10 ms frame above ``SILENCE_DBFS``,
-50 dBFS) gives an empty list without decoding; 8 kHz telephone audio is upsampled to
16 kHz and decoded with the wideband model (the dither of :func:`utterance_pcm` fills
its empty band above 4 kHz; it works, with more errors: see docs/measurements/results.md).

Example:
    >>> from semser_tf.semantic.words import recognize
    >>> recognize("talk.wav")[:2]  # doctest: +SKIP
    [WordTiming(start=0.13, end=0.4, word='whether'), WordTiming(start=0.59, end=0.75, word='it')]
"""

from __future__ import annotations

import os
import pickle
import re
import sys
import threading
from pathlib import Path

import numpy as np

from semser_tf.types import WordTiming

from .stream import ASR_SAMPLE_RATE, RecognitionError

__all__ = [
    "ASR_SAMPLE_RATE",
    "MIN_DURATION",
    "SILENCE_DBFS",
    "RecognitionError",
    "prepare_audio",
    "is_silent",
    "clean_token",
    "speech_segments",
    "recognize",
]

FRAMES_PER_SECOND = 100
"""pocketsphinx's frame rate (``-frate``)."""

MIN_DURATION = 0.1
"""Shortest audio (seconds) accepted for recognition or alignment."""

SILENCE_DBFS = -50.0
"""Audio whose loudest 10 ms frame is below this level (dB re full scale) counts as silent
(above the -60 dBFS noise floor of the synthetic corpus and of the dither)."""

_VARIANT = re.compile(r"\(\d+\)$")
_FILLER = re.compile(r"^(<.*>|\[.*\]|\+\+.*\+\+|\+.*\+)$")

_LM_SEARCH = "_default"  # pocketsphinx's name for the search built from the default -lm

_lock = threading.RLock()
_decoders: dict = {}


def _pocketsphinx():
    try:
        import pocketsphinx
    except ImportError as err:  # pragma: no cover - pinned dependency
        raise RecognitionError(
            "the pocketsphinx package is not installed (pip install pocketsphinx==5.1.1)"
        ) from err
    return pocketsphinx


BEAMS = {
    "default": {},
    "narrow": {"beam": 1e-20, "pbeam": 1e-20, "wbeam": 1e-15},
    "wide": {"beam": 1e-80, "pbeam": 1e-80, "wbeam": 1e-60},
}
"""Decoder beam settings. Alignment tries them in this order until all words are reached:
with pocketsphinx 5.1.1 a word-level alignment sometimes stops before the last words,
and which beam succeeds varies (on 36 eSpeak sentences, 3 voices: 2 stopped early with the
default beams, none with the three in turn)."""

PAD_SECONDS = 0.3
"""Silence added before and after an utterance: the decoder's ``<s>``/``</s>`` silences need
frames of their own, and speech that starts or ends at the first or last sample (synthetic
speech) otherwise loses its edge words."""

DITHER_DBFS = -60.0
"""White noise (seeded) added to every utterance before decoding. Digital silence (exact
zeros) and the empty band above 4 kHz of upsampled 8 kHz audio give the acoustic model's
filterbank (up to 6.8 kHz) log-energies it never saw in training. Measured: without
padding or dither, 16 of 36 eSpeak sentences failed to align, with both 2 (0 after the
beam retries); on 113 Asterisk 8 kHz prompts the dither lowers WER from 0.712 to 0.679
(alignment failures 5 either way)."""


def decoder(key: str = "default", language_model=None):
    """The process's pocketsphinx decoder for beam setting ``key`` (see :data:`BEAMS`).

    Created once per process (per language model file: ``language_model``, an ARPA or
    binary model, e.g. from :func:`~semser_tf.semantic.words.language_model.build_language_model`;
    ``None``: the bundled ``en-us.lm.bin``); callers hold :data:`_lock` while using it.
    """
    lm = None
    if language_model is not None:
        p = Path(language_model)
        if not p.is_file():
            raise RecognitionError("language model file not found", p)
        lm = str(p.resolve())
        st = p.stat()
        cache = (key, lm, st.st_mtime_ns, st.st_size)
    else:
        cache = key
    with _lock:
        d = _decoders.get(cache)
        if d is None:
            ps = _pocketsphinx()
            try:
                d = ps.Decoder(loglevel="FATAL", **BEAMS[key], **({"lm": lm} if lm else {}))
            except (RuntimeError, ValueError) as err:
                raise RecognitionError(
                    f"pocketsphinx cannot load this language model: {err}; expected an "
                    "ARPA or binary n-gram file",
                    lm,
                ) from err
            _decoders[cache] = d
        return d


def fresh_front_end(d) -> None:
    """Return decoder ``d``'s feature extraction to its state at creation.

    pocketsphinx's noise removal (``-remove_noise``, on by default) updates its noise
    estimate with every utterance decoded, and a decoder lives as long as its process. So
    without a reset the words of a recording depended on what the process had decoded
    before it: the same utterance scored 0.3196 from a new decoder, 0.3231 after itself
    and 0.3135 after a burst of noise. Called at the start of every recording and every
    alignment, it makes their words the same whatever came before (the state still carries
    from one utterance of a recording to the next). Callers hold :data:`_lock`.
    """
    d.reinit_feat()


def fresh_decoders() -> None:
    """:func:`fresh_front_end` on every decoder this process has (alignment retries with
    the decoders of several beam settings)."""
    with _lock:
        for d in _decoders.values():
            fresh_front_end(d)


def utterance_pcm(x: np.ndarray) -> bytes:
    """PCM of one utterance as decoded: :data:`PAD_SECONDS` of silence each side, dithered.

    Times from the decoder are then ``PAD_SECONDS`` late (see :func:`decode_segments`).
    """
    pad = np.zeros(int(PAD_SECONDS * ASR_SAMPLE_RATE), np.float32)
    y = np.concatenate([pad, np.asarray(x, np.float32), pad])
    noise = np.random.default_rng(len(y)).standard_normal(len(y)).astype(np.float32)
    y += noise * np.float32(10.0 ** (DITHER_DBFS / 20.0))
    return to_pcm16(y)


def prepare_audio(audio, sample_rate: int | None = None):
    """Audio as 16 kHz mono float32, and the file it came from (or ``None``).

    Args:
        audio: a path (any format :func:`semser_tf.data.audio.decode_audio` reads) or an
            array ``(samples,)`` / ``(samples, channels)`` with ``sample_rate``.
        sample_rate: the rate of an array input (ignored for a path).

    Returns:
        ``(samples, path)``: float32 at :data:`ASR_SAMPLE_RATE` (the whole recording), and
        the path or ``None``. :func:`recognize` reads long WAV files in chunks instead
        (:mod:`~semser_tf.semantic.words.stream`).

    Raises:
        RecognitionError: an array without its rate, of a bad shape or with NaN/inf.
        DataError: a file that cannot be read (naming it).
    """
    from .stream import open_source

    src = open_source(audio, sample_rate)
    return src.read(0, src.total), src.path


def _frame_db(x: np.ndarray, frame: int = ASR_SAMPLE_RATE // FRAMES_PER_SECOND) -> np.ndarray:
    n = len(x) // frame
    if n == 0:  # shorter than one frame: the level of what there is
        if len(x) == 0:
            return np.full(1, -np.inf)
        return np.array([20.0 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)])
    rms = np.sqrt(np.mean(np.square(x[: n * frame].reshape(n, frame), dtype=np.float64), axis=1))
    return 20.0 * np.log10(rms + 1e-12)


def is_silent(x: np.ndarray, threshold_dbfs: float = SILENCE_DBFS) -> bool:
    """Whether no 10 ms frame of ``x`` (16 kHz float in [-1, 1]) reaches ``threshold_dbfs``.

    Example:
        >>> is_silent(np.zeros(16000, np.float32)), is_silent(np.full(16000, 0.1, np.float32))
        (True, False)
    """
    return bool(np.max(_frame_db(np.asarray(x, np.float32))) < threshold_dbfs)


def check_duration(x, path=None, what: str = "recognition") -> None:
    """Raise :class:`RecognitionError` for audio (16 kHz samples, or their count) shorter
    than :data:`MIN_DURATION`."""
    seconds = (x if isinstance(x, (int, np.integer)) else len(x)) / ASR_SAMPLE_RATE
    if seconds < MIN_DURATION:
        raise RecognitionError(
            f"audio too short for {what}: {seconds * 1000:.0f} ms; expected at least "
            f"{MIN_DURATION * 1000:.0f} ms of speech",
            path,
        )


def to_pcm16(x: np.ndarray) -> bytes:
    """16-bit little-endian PCM bytes of float samples in [-1, 1] (clipped)."""
    return (np.clip(x, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def clean_token(token: str) -> str | None:
    """A recogniser token as a word: variant tag removed; ``None`` for silence and fillers.

    Example:
        >>> clean_token("to(3)"), clean_token("<sil>"), clean_token("[NOISE]"), clean_token("don't")
        ('to', None, None, "don't")
    """
    token = _VARIANT.sub("", str(token).strip())
    if not token or _FILLER.match(token):
        return None
    return token


def decode_segments(d, x: np.ndarray, offset: float = 0.0, keep_fillers: bool = False):
    """Decode one utterance (16 kHz float) with decoder ``d`` (already set to a search).

    Returns ``(start, end, token)`` in seconds of ``x`` plus ``offset`` (the padding of
    :func:`utterance_pcm` removed, spans clipped to ``x``), variant tags removed; fillers
    are kept as ``None`` tokens when ``keep_fillers``. ``None`` when the search found no
    hypothesis.
    """
    d.start_utt()
    d.process_raw(utterance_pcm(x), no_search=False, full_utt=True)
    d.end_utt()
    if d.hyp() is None:
        return None
    out = []
    length = len(x) / ASR_SAMPLE_RATE
    for s in d.seg():
        word = clean_token(s.word)
        if word is None and not keep_fillers:
            continue
        a = min(max(s.start_frame / FRAMES_PER_SECOND - PAD_SECONDS, 0.0), length)
        b = min(max((s.end_frame + 1) / FRAMES_PER_SECOND - PAD_SECONDS, a), length)
        out.append((offset + a, offset + b, word))
    return out


def speech_segments(
    audio, max_utterance: float = 60.0, pad: float = 0.2, min_gap: float = 0.3
) -> tuple[list[tuple[int, int]], float]:
    """Sample ranges ``[a, b)`` of 16 kHz audio to decode as separate utterances.

    Audio up to ``max_utterance`` seconds is one range. Longer audio is split at the pauses
    pocketsphinx's voice activity detector (:class:`pocketsphinx.Endpointer`, default
    settings) finds, each speech region padded by ``pad`` seconds and regions closer than
    ``min_gap`` merged; a region longer than ``max_utterance`` is cut at its quietest 10 ms
    frame in the last third before the limit. The audio is scanned in 30 s blocks.

    Args:
        audio: a 16 kHz float array or an :class:`~semser_tf.semantic.words.stream.AudioSource`.

    Returns:
        ``(ranges, loudest)``: the ranges, and the level of the loudest 10 ms frame (dBFS).

    Example:
        >>> speech_segments(np.zeros(16000, np.float32))[0]
        [(0, 16000)]
    """
    from .stream import AudioSource, _ArraySource

    src = (
        audio
        if isinstance(audio, AudioSource)
        else _ArraySource(np.asarray(audio, np.float32), ASR_SAMPLE_RATE)
    )
    n = src.total
    limit = int(max_utterance * ASR_SAMPLE_RATE)
    hop = ASR_SAMPLE_RATE // FRAMES_PER_SECOND
    if n <= limit:
        return [(0, n)], float(np.max(_frame_db(src.read(0, n))))
    ps = _pocketsphinx()
    ep = ps.Endpointer(sample_rate=ASR_SAMPLE_RATE)
    step = ep.frame_bytes // 2
    regions, dbs = [], []
    start = None
    carry = np.zeros(0, np.float32)
    for _, x in src.blocks():
        dbs.append(_frame_db(x) if len(x) >= hop else np.full(1, -np.inf))
        buf = np.concatenate([carry, x])
        pcm = (np.clip(buf, -1.0, 1.0) * 32767.0).round().astype("<i2")
        m = (len(pcm) // step) * step
        for i in range(0, m, step):
            was = ep.in_speech
            speech = ep.process(pcm[i : i + step].tobytes())
            if speech is not None and not was:
                start = ep.speech_start
            if speech is not None and not ep.in_speech:
                regions.append((start, ep.speech_end))
                start = None
        carry = buf[m:]
    if ep.in_speech:
        regions.append((start if start is not None else ep.speech_start, n / ASR_SAMPLE_RATE))
    db = np.concatenate(dbs)
    merged = []
    for a, b in regions:
        a, b = max(0.0, a - pad), min(n / ASR_SAMPLE_RATE, b + pad)
        if merged and a - merged[-1][1] < min_gap:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    out = []
    for a, b in merged:
        ia, ib = int(a * ASR_SAMPLE_RATE), min(n, int(np.ceil(b * ASR_SAMPLE_RATE)))
        while ib - ia > limit:
            lo, hi = (ia + 2 * limit // 3) // hop, (ia + limit) // hop
            cut = (lo + int(np.argmin(db[lo:hi]))) * hop if hi > lo else ia + limit
            out.append((ia, cut))
            ia = cut
        if ib > ia:
            out.append((ia, ib))
    return out, float(db.max())


def recognize(
    audio,
    sample_rate: int | None = None,
    *,
    max_utterance: float = 60.0,
    language_model=None,
    workers="auto",
) -> list[WordTiming]:
    """Recognise English speech and time every word (pocketsphinx, bundled models).

    Args:
        audio: a path or an array (with ``sample_rate``), any rate, mono or multichannel.
        sample_rate: the rate of an array input.
        max_utterance: longest stretch (seconds) decoded as one utterance; longer audio is
            split at pauses (see :func:`speech_segments`).
        language_model: an ARPA/binary n-gram file of the domain's text (see
            :mod:`~semser_tf.semantic.words.language_model`); default: the bundled
            general English model.
        workers: decoder processes: ``"auto"`` (default: one per usable CPU, at most
            :data:`~semser_tf.semantic.words.parallel.MAX_AUTO_WORKERS`, and one for
            recordings shorter than
            :data:`~semser_tf.semantic.words.parallel.MIN_PARALLEL_SECONDS`), or a whole
            number >= 1. With more than one, a recording longer than ``max_utterance`` is
            cut between its utterances into that many contiguous parts, each decoded by a
            process of its own (:mod:`~semser_tf.semantic.words.parallel`); ``1`` decodes
            in this process with one decoder, as before.

    Returns:
        The recognised words, in order, times in seconds of the input; ``[]`` for silent
        audio (no 10 ms frame above :data:`SILENCE_DBFS`) or when nothing is recognised.

    Raises:
        RecognitionError: audio shorter than :data:`MIN_DURATION`, a bad array, or no
            sample rate for an array.
        ConfigError: a bad ``workers``.
        DataError: an unreadable file (naming it).

    Example:
        >>> import numpy as np
        >>> recognize(np.zeros(16000, np.float32), 16000)
        []
    """
    from .parallel import check_workers, resolve_workers
    from .stream import open_source

    check_workers(workers)
    src = open_source(audio, sample_rate)
    check_duration(src.total, src.path)
    n = resolve_workers(workers, src.total / ASR_SAMPLE_RATE)
    if n > 1 and src.total > int(max_utterance * ASR_SAMPLE_RATE):
        return recognize_parts(src, n, max_utterance=max_utterance, language_model=language_model)
    ranges, loudest = speech_segments(src, max_utterance)
    if loudest < SILENCE_DBFS:
        return []
    return decode_ranges(src, ranges, language_model)


def decode_ranges(src, ranges, language_model=None, fresh: bool = True) -> list[WordTiming]:
    """Decode the utterances ``ranges`` (16 kHz samples ``[a, b)`` of ``src``, an
    :class:`~semser_tf.semantic.words.stream.AudioSource`) in order with this process's
    decoder; times in seconds of ``src``. ``fresh``: from the decoder's state at creation
    (:func:`fresh_front_end`: a recording's start); ``False`` continues from the utterances
    decoded last (a part after its warm-up utterances)."""
    words = []
    with _lock:
        d = decoder(language_model=language_model)
        use_lm_search(d)
        if fresh:
            fresh_front_end(d)
        for a, b in ranges:
            for s, e, w in decode_segments(d, src.read(a, b), a / ASR_SAMPLE_RATE) or ():
                if e > s:
                    words.append(WordTiming(float(s), float(e), w))
    return words


def recognize_parts(
    src, n: int, *, max_utterance: float = 60.0, language_model=None
) -> list[WordTiming]:
    """Recognise ``src`` as at most ``n`` parts
    (:func:`~semser_tf.semantic.words.parallel.plan_parts`), each in a worker process of its
    own (:mod:`~semser_tf.semantic.words.parallel`).

    A WAV file's parts are read from the file by each worker; other sources (arrays,
    decoded FLAC/MP3/OGG) send their 16 kHz samples. Words come back in order, times in
    seconds of the recording. With one part (a recording without pauses) it is decoded
    in this process.

    Raises:
        RecognitionError: a worker failed (its message), or a missing language model file.
    """
    from pathlib import Path

    from semser_tf.data.audio import resample_numpy

    from .parallel import WARMUP_UTTERANCES, finish_workers, merge_parts, plan_parts, start_workers
    from .stream import _WavSource

    lm = None
    if language_model is not None:
        lm = Path(language_model)
        if not lm.is_file():
            raise RecognitionError("language model file not found", lm)
        lm = str(lm.resolve())
    wav = isinstance(src, _WavSource)
    workers = start_workers(n, {"language_model": lm})
    try:
        # the utterances one decoder would decode; a WAV file resampled without TensorFlow
        # (the same detector decisions as the TensorFlow resampler's samples on the files
        # of docs/measurements/benchmarks.md)
        scan = _WavSource(src.path, resample_numpy) if wav else src
        ranges, loudest = speech_segments(scan, max_utterance)
        if loudest < SILENCE_DBFS:
            return []
        plan = plan_parts(ranges, src.total, n)
        if len(plan) == 1:
            return decode_ranges(src, ranges, language_model)
        jobs = []
        for k, (start, stop, utterances) in enumerate(plan):
            before = [] if k == 0 else plan[k - 1][2][-WARMUP_UTTERANCES:]
            origin = before[0][0] if before else start  # where the worker's samples begin
            jobs.append(
                {
                    "path": str(src.path) if wav else None,
                    "start": start,
                    "stop": stop,
                    "origin": 0 if wav else origin,
                    "samples": None if wav else src.read(origin, stop),
                    "warmup": [(a - start, b - start) for a, b in before],
                    "ranges": [(a - start, b - start) for a, b in utterances],
                }
            )
        words = finish_workers(workers, jobs)
    finally:
        for p in workers:
            if p.poll() is None:
                p.kill()
                p.wait()
    return merge_parts(words, [start / ASR_SAMPLE_RATE for start, _, _ in plan])


def _run_part(job, language_model) -> list:
    """Decode one part's utterances (in a worker): ``(start, end, word)`` in seconds of the part."""
    from semser_tf.data.audio import resample_numpy

    from .parallel import _PartSource
    from .stream import _ArraySource, _WavSource

    if job["path"] is not None:
        whole = _WavSource(job["path"], resample_numpy)
    else:  # the samples from the first warm-up utterance on
        whole = _ArraySource(np.asarray(job["samples"], np.float32), ASR_SAMPLE_RATE)
    o = job["origin"]
    part = _PartSource(whole, job["start"] - o, job["stop"] - o)
    decode_ranges(part, job["warmup"], language_model)  # words discarded: state only
    words = decode_ranges(part, job["ranges"], language_model, fresh=False)
    return [(w.start, w.end, w.word) for w in words]


def _worker_main() -> None:  # pragma: no cover - runs in the worker process
    """A worker's body: set-up and job from stdin, ``("ok", words)`` or ``("error", message)``
    to stdout."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, not into the result
    setup = pickle.load(sys.stdin.buffer)
    try:
        decoder(language_model=setup["language_model"])  # loaded while the parent plans
        error = None
    except Exception as err:
        error = f"{type(err).__name__}: {err}"
    job = pickle.load(sys.stdin.buffer)
    if job is None:
        return
    try:
        if error is not None:
            raise RecognitionError(error)
        result = ("ok", _run_part(job, setup["language_model"]))
    except Exception as err:  # reported to the parent, which raises it
        result = ("error", f"{type(err).__name__}: {err}" if error is None else error)
    pickle.dump(result, out)
    out.close()


def use_lm_search(d) -> None:
    """Switch decoder ``d`` back to its language-model search (alignment switches it away)."""
    if d.current_search() != _LM_SEARCH:
        d.activate_search(_LM_SEARCH)
