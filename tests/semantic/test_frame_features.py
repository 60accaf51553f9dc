"""Frame features (lookup mode) and the aligned-embedding artifact."""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

import numpy as np
import pytest

from semser_tf.errors import ConfigError, DataError
from semser_tf.semantic import frame_features as ff
from semser_tf.semantic.embeddings import AlignedEmbeddings
from semser_tf.types import WordTiming


def _rec(words, audio_path=None):
    return SimpleNamespace(words=words, audio_path=audio_path)


def test_frame_centres_pick_the_word_or_zeros():
    words = ["ja", "genau"]
    V = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    f = ff.LookupFrameFeatures(words, V)
    rec = _rec([WordTiming(0.0, 0.25, "Ja"), WordTiming(0.42, 0.61, "genau!")])
    out = f(rec, 8)
    # reference: frame i centred at (i + 0.5) / 10 s; look for the span containing it
    ref = np.zeros((8, 2), np.float32)
    for i in range(8):
        c = (i + 0.5) / 10
        for t, v in zip(rec.words, V):
            if t.start <= c < t.end:
                ref[i] = v
                break
    np.testing.assert_array_equal(out, ref)
    assert out.dtype == np.float32 and f.dim == 2
    assert (
        out[[0, 1, 4, 5]].tolist() == [[1, 2], [1, 2], [3, 4], [3, 4]]
        and not out[[2, 3, 6, 7]].any()
    )


def test_identical_words_get_identical_vectors_and_oov_is_deterministic():
    V = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    f = ff.LookupFrameFeatures(["a", "b", "c"], V, oov_seed=7)
    rec = _rec(
        [
            WordTiming(0.0, 0.1, "b"),
            WordTiming(0.5, 0.6, "B."),
            WordTiming(1.0, 1.1, "zebra"),
            WordTiming(1.5, 1.6, "zebra"),
            WordTiming(2.0, 2.1, "<laughter>"),
        ]
    )
    out = f(rec, 25)
    np.testing.assert_array_equal(out[0], V[1])
    np.testing.assert_array_equal(out[5], V[1])  # same word, same vector
    np.testing.assert_array_equal(out[10], out[15])  # OOV: same word, same vector
    assert not out[20].any()  # a tag is not a word
    # the documented OOV recipe, recomputed here
    digest = hashlib.sha256(b"7:zebra").digest()
    v = np.random.default_rng(int.from_bytes(digest[:8], "little")).standard_normal(5)
    mean_norm = np.linalg.norm(V, axis=1).mean()
    np.testing.assert_allclose(out[10], v / np.linalg.norm(v) * mean_norm, rtol=1e-5)
    g = ff.LookupFrameFeatures(["a", "b", "c"], V, oov_seed=7)
    np.testing.assert_array_equal(g(rec, 25), out)  # another instance, same output
    assert g.cache_key == f.cache_key
    assert ff.LookupFrameFeatures(["a", "b", "c"], V, oov_seed=8).cache_key != f.cache_key


def test_words_beyond_the_frames_and_empty_recordings():
    f = ff.LookupFrameFeatures(["a"], np.ones((1, 3), np.float32))
    assert f(_rec([]), 4).shape == (4, 3)
    out = f(_rec([WordTiming(0.25, 9.0, "a")]), 5)
    assert out[:, 0].tolist() == [0, 0, 1, 1, 1]


def test_loader_protocol():
    from semser_tf.data.pipeline import FrameFeatures

    f = ff.LookupFrameFeatures(["a"], np.ones((1, 3), np.float32))
    assert isinstance(f, FrameFeatures)


def test_bad_tables_rejected():
    with pytest.raises(ConfigError, match="empty vocabulary"):
        ff.LookupFrameFeatures([], np.zeros((0, 3)))
    with pytest.raises(ConfigError, match=r"expected \(2, dim\)"):
        ff.LookupFrameFeatures(["a", "b"], np.zeros((3, 4)))
    with pytest.raises(ConfigError, match="duplicate"):
        ff.LookupFrameFeatures(["a", "a"], np.zeros((2, 4)))


# ---------------------------------------------------------------- artifact


