"""Failures that used to end in a Python traceback are one clear line naming the path or
the option (issue 15, "Messages"); nothing is left behind."""

from __future__ import annotations

import errno
import json

import numpy as np
import pytest

from semser_tf.errors import ConfigError
from tests.robustness.conftest import SMALL, snapshot, write_text, write_wav


def _one_line(err: str) -> bool:
    lines = [ln for ln in err.splitlines() if ln.startswith("semser ") and ": error: " in ln]
    return "Traceback" not in err and len(lines) == 1 and len(err.strip().splitlines()) <= 2


@pytest.fixture
def a_file(tmp_path):
    return write_text(tmp_path / "taken.txt", "mine")


def test_train_out_is_a_file(tmp_path, a_file, cli, loader_corpus):
    before = snapshot(tmp_path)
    code, err = cli("train", loader_corpus["root"], "--out", a_file, "--variant", "paralinguistic")
    assert code == 2 and f"{a_file}: is a file" in err and _one_line(err)
    assert snapshot(tmp_path) == before


def test_ablation_out_is_a_file(tmp_path, a_file, cli, loader_corpus):
    before = snapshot(tmp_path)
    code, err = cli("ablation", loader_corpus["root"], "--out", a_file)
    assert code == 2 and f"{a_file}: is a file" in err and _one_line(err)
    assert snapshot(tmp_path) == before


def test_predict_csv_is_a_folder(tmp_path, cli):
    wav = tmp_path / "talk.wav"
    write_wav(wav, np.zeros(22050, np.float32))
    (tmp_path / "folder").mkdir()
    before = snapshot(tmp_path)
    code, err = cli("predict", wav, "--csv", tmp_path / "folder", "--offline")
    assert code == 2 and "--csv" in err and "is a folder" in err and _one_line(err)
    assert snapshot(tmp_path) == before


def _run_with_model(root, model, mode=None):
    from semser_tf.models.config import ModelConfig

    run = root / "run"
    run.mkdir()
    (run / "config.json").write_text(
        json.dumps(
            {
                "variant": "paralinguistic",
                "training": {},
                "model": ModelConfig(variant="paralinguistic", **SMALL).to_dict(),
                "semantic_mode": mode,
            }
        )
    )
    (run / "report.json").write_text(
        json.dumps({"metrics": [{"partition": "devel", "ccc": {"arousal": 0.1}}]})
    )
    model.save(run / "best.keras")
    return run


@pytest.fixture
def lambda_run(tmp_path):
    import keras

    inp = keras.Input((4,), name="waveform")
    model = keras.Model(inp, keras.layers.Lambda(lambda x: x * 2.0)(inp))
    return _run_with_model(tmp_path, model)


def test_unsafe_keras_file_is_one_line(lambda_run, tmp_path, cli):
    from semser_tf.models.builder import load_model as load_keras_model

    with pytest.raises(ConfigError) as err:
        load_keras_model(lambda_run / "best.keras")
    assert str(lambda_run / "best.keras") in str(err.value) and "safe mode" in str(err.value)
    assert "\n" not in str(err.value)
    wav = tmp_path / "talk.wav"
    write_wav(wav, np.zeros(22050, np.float32))
    before = snapshot(tmp_path)
    code, msg = cli("predict", wav, "--model", lambda_run, "--offline")
    assert code == 2 and "Python code (a lambda)" in msg and _one_line(msg)
    assert snapshot(tmp_path) == before


def test_publish_refuses_what_load_refuses(lambda_run, tmp_path):
    from semser_tf.zoo import publish_run

    before = snapshot(tmp_path)
    with pytest.raises(ConfigError, match="Python lambda.*safe mode refuses"):
        publish_run(lambda_run, "m", tmp_path / "zoo" / "m")
    assert snapshot(tmp_path) == before


def test_evaluate_out_is_a_file(lambda_run, tmp_path, a_file, cli, loader_corpus):
    before = snapshot(tmp_path)
    code, err = cli("evaluate", lambda_run, "--corpus", loader_corpus["root"], "--out", a_file)
    assert code == 2 and f"--out {a_file}: is a file" in err and _one_line(err)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "content", [b"\xff\xfe\x00\x01binary", b"\x89PNG\r\n\x1a\n\x00\x00"], ids=["utf16ish", "png"]
)
def test_binary_entry_json(tmp_path, cli, content):
    from semser_tf.zoo.registry import ModelEntry

    entry = tmp_path / "entry"
    entry.mkdir()
    (entry / "entry.json").write_bytes(content)
    with pytest.raises(ConfigError, match=r"entry.json: not a text file \(byte 0 is not UTF-8\)"):
        ModelEntry.from_json(entry)
    wav = tmp_path / "talk.wav"
    write_wav(wav, np.zeros(22050, np.float32))
    code, err = cli("predict", wav, "--model", entry, "--offline")
    assert code == 2 and "not a text file" in err and _one_line(err)


@pytest.mark.parametrize(
    "args,named",
    [
        (["--lag", "-5"], "lag_s (--lag) must be a delay of 0 s or more, got -5.0"),
        (["--jobs", "0"], "jobs (--jobs) must be a positive integer, got 0"),
    ],
    ids=["negative-lag", "zero-jobs"],
)
def test_synth_bad_values(tmp_path, cli, args, named):
    before = snapshot(tmp_path)
    code, err = cli("synth", tmp_path / "corpus", "--minutes", "0.1", "--quiet", *args)
    assert code == 2 and named in err and _one_line(err)
    assert snapshot(tmp_path) == before


