"""The project's training loop against the plain Keras reference's ``fit`` on a GPU, in one call.

For each ``--batch`` (default 25 and 100; sequence ``--frames``, attention variant) this
script measures, in one process:

* the reference (``benchmarks/reference_model.py``: the paper's model in plain Keras,
  float32, Keras's defaults): ``fit`` and ``predict`` throughput, a device trace of ``fit``;
* ours under each ``--precision`` (float32, mixed_bfloat16), built and compiled as
  ``semser train`` builds it (``build_model`` and ``compile_model`` under the run's
  precision policy) and trained with ``model.fit`` at the steps per execution the run loop
  chooses (``semser_tf.training.loop.execution_steps`` with ``TrainSettings``'s default),
  "after", and at Keras's one step per call, "before"; ``predict`` throughput; a device
  trace of each.

The data are the same for both: ``--distinct`` random batches (not zeros) in host memory,
cycled by a generator, as NumPy arrays, which Keras's JAX loop copies to the device one
batch ahead (as it does for the batches of ``semser train``'s tf.data pipeline). With
``--device-data`` ours is also timed on batches already on the device (what is left when
the input copy is out of the way). The run's per-epoch callbacks (checkpoints, TensorBoard)
are not in the timed loop: they run once an epoch; ``fit`` here is one epoch of
``--steps`` steps.

With ``--transport int16`` ours takes the waveform as 16-bit PCM (what a 16-bit WAV file
holds, exact), scaled to float32 inside the jitted step: half the bytes of the host-to-device
copy. ``--trace-repeats N`` traces N epochs in a row (a kernel that is slow on some launches
only shows in the longest-launch column of ``top_kernels_launches``).

Throughput is audio seconds per second (batch x frames x 0.1 s per step). The device trace
(``jax.profiler.trace``, read back with ``profile_jax.read_device_trace``) gives per step
the union of busy intervals of the GPU's streams (GPU busy, against the untraced step
time), the kernel launches (memory copies included) and the top kernels. The fraction of
the bf16 matrix rate counts the model's FLOPs as ``benchmarks/inference.py`` does
(``model_flops_per_frame``: forward multiply-adds x 2; a training step x 3 for the two
backward products) against a bf16 8192^3 matrix product measured in the same call.

Writes JSON lines to stdout and ``--out DIR/gpu_step.json`` as it goes; prints a Markdown
table last. ``--budget-s`` skips what would not finish in time (skips are recorded).

Usage (the lent H200; KERAS_BACKEND=jax):
    python3 benchmarks/gpu_step.py --batch 25,100 --precision float32,mixed_bfloat16 --out $OUT
Dry run on a CPU:
    KERAS_BACKEND=jax python benchmarks/gpu_step.py --batch 2 --frames 20 --steps 4 \\
        --precision float32 --device-prefix /host:CPU --tiny
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import jax_header, json_recorder  # noqa: E402
from _gpu_models import (  # noqa: E402
    cycle,
    host_batches,
    int16_pcm,
    ours,
    reference,
    take_int16_waveform,
    train_flops,
)
from _gpu_table import summary  # noqa: E402

T0 = time.perf_counter()


def elapsed():
    return time.perf_counter() - T0


def matmul_rate(n=8192, reps=10):
    """bf16 n^3 matrix product through JAX on random data: TFLOP/s (mean of ``reps``)."""
    import jax
    import jax.numpy as jnp

    ka, kb = jax.random.split(jax.random.PRNGKey(0))
    a = jax.random.normal(ka, (n, n), jnp.bfloat16)
    b = jax.random.normal(kb, (n, n), jnp.bfloat16)
    f = jax.jit(lambda a, b: a @ b)
    for _ in range(3):
        f(a, b).block_until_ready()
    t = time.perf_counter()
    for _ in range(reps):
        out = f(a, b)
    out.block_until_ready()
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e12


# --------------------------------------------------------------------------- timing


def plain(batches):
    """Batches as they are: Keras's JAX trainer copies each to the device one ahead."""
    return batches


