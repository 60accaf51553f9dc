"""The fast paths compute the float32 model: same parameters, outputs within the precision.

``ConvParalinguistic`` pools before its bias and ReLU, computes only the convolution
outputs that a kept pooling window reads, runs shallow convolutions as im2col
matmuls, and computes the waveform convolution and its pooling together, element-wise
(``_waveform_pool``). These tests hold it against Keras's own ``Conv1D(relu) -> MaxPooling1D`` stack
with the same weights (and a NumPy definition), forward and backward, and hold the
``mixed_bfloat16`` model against the float32 model.
"""

import keras
import numpy as np
import pytest

import semser_tf.layers.conv_paralinguistic as cp
from semser_tf.layers import ConvParalinguistic
from semser_tf.models import ModelConfig, build_model


def _plain_stack(layer, spf):
    """The straightforward Keras formulation: Conv1D(same, relu) -> MaxPooling1D(valid)."""
    inp = keras.Input((spf, 1))
    x = inp
    for conv, p in zip(layer.convs, layer.pool_sizes):
        c = keras.layers.Conv1D(
            conv.filters, conv.kernel_size[0], padding="same", activation="relu"
        )
        x = keras.layers.MaxPooling1D(p)(c(x))
        c.set_weights([keras.ops.convert_to_numpy(w) for w in (conv.kernel, conv.bias)])
    return keras.Model(inp, x)


