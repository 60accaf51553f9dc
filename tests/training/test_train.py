import csv
import json

import pytest

from semser_tf.data.sewa import SEWACorpus
from semser_tf.errors import ConfigError, DataError
from semser_tf.models import ModelConfig
from semser_tf.training import TrainSettings, train

from .conftest import SMALL


def _history_epochs(run):
    with open(run / "history.csv") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def test_train_writes_a_complete_run(speech_corpus, tmp_path):
    run = tmp_path / "run"
    report = train(
        SEWACorpus(speech_corpus),
        run,
        ModelConfig(variant="paralinguistic", **SMALL),
        TrainSettings(epochs=2),
        cache_dir=tmp_path / "cache",
        verbose=0,
    )
    for name in (
        "config.json",
        "best.keras",
        "history.csv",
        "history.png",
        "report.json",
        "report.md",
        "checkpoints/training_metadata.json",
        "checkpoints/epoch-2.weights.h5",
        "run.json",
    ):
        assert (run / name).is_file(), name
    assert any((run / "plots").glob("Devel_*.png"))
    assert _history_epochs(run) == [1, 2]
    saved = json.loads((run / "config.json").read_text())
    assert saved["variant"] == "paralinguistic" and saved["model"]["lstm_units"] == 8
    # The validation CCC of the best epoch is computed by predict's rule (the LSTM state
    # carried over each recording, TrainSettings.validation="carried"): evaluate gives the
    # same figure for best.keras, and so does the report; the per-window rule differs.
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    best = max(rows, key=lambda r: float(r["val_ccc"]))
    from semser_tf.data.pipeline import ZeroFrameFeatures
    from semser_tf.models.builder import load_model
    from semser_tf.training.evaluate import evaluate_model

    args = (
        load_model(run / "best.keras"),
        SEWACorpus(speech_corpus),
        "Devel",
        ModelConfig(variant="paralinguistic", **SMALL),
    )
    kw = dict(
        frame_features=ZeroFrameFeatures(SMALL.get("semantic_dim", 100)),
        cache_dir=tmp_path / "cache",
    )
    carried = evaluate_model(*args, **kw)["results"]["raw"]["mean"]
    assert abs(carried - float(best["val_ccc"])) < 1e-4
    assert abs(report["metrics"][0]["mean"] - carried) < 1e-6
    reset = evaluate_model(*args, window_reset=True, **kw)["results"]["raw"]["mean"]
    assert abs(reset - carried) > 1e-4
    assert not [p for p in run.rglob(".*") if p.is_file()]  # no temporary file left


# A SIGKILL mid-epoch or during a checkpoint write, then a resume: tests/robustness/test_run_folder.py.


def test_output_directory_holding_another_run_is_refused(speech_corpus, tmp_path):
    run = tmp_path / "run"
    config = ModelConfig(variant="paralinguistic", **SMALL)
    train(
        SEWACorpus(speech_corpus),
        run,
        config,
        TrainSettings(epochs=1),
        cache_dir=tmp_path / "c",
        verbose=0,
        evaluate_best=False,
        plots=False,
    )
    with pytest.raises(ConfigError, match="already holds a run; pass resume=True"):
        train(SEWACorpus(speech_corpus), run, config, TrainSettings(epochs=1), verbose=0)
    with pytest.raises(ConfigError, match=r"different config \(fields lstm_units\)"):
        train(SEWACorpus(speech_corpus), run, config.replace(lstm_units=4), resume=True, verbose=0)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds other files"):
        train(SEWACorpus(speech_corpus), other, config, verbose=0)
    with pytest.raises(ConfigError, match="not a semser run"):
        train(SEWACorpus(speech_corpus), other, config, overwrite=True, verbose=0)
    assert (other / "notes.txt").read_text() == "mine"
    # overwrite replaces a run
    train(
        SEWACorpus(speech_corpus),
        run,
        config,
        TrainSettings(epochs=1),
        cache_dir=tmp_path / "c",
        overwrite=True,
        verbose=0,
        evaluate_best=False,
        plots=False,
    )
    assert _history_epochs(run) == [1]


def test_missing_validation_partition(corpus_without_devel, tmp_path):
    config = ModelConfig(variant="paralinguistic", **SMALL)
    with pytest.raises(DataError, match="no validation partition 'Devel'.*--val-fraction"):
        train(SEWACorpus(corpus_without_devel), tmp_path / "r", config, verbose=0)
    report = train(
        SEWACorpus(corpus_without_devel),
        tmp_path / "r2",
        config,
        TrainSettings(epochs=1, val_fraction=0.5),
        cache_dir=tmp_path / "c",
        verbose=0,
        plots=False,
    )
    assert report["metrics"][0]["partition"] == "Devel"
    assert report["evaluation"]["recordings"] == 1  # one of the two Train recordings held out


def test_sequence_longer_than_every_recording(speech_corpus, tmp_path):
    with pytest.raises(
        ConfigError, match=r"sequence_length=100000 frames is longer than every Train recording"
    ):
        train(
            SEWACorpus(speech_corpus),
            tmp_path / "r",
            ModelConfig(variant="paralinguistic", **{**SMALL, "sequence_length": 100000}),
            verbose=0,
        )


def test_semantic_variant_needs_frame_features(speech_corpus, tmp_path):
    with pytest.raises(ConfigError, match="semantic variant needs frame features"):
        train(
            SEWACorpus(speech_corpus),
            tmp_path / "r",
            ModelConfig(variant="semantic", **SMALL),
            verbose=0,
        )


def test_cli_unknown_preset_and_bad_set(speech_corpus, tmp_path, capsys):
    from semser_tf.cli import main

    assert (
        main(["train", str(speech_corpus), "--out", str(tmp_path / "r"), "--preset", "fastest"])
        == 2
    )
    assert "unknown preset 'fastest'; presets: paper, official" in capsys.readouterr().err
    assert (
        main(["train", str(speech_corpus), "--out", str(tmp_path / "r"), "--set", "lstm_size=3"])
        == 2
    )
    assert "unknown config key(s) lstm_size" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 2
    assert "corpus not found" in capsys.readouterr().err


def test_train_under_mixed_bfloat16_builds_bf16_and_restores_the_policy(speech_corpus, tmp_path):
    """TrainSettings.precision builds the model under that policy (bf16 compute, float32
    weights, LSTM float32) and leaves the global policy as it found it."""
    import keras

    run = tmp_path / "run"
    train(
        SEWACorpus(speech_corpus),
        run,
        ModelConfig(variant="paralinguistic", **SMALL),
        TrainSettings(epochs=1, precision="mixed_bfloat16"),
        cache_dir=tmp_path / "cache",
        verbose=0,
        plots=False,
    )
    assert keras.mixed_precision.global_policy().name == "float32"
    model = keras.saving.load_model(run / "best.keras", safe_mode=True)
    conv = model.get_layer("paralinguistic")
    assert conv.dtype_policy.name == "mixed_bfloat16" and conv.compute_dtype == "bfloat16"
    assert model.get_layer("lstm").compute_dtype == "float32"
    assert all(w.dtype == "float32" for w in model.weights)
    assert (
        json.loads((run / "config.json").read_text())["training"]["precision"] == "mixed_bfloat16"
    )
    with pytest.raises(ConfigError, match="precision: expected one of float32, mixed_bfloat16"):
        TrainSettings(precision="bf16")
