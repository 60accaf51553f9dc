"""Seconds per training step and audio seconds per second of a model variant.

Prints one JSON line per measurement. With ``--reference`` it also runs the plain Keras
implementation of the official architecture (``../shared/bench/ref_bench.py keras``) in a
subprocess on the same machine, alternating with our model ``--rounds`` times, and
prints the ratio of the medians.

Usage:
    python benchmarks/train_step.py --variant attention --batch 5 --sequence-length 300 --reference
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine, median_time, run_reference  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REF = REPO.parent / "shared" / "bench" / "ref_bench.py"


def measure(variant, batch, frames, steps, jit, precision):
    import keras
    import numpy as np

    from semser_tf.constants import SAMPLE_RATE, SAMPLES_PER_FRAME
    from semser_tf.models import ModelConfig, build_model, compile_model, select_inputs

    if precision != "float32":
        keras.mixed_precision.set_global_policy(precision)
    config = ModelConfig(variant=variant, batch_size=batch, sequence_length=frames)
    model = compile_model(build_model(config), config, jit_compile=jit)
    rng = np.random.default_rng(0)
    x = select_inputs(model, {
        "waveform": (rng.standard_normal((batch, frames, SAMPLES_PER_FRAME)) * 0.1).astype("float32"),
        "semantic": rng.standard_normal((batch, frames, config.semantic_dim)).astype("float32"),
    })
    y = rng.uniform(-1, 1, (batch, frames, len(config.targets))).astype("float32")
    step = median_time(lambda: model.train_on_batch(x, y), steps)
    infer = median_time(lambda: model.predict_on_batch(x), steps)
    audio = batch * frames * SAMPLES_PER_FRAME / SAMPLE_RATE
    return {
        "impl": f"semser_tf-{keras.backend.backend()}",
        "variant": variant, "batch": batch, "sequence_length": frames,
        "precision": precision, "jit_compile": jit,
        "parameters": int(model.count_params()),
        "train_step_s": round(step, 4),
        "train_audio_s_per_s": round(audio / step, 1),
        "infer_audio_s_per_s": round(audio / infer, 1),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", default="attention")
    p.add_argument("--batch", type=int, default=5)
    p.add_argument("--sequence-length", type=int, default=300)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--jit", default="auto", help="jit_compile: auto, true or false")
    p.add_argument("--precision", default="float32", help="keras dtype policy, e.g. mixed_bfloat16")
    p.add_argument("--reference", nargs="?", const=str(DEFAULT_REF), default=None,
                   help="also run the reference script (default ../shared/bench/ref_bench.py)")
    p.add_argument("--rounds", type=int, default=2, help="alternations with the reference")
    p.add_argument("--self", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    jit = {"auto": "auto", "true": True, "false": False}[args.jit.lower()]

    if args.reference is None or args.self:
        emit({**measure(args.variant, args.batch, args.sequence_length, args.steps, jit, args.precision),
              "machine": machine()})
        return
    # Alternate reference and ours, each in a fresh process, so both see the same load.
    env = {"B": str(args.batch), "T": str(args.sequence_length), "STEPS": str(args.steps)}
    ours_cmd = [a for a in sys.argv[1:] if not a.startswith("--reference")] + ["--self"]
    ours, refs = [], []
    import json
    import subprocess
    for _ in range(args.rounds):
        refs.append(run_reference(args.reference, "keras", env))
        out = subprocess.run([sys.executable, __file__, *ours_cmd], check=True, capture_output=True, text=True).stdout
        ours.append(json.loads([l for l in out.splitlines() if l.startswith("{")][-1]))
    for r in refs:
        emit({"reference": r})
    for o in ours:
        emit(o)
    med = lambda rows, k: statistics.median(r[k] for r in rows)  # noqa: E731
    emit({
        "summary": "ours / reference (medians over rounds)",
        "train_ratio": round(med(ours, "train_audio_s_per_s") / med(refs, "train_audio_s_per_s"), 3),
        "infer_ratio": round(med(ours, "infer_audio_s_per_s") / med(refs, "infer_audio_s_per_s"), 3),
        "ours_train_audio_s_per_s": med(ours, "train_audio_s_per_s"),
        "ref_train_audio_s_per_s": med(refs, "train_audio_s_per_s"),
        "ours_infer_audio_s_per_s": med(ours, "infer_audio_s_per_s"),
        "ref_infer_audio_s_per_s": med(refs, "infer_audio_s_per_s"),
        "machine": machine(),
    })


if __name__ == "__main__":
    main()
