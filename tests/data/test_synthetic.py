"""eSpeak NG speech and the synthetic SEWA-layout corpus.

Files are parsed here with plain Python/NumPy (independent of the package's readers),
audio energy is measured with NumPy, and the corpus's purpose (valence from words,
arousal from voice) is checked from the generator's ground truth and its labels.
"""

import argparse
import filecmp
import json
import re
import wave
from pathlib import Path

import numpy as np
import pytest

from semser_tf.cli.data import add_synth_arguments, parse_partitions, register, run_synth
from semser_tf.constants import SAMPLE_RATE, SAMPLES_PER_FRAME
from semser_tf.data import espeak, synthetic
from semser_tf.errors import ConfigError

from .conftest import TINY_CORPUS


def _frame_db(audio, frame=220):
    n = len(audio) // frame
    rms = np.sqrt(
        np.mean(np.asarray(audio[: n * frame], np.float64).reshape(n, frame) ** 2, axis=1)
    )
    return 20 * np.log10(rms / rms.max() + 1e-12)


# --------------------------------------------------------------------------- espeak


def test_synthesize_rate_and_word_timings():
    text = "the cake was wonderful and I love this garden"
    audio, words = espeak.synthesize(text, voice="en-us+f2", rate=180)
    assert espeak.sample_rate() == SAMPLE_RATE == 22050
    assert audio.dtype == np.float32 and audio.ndim == 1 and np.abs(audio).max() <= 1.0
    assert [w.word for w in words] == text.split()
    duration = len(audio) / SAMPLE_RATE
    starts = [w.start for w in words]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    for w, nxt in zip(words, words[1:] + [None]):
        assert 0.0 <= w.start < w.end <= duration
        if nxt is not None:
            assert w.end <= nxt.start + 1e-9
    # the last word ends where the voiced audio ends (within a 10 ms frame)
    db = _frame_db(audio)
    last_loud = (np.nonzero(db > espeak.SILENCE_DB)[0][-1] + 1) * 220 / SAMPLE_RATE
    assert abs(words[-1].end - last_loud) <= 0.011


def test_word_onsets_follow_energy_onsets():
    """Words after a pause start where the energy rises again (within 60 ms)."""
    audio, words = espeak.synthesize("apple, banana, cherry, melon, orange", voice="en")
    db = _frame_db(audio)
    loud = db > -35
    onsets = np.array(
        [i * 220 / SAMPLE_RATE for i in range(1, len(loud)) if loud[i] and not loud[i - 1]]
    )
    for w in words[1:]:
        assert np.min(np.abs(onsets - w.start)) <= 0.06, w
        before = db[int((w.start - 0.1) * 100) : int((w.start - 0.02) * 100)]
        assert np.all(before < -30), w  # the pause before the word is silent


def test_prosody_parameters_change_the_voice():
    """Faster rate gives shorter audio; higher volume gives more energy (NumPy measures)."""
    text = "this is a test of the voice"
    slow, _ = espeak.synthesize(text, rate=120)
    fast, _ = espeak.synthesize(text, rate=240)
    assert len(fast) < 0.7 * len(slow)
    quiet, _ = espeak.synthesize(text, volume=50)
    loud, _ = espeak.synthesize(text, volume=150)
    assert np.sqrt(np.mean(loud**2)) > 2.0 * np.sqrt(np.mean(quiet**2))


def test_espeak_bad_arguments():
    with pytest.raises(ConfigError, match="unknown espeak voice"):
        espeak.synthesize("hello", voice="xx-nonexistent")
    with pytest.raises(ConfigError, match=r"rate must be an integer in \[80, 450\]"):
        espeak.synthesize("hello", rate=1000)
    assert "gmw/en-US" in espeak.list_voices()
    assert {"f3", "m3"} <= set(espeak.list_variants())


# --------------------------------------------------------------------------- corpus layout

