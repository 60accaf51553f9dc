"""The fused waveform convolution and pooling against NumPy: values, and gradients where
windows hold ties (to the first maximum, as Keras's ``MaxPooling1D``)."""

import keras
import numpy as np
import pytest

from semser_tf.layers import ConvParalinguistic
from semser_tf.layers._waveform_pool import conv_pool_one_channel, polyphase


def _numpy_conv_pool(x, w, pool, pooled):
    """x (n, steps), w (k, f), float64: valid conv, then max per window; plus, for a probe g,
    the gradients with each window's gradient on its first maximum."""
    k = w.shape[0]
    outputs = pooled * pool
    patches = np.stack([x[:, j : j + outputs] for j in range(k)], axis=-1)  # (n, o, k)
    y = (patches @ w).reshape(len(x), pooled, pool, -1)
    m = y.max(axis=2)

    def grads(g):
        first = np.argmax(y == m[:, :, None, :], axis=2)  # (n, pooled, f)
        won = np.arange(pool)[None, None, :, None] == first[:, :, None, :]
        a = won * g[:, :, None, :]  # (n, pooled, pool, f)
        a = a.reshape(len(x), outputs, -1)
        dw = np.einsum("nok,nof->kf", patches, a)
        dx = np.zeros_like(x)
        for j in range(k):
            dx[:, j : j + outputs] += a @ w[j]
        return dx, dw

    return m, grads


def _run(x, w, pool, pooled, g, dtype="float32"):
    """Values and gradients of conv_pool_one_channel for a probe g (JAX or TensorFlow)."""
    backend = keras.backend.backend()
    x3 = x[..., None].astype(dtype)
    k3 = w[:, None, :].astype(dtype)
    if backend == "jax":
        import jax

        def loss(x3, k3):
            y = conv_pool_one_channel(x3, k3, pool, pooled)
            return (keras.ops.cast(y, "float32") * g).sum(), y

        (_, y), (dx, dw) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(x3, k3)
    elif backend == "tensorflow":
        import tensorflow as tf

        x3, k3 = tf.constant(x3), tf.constant(k3)
        with tf.GradientTape() as tape:
            tape.watch([x3, k3])
            y = conv_pool_one_channel(x3, k3, pool, pooled)
            loss = tf.reduce_sum(tf.cast(y, "float32") * g)
        dx, dw = tape.gradient(loss, [x3, k3])
    else:
        pytest.skip(f"no gradient helper for the {backend} backend")

    def as_np(a):
        return np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(a, "float32")))

    return as_np(y), as_np(dx)[..., 0], as_np(dw)[:, 0, :]


def test_polyphase_rows_hold_the_samples_of_their_window():
    x = np.arange(2 * 23, dtype="float32").reshape(2, 23)
    rows = keras.ops.convert_to_numpy(polyphase(x, pool=4, kernel_size=3, pooled=5))
    assert rows.shape == (2, 5, 6)
    for t in range(5):
        np.testing.assert_array_equal(rows[:, t], x[:, 4 * t : 4 * t + 6])


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("pool,k,f", [(10, 8, 56), (5, 6, 3), (2, 1, 4), (3, 9, 2), (16, 4, 5)])
def test_values_and_gradients_equal_numpy(rng, pool, k, f):
    pooled = 7
    x = rng.normal(0, 0.5, (3, pooled * pool + k - 1))
    w = rng.normal(0, 0.4, (k, f))
    g = rng.normal(0, 1, (3, pooled, f)).astype("float32")
    want, grads = _numpy_conv_pool(x, w, pool, pooled)
    want_dx, want_dw = grads(g.astype(np.float64))
    y, dx, dw = _run(x, w, pool, pooled, g)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dw, want_dw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=1e-4)


@pytest.mark.backend_agnostic
def test_ties_give_the_gradient_to_the_first_maximum(rng):
    """A waveform of a few levels and a kernel of equal taps make whole windows tie: the
    first tied phase gets the window's whole gradient (NumPy's rule above)."""
    pool, k, pooled, f = 10, 4, 6, 3
    x = np.repeat(rng.integers(-2, 3, (2, pooled + 2)), pool, axis=1)[:, : pooled * pool + k - 1]
    w = np.array([[1.0, 0.5, -1.0]] * k)  # every tap alike: a run of equal samples ties
    g = rng.normal(0, 1, (2, pooled, f)).astype("float32")
    want, grads = _numpy_conv_pool(x.astype(np.float64), w, pool, pooled)
    y, dx, dw = _run(x, w, pool, pooled, g)
    assert (want[:, :, None, :] == _numpy_windows(x, w, pool, pooled)).sum(axis=2).max() > 1
    want_dx, want_dw = grads(g.astype(np.float64))
    np.testing.assert_allclose(y, want, rtol=1e-6)
    np.testing.assert_allclose(dw, want_dw, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-5, atol=1e-5)


