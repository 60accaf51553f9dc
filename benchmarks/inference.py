"""Streaming prediction speed and memory: ``Predictor.predict`` on a WAV file, end to end.

Writes a synthetic WAV (noise plus a few tones; 22050 Hz by default, ``--sample-rate``
for a file that needs resampling) of each length in ``--minutes``, then times
``semser_tf.inference.Predictor.predict`` on it: WAV reading, resampling when needed,
framing, semantic frame features (zeros: no word timings) and the model, window by
window. Each length runs in a fresh process so that its peak resident memory
(``resource.getrusage``) and its peak traced Python allocation (``tracemalloc``, which
sees NumPy buffers but not TensorFlow's) belong to that length alone. The model has
random weights (the speed of a trained one is the same) and is warmed up on a 30 s file
first, so tracing is not counted.

It also says where the time goes: the same windows read from the file without the
model (decoding), and the model called on the same number of batches without the file.
With ``--reference`` the reference implementation's inference speed
(``benchmarks/reference_model.py keras``, batch = windows per call) is measured in the
same command.

``--pretrained NAME`` runs a zoo model instead (``semser_tf.load_pretrained(NAME)``, its
own frame features; ``default`` is the bundled model that ``semser predict`` uses), and
``--cli`` also times the whole ``semser predict FILE --no-plot`` command in a fresh process
(interpreter start, imports, model load, prediction, CSV). Every record carries the
model's arithmetic per audio second (``model_gflop_per_audio_s``, counted from its
layers) and, with ``--peak``, this machine's measured matmul rate in float32 and
bfloat16, so the ceiling any implementation of that model can reach here is printed
beside the figure.

Usage:
    python benchmarks/inference.py --minutes 10,60
    python benchmarks/inference.py --minutes 10 --precision mixed_bfloat16 --reference
    python benchmarks/inference.py --minutes 10 --pretrained default --cli --peak
    python benchmarks/inference.py --minutes 10,120 --pretrained default --words --cli
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine, run_reference  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REF = REPO / "benchmarks" / "reference_model.py"


def write_wav(path, seconds, sample_rate, chunk_s=60):
    """A 16-bit mono WAV of ``seconds`` of noise and tones, written chunk by chunk."""
    import wave

    import numpy as np

    rng = np.random.default_rng(0)
    tmp = Path(f"{path}.part")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        total = int(seconds * sample_rate)
        for start in range(0, total, chunk_s * sample_rate):
            n = min(chunk_s * sample_rate, total - start)
            t = (start + np.arange(n)) / sample_rate
            x = 0.1 * rng.standard_normal(n) + 0.2 * np.sin(2 * np.pi * 220 * t) * np.sin(
                2 * np.pi * 0.3 * t
            )
            w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    os.replace(tmp, path)
    return Path(path)


def write_words(path, seconds, vocabulary, word_s=0.35, gap_s=0.1, seed=0):
    """A ``start;end;word`` file with a word every ``word_s + gap_s`` seconds, drawn from
    ``vocabulary`` (so the semantic frame features are really computed)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    step = word_s + gap_s
    n = int(seconds / step)
    words = rng.choice(list(vocabulary), size=n)
    lines = [f"{i * step:.3f};{i * step + word_s:.3f};{w}" for i, w in enumerate(words)]
    tmp = Path(f"{path}.part")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return Path(path)


def _vocabulary(pm):
    emb = pm.embeddings
    words = getattr(emb, "text_words", None) if pm.embedding_mode == "text" else None
    return words or emb.words


def _rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def model_flops_per_frame(config) -> dict:
    """Multiply-adds x 2 of one 100 ms frame through the model, per part (inference).

    Counts what the project's layers compute: the convolutions only at the outputs a kept
    pooling window reads, the Dense layers of the fusion, the LSTM's four gates.
    """
    from semser_tf.constants import SAMPLES_PER_FRAME
    from semser_tf.layers import ConvParalinguistic

    parts = {}
    v = config.variant
    feat = 0
    if v in ("paralinguistic", "concat", "attention"):
        layer = ConvParalinguistic(
            config.conv_filters, config.conv_kernel_sizes, config.conv_pool_sizes
        )
        cin = 1
        for i, (f, k, step) in enumerate(
            zip(config.conv_filters, config.conv_kernel_sizes, layer._plan(SAMPLES_PER_FRAME))
        ):
            parts[f"conv{i}"] = 2 * step[3] * k * cin * f
            cin = f
        feat = (
            layer.steps_per_frame(SAMPLES_PER_FRAME) * config.conv_filters[-1]
            if config.frame_pooling == "flatten"
            else config.conv_filters[-1]
        )
    sem, fu, su, lu = (
        config.semantic_dim,
        config.fusion_units,
        config.stream_units,
        config.lstm_units,
    )
    if v == "attention":
        parts["fusion"] = 2 * (feat * fu + sem * fu) + 3 * 2 * fu * su + 2 * 3 * su
        lstm_in = su
    elif v == "concat":
        parts["fusion"] = 2 * (feat * fu + sem * fu + 2 * fu * su)
        lstm_in = su
    else:
        lstm_in = feat if v == "paralinguistic" else sem
    parts["lstm"] = 2 * 4 * lu * (lstm_in + lu)
    parts["head"] = 2 * lu * len(config.targets)
    return parts


