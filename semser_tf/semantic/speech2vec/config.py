"""The settings of a Speech2Vec model (Chung & Glass 2018), checked on construction."""

from __future__ import annotations

import dataclasses

import numpy as np

from semser_tf.errors import ConfigError
from semser_tf.semantic.mfcc import N_MFCC


@dataclasses.dataclass
class Speech2VecConfig:
    """Speech2Vec settings.

    Args:
        dim: embedding size (100; Speech2Vec used 50-300).
        hidden_units: LSTM units of the encoder (each direction) and decoder (128).
        window: skip-gram window in words (3).
        max_frames: longest MFCC sequence kept (100 frames = 1 s).
        epochs: training epochs (each samples one neighbour per word occurrence; 15).
        batch_size: pairs per step (64).
        learning_rate: Adam learning rate (2e-3).
        self_target: probability that a pair's target is the centre segment itself
            (0.9). 0 is the original skip-gram objective; on a small corpus whose words
            share contexts (a template grammar), that objective gives no reason to keep
            words apart and segment encodings lose word identity (held-out own-word
            nearest neighbour near chance); reconstructing the segment itself half the
            time keeps it (60 min synthetic corpus, held-out own-word accuracy: 0.5 -> 80 %
            after 30 epochs; 0.75 with cmvn -> 81 %; 0.9 with cmvn and mean pooling -> 84 %,
            after 10-15 epochs; 240 min corpus, the defaults: 0.75 -> 90.8 %, 0.9 -> 91.4 %).
            See docs/semantic.md.
        cmvn: per-recording cepstral mean and variance normalisation: the MFCCs of all
            word segments of one recording (one call of :meth:`Speech2Vec.encode_segments`)
            are normalised by their own per-coefficient mean and standard deviation before
            the global standardisation. Removes much of the speaker and channel.
        pooling: how the encoder summarises the BiLSTM: ``"mean"`` (mean of the outputs
            over the real frames, default: better word identity in our runs) or ``"last"``
            (final states of both directions, as Speech2Vec).
        deltas: extra encoder input channels: 0 (the 13 MFCCs only), 1 (+ deltas) or
            2 (+ deltas and delta-deltas), each the HTK regression over +-2 frames
            (:func:`add_deltas`). Input of the encoder only: the decoder still
            reconstructs the 13 MFCCs.
        speed_perturb: time-stretch augmentation of the encoder input during training:
            each centre segment's frames are resampled (linear interpolation) by a factor
            drawn uniformly from ``[1 - speed_perturb, 1 + speed_perturb]`` (0: off).
            The decoder target is not stretched.
        lr_decay: the learning rate is multiplied by this after every epoch (0.85; 1:
            constant). 240 min synthetic corpus, held-out own-word accuracy after 15
            epochs: 91.4 % (constant rate: see docs/measurements/results.md).
        seed: seeds the weights and the neighbour sampling.

    Example:
        >>> Speech2VecConfig().window
        3
    """

    dim: int = 100
    hidden_units: int = 128
    window: int = 3
    max_frames: int = 100
    epochs: int = 15
    batch_size: int = 64
    learning_rate: float = 2e-3
    self_target: float = 0.9
    cmvn: bool = True
    pooling: str = "mean"
    deltas: int = 0
    speed_perturb: float = 0.0
    lr_decay: float = 0.85
    seed: int = 0

    def validate(self) -> Speech2VecConfig:
        """Check the fields; raise :class:`ConfigError` naming the bad one."""
        for name in ("dim", "hidden_units", "window", "max_frames", "epochs", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"speech2vec.{name}: expected a positive integer, got {v!r}")
        if self.pooling not in ("last", "mean"):
            raise ConfigError(
                f"speech2vec.pooling: expected 'last' or 'mean', got {self.pooling!r}"
            )
        if not 0.0 <= self.self_target < 1.0:
            raise ConfigError(
                f"speech2vec.self_target: expected a value in [0, 1), got {self.self_target!r}"
            )
        if not self.learning_rate > 0:
            raise ConfigError(f"speech2vec.learning_rate: expected > 0, got {self.learning_rate!r}")
        if self.deltas not in (0, 1, 2) or isinstance(self.deltas, bool):
            raise ConfigError(f"speech2vec.deltas: expected 0, 1 or 2, got {self.deltas!r}")
        if not 0.0 <= self.speed_perturb < 1.0:
            raise ConfigError(
                f"speech2vec.speed_perturb: expected a value in [0, 1), got {self.speed_perturb!r}"
            )
        if not 0.0 < self.lr_decay <= 1.0:
            raise ConfigError(
                f"speech2vec.lr_decay: expected a value in (0, 1], got {self.lr_decay!r}"
            )
        return self

    @property
    def n_inputs(self) -> int:
        """Encoder input channels: 13 MFCCs times ``1 + deltas``."""
        return N_MFCC * (1 + int(self.deltas))
