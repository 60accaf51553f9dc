"""Run in a subprocess with KERAS_BACKEND=jax: process ``INDEX`` of ``COUNT`` JAX processes
(``jax.distributed.initialize`` with the coordinator at ``ADDRESS``), or one process alone
(``COUNT`` 1, the reference), trains two SGD steps of a tiny model under
``keras.distribution.DataParallel`` over every process's CPU device. Prints one
``RESULT {json}`` line, or ``ERROR {json}`` with the exception that stopped it.

Usage: ``python jax_multiprocess_check.py ADDRESS COUNT INDEX``.
"""

import json
import os
import sys
import traceback

assert os.environ.get("KERAS_BACKEND") == "jax"
ADDRESS, COUNT, INDEX = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

import jax  # noqa: E402

stage = "jax.distributed.initialize"
try:
    if COUNT > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=ADDRESS, num_processes=COUNT, process_id=INDEX
        )
    import keras  # noqa: E402
    import numpy as np  # noqa: E402
    import tensorflow as tf  # noqa: E402

    from semser_tf.losses import CCCLoss  # noqa: E402
    from semser_tf.metrics import ccc_metrics  # noqa: E402
    from semser_tf.models import ModelConfig, build_model  # noqa: E402

    stage = "keras.distribution.DataParallel"
    devices = jax.devices()
    if COUNT > 1:
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
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
    x = rng.normal(0, 0.3, (8, 20, cfg.samples_per_frame)).astype("float32")
    y = rng.uniform(-1, 1, (8, 20, 3)).astype("float32")
    w = np.ones((8, 20), "float32")
    w[1, 15:] = 0.0
    stage = "build and compile"
    keras.utils.set_random_seed(cfg.seed)
    model = build_model(cfg)
    model.compile(
        optimizer=keras.optimizers.SGD(cfg.learning_rate),
        loss=CCCLoss(),
        weighted_metrics=ccc_metrics(cfg.targets),
        jit_compile=True,
    )
    init = [np.asarray(v.value).tolist() for v in model.trainable_weights]
    stage = "model.fit"
    ds = tf.data.Dataset.from_tensor_slices(({"waveform": x}, y, w)).batch(4)
    dist = keras.distribution.distribution()
    local = ds if dist is None else dist.distribute_dataset(ds)  # what this process feeds
    local_batches = [int(b[1].shape[0]) for b in local]
    hist = model.fit(ds, epochs=1, verbose=0, shuffle=False).history
    print(
        "RESULT "
        + json.dumps(
            {
                "devices": len(devices),
                "processes": jax.process_count(),
                "local_batches": local_batches,
                "init": init,
                "loss": float(hist["loss"][0]),
                "ccc": {k: float(v[0]) for k, v in hist.items() if k.startswith("ccc")},
                "weights": [np.asarray(v.value).tolist() for v in model.trainable_weights],
            }
        ),
        flush=True,
    )
except Exception as err:  # the measured reason, for the caller to record
    print(
        "ERROR "
        + json.dumps({"stage": stage, "type": type(err).__name__, "message": str(err)[:2000]}),
        flush=True,
    )
    traceback.print_exc()
    sys.exit(3)