LABEL_RE = re.compile(r"^'(?P<name>[A-Za-z]+_\d+)';(?P<t>\d+\.\d{6})(;-?\d+\.\d{6}){3}$")
SPAN_RE = re.compile(r"^(\d+\.\d{3});(\d+\.\d{3})$")
TRANS_RE = re.compile(r"^(\d+\.\d{3});(\d+\.\d{3});'([a-zA-Z ]+)'$")
WORD_RE = re.compile(r"^(\d+\.\d{3});(\d+\.\d{3});([a-zA-Z]+)$")


def _lines(path):
    text = Path(path).read_text(encoding="utf-8")
    assert text.endswith("\n") and "\r" not in text
    return text[:-1].split("\n")


def test_tiny_corpus_layout(tiny_corpus):
    root = Path(tiny_corpus)
    names = ["Devel_01", "Test_01", "Train_01"]
    assert sorted(p.name for p in root.iterdir()) == sorted(
        ["audio", "labels", "turns", "transcriptions", "words", "corpus.json"]
    )
    expected = {
        "audio": ".wav",
        "labels": ".csv",
        "turns": ".csv",
        "transcriptions": ".csv",
        "words": ".csv",
    }
    for sub, ext in expected.items():
        assert sorted(p.name for p in (root / sub).iterdir()) == [n + ext for n in names], sub
    assert not list(root.parent.glob(".*partial*"))  # no leftovers of the build


def test_tiny_corpus_files_parse(tiny_corpus):
    root = Path(tiny_corpus)
    meta = json.loads((root / "corpus.json").read_text())
    assert meta["seed"] == TINY_CORPUS["seed"] and meta["sample_rate"] == 22050
    assert meta["labels"]["annotation_lag_s"] == synthetic.ANNOTATION_LAG_S
    assert meta["lexicon"]["positive"] > 40 and meta["lexicon"]["negative"] > 40
    for name in ["Train_01", "Devel_01", "Test_01"]:
        with wave.open(str(root / "audio" / f"{name}.wav")) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)
            n_samples = w.getnframes()
        duration = n_samples / SAMPLE_RATE
        rows = _lines(root / "labels" / f"{name}.csv")
        values = []
        for k, row in enumerate(rows):
            m = LABEL_RE.match(row)
            assert m, row
            assert m["name"] == name
            assert abs(float(m["t"]) - k / 10) < 1e-9  # 0.0, 0.1, 0.2, ...
            values.append([float(v) for v in row.split(";")[2:]])
        values = np.array(values)
        assert values.shape[1] == 3 and np.all(np.abs(values) <= 1.0)
        assert abs(len(rows) - n_samples / SAMPLES_PER_FRAME) <= 1
        assert meta["recordings"][name]["frames"] == len(rows)
        turns = [
            tuple(map(float, SPAN_RE.match(r).groups()))
            for r in _lines(root / "turns" / f"{name}.csv")
        ]
        trans = [TRANS_RE.match(r) for r in _lines(root / "transcriptions" / f"{name}.csv")]
        words = [WORD_RE.match(r) for r in _lines(root / "words" / f"{name}.csv")]
        assert all(trans) and all(words) and len(turns) == len(trans) >= 3
        prev_end = 0.0
        for (s, e), t in zip(turns, trans):
            assert prev_end <= s < e <= duration
            assert (float(t[1]), float(t[2])) == (s, e)
            prev_end = e
        # words lie inside the turns, in order, and spell the transcript
        spoken = " ".join(t[3] for t in trans).split()
        assert [w[3] for w in words] == spoken
        for w in words:
            s, e = float(w[1]), float(w[2])
            assert s <= e and any(ts - 1e-3 <= s and e <= te + 1e-3 for ts, te in turns)
        # silence between turns, speech inside (energy measured on the file)
        with wave.open(str(root / "audio" / f"{name}.wav")) as w:
            pcm = np.frombuffer(w.readframes(n_samples), "<i2") / 32768.0
        db = _frame_db(pcm)
        in_turn = np.zeros(len(db), bool)
        for s, e in turns:
            in_turn[int(s * 100) : int(np.ceil(e * 100))] = True
        assert np.percentile(db[~in_turn], 95) < -40
        assert np.median(db[in_turn]) > -30


