"""SEWA file parsers and corpus discovery: accepted quirks and rejected inputs."""

import warnings

import numpy as np
import pytest

from semser_tf.data.sewa import SEWACorpus, read_labels, read_turns
from semser_tf.data.timings import read_transcription
from semser_tf.errors import DataError

from .conftest import label_values, write_text, write_wav


def small_corpus(root, n_frames=30, label_text=None, name="Train_01"):
    """One recording of n_frames frames; labels for every frame unless text is given."""
    write_wav(root / "audio" / f"{name}.wav", np.zeros(n_frames * 2205))
    if label_text is None:
        t = np.arange(n_frames) / 10
        v = label_values(t)
        label_text = "".join(f"{name};{a:.1f};{b[0]};{b[1]};{b[2]}\n" for a, b in zip(t, v))
    write_text(root / "labels" / f"{name}.csv", label_text)
    return root


# --------------------------------------------------------------------------- quirks accepted


@pytest.mark.parametrize(
    "text",
    [
        "Train_01;0.0;0.1;0.2;0.3\nTrain_01;0.1;0.4;0.5;0.6\n",  # reference form
        "name;time;arousal;valence;liking\nTrain_01;0.0;0.1;0.2;0.3\nTrain_01;0.1;0.4;0.5;0.6\n",
        "Train_01,0.0,0.1,0.2,0.3\r\nTrain_01,0.1,0.4,0.5,0.6\r\n\r\n\r\n",
        "\ufeffTrain_01;0.0;0.1;0.2;0.3\n\nTrain_01;0.1;0.4;0.5;0.6\n  \n",
        "'Train_01';'0.0';0.1;0.2;0.3\n'Train_01';'0.1';0.4;0.5;0.6",
        "time,valence,arousal,liking\n0.1,0.5,0.4,0.6\n0.0,0.2,0.1,0.3\n",  # header maps names
    ],
)
def test_label_dialects(tmp_path, text):
    p = write_text(tmp_path / "l.csv", text)
    times, values, _ = read_labels(p)
    order = np.argsort(times)
    np.testing.assert_allclose(times[order], [0.0, 0.1])
    np.testing.assert_allclose(values[order], [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])


def test_turns_dialects(tmp_path):
    p = write_text(tmp_path / "t.csv", "start,end\r\n0.5,1.25\r\n2,3\r\n\r\n")
    assert read_turns(p) == [(0.5, 1.25), (2.0, 3.0)]
    p = write_text(tmp_path / "t2.csv", "0.5;1.25\n2;3")
    assert read_turns(p) == [(0.5, 1.25), (2.0, 3.0)]


@pytest.mark.parametrize(
    "text",
    [
        "0.5;2.0;'Grüß Gott, <laughter> na'\n3.0;4.0;'Ja; genau'\n",
        'start;end;text\r\n0.5;2.0;Grüß Gott, <laughter> na\r\n3.0;4.0;"Ja; genau"\r\n\r\n',
        "0.5,2.0,'Grüß Gott, <laughter> na'\n3.0,4.0,Ja; genau\n",
        "0.5,2.0,Grüß Gott, <laughter> na\n3.0,4.0,Ja; genau\n",
    ],
)
def test_transcription_dialects(tmp_path, text):
    p = write_text(tmp_path / "tr.csv", text)
    got = read_transcription(p)
    assert [(s.start, s.end, s.text) for s in got] == [
        (0.5, 2.0, "Grüß Gott, <laughter> na"),
        (3.0, 4.0, "Ja; genau"),
    ]


def test_latin1_transcript_warns_and_decodes(tmp_path):
    p = write_text(tmp_path / "tr.csv", "0.5;2.0;'schön'\n", encoding="latin-1")
    with pytest.warns(UnicodeWarning, match="tr.csv"):
        got = read_transcription(p)
    assert got[0].text == "schön"


def test_corpus_discovery_partitions_and_labels(loader_corpus):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        corpus = SEWACorpus(loader_corpus["root"])
    assert corpus.partitions() == ["Train", "Devel", "Test"]
    assert [r.name for r in corpus.recordings("train")] == ["Train_01", "Train_02"]
    test = corpus.recordings("Test")[0]
    assert test.labels is None and test.n_frames == 20
    dev = corpus["Devel_01"]
    assert dev.n_frames == 30 and dev.labels.shape == (30, 3)
    tr = corpus["Train_01"]
    assert tr.labels.shape == (74, 3)
    np.testing.assert_allclose(tr.labels, label_values(np.arange(74) / 10), atol=1e-6)
    assert tr.turns == [(1.0, 2.5), (4.0, 5.05)]
    assert [w.word for w in corpus["Train_02"].words] == ["Grüß", "Gott"]
    with pytest.raises(DataError, match="no partition 'Dev'"):
        corpus.recordings("Dev")


def test_labels_one_frame_past_audio_tolerated(tmp_path):
    root = small_corpus(tmp_path, 20)
    lines = "".join(f"Train_01;{i / 10:.1f};0.1;0.2;0.3\n" for i in range(21))
    write_text(root / "labels" / "Train_01.csv", lines)
    corpus = SEWACorpus(root)
    assert corpus["Train_01"].labels.shape == (20, 3)


# --------------------------------------------------------------------------- rejected


