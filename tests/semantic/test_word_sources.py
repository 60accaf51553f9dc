"""One way to give word timings to every command: words/, the transcript fallback, --words-dir."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from semser_tf.data.sewa import SEWACorpus
from semser_tf.data.timings import read_transcription
from semser_tf.errors import DataError
from semser_tf.semantic import speech2vec as s2v
from semser_tf.semantic.word2vec import normalize_word

from ..data.conftest import tiny_corpus  # noqa: F401  (session fixture)


def _plain_words(text):
    return [w for w in (normalize_word(t) for t in text.split()) if w]


@pytest.fixture
def no_words_corpus(tiny_corpus, tmp_path):
    root = tmp_path / "nowords"
    shutil.copytree(tiny_corpus, root)
    shutil.rmtree(root / "words")
    return root


def test_speech2vec_segments_from_the_transcript_fallback(no_words_corpus):
    recs = s2v.corpus_segments(no_words_corpus, partitions=("Train",))
    assert [r.name for r in recs] == ["Train_01"]
    expected = [
        w
        for _, _, text in read_transcription(no_words_corpus / "transcriptions" / "Train_01.csv")
        for w in _plain_words(text)
    ]
    assert recs[0].words == expected and len(recs[0].mfccs) == len(expected)


def test_words_dir_replaces_the_corpus_words(tiny_corpus, tmp_path):
    wd = tmp_path / "asr"
    wd.mkdir()
    (wd / "Train_01.csv").write_text("0.50;0.90;Hello\n1.00;1.40;world\n")
    recs = s2v.corpus_segments(tiny_corpus, words_dir=wd)
    by = {r.name: r for r in recs}
    assert by["Train_01"].words == ["hello", "world"]
    assert len(by["Train_01"].mfccs[0]) == pytest.approx(
        39, abs=2
    )  # 0.4 s at a 10 ms hop, 25 ms frames
    # recordings without a file keep their own words/ timings
    own = SEWACorpus(tiny_corpus)["Devel_01"].words
    assert by["Devel_01"].words == [normalize_word(w.word) for w in own]


def test_words_dir_errors_name_the_folder(tiny_corpus, tmp_path):
    corpus = SEWACorpus(tiny_corpus)
    with pytest.raises(DataError, match=r"missing.*word-timings folder not found"):
        corpus.with_words(tmp_path / "missing")
    empty = tmp_path / "other"
    empty.mkdir()
    (empty / "Unrelated.csv").write_text("0;1;x\n")
    with pytest.raises(
        DataError,
        match=r"other: no word-timings file for any recording: expected files such as "
        r"Train_01\.csv",
    ):
        corpus.with_words(empty)
    (empty / "Train_01.csv").write_text("0.0;0.5\n")
    with pytest.raises(DataError, match=r"Train_01\.csv:1"):
        corpus.with_words(empty)


def test_no_timings_at_all_is_a_clear_error(no_words_corpus):
    shutil.rmtree(no_words_corpus / "transcriptions")
    with pytest.raises(DataError, match="no recording has word timings: expected words/<name>.csv"):
        s2v.corpus_segments(no_words_corpus)


def test_speech2vec_command_says_which_words_min_count_drops(tiny_corpus, tmp_path):
    out = tmp_path / "s2v"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "semser_tf.cli",
            "embed",
            "speech2vec",
            "--corpus",
            str(tiny_corpus),
            "--partitions",
            "Train",
            "--out",
            str(out),
            "--epochs",
            "1",
            "--dim",
            "8",
            "--hidden",
            "8",
            "--min-count",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    words = [normalize_word(w.word) for w in SEWACorpus(tiny_corpus)["Train_01"].words]
    from collections import Counter

    c = Counter(w for w in words if w)
    rare = [w for w, n in c.items() if n < 2]
    assert rare, "the fixture should have words seen once"
    assert (
        f"--min-count 2: {len(rare)} of {len(c)} words ({len(rare)} of {sum(c.values())} occurrences) "
        "are below the minimum count"
    ) in r.stderr
    summary = json.loads(r.stdout[r.stdout.index("{") :])
    assert summary["words"] == len(c) - len(rare)


def test_train_reports_the_oov_rate(tiny_corpus, capsys):
    import numpy as np

    from semser_tf.cli.run_inputs import open_corpus, report_coverage
    from semser_tf.semantic.embeddings import AlignedEmbeddings

    corpus = open_corpus(tiny_corpus)
    tokens = [normalize_word(w.word) for r in corpus.recordings() for w in r.words]
    tokens = [t for t in tokens if t]
    known = sorted(set(tokens))[:5]
    emb = AlignedEmbeddings(known, np.eye(8, dtype=np.float32)[:5], np.eye(8, dtype=np.float32))
    report_coverage(emb.frame_features("lookup"), corpus)
    oov = sum(t not in known for t in tokens)
    assert (
        f"semantic input (lookup mode): {oov} of {len(tokens)} words out of vocabulary"
        in capsys.readouterr().err
    )
