"""Data-parallel training and inference across the GPUs of one host (JAX, ``keras.distribution``).

The model, data and timing are ``benchmarks/gpu_step.py``'s: ours as ``semser train`` builds
it, the attention variant, random batches in host memory, ``fit`` of ``--steps`` steps. What
changes is the distribution: ``keras.distribution.DataParallel`` over the first ``N`` devices
(``--devices 1,2,4,8``), set before the model is built, as ``semser train --strategy
data_parallel`` sets it (``semser_tf.distribute``). Keras then shards every global batch
across the devices and XLA adds the gradient all-reduce.

* **Weak scaling** (``--per-device-batch 25,100``): the global batch is the per-device batch
  times ``N``. Efficiency = audio-s/s per device on ``N`` devices / audio-s/s on one.
* **Strong scaling** (``--global-batch 100``): the global batch stays, each device gets
  ``global / N``. Efficiency = speed-up / ``N``.
* **Trace** of each ``fit`` on the first device's plane: GPU busy per step and the time in
  collective kernels (NCCL's all-reduce), so the step splits into compute and all-reduce.
* **Equality** (``--check``): from the same initial weights and batches, the parameters
  after ``--check-steps`` steps on ``N`` devices against one device at the same global
  batch (and one device twice: the run-to-run spread).

Writes JSON lines to stdout and ``--out DIR/data_parallel.json``; prints Markdown tables last.

Usage (a lent machine of several GPUs; KERAS_BACKEND=jax):
    python3 benchmarks/data_parallel.py --devices 1,2 --per-device-batch 25,100 --global-batch 100 \\
        --check --out $OUT
Dry run on a CPU with two forced host devices:
    XLA_FLAGS=--xla_force_host_platform_device_count=2 KERAS_BACKEND=jax \\
        python benchmarks/data_parallel.py --devices 1,2 --per-device-batch 2 --global-batch 4 \\
        --frames 20 --steps 4 --precision float32 --tiny --device-prefix /host:CPU --check
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import jax_header, json_recorder  # noqa: E402
from gpu_step import cycle, host_batches, ours, timed_fit, timed_predict, traced_fit  # noqa: E402

T0 = time.perf_counter()


def _distribute(n):
    """DataParallel over the first ``n`` devices, made the global distribution."""
    import jax
    import keras

    devices = jax.devices()
    if n > len(devices):
        raise SystemExit(f"--devices {n}: this machine has {len(devices)} devices")
    dist = keras.distribution.DataParallel(devices=devices[:n])
    keras.distribution.set_distribution(dist)
    return dist


def _items(model, data):
    from semser_tf.models import select_inputs

    out = []
    for w, s, y in data:
        w1 = np.ones(y.shape[:2], "float32")  # the run's label-mask weights: all frames
        out.append((select_inputs(model, {"waveform": w, "semantic": s}), y, w1))
    return out


def measure(args, n, global_batch, scaling, rec):
    import keras

    if global_batch % n:
        rec({"devices": n, "global_batch": global_batch, "skipped": "not divisible"})
        return
    _distribute(n)
    try:
        model, config, _ = ours(global_batch, args.frames, args.precision, args.tiny)
        data = host_batches(global_batch, args.frames, args.distinct, config.semantic_dim)
        items = _items(model, data)
        base = {
            "scaling": scaling,
            "devices": n,
            "global_batch": global_batch,
            "per_device_batch": global_batch // n,
            "precision": args.precision,
            "params": int(model.count_params()),
        }
        # the first full-length fit still compiles on some backends (seen on forced CPU devices)
        fit = timed_fit(model, items, args.steps, args.repeats + 1)[1:]
        pred = timed_predict(model, [(x,) for x, _, _ in items], args.steps)
        audio = global_batch * args.frames / 10.0  # audio seconds per step
        med = statistics.median(fit)
        row = {
            **base,
            "fit_step_ms": [round(1e3 * t, 2) for t in fit],
            "predict_step_ms": round(1e3 * pred, 2),
            "train_audio_s_per_s": round(audio / med, 1),
            "train_audio_s_per_s_per_device": round(audio / med / n, 1),
            "infer_audio_s_per_s_per_device": round(audio / pred / n, 1),
        }
        if args.trace_steps:
            prefix = args.device_prefix
            if prefix.startswith("/device:GPU") and prefix.count(":") == 1:
                prefix += ":0"  # the first GPU's plane: one device's busy time, not a union
            row["trace"] = traced_fit(model, items, args.trace_steps, prefix, args.top)
        rec(row)
    finally:
        keras.distribution.set_distribution(None)
        keras.backend.clear_session()


def check(args, n, global_batch, rec):
    """Parameters after ``--check-steps`` steps on ``n`` devices against one device."""
    import keras

    from semser_tf.models import ModelConfig

    data = host_batches(global_batch, args.frames, 2, ModelConfig().semantic_dim, seed=1)

    def trained(k):
        _distribute(k)
        try:
            model, _, _ = ours(global_batch, args.frames, args.precision, args.tiny)
            items = _items(model, data)
            model.fit(
                cycle(items, args.check_steps),
                steps_per_epoch=args.check_steps,
                epochs=1,
                verbose=0,
                shuffle=False,
            )
            return [np.asarray(w, "float64") for w in model.get_weights()]
        finally:
            keras.distribution.set_distribution(None)
            keras.backend.clear_session()

    one, again, many = trained(1), trained(1), trained(n)

    def rel(a, b):  # over all parameters at once: a near-zero array alone does not dominate it
        d = np.concatenate([(x - y).ravel() for x, y in zip(a, b)])
        return float(
            np.linalg.norm(d) / max(np.linalg.norm(np.concatenate([y.ravel() for y in b])), 1e-30)
        )

    def absmax(a, b):
        return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))

    rec(
        {
            "check": f"parameters after {args.check_steps} steps: {n} devices vs 1",
            "devices": n,
            "global_batch": global_batch,
            "precision": args.precision,
            "max_rel_diff_n_vs_1": rel(many, one),
            "max_abs_diff_n_vs_1": absmax(many, one),
            "max_rel_diff_1_vs_1": rel(again, one),
        }
    )


def tables(records):
    lines = [
        "| scaling | devices | global batch | per device | `fit` step ms | train audio-s/s per device | efficiency | predict step ms | inference audio-s/s per device | efficiency | GPU:0 busy ms | all-reduce ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [r for r in records if "fit_step_ms" in r]
    for r in rows:
        if r["scaling"] == "weak":
            one = next(
                (
                    x
                    for x in rows
                    if x["scaling"] == "weak"
                    and x["devices"] == 1
                    and x["per_device_batch"] == r["per_device_batch"]
                ),
                None,
            )
            eff_t = (
                one and r["train_audio_s_per_s_per_device"] / one["train_audio_s_per_s_per_device"]
            )
            eff_i = (
                one and r["infer_audio_s_per_s_per_device"] / one["infer_audio_s_per_s_per_device"]
            )
        else:
            one = next(
                (
                    x
                    for x in rows
                    if x["scaling"] == "strong"
                    and x["devices"] == 1
                    and x["global_batch"] == r["global_batch"]
                ),
                None,
            )
            eff_t = one and (
                statistics.median(one["fit_step_ms"])
                / statistics.median(r["fit_step_ms"])
                / r["devices"]
            )
            eff_i = one and one["predict_step_ms"] / r["predict_step_ms"] / r["devices"]
        tr = r.get("trace", {})
        lines.append(
            f"| {r['scaling']} | {r['devices']} | {r['global_batch']} | {r['per_device_batch']} | "
            f"{statistics.median(r['fit_step_ms']):.1f} | {r['train_audio_s_per_s_per_device']:,.0f} | "
            f"{'' if eff_t is None else f'{eff_t:.2f}'} | {r['predict_step_ms']:.1f} | "
            f"{r['infer_audio_s_per_s_per_device']:,.0f} | {'' if eff_i is None else f'{eff_i:.2f}'} | "
            f"{tr.get('gpu_busy_ms_per_step', '')} | {tr.get('collective_ms_per_step', '')} |"
        )
    checks = [r for r in records if "check" in r]
    if checks:
        lines += [
            "",
            "| check | precision | max relative difference | max absolute difference | one device twice |",
            "|---|---|---:|---:|---:|",
        ]
        for c in checks:
            lines.append(
                f"| {c['check']} (global batch {c['global_batch']}) | {c['precision']} | "
                f"{c['max_rel_diff_n_vs_1']:.2e} | {c['max_abs_diff_n_vs_1']:.2e} | "
                f"{c['max_rel_diff_1_vs_1']:.2e} |"
            )
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ints = lambda v: [int(x) for x in v.split(",") if x]  # noqa: E731
    p.add_argument("--devices", type=ints, default=[1, 2], help="device counts, e.g. 1,2,4,8")
    p.add_argument("--per-device-batch", type=ints, default=[25, 100], help="weak scaling")
    p.add_argument("--global-batch", type=ints, default=[100], help="strong scaling")
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--precision", default="mixed_bfloat16")
    p.add_argument("--steps", type=int, default=48)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--distinct", type=int, default=4)
    p.add_argument("--trace-steps", type=int, default=8, help="0: no traces")
    p.add_argument("--top", type=int, default=8)
    p.add_argument("--device-prefix", default="/device:GPU")
    p.add_argument("--check", action="store_true", help="parameters after steps: N vs 1 device")
    p.add_argument("--check-steps", type=int, default=1)
    p.add_argument("--tiny", action="store_true", help="dry runs: a small model")
    p.add_argument("--budget-s", type=float, default=540.0)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)

    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit("data_parallel.py needs KERAS_BACKEND=jax")
    records, rec = json_recorder(args.out, "data_parallel.json", lambda: time.perf_counter() - T0)

    rec(jax_header(sys.argv[1:] if argv is None else argv))
    plan = [("weak", n, b * n) for b in args.per_device_batch for n in args.devices]
    plan += [("strong", n, g) for g in args.global_batch for n in args.devices]
    for scaling, n, g in plan:
        if time.perf_counter() - T0 > args.budget_s:
            rec({"scaling": scaling, "devices": n, "global_batch": g, "skipped": "budget"})
            continue
        measure(args, n, g, scaling, rec)
    if args.check:
        g = args.global_batch[0]
        for n in [d for d in args.devices if d > 1]:
            check(args, n, g, rec)
    table = tables(records)
    print(table, flush=True)
    if args.out:
        (Path(args.out) / "data_parallel.md").write_text(table + "\n")
    return records


if __name__ == "__main__":
    main()
