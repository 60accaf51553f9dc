"""The device feed (batches copied to the accelerator by a thread of their own) changes
where the copy runs, not what is trained: the same batches in the same order, the same
weights after ``fit_run``; errors reach the loop; closing it leaves no thread behind.

The references are the source's own arrays (NumPy) and the loop trained without the feed.
"""

import threading
import time

import numpy as np
import pytest

from semser_tf.errors import ConfigError
from semser_tf.training import device_feed
from semser_tf.training.device_feed import DeviceBatches, device_batches, feed_for_fit, feed_switch

jax = pytest.importorskip("jax")


def _feed_threads():
    return [t for t in threading.enumerate() if t.name == "semser-device-feed"]


def _source(n, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (
            {"waveform": rng.standard_normal((2, 3, 4)).astype("float32"), "semantic": None},
            rng.standard_normal((2, 3)).astype("float32"),
        )
        for _ in range(n)
    ]


def test_same_batches_in_the_same_order_on_the_device():
    src = _source(7)
    out = list(device_batches(iter(src), depth=2))
    assert len(out) == 7
    for (x, y), (xs, ys) in zip(out, src):
        assert isinstance(y, jax.Array) and isinstance(x["waveform"], jax.Array)
        assert x["semantic"] is None  # a None leaf passes through
        np.testing.assert_array_equal(np.asarray(x["waveform"]), xs["waveform"])
        np.testing.assert_array_equal(np.asarray(y), ys)
        assert y.devices() == {jax.local_devices()[0]}
    assert not _feed_threads()


def test_tf_dataset_batches_arrive_as_arrays():
    tf = pytest.importorskip("tensorflow")
    ds = tf.data.Dataset.range(5).map(lambda i: (tf.fill([2, 2], tf.cast(i, tf.float32)),))
    got = [float(np.asarray(b[0])[0, 0]) for b in device_batches(ds)]
    assert got == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_at_most_depth_batches_wait():
    produced = []

    def counting():
        for i in range(100):
            produced.append(i)
            yield (np.full((1,), i, "float32"),)

    with DeviceBatches(counting(), depth=3) as feed:
        first = next(feed)
        deadline = time.monotonic() + 30
        while len(produced) < 1 + 3 and time.monotonic() < deadline:
            time.sleep(0.01)  # the thread runs ahead until the queue is full
        time.sleep(0.2)  # room to run further, which it must not
        # 1 taken + 3 waiting + 1 read and blocked on the full queue
        assert 1 + 3 <= len(produced) <= 1 + 3 + 1
        assert float(np.asarray(first[0])[0]) == 0.0
    assert not _feed_threads()


def test_source_error_is_raised_where_its_batch_would_come():
    def failing():
        yield (np.zeros(2, "float32"),)
        yield (np.ones(2, "float32"),)
        raise ValueError("bad recording 'x.wav'")

    gen = device_batches(failing())
    assert float(np.asarray(next(gen)[0])[0]) == 0.0
    assert float(np.asarray(next(gen)[0])[0]) == 1.0
    with pytest.raises(ValueError, match="bad recording 'x.wav'"):
        next(gen)
    assert not _feed_threads()


def test_closing_early_stops_the_thread_on_an_endless_source():
    def endless():
        i = 0
        while True:
            i += 1
            yield (np.full((4,), i, "float32"),)

    gen = device_batches(endless(), depth=2)
    for _ in range(3):
        next(gen)
    gen.close()  # what fit does to its iterator when early stopping ends the epochs
    assert not _feed_threads()


def test_switch_and_depth_are_checked():
    assert feed_switch({}) == "auto" and feed_switch({"SEMSER_DEVICE_FEED": " Auto "}) == "auto"
    assert feed_switch({"SEMSER_DEVICE_FEED": "1"}) is True
    assert feed_switch({"SEMSER_DEVICE_FEED": "off"}) is False
    with pytest.raises(ConfigError, match="SEMSER_DEVICE_FEED='sometimes': expected auto"):
        feed_switch({"SEMSER_DEVICE_FEED": "sometimes"})
    with pytest.raises(ConfigError, match="depth=0: expected a positive integer"):
        DeviceBatches([], depth=0)
    with pytest.raises(ConfigError, match="depth=-1"):  # at the call, not at the first batch
        device_batches([], depth=-1)
    assert not _feed_threads()


