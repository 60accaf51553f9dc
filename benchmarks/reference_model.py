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

The same model in plain PyTorch (``torch``: the framework of many SER baselines; ``pip install
torch``, it is not one of the package's dependencies) gives a second yardstick outside Keras.
Its one difference: PyTorch's LSTM has two bias vectors where Keras's has one, 1 024 more
parameters (4 743 975 against 4 742 951). Keras's ``clipnorm`` clips each variable's gradient
on its own; the PyTorch step does the same.

Usage (one JSON line: train step and inference speed on random data)::

    B=5 T=300 STEPS=5 python benchmarks/reference_model.py keras      # JIT=0 turns XLA off
    B=5 T=300 STEPS=5 python benchmarks/reference_model.py torch      # THREADS=n sets torch's

From Python: ``build(batch, frames)`` returns ``(model, [waveform, semantic], labels)``;
``build_torch(batch, frames)`` returns ``(module, optimizer, [waveform, semantic], labels)``.
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


def build_torch(batch: int = 5, frames: int = 300):
    """The reference model in PyTorch, its optimizer and a random batch (as :func:`build`)."""
    import torch
    from torch import nn

    per = (SPF * frames // POOL) // frames

    class Attention(nn.Module):
        def __init__(self, da, db, d):
            super().__init__()
            self.proj = None if da == db else nn.ModuleList([nn.Linear(da, d), nn.Linear(db, d)])
            self.score = nn.Linear(d, 1)
            self.d = d

        def forward(self, a, b):
            if self.proj is not None:
                a, b = torch.relu(self.proj[0](a)), torch.relu(self.proj[1](b))
            stacked = torch.stack([a, b], dim=2)  # (B, T, 2, d)
            weights = torch.softmax(self.score(stacked) / np.sqrt(self.d), dim=2)
            return (stacked * weights).sum(dim=2)

    class Reference(nn.Module):
        def __init__(self):
            super().__init__()
            convs, c_in = [], 1
            for filters, kernel, pool in CONV:
                convs += [
                    nn.Conv1d(c_in, filters, kernel, padding="same"),
                    nn.ReLU(),
                    nn.MaxPool1d(pool),
                    nn.Dropout(0.5),
                ]
                c_in = filters
            self.conv = nn.Sequential(*convs)
            self.fuse = Attention(per * CONV[-1][0], EMB, 1024)
            self.streams = nn.ModuleList([nn.Linear(1024, 512) for _ in range(3)])
            self.fuse_al, self.fuse_v = Attention(512, 512, 512), Attention(512, 512, 512)
            self.lstm = nn.LSTM(512, 256, batch_first=True)
            self.out = nn.Linear(256, 3)

        def forward(self, wav, sem):
            x = self.conv(wav[:, None, :]).transpose(1, 2)  # (B, steps, channels), as Keras
            x = x[:, : per * frames].reshape(x.shape[0], frames, per * CONV[-1][0])
            fused = self.fuse(x, sem)
            a, v, lang = (torch.relu(s(fused)) for s in self.streams)
            h, _ = self.lstm(self.fuse_v(self.fuse_al(a, lang), v))
            return torch.tanh(self.out(h))

    torch.manual_seed(0)
    device = os.environ.get("DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    model = Reference().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    wav, sem, y = (torch.from_numpy(a).to(device) for a in _data(batch, frames))
    return model, opt, [wav, sem], y


def _torch_record(batch, frames, steps):
    import torch

    if os.environ.get("THREADS"):
        torch.set_num_threads(int(os.environ["THREADS"]))
    model, opt, (wav, sem), y = build_torch(batch, frames)

    def ccc_loss(yt, yp):
        mt, mp = yt.mean(dim=(0, 1)), yp.mean(dim=(0, 1))
        vt, vp = yt.var(dim=(0, 1), unbiased=False), yp.var(dim=(0, 1), unbiased=False)
        cov = ((yt - mt) * (yp - mp)).mean(dim=(0, 1))
        return 1 - (2 * cov / (vt + vp + (mt - mp) ** 2)).mean()

    def train_step():
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = ccc_loss(y, model(wav, sem))
        loss.backward()
        for p in model.parameters():  # per variable, as Keras's clipnorm
            torch.nn.utils.clip_grad_norm_([p], 5.0)
        opt.step()

    def infer():
        model.eval()
        with torch.inference_mode():
            model(wav, sem)

    def synced(fn):  # a GPU runs asynchronously: time to the end of its work
        def run():
            fn()
            if wav.is_cuda:
                torch.cuda.synchronize()

        return run

    step_s = _median_seconds(synced(train_step), steps)
    infer_s = _median_seconds(synced(infer), steps)
    params = sum(p.numel() for p in model.parameters())
    where = f"device={wav.device}" if wav.is_cuda else f"threads={torch.get_num_threads()}"
    return f"torch-{torch.__version__} {where} params={params}", step_s, infer_s


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
    if argv[:1] not in (["keras"], ["torch"]):
        print(
            "usage: reference_model.py keras|torch   (environment: B, T, STEPS; JIT=0 for no "
            "XLA in keras, THREADS=n for torch)",
            file=sys.stderr,
        )
        return 2
    batch, frames = int(os.environ.get("B", 5)), int(os.environ.get("T", 300))
    steps = int(os.environ.get("STEPS", 5))
    if argv[0] == "torch":
        impl, step_s, infer_s = _torch_record(batch, frames, steps)
    else:
        import keras

        jit = False if os.environ.get("JIT") == "0" else os.environ.get("JIT", "auto")
        model, x, y = build(batch, frames, jit)
        step_s = _median_seconds(lambda: model.train_on_batch(x, y), steps)
        infer_s = _median_seconds(lambda: model.predict_on_batch(x), steps)
        impl = f"keras-{keras.backend.backend()} params={model.count_params()}"
    audio = batch * frames * SPF / SR
    print(
        json.dumps(
            {
                "impl": impl,
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
