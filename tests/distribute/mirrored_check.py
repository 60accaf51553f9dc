"""Run in a subprocess: one training step and an evaluation, single device vs MirroredStrategy.

Two logical CPU devices are configured before TensorFlow initialises, which is why this
runs in its own process. Prints one JSON line with the losses, weights and metrics of both.
"""

import json
import sys

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

from semser_tf.losses import CCCLoss  # noqa: E402
from semser_tf.metrics import ccc_metrics  # noqa: E402
from semser_tf.models import ModelConfig, build_model, compile_model  # noqa: E402

optimizer = sys.argv[1] if len(sys.argv) > 1 else "sgd"
cfg = ModelConfig(
    variant="paralinguistic",
    conv_filters=(4, 4, 8),
    lstm_units=8,
    dropout=0.0,
    sequence_length=20,
    batch_size=4,
    learning_rate=0.05,
    seed=1,
)
rng = np.random.default_rng(0)
B, T = 4, 20
x = rng.normal(0, 0.3, (B, T, cfg.samples_per_frame)).astype("float32")
y = rng.uniform(-1, 1, (B, T, 3)).astype("float32")
w = np.ones((B, T), "float32")
w[1, 15:] = 0.0  # a padded tail: weight 0 frames must not count
w[3, 10:] = 0.0
xv = rng.normal(0, 0.3, (10, T, cfg.samples_per_frame)).astype("float32")
yv = rng.uniform(-1, 1, (10, T, 3)).astype("float32")
wv = np.ones((10, T), "float32")
wv[9, 5:] = 0.0


def compiled(model):
    if optimizer == "adam":
        return compile_model(model, cfg, jit_compile=False)
    model.compile(
        optimizer=keras.optimizers.SGD(cfg.learning_rate),
        loss=CCCLoss(),
        weighted_metrics=ccc_metrics(cfg.targets),
        jit_compile=False,
    )
    return model


def run(strategy):
    scope = strategy.scope() if strategy is not None else None
    if scope:
        scope.__enter__()
    keras.utils.set_random_seed(cfg.seed)  # build_model leaves seeding to its caller
    model = compiled(build_model(cfg))
    if scope:
        scope.__exit__(None, None, None)
    init = [v.numpy() for v in model.weights]
    ds = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(B)
    hist = model.fit(ds, epochs=1, verbose=0, shuffle=False)
    # validation: 3 batches of 4, 4, 2 windows
    vds = tf.data.Dataset.from_tensor_slices((xv, yv, wv)).batch(4)
    ev = model.evaluate(vds, verbose=0, return_dict=True)
    pred = model.predict(tf.data.Dataset.from_tensor_slices(xv).batch(4), verbose=0)
    return {
        "init": [a.tolist() for a in init],
        "loss": float(hist.history["loss"][0]),
        "train_ccc": {k: float(v[0]) for k, v in hist.history.items() if k.startswith("ccc")},
        "weights": [v.numpy().tolist() for v in model.trainable_weights],
        "eval": ev,
        "pred": pred.tolist(),
        "replicas": 1 if strategy is None else strategy.num_replicas_in_sync,
    }


single = run(None)
mirrored = run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
print(
    "RESULT "
    + json.dumps(
        {
            "single": single,
            "mirrored": mirrored,
            "data": {
                "x": x.tolist(),
                "y": y.tolist(),
                "w": w.tolist(),
                "yv": yv.tolist(),
                "wv": wv.tolist(),
            },
        }
    )
)
