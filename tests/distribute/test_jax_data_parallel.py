"""keras.distribution.DataParallel on the JAX backend (two forced host devices) against one device.

Under DataParallel the batch is one global array sharded over the devices and XLA computes
the whole-batch CCC statistics itself: no all-reduce of ours is involved (replica_sum is
the identity on JAX). This checks that the CCC loss, its gradients and the streaming
metric come out as on one device.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runs():
    pytest.importorskip("jax")
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="",
        JAX_PLATFORMS="cpu",
    )
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("jax_check.py"))],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[7:])


@pytest.mark.slow  # a JAX subprocess: about 20-25 s on 2 cores
def test_data_parallel_step_equals_single_device(runs):
    assert runs["devices"] == 2 and runs["mesh"] == [2]
    s, p = runs["single"], runs["parallel"]
    assert abs(s["loss"] - p["loss"]) < 1e-5
    for a, b in zip(s["weights"], p["weights"]):
        np.testing.assert_allclose(np.array(b), np.array(a), rtol=1e-4, atol=1e-6)
    for k, v in s["eval"].items():
        assert abs(v - p["eval"][k]) < 1e-5, k
