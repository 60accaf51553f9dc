"""Speech with word timings from eSpeak NG (the ``espeakng-loader`` wheel, via ctypes).

The wheel ships ``libespeak-ng.so`` and its data folder; nothing is downloaded. The
library keeps global state and is not thread-safe: it is initialised once per process
(synchronous output, 22050 Hz) and every call holds a module lock.

Word timings come from eSpeak's ``espeakEVENT_WORD`` events: each carries the sample
index at which the word's audio starts (``espeak_EVENT.sample``, more precise than the
millisecond ``audio_position``) and the word's character span in the text. A word ends
where the next one starts, moved back over trailing silence (10 ms frames quieter than
-35 dB below the utterance's loudest frame); the last word ends where voiced audio ends.
When eSpeak speaks two words as one (it does for "was a"), the words without an event
share the span of the preceding one in proportion to their character lengths.

eSpeak NG keeps synthesis state between calls (e.g. the phase of its pitch flutter), so
the same call can give slightly different samples later in a process. Word timings are
unaffected; callers needing identical audio run each job in a fresh process (as
:mod:`semser_tf.data.synthetic` does).
"""

from __future__ import annotations

import ctypes
import os
import re
import threading

import numpy as np

from semser_tf.errors import ConfigError, SemserError
from semser_tf.types import WordTiming

__all__ = [
    "EspeakError",
    "list_variants",
    "list_voices",
    "sample_rate",
    "synthesize",
    "voiced_span",
]

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_PARAM = {"rate": 1, "volume": 2, "pitch": 3, "range": 4}
_RANGES = {"rate": (80, 450), "volume": (0, 200), "pitch": (0, 100), "pitch_range": (0, 100)}

SILENCE_DB = -35.0
"""Frames this many dB below the loudest 10 ms frame count as silence when trimming."""


class EspeakError(SemserError, RuntimeError):
    """eSpeak NG could not be loaded or failed to synthesise."""


class _Event(ctypes.Structure):
    # speak_lib.h: espeak_EVENT
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character index
        ("length", ctypes.c_int),  # characters, for word events
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),  # sample index from the start of the synthesis
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),  # union { int number; const char *name; char string[8]; }
    ]


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)

_lock = threading.RLock()
_state: dict = {}


def _collect(wav, numsamples, events):
    buf = _state["buffer"]
    if numsamples > 0 and wav:
        buf["chunks"].append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
    if events:
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_WORD:
                buf["words"].append((ev.sample, ev.text_position, ev.length))
            i += 1
    return 0


def _library():
    """Load and initialise libespeak-ng once; return the ctypes handle."""
    with _lock:
        if "lib" in _state:
            return _state["lib"]
        try:
            import espeakng_loader
        except ImportError as err:
            raise EspeakError(
                "eSpeak NG speech needs the espeakng-loader package, which is not installed: "
                "pip install 'semser-tf[synth]'"
            ) from err
        lib_path = espeakng_loader.get_library_path()
        data_path = espeakng_loader.get_data_path()
        try:
            lib = ctypes.CDLL(lib_path)
        except OSError as err:
            raise EspeakError(f"{lib_path}: cannot load libespeak-ng: {err}") from err
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        try:
            set_seed = lib.espeak_ng_SetRandSeed
            set_seed.argtypes = [ctypes.c_long]
            set_seed.restype = None
        except AttributeError:  # eSpeak NG before 1.52
            set_seed = None
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise EspeakError(f"{data_path}: espeak_Initialize failed (returned {rate})")
        callback = _CALLBACK(_collect)  # kept referenced: the library calls it later
        lib.espeak_SetSynthCallback(callback)
        _state.update(
            lib=lib,
            rate=rate,
            callback=callback,
            data_path=data_path,
            buffer=None,
            voice=None,
            set_seed=set_seed,
        )
        return lib


def sample_rate() -> int:
    """eSpeak NG's output rate in Hz (22050, the project's rate).

    Example:
        >>> sample_rate()
        22050
    """
    _library()
    return int(_state["rate"])


