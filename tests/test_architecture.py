"""The package's import contracts (.importlinter, docs/architecture.md), checked by import-linter.

The first test runs ``lint-imports`` on the package. The others show that the same
contracts fail when a forbidden import is added: a fixture module is written into a copy
of the package in a temporary folder (the package itself is never touched).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".importlinter"


def _lint_imports() -> str:
    exe = Path(sys.executable).with_name("lint-imports")
    if exe.is_file():
        return str(exe)
    found = shutil.which("lint-imports")
    if found is None:
        pytest.skip("lint-imports not installed (pip install -e '.[test]')")
    return found


def _run(cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [_lint_imports(), "--no-logo", "--no-cache", str(cwd / ".importlinter")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_package_keeps_its_import_contracts():
    result = _run(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory):
    """A copy of the package and its contracts, to add fixture modules to."""
    dest = tmp_path_factory.mktemp("arch")
    shutil.copytree(
        ROOT / "semser_tf", dest / "semser_tf", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(CONFIG, dest / ".importlinter")
    return dest


@pytest.mark.parametrize(
    "files, broken",
    [
        # an upward import: a data module importing training
        (
            {"data/_fixture_upward.py": "from semser_tf.training import run\n"},
            "Layers: a module imports only from the layers below its own",
        ),
        # TensorFlow in a backend-agnostic layer, even inside a function
        (
            {"layers/_fixture_tf.py": "def f():\n    import tensorflow as tf\n    return tf\n"},
            "layers, kernels, losses and metrics import no TensorFlow",
        ),
        # two modules of one package importing each other
        (
            {
                "data/_fixture_a.py": "from semser_tf.data import _fixture_b\n",
                "data/_fixture_b.py": "def f():\n    from semser_tf.data import _fixture_a\n",
            },
            "No import cycles between the modules or packages of one package",
        ),
    ],
    ids=["upward", "tensorflow", "cycle"],
)
def test_a_forbidden_import_breaks_a_contract(package_copy, files, broken):
    paths = [package_copy / "semser_tf" / rel for rel in files]
    for path, text in zip(paths, files.values()):
        path.write_text(text)
    try:
        result = _run(package_copy)
    finally:
        for path in paths:
            path.unlink()
    assert result.returncode != 0, result.stdout
    status = [line for line in result.stdout.splitlines() if line.startswith(broken)]
    assert status and " BROKEN" in status[0], result.stdout
    assert paths[0].stem in result.stdout  # the report names the fixture module


LIGHT_MODULES = [
    "semser_tf",
    "semser_tf.models.config",
    "semser_tf.training.run_folder",
    "semser_tf.training.settings",
    "semser_tf.data.corpus",
    "semser_tf.data.pipeline",
    "semser_tf.data.wav",
    "semser_tf.metrics_numpy",
    "semser_tf.plotting",
    "semser_tf.zoo.registry",
    "semser_tf.cli",
]
"""Modules a command line or a config check imports before any model exists: none may load
TensorFlow or Keras (several seconds) at import time."""


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_importing_a_light_module_loads_no_tensorflow(module):
    code = (
        f"import sys, {module}\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'jax', 'matplotlib') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"import {module} loaded {result.stdout.strip()}"
    # -X importtime lists every module imported (one per line, name last)
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert module in imported
    assert "tensorflow" not in imported


def test_import_semser_tf_takes_under_half_a_second():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import semser_tf"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # "import time: self [us] | cumulative | imported package"
    row = [line for line in result.stderr.splitlines() if line.rstrip().endswith("| semser_tf")]
    assert row, result.stderr[-2000:]
    cumulative_us = int(row[-1].split("|")[1])
    assert cumulative_us < 500_000, f"import semser_tf took {cumulative_us / 1e6:.2f} s"


def test_the_training_loop_names_the_run_files_as_the_run_folder_does():
    # training.loop still spells four names of the layout; they must be run_folder's
    from semser_tf.training import loop, run_folder

    assert (loop.BEST, loop.HISTORY, loop.CHECKPOINTS, loop.METADATA) == (
        "best.keras",
        "history.csv",
        "checkpoints",
        "training_metadata.json",
    )
    assert (loop.BEST, loop.HISTORY, loop.CHECKPOINTS, loop.METADATA) == (
        run_folder.BEST,
        run_folder.HISTORY,
        run_folder.CHECKPOINTS,
        run_folder.METADATA,
    )
    assert loop.best_target_path("r", "valence") == run_folder.best_target_path("r", "valence")
