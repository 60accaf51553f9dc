"""``predict`` on a bare audio file: words from recognition feed the semantic input."""

import numpy as np
import pytest

pytest.importorskip("pocketsphinx")
pytest.importorskip("espeakng_loader")

from semser_tf.data.audio import save_wav  # noqa: E402
from semser_tf.data.espeak import synthesize  # noqa: E402
from semser_tf.data.timings import read_words  # noqa: E402

SR = 22050
TEXT = "the weather today was wonderful and we walked along the river before dinner"


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    speech, _ = synthesize(TEXT, voice="en-us")
    silence = np.zeros(2 * SR, np.float32)
    audio = np.concatenate([silence, speech, silence])
    path = tmp_path_factory.mktemp("talk") / "talk.wav"
    save_wav(path, audio)
    return path, 2.0, 2.0 + len(speech) / SR, len(audio) / SR


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    # the vocabulary language model of the default route is written to the zoo cache
    monkeypatch.setenv("SEMSER_TF_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def model():
    from semser_tf.zoo.pretrained import load_pretrained

    return load_pretrained(offline=True)


def test_predict_without_words_recognises_them(model, talk):
    path, s0, s1, duration = talk
    # pocketsphinx with language_model="auto": the bundled model's own vocabulary (Whisper,
    # the default where installed, is tested in tests/semantic/test_words_whisper.py)
    pred = model.predict(path, recognizer="pocketsphinx")
    assert pred.words_source == "asr" and len(pred.words) >= 5
    assert all(w.word in set(model.embeddings.words) for w in pred.words)
    general = model.predict(path, language_model="general")
    assert general.words != pred.words and len(general.words) >= 5
    assert all(s0 - 0.05 <= w.start < w.end <= s1 + 0.05 for w in pred.words)
    # the semantic input the model saw: nonzero where words are spoken, zero in silence
    from types import SimpleNamespace

    n = len(pred.times)
    sem = model.frame_features()(SimpleNamespace(words=pred.words, audio_path=path), n)
    nonzero = np.abs(sem).sum(axis=1) > 0
    frame_t = (np.arange(n) + 0.5) / 10
    assert not nonzero[(frame_t < s0) | (frame_t > s1)].any()
    speech_frames = (frame_t > s0 + 0.1) & (frame_t < s1 - 0.1)
    assert nonzero[speech_frames].mean() > 0.6
    # and with recognition turned off the semantic input is all zeros, as before
    off = model.predict(path, words_from="none")
    assert off.words == [] and off.words_source == "none"
    assert not np.allclose(off.values, pred.values)


def test_predict_with_transcript_aligns(model, talk):
    path, s0, s1, _ = talk
    pred = model.predict(path, transcript=TEXT)
    assert pred.words_source == "align" and [w.word for w in pred.words] == TEXT.split()
    assert abs(pred.words[0].start - s0) < 0.1 and abs(pred.words[-1].end - s1) < 0.1


def test_cli_predict_writes_the_words_used(talk, tmp_path, capsys):
    from semser_tf.cli import main

    path, s0, s1, _ = talk
    out = tmp_path / "out" / "talk.pred.csv"
    assert (
        main(
            [
                "predict",
                str(path),
                "--csv",
                str(out),
                "--no-plot",
                "--offline",
                "--recognizer",
                "pocketsphinx",
            ]
        )
        == 0
    )
    words = read_words(out.parent / "talk.words.csv")
    assert len(words) >= 5 and all(s0 - 0.05 <= w.start < w.end <= s1 + 0.05 for w in words)
    # the same run again: the same words, the file is rewritten identically
    assert (
        main(
            [
                "predict",
                str(path),
                "--csv",
                str(out),
                "--no-plot",
                "--offline",
                "--recognizer",
                "pocketsphinx",
            ]
        )
        == 0
    )
    assert read_words(out.parent / "talk.words.csv") == words
    # a transcript given as text is aligned; as a file too (each in a fresh output folder)
    tfile = tmp_path / "talk.txt"
    tfile.write_text(TEXT + "\n")
    for i, transcript in enumerate((TEXT, str(tfile))):
        out_i = tmp_path / f"out{i}" / "talk.pred.csv"
        assert (
            main(
                [
                    "predict",
                    str(path),
                    "--csv",
                    str(out_i),
                    "--no-plot",
                    "--offline",
                    "--transcript",
                    transcript,
                ]
            )
            == 0
        )
        assert [w.word for w in read_words(out_i.parent / "talk.words.csv")] == TEXT.split()
        n = len(TEXT.split())  # plain English words: all in the bundled model's text space (GloVe)
        assert (
            f"semantic input (text mode): 0 of {n} words out of vocabulary"
            in capsys.readouterr().err
        )
    # an existing, different words file is never overwritten
    mine = out.parent / "talk.words.csv"
    mine.write_text("0.000;1.000;hello\n")
    assert (
        main(
            [
                "predict",
                str(path),
                "--csv",
                str(out),
                "--no-plot",
                "--offline",
                "--transcript",
                TEXT,
            ]
        )
        == 0
    )
    assert mine.read_text() == "0.000;1.000;hello\n"


def test_cli_words_commands(talk, tmp_path):
    from semser_tf.cli import main

    path, s0, s1, _ = talk
    out = tmp_path / "rec.csv"
    assert main(["words", "recognize", str(path), "--out", str(out)]) == 0
    assert len(read_words(out)) >= 5
    assert main(["words", "recognize", str(path), "--out", str(out)]) == 2  # exists: refused
    assert (
        main(["words", "align", str(path), "--transcript", TEXT, "--out", str(out), "--overwrite"])
        == 0
    )
    words = read_words(out)
    assert [w.word for w in words] == TEXT.split() and abs(words[0].start - s0) < 0.1
    assert (
        main(
            ["words", "align", str(path), "--transcript", "hello", "--out", str(tmp_path / "x.csv")]
        )
        == 2
    )
    text = tmp_path / "t.txt"
    text.write_text("the weather was wonderful\nwe walked along the river\n")
    assert main(["words", "lm", str(text), "--out", str(tmp_path / "d.arpa")]) == 0
    assert "\\data\\" in (tmp_path / "d.arpa").read_text()
    # --overwrite never replaces an input: the audio, a transcript file, a text file
    audio_bytes, text_bytes = path.read_bytes(), text.read_bytes()
    assert main(["words", "recognize", str(path), "--out", str(path), "--overwrite"]) == 2
    assert (
        main(
            [
                "words",
                "align",
                str(path),
                "--transcript",
                str(text),
                "--out",
                str(text),
                "--overwrite",
            ]
        )
        == 2
    )
    assert main(["words", "lm", str(text), "--out", str(text), "--overwrite"]) == 2
    assert path.read_bytes() == audio_bytes and text.read_bytes() == text_bytes


def test_predict_with_the_model_vocabulary_language_model(model, talk, tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSER_TF_CACHE", str(tmp_path / "cache"))
    path, s0, s1, _ = talk
    lm = model.vocabulary_language_model()
    assert (
        lm.is_file() and lm.parent.parent == tmp_path / "cache" / "zoo"
    )  # the zoo's part of the cache
    pred = model.predict(path, language_model="vocabulary")
    vocab = set(model.embeddings.words)
    assert pred.words_source == "asr" and pred.words
    assert all(w.word in vocab for w in pred.words)  # recognition restricted to the model's words