def test_device_arrays_are_not_copied_back_to_the_host(monkeypatch):
    """A batch already on the device goes on as it is (np.asarray would copy it back)."""
    x = jax.device_put(np.arange(6, dtype="float32"))
    monkeypatch.setattr(np, "asarray", lambda *a, **k: pytest.fail("copied to the host"))
    ((got,),) = list(device_batches([(x,)]))
    assert got is x or bool((got == x).all())


@pytest.mark.backend_agnostic
def test_feed_for_fit_only_where_jax_copies_to_a_device():
    import keras

    src = _source(2)
    assert feed_for_fit(src, environ={"SEMSER_DEVICE_FEED": "0"}) is src
    if keras.backend.backend() != "jax":  # TensorFlow prefetches tf.data itself
        assert feed_for_fit(src, environ={"SEMSER_DEVICE_FEED": "1"}) is src
        return
    auto = feed_for_fit(src, environ={})
    assert (auto is src) == (jax.default_backend() == "cpu")
    forced = feed_for_fit(src, environ={"SEMSER_DEVICE_FEED": "1"})
    assert forced is not src and len(list(forced)) == 2
    devices = jax.local_devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    try:  # a distribution shards the batch itself
        assert feed_for_fit(src, environ={"SEMSER_DEVICE_FEED": "1"}) is src
    finally:
        keras.distribution.set_distribution(None)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("steps_per_execution", [None, 3])
def test_fit_run_through_the_feed_trains_the_same_weights(
    tmp_path, monkeypatch, steps_per_execution
):
    """``fit_run`` with the feed forced on (JAX) trains exactly the weights it trains
    without it: same batches, same order, same steps, also with several steps per
    execution (Keras takes them from the iterator together); the feed was used."""
    import keras
    import tensorflow as tf

    from semser_tf.models import ModelConfig, build_model, compile_model, select_inputs
    from semser_tf.training.loop import fit_run
    from semser_tf.training.settings import TrainSettings
    from tests.inference.conftest import TINY

    frames, batch, steps = 10, 2, 3
    from semser_tf.constants import SAMPLES_PER_FRAME

    rng = np.random.default_rng(5)
    wav = (rng.standard_normal((12, frames, SAMPLES_PER_FRAME)) * 0.1).astype("float32")
    sem = rng.standard_normal((12, frames, TINY["semantic_dim"])).astype("float32")
    y = rng.uniform(-1, 1, (12, frames, 3)).astype("float32")
    w = np.ones((12, frames), "float32")
    config = ModelConfig(variant="attention", sequence_length=frames, batch_size=batch, **TINY)
    used = []
    real = device_feed.device_batches

    def spy(batches, depth=device_feed.DEFAULT_DEPTH, device=None):
        used.append(depth)
        return real(batches, depth, device)

    monkeypatch.setattr(device_feed, "device_batches", spy)

    def trained(switch, out):
        monkeypatch.setenv("SEMSER_DEVICE_FEED", switch)
        keras.utils.set_random_seed(0)
        model = compile_model(build_model(config), config)

        def epoch(e):
            x = select_inputs(model, {"waveform": wav, "semantic": sem})
            order = np.random.default_rng(e).permutation(len(y))
            ds = tf.data.Dataset.from_tensor_slices(
                ({k: v[order] for k, v in x.items()}, y[order], w[order])
            )
            return ds.batch(batch)

        x = select_inputs(model, {"waveform": wav[:4], "semantic": sem[:4]})
        fit_run(
            model,
            epoch,
            tf.data.Dataset.from_tensor_slices((x, y[:4], w[:4])).batch(batch),
            out,
            TrainSettings(epochs=2, patience=2, steps_per_execution=steps_per_execution),
            steps_per_epoch=steps,
            verbose=0,
        )
        return [np.asarray(v) for v in model.get_weights()]

    plain = trained("0", tmp_path / "plain")
    assert used == []
    fed = trained("1", tmp_path / "fed")
    assert used == ([device_feed.DEFAULT_DEPTH] if keras.backend.backend() == "jax" else [])
    assert len(plain) == len(fed)
    for a, b in zip(plain, fed):
        np.testing.assert_array_equal(a, b)
    assert not _feed_threads()
