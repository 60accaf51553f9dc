"""train() under MirroredStrategy (two logical CPUs): a complete run on the same loss scale.

The runs are not identical: Keras iterates a distributed dataset differently, so the
seeded shuffle of the training windows gives another order than on one device (with
shuffling off, three Adam steps give the same loss and CCC to 1e-6: see docs/scaling.md).
The exact equivalence of a step is tested in test_mirrored.py.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    from semser_tf.data.synthetic import generate_corpus

    root = tmp_path_factory.mktemp("distribute") / "corpus"
    generate_corpus(root, minutes=1.5, seed=3, recording_seconds=25, progress=False)
    return root


@pytest.mark.slow  # two training runs in a TensorFlow subprocess: about 45 s on 2 cores
def test_train_mirrored_run(small_corpus, tmp_path):
    env = dict(
        os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", KERAS_BACKEND="tensorflow"
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("train_check.py")),
            str(small_corpus),
            str(tmp_path / "cache"),
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    assert res["mirrored"]["replicas"] == 2
    hist = {
        name: list(csv.DictReader(open(tmp_path / "runs" / name / "history.csv"))) for name in res
    }
    assert len(hist["single"]) == len(hist["mirrored"]) == 2
    for a, b in zip(hist["single"], hist["mirrored"]):
        # a CCC loss near 1 for an untrained model; a per-replica sum would log about 2
        for key in ("loss", "val_loss"):
            assert abs(float(b[key]) - float(a[key])) < 0.02, (key, a[key], b[key])
            assert 0.9 < float(b[key]) < 1.1
        assert abs(float(b["val_ccc"]) - (1.0 - float(b["val_loss"]))) < 0.05
    m = res["mirrored"]["report"][0]
    assert set(m["ccc"]) == {"arousal", "valence", "liking"}
    assert all(-1.0 <= v <= 1.0 for v in m["ccc"].values())
    for name in res:
        run = tmp_path / "runs" / name
        assert json.loads((run / "config.json").read_text())["variant"] == "paralinguistic"
        assert (run / "best.keras").is_file()