def _numpy_stack(x, layer):
    """Conv1D 'same' (left pad (k-1)//2) + ReLU + floor max pooling, in float64 NumPy."""
    for conv, p in zip(layer.convs, layer.pool_sizes):
        w = keras.ops.convert_to_numpy(conv.kernel).astype(np.float64)
        b = keras.ops.convert_to_numpy(conv.bias).astype(np.float64)
        k = w.shape[0]
        xp = np.pad(x, ((0, 0), ((k - 1) // 2, k // 2), (0, 0)))
        y = sum(np.einsum("nti,io->nto", xp[:, j : j + x.shape[1]], w[j]) for j in range(k)) + b
        y = np.maximum(y, 0)
        steps = y.shape[1] // p
        x = y[:, : steps * p].reshape(len(y), steps, p, -1).max(axis=2)
    return x


def _randomise(layer, rng):
    for conv in layer.convs:
        conv.set_weights(
            [
                rng.normal(0, 0.3, conv.kernel.shape).astype("float32"),
                rng.normal(0, 0.1, conv.bias.shape).astype("float32"),
            ]
        )


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("multiple", [1, 8], ids=["channels-as-is", "channels-padded-to-8"])
@pytest.mark.parametrize("reshape_pool", [False, True], ids=["pool-op", "reshape-max"])
@pytest.mark.parametrize(
    "depth,fused",
    [(0, False), (64, False), (10**6, False), (64, True)],
    ids=["conv-only", "im2col-first", "im2col-all", "fused-waveform"],
)
@pytest.mark.parametrize(
    "sizes",
    [
        dict(filters=(50, 125, 250), kernel_sizes=(8, 6, 6), pool_sizes=(10, 5, 5), spf=2205),
        dict(filters=(4, 6, 5), kernel_sizes=(3, 5, 4), pool_sizes=(4, 3, 2), spf=101),
        dict(filters=(3,), kernel_sizes=(7,), pool_sizes=(1,), spf=9),
    ],
    ids=["paper", "odd", "one-stage"],
)
def test_fast_conv_stack_equals_conv_relu_maxpool(
    monkeypatch, rng, depth, sizes, reshape_pool, multiple, fused
):
    monkeypatch.setattr(cp, "_FUSED_WAVEFORM_POOL", fused)
    monkeypatch.setattr(cp, "_IM2COL_MAX_DEPTH", {"float32": depth})
    monkeypatch.setattr(cp, "_POOL_BY_RESHAPE", reshape_pool)
    monkeypatch.setattr(cp, "_CHANNEL_MULTIPLE", multiple)
    sizes = dict(sizes)
    spf = sizes.pop("spf")
    layer = ConvParalinguistic(dropout=0.0, **sizes)
    x = rng.normal(0, 0.5, (2, 3, spf)).astype("float32")
    layer.build(x.shape)
    _randomise(layer, rng)
    got = keras.ops.convert_to_numpy(layer(x, training=False))
    plain = keras.ops.convert_to_numpy(_plain_stack(layer, spf)(x.reshape(6, spf, 1)))
    want = _numpy_stack(x.reshape(6, spf, 1).astype(np.float64), layer)
    np.testing.assert_allclose(
        plain.reshape(got.shape), want.reshape(got.shape), atol=1e-4, rtol=1e-4
    )
    np.testing.assert_allclose(got, want.reshape(got.shape), atol=1e-4, rtol=1e-4)


def _gradient_case(monkeypatch, rng, multiple, spf=2205, fused=False):
    """The paper's stack with random weights, its plain Keras twin, a waveform and a probe."""
    monkeypatch.setattr(cp, "_CHANNEL_MULTIPLE", multiple)
    monkeypatch.setattr(cp, "_FUSED_WAVEFORM_POOL", fused)
    layer = ConvParalinguistic(dropout=0.0)
    x = rng.normal(0, 0.5, (2, 2, spf)).astype("float32")
    layer.build(x.shape)
    _randomise(layer, rng)
    probe = rng.normal(0, 1, (4, 8 * 250)).astype("float32")
    return layer, _plain_stack(layer, spf), x, probe


@pytest.mark.parametrize("fused", [False, True], ids=["conv-then-pool", "fused-waveform"])
@pytest.mark.parametrize("multiple", [1, 8], ids=["channels-as-is", "channels-padded-to-8"])
def test_fast_conv_stack_gradients_equal_the_plain_stack(monkeypatch, rng, multiple, fused):
    """Weight gradients of the fast path equal those of Conv1D(relu) -> MaxPooling1D
    (also with the channels carried padded to a multiple of 8, where the kernels are
    zero-padded at call time: the gradients of the real weights must not change)."""
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("uses tf.GradientTape")
    layer, plain, x, probe = _gradient_case(monkeypatch, rng, multiple, fused=fused)
    spf = x.shape[-1]
    probe = tf.constant(probe)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.reshape(layer(x), (4, -1)) * probe)
    fast = tape.gradient(y, [v.value for c in layer.convs for v in (c.kernel, c.bias)])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.reshape(plain(x.reshape(4, spf, 1)), (4, -1)) * probe)
    ref = tape.gradient(y, [v.value for v in plain.trainable_weights])
    for g, r in zip(fast, ref):
        g, r = g.numpy(), r.numpy()
        assert np.linalg.norm(g - r) <= 1e-4 * np.linalg.norm(r) + 1e-6


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("fused", [False, True], ids=["conv-then-pool", "fused-waveform"])
@pytest.mark.parametrize("multiple", [1, 8], ids=["channels-as-is", "channels-padded-to-8"])
def test_fast_conv_stack_gradients_under_jax(monkeypatch, rng, multiple, fused):
    """The JAX path (fused or im2col first conv, reshape pooling, channels padded to 8 by
    default) gives the plain stack's weight gradients."""
    if keras.backend.backend() != "jax":
        pytest.skip("jax.grad of a stateless call")
    import jax

    layer, plain, x, probe = _gradient_case(monkeypatch, rng, multiple, fused=fused)
    spf = x.shape[-1]

    def fast_loss(weights):
        y, _ = layer.stateless_call(weights, [], x)
        return (y.reshape(4, -1) * probe).sum()

    def plain_loss(weights):
        y, _ = plain.stateless_call(weights, [], x.reshape(4, spf, 1))
        return (y.reshape(4, -1) * probe).sum()

    fast = jax.grad(fast_loss)([v.value for v in layer.trainable_variables])
    ref = jax.grad(plain_loss)([v.value for v in plain.trainable_variables])
    assert len(fast) == len(ref) == 6
    for g, r in zip(fast, ref):
        g, r = np.asarray(g), np.asarray(r)
        assert g.shape == r.shape
        assert np.linalg.norm(g - r) <= 1e-4 * np.linalg.norm(r) + 1e-6


@pytest.mark.backend_agnostic
def test_mixed_bfloat16_model_matches_float32(rng):
    """Same parameter count; with the same weights the bf16 model's outputs lie within
    bfloat16's tolerance of the float32 model's (relative error under 3e-2)."""
    config = ModelConfig(variant="attention")
    keras.utils.set_random_seed(config.seed)
    f32 = build_model(config)
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        bf16 = build_model(config)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert bf16.count_params() == f32.count_params() == 4_742_951
    assert [w.shape for w in bf16.weights] == [w.shape for w in f32.weights]
    assert all(w.dtype == "float32" for w in bf16.weights)  # variables stay float32
    bf16.set_weights(f32.get_weights())
    x = {
        "waveform": rng.normal(0, 0.1, (2, 6, 2205)).astype("float32"),
        "semantic": rng.normal(0, 1, (2, 6, 100)).astype("float32"),
    }
    a = keras.ops.convert_to_numpy(keras.ops.cast(bf16.predict_on_batch(x), "float32"))
    b = keras.ops.convert_to_numpy(f32.predict_on_batch(x))
    assert a.shape == b.shape == (2, 6, 3)
    assert np.all(np.isfinite(a))
    rel = np.linalg.norm(a - b) / np.linalg.norm(b)
    assert 0 < rel < 3e-2, rel


def test_xla_and_graph_paths_agree(rng):
    """jit_compile on and off give the same float32 predictions (TensorFlow backend)."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("jit_compile choice is a TensorFlow-backend setting")
    from semser_tf.models import compile_model

    config = ModelConfig(variant="attention", fusion_units=32, stream_units=16, lstm_units=8)
    x = {
        "waveform": rng.normal(0, 0.1, (2, 4, 2205)).astype("float32"),
        "semantic": rng.normal(0, 1, (2, 4, 100)).astype("float32"),
    }
    outs = []
    for jit in (False, True):
        keras.utils.set_random_seed(config.seed)  # the same weights for both
        m = compile_model(build_model(config), config, jit_compile=jit)
        outs.append(m.predict(x, verbose=0))
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-5, rtol=1e-4)