def _emb(**kw):
    rng = np.random.default_rng(1)
    W, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    args = dict(
        words=["ja", "nein", "haus"],
        vectors=rng.standard_normal((3, 4)),
        mapping=W,
        source_mean=rng.standard_normal(4),
        counts=[5, 3, 1],
        text_words=["haus", "ja"],
        text_vectors=rng.standard_normal((2, 4)),
        config={"alignment": "supervised"},
    )
    args.update(kw)
    return AlignedEmbeddings(**args)


def test_artifact_round_trip_without_pickle(tmp_path):
    emb = _emb()
    out = emb.save(tmp_path / "sem")
    assert sorted(p.name for p in out.iterdir()) == ["embeddings.json", "embeddings.npz"]
    assert [p.name for p in tmp_path.iterdir()] == ["sem"]  # no temporaries left
    with np.load(out / "embeddings.npz", allow_pickle=False) as z:
        assert z["words"].dtype.kind == "U"
    back = AlignedEmbeddings.load(out)
    assert (
        back.words == emb.words and back.text_words == emb.text_words and back.counts == [5, 3, 1]
    )
    np.testing.assert_array_equal(back.vectors, emb.vectors)
    np.testing.assert_array_equal(back.mapping, emb.mapping)
    assert back.config == {"alignment": "supervised"}
    # saving again replaces the folder
    _emb(config={"v": 2}).save(out)
    assert AlignedEmbeddings.load(out).config == {"v": 2}


def test_transform_is_W_times_normalised_centred_encoding():
    emb = _emb()
    raw = np.random.default_rng(2).standard_normal((6, 4))
    ref = np.array(
        [emb.mapping @ ((r - emb.source_mean) / np.linalg.norm(r - emb.source_mean)) for r in raw]
    )
    np.testing.assert_allclose(emb.transform(raw), ref, atol=1e-5)


def test_artifact_frame_features_modes():
    emb = _emb()
    f = emb.frame_features("lookup")
    out = f(_rec([WordTiming(0.0, 0.1, "Haus")]), 2)
    np.testing.assert_array_equal(out[0], emb.vectors[2])
    with pytest.raises(ConfigError, match="needs the Speech2Vec model"):
        emb.frame_features("encode")
    with pytest.raises(ConfigError, match="frame features mode: expected 'lookup'"):
        emb.frame_features("nearest")
    # 'text': the transcript word's (preprocessed) Word2Vec vector, else its aligned vector
    t = emb.frame_features("text")(
        _rec([WordTiming(0.0, 0.1, "ja"), WordTiming(0.2, 0.3, "nein")]), 3
    )
    np.testing.assert_array_equal(t[0], emb.text_vectors[1])
    np.testing.assert_array_equal(t[2], emb.vectors[1])


def test_bad_artifacts_rejected(tmp_path):
    with pytest.raises(ConfigError, match="empty vocabulary"):
        _emb(words=[], vectors=np.zeros((0, 4)), counts=None)
    with pytest.raises(ConfigError, match=r"text_vectors of shape \(2, 5\).*same dimension"):
        _emb(text_vectors=np.zeros((2, 5)))
    with pytest.raises(ConfigError, match="mapping"):
        _emb(mapping=np.eye(3))
    with pytest.raises(DataError, match="missing embeddings.json"):
        AlignedEmbeddings.load(tmp_path)
    out = _emb().save(tmp_path / "a")
    meta = json.loads((out / "embeddings.json").read_text())
    meta["version"] = 99
    (out / "embeddings.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="embeddings.json: field 'version'"):
        AlignedEmbeddings.load(out)
    out = _emb().save(tmp_path / "b")
    np.savez(
        out / "embeddings.npz",
        words=np.array([{"x": 1}], dtype=object),
        vectors=np.zeros((1, 4)),
        mapping=np.eye(4),
        source_mean=np.zeros(4),
    )
    with pytest.raises(DataError, match="object arrays are refused"):
        AlignedEmbeddings.load(out)
    out = _emb().save(tmp_path / "c")
    np.savez(
        out / "embeddings.npz",
        words=np.array(["a", "b"]),
        vectors=np.zeros((3, 4)),
        mapping=np.eye(4),
        source_mean=np.zeros(4),
    )
    with pytest.raises(DataError, match=r"embeddings.npz: .*vectors of shape \(3, 4\)"):
        AlignedEmbeddings.load(out)
