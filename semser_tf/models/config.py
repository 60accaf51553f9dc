"""The model's configuration: the paper's defaults and the official code's preset."""

from __future__ import annotations

import dataclasses
import json
import numbers
from dataclasses import dataclass
from typing import Optional, Tuple

from semser_tf.constants import DEFAULT_TARGETS, SAMPLES_PER_FRAME
from semser_tf.errors import ConfigError

VARIANTS = ("paralinguistic", "semantic", "concat", "attention")
"""The paper's ablation: each branch alone, concatenation, and attention fusion."""


@dataclass
class ModelConfig:
    """Everything that defines a model and its training.

    The defaults are the paper's (Adam 1e-4, batch 25, 300 frames, dropout 0.5, gradient
    norm clip 5.0, equal target weights). ``ModelConfig.preset("official")`` gives the
    public TensorFlow 1 code's values instead (lr 5e-4, batch 5, 100 frames, no clipping,
    targets weighted 1, 1/2, 1/3).

    Args:
        variant: one of ``paralinguistic``, ``semantic``, ``concat``, ``attention``.
        targets: names of the predicted dimensions, in output order.
        samples_per_frame: waveform samples per label frame (2205; 4410 with speaker slots).
        semantic_dim: size of the per-frame semantic vectors.
        conv_filters, conv_kernel_sizes, conv_pool_sizes: the paralinguistic stack.
        frame_pooling: how each frame's pooled steps become a vector (see ConvParalinguistic).
        dropout: dropout rate of the paralinguistic stack.
        fusion_units: projection size of the fusion layers (1024).
        stream_units: size of the a/v/l streams and of the concatenation output (512).
        lstm_units: size of the single LSTM (256).
        sequence_length: frames per training window (300 = 30 s).
        batch_size: windows per batch.
        learning_rate: Adam learning rate.
        clipnorm: gradient norm clip, ``None`` for none.
        target_weights: loss weight per target, ``None`` for equal weights.
        speaker_slots: the official two-slot frame layout (see the data loader).
        seed: seed of weight initialisation and data shuffling.

    Example:

    >>> ModelConfig(variant="concat", batch_size=5).learning_rate
    0.0001
    """

    variant: str = "attention"
    targets: Tuple[str, ...] = DEFAULT_TARGETS
    samples_per_frame: int = SAMPLES_PER_FRAME
    semantic_dim: int = 100
    conv_filters: Tuple[int, ...] = (50, 125, 250)
    conv_kernel_sizes: Tuple[int, ...] = (8, 6, 6)
    conv_pool_sizes: Tuple[int, ...] = (10, 5, 5)
    frame_pooling: str = "flatten"
    dropout: float = 0.5
    fusion_units: int = 1024
    stream_units: int = 512
    lstm_units: int = 256
    sequence_length: int = 300
    batch_size: int = 25
    learning_rate: float = 1e-4
    clipnorm: Optional[float] = 5.0
    target_weights: Optional[Tuple[float, ...]] = None
    speaker_slots: bool = False
    seed: int = 0

    def __post_init__(self):
        self._check()

    # -- validation ---------------------------------------------------------------------
    def _check(self):
        def fail(name, expected):
            raise ConfigError(
                f"ModelConfig.{name}: expected {expected}, got {getattr(self, name)!r}."
            )

        def pos_int(name):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                fail(name, "a positive integer")

        def int_tuple(name):
            v = getattr(self, name)
            if isinstance(v, (str, bytes)) or not isinstance(v, (list, tuple)) or not v or any(
                isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < 1 for x in v
            ):
                fail(name, "a non-empty list of positive integers")
            setattr(self, name, tuple(int(x) for x in v))

        if self.variant not in VARIANTS:
            fail("variant", "one of " + ", ".join(VARIANTS))
        if isinstance(self.targets, str) or not isinstance(self.targets, (list, tuple)) or not self.targets or not all(
            isinstance(t, str) and t for t in self.targets
        ):
            fail("targets", "a non-empty list of target names (strings)")
        if len(set(self.targets)) != len(self.targets):
            fail("targets", "distinct names")
        self.targets = tuple(self.targets)
        for name in ("samples_per_frame", "semantic_dim", "fusion_units", "stream_units",
                     "lstm_units", "sequence_length", "batch_size"):
            pos_int(name)
        for name in ("conv_filters", "conv_kernel_sizes", "conv_pool_sizes"):
            int_tuple(name)
        if not len(self.conv_filters) == len(self.conv_kernel_sizes) == len(self.conv_pool_sizes):
            fail("conv_filters", "as many entries as conv_kernel_sizes and conv_pool_sizes")
        if self.frame_pooling not in ("flatten", "mean", "max"):
            fail("frame_pooling", "'flatten', 'mean' or 'max'")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, numbers.Real) or not 0 <= self.dropout < 1:
            fail("dropout", "a number in [0, 1)")
        if isinstance(self.learning_rate, bool) or not isinstance(self.learning_rate, numbers.Real) or self.learning_rate <= 0:
            fail("learning_rate", "a positive number")
        if self.clipnorm is not None and (
            isinstance(self.clipnorm, bool) or not isinstance(self.clipnorm, numbers.Real) or self.clipnorm <= 0
        ):
            fail("clipnorm", "a positive number or null")
        if self.target_weights is not None:
            tw = self.target_weights
            if isinstance(tw, (str, bytes)) or not isinstance(tw, (list, tuple)) or len(tw) != len(self.targets) or any(
                isinstance(x, bool) or not isinstance(x, numbers.Real) or x < 0 for x in tw
            ):
                fail("target_weights", f"null or {len(self.targets)} non-negative numbers (one per target)")
            self.target_weights = tuple(float(x) for x in tw)
        if not isinstance(self.speaker_slots, bool):
            fail("speaker_slots", "true or false")
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral):
            fail("seed", "an integer")
        steps = self.samples_per_frame
        for p in self.conv_pool_sizes:
            steps //= p
        if steps < 1:
            fail("conv_pool_sizes", f"a total pooling of at most samples_per_frame={self.samples_per_frame}")

    # -- construction -------------------------------------------------------------------
    @classmethod
    def fields(cls):
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> "ModelConfig":
        """A config from a dict; unknown keys are an error naming them and the valid ones."""
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: expected a mapping of config fields, got {type(values).__name__}.")
        unknown = sorted(set(values) - set(cls.fields()))
        if unknown:
            raise ConfigError(
                f"{source}: unknown config key(s) {', '.join(unknown)}; valid keys: "
                + ", ".join(cls.fields())
            )
        return cls(**values)

    @classmethod
    def preset(cls, name: str, **overrides) -> "ModelConfig":
        """A named preset (``paper`` or ``official``) with optional overrides.

        Example:

        >>> ModelConfig.preset("official").batch_size
        5
        """
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
        values = dict(PRESETS[name])
        values.update(overrides)
        return cls.from_dict(values, source=f"preset {name!r}")

    def replace(self, **changes) -> "ModelConfig":
        return ModelConfig.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "config") -> "ModelConfig":
        try:
            values = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{source}: not valid JSON ({err}).") from None
        return cls.from_dict(values, source=source)


PRESETS = {
    "paper": {},
    "official": {
        "learning_rate": 5e-4,
        "batch_size": 5,
        "sequence_length": 100,
        "clipnorm": None,
        "target_weights": (1.0, 1.0 / 2.0, 1.0 / 3.0),
    },
}
"""Named presets: field overrides of the paper defaults."""
