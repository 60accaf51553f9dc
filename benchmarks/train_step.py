"""Seconds per training step and audio seconds per second of a model variant.

Prints one JSON line per measurement. With ``--reference`` it also runs the plain Keras
implementation of the official architecture (``benchmarks/reference_model.py keras``) in a
subprocess on the same machine, alternating with our model ``--rounds`` times, and
prints the ratio of the medians. ``--precision`` and ``--jit`` take comma-separated lists:
each combination is measured in every round, right after the reference, and gets its
own summary line. ``--json-out`` also writes every record to a file. The backend is
``KERAS_BACKEND``'s (the reference runs under the same backend).

Usage:
    python benchmarks/train_step.py --variant attention --batch 5 --sequence-length 300 --reference
    python benchmarks/train_step.py --reference --rounds 3 --precision float32,mixed_bfloat16 --jit true,false
    KERAS_BACKEND=jax python benchmarks/train_step.py --batch 25 --reference benchmarks/reference_model.py \
        --precision float32,mixed_bfloat16 --steps 20 --json-out out.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_shape_args, emit, machine, median_time, run_reference  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REF = REPO / "benchmarks" / "reference_model.py"


def measure(variant, batch, frames, steps, jit, precision, im2col_depth=None):
    import keras
    import numpy as np

    if im2col_depth is not None:  # experiments only: which convolutions run as im2col matmuls
        import semser_tf.layers.conv_paralinguistic as cp

        cp._IM2COL_MAX_DEPTH = {
            "float32": im2col_depth,
            "bfloat16": im2col_depth,
            "float16": im2col_depth,
        }

    from semser_tf.constants import SAMPLE_RATE, SAMPLES_PER_FRAME
    from semser_tf.models import ModelConfig, build_model, compile_model, select_inputs

    if precision != "float32":
        keras.mixed_precision.set_global_policy(precision)
    config = ModelConfig(variant=variant, batch_size=batch, sequence_length=frames)
    keras.utils.set_random_seed(config.seed)  # build_model leaves seeding to its caller
    model = compile_model(build_model(config), config, jit_compile=jit)
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
    y = rng.uniform(-1, 1, (batch, frames, len(config.targets))).astype("float32")
    step = median_time(lambda: model.train_on_batch(x, y), steps)
    infer = median_time(lambda: model.predict_on_batch(x), steps)
    audio = batch * frames * SAMPLES_PER_FRAME / SAMPLE_RATE
    device = "cpu"
    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0].device_kind
    return {
        "device": device,
        "impl": f"semser_tf-{keras.backend.backend()}",
        "variant": variant,
        "batch": batch,
        "sequence_length": frames,
        "precision": precision,
        "jit_compile": jit,
        "im2col_depth": im2col_depth,
        "parameters": int(model.count_params()),
        "train_step_s": round(step, 4),
        "train_audio_s_per_s": round(audio / step, 1),
        "infer_audio_s_per_s": round(audio / infer, 1),
    }


def _jit(value):
    return {"auto": "auto", "true": True, "false": False}[value.strip().lower()]


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_shape_args(p)
    p.add_argument(
        "--jit", default="auto", help="jit_compile: auto, true or false (comma-separated list)"
    )
    p.add_argument(
        "--precision",
        default="float32",
        help="keras dtype policy, e.g. mixed_bfloat16 (comma-separated list)",
    )
    p.add_argument(
        "--reference",
        nargs="?",
        const=str(DEFAULT_REF),
        default=None,
        help="also run the reference script (default benchmarks/reference_model.py)",
    )
    p.add_argument(
        "--reference-jit", default=None, help="JIT environment value for the reference (0 = off)"
    )
    p.add_argument(
        "--reference-impl",
        default="keras",
        choices=("keras", "torch"),
        help="the reference in plain Keras (same backend) or in PyTorch (default: %(default)s)",
    )
    p.add_argument(
        "--reference-python",
        default=None,
        help="interpreter that runs the reference, e.g. a venv with torch (default: this one)",
    )
    p.add_argument("--rounds", type=int, default=2, help="alternations with the reference")
    p.add_argument(
        "--json-out", default=None, help="also write every record (JSON list) to this file"
    )
    p.add_argument(
        "--im2col-depth",
        default=None,
        help="experiments: convolutions of patch depth <= this run as im2col matmuls "
        "(comma-separated list; default: the layer's own rule)",
    )
    p.add_argument("--self", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    precisions = [x.strip() for x in args.precision.split(",") if x.strip()]
    jits = [_jit(x) for x in args.jit.split(",") if x.strip()]
    depths = (
        [None]
        if args.im2col_depth is None
        else [None if x.strip() == "default" else int(x) for x in args.im2col_depth.split(",")]
    )
    records = []

    def out(record):
        records.append(record)
        emit(record)
        _write(args.json_out, records)  # as we go: a run cut short keeps what it measured

    if args.reference is None or args.self:
        for precision in precisions:
            for jit in jits:
                for depth in depths:
                    out(
                        {
                            **measure(
                                args.variant,
                                args.batch,
                                args.sequence_length,
                                args.steps,
                                jit,
                                precision,
                                depth,
                            ),
                            "machine": machine(),
                            "loadavg": _loadavg(),
                        }
                    )
        _write(args.json_out, records)
        return
    # Alternate reference and ours, each in a fresh process, so both see the same load.
    import json
    import subprocess

    env = {"B": str(args.batch), "T": str(args.sequence_length), "STEPS": str(args.steps)}
    if args.reference_jit is not None:
        env["JIT"] = args.reference_jit
    base = [
        sys.executable,
        __file__,
        "--self",
        "--variant",
        args.variant,
        "--batch",
        str(args.batch),
        "--sequence-length",
        str(args.sequence_length),
        "--steps",
        str(args.steps),
    ]
    combos = [(pr, j, d) for pr in precisions for j in jits for d in depths]
    ours = {c: [] for c in combos}
    refs = []
    for _ in range(args.rounds):
        ref = run_reference(args.reference, args.reference_impl, env, args.reference_python)
        refs.append({**ref, "loadavg": _loadavg()})
        out({"reference": refs[-1]})
        for pr, j, d in combos:
            cmd = base + ["--precision", pr, "--jit", str(j).lower()]
            if d is not None:
                cmd += ["--im2col-depth", str(d)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode:
                out(
                    {
                        "error": f"{pr} jit={j} im2col_depth={d} exited with {res.returncode}",
                        "stderr_tail": res.stderr[-3000:],
                    }
                )
                continue
            ours[(pr, j, d)].append(
                json.loads([line for line in res.stdout.splitlines() if line.startswith("{")][-1])
            )
            out(ours[(pr, j, d)][-1])
    med = lambda rows, k: statistics.median(r[k] for r in rows)  # noqa: E731
    for (pr, j, d), rows in ours.items():
        if not rows:
            continue
        out(
            {
                "summary": "ours / reference (medians over rounds)",
                "precision": pr,
                "jit_compile": j,
                "im2col_depth": d,
                "rounds": args.rounds,
                "train_ratio": round(
                    med(rows, "train_audio_s_per_s") / med(refs, "train_audio_s_per_s"), 3
                ),
                # Each round's ours / that round's reference, then the median: pairs runs that
                # saw the same load (rounds where a combination failed are left out).
                "train_ratio_paired_median": _paired(rows, refs, "train_audio_s_per_s"),
                "infer_ratio_paired_median": _paired(rows, refs, "infer_audio_s_per_s"),
                "infer_ratio": round(
                    med(rows, "infer_audio_s_per_s") / med(refs, "infer_audio_s_per_s"), 3
                ),
                "ours_train_audio_s_per_s": med(rows, "train_audio_s_per_s"),
                "ref_train_audio_s_per_s": med(refs, "train_audio_s_per_s"),
                "ours_infer_audio_s_per_s": med(rows, "infer_audio_s_per_s"),
                "ref_infer_audio_s_per_s": med(refs, "infer_audio_s_per_s"),
                "ref_impl": refs[0].get("impl"),
                "machine": machine(),
            }
        )
    _write(args.json_out, records)


def _paired(rows, refs, key):
    if len(rows) != len(refs):
        return None
    return round(statistics.median(r[key] / f[key] for r, f in zip(rows, refs)), 3)


def _loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return None


def _write(path, records):
    if not path:
        return
    import json

    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(records, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