def _numpy_windows(x, w, pool, pooled):
    k = w.shape[0]
    patches = np.stack([x[:, j : j + pooled * pool] for j in range(k)], axis=-1)
    return (patches @ w).reshape(len(x), pooled, pool, -1)


@pytest.mark.backend_agnostic
def test_bfloat16_values_are_the_rounded_matmul_then_max(rng):
    """In bfloat16 each convolution output is rounded before the max, as a bf16 matmul's
    output is: the pooled values equal NumPy's float32 products rounded to bf16, then max."""
    pool, k, pooled, f = 10, 8, 9, 16
    x = rng.normal(0, 0.5, (4, pooled * pool + k - 1)).astype("float32")
    w = rng.normal(0, 0.4, (k, f)).astype("float32")
    xb = keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.cast(x, "bfloat16"), "float32"))
    wb = keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.cast(w, "bfloat16"), "float32"))
    windows = _numpy_windows(xb.astype(np.float64), wb.astype(np.float64), pool, pooled)
    rounded = keras.ops.convert_to_numpy(
        keras.ops.cast(keras.ops.cast(windows.astype("float32"), "bfloat16"), "float32")
    )
    g = np.ones((4, pooled, f), "float32")
    y, _, _ = _run(x, w, pool, pooled, g, dtype="bfloat16")
    # float32 sums in another order may round to the neighbouring bf16 value, rarely
    close = np.isclose(y, rounded.max(axis=2), rtol=2**-7, atol=0)
    assert close.all()
    assert np.mean(y == rounded.max(axis=2)) > 0.99


@pytest.mark.backend_agnostic
def test_the_layer_gives_maxpooling1d_gradients_on_ties(monkeypatch, rng):
    """On a waveform whose windows tie, the layer with the fused first stage has the kernel
    gradients of the plain Conv1D(relu) -> MaxPooling1D stack (first maximum)."""
    import semser_tf.layers.conv_paralinguistic as cp

    if keras.backend.backend() != "jax":
        pytest.skip("jax.grad of a stateless call")
    import jax

    monkeypatch.setattr(cp, "_FUSED_WAVEFORM_POOL", True)
    layer = ConvParalinguistic(filters=(3,), kernel_sizes=(4,), pool_sizes=(10,), dropout=0.0)
    x = np.repeat(rng.integers(-2, 3, (2, 1, 12)), 10, axis=2).astype("float32")[..., :110]
    layer.build(x.shape)
    layer.convs[0].set_weights([np.full((4, 1, 3), 0.5, "float32"), np.zeros(3, "float32")])
    inp = keras.Input((110, 1))
    conv = keras.layers.Conv1D(3, 4, padding="same", activation="relu")
    plain = keras.Model(inp, keras.layers.MaxPooling1D(10)(conv(inp)))
    conv.set_weights([np.full((4, 1, 3), 0.5, "float32"), np.zeros(3, "float32")])
    probe = rng.normal(0, 1, (2, 11 * 3)).astype("float32")

    def loss(model, weights, inputs):
        y, _ = model.stateless_call(weights, [], inputs)
        return (y.reshape(2, -1) * probe).sum()

    fast = jax.grad(lambda w: loss(layer, w, x))([v.value for v in layer.trainable_variables])
    ref = jax.grad(lambda w: loss(plain, w, x.reshape(2, 110, 1)))(
        [v.value for v in plain.trainable_variables]
    )
    for g, r in zip(fast, ref):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-5, atol=1e-5)


def test_an_input_shorter_than_the_windows_read_is_refused():
    x = np.zeros((1, 20, 1), "float32")
    with pytest.raises(ValueError, match="20 input steps.*read 24"):
        conv_pool_one_channel(x, np.zeros((5, 1, 2), "float32"), pool=4, pooled=5)
    with pytest.raises(ValueError, match="pool must be at least 2"):
        conv_pool_one_channel(x, np.zeros((5, 1, 2), "float32"), pool=1, pooled=5)
