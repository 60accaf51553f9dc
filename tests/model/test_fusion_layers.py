import keras
import numpy as np
import pytest

from semser_tf.layers import ConcatFusion, CrossAttentionFusion, HierarchicalAVLFusion

from .reference import attention, dense

pytestmark = pytest.mark.backend_agnostic


def np_(x):
    return keras.ops.convert_to_numpy(x).astype(np.float64)


def _randomise(layer, rng):
    for w in layer.weights:
        w.assign(rng.normal(0, 0.2, w.shape).astype("float32"))


def test_cross_attention_matches_numpy_with_projection(rng):
    a = rng.normal(size=(2, 6, 20)).astype("float32")
    b = rng.normal(size=(2, 6, 7)).astype("float32")
    layer = CrossAttentionFusion(units=12, return_weights=True)
    layer.build([a.shape, b.shape])
    _randomise(layer, rng)
    out, w = layer([a, b])
    pa = dense(a, np_(layer.proj_a.kernel), np_(layer.proj_a.bias), "relu")
    pb = dense(b, np_(layer.proj_b.kernel), np_(layer.proj_b.bias), "relu")
    ref, ref_w = attention(pa, pb, np_(layer.score.kernel), np_(layer.score.bias))
    np.testing.assert_allclose(np_(out), ref, atol=1e-5)
    np.testing.assert_allclose(np_(w), ref_w, atol=1e-6)
    np.testing.assert_allclose(np_(w).sum(axis=-1), 1.0, atol=1e-6)


def test_cross_attention_without_projection_is_a_convex_mix(rng):
    a = rng.normal(size=(1, 4, 8)).astype("float32")
    b = rng.normal(size=(1, 4, 8)).astype("float32")
    layer = CrossAttentionFusion(return_weights=True)
    out, w = layer([a, b])
    assert not layer.weights[0].shape == (8, 1024)  # equal sizes: no projection
    assert len(layer.weights) == 2  # only the shared score Dense(1)
    w = np_(w)
    np.testing.assert_allclose(np_(out), w[..., :1] * a + w[..., 1:] * b, atol=1e-6)


def test_cross_attention_shapes_and_errors():
    layer = CrossAttentionFusion(units=16)
    assert layer.compute_output_shape([(None, None, 2000), (None, None, 100)]) == (None, None, 16)
    with pytest.raises(ValueError, match="list of two inputs"):
        CrossAttentionFusion()(np.zeros((1, 2, 3), "float32"))
    with pytest.raises(ValueError, match="rank 3"):
        CrossAttentionFusion()([np.zeros((1, 3), "float32"), np.zeros((1, 2, 3), "float32")])
    with pytest.raises(ValueError, match="same size"):
        CrossAttentionFusion(project="never")(
            [np.zeros((1, 2, 3), "float32"), np.zeros((1, 2, 4), "float32")]
        )


def test_hierarchical_avl_matches_numpy(rng):
    x = rng.normal(size=(2, 5, 9)).astype("float32")
    layer = HierarchicalAVLFusion(units=6, return_weights=True)
    layer.build(x.shape)
    _randomise(layer, rng)
    out, (w_al, w_v) = layer(x)
    a = dense(x, np_(layer.stream_a.kernel), np_(layer.stream_a.bias), "relu")
    v = dense(x, np_(layer.stream_v.kernel), np_(layer.stream_v.bias), "relu")
    lang = dense(x, np_(layer.stream_l.kernel), np_(layer.stream_l.bias), "relu")
    al, ref_wal = attention(
        a, lang, np_(layer.attend_al.score.kernel), np_(layer.attend_al.score.bias)
    )
    ref, ref_wv = attention(al, v, np_(layer.attend_v.score.kernel), np_(layer.attend_v.score.bias))
    np.testing.assert_allclose(np_(out), ref, atol=1e-5)
    np.testing.assert_allclose(np_(w_al), ref_wal, atol=1e-6)
    np.testing.assert_allclose(np_(w_v), ref_wv, atol=1e-6)


def test_concat_fusion_matches_numpy(rng):
    a = rng.normal(size=(2, 3, 10)).astype("float32")
    b = rng.normal(size=(2, 3, 4)).astype("float32")
    layer = ConcatFusion(units=8, output_units=5)
    out = np_(layer([a, b]))
    pa = dense(a, np_(layer.proj_a.kernel), np_(layer.proj_a.bias), "relu")
    pb = dense(b, np_(layer.proj_b.kernel), np_(layer.proj_b.bias), "relu")
    ref = dense(np.concatenate([pa, pb], -1), np_(layer.out.kernel), np_(layer.out.bias), "relu")
    assert out.shape == (2, 3, 5)
    np.testing.assert_allclose(out, ref, atol=1e-5)


@pytest.mark.parametrize(
    "layer, inputs",
    [
        (CrossAttentionFusion(units=8, return_weights=True, name="x"), "pair"),
        (ConcatFusion(units=8, output_units=4, name="c"), "pair"),
        (HierarchicalAVLFusion(units=4, return_weights=True, name="h"), "single"),
    ],
)
def test_config_round_trip_gives_same_outputs(rng, layer, inputs):
    x = [rng.normal(size=(1, 3, 6)).astype("float32"), rng.normal(size=(1, 3, 5)).astype("float32")]
    if inputs == "single":
        x = x[0]
    out = keras.tree.flatten(layer(x))
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert clone.get_config() == layer.get_config()
    clone(x)
    clone.set_weights(layer.get_weights())
    for o, c in zip(out, keras.tree.flatten(clone(x))):
        np.testing.assert_allclose(np_(o), np_(c), atol=1e-6)


def test_fusion_training_step_lowers_loss(rng):
    keras.utils.set_random_seed(0)
    a_in, b_in = keras.Input((None, 6)), keras.Input((None, 3))
    h = CrossAttentionFusion(units=16)([a_in, b_in])
    h = HierarchicalAVLFusion(units=8)(h)
    model = keras.Model([a_in, b_in], keras.layers.Dense(1)(h))
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    a = rng.normal(size=(16, 4, 6)).astype("float32")
    b = rng.normal(size=(16, 4, 3)).astype("float32")
    y = (a[..., :1] - b[..., :1]).astype("float32")
    before = model.evaluate([a, b], y, verbose=0)
    model.fit([a, b], y, epochs=30, verbose=0)
    assert model.evaluate([a, b], y, verbose=0) < 0.5 * before
