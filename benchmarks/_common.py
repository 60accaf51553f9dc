"""Shared helpers of the benchmark scripts: timing, machine description, JSON output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time


def machine() -> dict:
    info = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def add_shape_args(parser, batch: int = 5, steps: int = 5) -> None:
    """The options every model benchmark takes: variant, batch, sequence length, timed steps."""
    parser.add_argument("--variant", default="attention")
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--sequence-length", type=int, default=300)
    parser.add_argument("--steps", type=int, default=steps, help="timed steps (median)")


def median_time(fn, steps: int, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` over ``steps`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_reference(script: str, impl: str, env: dict, python: str | None = None) -> dict:
    """Run benchmarks/reference_model.py (or another script printing one JSON line), with
    ``python`` (default: this interpreter; the torch reference may need another one)."""
    out = subprocess.run(
        [python or sys.executable, script, impl],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def emit(record: dict) -> None:
    print(json.dumps(record, sort_keys=True), flush=True)


def jax_header(argv) -> dict:
    """The first record of a JAX benchmark: machine, devices, JAX and Keras versions, argv."""
    import jax
    import keras

    return {
        "machine": machine(),
        "devices": [str(d) for d in jax.devices()],
        "device_kind": jax.devices()[0].device_kind,
        "jax": jax.__version__,
        "keras": keras.__version__,
        "argv": list(argv),
    }


def json_recorder(out, filename: str, elapsed):
    """``(records, rec)``: ``rec(r)`` stamps ``r`` with ``elapsed()`` seconds, keeps it,
    prints it as a JSON line and, with an ``out`` folder, rewrites ``out/filename`` (all
    records so far; temporary name, then rename)."""
    from pathlib import Path

    records: list = []

    def rec(r):
        r = {**r, "t_s": round(elapsed(), 1)}
        records.append(r)
        emit(r)
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            path = Path(out) / filename
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(records, indent=1, default=str))
            os.replace(tmp, path)

    return records, rec
