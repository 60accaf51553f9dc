"""The 'semser embed' commands, end to end on small hand-made inputs."""

from __future__ import annotations

import json

import numpy as np

from semser_tf.cli import main
from semser_tf.semantic.embeddings import AlignedEmbeddings


def _write_vectors(path, words, V):
    lines = [f"{len(words)} {V.shape[1]}"] + [
        w + " " + " ".join(f"{x:.6f}" for x in v) for w, v in zip(words, V)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _json_out(capsys):
    out = capsys.readouterr().out
    return json.loads(out[out.index("{") :])


def test_word2vec_command(tmp_path, capsys):
    corpus = tmp_path / "c"
    (corpus / "transcriptions").mkdir(parents=True)
    rows = [f"{i}.0;{i}.5;'the cat sat on the mat number {i % 7}'" for i in range(60)]
    (corpus / "transcriptions" / "Train_01.csv").write_text("\n".join(rows) + "\n")
    extra = tmp_path / "extra.txt"
    extra.write_text("the dog sat on the mat\n" * 10)
    out = tmp_path / "w2v.bin"
    rc = main(
        [
            "embed",
            "word2vec",
            "--corpus",
            str(corpus),
            "--text",
            str(extra),
            "--min-count",
            "5",
            "--dim",
            "8",
            "--binary",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    res = _json_out(capsys)
    assert (
        res["dim"] == 8 and res["words"] == 14
    )  # the cat sat on mat number, 0..6 (5 times or more), dog
    from semser_tf.semantic.word2vec import load_vectors

    assert load_vectors(out).vector_size == 8


def test_align_supervised_command_and_evaluate(tmp_path, capsys):
    rng = np.random.default_rng(0)
    dim, n = 12, 200
    words = [f"w{i}" for i in range(n)]
    T = rng.standard_normal((n, dim)) * np.geomspace(2, 0.3, dim)
    Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    S = T @ Q + 0.01 * rng.standard_normal((n, dim)) + 3.0  # rotated and shifted
    speech = tmp_path / "speech"
    speech.mkdir()
    _write_vectors(speech / "vectors.txt", words, S)
    _write_vectors(tmp_path / "text.txt", words[::-1], T[::-1])  # another row order
    art = tmp_path / "art"
    rc = main(
        [
            "embed",
            "align",
            "--speech",
            str(speech),
            "--text",
            str(tmp_path / "text.txt"),
            "--method",
            "supervised",
            "--refine",
            "2",
            "--out",
            str(art),
        ]
    )
    assert rc == 0
    res = _json_out(capsys)
    assert res["test"]["p_at_1"] == 1.0 and res["test_pairs"] == 100 and res["train_pairs"] == 100
    emb = AlignedEmbeddings.load(art)
    assert emb.words == words and emb.speech2vec is None
    rc = main(["embed", "evaluate", "--embeddings", str(art)])
    assert rc == 0
    assert _json_out(capsys)["all_identical_words"]["p_at_1"] == 1.0


def test_align_rejects_mismatched_dimensions(tmp_path, capsys):
    speech = tmp_path / "speech"
    speech.mkdir()
    _write_vectors(speech / "vectors.txt", ["a", "b"], np.ones((2, 3)))
    _write_vectors(tmp_path / "text.txt", ["a", "b"], np.ones((2, 4)))
    rc = main(
        [
            "embed",
            "align",
            "--speech",
            str(speech),
            "--text",
            str(tmp_path / "text.txt"),
            "--method",
            "supervised",
            "--out",
            str(tmp_path / "art"),
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "speech vectors have dimension 3, the text space 4; train Speech2Vec with --dim 4" in err
    assert not (tmp_path / "art").exists()
