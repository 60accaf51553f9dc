"""The one-kernel LSTM against an LSTM written in NumPy (float64): values, and every gradient
by back-propagation through time written out by hand. The kernels run in Pallas's
interpreter here (any device); on a GPU ``benchmarks/lstm_kernel.py`` runs them compiled."""

import keras
import numpy as np
import pytest

pytestmark = [
    pytest.mark.backend_agnostic,
    pytest.mark.skipif(keras.backend.backend() != "jax", reason="a JAX kernel"),
]


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_lstm(xw, u, h0, c0):
    """Keras's LSTMCell (gates i, f, g, o) over time-major ``xw``; returns hs, c_last and a
    function of the cotangents (dhs, dc_last) giving (dxw, du, dh0, dc0)."""
    steps, _, gates = xw.shape
    units = gates // 4
    h, c = h0, c0
    hs, cs, acts, hprev, cprev = [], [], [], [], []
    for t in range(steps):
        z = xw[t] + h @ u
        i, f, o = (_sigmoid(z[:, k * units : (k + 1) * units]) for k in (0, 1, 3))
        g = np.tanh(z[:, 2 * units : 3 * units])
        hprev.append(h)
        cprev.append(c)
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
        acts.append((i, f, g, o))

    def grads(dhs, dc_last):
        dxw = np.zeros_like(xw)
        du = np.zeros_like(u)
        dh = np.zeros_like(h0)
        dc = dc_last.copy()
        for t in reversed(range(steps)):
            i, f, g, o = acts[t]
            tc = np.tanh(cs[t])
            dh_t = dhs[t] + dh
            dc_t = dc + dh_t * o * (1 - tc**2)
            dz = np.concatenate(
                [
                    dc_t * g * i * (1 - i),
                    dc_t * cprev[t] * f * (1 - f),
                    dc_t * i * (1 - g**2),
                    dh_t * tc * o * (1 - o),
                ],
                axis=1,
            )
            dxw[t] = dz
            du += hprev[t].T @ dz
            dh = dz @ u.T
            dc = dc_t * f
        return dxw, du, dh, dc

    return np.stack(hs), c, grads


def _inputs(rng, steps, batch, units):
    xw = rng.normal(0, 1.0, (steps, batch, 4 * units))
    u = rng.normal(0, 1.0 / np.sqrt(units), (units, 4 * units))
    h0 = rng.normal(0, 0.5, (batch, units))
    c0 = rng.normal(0, 0.5, (batch, units))
    return xw, u, h0, c0


def _kernel(xw, u, h0, c0, dhs, dc_last, dot_dtype="float32"):
    import jax
    import jax.numpy as jnp

    from semser_tf.kernels.lstm_pallas import recurrence

    args = [jnp.asarray(a, jnp.float32) for a in (xw, u, h0, c0)]
    (hs, c_last), vjp = jax.vjp(
        lambda *a: recurrence(*a, dot_dtype=dot_dtype, interpret=True), *args
    )
    cot = (jnp.asarray(dhs, jnp.float32), jnp.asarray(dc_last, jnp.float32))
    return [np.asarray(a, np.float64) for a in (hs, c_last, *vjp(cot))]


def _rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


@pytest.mark.parametrize(
    "steps,batch,units",
    [(4, 3, 16), (5, 19, 48), (3, 33, 128), (1, 1, 16)],
    ids=[
        "one-tile",
        "three-tiles-padded-rows",
        "two-wide-tiles-three-programs",
        "one-step-one-row",  # live streaming: one 100 ms frame of one stream per call
    ],
)
def test_values_and_gradients_equal_a_numpy_lstm(rng, steps, batch, units):
    xw, u, h0, c0 = _inputs(rng, steps, batch, units)
    dhs = rng.normal(size=(steps, batch, units))
    dc_last = rng.normal(size=(batch, units))
    hs, c_last, grads = numpy_lstm(xw, u, h0, c0)
    want = [hs, c_last, *grads(dhs, dc_last)]
    got = _kernel(xw, u, h0, c0, dhs, dc_last)
    names = ["hs", "c_last", "dxw", "du", "dh0", "dc0"]
    for name, g, w in zip(names, got, want):
        assert g.shape == w.shape, name
        assert _rel(g, w) < 1e-5, (name, _rel(g, w))