def test_same_seed_same_files(tmp_path, tiny_corpus):
    again = synthetic.generate_corpus(tmp_path / "again", progress=False, **TINY_CORPUS)
    other = synthetic.generate_corpus(
        tmp_path / "other", progress=False, **dict(TINY_CORPUS, seed=124)
    )
    files = sorted(p.relative_to(tiny_corpus) for p in Path(tiny_corpus).rglob("*") if p.is_file())
    assert len(files) == 16
    for rel in files:
        assert filecmp.cmp(Path(tiny_corpus) / rel, again / rel, shallow=False), rel
    assert not filecmp.cmp(
        Path(tiny_corpus) / "audio/Train_01.wav", other / "audio/Train_01.wav", shallow=False
    )


# SHA-256 of the tiny corpus and of 200 lines of background text made by generator 1.0
# (before the real-language recipe, commit f154cb9): recipe "template" must reproduce them.
TEMPLATE_1_0_SHA256 = {
    "audio/Devel_01.wav": "af9ad04ec0684cbc14c01e06186d9bbce633dd6d8d88faf0df6ac295f3ae53b4",
    "audio/Test_01.wav": "a3107b76319d616b6b7f8025ae2737487718be000f16383055ef27e152bbb673",
    "audio/Train_01.wav": "8427c82ad3fc32c60b357868b40101b6eec7ee3f7b4fd67b5aa1c1e799a46ff0",
    "corpus.json": "6e480f96735a57cfffd24e211131e32b39dc816cfc9cc3c6467847bd8da61073",
    "labels/Devel_01.csv": "f7ace0b18bf24c76fa93f59fbc31d7cbc123529925f0fd1f59e5684a13eeaa6d",
    "labels/Test_01.csv": "7a373b50fa9d055d2c7928ac90a4d2ec33d212557389289276e2821f813801e2",
    "labels/Train_01.csv": "efe0119d8e264cf7a550a6493cf1afbf9559891d687fd1291795c270e983ea4f",
    "transcriptions/Devel_01.csv": "1bdead818e1677a85d721e3f7435c3c7220aaa9db827a5104a02cd103b932c66",
    "transcriptions/Test_01.csv": "7acf6aba7a280da2a192317abb71c43386eb5e3071b3e37e57725d3b83b42be0",
    "transcriptions/Train_01.csv": "10649fe11bc9b45f1c58d9acebff10b20a3eda8830d86249c9e9aae4c6433aec",
    "turns/Devel_01.csv": "053df9ce73ca79526711098ab8ba60634f613f92aeb8e3d591b35bb8e8eeb165",
    "turns/Test_01.csv": "6ea6fb536c9e9bcfdaa0384404d5313f68f9e61283fc1837c19e0b7d056550e9",
    "turns/Train_01.csv": "99ad9a9a34629e98023b706fd4f845e40cbc0e0d75851341cb7dbb0cbf215cf0",
    "words/Devel_01.csv": "a7a2365fa710d783ccbab3718c812065f53cedbac152b2f246ad9072b26f7123",
    "words/Test_01.csv": "5f9c0e11abe7a0c5360a72e8a9503cca9849363f80ddd051f6a5b296d15817dc",
    "words/Train_01.csv": "a59deec68815f811882e2bcce1696490ac7cf3490403b4e4e1bbc6a044d711b5",
}
TEMPLATE_1_0_TEXT_SHA256 = "58369701a798ac4913abace4698b784fc229f7e887b1c76d20b59772cbec21fc"


