"""Run in a subprocess: a tiny model trained as one worker of a MultiWorkerMirroredStrategy
cluster (``worker``, TF_CONFIG set by the caller) or as one process with ``model.fit``
(``single``, the reference). Prints one ``RESULT {json}`` line.

Usage: ``python multiworker_check.py MODE OUT_DIR JSON_OPTIONS``; options: ``epochs``,
``steps`` (per epoch, ``None``: all), ``optimizer`` (``sgd`` or ``adam``),
``backup_steps``, ``step_seconds`` (a pause after each step, so a test can kill a worker
mid-epoch), ``patience``.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

MODE, OUT, OPTIONS = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from semser_tf.losses import CCCLoss  # noqa: E402
from semser_tf.metrics import ccc_metrics  # noqa: E402
from semser_tf.models import ModelConfig, build_model, compile_model  # noqa: E402
from semser_tf.training.run import TrainSettings  # noqa: E402

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
N_TRAIN, N_VAL, B, T = 16, 10, cfg.batch_size, cfg.sequence_length
rng = np.random.default_rng(0)
x = rng.normal(0, 0.3, (N_TRAIN, T, cfg.samples_per_frame)).astype("float32")
y = rng.uniform(-1, 1, (N_TRAIN, T, 3)).astype("float32")
w = np.ones((N_TRAIN, T), "float32")
w[1, 15:] = 0.0  # padded tails: frames of weight 0 must not count, on any worker
w[6, 4:] = 0.0
xv = rng.normal(0, 0.3, (N_VAL, T, cfg.samples_per_frame)).astype("float32")
yv = rng.uniform(-1, 1, (N_VAL, T, 3)).astype("float32")
wv = np.ones((N_VAL, T), "float32")
wv[9, 5:] = 0.0
steps = OPTIONS.get("steps") or N_TRAIN // B
pause = float(OPTIONS.get("step_seconds", 0.0))


def train_epoch(epoch):
    """Epoch ``epoch``: the training windows in a seeded order, global batches of B."""
    order = np.random.default_rng(100 + epoch).permutation(N_TRAIN)
    return tf.data.Dataset.from_tensor_slices(({"waveform": x[order]}, y[order], w[order])).batch(B)


class Pace(keras.callbacks.Callback):
    """Prints each step done (``STEP epoch batch``) and pauses, so that a test can kill a
    worker mid-epoch."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        print(f"STEP {self.epoch} {batch}", flush=True)
        time.sleep(pause)


def val_data():
    return tf.data.Dataset.from_tensor_slices(({"waveform": xv}, yv, wv)).batch(B)


def compiled(model):
    if OPTIONS.get("optimizer", "sgd") == "adam":
        return compile_model(model, cfg, jit_compile=False)
    model.compile(
        optimizer=keras.optimizers.SGD(cfg.learning_rate),
        loss=CCCLoss(),
        weighted_metrics=ccc_metrics(cfg.targets),
        jit_compile=False,
    )
    return model


def weights(model):
    return [v.numpy().tolist() for v in model.trainable_weights]


settings = TrainSettings(
    epochs=int(OPTIONS.get("epochs", 1)), patience=int(OPTIONS.get("patience", 10))
)

if MODE == "single":
    keras.utils.set_random_seed(cfg.seed)
    model = compiled(build_model(cfg))
    init = weights(model)
    rows = []
    for epoch in range(settings.epochs):  # the epochs of fit_multiworker: seeded, in full
        history = model.fit(
            train_epoch(epoch).take(steps),
            epochs=1,
            verbose=0,
            shuffle=False,
            validation_data=val_data(),
        ).history
        rows.append({k: float(v[-1]) for k, v in history.items()})
    result = {
        "data": {"yv": yv.tolist(), "wv": wv.tolist()},
        "init": init,
        "weights": weights(model),
        "history": rows,
        "val_pred": model.predict(val_data().map(lambda a, b, c: a), verbose=0).tolist(),
        "iterations": int(model.optimizer.iterations.numpy()),
    }
else:
    from semser_tf.distribute import make_strategy
    from semser_tf.training.multiworker import fit_multiworker, is_chief, worker_count

    strategy = make_strategy("multiworker")
    with strategy.scope():
        keras.utils.set_random_seed(cfg.seed)
        model = compiled(build_model(cfg))
    init = weights(model)
    out = fit_multiworker(
        model,
        train_epoch,
        val_data(),
        OUT,
        settings,
        strategy=strategy,
        steps_per_epoch=steps,
        verbose=0,
        targets=cfg.targets,
        backup_steps=OPTIONS.get("backup_steps"),
        callbacks=[Pace()],
    )
    result = {
        "init": init,
        "weights": weights(model),
        "history": out["history"],
        "iterations": out["steps"],
        "epochs_done": out["epochs_done"],
        "replicas": strategy.num_replicas_in_sync,
        "workers": worker_count(strategy),
        "chief": is_chief(strategy),
    }
print("RESULT " + json.dumps(result), flush=True)