def test_bfloat16_products_stay_close_and_the_state_float32(rng):
    """With bf16 operands the recurrent product is rounded to bf16's 8 bits: the outputs stay
    within a few bf16 steps of the float64 LSTM over 6 steps, not equal to float32's."""
    xw, u, h0, c0 = _inputs(rng, 6, 5, 32)
    dhs = rng.normal(size=(6, 5, 32))
    dc_last = rng.normal(size=(5, 32))
    hs, c_last, grads = numpy_lstm(xw, u, h0, c0)
    want = [hs, c_last, *grads(dhs, dc_last)]
    got32 = _kernel(xw, u, h0, c0, dhs, dc_last)
    got16 = _kernel(xw, u, h0, c0, dhs, dc_last, dot_dtype="bfloat16")
    for g16, g32, w in zip(got16, got32, want):
        assert _rel(g16, w) < 3e-2
        assert _rel(g16, w) > _rel(g32, w)


def test_bad_shapes_are_refused_naming_what_was_given():
    import jax.numpy as jnp

    from semser_tf.kernels.lstm_pallas import recurrence

    xw = jnp.zeros((3, 2, 40))
    with pytest.raises(ValueError, match="multiple of 16 units, not 10"):
        recurrence(xw, jnp.zeros((10, 40)), jnp.zeros((2, 10)), jnp.zeros((2, 10)))
    with pytest.raises(
        ValueError, match=r"U \(units, 4 \* units\); got xw \(3, 2, 40\), U \(16, 64\)"
    ):
        recurrence(xw, jnp.zeros((16, 64)), jnp.zeros((2, 16)), jnp.zeros((2, 16)))
    with pytest.raises(ValueError, match=r"h0 must be \(batch, units\) = \(2, 16\), not \(3, 16\)"):
        recurrence(
            jnp.zeros((3, 2, 64)), jnp.zeros((16, 64)), jnp.zeros((3, 16)), jnp.zeros((2, 16))
        )
    with pytest.raises(ValueError, match="dot_dtype must be one of"):
        recurrence(
            jnp.zeros((3, 2, 64)),
            jnp.zeros((16, 64)),
            jnp.zeros((2, 16)),
            jnp.zeros((2, 16)),
            dot_dtype="float16",
        )


def _a_gpu_to_lower_for():
    """Newer JAX (0.11) asks which GPU to lower Pallas's Triton kernels for when there is
    none: an abstract H200. JAX 0.4.34 lowers without one."""
    import contextlib

    import jax

    try:
        from jax._src.mesh import AbstractDevice, AbstractMesh
    except ImportError:
        return contextlib.nullcontext()
    h200 = AbstractDevice(device_kind="NVIDIA H200", num_cores=132, platform="gpu")
    return jax.sharding.use_abstract_mesh(AbstractMesh((1,), ("x",), abstract_device=h200))


@pytest.mark.parametrize("programs", [1, 16])
def test_forward_and_backward_lower_to_one_triton_kernel_each_for_cuda(programs):
    """The GPU path without a GPU: the training step's gradient lowers, for CUDA, to two
    Triton calls (the forward and the backward kernel), each launched over ``programs``
    slices of the units x the blocks of 16 rows (with 16 programs, the per-step arrival
    counters and their waits lower too)."""
    import re

    import jax
    import jax.numpy as jnp

    from semser_tf.kernels.lstm_pallas import recurrence

    steps, batch, units = 6, 25, 256
    shapes = ((steps, batch, 4 * units), (units, 4 * units), (batch, units), (batch, units))
    args = [jax.ShapeDtypeStruct(s, jnp.float32) for s in shapes]

    def loss(*a):
        hs, c_last = recurrence(*a, programs=programs)
        return hs.sum() + c_last.sum()

    with _a_gpu_to_lower_for():
        traced = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3))).trace(*args)
        text = traced.lower(lowering_platforms=("cuda",)).as_text()
    grids = re.findall(
        r"custom_call @__gpu\$xla\.gpu\.triton\(.*?grid_x = (\d+) : i32, grid_y = (\d+)", text
    )
    assert grids == [(str(programs), "2")] * 2  # 25 rows in two blocks of 16


def test_more_programs_than_slices_of_16_units_are_refused():
    import jax.numpy as jnp

    from semser_tf.kernels.lstm_pallas import recurrence

    args = jnp.zeros((3, 2, 256)), jnp.zeros((64, 256)), jnp.zeros((2, 64)), jnp.zeros((2, 64))
    with pytest.raises(ValueError, match="slices of a multiple of 16, not 8"):
        recurrence(*args, programs=8)
    with pytest.raises(ValueError, match="one program at a time"):
        recurrence(*args, programs=4, interpret=True)
