"""Multi-worker training with two real worker processes on 127.0.0.1 (CPU only).

Each worker is its own process with its own TF_CONFIG (free ports picked here) running
``semser_tf.training.multiworker.fit_multiworker`` under ``MultiWorkerMirroredStrategy``;
a third process trains the same model with Keras's own ``model.fit`` on one device, on the
same global batches: the reference. ``model.fit`` itself cannot train with two workers
(keras-team/keras#20585).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = Path(__file__).with_name("multiworker_check.py")
TARGETS = ("arousal", "valence", "liking")


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def env_for(task=None, ports=()):
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="",
        KERAS_BACKEND="tensorflow",
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    env.pop("TF_CONFIG", None)
    if task is not None:
        cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
        env["TF_CONFIG"] = json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": task}}
        )
    return env


def start(mode, out, options, log, task=None, ports=()):
    """The check script in a process writing to the file ``log`` (not a pipe: a full pipe
    would block a worker that the other one waits for at a collective op)."""
    with open(log, "w") as f:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, str(CHECK), mode, str(out), json.dumps(options)],
            stdout=f,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env=env_for(task, ports),
        )


def result_of(text):
    line = next((ln for ln in text.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, text[-4000:]
    return json.loads(line[len("RESULT ") :])


def run_cluster(tmp, options, single=True, timeout=240):
    """Two workers (and the single-process reference) at once; their results."""
    ports = free_ports(2)
    procs = {
        f"w{i}": start("worker", tmp / f"w{i}", options, tmp / f"w{i}.log", i, ports)
        for i in range(2)
    }
    if single:
        procs["single"] = start("single", tmp / "single", options, tmp / "single.log")
    out = {}
    for name, p in procs.items():
        out[name] = finish(p, tmp / f"{name}.log", timeout)
    return out


def finish(proc, log_path, timeout=240):
    """Wait for ``proc`` (killed past ``timeout``); its result, from its log."""
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = Path(log_path).read_text()
    assert proc.returncode == 0, f"{log_path}: {text[-4000:]}"
    return result_of(text)


def weighted_ccc(gold, pred, weight):
    """Reference CCC per target over all frames (population moments, frames of weight > 0)."""
    g = np.asarray(gold, np.float64).reshape(-1, gold.shape[-1])
    p = np.asarray(pred, np.float64).reshape(-1, pred.shape[-1])
    keep = np.asarray(weight).reshape(-1) > 0
    g, p = g[keep], p[keep]
    mg, mp = g.mean(0), p.mean(0)
    cov = ((g - mg) * (p - mp)).mean(0)
    return 2 * cov / (g.var(0) + p.var(0) + (mg - mp) ** 2)


def max_diff(a, b):
    return max(float(np.abs(np.array(x) - np.array(y)).max()) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def two_steps(tmp_path_factory):
    """Two SGD steps of global batch 4 (2 windows per worker), then a validation pass."""
    return run_cluster(tmp_path_factory.mktemp("mw"), {"steps": 2, "epochs": 1})


def test_two_workers_of_one_replica_each(two_steps):
    for name in ("w0", "w1"):
        assert two_steps[name]["workers"] == 2
        assert two_steps[name]["replicas"] == 2
        assert two_steps[name]["iterations"] == 2
    assert [two_steps["w0"]["chief"], two_steps["w1"]["chief"]] == [True, False]


def test_weights_after_two_steps_equal_one_process(two_steps):
    single = two_steps["single"]
    assert max_diff(two_steps["w0"]["init"], single["init"]) == 0.0
    assert max_diff(single["weights"], single["init"]) > 1e-4  # the steps moved the weights
    for name in ("w0", "w1"):
        assert max_diff(two_steps[name]["weights"], single["weights"]) < 1e-5


def test_loss_and_ccc_metrics_equal_one_process(two_steps):
    ref = two_steps["single"]["history"][0]
    keys = ["loss", "ccc", *(f"ccc_{t}" for t in TARGETS)]
    keys += [f"val_{k}" for k in keys]
    for name in ("w0", "w1"):
        (row,) = two_steps[name]["history"]
        assert row["epoch"] == 1
        for k in keys:
            assert abs(row[k] - ref[k]) < 1e-5, (name, k, row[k], ref[k])


def test_validation_ccc_equals_numpy_reference(two_steps):
    single = two_steps["single"]
    d = single["data"]
    yv, wv = np.array(d["yv"]), np.array(d["wv"])
    ref = weighted_ccc(yv, np.array(single["val_pred"]), wv)
    row = two_steps["w0"]["history"][0]
    for j, t in enumerate(TARGETS):
        assert abs(row[f"val_ccc_{t}"] - ref[j]) < 1e-5, (t, row[f"val_ccc_{t}"], ref[j])
    assert abs(row["val_ccc"] - ref.mean()) < 1e-5
    # the CCC of the concatenation, not a mean of per-batch CCCs (batches of 4, 4, 2)
    per_batch = np.mean(
        [
            weighted_ccc(yv[i : i + 4], np.array(single["val_pred"])[i : i + 4], wv[i : i + 4])
            for i in (0, 4, 8)
        ],
        axis=0,
    )
    assert np.abs(per_batch - ref).max() > 1e-3


@pytest.mark.slow
def test_killed_worker_restarted_loses_and_repeats_no_step(tmp_path):
    """Worker 1 is SIGKILLed in the middle of epoch 1 (of 2, 4 steps each, a checkpoint
    after every step); worker 0 then stops with an error at its next collective op. Both
    are restarted (as a cluster manager would): they resume from the checkpoint both
    committed, and finish with the weights, history and step counter of an uninterrupted
    run."""
    options = {"steps": 4, "epochs": 2, "backup_steps": 1, "step_seconds": 1.0}
    ports = free_ports(2)
    procs = [
        start("worker", tmp_path / f"w{i}", options, tmp_path / f"first{i}.log", i, ports)
        for i in range(2)
    ]
    single = start("single", tmp_path / "single", options, tmp_path / "single.log")
    deadline = time.time() + 240
    while "STEP 0 1" not in (tmp_path / "first1.log").read_text():  # two steps done
        assert time.time() < deadline and procs[1].poll() is None, (
            tmp_path / "first1.log"
        ).read_text()[-3000:]
        time.sleep(0.2)
    procs[1].send_signal(signal.SIGKILL)
    procs[1].wait(timeout=30)
    try:
        assert procs[0].wait(timeout=120) != 0  # the survivor fails, it does not hang
    finally:
        if procs[0].poll() is None:
            procs[0].kill()
    first0 = (tmp_path / "first0.log").read_text()
    assert "RESULT " not in first0 and "STEP 1 " not in first0  # it stopped in epoch 1

    again = dict(options, step_seconds=0.0)
    ports = free_ports(2)
    procs = [
        start("worker", tmp_path / f"w{i}", again, tmp_path / f"again{i}.log", i, ports)
        for i in range(2)
    ]
    out = {}
    for i, p in enumerate(procs):
        res = finish(p, tmp_path / f"again{i}.log")
        out[i] = ((tmp_path / f"again{i}.log").read_text(), res)
    ref = finish(single, tmp_path / "single.log")

    for i in range(2):
        text, res = out[i]
        steps_run = [ln for ln in text.splitlines() if ln.startswith("STEP ")]
        assert steps_run[0] in ("STEP 0 1", "STEP 0 2")  # from the checkpoint both committed
        assert len(steps_run) + int(steps_run[0].split()[2]) == 8  # each remaining step once
        assert res["iterations"] == 8  # the optimizer's step counter: 2 epochs x 4 steps
        assert [row["epoch"] for row in res["history"]] == [1, 2]
        for row, want in zip(res["history"], ref["history"]):
            for k in ("loss", "ccc", "val_ccc", "val_loss"):
                assert abs(row[k] - want[k]) < 1e-5, (i, row["epoch"], k)
        assert max_diff(res["weights"], ref["weights"]) < 1e-5
    rows = (tmp_path / "w0" / "history.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2"]


@pytest.mark.slow
def test_semser_train_with_two_workers_equals_one_process(speech_corpus, tmp_path):
    """``semser train --strategy multiworker`` with two workers (train() dispatches to the
    custom loop) gives each worker the history of a one-process ``semser train``."""
    args = [
        str(speech_corpus),
        "--variant",
        "paralinguistic",
        *("--set", "conv_filters=[4,4,8]", "--set", "lstm_units=8", "--set", "dropout=0.0"),
        *("--set", "sequence_length=50", "--set", "batch_size=4"),
        *("--epochs", "2", "--steps-per-epoch", "3"),
    ]

    def semser(name, task=None, ports=()):
        extra = ["--strategy", "multiworker"] if task is not None else []
        with open(tmp_path / f"{name}.log", "w") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "semser_tf.cli", "train", *args, *extra]
                + ["--out", str(tmp_path / name), "--cache-dir", str(tmp_path / f"cache-{name}")],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=env_for(task, ports),
            )

    ports = free_ports(2)
    procs = {"w0": semser("w0", 0, ports), "w1": semser("w1", 1, ports), "single": semser("single")}
    for name, p in procs.items():
        try:
            p.wait(timeout=400)
        finally:
            if p.poll() is None:
                p.kill()
        assert p.returncode == 0, (tmp_path / f"{name}.log").read_text()[-4000:]
    from semser_tf.training.loop import read_history

    ref = read_history(tmp_path / "single" / "history.csv")
    assert [r["epoch"] for r in ref] == [1, 2]
    for name in ("w0", "w1"):
        rows = read_history(tmp_path / name / "history.csv")
        assert [r["epoch"] for r in rows] == [1, 2]
        for row, want in zip(rows, ref):
            for k in ("loss", "ccc", "val_loss", "val_ccc", *(f"val_ccc_{t}" for t in TARGETS)):
                assert abs(row[k] - want[k]) < 1e-5, (name, row["epoch"], k, row[k], want[k])
        assert (tmp_path / name / "best.keras").is_file()
        report = json.loads((tmp_path / name / "report.json").read_text())
        assert report["epochs_done"] == 2


def test_one_worker_and_other_strategies_keep_model_fit():
    import tensorflow as tf

    from semser_tf.training.multiworker import uses_multiworker_loop, worker_count

    assert not uses_multiworker_loop(None)
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0"])
    assert not uses_multiworker_loop(mirrored) and worker_count(mirrored) == 1


def test_a_checkpoint_counts_once_its_weights_and_state_are_both_written(tmp_path):
    from semser_tf.training.multiworker import committed_positions

    (tmp_path / "step-3.weights.h5").write_bytes(b"w")
    (tmp_path / "step-3.json").write_text("{}")
    (tmp_path / "step-5.weights.h5").write_bytes(b"w")  # killed before its commit point
    (tmp_path / "step-7.json").write_text("{}")  # its weights file is gone
    (tmp_path / ".0a1b2c.step-9.weights.h5").write_bytes(b"w")  # a temporary
    assert committed_positions(tmp_path) == [3]
    assert committed_positions(tmp_path / "missing") == []


def test_an_unreadable_checkpoint_state_names_the_file(tmp_path):
    from semser_tf.errors import DataError
    from semser_tf.training.multiworker import read_step_state

    (tmp_path / "step-4.json").write_text("{not json")
    with pytest.raises(DataError, match="step-4.json.*cannot read the multi-worker checkpoint"):
        read_step_state(tmp_path, 4)
    (tmp_path / "step-4.json").write_text('{"epoch": 1}')
    with pytest.raises(DataError, match="expected a JSON object with epoch, batch"):
        read_step_state(tmp_path, 4)
