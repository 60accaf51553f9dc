"""Formulations of the paralinguistic conv stack: forward + backward time, same weights.

Two tables (TensorFlow backend):

* ``block``: the first stage alone (Conv1D(50, 8) + ReLU + max pooling /10 over
  1500 frames of 2205 samples), written five ways: ``conv-relu-pool`` (Conv1D with its
  ReLU, then MaxPool: the original layer), ``pool-first`` (conv, MaxPool, then bias and
  ReLU), ``im2col`` (8 shifted copies, one matmul, reshape + max), ``toeplitz`` (17-sample
  patches every 10 samples times a 17 x 500 banded matrix: all 10 pooling phases in one
  matmul) and ``conv2d`` (the same as a Conv2D of height 1). Each checked against the
  first (max abs difference printed).
* ``layer``: the whole ``ConvParalinguistic`` at batch 5 x 300 frames: the original
  formulation (Keras ``Conv1D(relu) -> MaxPooling1D -> Dropout`` per stage) against the
  layer as it runs now, with the im2col rule for no stage, the first stage only, or all.

Each with ``jit_compile`` off and on, for each ``--precision``.

Usage:
    python benchmarks/conv_variants.py --table block
    python benchmarks/conv_variants.py --table layer --precision float32,mixed_bfloat16
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine  # noqa: E402


def _time(fn, steps=3):
    fn()
    fn()
    ts = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def block_table(frames, steps):
    import numpy as np
    import tensorflow as tf

    spf = 2205
    rng = np.random.default_rng(0)
    x = tf.constant((rng.standard_normal((frames, spf)) * 0.1).astype("float32"))
    w = tf.Variable((rng.standard_normal((8, 1, 50)) * 0.3).astype("float32"))
    b = tf.Variable((rng.standard_normal((50,)) * 0.1).astype("float32"))

    def conv_relu_pool(x):
        y = tf.nn.relu(tf.nn.conv1d(x[:, :, None], w, 1, "SAME") + b)
        return tf.nn.max_pool1d(y, 10, 10, "VALID")

    def pool_first(x):
        y = tf.nn.max_pool1d(tf.nn.conv1d(x[:, :, None], w, 1, "SAME"), 10, 10, "VALID")
        return tf.nn.relu(y + b)

    def im2col(x):
        xp = tf.pad(x, [[0, 0], [3, 4]])
        p = tf.stack([xp[:, k : k + 2200] for k in range(8)], axis=-1)
        y = tf.reduce_max(tf.reshape(tf.matmul(p, w[:, 0, :]), (frames, 220, 10, 50)), axis=2)
        return tf.nn.relu(y + b)

    def toeplitz(x):
        xp = tf.pad(x, [[0, 0], [3, 14]])
        p = tf.stack([xp[:, j : j + 2200 : 10] for j in range(17)], axis=-1)
        band = tf.stack([tf.pad(w[:, 0, :], [[q, 9 - q], [0, 0]]) for q in range(10)], axis=1)
        y = tf.matmul(tf.reshape(p, (-1, 17)), tf.reshape(band, (17, 500)))
        return tf.nn.relu(tf.reduce_max(tf.reshape(y, (frames, 220, 10, 50)), axis=2) + b)

    def conv2d(x):
        y = tf.nn.conv2d(tf.reshape(x, (frames, 1, spf, 1)), w[None], 1, "SAME")
        y = tf.nn.max_pool2d(y, (1, 10), (1, 10), "VALID")
        return tf.nn.relu(tf.reshape(y, (frames, 220, 50)) + b)

    variants = {
        "conv-relu-pool": conv_relu_pool,
        "pool-first": pool_first,
        "im2col": im2col,
        "toeplitz": toeplitz,
        "conv2d": conv2d,
    }
    want = conv_relu_pool(x).numpy()
    for jit in (False, True):
        for name, f in variants.items():

            @tf.function(jit_compile=jit)
            def step(f=f):
                with tf.GradientTape() as tape:
                    y = f(x)
                    s = tf.reduce_sum(y * y)
                return y, tape.gradient(s, [w, b])

            err = float(np.abs(step()[0].numpy() - want).max())
            t = _time(lambda: step()[1][0].numpy(), steps)
            emit(
                {
                    "table": "block",
                    "variant": name,
                    "jit_compile": jit,
                    "fwd_bwd_ms": round(1e3 * t, 1),
                    "max_abs_diff": err,
                    "loadavg": open("/proc/loadavg").read().split()[:3],
                }
            )


def layer_table(precisions, steps, batch=5, frames=300):
    import keras
    import numpy as np
    import tensorflow as tf

    import semser_tf.layers.conv_paralinguistic as cp
    from semser_tf.layers import ConvParalinguistic

    rng = np.random.default_rng(0)
    x = tf.constant((rng.standard_normal((batch, frames, 2205)) * 0.1).astype("float32"))

    def original():
        seq = keras.Sequential(
            [keras.Input((2205, 1))]
            + [
                layer
                for f, k, p in ((50, 8, 10), (125, 6, 5), (250, 6, 5))
                for layer in (
                    keras.layers.Conv1D(f, k, padding="same", activation="relu"),
                    keras.layers.MaxPooling1D(p),
                    keras.layers.Dropout(0.5),
                )
            ]
        )
        return lambda x, training: tf.reshape(
            seq(tf.reshape(x, (-1, 2205, 1)), training=training), (batch, frames, -1)
        ), seq

    for precision in precisions:
        keras.mixed_precision.set_global_policy(precision)
        for jit in (False, True):
            for name, depth in (
                ("original: Conv1D(relu) -> MaxPooling1D", None),
                ("new, conv everywhere", 0),
                ("new, im2col first conv", 64),
                ("new, im2col every conv", 10**6),
            ):
                if depth is None:
                    fn, holder = original()
                else:
                    cp._IM2COL_MAX_DEPTH = {"float32": depth, "bfloat16": depth}
                    holder = ConvParalinguistic()
                    holder.build(x.shape)
                    fn = holder

                @tf.function(jit_compile=jit)
                def step(fn=fn, holder=holder):
                    with tf.GradientTape() as tape:
                        s = tf.reduce_sum(tf.cast(fn(x, training=True), tf.float32))
                    return tape.gradient(s, holder.trainable_weights)

                t = _time(lambda: step()[0].numpy(), steps)
                emit(
                    {
                        "table": "layer",
                        "variant": name,
                        "precision": precision,
                        "jit_compile": jit,
                        "fwd_bwd_ms": round(1e3 * t, 1),
                        "loadavg": open("/proc/loadavg").read().split()[:3],
                    }
                )
    keras.mixed_precision.set_global_policy("float32")


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--table", choices=("block", "layer"), default="layer")
    p.add_argument("--precision", default="float32")
    p.add_argument("--frames", type=int, default=1500, help="frames of the block table")
    p.add_argument("--batch", type=int, default=5, help="layer table: windows")
    p.add_argument(
        "--sequence-length", type=int, default=300, help="layer table: frames per window"
    )
    p.add_argument("--steps", type=int, default=3)
    args = p.parse_args()
    if args.table == "block":
        block_table(args.frames, args.steps)
    else:
        layer_table(
            [x.strip() for x in args.precision.split(",")],
            args.steps,
            args.batch,
            args.sequence_length,
        )
    emit({"machine": machine()})


if __name__ == "__main__":
    main()
