"""Where a training step spends its time: forward + backward of each part in isolation.

Builds the model of a variant (attention by default) at the benchmark's shapes, then times,
for each part on its own, one forward pass and the gradients of a scalar of its output
with respect to its inputs and weights (a ``tf.function`` around a ``GradientTape``),
with and without XLA. Parts: the three conv / pool / dropout stages of
``ConvParalinguistic`` (each conv + ReLU and each pooling separately), the fusion layers,
the LSTM, the output Dense, the CCC loss, and the Adam update of all weights. The whole
train step (``train_on_batch``) is timed last for comparison. Prints one JSON line per
part and a table (``--markdown``) for docs/measurements/benchmarks.md.

TensorFlow backend only (it uses ``tf.GradientTape``).

Usage:
    python benchmarks/profile_layers.py --batch 5 --sequence-length 300 --markdown
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_shape_args, emit, machine, median_time  # noqa: E402


def _timer(fn, inputs, weights, jit, input_grads=True):
    import tensorflow as tf

    @tf.function(jit_compile=jit)
    def step(*xs):
        with tf.GradientTape() as tape:
            if input_grads:
                tape.watch(xs)
            y = fn(*xs)
            y = tf.nest.flatten(y)
            s = tf.add_n([tf.reduce_sum(tf.cast(t, tf.float32) * 1e-3) for t in y])
        grads = tape.gradient(s, (list(xs) if input_grads else []) + list(weights))
        return [g for g in grads if g is not None]

    return lambda: [g.numpy() for g in step(*inputs)][:0]


def profile(variant, batch, frames, steps, precision, jits=(False, True)):
    import keras
    import numpy as np
    import tensorflow as tf

    import semser_tf.layers.conv_paralinguistic as cp
    from semser_tf.constants import SAMPLE_RATE, SAMPLES_PER_FRAME
    from semser_tf.losses import CCCLoss
    from semser_tf.models import ModelConfig, build_model, compile_model, select_inputs

    if precision != "float32":
        keras.mixed_precision.set_global_policy(precision)
    config = ModelConfig(variant=variant, batch_size=batch, sequence_length=frames)
    keras.utils.set_random_seed(config.seed)  # build_model leaves seeding to its caller
    model = build_model(config)
    rng = np.random.default_rng(0)
    n = batch * frames

    def rand(*shape, scale=1.0):
        return tf.constant((rng.standard_normal(shape) * scale).astype("float32"))

    parts = []  # (name, callable, inputs, weights)
    if variant in ("paralinguistic", "concat", "attention"):
        conv = model.get_layer("paralinguistic")
        length, channels = SAMPLES_PER_FRAME, 1
        for i, (c, p) in enumerate(zip(conv.convs, conv.pools)):
            x = rand(n, length, channels, scale=0.1)
            parts.append(
                (
                    f"conv{i} {length}x{channels}->{c.filters} k{c.kernel_size[0]} + relu",
                    lambda x, c=c: c(x),
                    [x],
                    c.trainable_weights,
                )
            )
            y = rand(n, length, c.filters)
            parts.append(
                (
                    f"maxpool{i} /{p.pool_size[0]} ({length}x{c.filters})",
                    lambda y, p=p: p(y),
                    [y],
                    [],
                )
            )
            length //= p.pool_size[0]
            channels = c.filters
            z = rand(n, length, channels)
            d = conv.dropouts[i]
            parts.append(
                (f"dropout{i} ({length}x{channels})", lambda z, d=d: d(z, training=True), [z], [])
            )
        # The stages as the layer runs them: conv of the kept outputs -> max over whole
        # windows -> bias -> ReLU -> dropout (what replaced the rows above).
        plan = conv._plan(SAMPLES_PER_FRAME)
        length, channels = SAMPLES_PER_FRAME, 1
        for i, (c, step) in enumerate(zip(conv.convs, plan)):
            x = rand(n, length, channels, scale=0.1)
            im2col = c.kernel_size[0] * channels <= cp._IM2COL_MAX_DEPTH.get(
                keras.backend.standardize_dtype(
                    keras.mixed_precision.global_policy().compute_dtype
                ),
                0,
            )
            parts.append(
                (
                    f"stage{i} as run: {'im2col matmul' if im2col else 'conv'} of {step[3]} steps -> "
                    f"max/{conv.pool_sizes[i]} -> bias, relu, dropout",
                    lambda x, i=i, step=step: conv._stage(i, step, x, training=True),
                    [x],
                    c.trainable_weights,
                )
            )
            length, channels = step[4], c.filters
        w = rand(batch, frames, SAMPLES_PER_FRAME, scale=0.1)
        parts.append(
            (
                "ConvParalinguistic (whole layer)",
                lambda w: conv(w, training=True),
                [w],
                conv.trainable_weights,
            )
        )
    feat = (
        model.get_layer("paralinguistic").compute_output_shape((batch, frames, SAMPLES_PER_FRAME))[
            -1
        ]
        if variant != "semantic"
        else None
    )
    if variant == "attention":
        f1 = model.get_layer("modality_attention")
        a, s = rand(batch, frames, feat), rand(batch, frames, config.semantic_dim)
        parts.append(
            (
                "CrossAttentionFusion(1024) (2000+100 -> 1024)",
                lambda a, s: f1([a, s])[0],
                [a, s],
                f1.trainable_weights,
            )
        )
        f2 = model.get_layer("avl_fusion")
        h = rand(batch, frames, config.fusion_units)
        parts.append(("HierarchicalAVLFusion(512)", lambda h: f2(h), [h], f2.trainable_weights))
    elif variant == "concat":
        f = model.get_layer("concat_fusion")
        a, s = rand(batch, frames, feat), rand(batch, frames, config.semantic_dim)
        parts.append(("ConcatFusion", lambda a, s: f([a, s]), [a, s], f.trainable_weights))
    lstm = model.get_layer("lstm")
    h = rand(batch, frames, lstm.input.shape[-1])
    parts.append(
        (
            f"LSTM({config.lstm_units}) over {frames} frames",
            lambda h: lstm(h),
            [h],
            lstm.trainable_weights,
        )
    )
    dense = model.get_layer("emotion")
    h = rand(batch, frames, config.lstm_units)
    parts.append(("Dense(3, tanh)", lambda h: dense(h), [h], dense.trainable_weights))
    loss = CCCLoss()
    yt = tf.constant(rng.uniform(-1, 1, (batch, frames, 3)).astype("float32"))
    yp = tf.constant(rng.uniform(-1, 1, (batch, frames, 3)).astype("float32"))
    parts.append(("CCC loss", lambda yp: loss(yt, yp), [yp], []))

    rows = []
    for jit in jits:
        for name, fn, inputs, weights in parts:
            # The waveform (the model's input) needs no gradient; every other input does.
            input_grads = not (name.startswith(("conv0", "stage0")) or "whole layer" in name)
            t = median_time(_timer(fn, inputs, weights, jit, input_grads), steps, warmup=2)
            rows.append({"part": name, "jit_compile": jit, "fwd_bwd_ms": round(1e3 * t, 1)})
            emit(rows[-1])
        # Adam update of every weight (what the optimizer adds to a step).
        opt = keras.optimizers.Adam(1e-4, clipnorm=config.clipnorm)
        grads = [
            tf.constant(rng.standard_normal(v.shape).astype("float32") * 1e-3)
            for v in model.trainable_variables
        ]
        opt.build(model.trainable_variables)

        @tf.function(jit_compile=jit)
        def apply():
            opt.apply(grads, model.trainable_variables)  # noqa: B023  (traced in this iteration)

        t = median_time(lambda: apply(), steps)
        rows.append(
            {
                "part": f"Adam + clipnorm ({model.count_params()} weights)",
                "jit_compile": jit,
                "fwd_bwd_ms": round(1e3 * t, 1),
            }
        )
        emit(rows[-1])
        # The whole training step, for comparison with the sum of the parts.
        keras.utils.set_random_seed(config.seed)
        m = compile_model(build_model(config), config, jit_compile=jit)
        x = select_inputs(
            m,
            {
                "waveform": (rng.standard_normal((batch, frames, SAMPLES_PER_FRAME)) * 0.1).astype(
                    "float32"
                ),
                "semantic": rng.standard_normal((batch, frames, config.semantic_dim)).astype(
                    "float32"
                ),
            },
        )
        y = rng.uniform(-1, 1, (batch, frames, 3)).astype("float32")
        t = median_time(lambda: m.train_on_batch(x, y), steps)  # noqa: B023  (timed in this iteration)
        rows.append(
            {
                "part": "whole train step (train_on_batch)",
                "jit_compile": jit,
                "fwd_bwd_ms": round(1e3 * t, 1),
                "train_audio_s_per_s": round(n * SAMPLES_PER_FRAME / SAMPLE_RATE / t, 1),
            }
        )
        emit(rows[-1])
    return rows


def markdown(rows):
    names = list(dict.fromkeys(r["part"] for r in rows))
    jits = list(dict.fromkeys(r["jit_compile"] for r in rows))
    get = {(r["part"], r["jit_compile"]): r["fwd_bwd_ms"] for r in rows}
    whole = {j: get[("whole train step (train_on_batch)", j)] for j in jits}
    head = " | ".join(f"fwd+bwd ms ({'XLA' if j else 'no XLA'}) | share" for j in jits)
    lines = [f"| part | {head} |", "|---|" + "---:|---:|" * len(jits)]
    for name in names:
        cells = []
        for j in jits:
            v = get[(name, j)]
            share = "" if "whole" in name else f"{100 * v / whole[j]:.0f} %"
            cells.append(f"{v} | {share}")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_shape_args(p)
    p.add_argument("--precision", default="float32")
    p.add_argument(
        "--jit", default="false,true", help="jit_compile settings to profile (comma-separated)"
    )
    p.add_argument("--markdown", action="store_true", help="also print a markdown table")
    args = p.parse_args()
    jits = [{"true": True, "false": False}[j.strip().lower()] for j in args.jit.split(",")]
    rows = profile(args.variant, args.batch, args.sequence_length, args.steps, args.precision, jits)
    emit({"machine": machine(), "loadavg": open("/proc/loadavg").read().split()[:3]})
    if args.markdown:
        print(markdown(rows))


if __name__ == "__main__":
    main()
