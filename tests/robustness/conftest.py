"""Fixtures of the robustness suite: the tiny corpora of the data and training tests, and
a snapshot of a folder tree to show that a refused command touched nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.data.conftest import loader_corpus, tiny_corpus, write_text, write_wav  # noqa: F401
from tests.training.conftest import SMALL, speech_corpus  # noqa: F401


def snapshot(root: Path) -> dict:
    """{relative path: sha256} of every file under ``root`` (hidden and temporary ones too)."""
    root = Path(root)
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.is_dir():
            out[p.relative_to(root).as_posix() + "/"] = "dir"
    return out


@pytest.fixture
def cli(capsys):
    """Run ``semser ARGS`` in-process; returns (exit code, stderr)."""
    from semser_tf.cli import main

    def run(*args):
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.err

    return run


def float_wav(path, samples, rate=22050, *, declared_rate=None, data_size=None) -> Path:
    """A 32-bit IEEE-float mono WAV written byte by byte (``declared_rate`` and
    ``data_size`` override the header's values, to damage it)."""
    import struct

    import numpy as np

    data = np.asarray(samples, "<f4").tobytes()
    rate = declared_rate or rate
    fmt = struct.pack("<HHIIHH", 3, 1, rate, (rate * 4) & 0xFFFFFFFF, 4, 32)
    size = len(data) if data_size is None else data_size
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE")
        f.write(
            b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + data
        )
    return path
