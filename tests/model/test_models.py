import json

import keras
import numpy as np
import pytest

from semser_tf.errors import ConfigError
from semser_tf.models import (
    VARIANTS,
    ModelConfig,
    build_model,
    compile_model,
    input_names,
    select_inputs,
)

pytestmark = pytest.mark.backend_agnostic

SMALL = dict(conv_filters=(4, 6, 8), fusion_units=16, stream_units=8, lstm_units=8, semantic_dim=10)


def _inputs(rng, batch=2, frames=7, config=None):
    config = config or ModelConfig(**SMALL)
    return {
        "waveform": rng.normal(0, 0.3, (batch, frames, config.samples_per_frame)).astype("float32"),
        "semantic": rng.normal(0, 1, (batch, frames, config.semantic_dim)).astype("float32"),
    }


def test_paper_attention_model_has_the_official_size():
    model = build_model(ModelConfig())
    assert model.count_params() == 4_742_951  # as the official attention model (4.74 M)
    assert set(input_names(model)) == {"waveform", "semantic"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_output_shape_and_save_reload(tmp_path, rng, variant):
    config = ModelConfig(variant=variant, **SMALL)
    model = build_model(config)
    x = select_inputs(model, _inputs(rng))
    out = keras.ops.convert_to_numpy(model(x, training=False))
    assert out.shape == (2, 7, 3)
    assert np.all(np.abs(out) <= 1)  # tanh head
    path = tmp_path / f"{variant}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded(x, training=False)), out, atol=1e-6
    )


def test_variants_take_only_their_inputs():
    names = {v: set(input_names(build_model(ModelConfig(variant=v, **SMALL)))) for v in VARIANTS}
    assert names["paralinguistic"] == {"waveform"}
    assert names["semantic"] == {"semantic"}
    assert names["concat"] == names["attention"] == {"waveform", "semantic"}


def test_training_step_lowers_the_ccc_loss(rng):
    config = ModelConfig(variant="attention", learning_rate=1e-2, dropout=0.0, seed=1, **SMALL)
    keras.utils.set_random_seed(config.seed)  # the caller seeds; build_model does not
    model = compile_model(build_model(config), config)
    x = _inputs(rng, batch=4, frames=12)
    y = np.tanh(x["semantic"][..., :3] + 0.5 * x["semantic"][..., 3:6])
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    model.fit(x, y, epochs=30, batch_size=4, verbose=0)
    after = model.evaluate(x, y, verbose=0, return_dict=True)
    assert after["loss"] < before["loss"] - 0.1
    assert set(after) >= {"loss", "ccc", "ccc_arousal", "ccc_valence", "ccc_liking"}


def test_other_targets_and_modality_weights_output(rng):
    config = ModelConfig(variant="attention", targets=("pleasure", "dominance"), **SMALL)
    model = build_model(config, with_weights_output=True)
    out = model(_inputs(rng), training=False)
    assert tuple(out["emotion"].shape) == (2, 7, 2)
    w = keras.ops.convert_to_numpy(out["modality_weights"])
    assert w.shape == (2, 7, 2)
    np.testing.assert_allclose(w.sum(-1), 1, atol=1e-6)
    with pytest.raises(ValueError, match="attention variant"):
        build_model(ModelConfig(variant="concat", **SMALL), with_weights_output=True)


def test_official_preset_and_config_json_round_trip():
    official = ModelConfig.preset("official")
    assert (
        official.learning_rate,
        official.batch_size,
        official.sequence_length,
        official.clipnorm,
    ) == (5e-4, 5, 100, None)
    assert official.target_weights == (1.0, 0.5, 1 / 3)
    paper = ModelConfig.preset("paper")
    assert (
        paper.learning_rate,
        paper.batch_size,
        paper.sequence_length,
        paper.clipnorm,
        paper.dropout,
    ) == (1e-4, 25, 300, 5.0, 0.5)
    assert ModelConfig.from_json(official.to_json()) == official
    assert json.loads(official.to_json())["conv_filters"] == [50, 125, 250]


def test_wrong_input_rank_and_frame_length(rng):
    model = build_model(ModelConfig(variant="paralinguistic", **SMALL))
    with pytest.raises(ValueError):
        model({"waveform": np.zeros((2, 2205), "float32")})
    with pytest.raises(ValueError, match="2205"):
        build_model(ModelConfig(variant="paralinguistic", **SMALL))(
            {"waveform": np.zeros((1, 3, 2000), "float32")}
        )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"variant": "transformer"},
            r"ModelConfig.variant: expected one of paralinguistic, semantic, concat, attention",
        ),
        ({"lstm_units": "256"}, r"ModelConfig.lstm_units: expected a positive integer, got '256'"),
        ({"dropout": 2}, r"ModelConfig.dropout: expected a number in \[0, 1\)"),
        ({"conv_filters": (8, 8)}, "ModelConfig.conv_filters: expected as many entries"),
        ({"targets": "arousal"}, "ModelConfig.targets: expected a non-empty list"),
        ({"target_weights": (1, 2)}, "ModelConfig.target_weights: expected null or 3"),
        ({"clipnorm": -1.0}, "ModelConfig.clipnorm"),
        ({"speaker_slots": "yes"}, "ModelConfig.speaker_slots"),
    ],
)
def test_bad_config_fields(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**kwargs)


def test_unknown_preset_and_unknown_keys():
    with pytest.raises(ConfigError, match="unknown preset 'fast'; presets: paper, official"):
        ModelConfig.preset("fast")
    with pytest.raises(
        ConfigError, match="unknown config key\\(s\\) lstm_size; valid keys: variant"
    ):
        ModelConfig.from_dict({"lstm_size": 3})
    with pytest.raises(ConfigError, match="not valid JSON"):
        ModelConfig.from_json("{variant: attention")