def test_synth_overwrite_never_deletes_a_users_folder(tmp_path, cli):
    notes = tmp_path / "notes"
    write_text(notes / "todo.txt", "mine")
    before = snapshot(tmp_path)
    code, err = cli("synth", notes, "--minutes", "0.1", "--quiet", "--overwrite")
    assert code == 2 and "refusing to replace a folder this package did not create" in err
    assert snapshot(tmp_path) == before


def test_read_only_output_folder_is_one_line(tmp_path, cli, monkeypatch):
    """A folder the user may not write into (simulated: the tests may run as root)."""
    import tempfile

    from tests.zoo.test_zoo_publish import make_run

    run = make_run(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    real = tempfile.mkdtemp

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and str(dir).startswith(str(ro)):
            raise PermissionError(errno.EACCES, "Permission denied", str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    before = snapshot(tmp_path)
    code, err = cli("publish", run, "--name", "m", "--out", ro / "m")
    assert (
        code == 2
        and f"{ro}: Permission denied (the folder or file is not writable" in err
        and _one_line(err)
    )
    assert snapshot(tmp_path) == before


def test_disk_full_while_writing_leaves_no_partial_file(tmp_path, cli, monkeypatch):
    import semser_tf.io as sio

    wav = tmp_path / "talk.wav"
    write_wav(wav, np.random.default_rng(0).uniform(-0.3, 0.3, 22050).astype(np.float32))

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sio.os, "fsync", full)
    before = snapshot(tmp_path)
    code, err = cli("predict", wav, "--csv", tmp_path / "out.csv", "--no-plot", "--offline")
    assert (
        code == 2
        and "No space left on device (no space left on the device" in err
        and _one_line(err)
    )
    assert snapshot(tmp_path) == before  # no out.csv, no temporary .out.csv


def test_fallback_timing_warning_is_once_per_corpus(loader_corpus):
    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.data.timings import ApproximateTimingWarning

    root = loader_corpus["root"]
    for name in (
        "Devel_01",
        "Test_01",
    ):  # two more recordings with transcripts only (corpus order: Train first)
        write_text(root / "transcriptions" / f"{name}.csv", "0.0;1.0;'hallo'\n")
    with pytest.warns(ApproximateTimingWarning) as record:
        SEWACorpus(root)
    msgs = [str(w.message) for w in record if w.category is ApproximateTimingWarning]
    assert msgs == [
        f"{root}: 3 recording(s) without word-level timings (Train_01, Devel_01, Test_01); word times "
        "spread over transcript sentences by character length (approximate; words/<name>.csv gives "
        "exact ones)"
    ]


def test_cli_warnings_are_one_line_without_source():
    from semser_tf.cli import _format_warning

    assert (
        _format_warning(UserWarning("x happened"), UserWarning, "/a/b.py", 12, "code()")
        == "semser: warning: x happened\n"
    )


def test_few_optimizer_steps_per_epoch_are_hinted(loader_corpus):
    import warnings

    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.models.config import ModelConfig
    from semser_tf.training.run import TrainSettings, _hint_small_epochs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        corpus = SEWACorpus(loader_corpus["root"])
    config = ModelConfig(variant="paralinguistic", **dict(SMALL, batch_size=25))
    # Train_01: 74 frames -> windows at 0 and 50 (2); Train_02: 50 frames -> 1; 3 windows, 1 step
    with pytest.warns(
        UserWarning,
        match=r"3 window\(s\) of 50 frames: 1 optimizer step\(s\) per epoch at batch_size 25",
    ):
        assert _hint_small_epochs(corpus, TrainSettings(), config) == 1
    with warnings.catch_warnings():
        warnings.simplefilter(
            "error"
        )  # hop 10: Train_01 1 + ceil(24/10) = 4, Train_02 1 -> 5 steps at batch 1
        assert _hint_small_epochs(corpus, TrainSettings(hop=10), config.replace(batch_size=1)) == 5


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["train", "--help"], ["train"], ["predict", "x.wav", "--timeout", "soon"]],
    ids=["help", "train-help", "missing-argument", "bad-type"],
)
def test_cli_start_and_argument_errors_do_not_import_tensorflow(argv):
    import os
    import subprocess
    import sys

    code = (
        "import sys\nfrom semser_tf.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('TF' if 'tensorflow' in sys.modules or 'keras' in sys.modules else 'light', file=sys.stderr)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert proc.stderr.strip().splitlines()[-1] == "light", proc.stderr[-500:]


_GENERATED = ("a switch (default: off)", "(default: none)", "required", "(default: %(default)s)")


def test_every_option_says_what_it_does_and_its_default():
    """Each option and argument of every command has a description of its own (not only the
    generated default), and ``--help`` states the default of each option that has one."""
    import argparse

    from semser_tf.cli import build_parser

    undescribed, no_default = [], []

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, f"{prefix} {name}")
                continue
            if isinstance(action, argparse._HelpAction) or action.help is argparse.SUPPRESS:
                continue
            where = f"{prefix} {(action.option_strings or [action.dest])[0]}"
            if not action.help or action.help in _GENERATED:
                undescribed.append(where)
            shown = parser._get_formatter()._expand_help(action) if action.help else ""
            if (
                action.option_strings
                and action.default not in (None, False, argparse.SUPPRESS)
                and ("default" not in shown)
            ):
                no_default.append(f"{where} ({action.default!r})")

    walk(build_parser(), "semser")
    assert undescribed == [] and no_default == [], (undescribed, no_default)
