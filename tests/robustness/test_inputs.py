"""Corpus layout and file-format faults at the edge: each names the file (and line or
field) and the expected form, and a command that meets one writes nothing."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest

from semser_tf.errors import DataError
from tests.robustness.conftest import float_wav, snapshot, write_text, write_wav


def _open(root):
    from semser_tf.data.sewa import SEWACorpus

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SEWACorpus(root)


def test_corpus_without_audio_folder(tmp_path):
    write_text(tmp_path / "c" / "labels" / "Train_01.csv", "Train_01;0.0;0;0;0\n")
    with pytest.raises(
        DataError, match=r"c: no audio/ folder: expected the SEWA layout audio/<name>.wav"
    ):
        _open(tmp_path / "c")


def test_label_file_without_its_audio(loader_corpus):
    root = loader_corpus["root"]
    extra = write_text(root / "labels" / "Train_07.csv", "Train_07;0.0;0;0;0\n")
    with pytest.raises(DataError) as err:
        _open(root)
    assert str(extra) in str(err.value) and str(root / "audio" / "Train_07.wav") in str(err.value)


def test_training_recording_without_labels(loader_corpus):
    root = loader_corpus["root"]
    (root / "labels" / "Train_02.csv").unlink()
    with pytest.raises(
        DataError, match=r"no label file for Train recording Train_02: expected .*Train_02.csv"
    ):
        _open(root)


def test_label_value_that_is_not_a_number_names_line_and_field(loader_corpus):
    root = loader_corpus["root"]
    path = write_text(
        root / "labels" / "Devel_01.csv", "Devel_01;0.0;0.1;0.2;0.3\nDevel_01;0.1;0.1;high;0.3\n"
    )
    with pytest.raises(DataError) as err:
        _open(root)
    assert str(err.value).startswith(f"{path}:2:") and "valence" in str(err.value)


def test_words_end_before_start_names_the_line(tmp_path):
    from semser_tf.data.timings import read_words

    path = write_text(tmp_path / "w.csv", "0.0;0.5;ja\n0.9;0.6;nein\n")
    with pytest.raises(
        DataError,
        match=r"w.csv:2: non-monotonic time: end 0.6 before start 0.9; expected start;end;word",
    ):
        read_words(path)


def test_cli_train_on_a_missing_corpus_writes_nothing(tmp_path, cli):
    before = snapshot(tmp_path)
    code, err = cli("train", tmp_path / "nowhere", "--out", tmp_path / "run")
    assert code == 2 and "corpus not found" in err and str(tmp_path / "nowhere") in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "damage,named",
    [
        (lambda p: p.write_bytes(b"\x00" * 64), "unsupported audio format"),
        (lambda p: p.write_bytes(b""), "audio file is empty (0 bytes)"),
        (
            lambda p: p.write_bytes(
                p.read_bytes()[:22] + struct.pack("<H", 0) + p.read_bytes()[24:]
            ),
            "WAV header gives 0 channels",
        ),
        (
            lambda p: p.write_bytes(p.read_bytes()[:44]),
            "truncated WAV: header announces 4410 data bytes, the file holds 0",
        ),
        (lambda p: p.write_bytes(p.read_bytes()[:40] + struct.pack("<I", 0)), "zero-length audio"),
    ],
    ids=["not-audio", "empty", "zero-channels", "data-cut", "no-samples"],
)
def test_damaged_wav_is_named(tmp_path, damage, named):
    from semser_tf.data.audio import load_audio

    wav = tmp_path / "talk.wav"
    write_wav(wav, np.zeros(2205, np.float32))
    damage(wav)
    with pytest.raises(DataError) as err:
        load_audio(wav, backend="tf")
    assert str(wav) in str(err.value) and named in str(err.value)


def test_predict_on_a_damaged_wav_writes_nothing(tmp_path, cli):
    wav = float_wav(tmp_path / "cut.wav", np.zeros(100, np.float32), data_size=10_000)
    before = snapshot(tmp_path)
    code, err = cli("predict", wav, "--offline")
    assert code == 2 and "truncated WAV" in err and str(wav) in err
    assert snapshot(tmp_path) == before