def list_voices() -> list[str]:
    """Identifiers of the installed eSpeak NG voices (languages), e.g. ``gmw/en-US``.

    Any of them (or its language code, e.g. ``en-us``) may be combined with a variant
    from :func:`list_variants` as ``"en-us+f3"``.

    Example:
        >>> "gmw/en" in list_voices()
        True
    """
    lib = _library()
    with _lock:
        arr = lib.espeak_ListVoices(None)
        out = []
        i = 0
        while arr[i]:
            ident = arr[i].contents.identifier
            if ident:
                out.append(ident.decode("utf-8", "replace"))
            i += 1
    return out


def list_variants() -> list[str]:
    """Names of the voice variants shipped in the data folder (``f1``, ``m3``, ``klatt``...).

    Example:
        >>> "f3" in list_variants()
        True
    """
    _library()
    folder = os.path.join(_state["data_path"], "voices", "!v")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def voiced_span(
    audio: np.ndarray,
    start: int = 0,
    end: int | None = None,
    frame: int = 220,
    silence_db: float = SILENCE_DB,
    reference: float | None = None,
) -> tuple[int, int]:
    """First and last non-silent sample (frame-accurate) of ``audio[start:end]``.

    Args:
        audio: 1-D float signal.
        start: first sample considered.
        end: one past the last sample considered (default: the end).
        frame: frame length in samples (220 = 10 ms at 22050 Hz).
        silence_db: frames below ``reference`` by more than this are silent.
        reference: RMS of 0 dB (default: the loudest frame of the whole signal).

    Returns:
        ``(onset, offset)`` sample indices; ``(start, start)`` if all is silent.

    Example:
        >>> voiced_span(np.r_[np.zeros(1000), np.ones(1000), np.zeros(1000)])
        (880, 2200)
    """
    audio = np.asarray(audio, dtype=np.float64)
    end = len(audio) if end is None else min(int(end), len(audio))
    start = max(0, int(start))
    if reference is None:
        reference = _frame_rms(audio, frame).max(initial=0.0)
    if end <= start or reference <= 0:
        return start, start
    seg = audio[start:end]
    rms = _frame_rms(seg, frame)
    loud = np.nonzero(rms > reference * 10.0 ** (silence_db / 20.0))[0]
    if loud.size == 0:
        return start, start
    return start + int(loud[0]) * frame, min(end, start + (int(loud[-1]) + 1) * frame)


