"""Where a JAX training step spends its accelerator time: device traces of whole steps.

For our model (each ``--precision``) and, with ``--reference``, the plain Keras reference
(``benchmarks/reference_model.py``, built in this process), this script times
``train_on_batch`` (median of ``--steps`` after warm-up), then records ``--trace-steps``
steps with ``jax.profiler.trace`` and reads the device plane of the trace back
(``jax.profiler.ProfileData``): kernel time per step, the time the GPU was busy at all
(union of kernel intervals over its streams), and the top kernels by name (cuDNN/cuBLAS
kernels by their library names, XLA fusions by their HLO names; the events carry no
Keras layer names, so kernels are assigned to model parts by reading the table). Prints JSON lines; ``--out DIR`` also
keeps a JSON summary there.

JAX backend only (``KERAS_BACKEND=jax``; meant for the lent GPU machine).

Usage:
    KERAS_BACKEND=jax python benchmarks/profile_jax.py --batch 25 --sequence-length 300 \\
        --precision float32,mixed_bfloat16 --reference --out /tmp/prof
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import add_shape_args, emit, machine, median_time  # noqa: E402


def _device_events(logdir: str, device_prefix: str):
    """(kernel name, start ns, duration ns) of the device's stream events.

    Reads the xplane file with ``jax.profiler.ProfileData`` where JAX has it, else the
    Perfetto (Chrome trace) JSON that ``jax.profiler.trace(create_perfetto_trace=True)``
    wrote beside it.
    """
    files = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    try:
        from jax.profiler import ProfileData
    except ImportError:
        ProfileData = None
    if ProfileData is not None and files:
        pd = ProfileData.from_file(files[0])
        for plane in pd.planes:
            if not plane.name.startswith(device_prefix):
                continue
            for line in plane.lines:
                if device_prefix.startswith("/device:GPU") and not line.name.lower().startswith(
                    "stream"
                ):
                    continue
                for ev in line.events:
                    yield ev.name, ev.start_ns, ev.duration_ns
        return
    import gzip

    traces = glob.glob(os.path.join(logdir, "**", "perfetto_trace.json.gz"), recursive=True)
    if not traces:
        raise RuntimeError(f"no readable trace under {logdir} (files: {files})")
    with gzip.open(traces[0], "rt") as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    pids = {
        e["pid"]
        for e in events
        if e.get("ph") == "M"
        and e.get("name") == "process_name"
        and str(e.get("args", {}).get("name", "")).startswith(device_prefix)
    }
    for e in events:
        if e.get("ph") == "X" and e.get("pid") in pids:
            yield e["name"], int(float(e["ts"]) * 1e3), int(float(e.get("dur", 0)) * 1e3)


def read_device_trace(
    logdir: str, steps: int, top: int = 25, device_prefix: str = "/device:GPU"
) -> dict:
    """Kernel time per step from the trace files under ``logdir``."""
    by_name, count = collections.Counter(), collections.Counter()
    longest = collections.Counter()  # each kernel's longest single launch, ms
    total, spans = 0.0, []
    for name, start_ns, dur_ns in _device_events(logdir, device_prefix):
        ms = dur_ns / 1e6
        total += ms
        by_name[name[:90]] += ms
        count[name[:90]] += 1
        longest[name[:90]] = max(longest[name[:90]], ms)
        spans.append((start_ns, start_ns + dur_ns, name[:60]))
    if not spans:
        return {"error": f"no device events under {logdir}"}
    # Union of kernel intervals over all streams: the time the GPU was doing anything. The
    # holes in it are the idle time; each is named by the kernel that ended last before it
    # and the one that starts it, summed over the trace, so the largest idle stretches of a
    # step point at what the GPU waited between.
    busy, idle, holes = 0.0, collections.Counter(), collections.Counter()
    spans.sort()
    s0, e0, last = spans[0][0], spans[0][1], spans[0][2]
    for s, e, name in spans[1:]:
        if s > e0:
            busy += e0 - s0
            gap = s - e0
            idle[(last, name)] += gap
            holes[(last, name)] += 1
            if gap >= 1e6:
                holes["gaps >= 1 ms"] += 1
            elif gap >= 1e5:
                holes["gaps 0.1-1 ms"] += 1
            s0, e0, last = s, e, name
        elif e >= e0:
            e0, last = e, name
    busy += e0 - s0
    wall = (spans[-1][1] - spans[0][0]) / 1e6
    per = lambda c: [(k, round(v / steps, 3)) for k, v in c.most_common(top)]  # noqa: E731
    return {
        "kernel_ms_per_step": round(total / steps, 3),
        "gpu_busy_ms_per_step": round(busy / 1e6 / steps, 3),
        "trace_span_ms_per_step": round(wall / steps, 3),
        "idle_ms_per_step": round(sum(idle.values()) / 1e6 / steps, 3),
        "top_kernels_ms_per_step": per(by_name),
        # (kernel, launches per step, mean and longest single launch in ms): a kernel that
        # is slow on some launches only (programs waiting on each other) shows here
        "top_kernels_launches": [
            (k, round(count[k] / steps, 1), round(v / count[k], 3), round(longest[k], 3))
            for k, v in by_name.most_common(top)
        ],
        "top_idle_ms_per_step": [
            (f"{a} -> {b}", round(v / 1e6 / steps, 3), round(holes[(a, b)] / steps, 1))
            for (a, b), v in idle.most_common(top)
        ],
        "idle_gaps_per_step": {
            k: round(holes[k] / steps, 1) for k in ("gaps >= 1 ms", "gaps 0.1-1 ms")
        },
        "kernel_launches_per_step": round(sum(count.values()) / steps, 1),
        # the gradient all-reduce of data-parallel steps: NCCL's kernels (none on one device)
        "collective_ms_per_step": round(
            sum(v for k, v in by_name.items() if _is_collective(k)) / steps, 3
        ),
    }


def _is_collective(kernel_name: str) -> bool:
    n = kernel_name.lower().replace("-", "").replace("_", "")
    return "nccl" in n or "allreduce" in n or "reducescatter" in n or "allgather" in n


def _ours(batch, frames, precision, channel_multiple=None, metrics=True, variant="attention"):
    import keras
    import numpy as np

    import semser_tf.layers.conv_paralinguistic as cp
    from semser_tf.constants import SAMPLES_PER_FRAME
    from semser_tf.losses import CCCLoss
    from semser_tf.models import ModelConfig, build_model, compile_model, select_inputs

    if channel_multiple is not None:
        cp._CHANNEL_MULTIPLE = channel_multiple
    keras.mixed_precision.set_global_policy(precision)
    config = ModelConfig(variant=variant, batch_size=batch, sequence_length=frames)
    keras.utils.set_random_seed(config.seed)  # build_model leaves seeding to its caller
    model = build_model(config)
    if metrics:
        compile_model(model, config)
    else:  # loss only, like the reference
        model.compile(
            optimizer=keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm),
            loss=CCCLoss(target_weights=config.target_weights),
        )
    rng = np.random.default_rng(0)
    x = select_inputs(
        model,
        {
            "waveform": (rng.standard_normal((batch, frames, SAMPLES_PER_FRAME)) * 0.1).astype(
                "float32"
            ),
            "semantic": rng.standard_normal((batch, frames, config.semantic_dim)).astype("float32"),
        },
    )
    y = rng.uniform(-1, 1, (batch, frames, 3)).astype("float32")
    return model, x, y


def _reference(batch, frames):
    """The reference model (``benchmarks/reference_model.py``), without its timing loop."""
    import keras
    from reference_model import build

    keras.mixed_precision.set_global_policy("float32")
    return build(batch, frames)


def _fit_step(model, x, y, batch, repeats):
    """Seconds per step of ``model.fit`` over ``repeats`` copies of the batch (second epoch)."""
    import keras
    import numpy as np

    xs = keras.tree.map_structure(lambda a: np.concatenate([a] * repeats), x)
    ys = np.concatenate([y] * repeats)
    model.fit(xs, ys, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    t0 = time.perf_counter()
    model.fit(xs, ys, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    return (time.perf_counter() - t0) / repeats


def profile_one(
    name,
    model,
    x,
    y,
    steps,
    trace_steps,
    top,
    batch,
    frames,
    device_prefix="/device:GPU",
    fit_repeats=0,
    trace=True,
):
    import jax

    from semser_tf.constants import SAMPLE_RATE, SAMPLES_PER_FRAME

    for _ in range(3):
        model.train_on_batch(x, y)
    t = median_time(lambda: model.train_on_batch(x, y), steps, warmup=1)
    audio = batch * frames * SAMPLES_PER_FRAME / SAMPLE_RATE
    rec = {
        "model": name,
        "train_step_ms": round(1e3 * t, 2),
        "train_audio_s_per_s": round(audio / t, 1),
        "params": model.count_params(),
    }
    ti = median_time(lambda: model.predict_on_batch(x), steps, warmup=2)
    rec["infer_audio_s_per_s"] = round(audio / ti, 1)
    if fit_repeats:
        tf_ = _fit_step(model, x, y, batch, fit_repeats)
        rec["fit_step_ms"] = round(1e3 * tf_, 2)
        rec["fit_audio_s_per_s"] = round(audio / tf_, 1)
    if not trace:
        return rec
    with tempfile.TemporaryDirectory() as d:
        try:
            with jax.profiler.trace(d, create_perfetto_trace=True):
                for _ in range(trace_steps):
                    model.train_on_batch(x, y)
            rec["trace"] = read_device_trace(d, trace_steps, top, device_prefix)
        except Exception as e:  # noqa: BLE001  (keep the timing if the trace cannot be read)
            rec["trace"] = {"error": f"{type(e).__name__}: {e}"}
    return rec


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_shape_args(p, batch=25, steps=10)
    p.add_argument("--trace-steps", type=int, default=3)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--precision", default="float32,mixed_bfloat16")
    p.add_argument(
        "--channel-multiple",
        default="default",
        help="comma list of ConvParalinguistic channel multiples to compare (default: the layer's)",
    )
    p.add_argument(
        "--no-metrics", action="store_true", help="also run ours compiled with the loss only"
    )
    p.add_argument(
        "--fit-repeats",
        type=int,
        default=0,
        help="also time model.fit over this many copies of the batch (0: off)",
    )
    p.add_argument("--no-trace", action="store_true")
    p.add_argument(
        "--reference",
        action="store_true",
        help="also profile the plain Keras reference (benchmarks/reference_model.py)",
    )
    p.add_argument("--out", default=None, help="folder for profile_jax.json")
    p.add_argument(
        "--device-prefix",
        default="/device:GPU",
        help="trace plane holding the kernels ('/host:CPU' to try it on a CPU)",
    )
    args = p.parse_args()
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit("profile_jax.py needs KERAS_BACKEND=jax")
    import jax

    records = []
    header = {
        "machine": machine(),
        "devices": [str(d) for d in jax.devices()],
        "jax": jax.__version__,
        "keras": keras.__version__,
        "batch": args.batch,
        "sequence_length": args.sequence_length,
    }
    emit(header)
    todo = [("reference float32", None, None, True)] if args.reference else []
    mults = [None if m == "default" else int(m) for m in args.channel_multiple.split(",") if m]
    for pr in [x for x in args.precision.split(",") if x]:
        for m in mults:
            tag = "" if m is None else f" channels x{m}"
            todo.append((f"ours {pr}{tag}", pr, m, True))
            if args.no_metrics:
                todo.append((f"ours {pr}{tag} loss only", pr, m, False))
    for name, precision, mult, metrics in todo:
        t0 = time.perf_counter()
        if precision is None:
            model, x, y = _reference(args.batch, args.sequence_length)
        else:
            model, x, y = _ours(
                args.batch, args.sequence_length, precision, mult, metrics, args.variant
            )
        rec = profile_one(
            name,
            model,
            x,
            y,
            args.steps,
            args.trace_steps,
            args.top,
            args.batch,
            args.sequence_length,
            args.device_prefix,
            args.fit_repeats,
            not args.no_trace,
        )
        rec["seconds"] = round(time.perf_counter() - t0, 1)
        records.append(rec)
        emit(rec)
        keras.backend.clear_session()
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "profile_jax.json").write_text(
            json.dumps([header] + records, indent=1, default=str)
        )


if __name__ == "__main__":
    main()
