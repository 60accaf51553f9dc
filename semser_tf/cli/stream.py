"""``semser stream``: live predictions of a WAV file, raw PCM on standard input or a microphone.

One line per 100 ms frame on standard output, flushed as soon as the frame is predicted:
JSON (``{"time": 0.0, "arousal": ..., "valence": ..., "liking": ...}`` plus
``w_paralinguistic`` / ``w_semantic`` for an attention model) or CSV with a header.
The rules (frames, resampling, the last partial frame, the semantic input) are those of
:meth:`semser_tf.inference.Predictor.stream`; docs/streaming.md.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from semser_tf.errors import ConfigError, DataError

FORMATS = {"s16le": ("<i2", 32768.0), "f32le": ("<f4", 1.0)}
"""Raw PCM formats of standard input: NumPy dtype and the scale to [-1, 1]."""


def _chunk_ms(value) -> int:
    if value < 100 or value % 100:
        raise ConfigError(
            f"--chunk-ms {value}: expected a positive multiple of 100 (ms; one frame is 100 ms)"
        )
    return int(value)


def pcm_chunks(stream, rate: int, chunk_ms: int, fmt: str = "s16le"):
    """Float chunks of ``chunk_ms`` from a binary stream of mono PCM (the last may be shorter).

    Raises:
        DataError: the stream ends inside a sample (naming ``--format``).
    """
    dtype, scale = FORMATS[fmt]
    width = np.dtype(dtype).itemsize
    want = rate * chunk_ms // 1000 * width
    read = getattr(stream, "read1", None) or stream.read
    while True:
        buf = bytearray()
        while len(buf) < want:
            part = read(want - len(buf))
            if not part:
                break
            buf += part
        if len(buf) % width:
            raise DataError(
                f"standard input ended with {len(buf) % width} byte(s) of an incomplete sample: "
                f"--format {fmt} has {width}-byte samples (the complete frames before it were written)"
            )
        if buf:
            yield np.frombuffer(bytes(buf), dtype).astype(np.float32) / scale
        if len(buf) < want:
            return


def wav_chunks(path, chunk_ms: int, realtime: bool = False):
    """22050 Hz float chunks of a WAV file (resampled as ``semser predict`` reads it)."""
    from semser_tf.constants import SAMPLE_RATE
    from semser_tf.inference import _WavStream

    stream = _WavStream(path)
    n = SAMPLE_RATE * chunk_ms // 1000
    t0 = time.monotonic()
    for k, start in enumerate(range(0, stream.total_out, n)):
        if realtime:
            wait = t0 + (k + 1) * chunk_ms / 1000 - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # the chunk's last sample "arrives" at its time
        yield stream.stream.resampled(start, min(start + n, stream.total_out))


def import_sounddevice():
    """The optional ``sounddevice`` module, or a ``ConfigError`` naming it."""
    try:
        import sounddevice
    except (ImportError, OSError) as err:
        raise ConfigError(
            f"--mic needs the optional 'sounddevice' package (and PortAudio); it cannot be imported "
            f"here ({err}); install it with 'pip install sounddevice', or pipe audio into "
            "'semser stream -' (e.g. arecord -f S16_LE -r 22050 -c 1 -t raw | semser stream -)"
        ) from None
    return sounddevice


def mic_chunks(rate: int, chunk_ms: int):
    """Chunks from the default microphone (the optional ``sounddevice`` package)."""
    sounddevice = import_sounddevice()
    n = rate * chunk_ms // 1000
    with sounddevice.InputStream(samplerate=rate, channels=1, dtype="float32", blocksize=n) as mic:
        try:
            while True:
                block, _overflowed = mic.read(n)
                yield np.asarray(block, np.float32)[:, 0]
        except KeyboardInterrupt:
            return


class LineWriter:
    """JSON lines or CSV rows, flushed one frame at a time."""

    def __init__(self, out, targets, weights: bool, csv: bool):
        self.out, self.targets, self.csv = out, tuple(targets), csv
        self.columns = ["time", *self.targets] + (
            ["w_paralinguistic", "w_semantic"] if weights else []
        )
        self.header = csv

    def write(self, frame):
        d = frame.as_dict(self.targets)
        if self.csv:
            if self.header:
                self.out.write(",".join(self.columns) + "\n")
                self.header = False
            line = ",".join([f"{d['time']:.1f}"] + [f"{d[c]:.5f}" for c in self.columns[1:]])
        else:
            line = json.dumps({k: (v if k == "time" else round(v, 5)) for k, v in d.items()})
        self.out.write(line + "\n")
        self.out.flush()


def _stream(args):
    import os

    from semser_tf.constants import SAMPLE_RATE
    from semser_tf.streaming import frame_samples
    from semser_tf.zoo.pretrained import load_pretrained

    chunk_ms = _chunk_ms(args.chunk_ms)
    if (args.source is None) == (not args.mic):
        raise ConfigError(
            "give a SOURCE (a WAV file, or - for raw PCM on standard input) or --mic, not both"
        )
    rate = args.rate
    try:
        frame_samples(rate)
    except ConfigError:
        raise ConfigError(
            f"--rate {rate}: expected a positive multiple of 10 Hz (100 ms must be a whole "
            "number of samples), e.g. 16000, 22050, 44100"
        ) from None
    if args.mic:
        import_sounddevice()
    if args.source not in (None, "-") and not os.path.isfile(args.source):
        raise DataError(
            "audio file not found (SOURCE: a WAV file, or - for standard input)", args.source
        )
    m = load_pretrained(args.model, offline=args.offline, progress=False)
    p = m.predictor(args.mode)
    if args.words is not None and args.words_from == "asr":
        raise ConfigError(
            "--words and --words-from asr: give the words up front or recognise them live, not both"
        )
    if args.words is None and m.uses_words and args.words_from == "none":
        print(
            "semser stream: no --words: the semantic input is zero (the voice alone); --words-from asr "
            "recognises the words live",
            file=sys.stderr,
        )
    live = None
    if args.words_from == "asr" and m.uses_words:
        from semser_tf.semantic.words.live import LiveWords

        live = LiveWords(
            SAMPLE_RATE, recognizer=args.recognizer, max_utterance=min(8.0, max(1.0, args.delay))
        )
        live.warm_up()  # the recogniser's model is loaded now, not at the first utterance
    if args.mic:
        chunks, sr = mic_chunks(rate, chunk_ms), rate
    elif args.source == "-":
        chunks, sr = pcm_chunks(sys.stdin.buffer, rate, chunk_ms, args.format), rate
    else:
        chunks, sr = wav_chunks(args.source, chunk_ms, args.realtime), SAMPLE_RATE
    # two 100 ms chunks of silence through the whole streaming path, so that what the first
    # chunk would pay (the step model's trace for one frame, the resampler's kernel, first-use
    # imports and ops) is paid before "ready", not by the first 100 ms of the user's audio
    silence = np.zeros(sr // 10, np.float32)
    for _ in p.stream([silence, silence], sr, words=args.words):
        pass
    writer = LineWriter(sys.stdout, p.targets, p._weights_model is not None, args.csv)
    print("semser stream: ready", file=sys.stderr, flush=True)
    try:
        kw = dict(words_from="asr", delay=args.delay, recognizer=live) if live is not None else {}
        for frame in p.stream(chunks, sr, words=args.words, **kw):
            writer.write(frame)
    except BrokenPipeError:  # the reader went away (e.g. | head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except KeyboardInterrupt:
        pass
    return 0


def register(sub):
    p = sub.add_parser(
        "stream",
        help="live predictions, one line per 100 ms frame, of a WAV file, raw PCM on "
        "standard input (-) or a microphone (--mic)",
    )
    p.add_argument(
        "source",
        nargs="?",
        default=None,
        help="a WAV file (streamed as fast as possible, or at real-time pace with --realtime), or - "
        "for raw mono PCM on standard input (--format, --rate), e.g. from arecord or sox",
    )
    p.add_argument(
        "--mic",
        action="store_true",
        help="read the default microphone (needs the optional sounddevice package) instead of SOURCE "
        "(default: off)",
    )
    p.add_argument(
        "--model", default=None, help="zoo name, entry path or run folder (default: bundled)"
    )
    p.add_argument(
        "--words",
        default=None,
        help="word timings file (start;end;word) known up front: exact semantic input (default: none, "
        "the semantic input is zero: the voice alone)",
    )
    p.add_argument(
        "--words-from",
        default="none",
        choices=("none", "asr"),
        help="none: the --words given, else zeros; asr: words recognised live, utterance by utterance "
        "(cut at 0.3 s pauses), each frame held until its words are known or --delay s have "
        "passed (default: %(default)s)",
    )
    p.add_argument(
        "--delay",
        type=float,
        default=3.0,
        help="with --words-from asr: the most seconds a prediction waits for its words "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--recognizer",
        default="auto",
        choices=("auto", "whisper", "pocketsphinx"),
        help="with --words-from asr: auto (whisper when installed), whisper or pocketsphinx "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--mode",
        default=None,
        help="semantic features: lookup or text (default: the model's; encode is not streamed)",
    )
    p.add_argument(
        "--chunk-ms",
        type=int,
        default=100,
        help="milliseconds of audio per chunk read, a multiple of 100 (default: 100)",
    )
    p.add_argument(
        "--rate",
        type=int,
        default=22050,
        help="sample rate in Hz of standard input or the microphone, a multiple of 10; resampled to "
        "22050 as it comes (default: 22050; a WAV file's own rate is read from it)",
    )
    p.add_argument(
        "--format",
        default="s16le",
        choices=tuple(FORMATS),
        help="raw PCM on standard input: s16le (16-bit little-endian) or f32le (32-bit float "
        "little-endian), mono (default: s16le)",
    )
    p.add_argument(
        "--realtime",
        action="store_true",
        help="read a WAV SOURCE at real-time pace, one chunk per chunk duration (default: off, as "
        "fast as possible)",
    )
    p.add_argument(
        "--csv",
        action="store_true",
        help="CSV with a header instead of JSON lines (default: off, JSON lines)",
    )
    p.add_argument("--offline", action="store_true", help="never download the model (default: off)")
    p.set_defaults(func=_stream)
