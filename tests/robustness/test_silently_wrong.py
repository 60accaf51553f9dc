"""Bad input that used to give plausible but wrong results is now a clear error (or a
warning that names the file): issue 15, "Silently wrong"."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest

from semser_tf.errors import ConfigError, DataError
from tests.robustness.conftest import SMALL, float_wav, snapshot, write_text, write_wav

# --------------------------------------------------------------------------- non-finite audio


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("rate", [22050, 48000], ids=["22050Hz", "48kHz-resampled"])
def test_predict_refuses_non_finite_float_wav(tmp_path, cli, bad, rate):
    x = np.random.default_rng(0).uniform(-0.5, 0.5, rate * 2).astype(np.float32)
    x[rate + rate // 2] = bad  # at 1.5 s
    wav = float_wav(tmp_path / "talk.wav", x, rate)
    before = snapshot(tmp_path)
    code, err = cli("predict", wav, "--csv", tmp_path / "out.csv", "--offline")
    assert code == 2 and str(wav) in err and "NaN or infinite" in err and "1.500 s" in err
    assert snapshot(tmp_path) == before  # no CSV, no plot, no temporary file


def test_stream_and_array_paths_check_every_chunk(tmp_path):
    from semser_tf.inference import open_audio_stream

    x = np.zeros(22050 * 3, np.float32)
    x[-1] = np.nan  # in the last chunk only
    wav = float_wav(tmp_path / "late.wav", x)
    stream = open_audio_stream(wav)
    stream.samples(0, 22050)  # the first second is fine
    with pytest.raises(DataError, match="late.wav.*NaN or infinite"):
        stream.samples(22050 * 2, 22050 * 3)
    with pytest.raises(DataError, match="NaN or infinite"):
        open_audio_stream(x, sample_rate=22050)


# --------------------------------------------------------------------------- words files


@pytest.mark.parametrize(
    "line,sep",
    [
        ("0.1;0.9;honestly;0.9;extra", ";"),
        ("0.1,0.9,honestly,extra", ","),
        ("0.1\t0.9\thonestly\tx", "\t"),
    ],
    ids=["semicolon", "comma", "tab"],
)
def test_words_file_with_extra_columns_names_file_and_line(tmp_path, line, sep):
    from semser_tf.data.timings import read_words

    path = write_text(tmp_path / "w.csv", f"start{sep}end{sep}word\n0.0{sep}0.1{sep}ok\n{line}\n")
    with pytest.raises(DataError) as err:
        read_words(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:3:") and "expected exactly 3 (start;end;word)" in msg


def test_quoted_word_holding_the_separator_is_one_word(tmp_path):
    from semser_tf.data.timings import read_words

    path = write_text(tmp_path / "w.csv", "0.0;0.5;'a;b'\n")
    assert [w.word for w in read_words(path)] == ["a;b"]


def test_predict_with_a_bad_words_file_writes_nothing(tmp_path, cli):
    wav = tmp_path / "talk.wav"
    write_wav(wav, np.zeros(22050, np.float32))
    words = write_text(tmp_path / "talk_words.csv", "0.1;0.9;honestly;0.9;extra\n")
    before = snapshot(tmp_path)
    code, err = cli("predict", wav, "--words", words, "--csv", tmp_path / "o.csv", "--offline")
    assert code == 2 and f"{words}:1:" in err and "start;end;word" in err
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- labels


def _small_config():
    from semser_tf.models.config import ModelConfig

    return ModelConfig(variant="paralinguistic", **SMALL)


def _empty_labels(root, names):
    for name in names:
        (root / "labels" / f"{name}.csv").write_text("")


def test_training_on_zero_labelled_frames_is_an_error(loader_corpus, tmp_path):
    from semser_tf.data.sewa import EmptyLabelsWarning, SEWACorpus
    from semser_tf.training.run import train

    root = loader_corpus["root"]
    _empty_labels(root, ["Train_01", "Train_02"])
    with pytest.warns(EmptyLabelsWarning, match="Train_01.csv: empty label file"):
        corpus = SEWACorpus(root)
    before = snapshot(tmp_path)
    out = tmp_path / "run"
    with pytest.raises(DataError) as err:
        train(corpus, out, _small_config(), verbose=0)
    assert "Train partition has no labelled frame" in str(err.value) and "Train_01.csv" in str(
        err.value
    )
    assert not out.exists() and snapshot(tmp_path) == before


def test_a_delay_longer_than_the_recordings_is_an_error(loader_corpus, tmp_path):
    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.training.run import TrainSettings, train

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        corpus = SEWACorpus(loader_corpus["root"])
    out = tmp_path / "run"
    with pytest.raises(DataError, match="no labelled frame with --delay-frames 100000"):
        train(corpus, out, _small_config(), TrainSettings(delay_frames=100000), verbose=0)
    assert not out.exists()


def test_one_empty_label_file_is_reported(loader_corpus):
    from semser_tf.data.sewa import EmptyLabelsWarning, SEWACorpus

    root = loader_corpus["root"]
    _empty_labels(root, ["Train_02"])
    with pytest.warns(EmptyLabelsWarning) as record:
        corpus = SEWACorpus(root)
    assert [str(w.message).split(":")[0] for w in record if w.category is EmptyLabelsWarning] == [
        str(root / "labels" / "Train_02.csv")
    ]
    assert np.isnan(corpus["Train_02"].labels).all()


@pytest.mark.parametrize("value", [0, -3])
def test_steps_per_epoch_must_be_positive(value, loader_corpus, tmp_path, cli):
    from semser_tf.training.run import TrainSettings

    with pytest.raises(ConfigError, match="steps_per_epoch: expected a positive integer or None"):
        TrainSettings(steps_per_epoch=value)
    code, err = cli(
        "train", loader_corpus["root"], "--out", tmp_path / "run", "--steps-per-epoch", value
    )
    assert code == 2 and "steps_per_epoch" in err and not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- truncated OGG


def _ogg_page(body: bytes, flags: int, seq: int) -> bytes:
    segs = [255] * (len(body) // 255) + [len(body) % 255]
    return (
        b"OggS"
        + bytes([0, flags])
        + struct.pack("<qIII", 0, 1, seq, 0)
        + bytes([len(segs)])
        + bytes(segs)
        + body
    )


def test_truncated_ogg_warns(tmp_path):
    from semser_tf.data.audio import decode_audio
    from semser_tf.data.ogg import TruncatedAudioWarning, ogg_truncation

    pages = _ogg_page(b"\x01vorbis" + b"\x00" * 23, 0x02, 0) + _ogg_page(b"x" * 600, 0, 1)
    whole = tmp_path / "whole.ogg"
    whole.write_bytes(pages + _ogg_page(b"y" * 300, 0x04, 2))
    assert ogg_truncation(whole) is None
    cut = tmp_path / "cut.ogg"
    cut.write_bytes((pages + _ogg_page(b"y" * 300, 0x04, 2))[:-120])
    assert "needs 120 more bytes" in ogg_truncation(cut)
    no_eos = tmp_path / "no_eos.ogg"
    no_eos.write_bytes(pages)
    assert "no end-of-stream flag" in ogg_truncation(no_eos)
    with pytest.warns(TruncatedAudioWarning, match="cut.ogg: truncated OGG"):
        with pytest.raises(DataError):  # these pages hold no real Vorbis stream
            decode_audio(cut, backend="tf")
