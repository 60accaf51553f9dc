"""keras.distribution.DataParallel across two JAX processes on 127.0.0.1 (CPU, one device
each, ``jax.distributed.initialize`` and the gloo CPU collectives) against one process.

Each process feeds its own half of every global batch (Keras's
``DataParallel.distribute_dataset`` shards the tf.data input by process); the CCC loss
and metric are whole-batch statistics of the global array, computed by XLA across the
processes.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = Path(__file__).with_name("jax_multiprocess_check.py")


def _start(address, count, index, log_path):
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        JAX_PLATFORMS="cpu",
        CUDA_VISIBLE_DEVICES="",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    # a file, not a pipe: a full pipe would block a process that the other one waits for
    # in jax.distributed's shutdown barrier
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [sys.executable, str(CHECK), address, str(count), str(index)],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env=env,
        )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    pytest.importorskip("jax")
    tmp = tmp_path_factory.mktemp("jaxmp")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{s.getsockname()[1]}"
    s.close()
    args = {"p0": (address, 2, 0), "p1": (address, 2, 1), "single": ("-", 1, 0)}
    procs = {name: _start(*a, tmp / f"{name}.log") for name, a in args.items()}
    out = {}
    for name, p in procs.items():
        try:
            p.wait(timeout=300)
        finally:
            if p.poll() is None:
                p.kill()
        text = (tmp / f"{name}.log").read_text()
        line = next((ln for ln in text.splitlines() if ln.startswith(("RESULT ", "ERROR "))), None)
        assert line is not None and line.startswith("RESULT "), f"{name}: {text[-4000:]}"
        out[name] = json.loads(line[len("RESULT ") :])
    return out


@pytest.mark.slow  # three JAX processes
def test_two_processes_two_steps_equal_one_process(runs):
    single = runs["single"]
    assert single["processes"] == 1 and single["local_batches"] == [4, 4]
    moved = max(
        float(np.abs(np.array(a) - np.array(b)).max())
        for a, b in zip(single["init"], single["weights"])
    )
    assert moved > 1e-4  # the two steps changed the weights: the comparison is not vacuous
    for name in ("p0", "p1"):
        r = runs[name]
        assert r["processes"] == 2 and r["devices"] == 2
        assert r["local_batches"] == [2, 2]  # each process feeds half of each global batch
        assert abs(r["loss"] - single["loss"]) < 1e-5
        for k, v in single["ccc"].items():
            assert abs(r["ccc"][k] - v) < 1e-5, k
        diff = max(
            float(np.abs(np.array(a) - np.array(b)).max())
            for a, b in zip(r["weights"], single["weights"])
        )
        assert diff < 1e-5
