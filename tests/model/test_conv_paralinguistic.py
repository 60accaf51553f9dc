import keras
import numpy as np
import pytest

from semser_tf.layers import ConvParalinguistic

from .reference import conv_stack

pytestmark = pytest.mark.backend_agnostic


def _randomise(layer, rng):
    weights = []
    for conv in layer.convs:
        k = rng.normal(0, 0.3, conv.kernel.shape).astype("float32")
        b = rng.normal(0, 0.1, conv.bias.shape).astype("float32")
        conv.set_weights([k, b])
        weights.append((k.astype(np.float64), b.astype(np.float64)))
    return weights


@pytest.mark.parametrize("pooling", ["flatten", "mean", "max"])
def test_matches_numpy_conv_pool_stack(rng, pooling):
    layer = ConvParalinguistic(frame_pooling=pooling)
    x = rng.normal(0, 0.5, (2, 3, 2205)).astype("float32")
    layer.build(x.shape)
    weights = _randomise(layer, rng)
    got = keras.ops.convert_to_numpy(layer(x, training=False))
    want = conv_stack(x, weights, (10, 5, 5), pooling)
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) < 1e-4


def test_each_frame_sees_only_its_own_samples(rng):
    """Changing one frame's samples changes that frame's features and no other."""
    layer = ConvParalinguistic(dropout=0.0)
    x = rng.normal(0, 0.5, (1, 4, 2205)).astype("float32")
    base = keras.ops.convert_to_numpy(layer(x))
    x2 = x.copy()
    x2[0, 2] = rng.normal(0, 0.5, 2205)
    out = keras.ops.convert_to_numpy(layer(x2))
    changed = np.abs(out - base).max(axis=-1)[0]
    assert changed[2] > 0
    np.testing.assert_array_equal(changed[[0, 1, 3]], 0)


def test_output_shapes_and_configurable_sizes():
    layer = ConvParalinguistic(filters=(4, 6), kernel_sizes=(3, 5), pool_sizes=(4, 3), dropout=0.1)
    assert layer(np.zeros((3, 7, 100), "float32")).shape == (3, 7, (100 // 4 // 3) * 6)
    assert layer.compute_output_shape((None, None, 100)) == (None, None, 48)
    assert ConvParalinguistic().compute_output_shape((5, 300, 2205)) == (5, 300, 2000)
    assert ConvParalinguistic(samples_per_frame=4410).compute_output_shape((5, 300, 4410)) == (
        5,
        300,
        17 * 250,
    )


def test_training_step_lowers_loss(rng):
    keras.utils.set_random_seed(0)
    inp = keras.Input((None, 200))
    x = ConvParalinguistic(filters=(8, 8), kernel_sizes=(5, 3), pool_sizes=(5, 4), dropout=0.0)(inp)
    model = keras.Model(inp, keras.layers.Dense(1)(x))
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    x = rng.normal(0, 1, (8, 5, 200)).astype("float32")
    y = np.abs(x).mean(axis=-1, keepdims=True)
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=20, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.5 * before


def test_config_round_trip(rng):
    layer = ConvParalinguistic(
        filters=(3, 5),
        kernel_sizes=(4, 2),
        pool_sizes=(2, 2),
        dropout=0.2,
        frame_pooling="mean",
        samples_per_frame=40,
        name="p",
    )
    clone = ConvParalinguistic.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(restored, ConvParalinguistic) and restored.pool_sizes == (2, 2)


def test_bad_input_rank():
    with pytest.raises(ValueError, match=r"rank 3 \(batch, frames, samples_per_frame\)"):
        ConvParalinguistic()(np.zeros((2, 2205), "float32"))


def test_frame_length_must_match_config():
    with pytest.raises(ValueError, match="samples_per_frame=2205"):
        ConvParalinguistic(samples_per_frame=2205)(np.zeros((1, 2, 2000), "float32"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": (8, 8), "kernel_sizes": (3,), "pool_sizes": (2, 2)}, "same length"),
        ({"dropout": 1.5}, r"dropout must be a number in \[0, 1\)"),
        ({"filters": (8, "x", 2)}, r"filters\[1\] must be a positive integer"),
        ({"frame_pooling": "sum"}, "frame_pooling"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvParalinguistic(**kwargs)
