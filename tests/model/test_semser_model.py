"""SemserModel as keras-hub tests a Backbone: config round trip, saving in a fresh process,
a training step, mixed precision, and no seeding inside the library."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from semser_tf.errors import ConfigError
from semser_tf.models import (
    ARCHITECTURE_FIELDS,
    VARIANTS,
    ModelConfig,
    SemserModel,
    TrainingConfig,
    build_model,
    compile_model,
    select_inputs,
)

SMALL = dict(conv_filters=(4, 6, 8), fusion_units=16, stream_units=8, lstm_units=8, semantic_dim=10)
REPO = Path(__file__).resolve().parents[2]


def _inputs(batch=2, frames=5, spf=2205, dim=10, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "waveform": rng.normal(0, 0.3, (batch, frames, spf)).astype("float32"),
        "semantic": rng.normal(0, 1, (batch, frames, dim)).astype("float32"),
    }


def test_config_is_the_architecture_and_round_trips():
    model = SemserModel(variant="concat", targets=("pleasure", "dominance"), **SMALL)
    config = model.get_config()
    assert set(config) == set(ARCHITECTURE_FIELDS) | {"name", "trainable", "dtype"}
    assert config["targets"] == ["pleasure", "dominance"] and config["fusion_units"] == 16
    json.dumps(config)  # plain JSON
    again = SemserModel.from_config(config)
    assert isinstance(again, SemserModel) and again.get_config() == config
    assert again.count_params() == model.count_params()
    assert [w.shape for w in again.weights] == [w.shape for w in model.weights]


def test_model_config_splits_into_architecture_and_training():
    config = ModelConfig(variant="semantic", batch_size=5, learning_rate=5e-4, seed=3, **SMALL)
    assert config.training_config() == TrainingConfig(batch_size=5, learning_rate=5e-4, seed=3)
    arch = config.architecture()
    assert set(arch) == set(ARCHITECTURE_FIELDS) and "batch_size" not in arch
    model = build_model(config)
    assert isinstance(model, SemserModel) and model.get_config()["lstm_units"] == 8
    assert ModelConfig.from_parts(model.get_config(), config.training_config()) == config


def test_bad_architecture_names_the_field():
    with pytest.raises(ConfigError, match="SemserModel.lstm_units: expected a positive integer"):
        SemserModel(lstm_units=0)
    with pytest.raises(ConfigError, match="SemserModel.variant"):
        SemserModel(variant="transformer")


_RELOAD = textwrap.dedent("""
    import sys, numpy as np, keras
    import semser_tf.models.semser_model  # registers SemserModel, as importing the package does
    data = np.load(sys.argv[1])
    out = {}
    for variant in sys.argv[2:]:
        model = keras.saving.load_model(f"{sys.argv[1][:-4]}_{variant}.keras", safe_mode=True)
        assert type(model).__name__ == "SemserModel", type(model)
        x = {k: data[k] for k in ("waveform", "semantic") if k in [t.name for t in model.inputs]}
        out[variant] = np.asarray(model.predict_on_batch(x))
    np.savez(sys.argv[1][:-4] + "_out.npz", **out)
