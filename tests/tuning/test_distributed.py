"""A chief and three workers on 127.0.0.1: the search completes with trials spread over the
workers, and when a worker is killed during a trial that trial is run again by another one;
every trial completes exactly once. The search goes through keras-tuner's public API and
semser_tf.tuning.adapter, the one module that imports keras_tuner.src (tests/tuning/test_adapter.py)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_TRIALS = 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def semser(args, log):
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="",
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS="1",
        TF_NUM_INTRAOP_THREADS="1",
        TF_NUM_INTEROP_THREADS="1",
    )
    for k in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        env.pop(k, None)
    return subprocess.Popen(
        [sys.executable, "-m", "semser_tf.cli", "tune", *args],
        cwd=ROOT,
        env=env,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
    )


def wait_for(predicate, timeout, what, procs=()):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        for p in procs:
            if p.poll() not in (None, 0):
                raise AssertionError(f"{what}: a process ended with {p.returncode}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def events(out, tuner_id):
    path = out / "search" / "workers" / f"{tuner_id}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow  # four TensorFlow processes and a 6 s worker timeout
def test_chief_three_workers_one_killed(tiny_corpus, tiny_cache, tmp_path):
    from tests.tuning.conftest import TINY

    out = tmp_path / "search_out"
    port = free_port()
    common = [
        str(tiny_corpus),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--cache-dir",
        str(tiny_cache),
        "--search",
        "lstm_units=[4,8,12]",
        "--search",
        "learning_rate=[0.001,0.003,0.01]",
    ]
    common += [
        x
        for k, v in TINY.items()
        if k not in ("lstm_units", "learning_rate")
        for x in ("--set", f"{k}={json.dumps(list(v) if isinstance(v, tuple) else v)}")
    ]
    for name in (
        "conv_scale",
        "fusion_units",
        "stream_units",
        "dropout",
        "sequence_length",
        "variant",
    ):
        common += ["--fix", name]
    procs = []
    try:
        chief = semser(
            common
            + [
                "--max-trials",
                str(MAX_TRIALS),
                "--distributed",
                "chief",
                "--oracle",
                f"127.0.0.1:{port}",
                "--worker-timeout",
                "6",
                "--no-export",
                "--overwrite",
            ],
            tmp_path / "chief.log",
        )
        procs.append(chief)
        worker_args = common + [
            "--distributed",
            "worker",
            "--oracle",
            f"127.0.0.1:{port}",
            "--heartbeat",
            "1",
            "--connect-timeout",
            "120",
        ]
        workers = {
            w: semser(worker_args + ["--tuner-id", w], tmp_path / f"{w}.log")
            for w in ("worker-a", "worker-b", "worker-c")
        }
        procs += list(workers.values())

        # the first worker to start a second trial has finished one: kill it during the second
        # (which worker that is depends on the machine's scheduling, so it is found, not fixed)
        def second_start():
            return [w for w in workers if sum(e["event"] == "start" for e in events(out, w)) >= 2]

        wait_for(lambda: second_start(), 240, "a worker's second trial", procs)
        victim = second_start()[0]
        survivors = [w for w in workers if w != victim]
        killed_trial = events(out, victim)[-1]["trial_id"]
        assert events(out, victim)[-1]["event"] == "start"
        os.kill(workers[victim].pid, signal.SIGKILL)
        workers[victim].wait(timeout=30)
        for w in survivors:
            log = (tmp_path / f"{w}.log").read_text()[-3000:]
            assert workers[w].wait(timeout=300) == 0, log
        assert chief.wait(timeout=120) == 0, (tmp_path / "chief.log").read_text()[-3000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    trials = {}
    for path in (out / "search").glob("trial_*/trial.json"):
        t = json.loads(path.read_text())
        trials[t["trial_id"]] = t
    assert len(trials) == MAX_TRIALS
    assert all(t["status"] == "COMPLETED" for t in trials.values()), {
        k: t["status"] for k, t in trials.items()
    }
    ended = {
        w: [e["trial_id"] for e in events(out, w) if e["event"] == "end"]
        for w in ("worker-a", "worker-b", "worker-c")
    }
    assert ended[victim], ended  # the killed worker finished its first trial before the kill
    assert killed_trial not in ended[victim]
    assert killed_trial in sum((ended[w] for w in survivors), [])  # another worker ran it again
    all_ended = sum(ended.values(), [])
    assert sorted(all_ended) == sorted(trials)  # every trial completed exactly once
    chief_log = (tmp_path / "chief.log").read_text()
    assert (
        f"worker {victim} silent" in chief_log
        and f"trial {killed_trial} goes to the next worker" in chief_log
    )
    # the chief's results table lists every trial with its worker and per-target val CCC
    import csv

    rows = list(csv.DictReader(open(out / "results.csv")))
    assert sorted(r["trial"] for r in rows) == sorted(trials)
    assert {r["worker"] for r in rows} == {w for w, ids in ended.items() if ids}
    for r in rows:
        for t in ("arousal", "valence", "liking"):
            assert -1.0 <= float(r[f"val_ccc_{t}"]) <= 1.0
        assert float(r["score"]) == pytest.approx(trials[r["trial"]]["score"])


def test_unreachable_oracle_fails_fast(tiny_corpus, tmp_path):
    port = free_port()  # nothing listens there
    t0 = time.time()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "semser_tf.cli",
            "tune",
            str(tiny_corpus),
            "--out",
            str(tmp_path / "o"),
            "--distributed",
            "worker",
            "--oracle",
            f"127.0.0.1:{port}",
            "--connect-timeout",
            "3",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES=""),
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"127.0.0.1:{port} did not answer within 3 s" in proc.stderr
    assert time.time() - t0 < 90
