"""The yardstick of the speed benchmarks: the paper's attention model in plain Keras.

Tzirakis et al., "Speech Emotion Recognition Using Semantic Information" (ICASSP 2021), in
the configuration of the authors' public code (glam-imperial/semantic_speech_emotion_recognition):
three Conv1D(50/125/250, kernel 8/6/6) + MaxPool(10/5/5) + Dropout(0.5) blocks over the raw
22 050 Hz waveform, the pooled steps of each 100 ms frame flattened; attention fusion of that
with 100-d word embeddings (both projected to 1024, a Dense(1) score per modality scaled by
1/sqrt(d), softmax over the two); three Dense(512) streams fused hierarchically (arousal
with liking, then with valence); LSTM(256); Dense(3, tanh); a CCC loss over batch and time;
Adam 1e-4 with clipnorm 5. Written with plain Keras layers only, none of semser_tf's code, so
that the benchmarks compare the package with a straightforward implementation of the same
model on the same machine and backend.

Usage (one JSON line: train step and inference speed on random data)::

    B=5 T=300 STEPS=5 python benchmarks/reference_model.py keras      # JIT=0 turns XLA off

From Python: ``build(batch, frames)`` returns ``(model, [waveform, semantic], labels)``.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

SR, SPF = 22050, 2205  # sample rate, samples per 100 ms label frame
EMB = 100  # word-embedding dimension
CONV = ((50, 8, 10), (125, 6, 5), (250, 6, 5))  # filters, kernel, pool
POOL = 10 * 5 * 5


def _data(batch, frames):
    rng = np.random.default_rng(0)
    wav = (rng.standard_normal((batch, frames * SPF)) * 0.1).astype("float32")
    sem = rng.standard_normal((batch, frames, EMB)).astype("float32")
    y = rng.uniform(-1, 1, (batch, frames, 3)).astype("float32")
    return wav, sem, y


def build(batch: int = 5, frames: int = 300, jit="auto"):
    """The compiled reference model and a random batch for it."""
    import keras
    from keras import layers, ops

    per = (SPF * frames // POOL) // frames  # pooled steps per frame after cropping

    def attention(a, b, d):
        if a.shape[-1] != b.shape[-1]:
            a, b = layers.Dense(d, activation="relu")(a), layers.Dense(d, activation="relu")(b)
        stacked = ops.stack([a, b], axis=2)  # (B, T, 2, d)
        weights = ops.softmax(layers.Dense(1)(stacked) / np.sqrt(stacked.shape[-1]), axis=2)
        return ops.sum(stacked * weights, axis=2)

    w_in, s_in = keras.Input((frames * SPF,)), keras.Input((frames, EMB))
    x = layers.Reshape((frames * SPF, 1))(w_in)
    for filters, kernel, pool in CONV:
        x = layers.Conv1D(filters, kernel, padding="same", activation="relu")(x)
        x = layers.Dropout(0.5)(layers.MaxPooling1D(pool)(x))
    x = layers.Reshape((frames, per * CONV[-1][0]))(x[:, : per * frames])
    fused = attention(x, s_in, 1024)
    a, v, lang = (layers.Dense(512, activation="relu")(fused) for _ in range(3))
    h = layers.LSTM(256, return_sequences=True)(attention(attention(a, lang, 512), v, 512))
    model = keras.Model([w_in, s_in], layers.Dense(3, activation="tanh")(h))

    def ccc_loss(yt, yp):
        mt, mp = ops.mean(yt, axis=(0, 1)), ops.mean(yp, axis=(0, 1))
        vt, vp = ops.var(yt, axis=(0, 1)), ops.var(yp, axis=(0, 1))
        cov = ops.mean((yt - mt) * (yp - mp), axis=(0, 1))
        return 1 - ops.mean(2 * cov / (vt + vp + (mt - mp) ** 2))

    model.compile(keras.optimizers.Adam(1e-4, clipnorm=5.0), loss=ccc_loss, jit_compile=jit)
    wav, sem, y = _data(batch, frames)
    return model, [wav, sem], y


def _median_seconds(fn, steps):
    fn(), fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["keras"]:
        print(
            "usage: reference_model.py keras   (environment: B, T, STEPS, JIT=0 for no XLA)",
            file=sys.stderr,
        )
        return 2
    import keras

    batch, frames = int(os.environ.get("B", 5)), int(os.environ.get("T", 300))
    steps = int(os.environ.get("STEPS", 5))
    jit = False if os.environ.get("JIT") == "0" else os.environ.get("JIT", "auto")
    model, x, y = build(batch, frames, jit)
    step_s = _median_seconds(lambda: model.train_on_batch(x, y), steps)
    infer_s = _median_seconds(lambda: model.predict_on_batch(x), steps)
    audio = batch * frames * SPF / SR
    print(
        json.dumps(
            {
                "impl": f"keras-{keras.backend.backend()} params={model.count_params()}",
                "B": batch,
                "T": frames,
                "train_step_s": round(step_s, 4),
                "train_audio_s_per_s": round(audio / step_s, 1),
                "infer_audio_s_per_s": round(audio / infer_s, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