def loop_feed(batches):
    """Batches as ``semser train``'s loop hands them to ``fit``: ``feed_for_fit``
    (on a GPU, copied to the device two ahead by a thread of their own)."""
    from semser_tf.training.device_feed import feed_for_fit

    return feed_for_fit(batches)


FEEDS = {"loop": loop_feed, "keras": plain}


def timed_fit(model, make_items, steps, repeats, feed=plain):
    """Seconds per step of ``fit`` over one epoch of ``steps`` steps, ``repeats`` times
    (after a warm-up epoch); returns the list. ``feed`` wraps the batches (ours:
    ``feed_for_fit``, as the run loop does)."""
    model.fit(
        feed(cycle(make_items, 2 * model.steps_per_execution)),
        steps_per_epoch=2 * model.steps_per_execution,
        epochs=1,
        verbose=0,
    )
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        model.fit(feed(cycle(make_items, steps)), steps_per_epoch=steps, epochs=1, verbose=0)
        out.append((time.perf_counter() - t) / steps)
    return out


def timed_predict(model, make_x, steps):
    model.predict(cycle(make_x, 2), steps=2, verbose=0)
    t = time.perf_counter()
    model.predict(cycle(make_x, steps), steps=steps, verbose=0)
    return (time.perf_counter() - t) / steps


def traced_fit(model, make_items, steps, device_prefix, top, feed=plain):
    import jax
    from profile_jax import read_device_trace

    try:  # the device plane is read from the xplane file; Perfetto JSON only without ProfileData
        from jax.profiler import ProfileData  # noqa: F401

        perfetto = False
    except ImportError:
        perfetto = True
    kwargs = {"create_perfetto_trace": perfetto}
    if hasattr(jax.profiler, "ProfileOptions"):  # no Python call tracing: less host overhead
        opts = jax.profiler.ProfileOptions()
        opts.python_tracer_level = 0
        kwargs["profiler_options"] = opts
    with tempfile.TemporaryDirectory() as d:
        try:
            with jax.profiler.trace(d, **kwargs):
                model.fit(
                    feed(cycle(make_items, steps)), steps_per_epoch=steps, epochs=1, verbose=0
                )
            return read_device_trace(d, steps, top, device_prefix)
        except Exception as e:  # noqa: BLE001  (keep the timings if the trace cannot be read)
            return {"error": f"{type(e).__name__}: {e}"}


