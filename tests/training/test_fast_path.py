"""The fast training path (several steps per execution of Keras's train function) computes
what the plain path computes: same parameter count, same weights after N steps and same
outputs, within the precision's tolerance. The plain path (one step per call, Keras's
default) is the reference; the model is trained from the same seed on the same batches.

The ``backend_agnostic`` tests run on TensorFlow and again on JAX (``make test``), the
backend the GPU default applies to.
"""

import numpy as np
import pytest

from tests.inference.conftest import TINY

FRAMES, BATCH, STEPS = 20, 2, 6
TOLERANCE = {"float32": 1e-5, "mixed_bfloat16": 2e-2}
"""Relative tolerance of weights and outputs: float32 rounding; bf16 operands (its unit
roundoff is 2**-8 ~ 4e-3, a few steps of Adam compound it)."""


def _batches(seed=1):
    from semser_tf.constants import SAMPLES_PER_FRAME

    rng = np.random.default_rng(seed)
    n = BATCH * STEPS
    x = {
        "waveform": (rng.standard_normal((n, FRAMES, SAMPLES_PER_FRAME)) * 0.1).astype("float32"),
        "semantic": rng.standard_normal((n, FRAMES, TINY["semantic_dim"])).astype("float32"),
    }
    y = rng.uniform(-1, 1, (n, FRAMES, 3)).astype("float32")
    return x, y


def _model(precision):
    """The tiny attention model, seeded, compiled under ``precision``."""
    import keras

    from semser_tf.models import ModelConfig, build_model, compile_model
    from semser_tf.models.builder import precision_policy

    keras.utils.set_random_seed(0)
    config = ModelConfig(variant="attention", sequence_length=FRAMES, batch_size=BATCH, **TINY)
    with precision_policy(precision):
        return compile_model(build_model(config), config)


def _trained(k, precision, x, y):
    """The tiny attention model after ``STEPS`` steps of ``fit`` at ``k`` steps per execution."""
    from semser_tf.models import select_inputs
    from semser_tf.training.loop import steps_per_execution

    model = _model(precision)
    inputs = select_inputs(model, x)
    with steps_per_execution(model, k):
        assert model.steps_per_execution == k
        model.fit(inputs, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    assert model.steps_per_execution == 1  # restored after the fit
    return model, inputs


def _rel(a, b):
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("k, precision", [(3, "float32"), (STEPS, "mixed_bfloat16")])
def test_steps_per_execution_gives_the_plain_weights_and_outputs(k, precision):
    x, y = _batches()
    plain, inputs = _trained(1, precision, x, y)
    fast, _ = _trained(k, precision, x, y)
    tol = TOLERANCE[precision]
    assert fast.count_params() == plain.count_params()
    start = _model(precision).get_weights()  # before any step
    moved = [_rel(w, w0) for w, w0 in zip(plain.get_weights(), start)]
    assert max(moved) > 10 * tol  # the steps changed the weights: the comparison means something
    for w_fast, w_plain in zip(fast.get_weights(), plain.get_weights()):
        assert w_fast.shape == w_plain.shape
        assert _rel(w_fast, w_plain) <= tol
    out_fast = np.asarray(fast.predict(inputs, batch_size=BATCH, verbose=0))
    out_plain = np.asarray(plain.predict(inputs, batch_size=BATCH, verbose=0))
    assert np.isfinite(out_fast).all()
    assert _rel(out_fast, out_plain) <= tol


@pytest.mark.backend_agnostic
@pytest.mark.parametrize(
    "requested, steps, expected",
    [(16, 40, 10), (16, 48, 16), (16, 37, 1), (4, 3, 3), (1, 40, 1), (8, 12, 6)],
)
def test_execution_steps_is_the_largest_divisor_not_above_the_request(requested, steps, expected):
    from semser_tf.training.loop import execution_steps

    assert execution_steps(requested, steps) == expected


@pytest.mark.backend_agnostic
def test_the_default_is_keras_one_step():
    from semser_tf.training.loop import execution_steps

    assert execution_steps(None, 48) == 1


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "8"])
def test_train_settings_refuse_a_bad_steps_per_execution(bad):
    from semser_tf.errors import ConfigError
    from semser_tf.training.run import TrainSettings

    with pytest.raises(ConfigError, match="steps_per_execution"):
        TrainSettings(steps_per_execution=bad)


def test_fit_run_with_steps_per_execution_trains_the_plain_run(tmp_path):
    """The run loop over a tf.data stream of several epochs: a request that does not divide
    the steps per epoch (4 of 6) runs 3 per execution and reads no batch of the next epoch,
    so the run ends with the weights of the plain run."""
    import keras
    import tensorflow as tf

    from semser_tf.models import ModelConfig, build_model, compile_model, select_inputs
    from semser_tf.training.loop import fit_run
    from semser_tf.training.run import TrainSettings

    x, y = _batches()
    val = _batches(seed=2)

    def run(k, out):
        keras.utils.set_random_seed(0)
        config = ModelConfig(variant="attention", sequence_length=FRAMES, batch_size=BATCH, **TINY)
        model = compile_model(build_model(config), config)
        inputs = select_inputs(model, x)

        def train_epoch(e):  # each epoch its own order, as the run's shuffle gives
            order = np.random.default_rng(e).permutation(len(y))
            data = ({n: a[order] for n, a in inputs.items()}, y[order])
            return tf.data.Dataset.from_tensor_slices(data).batch(BATCH)

        val_ds = tf.data.Dataset.from_tensor_slices((select_inputs(model, val[0]), val[1]))
        settings = TrainSettings(epochs=2, patience=5, steps_per_execution=k)
        result = fit_run(
            model, train_epoch, val_ds.batch(BATCH), out, settings, steps_per_epoch=STEPS, verbose=0
        )
        assert model.steps_per_execution == 1
        return model, result

    plain, r_plain = run(1, tmp_path / "plain")
    fast, r_fast = run(4, tmp_path / "fast")
    assert r_fast["epochs_done"] == r_plain["epochs_done"] == 2
    for w_fast, w_plain in zip(fast.get_weights(), plain.get_weights()):
        assert _rel(w_fast, w_plain) <= TOLERANCE["float32"]
    for row_fast, row_plain in zip(r_fast["history"], r_plain["history"]):
        assert row_fast["val_ccc"] == pytest.approx(row_plain["val_ccc"], rel=1e-4, abs=1e-6)
