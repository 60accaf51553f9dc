"""Word2Vec: training settings, determinism, the word2vec file formats, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from semser_tf.errors import ConfigError, DataError
from semser_tf.semantic import word2vec as w2v


def _toy_sentences(n=300, seed=0):
    rng = np.random.default_rng(seed)
    animals = ["cat", "dog", "cow", "horse"]
    tools = ["hammer", "saw", "drill", "wrench"]
    out = []
    for _ in range(n):
        group = animals if rng.random() < 0.5 else tools
        verb = "feeds" if group is animals else "uses"
        out.append(
            [
                "the",
                "farmer",
                verb,
                "the",
                str(rng.choice(group)),
                "and",
                "the",
                str(rng.choice(group)),
            ]
        )
    return out


def test_defaults_are_the_papers():
    cfg = w2v.Word2VecConfig()
    assert (cfg.vector_size, cfg.window, cfg.min_count, cfg.sg) == (100, 4, 7, 1)


def test_training_is_deterministic_and_uses_the_settings():
    cfg = w2v.Word2VecConfig(vector_size=16, min_count=5, epochs=10, seed=3, workers=1, sample=0)
    sents = _toy_sentences(2000)
    a = w2v.train_word2vec(sents, cfg)
    b = w2v.train_word2vec(sents, cfg)
    assert a.vector_size == 16
    assert list(a.index_to_key) == list(b.index_to_key)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    assert a.index_to_key[0] == "the"  # most frequent first
    # co-occurring words end up closer than words of the other group
    for x, y, z in (("cat", "dog", "hammer"), ("saw", "drill", "cow")):
        assert a.similarity(x, y) > a.similarity(x, z)


def test_min_count_filters_rare_words():
    sents = _toy_sentences(50) + [["zebra"]] * 2
    kv = w2v.train_word2vec(sents, w2v.Word2VecConfig(vector_size=8, min_count=3))
    assert "zebra" not in kv.key_to_index
    kv = w2v.train_word2vec(sents, w2v.Word2VecConfig(vector_size=8, min_count=2))
    assert "zebra" in kv.key_to_index


@pytest.mark.parametrize("binary", [False, True])
def test_save_and_load_word2vec_formats(tmp_path, binary):
    kv = w2v.train_word2vec(_toy_sentences(60), w2v.Word2VecConfig(vector_size=8, min_count=1))
    path = w2v.save_vectors(kv, tmp_path / ("v.bin" if binary else "v.txt"), binary=binary)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left
    back = w2v.load_vectors(path)  # format detected from the content
    assert list(back.index_to_key) == list(kv.index_to_key)
    np.testing.assert_allclose(back.vectors, kv.vectors, atol=1e-5)


def test_load_hand_written_text_vectors(tmp_path):
    p = tmp_path / "hand.txt"
    p.write_text("2 3\nhaus 1 0 0\nbaum 0 0.5 -1\n", encoding="utf-8")
    kv = w2v.load_vectors(p)
    words, V = w2v.vectors_table(kv)
    assert words == ["haus", "baum"]
    np.testing.assert_array_equal(V, [[1, 0, 0], [0, 0.5, -1]])


def test_bad_vector_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        w2v.load_vectors(tmp_path / "missing.txt")
    p = tmp_path / "nohead.txt"
    p.write_text("haus 1 0 0\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"nohead.txt:1: no word2vec header"):
        w2v.load_vectors(p)
    p = tmp_path / "empty.txt"
    p.write_text("0 100\n", encoding="utf-8")
    with pytest.raises(DataError, match="empty vocabulary"):
        w2v.load_vectors(p)
    p = tmp_path / "short.txt"
    p.write_text("2 3\nhaus 1 0\nbaum 0 1 0\n", encoding="utf-8")
    with pytest.raises(DataError, match="short.txt"):
        w2v.load_vectors(p)


def test_empty_vocabulary_rejected():
    with pytest.raises(ConfigError, match="no sentences"):
        w2v.train_word2vec([], w2v.Word2VecConfig())
    with pytest.raises(ConfigError, match="empty vocabulary.*min_count=7"):
        w2v.train_word2vec([["a", "b"]], w2v.Word2VecConfig())
    with pytest.raises(ConfigError, match="word2vec.window"):
        w2v.Word2VecConfig(window=0).validate()


def test_tokenize_and_corpus_sentences(tmp_path):
    assert w2v.tokenize("Ja, <filler> äh... GENAU!") == ["ja", "äh", "genau"]
    assert w2v.normalize_word("Haus.") == "haus"
    (tmp_path / "transcriptions").mkdir()
    (tmp_path / "words").mkdir()
    (tmp_path / "transcriptions" / "Train_01.csv").write_text(
        "0.0;1.0;'Hallo Welt'\n1.5;2.0;'<laughter>'\n"
    )
    (tmp_path / "words" / "Train_02.csv").write_text("0.0;0.5;Guten\n0.5;1.0;Tag\n")
    assert w2v.transcript_sentences(tmp_path) == [["hallo", "welt"], ["guten", "tag"]]
    extra = tmp_path / "extra.txt"
    extra.write_bytes(b"Erste Zeile.\n\nzweite\n")
    assert w2v.text_file_sentences(extra) == [["erste", "zeile"], ["zweite"]]
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\xfe broken\n")
    with pytest.raises(DataError, match="bad.txt:2: not UTF-8"):
        w2v.text_file_sentences(bad)
    with pytest.raises(DataError, match="no transcriptions"):
        w2v.transcript_sentences(tmp_path / "transcriptions")
