"""CrossAttentionFusion's scorings and evidence handling against a NumPy reference (issue 17)."""

import keras
import numpy as np
import pytest

from semser_tf.errors import ConfigError
from semser_tf.layers import CrossAttentionFusion
from semser_tf.layers.cross_attention_fusion import EVIDENCE, SCORINGS
from semser_tf.models import ModelConfig, SemserModel
from semser_tf.models.config import ATTENTION_EVIDENCE, ATTENTION_SCORINGS

pytestmark = pytest.mark.backend_agnostic

OPTIONS = [
    (s, e)
    for s in ("official", "temperature", "per_modality", "gate")
    for e in ("none", "feature", "mask")
]


def np_(x):
    return keras.ops.convert_to_numpy(x).astype(np.float64)


def _relu_dense(x, layer):
    return np.maximum(x @ np_(layer.kernel) + np_(layer.bias), 0.0)


def reference(layer, a, b):
    """The layer's formula written out in float64 NumPy from its weights (docstring's equations)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    e = (np.abs(b).max(axis=-1, keepdims=True) > 0).astype(
        np.float64
    )  # frames with a non-zero vector
    xa, xb = _relu_dense(a, layer.proj_a), _relu_dense(b, layer.proj_b)
    d = xa.shape[-1]
    if layer.scoring in ("official", "temperature"):
        v, c = np_(layer.score.kernel)[:, 0], np_(layer.score.bias)[0]
        scale = 1 / np.sqrt(d) if layer.scoring == "official" else np.exp(np_(layer.log_scale))
        s = np.stack([xa @ v + c, xb @ v + c], axis=-1) * scale
    elif layer.scoring == "per_modality":

        def additive(x, hidden, out):
            h = np.tanh(x @ np_(hidden.kernel) + np_(hidden.bias))
            return (h @ np_(out.kernel) + np_(out.bias))[..., 0]

        s = np.stack(
            [
                additive(xa, layer.score_hidden_a, layer.score_a),
                additive(xb, layer.score_hidden_b, layer.score_b),
            ],
            axis=-1,
        )
    else:
        z = (
            np.concatenate([xa, xb], axis=-1) @ np_(layer.gate.kernel)[:, 0]
            + np_(layer.gate.bias)[0]
        )
        s = np.stack([np.zeros_like(z), z], axis=-1)
    if layer.evidence == "feature":
        s = s + e * np_(layer.evidence_weight)
    w = np.exp(s - s.max(-1, keepdims=True))
    w = w / w.sum(-1, keepdims=True)
    if layer.evidence == "mask":
        wb = w[..., 1:] * e
        w = np.concatenate([1 - wb, wb], axis=-1)
    return w[..., :1] * xa + w[..., 1:] * xb, w


def _inputs(rng, batch=2, frames=6, da=9, db=5):
    a = rng.normal(size=(batch, frames, da)).astype("float32")
    b = rng.normal(size=(batch, frames, db)).astype("float32")
    b[:, ::3] = 0.0  # frames without semantic evidence (silence / out of vocabulary)
    return a, b


def _randomised(layer, rng, a, b):
    layer.build([a.shape, b.shape])
    for w in layer.weights:
        w.assign(rng.normal(0, 0.4, w.shape).astype("float32"))
    return layer


@pytest.mark.parametrize("scoring, evidence", OPTIONS)
def test_scoring_matches_numpy_reference(rng, scoring, evidence):
    a, b = _inputs(rng)
    layer = _randomised(
        CrossAttentionFusion(
            units=7, scoring=scoring, evidence=evidence, return_weights=True, score_units=4
        ),
        rng,
        a,
        b,
    )
    out, w = layer([a, b])
    ref, ref_w = reference(layer, a, b)
    assert np_(out).shape == (2, 6, 7) and np_(w).shape == (2, 6, 2)
    np.testing.assert_allclose(np_(w), ref_w, atol=1e-5)
    np.testing.assert_allclose(np_(out), ref, atol=1e-5)


def test_official_scoring_is_the_official_formula_by_hand():
    # no projection, d = 4, score kernel all ones, bias 0: s_a = 4/2 = 2, s_b = 0/2 = 0
    layer = CrossAttentionFusion(project="never", return_weights=True)
    a, b = np.ones((1, 1, 4), "float32"), np.zeros((1, 1, 4), "float32")
    layer.build([a.shape, b.shape])
    layer.score.kernel.assign(np.ones((4, 1), "float32"))
    _, w = layer([a, b])
    expected = np.exp(2) / (np.exp(2) + 1)
    np.testing.assert_allclose(np_(w)[0, 0], [expected, 1 - expected], atol=1e-6)


@pytest.mark.parametrize("scoring", ["official", "temperature", "per_modality", "gate"])
def test_mask_puts_all_weight_on_the_first_input_without_evidence(rng, scoring):
    a, b = _inputs(rng)
    layer = _randomised(
        CrossAttentionFusion(units=7, scoring=scoring, evidence="mask", return_weights=True),
        rng,
        a,
        b,
    )
    out, w = layer([a, b])
    w = np_(w)
    silent = ~np.any(b != 0, axis=-1)
    np.testing.assert_array_equal(w[silent], np.tile([1.0, 0.0], (silent.sum(), 1)))
    np.testing.assert_allclose(
        np_(out)[silent], _relu_dense(a.astype(np.float64), layer.proj_a)[silent], atol=1e-5
    )
    assert (w[~silent, 1] > 0).all()


@pytest.mark.parametrize("scoring, evidence", OPTIONS)
def test_config_round_trip_and_output_shape(rng, scoring, evidence):
    a, b = _inputs(rng)
    layer = CrossAttentionFusion(
        units=8, scoring=scoring, evidence=evidence, return_weights=True, name="f"
    )
    out = keras.tree.flatten(layer([a, b]))
    assert layer.compute_output_shape([(None, None, 9), (None, None, 5)]) == (
        (None, None, 8),
        (None, None, 2),
    )
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert clone.get_config() == layer.get_config()
    assert (clone.scoring, clone.evidence) == (scoring, evidence)
    clone([a, b])
    clone.set_weights(layer.get_weights())
    for o, c in zip(out, keras.tree.flatten(clone([a, b]))):
        np.testing.assert_allclose(np_(o), np_(c), atol=1e-6)


def test_official_config_keeps_its_earlier_keys():
    # an official layer's config is what earlier versions wrote (and read)
    config = CrossAttentionFusion(units=8).get_config()
    assert not {"scoring", "evidence", "score_units"} & set(config)


def _toy_model(scoring, evidence):
    a_in, b_in = keras.Input((None, 6)), keras.Input((None, 3))
    h = CrossAttentionFusion(units=16, scoring=scoring, evidence=evidence)([a_in, b_in])
    return keras.Model([a_in, b_in], keras.layers.Dense(1)(h))


@pytest.mark.parametrize("scoring, evidence", OPTIONS)
def test_training_step_lowers_the_loss(rng, scoring, evidence):
    keras.utils.set_random_seed(0)
    model = _toy_model(scoring, evidence)
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    a = rng.normal(size=(16, 4, 6)).astype("float32")
    b = rng.normal(size=(16, 4, 3)).astype("float32")
    b[:, ::2] = 0.0
    y = np.where(np.any(b != 0, -1, keepdims=True), b[..., :1], a[..., :1]).astype("float32")
    before = model.evaluate([a, b], y, verbose=0)
    model.fit([a, b], y, epochs=30, verbose=0)
    assert model.evaluate([a, b], y, verbose=0) < 0.5 * before


@pytest.mark.parametrize("scoring, evidence", OPTIONS)
def test_saved_and_reloaded_keras_file_gives_identical_outputs(rng, tmp_path, scoring, evidence):
    keras.utils.set_random_seed(1)
    model = _toy_model(scoring, evidence)
    a, b = _inputs(rng, da=6, db=3)
    for w in model.weights:  # non-zero evidence weights and temperature too
        w.assign(rng.normal(0, 0.3, w.shape).astype("float32"))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(np_(model([a, b])), np_(loaded([a, b])))


def test_runs_under_a_mixed_policy(rng):
    a, b = _inputs(rng)
    for scoring in ("temperature", "gate"):
        layer = CrossAttentionFusion(
            units=4, scoring=scoring, evidence="mask", return_weights=True, dtype="mixed_bfloat16"
        )
        out, w = layer([a, b])
        assert np_(out).shape == (2, 6, 4)
        np.testing.assert_allclose(np_(w).sum(-1), 1.0, atol=1e-2)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="scoring must be one of official, temperature"):
        CrossAttentionFusion(scoring="dot")
    with pytest.raises(ValueError, match="evidence must be one of none, feature, mask"):
        CrossAttentionFusion(evidence="yes")
    with pytest.raises(
        ConfigError, match="ModelConfig.attention_scoring: expected one of official"
    ):
        ModelConfig(attention_scoring="softmax")
    with pytest.raises(ConfigError, match="SemserModel.attention_evidence: expected one of none"):
        SemserModel(variant="attention", attention_evidence="zero")


def test_config_values_are_the_layer_options():
    assert ATTENTION_SCORINGS == SCORINGS and ATTENTION_EVIDENCE == EVIDENCE
    # new configs mask the semantic input where it is all zeros; recorded configs of older
    # runs (without the fields), the SemserModel class and the layer keep the old behaviour
    assert (ModelConfig().attention_scoring, ModelConfig().attention_evidence) == (
        "official",
        "mask",
    )
    old = {k: v for k, v in ModelConfig().to_dict().items() if not k.startswith("attention_")}
    assert ModelConfig.from_dict(old, recorded=True).attention_evidence == "none"
    assert ModelConfig.from_dict(old).attention_evidence == "mask"
    assert (
        SemserModel(
            variant="attention",
            semantic_dim=4,
            conv_filters=[2, 2, 2],
            fusion_units=8,
            stream_units=4,
            lstm_units=4,
        ).get_config()["attention_evidence"]
        == "none"
    )


def test_semser_model_with_gate_and_mask_round_trips(rng, tmp_path):
    keras.utils.set_random_seed(2)
    arch = dict(
        variant="attention",
        semantic_dim=4,
        conv_filters=[2, 2, 2],
        fusion_units=8,
        stream_units=4,
        lstm_units=4,
        attention_scoring="gate",
        attention_evidence="mask",
    )
    model = SemserModel(**arch, with_weights_output=True)
    config = model.get_config()
    assert (config["attention_scoring"], config["attention_evidence"]) == ("gate", "mask")
    assert ModelConfig.from_parts(config).attention_scoring == "gate"
    x = {
        "waveform": rng.normal(0, 0.1, (1, 5, 2205)).astype("float32"),
        "semantic": rng.normal(size=(1, 5, 4)).astype("float32"),
    }
    x["semantic"][:, 1:3] = 0.0
    out = model(x)
    w = np_(out["modality_weights"])
    np.testing.assert_array_equal(
        w[0, 1:3], [[1.0, 0.0], [1.0, 0.0]]
    )  # silent frames: the voice alone
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(np_(loaded(x)["emotion"]), np_(out["emotion"]))
    clone = SemserModel.from_config(config)
    assert clone.architecture == model.architecture
