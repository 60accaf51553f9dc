"""End to end: train a tiny run, publish it, serve it over HTTP, load it, predict, fine-tune."""

import functools
import http.server
import json
import threading

import numpy as np
import pytest

from semser_tf.data.audio import load_audio, save_wav
from semser_tf.data.sewa import SEWACorpus
from semser_tf.errors import ConfigError
from semser_tf.inference import open_audio_stream
from semser_tf.models import ModelConfig
from semser_tf.training import TrainSettings, train
from semser_tf.zoo import publish_run
from semser_tf.zoo.pretrained import load_pretrained

from ..training.conftest import SMALL, speech_corpus  # noqa: F401  (session fixture)


@pytest.fixture(scope="module")
def tiny_run(speech_corpus, tmp_path_factory):  # noqa: F811
    run = tmp_path_factory.mktemp("pre") / "run"
    train(
        SEWACorpus(speech_corpus),
        run,
        ModelConfig(variant="attention", **SMALL),
        TrainSettings(epochs=1),
        cache_dir=run.parent / "cache",
        verbose=0,
        plots=False,
    )
    return run


@pytest.fixture
def http_server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_publish_serve_and_load_by_url_gives_identical_predictions(
    tiny_run,
    speech_corpus,
    http_server,
    tmp_path,  # noqa: F811
    monkeypatch,
):
    served, base = http_server
    entry_dir = tmp_path / "entry"
    publish_run(
        tiny_run,
        "tiny-attention",
        entry_dir,
        base_url=base,
        description="test model",
        license="BSD-3-Clause",
    )
    for f in entry_dir.iterdir():  # upload: the server holds the files, the entry points at it
        if f.name != "entry.json":
            (served / f.name).write_bytes(f.read_bytes())
            f.unlink()
    monkeypatch.setenv("SEMSER_TF_CACHE", str(tmp_path / "cache"))
    remote = load_pretrained(str(entry_dir / "entry.json"), progress=False)
    local = load_pretrained(str(tiny_run))
    wav = speech_corpus / "audio" / "Test_01.wav"
    words = speech_corpus / "words" / "Test_01.csv"
    a, b = remote.predict(wav, words=words), local.predict(wav, words=words)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.values.shape[1] == 3 and a.weights.shape[1] == 2
    assert list((tmp_path / "cache").rglob("best.keras"))  # downloaded into the cache