""")


def test_every_variant_reloads_in_a_fresh_process_in_safe_mode(tmp_path):
    x = _inputs()
    expected = {}
    for variant in VARIANTS:
        model = build_model(ModelConfig(variant=variant, **SMALL))
        expected[variant] = np.asarray(model.predict_on_batch(select_inputs(model, x)))
        model.save(tmp_path / f"x_{variant}.keras")
    np.savez(tmp_path / "x.npz", **x)
    env = {"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [sys.executable, "-c", _RELOAD, str(tmp_path / "x.npz"), *VARIANTS],
        check=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    got = np.load(tmp_path / "x_out.npz")
    for variant in VARIANTS:
        assert got[variant].shape == (2, 5, 3)
        np.testing.assert_allclose(got[variant], expected[variant], atol=1e-6, err_msg=variant)


def test_one_training_step_with_the_ccc_loss_changes_the_weights():
    keras.utils.set_random_seed(0)  # the caller seeds, once
    config = ModelConfig(variant="attention", learning_rate=1e-2, dropout=0.0, **SMALL)
    model = compile_model(build_model(config), config.training_config())
    x = _inputs(batch=2, frames=6)
    y = np.tanh(x["semantic"][..., :3])
    before = {v.path: np.array(v.numpy()) for v in model.trainable_variables}
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    assert np.isfinite(loss) and 0.0 < loss <= 2.0  # 1 - CCC lies in [0, 2]
    kernels = [v for v in model.trainable_variables if "kernel" in v.path]
    assert len(kernels) == 14  # 3 conv, 3 attention, 5 a/v/l fusion, 2 LSTM, 1 head
    for v in kernels:  # every weight matrix got a gradient step
        assert not np.array_equal(v.numpy(), before[v.path]), v.path


def test_build_model_does_not_seed_keras():
    """Seeds are set once per run by the caller, never inside build_model."""
    config = ModelConfig(variant="semantic", **SMALL)
    a, b = build_model(config).get_weights(), build_model(config).get_weights()
    assert not np.array_equal(a[0], b[0])  # two draws from the running generator
    keras.utils.set_random_seed(7)
    c = build_model(config).get_weights()
    keras.utils.set_random_seed(7)
    d = build_model(config).get_weights()
    for u, v in zip(c, d):
        np.testing.assert_array_equal(u, v)


def test_mixed_precision_keeps_the_recurrence_and_the_head_float32():
    model = SemserModel(variant="attention", dtype="mixed_bfloat16", **SMALL)
    assert model.get_layer("paralinguistic").compute_dtype == "bfloat16"
    assert model.get_layer("lstm").compute_dtype == "float32"
    assert model.get_layer("emotion").compute_dtype == "float32"
    out = model(_inputs(), training=False)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    again = SemserModel.from_config(model.get_config())
    assert again.get_layer("paralinguistic").compute_dtype == "bfloat16"


def test_speaker_slots_derive_4410_samples_per_frame():
    config = ModelConfig(speaker_slots=True, **SMALL)
    assert config.samples_per_frame == 4410  # the loader's two slots of 2205
    assert build_model(config).get_layer("paralinguistic").input.shape[-1] == 4410
    assert ModelConfig(speaker_slots=True, samples_per_frame=4410).samples_per_frame == 4410
    with pytest.raises(ConfigError, match="samples_per_frame: 2205 contradicts speaker_slots=True"):
        ModelConfig(speaker_slots=True, samples_per_frame=2205)
    with pytest.raises(ConfigError, match="4410 contradicts speaker_slots=False"):
        ModelConfig(samples_per_frame=4410)
    assert ModelConfig().replace(speaker_slots=True).samples_per_frame == 4410


def test_predictor_feeds_a_two_slot_model_its_frame_layout():
    """A speaker-slot model gets each 100 ms frame (2205 samples) in slot 0 of 4410."""
    from semser_tf.inference import Predictor

    keras.utils.set_random_seed(0)
    config = ModelConfig(variant="paralinguistic", speaker_slots=True, sequence_length=4, **SMALL)
    model = build_model(config)
    t = np.arange(int(0.75 * 22050)) / 22050  # 7.5 frames: the last one zero-padded
    audio = (0.3 * np.sin(2 * np.pi * 200 * t)).astype("float32")
    pred = Predictor(model, config).predict(audio, sample_rate=22050)
    assert pred.values.shape == (8, 3)
    frames = np.zeros((1, 8, 4410), np.float32)  # the reference layout, built by hand
    frames[0, :, :2205] = np.pad(audio, (0, 8 * 2205 - len(audio))).reshape(8, 2205)
    # one pass over the whole file: predict carries the LSTM state across its windows
    expected = np.asarray(model.predict_on_batch({"waveform": frames})).reshape(8, 3)
    np.testing.assert_allclose(pred.values, expected, atol=1e-6)