def test_template_recipe_reproduces_generator_1_0(tiny_corpus, tmp_path):
    import hashlib

    root = Path(tiny_corpus)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == sorted(TEMPLATE_1_0_SHA256)
    for rel in files:
        assert hashlib.sha256((root / rel).read_bytes()).hexdigest() == TEMPLATE_1_0_SHA256[rel], (
            rel
        )
    meta = json.loads((root / "corpus.json").read_text())
    assert meta["generator_version"] == "1.0" and "recipe" not in meta
    text = synthetic.generate_text_corpus(tmp_path / "bg.txt", sentences=200, seed=0)
    assert hashlib.sha256(text.read_bytes()).hexdigest() == TEMPLATE_1_0_TEXT_SHA256
    again = synthetic.generate_text_corpus(
        tmp_path / "bg2.txt", sentences=200, seed=0, recipe="template"
    )
    assert again.read_bytes() == text.read_bytes()


def test_loader_reads_tiny_corpus(tiny_corpus):
    """The project's SEWA reader accepts the generated corpus as it is."""
    sewa = pytest.importorskip("semser_tf.data.sewa")
    corpus = sewa.SEWACorpus(tiny_corpus)
    recs = {r.name: r for r in corpus.recordings()}
    assert sorted(recs) == ["Devel_01", "Test_01", "Train_01"]
    meta = json.loads((Path(tiny_corpus) / "corpus.json").read_text())
    for name, rec in recs.items():
        assert len(rec.words) == sum(
            len(s["word_sentiments"]) for s in meta["recordings"][name]["sentences"]
        )
        assert rec.labels.shape == (meta["recordings"][name]["frames"], 3)


# --------------------------------------------------------------------------- label model


def test_rating_filter_against_loop_reference():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (50, 2))
    alpha = 1 - np.exp(-1 / (10 * 0.5))
    y, prev = [], np.zeros(2)
    for row in x:
        prev = prev + alpha * (row - prev)
        y.append(prev)
    expected = np.vstack([np.zeros((20, 2)), np.array(y)[:30]])
    np.testing.assert_allclose(
        synthetic.rating_filter(x, lag_s=2.0, tau_s=0.5), expected, atol=1e-12
    )


def _sentence_table(recs, lag):
    rows = []
    for rec in recs:
        for s in rec.sentences:
            k = int(round((s.end + lag) * 10))  # the label once the whole sentence is rated
            if k >= len(rec.labels):
                continue
            seg = rec.audio[int(s.start * SAMPLE_RATE) : int(s.end * SAMPLE_RATE)].astype(
                np.float64
            )
            rows.append(
                dict(
                    sentiment=s.sentiment,
                    arousal_param=s.arousal,
                    rate=s.prosody["rate"],
                    pitch=s.prosody["pitch"],
                    words_per_s=len(s.words) / (s.end - s.start),
                    level_db=10 * np.log10(np.mean(seg**2)),
                    arousal=rec.labels[k, 0],
                    valence=rec.labels[k, 1],
                    liking=rec.labels[k, 2],
                )
            )
    return {key: np.array([r[key] for r in rows]) for key in rows[0]}


def test_valence_from_words_arousal_from_voice():
    """The paper's point made measurable: 16 recordings of 30 s (about 1 s to generate).

    Per sentence, the label at (sentence end + lag) is correlated with the sentence's word
    sentiment and with its prosody, both as the generator's parameters and as measured
    on the audio (words per second, level in dB).
    """
    voices = list(synthetic.DEFAULT_VOICES)
    recs = [
        synthetic.generate_recording(
            f"Train_{i:02d}",
            30.0,
            voices[i % len(voices)],
            np.random.SeedSequence([7, i]),
            recipe="template",
        )
        for i in range(16)
    ]
    t = _sentence_table(recs, synthetic.ANNOTATION_LAG_S)
    r = lambda a, b: float(np.corrcoef(t[a], t[b])[0, 1])  # noqa: E731
    assert len(t["sentiment"]) > 120
    assert r("valence", "sentiment") > 0.9
    for prosodic in ("arousal_param", "rate", "pitch", "words_per_s"):
        assert abs(r("valence", prosodic)) < 0.25, prosodic
    assert r("arousal", "arousal_param") > 0.9
    assert (
        r("arousal", "rate") > 0.9
        and r("arousal", "words_per_s") > 0.5
        and r("arousal", "level_db") > 0.3
    )
    assert abs(r("arousal", "sentiment")) < 0.25
    assert r("liking", "sentiment") > 0.6 and r("liking", "arousal_param") > 0.15


