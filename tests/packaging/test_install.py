"""The wheel as a user installs it: no constraints file, a fresh venv, each supported Python.

Slow (each venv downloads TensorFlow and the rest, about 2 GB installed): ``make test-slow``.
What the bounded ranges in setup.cfg resolve to today is installed and smoke-tested: import, the
bundled model, ``semser predict`` on a WAV with a words file and with recognition, and the error
that names the extra a predict-only install lacks. The CPU-only route of docs/install.md is
checked the same way.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHONS = ("3.11", "3.12")  # TensorFlow 2.17 stops at 3.12; the GloVe wheel needs 3.11

pytestmark = pytest.mark.slow


def _interpreter(version: str) -> str | None:
    """A working python3.X: on PATH, else a pyenv build of it (pyenv's shims fail for versions
    that are not selected, so each candidate is run once)."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(
        glob.glob(f"{root}/versions/{version}.*/bin/python{version}"), reverse=True
    )
    for path in filter(None, candidates):
        res = subprocess.run([path, "-c", "import venv"], capture_output=True)
        if res.returncode == 0:
            return path
    return None


def _run(cmd, **kw):
    # Outside the checkout by default: with it as the working directory, `python -m` would see
    # its source tree and egg-info instead of what the venv installed.
    kw.setdefault("cwd", tempfile.gettempdir())
    res = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert res.returncode == 0, f"{cmd} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def _user_warnings(text: str) -> list[str]:
    """Warning lines of an install, less this machine's own pip configuration notices."""
    return [
        line
        for line in text.splitlines()
        if "warn" in line.lower() and "is ignored: it is neither a file nor a directory" not in line
    ]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel, built from a copy of the tracked files (never in the checkout itself)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    files = _run(["git", "ls-files", "-z"], cwd=REPO).stdout.split("\0")
    for rel in filter(None, files):
        a, b = REPO / rel, src / rel
        b.parent.mkdir(parents=True, exist_ok=True)
        if a.is_symlink():
            os.symlink(os.readlink(a), b)
        elif a.is_file():
            shutil.copy2(a, b)
    res = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp / "dist"), str(src)]
    )
    assert not _user_warnings(res.stdout + res.stderr), res.stdout + res.stderr
    return next((tmp / "dist").glob("semser_tf-*.whl"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """3 s of quiet noise at 16 kHz and a words file for it."""
    tmp = tmp_path_factory.mktemp("clip")
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(48000) * 2000).astype("<i2")
    with wave.open(str(tmp / "clip.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(x.tobytes())
    (tmp / "clip.words.csv").write_text("0.2;0.7;happy\n1.0;1.6;wonderful\n2.0;2.5;day\n")
    return tmp


def _venv(python: str, path: Path) -> Path:
    _run([python, "-m", "venv", str(path)])
    _run([str(path / "bin/python"), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    return path / "bin"


def _smoke(bin_dir: Path, clip: Path, out: Path) -> None:
    """Every command runs in ``out``, outside the checkout, so nothing shadows the install."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "SEMSER_TF_CACHE": str(out / "cache")}
    env.pop("PYTHONPATH", None)
    code = (
        "import semser_tf; m = semser_tf.load_pretrained(offline=True); "
        "print(m.name, m.model.count_params())"
    )
    res = _run([str(bin_dir / "python"), "-c", code], env=env, cwd=out)
    name, params = res.stdout.split()[-2:]
    assert name.startswith("semser-") and int(params) > 0
    for form, args in (
        ("file", ["--words", str(clip / "clip.words.csv")]),
        ("asr", ["--words-from", "asr"]),
    ):
        csv = out / f"{form}.csv"
        _run(
            [str(bin_dir / "semser"), "predict", str(clip / "clip.wav"), *args]
            + ["--csv", str(csv), "--no-plot", "--offline"],
            env=env,
            cwd=out,
        )
        lines = csv.read_text().splitlines()
        header = lines[0].split(",")
        assert {"arousal", "valence", "liking"} <= set(header), header
        rows = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
        assert 29 <= len(rows) <= 31  # 3 s of 100 ms frames
        cols = [header.index(t) for t in ("arousal", "valence", "liking")]
        assert np.isfinite(rows[:, cols]).all() and (np.abs(rows[:, cols]) <= 1).all()
    # A predict-only install lacks the tuning extra: the error names it.
    res = subprocess.run(
        [str(bin_dir / "semser"), "tune", "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=out,
    )
    assert res.returncode == 0, res.stderr
    res = subprocess.run(
        [str(bin_dir / "python"), "-c", "from semser_tf.tuning import SemserHyperModel"],
        capture_output=True,
        text=True,
        env=env,
        cwd=out,
    )
    assert res.returncode != 0 and "semser-tf[tuning]" in res.stderr, res.stderr


@pytest.mark.parametrize("version", PYTHONS)
def test_wheel_without_constraints_installs_quietly_and_predicts(version, wheel, clip, tmp_path):
    python = _interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    bin_dir = _venv(python, tmp_path / "venv")
    res = _run([str(bin_dir / "python"), "-m", "pip", "install", str(wheel)])
    assert not _user_warnings(res.stdout + res.stderr), res.stdout + res.stderr
    _run([str(bin_dir / "python"), "-m", "pip", "check"])
    freeze = _run([str(bin_dir / "python"), "-m", "pip", "freeze"]).stdout
    print(f"Python {version} resolved:", *sorted(freeze.splitlines()), sep="\n  ")
    assert "tensorflow==2.17" in freeze
    _smoke(bin_dir, clip, tmp_path)


def test_cpu_only_route_of_the_install_guide(wheel, clip, tmp_path):
    python = _interpreter("3.11") or sys.executable
    bin_dir = _venv(python, tmp_path / "venv")
    _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel)])
    reqs = _run(
        [str(bin_dir / "python"), "-m", "semser_tf.requirements", "--cpu"],
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        cwd=tmp_path,  # not the checkout: its egg-info would answer for the installed wheel
    ).stdout.split()
    assert any(r.startswith("tensorflow-cpu") for r in reqs), reqs
    _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", *reqs])
    freeze = _run([str(bin_dir / "python"), "-m", "pip", "freeze"]).stdout
    names = {line.split("==")[0].lower().replace("_", "-") for line in freeze.splitlines()}
    tf = sorted(n for n in names if n.startswith("tensorflow"))
    assert "tensorflow-cpu" in names and "tensorflow" not in names, tf
    _smoke(bin_dir, clip, tmp_path)
