"""Compile the one-kernel LSTM for a GPU without one: registers, spills, shared memory.

Pallas lowers ``semser_tf.kernels.lstm_pallas``'s two kernels to Triton IR on any machine
(``lowering_platforms=("cuda",)``); Triton then compiles that IR to PTX for a chosen
architecture, and ``ptxas -v`` (shipped in Triton's wheel) reports each kernel's registers,
spills and stack. That tells, before a GPU is lent, whether a setting fits a multiprocessor
(shared memory at most 227 KiB, no spills) and where the weights live (the number of global
loads before and inside the time loop).

Triton must be the version whose IR the installed jaxlib writes (triton 3.1.0 for jaxlib
0.4.34). Install it apart from the project's environment, e.g.
``python -m pip install --no-deps --target /tmp/triton-3.1 triton==3.1.0``, and pass that
folder as ``--triton``. Prints one Markdown row per kernel and setting.

Usage:
    KERAS_BACKEND=jax python benchmarks/lstm_kernel_ptx.py --triton /tmp/triton-3.1 \\
        --settings float32:16:4,bfloat16:16:8,float32:1:8 --batch 25
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COMPILE = r"""
import json, os, re, subprocess, sys
import triton
from triton._C.libtriton import ir
from triton.backends.compiler import GPUTarget
from triton.backends.nvidia.compiler import CUDABackend

path, warps, arch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
target = GPUTarget("cuda", arch, 32)
ctx = ir.context()
ir.load_dialects(ctx)
CUDABackend(target).load_dialects(ctx)
pretty = path + ".pretty.ttir"  # Triton's reader wants the custom form, not the generic one
open(pretty, "w").write(str(ir.parse_mlir_module(path, ctx)))
kernel = triton.compile(pretty, target=target, options={"num_warps": warps, "num_stages": 1})
ptx = kernel.asm["ptx"]
ptxas = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "ptxas")
open(path + ".ptx", "w").write(ptx)
out = subprocess.run(
    [ptxas, "-v", f"--gpu-name=sm_{arch}a", path + ".ptx", "-o", path + ".cubin"],
    capture_output=True, text=True, check=True,
).stderr
num = lambda pattern: int((re.search(pattern, out) or [0, 0])[1])
loop = ptx.index("$L__BB0_1:") if "$L__BB0_1:" in ptx else len(ptx)
print(json.dumps({
    "registers": num(r"Used (\d+) registers"),
    "spill_stores": num(r"(\d+) bytes spill stores"),
    "stack": num(r"(\d+) bytes stack frame"),
    "shared": kernel.metadata.shared,
    "global_loads_before_loop": ptx[:loop].count("ld.global"),
    "global_loads_in_loop": ptx[loop:].count("ld.global"),
    "atomics": ptx.count("atom.global"),
}))
"""


def triton_ir(dot, programs, warps, batch, frames, units):
    """The forward and backward kernels' Triton IR (as Pallas lowers them for CUDA)."""
    import jax
    import jax.numpy as jnp
    from jax._src.pallas.triton import lowering

    from semser_tf.kernels import lstm_pallas

    modules = []
    real = lowering.lower_jaxpr_to_triton_module

    def capture(*a, **k):
        result = real(*a, **k)
        modules.append(result.module.operation.get_asm(enable_debug_info=False))
        return result

    lowering.lower_jaxpr_to_triton_module = capture
    try:
        shapes = ((frames, batch, 4 * units), (units, 4 * units), (batch, units), (batch, units))
        args = [jax.ShapeDtypeStruct(s, jnp.float32) for s in shapes]

        def loss(*a):
            hs, c = lstm_pallas.recurrence(*a, dot_dtype=dot, programs=programs, num_warps=warps)
            return hs.sum() + c.sum()

        jax.jit(jax.grad(loss, argnums=(0, 1))).trace(*args).lower(lowering_platforms=("cuda",))
    finally:
        lowering.lower_jaxpr_to_triton_module = real
    return dict(zip(("forward", "backward"), modules))


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--triton", required=True, help="folder holding the triton package")
    p.add_argument(
        "--settings",
        default="float32:16:4,float32:16:8,bfloat16:16:4,bfloat16:16:8,float32:8:8,float32:1:8",
    )
    p.add_argument("--batch", type=int, default=25)
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--arch", type=int, default=90, help="compute capability x 10 (90: H100, H200)")
    args = p.parse_args()
    if not (Path(args.triton) / "triton").is_dir():
        raise SystemExit(f"--triton {args.triton}: no triton package in that folder")
    print(
        "| dot | programs | warps | kernel | registers | spill stores B | stack B | shared KiB | global loads before / in the loop | atomics |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for setting in args.settings.split(","):
            parts = setting.split(":")
            if len(parts) != 3:
                p.error(f"--settings {setting!r}: expected DOT:PROGRAMS:WARPS, e.g. float32:16:4")
            dot, programs, warps = parts
            modules = triton_ir(dot, int(programs), int(warps), args.batch, args.frames, args.units)
            for name, text in modules.items():
                path = os.path.join(tmp, f"{name}.ttir")
                Path(path).write_text(text)
                run = subprocess.run(
                    [sys.executable, "-c", COMPILE, path, warps, str(args.arch)],
                    env={**os.environ, "PYTHONPATH": args.triton},
                    capture_output=True,
                    text=True,
                )
                if run.returncode:
                    print(
                        f"| {dot} | {programs} | {warps} | {name} | failed: "
                        f"{(run.stderr.strip().splitlines() or [f'exit {run.returncode}'])[-1]} |"
                    )
                    continue
                r = json.loads(run.stdout.strip().splitlines()[-1])
                print(
                    f"| {dot} | {programs} | {warps} | {name} | {r['registers']} | {r['spill_stores']} | "
                    f"{r['stack']} | {r['shared'] / 1024:.0f} | {r['global_loads_before_loop']} / "
                    f"{r['global_loads_in_loop']} | {r['atomics']} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
