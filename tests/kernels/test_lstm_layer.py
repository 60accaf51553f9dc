"""``LSTM`` is ``keras.layers.LSTM``: same weights and outputs on every path; under JAX
its kernel path (run here in Pallas's interpreter) gives Keras's LSTM's outputs and
gradients, and it falls back to Keras's loop wherever the kernel does not apply."""

import keras
import numpy as np
import pytest

from semser_tf.layers import LSTM
from semser_tf.layers import lstm as lstm_layer

pytestmark = pytest.mark.backend_agnostic


def _pair(units, features, **kwargs):
    ours = LSTM(units, return_sequences=True, return_state=True, **kwargs)
    plain = keras.layers.LSTM(units, return_sequences=True, return_state=True, **kwargs)
    ours.build((None, None, features))
    plain.build((None, None, features))
    rng = np.random.default_rng(7)
    weights = [rng.normal(0, 0.3, w.shape).astype("float32") for w in plain.get_weights()]
    ours.set_weights(weights)
    plain.set_weights(weights)
    return ours, plain


def test_same_weights_config_and_outputs_as_keras_lstm_on_this_backend(rng):
    ours, plain = _pair(16, 5)
    assert [w.shape for w in ours.weights] == [w.shape for w in plain.weights]
    config = ours.get_config()
    assert {k: v for k, v in config.items() if k != "name"} == {
        k: v for k, v in plain.get_config().items() if k != "name"
    }
    assert isinstance(LSTM.from_config(config), keras.layers.LSTM)
    x = rng.normal(size=(3, 7, 5)).astype("float32")
    for a, b in zip(ours(x), plain(x)):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=1e-6
        )


