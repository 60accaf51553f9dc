"""Live streaming speed: compute time per 100 ms chunk, real-time factor, memory over a long stream.

``Predictor.stream`` is fed a generated signal (silence alternating with tone bursts, made
chunk by chunk so the source holds no memory) as fast as it takes it. For each chunk the
time from handing it over to receiving its frame's prediction is the compute time of that
chunk (resampling when ``--rate`` is not 22050, framing, the semantic input, one step of
the stateful model). The real-time factor is the total compute time over the audio's
duration (below 1: faster than real time). The resident memory (RSS) is sampled every
simulated minute to show it stays flat; the peak is ``ru_maxrss``.

    python benchmarks/streaming.py --model bundled --minutes 60
    python benchmarks/streaming.py --model paper --minutes 5
    python benchmarks/streaming.py --model bundled --minutes 5 --rate 16000
    python benchmarks/streaming.py --model bundled --offline-speed 10   # predict, both window rules
    python benchmarks/streaming.py --model bundled --minutes 3 --words-from asr   # words recognised live

With ``--words-from asr`` the source is synthetic speech (eSpeak NG, one generated minute
repeated) and the per-chunk time is the time ``Predictor.stream`` keeps each chunk before
asking for the next (framing, the model, and the recognition of each utterance as it ends).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def source(minutes, rate, chunk_ms, stamps):
    """Chunks of silence (1 s) and tones (1 s, 150-450 Hz), generated as they are asked for."""
    n = rate * chunk_ms // 1000
    t = np.arange(n) / rate
    for k in range(int(minutes * 60 * 1000 // chunk_ms)):
        sec = k * chunk_ms // 1000
        x = (
            0.3 * np.sin(2 * np.pi * (150 + 30 * (sec % 11)) * (t + k * chunk_ms / 1000))
            if sec % 2
            else np.zeros(n)
        ).astype(np.float32)
        stamps[0] = time.perf_counter()  # only the last: the benchmark itself keeps no growing list
        yield x


def speech_source(minutes, chunk_ms, ticks):
    """Chunks of one generated minute of speech, repeated; ``ticks`` gets the time each is handed over."""
    from semser_tf.data.synthetic import generate_recording

    audio = generate_recording("Test_01", 60.0, "en-us+m3", 5).audio
    n = 22050 * chunk_ms // 1000
    for k in range(int(minutes * 60 * 1000 // chunk_ms)):
        i = (k * n) % (len(audio) - n)
        ticks.append(time.perf_counter())
        yield audio[i : i + n]
    ticks.append(time.perf_counter())


def live_words_speed(p, label, minutes, chunk_ms, delay):
    """Per-chunk processing time of streaming with words recognised live."""
    from semser_tf.semantic.words.live import LiveWords

    live = LiveWords(22050, max_utterance=min(8.0, max(1.0, delay)))  # as Predictor.stream makes it
    live.warm_up()
    list(p.stream(speech_source(0.1, chunk_ms, []), 22050))  # traced before timing
    ticks = []
    t0 = time.perf_counter()
    frames = sum(
        1
        for _ in p.stream(
            speech_source(minutes, chunk_ms, ticks),
            22050,
            words_from="asr",
            delay=delay,
            recognizer=live,
        )
    )
    wall = time.perf_counter() - t0
    c = np.diff(np.array(ticks)) * 1000
    from semser_tf.semantic.words.source import resolve_recognizer

    print(
        json.dumps(
            {
                "model": label,
                "words_from": "asr",
                "recogniser": resolve_recognizer("auto"),
                "delay_s": delay,
                "minutes": minutes,
                "chunk_ms": chunk_ms,
                "frames": frames,
                "utterances": live.utterances,
                "chunk_ms_p50": round(float(np.percentile(c, 50)), 2),
                "chunk_ms_p99": round(float(np.percentile(c, 99)), 2),
                "chunk_ms_max": round(float(c.max()), 1),
                "real_time_factor": round(wall / (minutes * 60), 4),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "load": os.getloadavg()[0],
            },
            indent=1,
        )
    )


def build(which):
    if which == "bundled":
        import semser_tf

        m = semser_tf.load_pretrained(offline=True, progress=False)
        return m.predictor(), f"{m.name} ({m.model.count_params():,} parameters)"
    import keras

    from semser_tf.inference import Predictor
    from semser_tf.models import ModelConfig, build_model

    keras.utils.set_random_seed(0)
    config = ModelConfig()
    model = build_model(config)
    return Predictor(
        model, config
    ), f"paper-size attention, ModelConfig() ({model.count_params():,} parameters)"


def offline_speed(p, label, minutes):
    """audio-s/s of ``Predictor.predict`` on a WAV file under both window rules."""
    import sys
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from semser_tf.data.audio import save_wav
    from tests.inference.conftest import speechlike

    with tempfile.TemporaryDirectory() as tmp:
        path = save_wav(Path(tmp) / "speech.wav", speechlike(minutes * 60, seed=1), 22050)
        for reset in (False, True):  # warm-up: tracing
            p.predict(speechlike(30.0), sample_rate=22050, window_reset=reset)
        rows = []
        for rnd in (1, 2, 3):
            for reset in (False, True):
                t = time.perf_counter()
                p.predict(path, window_reset=reset)
                dt = time.perf_counter() - t
                rows.append(
                    {
                        "round": rnd,
                        "rule": "window_reset" if reset else "carried",
                        "seconds": round(dt, 3),
                        "audio_s_per_s": round(minutes * 60 / dt),
                    }
                )
    print(
        json.dumps(
            {
                "model": label,
                "minutes": minutes,
                "windows_per_call": p.windows_per_call,
                "runs": rows,
                "load": os.getloadavg()[0],
            },
            indent=1,
        )
    )


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--model",
        default="bundled",
        choices=("bundled", "paper"),
        help="the bundled zoo model or the paper-size attention model (random weights)",
    )
    ap.add_argument("--minutes", type=float, default=60.0, help="length of the stream (default 60)")
    ap.add_argument(
        "--rate", type=int, default=22050, help="input rate in Hz (default 22050: no resampling)"
    )
    ap.add_argument("--chunk-ms", type=int, default=100, help="chunk length (default 100)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument(
        "--words-from",
        default="none",
        choices=("none", "asr"),
        help="asr: stream synthetic speech with words recognised live (default: none)",
    )
    ap.add_argument("--delay", type=float, default=3.0, help="with --words-from asr (default 3)")
    ap.add_argument(
        "--offline-speed",
        type=float,
        default=None,
        metavar="MINUTES",
        help="instead: time Predictor.predict on a WAV of MINUTES of speech-like audio, the state "
        "carried and with window_reset=True, three rounds each",
    )
    args = ap.parse_args(argv)

    p, label = build(args.model)
    if args.offline_speed:
        return offline_speed(p, label, args.offline_speed)
    if args.words_from == "asr":
        return live_words_speed(p, label, args.minutes, args.chunk_ms, args.delay)
    warm = list(
        p.stream(source(0.05, args.rate, args.chunk_ms, [0.0]), args.rate)
    )  # traced before timing
    assert warm
    frames_per_chunk = args.chunk_ms // 100
    stamps, rss = [0.0], []
    compute = np.zeros(int(args.minutes * 60 * 1000 // args.chunk_ms) + 1)
    n = 0
    t0 = time.perf_counter()
    rss0 = rss_mb()
    for frame in p.stream(source(args.minutes, args.rate, args.chunk_ms, stamps), args.rate):
        if (frame.index + 1) % frames_per_chunk == 0:
            # the chunk whose last frame this is was handed over at stamps[-1] (22050 Hz: the
            # frame comes with its chunk; other rates: with the next one, so the time of the
            # chunk that completed it)
            compute[n] = time.perf_counter() - stamps[0]
            n += 1
        if frame.index % 600 == 0:
            rss.append(round(rss_mb(), 1))
    wall = time.perf_counter() - t0
    c = compute[:n] * 1000
    report = {
        "model": label,
        "backend": __import__("keras").backend.backend(),
        "minutes": args.minutes,
        "rate": args.rate,
        "chunk_ms": args.chunk_ms,
        "chunks": len(c),
        "compute_ms": {
            "p50": round(float(np.percentile(c, 50)), 2),
            "p99": round(float(np.percentile(c, 99)), 2),
            "max": round(float(c.max()), 2),
            "mean": round(float(c.mean()), 2),
        },
        "real_time_factor": round(wall / (args.minutes * 60), 4),
        "rss_mb": {
            "start": round(rss0, 1),
            "after_1_min": rss[1] if len(rss) > 1 else None,
            "end": rss[-1],
            "samples_every_minute": rss,
        },
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load": os.getloadavg()[0],
    }
    print(json.dumps(report, indent=1))
    if args.json:
        from semser_tf.io import atomic_write_json

        atomic_write_json(args.json, report)


if __name__ == "__main__":
    main()