BAD_LABELS = [
    ("Train_01;0.0;0.1;0.2;0.3\nTrain_01;0.1;0.4;0.5\n", 2, "missing column"),
    ("Train_01;0.0;0.1;0.2;0.3\nTrain_01;0.1;0.4;abc;0.6\n", 2, "non-numeric valence 'abc'"),
    ("Train_01;0.0;0.1;0.2;0.3\nTrain_01;0.1;nan;0.5;0.6\n", 2, "arousal is 'nan'"),
    ("Train_01;0.0;0.1;0.2;0.3\nTrain_01;0.1;0.4;0.5;inf\n", 2, "liking is 'inf'"),
    (
        "Train_01;0.0;0.1;0.2;0.3\nTrain_01;0.1;1;1;1\nTrain_01;0.1;0.4;0.5;0.6\n",
        3,
        "non-monotonic time",
    ),
    ("Train_01;0.0;0.1;0.2;0.3\nTrain_01;-0.5;1;1;1\n", 2, "negative time"),
    (
        "".join(f"Train_01;{i / 10:.1f};0;0;0\n" for i in range(23)),
        23,
        "labels longer than the audio",
    ),
]


@pytest.mark.parametrize("text,line,what", BAD_LABELS)
def test_bad_label_file(tmp_path, text, line, what):
    root = small_corpus(tmp_path, 20, text)
    with pytest.raises(DataError) as err:
        SEWACorpus(root)
    msg = str(err.value)
    assert msg.startswith(f"{root / 'labels' / 'Train_01.csv'}:{line}: ")
    assert what in msg
    assert err.value.line == line


@pytest.mark.parametrize(
    "text,line,what",
    [
        ("0.0;1.0\n2.0\n", 2, "expected at least 2 (start;end)"),
        ("0.0;1.0\n2.0;x\n", 2, "non-numeric end time 'x'"),
        ("0.0;1.0\n2.0;NaN\n", 2, "end time is 'NaN'"),
        ("0.0;1.0\n3.0;2.0\n", 2, "non-monotonic time: end 2.0 before start 3.0"),
        ("2.0;3.0\n1.0;1.5\n", 2, "non-monotonic time: start 1.0"),
    ],
)
def test_bad_turns(tmp_path, text, line, what):
    root = small_corpus(tmp_path)
    path = write_text(root / "turns" / "Train_01.csv", text)
    with pytest.raises(DataError) as err:
        SEWACorpus(root)
    assert str(err.value).startswith(f"{path}:{line}: ") and what in str(err.value)


@pytest.mark.parametrize(
    "text,line,what",
    [
        ("0.5;1.0;'Hallo'\n1.5;2.0;'wie geht\n", 2, "unbalanced quotes"),
        ("0.5;1.0;'Hallo'\n1.5;2.0;wie geht\"\n", 2, "unbalanced quotes"),
        ("0.5;1.0;'Hallo'\n1.5;2.0\n", 2, "missing column"),
        ("0.5;1.0;'Hallo'\n1.5;x;'ja'\n", 2, "non-numeric end time"),
        ("0.5;1.0;'Hallo'\n0.2;0.4;'ja'\n", 2, "non-monotonic time"),
    ],
)
def test_bad_transcription(tmp_path, text, line, what):
    root = small_corpus(tmp_path)
    path = write_text(root / "transcriptions" / "Train_01.csv", text)
    with pytest.raises(DataError) as err:
        SEWACorpus(root)
    assert str(err.value).startswith(f"{path}:{line}: ") and what in str(err.value)
    assert "start;end;'text'" in str(err.value) or "expected" in str(err.value)


def test_missing_audio_for_label_file(tmp_path):
    root = small_corpus(tmp_path)
    lpath = write_text(root / "labels" / "Train_02.csv", "Train_02;0.0;0;0;0\n")
    with pytest.raises(DataError, match="missing audio for label file") as err:
        SEWACorpus(root)
    assert str(err.value).startswith(str(lpath)) and "Train_02.wav" in str(err.value)


def test_train_audio_without_labels_rejected_test_allowed(tmp_path):
    root = small_corpus(tmp_path)
    write_wav(root / "audio" / "Test_01.wav", np.zeros(2205))
    assert SEWACorpus(root)["Test_01"].labels is None
    apath = root / "audio" / "Devel_01.wav"
    write_wav(apath, np.zeros(2205))
    with pytest.raises(DataError, match="no label file for Devel recording Devel_01") as err:
        SEWACorpus(root)
    assert str(err.value).startswith(str(apath))


def test_no_audio_folder(tmp_path):
    with pytest.raises(DataError, match="no audio/ folder"):
        SEWACorpus(tmp_path)


def test_alignment_by_timestamp_property():
    """Any subset of frames, rows in any order, small time jitter: each value lands in the
    frame of its timestamp (reference: a dict from frame to value)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from semser_tf.data.corpus import align_labels

    @settings(max_examples=60, deadline=None)
    @given(st.data())
    def check(data):
        n = data.draw(st.integers(1, 60))
        frames = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
        jitter = data.draw(
            st.lists(st.floats(-0.049, 0.049), min_size=len(frames), max_size=len(frames))
        )
        times = np.array([f / 10 + j / 10 for f, j in zip(frames, jitter)]).clip(0)
        values = np.array([[f * 1.5, -f] for f in frames], float)
        got = align_labels(times, values, n)
        ref = {f: (f * 1.5, -f) for f in frames}
        for i in range(n):
            if i in ref:
                np.testing.assert_allclose(got[i], ref[i])
            else:
                assert np.isnan(got[i]).all()

    check()