def test_prosody_mapping():
    assert synthetic.prosody_for_arousal(0.0) == {
        "rate": 170,
        "pitch": 50,
        "pitch_range": 50,
        "volume": 100,
    }
    assert synthetic.prosody_for_arousal(1.0) == {
        "rate": 220,
        "pitch": 75,
        "pitch_range": 90,
        "volume": 140,
    }
    assert synthetic.prosody_for_arousal(-5.0) == {
        "rate": 120,
        "pitch": 25,
        "pitch_range": 10,
        "volume": 60,
    }


# --------------------------------------------------------------------------- generation


def test_failed_generation_leaves_nothing(tmp_path, monkeypatch):
    """An error after the first recording was written (here: in the progress update)."""
    calls = []

    def boom(self, done, note=""):
        calls.append(done)
        if len(calls) == 2:
            raise RuntimeError("disk full")

    monkeypatch.setattr(synthetic._Progress, "update", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        synthetic.generate_corpus(tmp_path / "c", progress=False, **TINY_CORPUS)
    assert list(tmp_path.iterdir()) == []


def test_generate_corpus_refuses_bad_input(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        synthetic.generate_corpus(tmp_path / "full", minutes=0.1, progress=False)
    with pytest.raises(ConfigError, match="minutes"):
        synthetic.generate_corpus(tmp_path / "a", minutes=0, progress=False)
    with pytest.raises(ConfigError, match="recording_seconds"):
        synthetic.generate_corpus(tmp_path / "a", minutes=1, recording_seconds=1, progress=False)
    with pytest.raises(ConfigError, match="unknown espeak voice"):
        synthetic.generate_corpus(
            tmp_path / "a", minutes=0.1, voices=["en", "zz-nope"], progress=False
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]


def test_cli_synth(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="semser")
    register(parser.add_subparsers(dest="command"))
    out = tmp_path / "cli"
    args = parser.parse_args(
        [
            "synth",
            str(out),
            "--minutes",
            "0.25",
            "--recording-seconds",
            "5",
            "--partitions",
            "Train=2,Test=1",
            "--voices",
            "en+f3,en-us",
            "--seed",
            "3",
            "--recipe",
            "template",
        ]
    )
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == str(out)
    meta = json.loads((out / "corpus.json").read_text())
    assert meta["partitions"] == {"Train": ["Train_01", "Train_02"], "Test": ["Test_01"]}
    assert meta["voices"] == ["en+f3", "en-us"] and meta["seed"] == 3
    assert sorted(p.name for p in (out / "audio").iterdir()) == [
        "Test_01.wav",
        "Train_01.wav",
        "Train_02.wav",
    ]
    p2 = argparse.ArgumentParser()
    add_synth_arguments(p2)
    assert run_synth(p2.parse_args([str(tmp_path / "q"), "--minutes", "0.1", "--quiet"])) == 0
    assert (
        json.loads((tmp_path / "q" / "corpus.json").read_text())["recipe"] == "real"
    )  # the CLI's default
    with pytest.raises(ConfigError, match="Name=fraction"):
        parse_partitions("Train:0.5")


def test_worker_failure_is_reported(tmp_path):
    """A failing isolated worker surfaces as a SemserError with the worker's own message."""
    from semser_tf.errors import SemserError

    job = ("Train_01", 5.0, "zz-nonexistent", 0, [0], str(tmp_path), 2.0)
    with pytest.raises(
        SemserError,
        match=r"recording Train_01 failed \(exit 2\):\nConfigError: unknown espeak voice",
    ):
        list(synthetic._run_isolated([job], jobs=1))
