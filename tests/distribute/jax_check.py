"""Run in a subprocess with KERAS_BACKEND=jax and two host devices: one SGD step and an
evaluation, single device vs keras.distribution.DataParallel. Prints one JSON line."""

import json
import os

assert os.environ.get("KERAS_BACKEND") == "jax"
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
)

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from semser_tf.distribute import make_strategy  # noqa: E402
from semser_tf.losses import CCCLoss  # noqa: E402
from semser_tf.metrics import ccc_metrics  # noqa: E402
from semser_tf.models import ModelConfig, build_model  # noqa: E402

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
x = rng.normal(0, 0.3, (4, 20, cfg.samples_per_frame)).astype("float32")
y = rng.uniform(-1, 1, (4, 20, 3)).astype("float32")
w = np.ones((4, 20), "float32")
w[1, 15:] = 0.0
xv = rng.normal(0, 0.3, (8, 20, cfg.samples_per_frame)).astype("float32")
yv = rng.uniform(-1, 1, (8, 20, 3)).astype("float32")


def run():
    keras.utils.set_random_seed(cfg.seed)  # build_model leaves seeding to its caller
    model = build_model(cfg)
    model.compile(
        optimizer=keras.optimizers.SGD(cfg.learning_rate),
        loss=CCCLoss(),
        weighted_metrics=ccc_metrics(cfg.targets),
    )
    h = model.fit(x, y, sample_weight=w, batch_size=4, epochs=1, shuffle=False, verbose=0)
    ev = model.evaluate(xv, yv, batch_size=4, verbose=0, return_dict=True)
    return {
        "loss": float(h.history["loss"][0]),
        "eval": ev,
        "weights": [np.asarray(v.value).tolist() for v in model.trainable_weights],
    }


single = run()
make_strategy("data_parallel")
dist = keras.distribution.distribution()
parallel = run()
print(
    "RESULT "
    + json.dumps(
        {
            "devices": len(jax.devices()),
            "mesh": list(dist.device_mesh.shape),
            "single": single,
            "parallel": parallel,
        }
    )
)
