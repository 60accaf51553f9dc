"""MirroredStrategy over two logical CPU devices against single-device training.

The CCC is a statistic of the whole batch: the loss and the streaming metric all-reduce
their moment sums over replicas (semser_tf.distribute.replica_sum). Without that, each
replica would compute the CCC of its half batch and the logged loss, the gradients and
the metric would all differ from the single-device values.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def weighted_ccc(gold, pred, weight):
    """Reference CCC per target over all frames (population moments, weights)."""
    g = gold.reshape(-1, gold.shape[-1])
    p = pred.reshape(-1, pred.shape[-1])
    w = weight.reshape(-1)
    keep = w > 0
    g, p = g[keep].astype(np.float64), p[keep].astype(np.float64)
    out = []
    for j in range(g.shape[1]):
        mg, mp = g[:, j].mean(), p[:, j].mean()
        cov = ((g[:, j] - mg) * (p[:, j] - mp)).mean()
        out.append(2 * cov / (g[:, j].var() + p[:, j].var() + (mg - mp) ** 2))
    return np.array(out)


@pytest.fixture(scope="module")
def runs():
    env = dict(
        os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", KERAS_BACKEND="tensorflow"
    )
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("mirrored_check.py")), "sgd"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def test_two_replicas_were_used(runs):
    assert runs["single"]["replicas"] == 1
    assert runs["mirrored"]["replicas"] == 2


def test_same_initial_weights(runs):
    for a, b in zip(runs["single"]["init"], runs["mirrored"]["init"]):
        np.testing.assert_array_equal(np.array(a), np.array(b))


def test_first_step_loss_equal(runs):
    s, m = runs["single"]["loss"], runs["mirrored"]["loss"]
    assert abs(s - m) < 1e-5, (s, m)
    # a CCC loss lies in [0, 2]; two replicas each adding their own loss would give ~2x
    assert 0.0 <= m <= 2.0


def test_weights_after_one_sgd_step_equal(runs):
    moved = 0.0
    # the paralinguistic model has trainable weights only: model.weights is the same list
    for a, b, i in zip(
        runs["single"]["weights"], runs["mirrored"]["weights"], runs["single"]["init"]
    ):
        a, b = np.array(a), np.array(b)
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
        moved = max(moved, float(np.abs(a - np.array(i)).max()))
    assert moved > 1e-4  # the step did change the weights: the comparison is not vacuous


def test_streaming_ccc_equals_single_device_and_reference(runs):
    d = runs["data"]
    ref = weighted_ccc(np.array(d["yv"]), np.array(runs["single"]["pred"]), np.array(d["wv"]))
    for name in ("single", "mirrored"):
        ev = runs[name]["eval"]
        np.testing.assert_allclose(ev["ccc"], ref.mean(), atol=1e-5)
        for j, t in enumerate(("arousal", "valence", "liking")):
            np.testing.assert_allclose(ev[f"ccc_{t}"], ref[j], atol=1e-5)
    np.testing.assert_allclose(
        runs["mirrored"]["pred"], runs["single"]["pred"], rtol=1e-4, atol=1e-6
    )
    # the loss on the validation batches: mean over batches of the whole-batch CCC loss
    assert abs(runs["single"]["eval"]["loss"] - runs["mirrored"]["eval"]["loss"]) < 1e-5


def test_training_step_ccc_metric_equal(runs):
    s, m = runs["single"]["train_ccc"], runs["mirrored"]["train_ccc"]
    assert set(s) == {"ccc", "ccc_arousal", "ccc_valence", "ccc_liking"}
    for k in s:
        assert abs(s[k] - m[k]) < 1e-5, (k, s[k], m[k])
