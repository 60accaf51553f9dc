"""A run's recorded settings: the model's architecture plus its training, and their presets.

:class:`ModelConfig` is what a training run records (``config.json``'s ``model``): the
architecture (:meth:`ModelConfig.architecture`, the keyword arguments of
:class:`~semser_tf.models.SemserModel`, whose ``get_config()`` holds the architecture only)
and the training settings (:meth:`ModelConfig.training_config`, a :class:`TrainingConfig`).
"""

from __future__ import annotations

import dataclasses
import json
import numbers
from dataclasses import dataclass

from semser_tf.constants import DEFAULT_TARGETS, SAMPLES_PER_FRAME
from semser_tf.errors import ConfigError

VARIANTS = ("paralinguistic", "semantic", "concat", "attention")
"""The paper's ablation: each branch alone, concatenation, and attention fusion."""

ARCHITECTURE_FIELDS = (
    "variant",
    "targets",
    "samples_per_frame",
    "semantic_dim",
    "conv_filters",
    "conv_kernel_sizes",
    "conv_pool_sizes",
    "frame_pooling",
    "dropout",
    "fusion_units",
    "stream_units",
    "lstm_units",
    "attention_scoring",
    "attention_evidence",
)
"""The fields of :class:`ModelConfig` that define the network (``SemserModel``'s arguments)."""

ATTENTION_SCORINGS = ("official", "temperature", "per_modality", "gate")
"""``attention_scoring`` values: how the attention variant's modality fusion scores the two
modalities (``CrossAttentionFusion``'s ``scoring``; ``official`` is the official code's formula)."""

ATTENTION_EVIDENCE = ("none", "feature", "mask")
"""``attention_evidence`` values: what the modality fusion does on frames whose semantic
vector is all zeros (no word spoken): ``CrossAttentionFusion``'s ``evidence``."""

TRAINING_FIELDS = (
    "sequence_length",
    "batch_size",
    "learning_rate",
    "clipnorm",
    "target_weights",
    "seed",
)
"""The fields of :class:`ModelConfig` that define its training (:class:`TrainingConfig`)."""


def derived_samples_per_frame(speaker_slots: bool) -> int:
    """Waveform samples per 100 ms label frame as the loader yields them.

    2205 (22050 Hz x 100 ms); with the official two-slot layout (``speaker_slots``) two
    slots of 2205: 4410.

    >>> derived_samples_per_frame(False), derived_samples_per_frame(True)
    (2205, 4410)
    """
    return SAMPLES_PER_FRAME * (2 if speaker_slots else 1)


@dataclass(frozen=True)
class TrainingConfig:
    """The training settings of a run (the model's architecture is not in it).

    Args:
        sequence_length: frames per training window (300 = 30 s).
        batch_size: windows per batch.
        learning_rate: Adam learning rate.
        clipnorm: gradient norm clip, ``None`` for none.
        target_weights: loss weight per target, ``None`` for equal weights.
        seed: the run's seed (set once per run by the caller, never inside the library).

    Example:

    >>> ModelConfig(batch_size=5).training_config().batch_size
    5
    """

    sequence_length: int = 300
    batch_size: int = 25
    learning_rate: float = 1e-4
    clipnorm: float | None = 5.0
    target_weights: tuple[float, ...] | None = None
    seed: int = 0

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