def same_weights_check(args, batch, data, precision, rec):
    """On this device: the weights after ``--steps`` steps at the run loop's steps per
    execution against one step per call, from the same seed and batches (and one step per
    call twice, the device's own run-to-run spread)."""
    import keras

    import semser_tf.layers.conv_paralinguistic as cp
    import semser_tf.layers.lstm as fl
    from semser_tf.models import select_inputs
    from semser_tf.training.loop import execution_steps, steps_per_execution

    steps = args.check_steps or args.steps

    def trained(k, lstm=None, waveform=None):
        defaults = cp._FUSED_WAVEFORM_POOL, fl._KERNEL_LSTM
        if waveform is not None:  # the layers read these when the step is traced
            cp._FUSED_WAVEFORM_POOL = waveform != "matmul"
        if lstm is not None:
            fl._KERNEL_LSTM = {"kernel": True, "default": defaults[1]}.get(lstm, False)
        model, _, settings = ours(batch, args.frames, precision, args.tiny)
        if lstm == "scan":
            model.get_layer("lstm").use_cudnn = False
        w1 = np.ones((batch, args.frames), "float32")
        items = [(select_inputs(model, {"waveform": w, "semantic": s}), y, w1) for w, s, y in data]
        with steps_per_execution(model, k):
            model.fit(cycle(items, steps), steps_per_epoch=steps, epochs=1, verbose=0)
        out = np.asarray(model.predict_on_batch(items[0][0]), "float64")
        weights = [np.asarray(w, "float64") for w in model.get_weights()]
        n = int(model.count_params())
        keras.backend.clear_session()
        cp._FUSED_WAVEFORM_POOL, fl._KERNEL_LSTM = defaults
        return weights, out, n

    k = execution_steps(args.after or ours(1, 1, precision, True)[2].steps_per_execution, steps)
    other = "fused" if args.waveform == "matmul" else "matmul"
    plain_waveform = other if args.waveform_check else None
    plain_lstm = "cudnn" if args.lstm_check else None
    plain, plain_out, n_plain = trained(1, lstm=plain_lstm, waveform=plain_waveform)
    again, again_out, _ = trained(1, lstm=plain_lstm, waveform=plain_waveform)
    if args.lstm_check:  # the fast path is --lstm's time loop, the plain one cuDNN's
        k = 1
        fast, fast_out, n_fast = trained(1, lstm=args.lstm)
        what = f"{args.lstm} LSTM vs cuDNN's"
    elif args.waveform_check:  # the fast path is --waveform's stage, the plain one the other
        k = 1
        fast, fast_out, n_fast = trained(1, waveform=args.waveform)
        what = f"{args.waveform} waveform stage vs {other}"
    else:
        fast, fast_out, n_fast = trained(k)
        what = "fast path vs one step per call"

    def rel(a, b):
        return max(np.linalg.norm(x - y) / max(np.linalg.norm(y), 1e-30) for x, y in zip(a, b))

    def whole(a, b):  # over all parameters at once: a near-zero array cannot dominate it
        num = np.sqrt(sum(np.sum((x - y) ** 2) for x, y in zip(a, b)))
        return num / np.sqrt(sum(np.sum(y**2) for y in b))

    rec(
        {
            "check": "weights after the steps: " + what,
            "model": f"ours {precision}",
            "batch": batch,
            "steps": steps,
            "steps_per_execution": k,
            "params": [n_plain, n_fast],
            "max_rel_weight_diff_fast_vs_plain": rel(fast, plain),
            "max_rel_weight_diff_plain_vs_plain": rel(again, plain),
            "max_abs_weight_diff_fast_vs_plain": max(
                float(np.abs(x - y).max()) for x, y in zip(fast, plain)
            ),
            "max_abs_weight_diff_plain_vs_plain": max(
                float(np.abs(x - y).max()) for x, y in zip(again, plain)
            ),
            "rel_weight_diff_all_fast_vs_plain": whole(fast, plain),
            "rel_weight_diff_all_plain_vs_plain": whole(again, plain),
            "rel_output_diff_fast_vs_plain": rel([fast_out], [plain_out]),
            "rel_output_diff_plain_vs_plain": rel([again_out], [plain_out]),
        }
    )


# --------------------------------------------------------------------------- runs


def measure_reference(args, batch, data, rec):
    import keras

    model = reference(batch, args.frames)
    flat = [(w.reshape(batch, -1), s, y) for w, s, y in data]
    items = [([w, s], y) for w, s, y in flat]
    xs = [([w, s],) for w, s, _ in flat]
    t = timed_fit(model, items, args.steps, args.repeats)
    rec(
        {
            "model": "reference float32",
            "batch": batch,
            "steps_per_execution": 1,
            "params": int(model.count_params()),
            "fit_step_ms": [round(1e3 * v, 2) for v in t],
        }
    )
    rec(
        {
            "model": "reference float32",
            "batch": batch,
            "predict_step_ms": round(1e3 * timed_predict(model, xs, args.steps), 2),
        }
    )
    rec(
        {
            "model": "reference float32",
            "batch": batch,
            "steps_per_execution": 1,
            "trace": traced_fit(model, items, args.trace_steps, args.device_prefix, args.top),
        }
    )
    keras.backend.clear_session()


def lstm_path(model, choice):
    """The LSTM time loop that ``model``'s training step takes: kernel, cudnn or scan."""
    import semser_tf.layers.lstm as fl

    if choice != "default":
        return choice
    return "kernel" if fl._kernel_mode(model.get_layer("lstm"), None, True) == "gpu" else "cudnn"