@pytest.fixture
def interpret(monkeypatch):
    if keras.backend.backend() != "jax":
        pytest.skip("the kernel path is the JAX backend's")
    monkeypatch.setattr(lstm_layer, "_INTERPRET", True)
    monkeypatch.setattr(lstm_layer, "_KERNEL_LSTM", True)
    calls = []
    from semser_tf.kernels import lstm_pallas

    real = lstm_pallas.recurrence
    monkeypatch.setattr(lstm_pallas, "recurrence", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


@pytest.mark.parametrize(
    "batch,steps",
    [(3, 9), (1, 1)],
    ids=["sequences", "one-frame-of-one-stream"],  # the second: a live stream's step
)
def test_the_kernel_path_gives_keras_lstm_outputs_and_gradients(rng, interpret, batch, steps):
    import jax
    import jax.numpy as jnp

    ours, plain = _pair(32, 6)
    x = jnp.asarray(rng.normal(size=(batch, steps, 6)), jnp.float32)
    h0 = jnp.asarray(rng.normal(0, 0.5, (batch, 32)), jnp.float32)
    c0 = jnp.asarray(rng.normal(0, 0.5, (batch, 32)), jnp.float32)
    shapes = ((batch, steps, 32), (batch, 32), (batch, 32))
    probe = [jnp.asarray(rng.normal(size=s), jnp.float32) for s in shapes]

    def loss(layer, weights, x, h0, c0):
        fixed = [v.value for v in layer.non_trainable_variables]
        outs, _ = layer.stateless_call(weights, fixed, x, initial_state=[h0, c0])
        return sum((o * p).sum() for o, p in zip(outs, probe)), outs

    results = []
    for layer in (ours, plain):
        weights = [w.value for w in layer.trainable_weights]
        (_, outs), grads = jax.value_and_grad(loss, argnums=(1, 2, 3, 4), has_aux=True)(
            layer, weights, x, h0, c0
        )
        results.append(
            [np.asarray(o) for o in outs] + [np.asarray(g) for g in jax.tree.leaves(grads)]
        )
    assert interpret == [1]  # only LSTM took the kernel
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize(
    "kwargs,call",
    [
        ({}, {"mask": np.array([[True] * 4 + [False] * 3] * 2)}),
        ({"recurrent_dropout": 0.1}, {"training": True}),
        ({"dropout": 0.1}, {"training": True}),
        ({"activation": "relu"}, {}),
        ({"go_backwards": True}, {}),
        ({"use_cudnn": False}, {}),
    ],
    ids=["mask", "recurrent-dropout", "dropout-training", "relu", "backwards", "no-cudnn"],
)
def test_falls_back_to_keras_where_the_kernel_does_not_apply(rng, interpret, kwargs, call):
    ours, plain = _pair(16, 4, **kwargs)
    x = rng.normal(size=(2, 7, 4)).astype("float32")
    a = ours(x, **call)
    assert interpret == []
    if not call.get("training"):
        for o, p in zip(a, plain(x, **call)):
            np.testing.assert_allclose(np.asarray(o), np.asarray(p), atol=1e-6)


def test_the_kernel_is_off_when_switched_off(rng, interpret, monkeypatch):
    monkeypatch.setattr(lstm_layer, "_KERNEL_LSTM", False)
    ours, _ = _pair(16, 4)
    ours(rng.normal(size=(2, 5, 4)).astype("float32"))
    assert interpret == []


class _FakeGPU:
    def __init__(self, capability):
        self.compute_capability = capability


@pytest.mark.parametrize(
    "switch,capability,mps,want",
    [
        ("auto", "9.0", False, "gpu"),  # the default on an H100/H200 of one's own
        ("auto", "8.0", False, "gpu"),  # an A100
        ("auto", "9.0", True, None),  # auto: not on a GPU shared through MPS
        (True, "9.0", True, "gpu"),  # switched on: under MPS too
        (True, "7.5", False, None),  # a T4: its multiprocessors hold too little memory
        (False, "9.0", False, None),
    ],
)
def test_auto_takes_the_kernel_on_a_gpu_of_its_own(monkeypatch, switch, capability, mps, want):
    if keras.backend.backend() != "jax":
        pytest.skip("the kernel path is the JAX backend's")
    import jax

    monkeypatch.setattr(lstm_layer, "_KERNEL_LSTM", switch)
    monkeypatch.setattr(lstm_layer, "_INTERPRET", False)
    monkeypatch.setattr(lstm_layer, "shared_through_mps", lambda: mps)
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    monkeypatch.setattr(jax, "devices", lambda *a: [_FakeGPU(capability)])
    layer = LSTM(32, return_sequences=True)
    layer.build((None, None, 4))
    assert lstm_layer._kernel_mode(layer, None, False) == want


def test_mps_is_seen_from_its_environment_or_its_pipe_directory(tmp_path):
    absent = str(tmp_path / "nvidia-mps")
    assert not lstm_layer.shared_through_mps({}, absent)
    assert lstm_layer.shared_through_mps({"CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": "25"}, absent)
    assert lstm_layer.shared_through_mps({"CUDA_MPS_PIPE_DIRECTORY": "/x"}, absent)
    (tmp_path / "nvidia-mps").mkdir()
    assert lstm_layer.shared_through_mps({}, absent)


@pytest.mark.parametrize(
    "value,on",
    [
        ("", "auto"),
        ("Auto", "auto"),
        ("0", False),
        ("off", False),
        ("No", False),
        ("1", True),
        (" on ", True),
    ],
)
def test_the_environment_switch_reads_auto_on_and_off(value, on):
    assert lstm_layer.kernel_switch(value) == on
    assert type(lstm_layer.kernel_switch(value)) is type(on)


def test_a_bad_environment_switch_names_the_variable_and_the_expected_form():
    from semser_tf.errors import ConfigError

    with pytest.raises(ConfigError, match=r"SEMSER_LSTM_KERNEL='maybe': expected auto"):
        lstm_layer.kernel_switch("maybe")


def test_a_bad_environment_switch_is_one_line_from_the_command_line(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "SEMSER_LSTM_KERNEL": "maybe"}
    run = subprocess.run(
        [sys.executable, "-m", "semser_tf.cli", "predict", str(tmp_path / "a.wav")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert "semser predict: error: SEMSER_LSTM_KERNEL='maybe'" in run.stderr
    assert "Traceback" not in run.stderr


def test_the_switch_is_read_from_the_environment_at_import():
    import os
    import subprocess
    import sys

    code = "import semser_tf.layers.lstm as m; print(m._KERNEL_LSTM)"
    for value, want in (("1", "True"), ("", "auto"), ("off", "False")):
        env = {**os.environ, "SEMSER_LSTM_KERNEL": value}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.split()[-1] == want


@pytest.mark.parametrize(
    "compute,setting,want",
    [
        ("bfloat16", "auto", "bfloat16"),  # a layer under mixed_bfloat16
        ("float32", "auto", "float32"),  # the model's LSTM: its head computes in float32
        ("float16", "auto", "float32"),
        ("float32", "bfloat16", "bfloat16"),  # a setting other than auto is kept
        ("bfloat16", "float32", "float32"),
    ],
)
def test_auto_operands_follow_the_layers_compute_dtype(compute, setting, want):
    assert lstm_layer.dot_dtype_for(compute, setting) == want


@pytest.mark.parametrize("dtype,want", [("mixed_bfloat16", "bfloat16"), ("float32", "float32")])
def test_the_layer_passes_its_compute_dtypes_operands_to_the_kernel(
    rng, interpret, monkeypatch, dtype, want
):
    from semser_tf.kernels import lstm_pallas

    seen = []
    wrapped = lstm_pallas.recurrence  # the fixture's counting wrapper
    monkeypatch.setattr(
        lstm_pallas, "recurrence", lambda *a, **k: seen.append(k["dot_dtype"]) or wrapped(*a, **k)
    )
    layer = LSTM(16, return_sequences=True, dtype=dtype)
    layer(rng.normal(size=(2, 5, 4)).astype("float32"))
    assert seen == [want] and interpret == [1]


class _Device:
    def __init__(self, capability):
        if capability is not None:
            self.compute_capability = capability


@pytest.mark.parametrize(
    "capability,want",
    [("9.0", True), ("8.0", True), ("8.6", True), ("7.5", False), ("7.0", False), (None, False)],
)
def test_the_kernel_runs_on_gpus_of_compute_capability_8_or_newer(capability, want):
    assert lstm_layer.takes_kernel(_Device(capability)) is want


def test_units_not_a_multiple_of_16_fall_back(rng, interpret):
    ours, plain = _pair(12, 4)
    x = rng.normal(size=(2, 5, 4)).astype("float32")
    for o, p in zip(ours(x), plain(x)):
        np.testing.assert_allclose(np.asarray(o), np.asarray(p), atol=1e-6)
    assert interpret == []


@pytest.mark.parametrize(
    "units,batch,cores,want",
    [
        (256, 25, 132, 16),  # 16 slices of 16 units x 2 row blocks = 32 programs
        (256, 100, 132, 16),  # x 7 row blocks = 112
        (256, 150, 132, 8),  # 10 row blocks: 16 x 10 would not all fit at once, 8 x 10 do
        (256, 4000, 132, 1),  # 250 row blocks: no split fits
        (256, 25, None, 1),  # the device does not say how many multiprocessors it has
        (128, 25, 132, 8),
        (48, 25, 132, 3),
        (16, 25, 132, 1),
    ],
)
def test_programs_split_the_units_only_when_all_fit_on_the_gpu(units, batch, cores, want):
    assert lstm_layer.programs_for(units, batch, cores) == want


def test_weights_saved_with_keras_lstm_load_into_a_model_with_ours(tmp_path, rng):
    """A functional model's weights file names each layer by its class: the zoo's files,
    written with keras.layers.LSTM, load into models built with this one, and back."""

    def model(layer_cls):
        x = keras.Input((None, 4))
        return keras.Model(x, keras.layers.Dense(2)(layer_cls(16, return_sequences=True)(x)))

    plain, ours = model(keras.layers.LSTM), model(LSTM)
    path = tmp_path / "plain.weights.h5"
    plain.save_weights(path)
    ours.load_weights(path)
    x = rng.normal(size=(2, 6, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(plain(x)), atol=1e-6)
    ours.save_weights(tmp_path / "ours.weights.h5")
    model(keras.layers.LSTM).load_weights(tmp_path / "ours.weights.h5")


def test_a_fit_step_through_the_kernel_equals_keras_lstm(rng, interpret):
    """One ``fit`` step (Keras's jitted JAX train step, Adam) from the same weights: the same
    weights after it, whether the LSTM's loop is the kernel or Keras's."""

    def trained(layer_cls):
        keras.utils.set_random_seed(3)
        x = keras.Input((None, 5))
        model = keras.Model(x, keras.layers.Dense(2)(layer_cls(16, return_sequences=True)(x)))
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
        data = rng_data
        model.fit(data[0], data[1], batch_size=3, epochs=1, verbose=0, shuffle=False)
        return [np.asarray(w) for w in model.get_weights()]

    rng_data = (
        rng.normal(size=(3, 8, 5)).astype("float32"),
        rng.normal(size=(3, 8, 2)).astype("float32"),
    )
    plain = trained(keras.layers.LSTM)
    assert interpret == []
    ours = trained(LSTM)
    assert len(interpret) >= 1
    for a, b in zip(ours, plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