@dataclass
class ModelConfig:
    """A run's recorded settings: the model's architecture and its training.

    :meth:`architecture` gives the network's part (the arguments of
    :class:`~semser_tf.models.SemserModel`, whose own config holds only these),
    :meth:`training_config` the training's (:class:`TrainingConfig`); ``speaker_slots`` is
    the loader's frame layout, from which ``samples_per_frame`` is derived.

    The defaults are the paper's (Adam 1e-4, batch 25, 300 frames, dropout 0.5, gradient
    norm clip 5.0, equal target weights). ``ModelConfig.preset("official")`` gives the
    public TensorFlow 1 code's values instead (lr 5e-4, batch 5, 100 frames, no clipping,
    targets weighted 1, 1/2, 1/3).

    Args:
        variant: one of ``paralinguistic``, ``semantic``, ``concat``, ``attention``.
        targets: names of the predicted dimensions, in output order.
        samples_per_frame: waveform samples per label frame; ``None`` (default) derives it
            from ``speaker_slots``: 2205, or 4410 with speaker slots, as the loader yields.
            A value that contradicts ``speaker_slots`` is a ``ConfigError``.
        semantic_dim: size of the per-frame semantic vectors.
        conv_filters: filters of each convolution of the paralinguistic stack.
        conv_kernel_sizes: kernel size of each convolution.
        conv_pool_sizes: max-pooling size after each convolution.
        frame_pooling: how each frame's pooled steps become a vector (see ConvParalinguistic).
        dropout: dropout rate of the paralinguistic stack.
        fusion_units: projection size of the fusion layers (1024).
        stream_units: size of the a/v/l streams and of the concatenation output (512).
        lstm_units: size of the single LSTM (256).
        attention_scoring: attention variant: how the modality fusion scores the waveform
            and semantic features, one of ``ATTENTION_SCORINGS`` (``official``: the official
            code's shared ``Dense(1)`` scaled by ``1/sqrt(d)``; ``temperature``,
            ``per_modality``, ``gate``: see ``CrossAttentionFusion``).
        attention_evidence: attention variant: ``none``, ``feature`` (whether a frame's
            semantic vector is non-zero is a scorer input) or ``mask`` (a frame without a
            non-zero semantic vector takes the waveform alone).
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
    targets: tuple[str, ...] = DEFAULT_TARGETS
    samples_per_frame: int | None = None
    semantic_dim: int = 100
    conv_filters: tuple[int, ...] = (50, 125, 250)
    conv_kernel_sizes: tuple[int, ...] = (8, 6, 6)
    conv_pool_sizes: tuple[int, ...] = (10, 5, 5)
    frame_pooling: str = "flatten"
    dropout: float = 0.5
    fusion_units: int = 1024
    stream_units: int = 512
    lstm_units: int = 256
    attention_scoring: str = "official"
    attention_evidence: str = "mask"
    sequence_length: int = 300
    batch_size: int = 25
    learning_rate: float = 1e-4
    clipnorm: float | None = 5.0
    target_weights: tuple[float, ...] | None = None
    speaker_slots: bool = False
    seed: int = 0

    def __post_init__(self):
        self._check()

    # -- validation ---------------------------------------------------------------------
    def _check(self, where="ModelConfig", slots_rule=True):
        def fail(name, expected):
            raise ConfigError(f"{where}.{name}: expected {expected}, got {getattr(self, name)!r}.")

        def pos_int(name):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                fail(name, "a positive integer")

        def int_tuple(name):
            v = getattr(self, name)
            if (
                isinstance(v, (str, bytes))
                or not isinstance(v, (list, tuple))
                or not v
                or any(
                    isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < 1 for x in v
                )
            ):
                fail(name, "a non-empty list of positive integers")
            setattr(self, name, tuple(int(x) for x in v))

        if self.variant not in VARIANTS:
            fail("variant", "one of " + ", ".join(VARIANTS))
        if (
            isinstance(self.targets, str)
            or not isinstance(self.targets, (list, tuple))
            or not self.targets
            or not all(isinstance(t, str) and t for t in self.targets)
        ):
            fail("targets", "a non-empty list of target names (strings)")
        if len(set(self.targets)) != len(self.targets):
            fail("targets", "distinct names")
        self.targets = tuple(self.targets)
        if not isinstance(self.speaker_slots, bool):
            fail("speaker_slots", "true or false")
        expected = derived_samples_per_frame(self.speaker_slots)
        if not slots_rule:
            pass
        elif self.samples_per_frame is None:
            self.samples_per_frame = expected
        elif (
            isinstance(self.samples_per_frame, numbers.Integral)
            and not isinstance(self.samples_per_frame, bool)
            and self.samples_per_frame != expected
        ):
            raise ConfigError(
                f"ModelConfig.samples_per_frame: {self.samples_per_frame} contradicts speaker_slots="
                f"{self.speaker_slots}: the loader yields {expected} samples per frame "
                f"({'two speaker slots of ' + str(SAMPLES_PER_FRAME) if self.speaker_slots else '100 ms at 22050 Hz'}); "
                "leave samples_per_frame unset to derive it."
            )
        for name in (
            "samples_per_frame",
            "semantic_dim",
            "fusion_units",
            "stream_units",
            "lstm_units",
            "sequence_length",
            "batch_size",
        ):
            pos_int(name)
        for name in ("conv_filters", "conv_kernel_sizes", "conv_pool_sizes"):
            int_tuple(name)
        if not len(self.conv_filters) == len(self.conv_kernel_sizes) == len(self.conv_pool_sizes):
            fail("conv_filters", "as many entries as conv_kernel_sizes and conv_pool_sizes")
        if self.frame_pooling not in ("flatten", "mean", "max"):
            fail("frame_pooling", "'flatten', 'mean' or 'max'")
        if self.attention_scoring not in ATTENTION_SCORINGS:
            fail("attention_scoring", "one of " + ", ".join(ATTENTION_SCORINGS))
        if self.attention_evidence not in ATTENTION_EVIDENCE:
            fail("attention_evidence", "one of " + ", ".join(ATTENTION_EVIDENCE))
        if (
            isinstance(self.dropout, bool)
            or not isinstance(self.dropout, numbers.Real)
            or not 0 <= self.dropout < 1
        ):
            fail("dropout", "a number in [0, 1)")
        if (
            isinstance(self.learning_rate, bool)
            or not isinstance(self.learning_rate, numbers.Real)
            or self.learning_rate <= 0
        ):
            fail("learning_rate", "a positive number")
        if self.clipnorm is not None and (
            isinstance(self.clipnorm, bool)
            or not isinstance(self.clipnorm, numbers.Real)
            or self.clipnorm <= 0
        ):
            fail("clipnorm", "a positive number or null")
        if self.target_weights is not None:
            tw = self.target_weights
            if (
                isinstance(tw, (str, bytes))
                or not isinstance(tw, (list, tuple))
                or len(tw) != len(self.targets)
                or any(isinstance(x, bool) or not isinstance(x, numbers.Real) or x < 0 for x in tw)
            ):
                fail(
                    "target_weights",
                    f"null or {len(self.targets)} non-negative numbers (one per target)",
                )
            self.target_weights = tuple(float(x) for x in tw)
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral):
            fail("seed", "an integer")
        steps = self.samples_per_frame
        for p in self.conv_pool_sizes:
            steps //= p
        if steps < 1:
            fail(
                "conv_pool_sizes",
                f"a total pooling of at most samples_per_frame={self.samples_per_frame}",
            )

    # -- construction -------------------------------------------------------------------
    @classmethod
    def fields(cls):
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: dict, source: str = "config", recorded: bool = False) -> ModelConfig:
        """A config from a dict; unknown keys are an error naming them and the valid ones.

        ``recorded``: the dict is a run's recorded config (``config.json``): a field it
        lacks, because the run is older than the field, takes the value that run was
        trained with (:data:`LEGACY_VALUES`), not today's default.
        """
        if not isinstance(values, dict):
            raise ConfigError(
                f"{source}: expected a mapping of config fields, got {type(values).__name__}."
            )
        if recorded:
            values = {**LEGACY_VALUES, **values}
        unknown = sorted(set(values) - set(cls.fields()))
        if unknown:
            raise ConfigError(
                f"{source}: unknown config key(s) {', '.join(unknown)}; valid keys: "
                + ", ".join(cls.fields())
            )
        return cls(**values)

    @classmethod
    def preset(cls, name: str, **overrides) -> ModelConfig:
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

    def replace(self, **changes) -> ModelConfig:
        values = {**self.to_dict(), **changes}
        if "speaker_slots" in changes and "samples_per_frame" not in changes:
            values["samples_per_frame"] = None  # derived again from the new layout
        return ModelConfig.from_dict(values)

    def architecture(self) -> dict:
        """The keyword arguments of :class:`~semser_tf.models.SemserModel` (the network only).

        Example:

        >>> ModelConfig(lstm_units=8).architecture()["lstm_units"]
        8
        """
        return {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in self.to_dict().items()
            if k in ARCHITECTURE_FIELDS
        }

    def training_config(self) -> TrainingConfig:
        """The training settings (:class:`TrainingConfig`) of this config."""
        return TrainingConfig(**{k: getattr(self, k) for k in TRAINING_FIELDS})

    @classmethod
    def from_parts(
        cls, architecture: dict, training: TrainingConfig | None = None, speaker_slots: bool = False
    ) -> ModelConfig:
        """A config from an architecture dict (``SemserModel.get_config()`` accepted:
        ``name``, ``trainable``, ``dtype`` and ``with_weights_output`` are ignored) and a
        :class:`TrainingConfig`."""
        values = {k: v for k, v in architecture.items() if k in ARCHITECTURE_FIELDS}
        values.update((training or TrainingConfig()).to_dict())
        values["speaker_slots"] = speaker_slots
        return cls.from_dict(
            values, source="architecture", recorded=True
        )  # a saved model: its own values

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "config") -> ModelConfig:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{source}: not valid JSON ({err}).") from None
        return cls.from_dict(values, source=source)


def check_architecture(values: dict, where: str = "SemserModel") -> dict:
    """The architecture ``values`` (``ARCHITECTURE_FIELDS``) checked and normalised
    (tuples of ints, a tuple of targets), with the errors :class:`ModelConfig` gives.

    Raises:
        ConfigError: naming ``<where>.<field>`` and the expected form.
    """
    import types

    unknown = sorted(set(values) - set(ARCHITECTURE_FIELDS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown argument(s) {', '.join(unknown)}; "
            f"architecture fields: {', '.join(ARCHITECTURE_FIELDS)}"
        )
    defaults = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
    ns = types.SimpleNamespace(**{**defaults, **values})
    if ns.samples_per_frame is None:
        ns.samples_per_frame = SAMPLES_PER_FRAME
    ModelConfig._check(ns, where, slots_rule=False)
    return {k: getattr(ns, k) for k in ARCHITECTURE_FIELDS}


LEGACY_VALUES = {"attention_scoring": "official", "attention_evidence": "none"}
"""What runs recorded before these fields existed were trained with (the official formula,
no evidence handling); the default of ``attention_evidence`` is now ``mask``
(docs/measurements/results.md, "Modality weights")."""

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