def _frame_rms(x: np.ndarray, frame: int) -> np.ndarray:
    n = -(-len(x) // frame)
    if n == 0:
        return np.zeros(0)
    padded = np.zeros(n * frame)
    padded[: len(x)] = x
    return np.sqrt(np.mean(padded.reshape(n, frame) ** 2, axis=1))


def _check(name: str, value) -> int:
    lo, hi = _RANGES[name]
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(f"espeak {name} must be an integer in [{lo}, {hi}], got {value!r}")
    return int(value)


def synthesize(
    text: str,
    voice: str = "en",
    rate: int = 175,
    pitch: int = 50,
    volume: int = 100,
    pitch_range: int = 50,
    seed: int = 0,
) -> tuple[np.ndarray, list[WordTiming]]:
    """Speak ``text`` with eSpeak NG and time each word.

    Args:
        text: UTF-8 text (plain, not SSML).
        voice: voice name, optionally with a variant: ``"en"``, ``"en-us"``, ``"en+f3"``.
        rate: words per minute, 80..450.
        pitch: base pitch, 0..100 (eSpeak's scale).
        volume: amplitude, 0..200 (100 is eSpeak's default).
        pitch_range: pitch excursion, 0..100 (0 is monotone).
        seed: seed of eSpeak's noise generator (breathy variants such as ``f2``, ``f3``
            add noise; unseeded, eSpeak seeds it from the clock).

    Returns:
        ``(audio, words)``: float32 samples in [-1, 1] at 22050 Hz and one
        :class:`~semser_tf.types.WordTiming` per word in seconds, in order, with
        ``start <= end``; ``word`` is the text's span for that word.

    Raises:
        ConfigError: a parameter out of range or an unknown voice.
        EspeakError: the library could not be loaded or synthesis failed.

    Example:
        >>> audio, words = synthesize("the cake was wonderful")
        >>> [w.word for w in words]
        ['the', 'cake', 'was', 'wonderful']
    """
    if not isinstance(text, str):
        raise ConfigError(f"espeak text must be a str, got {type(text).__name__}")
    values = {
        "rate": _check("rate", rate),
        "pitch": _check("pitch", pitch),
        "volume": _check("volume", volume),
        "range": _check("pitch_range", pitch_range),
    }
    lib = _library()
    sr = _state["rate"]
    with _lock:
        if _state["voice"] != voice:
            if lib.espeak_SetVoiceByName(voice.encode("utf-8")) != 0:
                raise ConfigError(
                    f"unknown espeak voice {voice!r}; see list_voices() and list_variants()"
                )
            _state["voice"] = voice
        for key, val in values.items():
            lib.espeak_SetParameter(_PARAM[key], val, 0)
        if _state["set_seed"] is not None:
            _state["set_seed"](int(seed) & 0x7FFFFFFF)
        _state["buffer"] = {"chunks": [], "words": []}
        data = text.encode("utf-8")
        buf = ctypes.create_string_buffer(data)
        status = lib.espeak_Synth(buf, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise EspeakError(f"espeak_Synth failed with status {status} for text {text[:60]!r}")
        lib.espeak_Synchronize()
        result = _state["buffer"]
        _state["buffer"] = None
    chunks = result["chunks"]
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    audio = pcm.astype(np.float32) / 32768.0
    return audio, _word_timings(text, audio, result["words"], sr)


_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def _word_timings(text: str, audio: np.ndarray, events, sr: int) -> list[WordTiming]:
    """Turn word events into one timing per word of ``text``.

    eSpeak sometimes speaks two words as one (e.g. "was a") and emits one event for
    both; the words without an event join the group of the preceding event, whose span
    is then shared in proportion to the words' character lengths.
    """
    n = len(audio)
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
    if not tokens:
        return []
    ref = _frame_rms(audio.astype(np.float64), 220).max(initial=0.0)
    onsets = {}
    for sample, pos, length in events:
        if length <= 0:
            continue
        char = pos - 1
        for i, (a, b, _) in enumerate(tokens):
            if a <= char < b or (char < a and char + length > a):
                onsets.setdefault(i, min(max(int(sample), 0), n))
                break
    if not onsets:  # no events at all: spread the words over the voiced audio
        first, last = voiced_span(audio, 0, n, reference=ref)
        groups = [(first, last, list(range(len(tokens))))]
    else:
        order = sorted(onsets)
        leading = list(range(order[0]))  # words before the first event join it
        groups = []
        _, voiced_end = voiced_span(audio, 0, n, reference=ref)
        for j, i in enumerate(order):
            stop = order[j + 1] if j + 1 < len(order) else len(tokens)
            members = (leading if j == 0 else []) + list(range(i, stop))
            start = onsets[i]
            nxt = onsets[order[j + 1]] if j + 1 < len(order) else voiced_end
            nxt = max(nxt, start)
            _, end = voiced_span(audio, start, nxt, reference=ref)
            if end <= start:  # all silent: keep the event's span
                end = nxt
            groups.append((start, end, sorted(members)))
    words = []
    for start, end, members in groups:
        lengths = np.array([tokens[i][1] - tokens[i][0] for i in members], dtype=np.float64)
        edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(lengths) / lengths.sum()])
        for k, i in enumerate(members):
            words.append(WordTiming(float(edges[k]) / sr, float(edges[k + 1]) / sr, tokens[i][2]))
    words.sort(key=lambda w: w.start)
    return words
