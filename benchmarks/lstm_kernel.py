"""The one-kernel LSTM (``semser_tf.kernels.lstm_pallas``) against cuDNN's, alone, on a GPU.

For each ``--batch`` (sequence ``--frames``, ``--features`` inputs, ``--units`` units: the
model's LSTM by default) and each variant this script times, in one process:

* ``cudnn``: ``keras.layers.LSTM`` as Keras runs it on a JAX GPU (``jax.experimental.rnn``'s
  cuDNN call);
* ``kernel:<dot>:<programs>:<warps>``: the input projection, then
  ``lstm_pallas.recurrence`` with that operand type, programs per block of 16 sequences
  and Triton warps;

forward alone ("predict") and forward + backward ("train": the gradients of a probe loss
with respect to the input, the kernel, the recurrent kernel and the bias), each one jitted
function, the median of ``--repeats`` timed calls after a warm-up (and their spread:
minimum, 10th and 90th percentiles, maximum), and its compile time.

With ``--check`` every variant's outputs and gradients are compared with cuDNN's from the
same weights and inputs (relative difference over each whole array, and the largest
absolute one) and with a float32 ``lax.scan`` LSTM at the highest matrix precision
(``keras.layers.LSTM(use_cudnn=False)``), the reference that is not rounded to TF32.

Writes JSON lines to stdout and ``--out DIR/lstm_kernel.json``; prints a Markdown table.

Usage (the lent H200):
    KERAS_BACKEND=jax python3 benchmarks/lstm_kernel.py --batch 25,100 --check --out $OUT
Dry run on a CPU (the kernels in Pallas's interpreter, no cuDNN):
    KERAS_BACKEND=jax python benchmarks/lstm_kernel.py --batch 3 --frames 6 --units 32 \\
        --features 8 --repeats 2 --interpret --variants kernel:float32:1:8 --check
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

DEFAULT_VARIANTS = (
    "cudnn,kernel:float32:16:4,kernel:float32:16:8,kernel:bfloat16:16:4,kernel:bfloat16:16:8,"
    "kernel:float32:8:8,kernel:float32:1:8"
)


def parse_variants(text):
    """``--variants``: cudnn, scan or kernel:DOT:PROGRAMS:WARPS, comma-separated."""
    out = []
    for v in text.split(","):
        if v in ("cudnn", "scan"):
            out.append({"name": v})
            continue
        parts = v.split(":")
        if len(parts) != 4 or parts[0] != "kernel" or not all(x.isdigit() for x in parts[2:]):
            raise argparse.ArgumentTypeError(
                f"{v!r}: a variant is cudnn, scan or kernel:DOT:PROGRAMS:WARPS "
                "(e.g. kernel:float32:16:4)"
            )
        out.append({"name": v, "dot": parts[1], "programs": int(parts[2]), "warps": int(parts[3])})
    return out


def build_functions(variant, layer, interpret):
    """(predict, train) jitted functions of (weights, x, probe) for one variant."""
    import jax
    import jax.numpy as jnp

    from semser_tf.kernels.lstm_pallas import recurrence

    if variant["name"] in ("cudnn", "scan"):
        layer.use_cudnn = "auto" if variant["name"] == "cudnn" else False

        def forward(weights, x):
            out, _ = layer.stateless_call(
                weights, [v.value for v in layer.non_trainable_variables], x
            )
            return out

    else:

        def forward(weights, x):
            kernel, recurrent, bias = weights
            xw = jnp.einsum("bti,ig->tbg", x, kernel) + bias
            zeros = jnp.zeros((x.shape[0], recurrent.shape[0]), x.dtype)
            hs, _ = recurrence(
                xw,
                recurrent,
                zeros,
                zeros,
                dot_dtype=variant["dot"],
                programs=variant["programs"],
                num_warps=variant["warps"],
                interpret=interpret,
            )
            return jnp.transpose(hs, (1, 0, 2))

    def loss(weights, x, probe):
        return (forward(weights, x) * probe).sum()

    predict = jax.jit(forward)
    train = jax.jit(jax.grad(loss, argnums=(0, 1)))
    return predict, train


def timed(fn, args_, repeats):
    import jax

    t = time.perf_counter()
    jax.block_until_ready(fn(*args_))
    compile_s = time.perf_counter() - t
    jax.block_until_ready(fn(*args_))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args_))
        times.append(time.perf_counter() - t)
    return times, compile_s


def spread_ms(times):
    """min / 10th percentile / median / 90th percentile / max of ``times``, in ms: a kernel
    whose programs wait on each other can be slow on some calls only."""
    q = np.percentile(np.asarray(times) * 1e3, [0, 10, 50, 90, 100])
    return [round(float(v), 3) for v in q]


def diffs(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return {
        "rel": float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)),
        "max_abs": float(np.abs(a - b).max()),
    }


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--batch", default="25,100", type=lambda v: [int(x) for x in v.split(",")])
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--features", type=int, default=512)
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument(
        "--variants",
        default=DEFAULT_VARIANTS,
        type=parse_variants,
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="compare every variant with cuDNN's and a HIGHEST-precision scan",
    )
    p.add_argument(
        "--interpret",
        action="store_true",
        help="the kernels in Pallas's interpreter (CPU dry runs)",
    )
    p.add_argument(
        "--budget-s", type=float, default=1e9, help="skip variants that start after this"
    )
    p.add_argument("--out", default=None)
    args = p.parse_args()

    import jax
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit("lstm_kernel.py needs KERAS_BACKEND=jax")
    t0 = time.perf_counter()
    _, rec = json_recorder(args.out, "lstm_kernel.json", lambda: time.perf_counter() - t0)
    rec(jax_header(sys.argv[1:]))
    layer = keras.layers.LSTM(args.units, return_sequences=True)
    layer.build((None, args.frames, args.features))
    rng = np.random.default_rng(0)
    weights = [
        jax.numpy.asarray(rng.normal(0, 0.05, w.shape), "float32") for w in layer.get_weights()
    ]
    rows = []
    for batch in args.batch:
        x = jax.numpy.asarray(rng.normal(0, 1, (batch, args.frames, args.features)), "float32")
        probe = jax.numpy.asarray(rng.normal(0, 1, (batch, args.frames, args.units)), "float32")
        outputs = {}
        for variant in args.variants:
            if time.perf_counter() - t0 > args.budget_s:
                rec({"skipped": variant["name"], "batch": batch, "reason": "budget"})
                continue
            try:
                predict, train = build_functions(variant, layer, args.interpret)
                pt, pc = timed(predict, (weights, x), args.repeats)
                tt, tc = timed(train, (weights, x, probe), args.repeats)
            except Exception as e:  # noqa: BLE001  (record and go on to the next variant)
                rec(
                    {
                        "variant": variant["name"],
                        "batch": batch,
                        "error": f"{type(e).__name__}: {e}"[:2000],
                    }
                )
                continue
            row = {
                "variant": variant["name"],
                "batch": batch,
                "predict_ms": round(statistics.median(pt) * 1e3, 3),
                "train_ms": round(statistics.median(tt) * 1e3, 3),
                "predict_spread_ms": spread_ms(pt),
                "train_spread_ms": spread_ms(tt),
                "compile_s": round(pc + tc, 2),
            }
            if args.check:
                outputs[variant["name"]] = [
                    predict(weights, x),
                    *jax.tree.leaves(train(weights, x, probe)),
                ]
            rec(row)
            rows.append(row)
        if args.check and outputs:
            with jax.default_matmul_precision("highest"):
                predict, train = build_functions({"name": "scan"}, layer, False)
                reference = [predict(weights, x), *jax.tree.leaves(train(weights, x, probe))]
            names = ["outputs", "d_kernel", "d_recurrent", "d_bias", "d_x"]
            for name, got in outputs.items():
                check = {"check": name, "batch": batch}
                for against, want in (("cudnn", outputs.get("cudnn")), ("scan_highest", reference)):
                    if want is None or against == name:
                        continue
                    check[against] = {n: diffs(g, w) for n, g, w in zip(names, got, want)}
                rec(check)
    print(
        "\n| variant | batch | predict ms | train ms | train min-max ms | compile s |"
        "\n|---|---:|---:|---:|---:|---:|"
    )
    for r in rows:
        lo, hi = r["train_spread_ms"][0], r["train_spread_ms"][-1]
        print(
            f"| {r['variant']} | {r['batch']} | {r['predict_ms']} | {r['train_ms']} | "
            f"{lo}-{hi} | {r['compile_s']} |"
        )


if __name__ == "__main__":
    main()