def test_prediction_csv_plot_and_stream_equivalence(tiny_run, speech_corpus, tmp_path):  # noqa: F811
    model = load_pretrained(str(tiny_run))
    wav = speech_corpus / "audio" / "Devel_01.wav"
    audio = load_audio(wav)
    pred = model.predict(wav)
    n = int(np.ceil(len(audio) / 2205))
    assert pred.values.shape == (n, 3)
    np.testing.assert_allclose(pred.times[:3], [0.0, 0.1, 0.2])
    # the same audio given as an array at another rate (resampled) or the same rate
    from_array = model.predict(audio, sample_rate=22050)
    np.testing.assert_allclose(from_array.values, pred.values, atol=1e-6)
    pred.to_csv(tmp_path / "p.csv")
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "time,arousal,valence,liking,w_paralinguistic,w_semantic"
    assert len(lines) == n + 1
    row = [float(v) for v in lines[5].split(",")]
    assert row[0] == pytest.approx(0.4) and row[1] == pytest.approx(pred.values[4, 0], abs=1e-5)
    png = pred.plot(tmp_path / "p.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_streamed_resampling_equals_whole_file_decoding(speech_corpus, tmp_path):  # noqa: F811
    from scipy.signal import resample_poly

    x = load_audio(speech_corpus / "audio" / "Train_01.wav")
    save_wav(tmp_path / "x16.wav", resample_poly(x, 160, 441).astype("float32"), 16000)
    whole = load_audio(tmp_path / "x16.wav")
    stream = open_audio_stream(tmp_path / "x16.wav")
    assert stream.total_out == len(whole)
    step = 3 * 2205 * 10  # chunks of 3 s
    parts = np.concatenate([stream.samples(a, a + step) for a in range(0, stream.total_out, step)])
    np.testing.assert_allclose(parts[: len(whole)], whole, atol=1e-6)


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(
        ConfigError,
        match="unknown pretrained model .no-such-model.; known models: .*semser-synthetic-attention",
    ):
        load_pretrained("no-such-model")


def test_bundled_model_loads_offline_by_default(monkeypatch, tmp_path):
    """The default model is bundled: it loads with the network refused and an empty cache."""
    import urllib.request

    def no_network(*a, **k):
        raise AssertionError("network used")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setenv("SEMSER_TF_CACHE", str(tmp_path / "empty-cache"))
    model = load_pretrained()
    assert model.name == "semser-synthetic-attention" and model.targets == (
        "arousal",
        "valence",
        "liking",
    )
    assert model.embeddings is not None and model.embedding_mode == "text"
    assert not (tmp_path / "empty-cache").exists() or not any(
        (tmp_path / "empty-cache").rglob("*.keras")
    )


def test_repeated_predictions_reuse_one_traced_predictor(speech_corpus):  # noqa: F811
    """A second predict of the same model reuses its predictor (no new trace, which Keras
    warned about once per recording in make demo) and gives the same numbers."""
    from semser_tf.data.sewa import SEWACorpus

    model = load_pretrained(offline=True)
    rec = SEWACorpus(speech_corpus).recordings()[0]
    first = model.predict(rec.audio_path, words=rec.words)
    p = model.predictor()
    assert model.predictor() is p
    step = p.step_model()
    second = model.predict(rec.audio_path, words=rec.words)
    assert p.step_model() is step
    np.testing.assert_array_equal(first.values, second.values)


def test_finetune_two_targets_on_another_voice_improves_ccc(tmp_path):
    """From the bundled model, on a corpus of one new voice with two of its three targets.

    The new corpus also has another rating convention (no annotation lag, where the
    pretraining labels lag the speech by 2 s), as a new corpus typically does: fine-tuning
    must adapt the model to it.
    """
    from semser_tf.data.synthetic import generate_corpus
    from semser_tf.zoo.finetune import finetune

    root = generate_corpus(
        tmp_path / "new",
        minutes=2.0,
        seed=11,
        recording_seconds=30,
        voices=["en-us+m7"],
        progress=False,
        lag_s=0.0,
    )
    report = finetune(
        None,
        SEWACorpus(root),
        tmp_path / "ft",
        targets=["arousal", "valence"],
        epochs=3,
        patience=3,
        learning_rate=1e-3,
        cache_dir=tmp_path / "cache",
        verbose=0,
    )
    ft = report["finetune"]
    assert ft["targets"] == ["arousal", "valence"] and ft["new_targets"] == []
    # the pretrained head's columns were kept (a fresh head gives about 0): the words'
    # valence carries over at once (3.0.0: valence 0.23, arousal -0.01 on this voice without
    # the annotation lag; mean 0.11, after fine-tuning 0.33)
    assert ft["before"]["ccc"]["valence"] > 0.15
    assert ft["after"]["mean"] > ft["before"]["mean"] + 0.05
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["model"]["targets"] == [
        "arousal",
        "valence",
    ]
    assert (tmp_path / "ft" / "finetune.md").is_file() and (tmp_path / "ft" / "embeddings").is_dir()


def test_finetune_bad_freeze_and_unknown_target(tiny_run, speech_corpus):  # noqa: F811
    from semser_tf.zoo.finetune import finetune

    with pytest.raises(ConfigError, match="unknown branch"):
        finetune(str(tiny_run), SEWACorpus(speech_corpus), "/tmp/x", freeze=("encoder",))
    with pytest.raises(ConfigError, match="not in the corpus"):
        finetune(str(tiny_run), SEWACorpus(speech_corpus), "/tmp/x", targets=["dominance"])


def test_bundled_model_in_bfloat16_predicts_like_float32():
    """with_precision rebuilds the bundled model under mixed_bfloat16 with the same weights:
    same parameters, bf16 compute, predictions within bfloat16's rounding of float32's."""
    import numpy as np

    f32 = load_pretrained(offline=True)
    bf16 = f32.with_precision("mixed_bfloat16")
    # the compact config with 50-d semantic input (GloVe): 152 438 at 100-d less 50 x 128 fusion weights
    assert bf16.model.count_params() == f32.model.count_params() == 152_438 - 50 * 128
    assert bf16.model.get_layer("paralinguistic").compute_dtype == "bfloat16"
    assert f32.with_precision("float32").model is f32.model
    rng = np.random.default_rng(0)
    t = np.arange(22050 * 12) / 22050
    audio = (
        0.2 * np.sin(2 * np.pi * 180 * t) * np.sin(2 * np.pi * 0.5 * t)
        + 0.05 * rng.standard_normal(t.size)
    ).astype("float32")
    pa = f32.predict(audio, sample_rate=22050)
    pb = bf16.predict(audio, sample_rate=22050)
    # the words come from the audio both times, and must be the same both times: Whisper's
    # sampling fallback once heard "this is the" in the second call only (rel. 0.02-0.5)
    assert pa.words_source == pb.words_source == "asr" and pa.words == pb.words
    a, b = pa.values, pb.values
    assert a.shape == b.shape == (120, 3) and np.all(np.isfinite(b))
    assert np.linalg.norm(a - b) / np.linalg.norm(a) < 3e-2
    with pytest.raises(ConfigError, match="precision"):
        f32.with_precision("int8")


def _fixed_input():
    """2 s of a 220 Hz sine at 0.3 and fixed semantic vectors: a deterministic model input."""
    t = np.arange(2 * 22050) / 22050
    audio = (0.3 * np.sin(2 * np.pi * 220 * t)).astype("float32")
    f, d = np.arange(20)[:, None], np.arange(50)[None, :]
    return audio, (0.3 * np.sin(0.1 * (f + 1) * (d + 1))).astype("float32")


def test_bundled_preset_outputs_are_pinned():
    """The bundled preset's outputs on a fixed input, pinned: this fails when its weights,
    the model graph, or the feature pipeline (resampling, framing, the GloVe text
    features of the words) change. Values from the model as published (3.0.0). Its
    attention masks the semantic input where a frame holds no word, so those frames lean on
    the voice alone: weight exactly (1, 0)."""
    from semser_tf.models import SemserModel

    audio, semantic = _fixed_input()
    net = SemserModel.from_preset("semser-synthetic-attention")
    raw = np.asarray(
        net.predict_on_batch({"waveform": audio.reshape(1, 20, 2205), "semantic": semantic[None]})
    )[0]
    np.testing.assert_allclose(raw[0], [-0.1591559, 0.0390616, -0.0142345], atol=1e-5)
    np.testing.assert_allclose(raw[19], [-0.1412218, 0.2134750, 0.0914262], atol=1e-5)
    model = load_pretrained(offline=True)
    assert isinstance(model.model, SemserModel)
    words = [(0.1, 0.5, "happy"), (0.6, 1.0, "wonderful"), (1.2, 1.7, "terrible")]
    pred = model.predict(audio, sample_rate=22050, words=words)
    assert pred.values.shape == (20, 3)
    np.testing.assert_allclose(pred.values[10], [0.1499713, 0.2026333, 0.1210274], atol=1e-5)
    np.testing.assert_allclose(pred.values[19], [0.1635516, 0.1407414, 0.1270212], atol=1e-5)
    # frames 0 and 19 hold no word (0.0-0.1 s, 1.9-2.0 s): the voice alone
    np.testing.assert_array_equal(pred.weights[0], [1.0, 0.0])
    np.testing.assert_array_equal(pred.weights[19], [1.0, 0.0])
    np.testing.assert_allclose(pred.weights[3], [0.4617299, 0.5382701], atol=1e-5)  # "happy"


def test_load_pretrained_round_trips_through_a_preset(tmp_path):
    """load_pretrained -> save_to_preset -> load_pretrained(folder): identical predictions."""
    audio, _ = _fixed_input()
    words = [(0.1, 0.5, "happy"), (1.2, 1.7, "terrible")]
    model = load_pretrained(offline=True)
    folder = model.save_to_preset(tmp_path / "preset")
    again = load_pretrained(str(folder))
    assert again.input_format == model.input_format and again.embedding_mode == "text"
    np.testing.assert_array_equal(
        again.predict(audio, sample_rate=22050, words=words).values,
        model.predict(audio, sample_rate=22050, words=words).values,
    )
