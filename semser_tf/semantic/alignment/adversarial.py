"""The adversarial stage of MUSE (Conneau et al. 2018; Keras 3 on the TensorFlow backend):
a discriminator tells mapped speech vectors from text vectors, the mapping learns to fool
it and is kept near orthogonal."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from semser_tf.errors import ConfigError
from semser_tf.semantic.alignment.refinement import unsupervised_criterion
from semser_tf.semantic.alignment.tables import _check_mapping, _pair

# ------------------------------------------------------------------ adversarial


@dataclasses.dataclass
class AdversarialConfig:
    """Settings of the adversarial stage (defaults: the paper / MUSE).

    Args:
        hidden_units: units of each discriminator hidden layer (2048).
        hidden_layers: number of hidden layers (2).
        input_dropout: dropout on the discriminator input (0.1).
        hidden_dropout: dropout after each hidden layer (0.0, MUSE).
        leaky_slope: LeakyReLU negative slope (0.2).
        smoothing: label smoothing (0.1): speech labelled ``1 - s``, text ``s``.
        dis_steps: discriminator steps per mapping step (5).
        learning_rate: SGD learning rate of both (0.1).
        batch_size: words per side per step (32).
        lr_decay: mapping learning-rate factor after each epoch (0.98).
        lr_shrink: factor applied when the criterion drops below the best (0.5).
        min_lr: lower bound of the learning rate.
        epochs: number of epochs.
        epoch_size: samples per epoch (MUSE: 1000000; each iteration consumes ``batch_size``).
        most_frequent: only the most frequent words are discriminated (75000, capped to
            each vocabulary).
        beta: orthogonalisation step, 0.01 (paper) or 0.001 (official code).
        n_criterion: source words of the model-selection criterion (10000, capped).
        csls_k: CSLS neighbourhood of the criterion.
        restarts: independent runs (seeds ``seed, seed + 1, ...``); the mapping with the
            best criterion over all of them is kept. Adversarial training sometimes lands
            in a wrong local optimum, which shows as a lower criterion.
        seed: seeds the weights, the sampling and the dropout.

    Example:
        >>> AdversarialConfig(epochs=2, epoch_size=3200).beta
        0.01
    """

    hidden_units: int = 2048
    hidden_layers: int = 2
    input_dropout: float = 0.1
    hidden_dropout: float = 0.0
    leaky_slope: float = 0.2
    smoothing: float = 0.1
    dis_steps: int = 5
    learning_rate: float = 0.1
    batch_size: int = 32
    lr_decay: float = 0.98
    lr_shrink: float = 0.5
    min_lr: float = 1e-6
    epochs: int = 5
    epoch_size: int = 1_000_000
    most_frequent: int = 75000
    beta: float = 0.01
    n_criterion: int = 10000
    csls_k: int = 10
    restarts: int = 1
    seed: int = 0

    def validate(self) -> AdversarialConfig:
        """Check the fields; raise :class:`ConfigError` naming the bad one."""
        for name in (
            "hidden_units",
            "hidden_layers",
            "dis_steps",
            "batch_size",
            "epochs",
            "epoch_size",
            "most_frequent",
            "n_criterion",
            "csls_k",
            "restarts",
        ):
            v = getattr(self, name)
            if int(v) != v or v < (0 if name == "hidden_layers" else 1):
                raise ConfigError(f"adversarial.{name}: expected a positive integer, got {v!r}")
        for name in ("input_dropout", "hidden_dropout", "smoothing"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise ConfigError(f"adversarial.{name}: expected a value in [0, 1), got {v!r}")
        for name in ("learning_rate", "lr_decay", "lr_shrink", "beta"):
            v = getattr(self, name)
            if not v > 0:
                raise ConfigError(f"adversarial.{name}: expected a positive number, got {v!r}")
        return self


class AdversarialResult(NamedTuple):
    """Outcome of :func:`adversarial_align`.

    Args:
        W: the mapping with the best criterion over the epochs.
        criterion: that criterion.
        history: one dict per epoch (epoch, criterion, learning rate, losses, seconds).
    """

    W: np.ndarray
    criterion: float
    history: list


def _build_discriminator(dim: int, cfg: AdversarialConfig):
    import keras

    layers = [keras.Input((dim,)), keras.layers.Dropout(cfg.input_dropout)]
    x = layers[0]
    x = layers[1](x)
    for _ in range(cfg.hidden_layers):
        x = keras.layers.Dense(cfg.hidden_units)(x)
        x = keras.layers.LeakyReLU(negative_slope=cfg.leaky_slope)(x)
        if cfg.hidden_dropout:
            x = keras.layers.Dropout(cfg.hidden_dropout)(x)
    out = keras.layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(layers[0], out, name="alignment_discriminator")


def adversarial_align(
    S,
    T,
    config: AdversarialConfig | None = None,
    W0=None,
    progress: Callable[[dict], None] | None = None,
) -> AdversarialResult:
    """Learn ``W`` adversarially (MUSE), without any dictionary; see :func:`_adversarial_once`.

    Runs ``config.restarts`` independent trainings (seeds ``seed + r``) and returns the
    one with the best unsupervised criterion; its history entries carry ``"restart"``.

    Args:
        S: source (speech) table, most frequent first.
        T: target (text) table, most frequent first, same dimension.
        config: :class:`AdversarialConfig`.
        W0: initial mapping (identity when ``None``).
        progress: called after every epoch with its history entry.

    Returns:
        :class:`AdversarialResult`.

    Example:
        >>> cfg = AdversarialConfig(hidden_units=64, epochs=1, epoch_size=320)  # doctest: +SKIP
        >>> res = adversarial_align(S, T, cfg)                                  # doctest: +SKIP
    """
    cfg = (config or AdversarialConfig()).validate()
    best = None
    for r in range(cfg.restarts):
        run_cfg = dataclasses.replace(cfg, seed=cfg.seed + r, restarts=1)

        def tagged(entry, r=r):
            entry["restart"] = r
            if progress:
                progress(entry)

        res = _adversarial_once(S, T, run_cfg, W0, tagged)
        if best is None or res.criterion > best.criterion:
            best = res
    return best


def _adversarial_once(
    S,
    T,
    config: AdversarialConfig | None = None,
    W0=None,
    progress: Callable[[dict], None] | None = None,
) -> AdversarialResult:
    """Learn ``W`` adversarially (MUSE), without any dictionary.

    Each iteration runs ``dis_steps`` discriminator steps, then one mapping step. A
    discriminator step samples ``batch_size`` words from each side among the
    ``most_frequent`` ones, maps the speech ones (``W s``) and minimises
    ``L_D = -1/n sum log P(speech=1 | W s_i) - 1/m sum log P(speech=0 | t_i)`` (with label
    smoothing). A mapping step minimises ``L_G``, the same loss with the labels flipped, over
    ``W`` only (discriminator in inference mode), then orthogonalises ``W``. After each epoch
    the unsupervised criterion is computed; the best mapping is kept; the learning rate is
    multiplied by ``lr_decay``, and by ``lr_shrink`` when the criterion fell below the best.

    Runs on the TensorFlow backend (``tf.GradientTape`` in a ``tf.function``). Arguments
    and result as :func:`adversarial_align` (one restart).
    """
    cfg = (config or AdversarialConfig()).validate()
    S, T = _pair(S, T)
    dim = S.shape[1]
    W_init = np.eye(dim) if W0 is None else _check_mapping(W0, dim)

    import keras
    import tensorflow as tf

    n_s = min(cfg.most_frequent, S.shape[0])
    n_t = min(cfg.most_frequent, T.shape[0])
    keras.utils.set_random_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    src = tf.constant(S[:n_s], dtype=tf.float32)
    tgt = tf.constant(T[:n_t], dtype=tf.float32)
    disc = _build_discriminator(dim, cfg)
    W = tf.Variable(W_init.astype(np.float32), name="mapping")
    lr = float(cfg.learning_rate)
    dis_opt = keras.optimizers.SGD(learning_rate=cfg.learning_rate)
    map_lr = tf.Variable(lr, dtype=tf.float32, trainable=False)
    bs = cfg.batch_size
    sm = cfg.smoothing
    y_dis = tf.constant(
        np.concatenate([np.full(bs, 1.0 - sm), np.full(bs, sm)])[:, None], tf.float32
    )
    y_map = 1.0 - y_dis
    beta = float(cfg.beta)
    bce = keras.losses.BinaryCrossentropy()
    dis_vars = disc.trainable_variables
    dis_opt.build(dis_vars)

    def batch(si, ti):
        xs = tf.matmul(tf.gather(src, si), W, transpose_b=True)
        return tf.concat([xs, tf.gather(tgt, ti)], axis=0)

    @tf.function(reduce_retracing=True)
    def dis_step(si, ti):
        x = tf.stop_gradient(batch(si, ti))
        with tf.GradientTape() as tape:
            loss = bce(y_dis, disc(x, training=True))
        grads = tape.gradient(loss, dis_vars)
        dis_opt.apply_gradients(zip(grads, dis_vars))
        return loss

    @tf.function(reduce_retracing=True)
    def map_step(si, ti):
        with tf.GradientTape() as tape:
            loss = bce(y_map, disc(batch(si, ti), training=False))
        g = tape.gradient(loss, W)
        W.assign_sub(map_lr * g)
        W.assign((1.0 + beta) * W - beta * tf.matmul(tf.matmul(W, W, transpose_b=True), W))
        return loss

    @tf.function(reduce_retracing=True)
    def iteration(si, ti):  # si, ti: (dis_steps + 1, bs)
        d = tf.constant(0.0)
        for j in range(cfg.dis_steps):
            d += dis_step(si[j], ti[j])
        g = map_step(si[cfg.dis_steps], ti[cfg.dis_steps])
        return d / cfg.dis_steps, g

    iters = max(1, cfg.epoch_size // bs)
    history = []
    best_W = W_init.astype(S.dtype)
    best_c = unsupervised_criterion(best_W, S, T, cfg.n_criterion, cfg.csls_k)
    history.append({"epoch": 0, "criterion": best_c, "learning_rate": lr})
    if progress:
        progress(history[-1])
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        dl = gl = 0.0
        for _ in range(iters):
            si = rng.integers(0, n_s, size=(cfg.dis_steps + 1, bs))
            ti = rng.integers(0, n_t, size=(cfg.dis_steps + 1, bs))
            d, g = iteration(tf.constant(si, tf.int32), tf.constant(ti, tf.int32))
            dl += float(d)
            gl += float(g)
        Wn = W.numpy().astype(S.dtype)
        crit = unsupervised_criterion(Wn, S, T, cfg.n_criterion, cfg.csls_k)
        entry = {
            "epoch": epoch,
            "criterion": crit,
            "learning_rate": lr,
            "dis_loss": dl / iters,
            "map_loss": gl / iters,
            "seconds": time.perf_counter() - t0,
        }
        history.append(entry)
        if crit > best_c:
            best_W, best_c = Wn, crit
        else:
            lr = max(cfg.min_lr, lr * cfg.lr_shrink)
        lr = max(cfg.min_lr, lr * cfg.lr_decay)
        map_lr.assign(lr)
        if progress:
            progress(entry)
    return AdversarialResult(best_W, float(best_c), history)