def measure_ours(args, batch, data, precision, rec, sweep=True):
    import jax
    import keras

    from semser_tf.models import select_inputs
    from semser_tf.training.loop import execution_steps, steps_per_execution

    model, config, settings = ours(batch, args.frames, precision, args.tiny)
    if args.lstm == "scan":  # Keras's own time loop (lax.scan) instead of cuDNN's kernel
        model.get_layer("lstm").use_cudnn = False
    w1 = np.ones((batch, args.frames), "float32")  # the run's label-mask weights: all frames
    if args.transport == "int16":  # 16-bit PCM to the device, scaled inside the step
        take_int16_waveform(model)
        data = [(int16_pcm(w), s, y) for w, s, y in data]
    items = [(select_inputs(model, {"waveform": w, "semantic": s}), y, w1) for w, s, y in data]
    xs = [(x,) for x, _, _ in items]
    name = f"ours {precision}"
    after = execution_steps(settings.steps_per_execution, args.steps)
    if args.after is not None:
        after = execution_steps(args.after, args.steps)
    flops = train_flops(config, args.frames, batch)
    path = lstm_path(model, args.lstm)
    base = {
        "model": name
        + ("" if path == "cudnn" else f" lstm={path}")
        + ("" if args.lstm_dot == "auto" else f" lstm_dot={args.lstm_dot}")
        + ("" if args.pool == "reshape" else f" pool={args.pool}")
        + ("" if args.waveform == "fused" else f" waveform={args.waveform}")
        + ("" if args.transport == "float32" else f" transport={args.transport}"),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "batch": batch,
        "params": int(model.count_params()),
        "train_tflop_per_step": round(flops / 1e12, 4),
    }
    spes = [1] if after == 1 else [1, after]
    for r in range(args.rounds if args.alternate else 0):  # interleaved: order effects cancel
        for k in args.alternate:
            k = execution_steps(k, args.steps)
            with steps_per_execution(model, k):
                t = timed_fit(model, items, args.steps, 1)
            rec(
                {
                    **base,
                    "steps_per_execution": k,
                    "round": r + 1,
                    "fit_step_ms": [round(1e3 * v, 2) for v in t],
                }
            )
    if args.no_trace:
        spes = []
    for k in args.sweep if sweep else ():  # other steps per execution: timing only
        if elapsed() > args.budget_s:
            break
        k = execution_steps(k, args.steps)
        with steps_per_execution(model, k):
            t = timed_fit(model, items, args.steps, args.repeats)
        rec({**base, "steps_per_execution": k, "fit_step_ms": [round(1e3 * v, 2) for v in t]})
    for k in spes:
        if elapsed() > args.budget_s:
            rec({**base, "steps_per_execution": k, "skipped": "budget"})
            continue
        with steps_per_execution(model, k):
            for r in range(args.rounds):  # the feeds in turn: order effects cancel
                for name in args.feed:
                    t = timed_fit(model, items, args.steps, args.repeats, FEEDS[name])
                    rec(
                        {
                            **base,
                            "steps_per_execution": k,
                            "data": f"host, {name} feed",
                            "feed_round": r + 1,
                            "fit_step_ms": [round(1e3 * v, 2) for v in t],
                        }
                    )
            if args.device_data and k == after:
                dev = [jax.device_put(it) for it in items]
                td = timed_fit(model, dev, args.steps, args.repeats)
                rec(
                    {
                        **base,
                        "steps_per_execution": k,
                        "data": "on device",
                        "fit_step_ms": [round(1e3 * v, 2) for v in td],
                    }
                )
                del dev
            for name in args.feed:
                for r in range(args.trace_repeats):  # epochs traced in a row: a slow one shows
                    tr = traced_fit(
                        model,
                        items,
                        args.trace_steps if k == 1 else max(k, args.trace_steps),
                        args.device_prefix,
                        args.top,
                        FEEDS[name],
                    )
                    rec(
                        {
                            **base,
                            "steps_per_execution": k,
                            "data": f"host, {name} feed",
                            "trace_round": r + 1,
                            "trace": tr,
                        }
                    )
    if elapsed() < args.budget_s:
        rec({**base, "predict_step_ms": round(1e3 * timed_predict(model, xs, args.steps), 2)})
    keras.backend.clear_session()


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--batch", default="25,100", help="comma-separated batch sizes")
    p.add_argument("--frames", type=int, default=300, help="sequence length (100 ms frames)")
    p.add_argument("--precision", default="mixed_bfloat16,float32")
    p.add_argument("--steps", type=int, default=48, help="steps per timed fit (an epoch)")
    p.add_argument("--repeats", type=int, default=2, help="timed fits per setting")
    p.add_argument("--trace-steps", type=int, default=16)
    p.add_argument(
        "--trace-repeats", type=int, default=1, help="traced epochs in a row per setting of ours"
    )
    p.add_argument(
        "--transport",
        choices=("float32", "int16"),
        default="float32",
        help="ours: the waveform copied to the device as float32 or as 16-bit PCM, scaled "
        "to float32 inside the jitted step",
    )
    p.add_argument(
        "--feed",
        default="loop",
        type=lambda v: [x for x in v.split(",") if x],
        help="ours: how batches reach fit, comma-separated, timed in turn --rounds times: "
        "loop (the run loop's feed_for_fit: a thread copies them to the device) or keras "
        "(Keras's own one-ahead copy on the loop's thread)",
    )
    p.add_argument("--distinct", type=int, default=4, help="distinct random batches cycled")
    p.add_argument(
        "--after",
        type=int,
        default=None,
        help="steps per execution of 'after' (default: the run loop's)",
    )
    p.add_argument(
        "--device-data", action="store_true", help="also time ours on batches already on the device"
    )
    p.add_argument("--no-reference", action="store_true")
    p.add_argument(
        "--pool",
        choices=("reshape", "op"),
        default="reshape",
        help="our max pooling: reshape + max (the JAX default) or the backend's max_pool op",
    )
    p.add_argument(
        "--waveform",
        choices=("fused", "matmul"),
        default="fused",
        help="our first stage: the fused element-wise conv + pool (the JAX default) or the "
        "im2col matmul then reshape + max",
    )
    p.add_argument(
        "--lstm",
        choices=("default", "cudnn", "kernel", "scan"),
        default="default",
        help="our LSTM's time loop: the layer's default (SEMSER_LSTM_KERNEL; auto: the "
        "one-kernel loop of semser_tf.kernels on a GPU of its own, what semser train runs), "
        "cuDNN's (keras.layers.LSTM's choice on a GPU), the kernel, or lax.scan "
        "(use_cudnn=False)",
    )
    p.add_argument(
        "--lstm-dot",
        choices=("auto", "float32", "bfloat16"),
        default="auto",
        help="with --lstm kernel: the recurrent product's operand type (auto: bfloat16 under "
        "mixed_bfloat16, float32 otherwise, the layer's default)",
    )
    p.add_argument(
        "--alternate",
        default="",
        type=lambda v: [int(x) for x in v.split(",") if x],
        help="steps per execution timed in turn, --rounds times (one fit each)",
    )
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument(
        "--no-trace", action="store_true", help="with --alternate: no before/after fits and traces"
    )
    p.add_argument(
        "--sweep",
        default="",
        type=lambda v: [int(x) for x in v.split(",") if x],
        help="other steps per execution to time (first batch and precision only)",
    )
    p.add_argument(
        "--check",
        default="",
        help="precisions of the same-weights check on the first batch (fast path vs plain)",
    )
    p.add_argument(
        "--lstm-check",
        action="store_true",
        help="with --check: compare --lstm's time loop against cuDNN's instead of steps per call",
    )
    p.add_argument(
        "--check-steps", type=int, default=0, help="steps of the --check trainings (--steps)"
    )
    p.add_argument(
        "--waveform-check",
        action="store_true",
        help="with --check: compare --waveform's first stage against the other one",
    )
    p.add_argument("--top", type=int, default=8)
    p.add_argument(
        "--budget-s",
        type=float,
        default=530.0,
        help="skip stages that start after this many seconds",
    )
    p.add_argument(
        "--device-prefix",
        default="/device:GPU",
        help="trace plane of the kernels ('/host:CPU' on a CPU)",
    )
    p.add_argument("--tiny", action="store_true", help="dry runs: a small model of ours")
    p.add_argument("--no-matmul", action="store_true")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if not args.feed or set(args.feed) - set(FEEDS):
        p.error(f"--feed: expected loop and/or keras, got {','.join(args.feed)!r}")
    if args.trace_repeats < 1:
        p.error(f"--trace-repeats must be 1 or more, got {args.trace_repeats}")
    if args.check_steps < 0:
        p.error(f"--check-steps must be 0 (use --steps) or more, got {args.check_steps}")
    if args.waveform_check and not args.check:
        p.error("--waveform-check needs --check PRECISIONS")
    if args.lstm_dot != "auto" and args.lstm not in ("kernel", "default"):
        p.error("--lstm-dot applies to --lstm kernel or default only")
    if args.lstm_check and (not args.check or args.lstm == "cudnn"):
        p.error("--lstm-check needs --check PRECISIONS and --lstm default, kernel or scan")

    import jax
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit("gpu_step.py needs KERAS_BACKEND=jax")
    import semser_tf.layers.conv_paralinguistic as cp
    import semser_tf.layers.lstm as fl

    # before any model is built: the layer reads these when its call is traced
    cp._POOL_BY_RESHAPE = args.pool == "reshape"
    cp._FUSED_WAVEFORM_POOL = args.waveform == "fused"
    if args.lstm != "default":  # else SEMSER_LSTM_KERNEL's (auto: the kernel on a GPU of its own)
        fl._KERNEL_LSTM = args.lstm == "kernel"
    fl._DOT_DTYPE = args.lstm_dot
    cache = os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.path.join(
        tempfile.gettempdir(), "gpu_step_jax_cache"
    )
    jax.config.update("jax_compilation_cache_dir", cache)  # rebuilt train functions: no recompile
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    records, rec = json_recorder(args.out, "gpu_step.json", elapsed)

    peak = None if args.no_matmul else matmul_rate(2048 if args.tiny else 8192)
    rec(
        {
            **jax_header(sys.argv[1:]),
            "frames": args.frames,
            "bf16_matmul_tflops": peak and round(peak, 1),
        }
    )
    from semser_tf.models import ModelConfig

    semantic_dim = ModelConfig().semantic_dim
    first = True
    for batch in [int(b) for b in args.batch.split(",") if b]:
        data = host_batches(batch, args.frames, args.distinct, semantic_dim)
        stages = [] if args.no_reference else [("ref", None)]
        stages += [("ours", pr) for pr in args.precision.split(",") if pr]
        for kind, pr in stages:
            if elapsed() > args.budget_s:
                rec(
                    {
                        "model": kind if pr is None else f"ours {pr}",
                        "batch": batch,
                        "skipped": "budget",
                    }
                )
                continue
            try:
                if kind == "ref":
                    measure_reference(args, batch, data, rec)
                else:
                    measure_ours(args, batch, data, pr, rec, sweep=first)
                    first = False
            except Exception as e:  # noqa: BLE001  (one failing setting keeps the others)
                import traceback

                rec(
                    {
                        "model": kind if pr is None else f"ours {pr}",
                        "batch": batch,
                        "error": f"{type(e).__name__}: {e}",
                        "tb": traceback.format_exc()[-2000:],
                    }
                )
        del data
    if args.check:  # last: the table's rows come first
        batch = int(args.batch.split(",")[0])
        data = host_batches(batch, args.frames, args.distinct, semantic_dim)
        for pr in args.check.split(","):
            if elapsed() > args.budget_s:
                rec({"check": "skipped (budget)", "model": f"ours {pr}", "batch": batch})
                continue
            try:
                same_weights_check(args, batch, data, pr, rec)
            except Exception as e:  # noqa: BLE001
                rec({"check": "failed", "model": f"ours {pr}", "error": f"{type(e).__name__}: {e}"})
    table = summary(records, args.frames, peak)
    print(table, flush=True)
    if args.out:
        (Path(args.out) / "gpu_step.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
