"""The data and the models that ``gpu_step.py`` times: random batches in host memory, the
plain Keras reference, and ours as ``semser train`` builds it."""

from __future__ import annotations

import itertools

import numpy as np

TINY = dict(conv_filters=(4, 4, 8), fusion_units=16, stream_units=8, lstm_units=8)


def host_batches(batch, frames, distinct, semantic_dim, seed=0):
    from semser_tf.constants import SAMPLES_PER_FRAME

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(distinct):
        wav = (rng.standard_normal((batch, frames, SAMPLES_PER_FRAME)) * 0.1).astype("float32")
        sem = rng.standard_normal((batch, frames, semantic_dim)).astype("float32")
        y = rng.uniform(-1, 1, (batch, frames, 3)).astype("float32")
        out.append((wav, sem, y))
    return out


def cycle(items, n):
    """A generator of ``n`` items, cycling ``items`` (a fresh one per ``fit``)."""
    yield from itertools.islice(itertools.cycle(items), n)


def reference(batch, frames):
    import keras
    from reference_model import build

    keras.mixed_precision.set_global_policy("float32")
    model, _, _ = build(batch, frames)
    return model


def ours(batch, frames, precision, tiny):
    """The model of ``semser train``: ``build_model`` + ``compile_model`` under the run's
    precision policy, jit as the run's ``TrainSettings`` default."""
    import keras

    from semser_tf.models import ModelConfig, build_model, compile_model
    from semser_tf.models.builder import precision_policy
    from semser_tf.training.run import TrainSettings

    settings = TrainSettings(precision=precision)
    config = ModelConfig(
        variant="attention", batch_size=batch, sequence_length=frames, **(TINY if tiny else {})
    )
    keras.utils.set_random_seed(config.seed)
    with precision_policy(settings.precision):
        model = compile_model(build_model(config), config, jit_compile=settings.jit_compile)
    return model, config, settings


def train_flops(config, frames, batch):
    from inference import model_flops_per_frame

    return 3 * sum(model_flops_per_frame(config).values()) * frames * batch


def int16_pcm(wav):
    """A float32 waveform in [-1, 1) as 16-bit PCM, what a 16-bit WAV file holds."""
    return np.clip(np.round(wav * 32768.0), -32768, 32767).astype("int16")


def take_int16_waveform(model):
    """Let ``model`` take its ``waveform`` input as int16 PCM: its train and predict steps
    scale it to float32 (``x / 32768``) inside the jitted step, on the device, so the host
    copies half the bytes of a float32 batch. The model itself is unchanged."""
    from keras import ops

    def decode(x):
        if isinstance(x, dict) and "waveform" in x and str(x["waveform"].dtype) == "int16":
            x = {**x, "waveform": ops.cast(x["waveform"], "float32") * (1.0 / 32768.0)}
        return x

    train_step, predict_step = model.train_step, model.predict_step

    def decoded(data):  # (x, y, weights), (x,) or x alone
        if isinstance(data, tuple):
            return (decode(data[0]), *data[1:])
        return decode(data)

    def train(state, data):
        return train_step(state, decoded(data))

    def predict(state, data):
        return predict_step(state, decoded(data))

    model.train_step, model.predict_step = train, predict
    return model
