"""``predict_many`` and ``semser predict ... --out DIR``: many recordings, a few shapes."""

import numpy as np
import pytest

from semser_tf.constants import SAMPLES_PER_FRAME
from semser_tf.data.audio import save_wav
from semser_tf.errors import ConfigError, DataError
from semser_tf.inference import Predictor
from tests.inference.conftest import speechlike, tiny_model

SR = 22050


@pytest.fixture(scope="module")
def attention():
    # windows of 2 x 20 frames: recordings past 4 s cross windows of the state-carried rule
    model, config = tiny_model("attention", sequence_length=20)
    return model, config


def _items(tmp_path, rng, n):
    """``n`` recordings of distinct lengths (0.3-9 s): arrays, 22050 Hz and 16 kHz WAVs."""
    seconds = rng.permutation(np.linspace(0.3, 9.0, n))
    items = []
    for i, s in enumerate(seconds):
        x = speechlike(float(s), seed=i)
        if i % 3 == 0:
            items.append(x)
        elif i % 3 == 1:
            items.append(save_wav(tmp_path / f"a{i}.wav", x))
        else:
            x16 = speechlike(float(s), rate=16000, seed=i)
            items.append(save_wav(tmp_path / f"b{i}.wav", x16, 16000))
    return items


@pytest.mark.backend_agnostic
def test_predict_many_equals_predict_item_by_item(attention, features, tmp_path):
    model, config = attention
    f, words = features
    p = Predictor(model, config, f, windows_per_call=2)
    rng = np.random.default_rng(1)
    items = _items(tmp_path, rng, 10)
    # words for some items only (the words fixture reaches 6.5 s: longer items get it)
    lengths = [
        (len(x) if isinstance(x, np.ndarray) else p.predict(x).times.size * SAMPLES_PER_FRAME) / SR
        for x in items
    ]
    per_item = [words if s > 7 else None for s in lengths]
    many = p.predict_many(items, words=per_item, sample_rate=SR, batch_size=3)
    assert len(many) == len(items)
    for x, w, got in zip(items, per_item, many):
        ref = p.predict(x, words=w, sample_rate=SR if isinstance(x, np.ndarray) else None)
        assert got.values.shape == ref.values.shape
        np.testing.assert_allclose(got.values, ref.values, atol=1e-5)
        np.testing.assert_allclose(got.weights, ref.weights, atol=1e-5)
        if isinstance(x, np.ndarray):  # the frames counted by hand: ceil(samples / 2205)
            n = -(-len(x) // SAMPLES_PER_FRAME)
            assert got.values.shape == (n, 3)
            np.testing.assert_allclose(got.times, np.arange(n) * 0.1)
    assert any(w is not None for w in per_item) and any(w is None for w in per_item)


@pytest.mark.backend_agnostic
def test_padding_leaves_the_real_frames_alone(attention):
    """Against the plain model on the recording's own frames only, one pass, no padding."""
    model, config = attention
    p = Predictor(model, config, None, windows_per_call=2)
    clips = [speechlike(s, seed=k) for k, s in enumerate((0.45, 1.3, 2.05, 3.0))]
    many = p.predict_many(clips, sample_rate=SR, batch_size=4)
    for x, got in zip(clips, many):
        n = -(-len(x) // SAMPLES_PER_FRAME)
        frames = np.zeros(n * SAMPLES_PER_FRAME, np.float32)
        frames[: len(x)] = x  # the last frame zero-filled, as the 100 ms framing says
        ref = model.predict_on_batch(
            {
                "waveform": frames.reshape(1, n, SAMPLES_PER_FRAME),
                "semantic": np.zeros((1, n, 6), np.float32),
            }
        )
        np.testing.assert_allclose(got.values, np.asarray(ref)[0], atol=1e-5)


def _count_traces(monkeypatch, model):
    """Python calls of the head layer's ``call``: it runs once per trace (compile) of the
    predict function, never in a traced call that is reused."""
    head = model.get_layer("emotion")
    calls = []
    original = head.call

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(head, "call", counted)
    return calls


def _count_shapes(monkeypatch, step):
    shapes = set()
    original = step.predict_on_batch

    def seen(x):
        shapes.add(tuple(sorted((k, tuple(np.shape(v))) for k, v in x.items())))
        return original(x)

    monkeypatch.setattr(step, "predict_on_batch", seen)
    return shapes


@pytest.mark.backend_agnostic
def test_twenty_lengths_compile_a_handful_of_times(attention, monkeypatch):
    model, config = attention
    p = Predictor(model, config, None, windows_per_call=20)  # a 40 s window, as the bundled
    step = p.step_model(True)
    traces = _count_traces(monkeypatch, model)
    shapes = _count_shapes(monkeypatch, step)
    rng = np.random.default_rng(3)
    seconds = rng.permutation(np.linspace(0.5, 3.0, 20))  # 20 distinct lengths
    assert len({-(-int(s * SR) // SAMPLES_PER_FRAME) for s in seconds}) >= 15
    clips = [speechlike(float(s), seed=i) for i, s in enumerate(seconds)]
    p.predict_many(clips, sample_rate=SR, batch_size=8)
    # 5..30 frames: the buckets of 8, 16 and 32 frames, one batch shape each
    allowed = 3
    assert 1 <= len(shapes) <= allowed
    assert 1 <= len(traces) <= allowed
    # 20 more new lengths: no new shape, no new trace
    first = len(traces)
    more = [speechlike(float(s) + 0.05, seed=40 + i) for i, s in enumerate(seconds)]
    p.predict_many(more, sample_rate=SR, batch_size=8)
    assert len(shapes) <= allowed and len(traces) == first
    # the counter does see the per-file path's shapes: one per window length it is given
    shapes.clear()
    for x in clips[:3]:
        step.predict_on_batch(
            {
                "waveform": np.zeros((1, len(x) // 2205 + 1, 2205), np.float32),
                "semantic": np.zeros((1, len(x) // 2205 + 1, 6), np.float32),
                "h": np.zeros((1, 8), np.float32),
                "c": np.zeros((1, 8), np.float32),
            }
        )
    assert len(shapes) == len({len(x) // 2205 for x in clips[:3]}) > 1


@pytest.mark.backend_agnostic
def test_bad_items_are_named(attention, tmp_path):
    model, config = attention
    p = Predictor(model, config, None)
    good = save_wav(tmp_path / "good.wav", speechlike(1.0))
    bad = tmp_path / "bad.wav"
    bad.write_text("not a wav file\n")
    with pytest.raises(DataError, match="bad.wav"):
        p.predict_many([good, bad])
    with pytest.raises(DataError, match="missing.wav"):
        p.predict_many([good, tmp_path / "missing.wav"])
    nan = speechlike(1.0)
    nan[100] = np.nan
    with pytest.raises(DataError, match=r"item 1 \(array\)"):
        p.predict_many([speechlike(1.0), nan], sample_rate=SR)
    with pytest.raises(ConfigError, match="one entry per item"):
        p.predict_many([good, good], words=[None])


# ------------------------------------------------------------------ the command line


@pytest.fixture(scope="module")
def bundled():
    from semser_tf.zoo.pretrained import load_pretrained

    return load_pretrained(offline=True)


@pytest.fixture
def cli(capsys, monkeypatch, bundled):
    """``semser ARGS`` in-process, the bundled model loaded once; (code, stdout, stderr)."""
    import semser_tf.zoo.pretrained as pretrained
    from semser_tf.cli import main

    monkeypatch.setattr(pretrained, "load_pretrained", lambda *a, **k: bundled)

    def run(*args):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "clips"
    d.mkdir()
    for i, s in enumerate((1.0, 2.3, 1.7, 2.9)):
        save_wav(d / f"clip{i}.wav", speechlike(s, seed=10 + i))
    (d / "notes.txt").write_text("not audio\n")
    return d


def _csv(path):
    return np.loadtxt(path, delimiter=",", skiprows=1)


def test_cli_folder_writes_one_csv_per_wav(cli, folder, bundled, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = cli("predict", folder, "--out", out, "--words-from", "none", "--no-plot")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [f"clip{i}.pred.csv" for i in range(4)]
    assert err.count("/4]") == 4 and "4 files" in stdout
    for i in range(4):
        ref = bundled.predict(folder / f"clip{i}.wav", words_from="none")
        got = _csv(out / f"clip{i}.pred.csv")
        np.testing.assert_allclose(got[:, 0], np.arange(len(ref.times)) * 0.1, atol=1e-9)
        np.testing.assert_allclose(got[:, 1:4], ref.values, atol=1e-5 + 5e-6)


def test_cli_several_files_words_dir_and_plots(cli, folder, bundled, tmp_path):
    words = tmp_path / "words"
    words.mkdir()
    vocab = list(bundled.embeddings.words)[:3]
    (words / "clip1.words.csv").write_text(f"0.2;0.6;{vocab[0]}\n0.8;1.4;{vocab[1]}\n")
    out = tmp_path / "out"
    args = [folder / "clip1.wav", folder / "clip3.wav", "--out", out, "--words-dir", words]
    code, _, err = cli("predict", *args, "--words-from", "file")
    assert code == 0, err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["clip1.pred.csv", "clip1.pred.png", "clip3.pred.csv", "clip3.pred.png"]
    ref = bundled.predict(folder / "clip1.wav", words=words / "clip1.words.csv")
    np.testing.assert_allclose(_csv(out / "clip1.pred.csv")[:, 1:4], ref.values, atol=2e-5)
    assert "(file, 2 words)" in err
    # the plots: PNGs of the size Prediction.plot draws (one figure reused for every file)
    png = (out / "clip3.pred.png").read_bytes()
    single = ref.plot(tmp_path / "single.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[16:24] == single[16:24]


def test_cli_keeps_a_users_words_file(cli, folder, tmp_path):
    pytest.importorskip("pocketsphinx")
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "clip0.words.csv"
    mine.write_text("0.0;0.5;mine\n")
    args = [folder / "clip0.wav", "--out", out, "--no-plot", "--recognizer", "pocketsphinx"]
    code, _, err = cli("predict", *args)
    assert code == 0, err
    assert mine.read_text() == "0.0;0.5;mine\n" and "kept" in err
    assert (out / "clip0.pred.csv").is_file()


def test_cli_bad_inputs_are_named_and_nothing_is_written(cli, folder, tmp_path):
    out = tmp_path / "out"
    (folder / "broken.wav").write_text("not a wav file\n")
    code, _, err = cli("predict", folder, "--out", out, "--words-from", "none")
    assert code == 2 and "broken.wav" in err
    assert not out.exists() or not any(out.glob("*.csv"))
    code, _, err = cli("predict", folder / "clip0.wav", tmp_path / "nope.wav", "--out", out)
    assert code == 2 and "nope.wav" in err and "not found" in err
    code, _, err = cli("predict", folder / "clip0.wav", folder / "clip1.wav")
    assert code == 2 and "--out" in err
    code, _, err = cli("predict", folder, "--out", out, "--csv", tmp_path / "x.csv")
    assert code == 2 and "--csv" in err
    other = tmp_path / "other"
    other.mkdir()
    save_wav(other / "clip0.wav", speechlike(0.5))
    code, _, err = cli("predict", folder / "clip0.wav", other / "clip0.wav", "--out", out)
    assert code == 2 and "clip0.pred.csv" in err
    # an output onto an input (here a WAV file named as clip0's words file would be)
    import shutil

    out.mkdir(exist_ok=True)
    trap = shutil.copy(folder / "clip1.wav", out / "clip0.words.csv")
    code, _, err = cli("predict", folder / "clip0.wav", trap, "--out", out)
    assert code == 2 and "refusing to overwrite an input" in err
    assert (out / "clip0.words.csv").read_bytes() == (folder / "clip1.wav").read_bytes()
    code, _, err = cli("predict", folder, "--out", out, "--batch-size", "0")
    assert code == 2 and "batch_size 0" in err


def test_cli_single_file_form_unchanged(cli, folder, tmp_path):
    csv = tmp_path / "one.csv"
    code, stdout, err = cli(
        "predict", folder / "clip2.wav", "--csv", csv, "--no-plot", "--words-from", "none"
    )
    assert code == 0, err
    assert csv.is_file() and "written: " + str(csv) in stdout


def test_files_decoded_whole_are_let_go_until_their_batch(attention, tmp_path, monkeypatch):
    """FLAC/MP3/OGG go through load_audio (decoded whole): here WAV files taken that way."""
    import semser_tf.data.audio as audio

    model, config = attention
    p = Predictor(model, config, None, windows_per_call=2)
    paths = [save_wav(tmp_path / f"c{i}.wav", speechlike(s, seed=i)) for i, s in enumerate((1, 5))]
    streamed = p.predict_many(paths)
    decoded = []
    load = audio.load_audio
    monkeypatch.setattr(audio, "sniff_format", lambda path: "flac")
    monkeypatch.setattr(
        audio, "load_audio", lambda path, *a, **k: decoded.append(path) or load(path)
    )
    many = p.predict_many(paths)
    assert sorted(map(str, decoded)) == sorted(map(str, paths * 2))  # length first, then samples
    for got, ref in zip(many, streamed):
        np.testing.assert_allclose(got.values, ref.values, atol=1e-5)