def matmul_peak_gflops(seconds: float = 2.0) -> dict:
    """This machine's sustained matmul rate (TensorFlow, 2048^3), float32 and bfloat16."""
    import tensorflow as tf

    out = {}
    for dt in ("float32", "bfloat16"):
        a = tf.random.normal((2048, 2048), dtype="float32")
        a = tf.cast(a, dt)
        f = tf.function(lambda x: tf.matmul(x, x))
        f(a).numpy()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            f(a).numpy()
            n += 1
        out[dt] = round(n * 2 * 2048**3 / (time.perf_counter() - t0) / 1e9, 1)
    return out


def child(
    minutes, sample_rate, precision, windows_per_call, variant, pretrained=None, with_words=False
):
    import tracemalloc

    import keras
    import numpy as np

    from semser_tf.constants import SAMPLES_PER_FRAME
    from semser_tf.inference import Predictor, open_audio_stream
    from semser_tf.models import ModelConfig, build_model

    if pretrained:
        from semser_tf import load_pretrained

        pm = load_pretrained(None if pretrained == "default" else pretrained, offline=True)
        pm = pm.with_precision(precision)  # a saved model keeps its policy: rebuild under this one
        config, model = pm.config, pm.model
        variant = f"{pm.name} ({config.variant})"
        predictor = pm.predictor()
        predictor.windows_per_call = windows_per_call
        vocabulary = _vocabulary(pm) if (with_words and pm.embeddings is not None) else None
    else:
        if precision != "float32":
            keras.mixed_precision.set_global_policy(precision)
        config = ModelConfig(variant=variant)
        keras.utils.set_random_seed(config.seed)  # build_model leaves seeding to its caller
        model = build_model(config)
        predictor = Predictor(model, config, frame_features=None, windows_per_call=windows_per_call)
        vocabulary = None
    with tempfile.TemporaryDirectory() as tmp:
        warm = write_wav(Path(tmp) / "warm.wav", 30, sample_rate)
        words = None
        if vocabulary:
            predictor.predict(warm, words=write_words(Path(tmp) / "warm.words", 30, vocabulary))
            words = write_words(Path(tmp) / "long.words", minutes * 60, vocabulary)
        else:
            predictor.predict(warm)
        path = write_wav(Path(tmp) / "long.wav", minutes * 60, sample_rate)
        rss_before = _rss_mb()
        tracemalloc.start()
        t0 = time.perf_counter()
        pred = predictor.predict(path, words=words)
        wall = time.perf_counter() - t0
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_after = _rss_mb()
        # Where the time goes: decoding alone, then the model alone, same windows.
        T = config.sequence_length
        stream = open_audio_stream(path)
        n_windows = -(-len(pred.times) // T)
        t0 = time.perf_counter()
        for k in range(n_windows):
            stream.samples(k * T * SAMPLES_PER_FRAME, (k + 1) * T * SAMPLES_PER_FRAME)
        decode = time.perf_counter() - t0
    x = {
        "waveform": np.zeros((windows_per_call, T, SAMPLES_PER_FRAME), np.float32),
        "semantic": np.zeros((windows_per_call, T, config.semantic_dim), np.float32),
    }
    x = {k: v for k, v in x.items() if k in predictor.input_names}
    calls = -(-n_windows // windows_per_call)
    runner = predictor._weights_model or model
    times = []
    for _ in range(min(calls, 5)):
        t0 = time.perf_counter()
        runner.predict_on_batch(x)
        times.append(time.perf_counter() - t0)
    model_s = statistics.median(times) * calls
    audio_s = minutes * 60
    flops = model_flops_per_frame(config)
    return {
        "impl": f"semser_tf-{keras.backend.backend()}",
        "variant": variant,
        "precision": precision,
        "params": model.count_params(),
        "word_timings": bool(vocabulary),
        "model_gflop_per_audio_s": round(sum(flops.values()) * 10 / 1e9, 4),
        "model_mflop_per_frame": {k: round(v / 1e6, 2) for k, v in flops.items()},
        "minutes": minutes,
        "wav_sample_rate": sample_rate,
        "windows_per_call": windows_per_call,
        "frames": int(len(pred.times)),
        "wall_s": round(wall, 2),
        "audio_s_per_s": round(audio_s / wall, 1),
        "decode_only_s": round(decode, 2),
        "model_only_s": round(model_s, 2),
        "peak_rss_mb": round(rss_after, 1),
        "rss_before_predict_mb": round(rss_before, 1),
        "tracemalloc_peak_mb": round(traced_peak / 2**20, 1),
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }


def cli_record(minutes, sample_rate, pretrained=None, with_words=False, precision="float32"):
    """Wall time of the whole ``semser predict`` command on a file of ``minutes``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write_wav(Path(tmp) / "talk.wav", minutes * 60, sample_rate)
        cmd = [
            sys.executable,
            "-m",
            "semser_tf.cli",
            "predict",
            str(path),
            "--no-plot",
            "--offline",
            "--csv",
            str(Path(tmp) / "talk.csv"),
        ]
        if pretrained and pretrained != "default":
            cmd += ["--model", pretrained]
        if precision != "float32":
            cmd += ["--precision", precision]
        if with_words:
            from semser_tf import load_pretrained

            pm = load_pretrained(
                None if pretrained in (None, "default") else pretrained, offline=True
            )
            cmd += [
                "--words",
                str(write_words(Path(tmp) / "talk.words", minutes * 60, _vocabulary(pm))),
            ]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        rows = (
            len(Path(tmp, "talk.csv").read_text().splitlines()) - 1 if res.returncode == 0 else None
        )
    rec = {
        "cli": " ".join(
            ["semser", "predict", "FILE", "--no-plot", "--offline"]
            + (["--words", "WORDS"] if with_words else [])
            + (["--precision", precision] if precision != "float32" else [])
        ),
        "minutes": minutes,
        "returncode": res.returncode,
        "csv_rows": rows,
        "wall_s": round(wall, 2),
        "audio_s_per_s": round(minutes * 60 / wall, 1),
        "stdout_tail": res.stdout.strip().splitlines()[-3:],
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }
    if res.returncode:
        rec["stderr"] = res.stderr[-2000:]
    return rec


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--minutes", default="10,60", help="file lengths in minutes (comma-separated)")
    p.add_argument("--sample-rate", type=int, default=22050, help="sample rate of the WAV written")
    p.add_argument("--precision", default="float32", help="keras dtype policy, e.g. mixed_bfloat16")
    p.add_argument("--windows-per-call", type=int, default=4)
    p.add_argument("--variant", default="attention")
    p.add_argument(
        "--reference",
        nargs="?",
        const=str(DEFAULT_REF),
        default=None,
        help="also measure the reference's inference (default benchmarks/reference_model.py)",
    )
    p.add_argument(
        "--pretrained",
        default=None,
        help="a zoo model name ('default': the bundled model of `semser predict`)",
    )
    p.add_argument(
        "--cli",
        action="store_true",
        help="also time `semser predict FILE --no-plot` as a whole command (fresh process)",
    )
    p.add_argument("--peak", action="store_true", help="also measure this machine's matmul GFLOP/s")
    p.add_argument(
        "--words",
        action="store_true",
        help="with --pretrained: also give a word-timing file (a vocabulary word every 0.45 s)",
    )
    p.add_argument("--json-out", default=None)
    p.add_argument("--self", type=float, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.self is not None:
        emit(
            child(
                args.self,
                args.sample_rate,
                args.precision,
                args.windows_per_call,
                args.variant,
                args.pretrained,
                args.words,
            )
        )
        return
    records = []
    if args.peak:
        records.append(
            {
                "matmul_gflops": matmul_peak_gflops(),
                "loadavg": open("/proc/loadavg").read().split()[:3],
            }
        )
        emit(records[-1])
    if args.reference:
        env = {"B": str(args.windows_per_call), "T": "300", "STEPS": "5"}
        records.append({"reference": run_reference(args.reference, "keras", env)})
        emit(records[-1])
    for minutes in [float(m) for m in args.minutes.split(",")]:
        cmd = (
            [
                sys.executable,
                __file__,
                "--self",
                str(minutes),
                "--sample-rate",
                str(args.sample_rate),
                "--precision",
                args.precision,
                "--windows-per-call",
                str(args.windows_per_call),
                "--variant",
                args.variant,
            ]
            + (["--pretrained", args.pretrained] if args.pretrained else [])
            + (["--words"] if args.words else [])
        )
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode:
            records.append(
                {
                    "error": f"{minutes} min exited with {res.returncode}",
                    "stderr": res.stderr[-3000:],
                }
            )
        else:
            records.append(
                json.loads([line for line in res.stdout.splitlines() if line.startswith("{")][-1])
            )
        emit(records[-1])
        if args.cli:
            records.append(
                cli_record(minutes, args.sample_rate, args.pretrained, args.words, args.precision)
            )
            emit(records[-1])
    records.append({"machine": machine()})
    emit(records[-1])
    if args.json_out:
        tmp = Path(f"{args.json_out}.tmp")
        tmp.write_text(json.dumps(records, indent=1))
        os.replace(tmp, args.json_out)


if __name__ == "__main__":
    main()
