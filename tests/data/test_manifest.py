"""Generic corpora from a manifest: paths, any-rate labels, errors."""

import json
import warnings

import numpy as np
import pytest

from semser_tf.data.manifest import load_manifest, read_label_table
from semser_tf.data.pipeline import make_dataset
from semser_tf.errors import DataError

from .conftest import write_text, write_wav


def labels_25hz(path, seconds, offset=0.0):
    """dominance = 2 t, pleasure = 1 - t at 25 Hz: linear, so interpolation is exact."""
    t = offset + np.arange(int(round((seconds - offset) * 25))) / 25
    rows = ["timestamp;dominance;pleasure"] + [f"{a:.4f};{2 * a:.6f};{1 - a:.6f}" for a in t]
    return write_text(path, "\n".join(rows) + "\n")


@pytest.fixture
def finetune(tmp_path):
    root = tmp_path / "ft"
    write_wav(root / "clips" / "a.wav", np.zeros(3 * 22050))
    write_wav(root / "clips" / "b.wav", np.zeros(2 * 22050))
    labels_25hz(root / "clips" / "a.csv", 3.0)
    labels_25hz(root / "clips" / "b.csv", 2.0, offset=0.5)
    write_text(root / "clips" / "a_words.csv", "0.2;0.6;hello\n")
    return root


def test_csv_manifest_resamples_labels_to_10hz(finetune):
    m = write_text(
        finetune / "m.csv",
        "audio,labels,words,partition\nclips/a.wav,clips/a.csv,clips/a_words.csv,train\n"
        "clips/b.wav,clips/b.csv,,devel\n",
    )
    corpus = load_manifest(m)
    assert corpus.partitions() == ["train", "devel"]
    assert corpus.targets == ("dominance", "pleasure")
    a = corpus["a"]
    assert a.labels.shape == (30, 2) and a.words[0].word == "hello"
    t = np.arange(30) / 10
    inside = t <= (74 / 25) + 1e-9
    np.testing.assert_allclose(a.labels[inside, 0], 2 * t[inside], atol=1e-5)
    np.testing.assert_allclose(a.labels[inside, 1], 1 - t[inside], atol=1e-5)
    b = corpus["b"].labels
    assert np.isnan(b[:5]).all()  # before the first label (0.5 s): no label
    np.testing.assert_allclose(b[5:20, 0], 2 * np.arange(5, 20) / 10, atol=1e-5)


def test_jsonl_manifest_and_pipeline(finetune, tmp_path):
    lines = [
        {"audio": "clips/a.wav", "labels": "clips/a.csv", "partition": "train"},
        {"audio": str(finetune / "clips" / "b.wav"), "partition": "test"},
    ]
    m = write_text(finetune / "m.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    corpus = load_manifest(m)
    assert corpus["b"].labels is None
    ds = make_dataset(
        corpus,
        "train",
        sequence_length=20,
        batch_size=2,
        frame_features=None,
        cache_dir=tmp_path / "c",
        progress=False,
    )
    x, y, w = next(iter(ds))
    assert y.shape == (2, 20, 2)
    np.testing.assert_allclose(y.numpy()[0, :, 0], 2 * np.arange(20) / 10, atol=1e-5)
    assert w.numpy()[1, 10:].sum() == 0  # 30 frames: second window half padded


def test_ten_hz_label_file_placed_by_timestamp(tmp_path):
    write_wav(tmp_path / "x.wav", np.zeros(22050))
    rows = ["time,score"] + [f"{t / 10:.1f},{t}" for t in (3, 1, 2, 4, 5, 6, 7, 8, 9)]
    write_text(tmp_path / "x.csv", "\n".join(rows))
    write_text(tmp_path / "m.csv", "audio;labels\nx.wav;x.csv\n")
    lab = load_manifest(tmp_path / "m.csv")["x"].labels[:, 0]
    assert np.isnan(lab[0])
    np.testing.assert_array_equal(lab[1:], np.arange(1, 10))


@pytest.mark.parametrize("column,line", [("audio", 3), ("labels", 2), ("words", 2)])
def test_manifest_pointing_at_missing_file(finetune, column, line):
    rows = {"audio": "clips/a.wav", "labels": "clips/a.csv", "words": ""}
    first = dict(rows)
    second = dict(rows, audio="clips/b.wav", labels="clips/b.csv")
    bad = {"audio": "clips/nope.wav", "labels": "clips/nope.csv", "words": "clips/nope.txt"}
    target = second if line == 3 else first
    target[column] = bad[column]
    text = "audio,labels,words\n" + "".join(
        f"{r['audio']},{r['labels']},{r['words']}\n" for r in (first, second)
    )
    m = write_text(finetune / "m.csv", text)
    with pytest.raises(DataError) as err:
        load_manifest(m)
    msg = str(err.value)
    assert msg.startswith(f"{m}:{line}: ") and f"{column} file" in msg and "nope" in msg


def test_manifest_errors(finetune, tmp_path):
    m = write_text(finetune / "m.csv", "path,labels\nclips/a.wav,clips/a.csv\n")
    with pytest.raises(DataError, match="no 'audio' column"):
        load_manifest(m)
    m = write_text(finetune / "m.jsonl", '{"audio": "clips/a.wav"}\n{"audio": \n')
    with pytest.raises(DataError, match=r"m.jsonl:2: invalid JSON"):
        load_manifest(m)
    other = write_text(finetune / "clips" / "c.csv", "time;arousal\n0.0;1\n0.1;2\n")
    m = write_text(
        finetune / "m2.csv", f"audio,labels\nclips/a.wav,clips/a.csv\nclips/b.wav,{other}\n"
    )
    with pytest.raises(DataError, match=r"c.csv:1: targets \('arousal',\)"):
        load_manifest(m)


@pytest.mark.parametrize(
    "text,line,what",
    [
        ("arousal;valence\n0.1;0.2\n", 1, "no time column"),
        ("time;arousal\n0.0;0.1\n0.1;x\n", 3, "non-numeric arousal 'x'"),
        ("time;arousal\n0.0;0.1\n0.1;NaN\n", 3, "arousal is 'NaN'"),
        ("time;arousal;valence\n0.0;0.1;0.2\n0.1;0.2\n", 3, "missing column"),
    ],
)
def test_bad_generic_label_file(tmp_path, text, line, what):
    p = write_text(tmp_path / "l.csv", text)
    with pytest.raises(DataError) as err:
        read_label_table(p)
    assert str(err.value).startswith(f"{p}:{line}: ") and what in str(err.value)


def test_generic_labels_longer_than_audio(tmp_path):
    write_wav(tmp_path / "x.wav", np.zeros(22050))
    labels_25hz(tmp_path / "x.csv", 2.0)
    write_text(tmp_path / "m.csv", "audio,labels\nx.wav,x.csv\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match="x.csv:[0-9]+: labels longer than the audio"):
            load_manifest(tmp_path / "m.csv")
