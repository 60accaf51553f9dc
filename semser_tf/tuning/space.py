"""The search space of the paper's model and the objective of a search.

A :class:`SearchSpace` maps hyperparameter names to ranges and declares them on a
``keras_tuner.HyperParameters``; :func:`config_for` turns one trial's values into a
``ModelConfig``; :func:`make_objective` gives keras-tuner an explicit direction (CCC is
maximised). Nothing here imports TensorFlow or keras-tuner at module level.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

from semser_tf.errors import ConfigError
from semser_tf.models.config import VARIANTS, ModelConfig

DEFAULT_SPACE = {
    "conv_scale": {"values": [0.5, 1.0]},
    "fusion_units": {"values": [256, 512, 1024]},
    "stream_units": {"values": [128, 256, 512]},
    "lstm_units": {"values": [64, 128, 256]},
    "dropout": {"min": 0.2, "max": 0.6, "step": 0.1},
    "learning_rate": {"min": 1e-5, "max": 1e-3, "sampling": "log"},
    "sequence_length": {"values": [100, 200, 300]},
    "variant": {"values": ["concat", "attention"]},
}
"""The default search space around the paper's values (see :class:`SearchSpace`)."""

SPECIAL = {
    "conv_scale": "multiplies every entry of the base config's conv_filters (rounded, at least 1)"
}
_SEARCHABLE_FIELDS = (
    "variant",
    "fusion_units",
    "stream_units",
    "lstm_units",
    "dropout",
    "learning_rate",
    "sequence_length",
    "batch_size",
    "clipnorm",
    "frame_pooling",
    "seed",
)


# -- search space ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Param:
    name: str
    kind: str  # "choice", "int", "float", "fixed"
    values: tuple = ()
    min: float | None = None
    max: float | None = None
    step: float | None = None
    sampling: str = "linear"

    def declare(self, hp):
        if self.kind == "fixed":
            return hp.Fixed(self.name, self.values[0])
        if self.kind == "choice":
            return hp.Choice(self.name, list(self.values))
        if self.kind == "int":
            return hp.Int(
                self.name,
                int(self.min),
                int(self.max),
                step=int(self.step) if self.step else None,
                sampling=self.sampling,
            )
        return hp.Float(
            self.name, float(self.min), float(self.max), step=self.step, sampling=self.sampling
        )

    def to_spec(self):
        if self.kind in ("fixed", "choice"):
            return {"values": list(self.values)}
        spec = {"min": self.min, "max": self.max, "sampling": self.sampling}
        if self.step:
            spec["step"] = self.step
        return spec


@dataclass
class SearchSpace:
    """The hyperparameters searched and their ranges.

    Each entry maps a name to a range:

    - a list, or ``{"values": [...]}``: a choice among the values (one value: fixed);
    - ``{"min": a, "max": b}`` with optional ``"step"`` and ``"sampling"`` (``linear``,
      ``log`` or ``reverse_log``): an integer range when ``a``, ``b`` (and ``step``) are
      integers, otherwise a float range;
    - a single number or string: fixed.

    Names: ``conv_scale`` (multiplies the base config's ``conv_filters``: the size of the
    paralinguistic branch) and the ModelConfig fields ``variant``, ``fusion_units``,
    ``stream_units``, ``lstm_units``, ``dropout``, ``learning_rate``, ``sequence_length``,
    ``batch_size``, ``clipnorm``, ``frame_pooling``, ``seed``. Everything not searched
    comes from the base config.

    Args:
        params: the parsed entries (use :meth:`from_dict`).

    Example:

    >>> space = SearchSpace.from_dict({"lstm_units": [8, 16], "learning_rate": {"min": 1e-4, "max": 1e-2, "sampling": "log"}})
    >>> space.names()
    ['learning_rate', 'lstm_units']
    """

    params: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, spec: dict, source: str = "search space") -> SearchSpace:
        """Parse and check a search space; errors name the entry and the expected form.

        Args:
            spec: ``{name: range}`` (see the class doc).
            source: where the spec came from (a file name), used in error messages.
        """
        if not isinstance(spec, dict) or not spec:
            raise ConfigError(
                f"{source}: expected a non-empty mapping of hyperparameter ranges, got {spec!r}."
            )
        valid = sorted(set(_SEARCHABLE_FIELDS) | set(SPECIAL))
        params = {}
        for name, value in spec.items():
            where = f"{source}: {name!r}"
            if name not in valid:
                raise ConfigError(
                    f"{where}: not a searchable hyperparameter; valid names: {', '.join(valid)}."
                )
            params[name] = _parse_param(name, value, where)
        return cls(params)

    def names(self):
        return sorted(self.params)

    def to_dict(self):
        return {name: p.to_spec() for name, p in sorted(self.params.items())}

    def declare(self, hp) -> dict:
        """Declare every range on a ``keras_tuner.HyperParameters``; returns the values."""
        return {name: self.params[name].declare(hp) for name in self.names()}

    def check_against(self, base: ModelConfig, has_features: bool):
        """Every combination must make a valid ModelConfig with the base config.

        Args:
            base: the base config.
            has_features: whether frame features (aligned embeddings) are given.
        """
        variants = self._values("variant", base.variant)
        if "semantic" in variants and not has_features:
            raise ConfigError(
                "search space 'variant': the semantic variant needs frame features (--embeddings DIR); "
                "remove it from the choices or give embeddings."
            )
        # the extremes of each range with the base config: catches e.g. a dropout of 1
        for name, p in self.params.items():
            candidates = list(p.values) if p.kind in ("fixed", "choice") else [p.min, p.max]
            for v in candidates:
                try:
                    config_for(base, {name: v})
                except ConfigError as err:
                    raise ConfigError(
                        f"search space {name!r}: value {v!r} is not valid: {err}"
                    ) from None

    def _values(self, name, default):
        p = self.params.get(name)
        if p is None:
            return [default]
        return list(p.values)


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _parse_param(name, value, where) -> _Param:
    if isinstance(value, dict) and "values" not in value:
        unknown = sorted(set(value) - {"min", "max", "step", "sampling"})
        if unknown or "min" not in value or "max" not in value:
            raise ConfigError(
                f'{where}: expected {{"min": a, "max": b}} with optional "step" and "sampling", '
                f'or {{"values": [...]}}, got {value!r}.'
            )
        lo, hi, step = value["min"], value["max"], value.get("step")
        sampling = value.get("sampling", "linear")
        if (
            not _is_num(lo)
            or not _is_num(hi)
            or (step is not None and (not _is_num(step) or step <= 0))
        ):
            raise ConfigError(
                f"{where}: min and max must be numbers and step a positive number, got {value!r}."
            )
        if sampling not in ("linear", "log", "reverse_log"):
            raise ConfigError(
                f"{where}: sampling must be 'linear', 'log' or 'reverse_log', got {sampling!r}."
            )
        if not lo <= hi:
            raise ConfigError(f"{where}: empty range: min {lo!r} is greater than max {hi!r}.")
        if sampling != "linear" and lo <= 0:
            raise ConfigError(f"{where}: {sampling} sampling needs min > 0, got {lo!r}.")
        if name == "variant":
            raise ConfigError(
                f'{where}: a choice, e.g. {{"values": ["concat", "attention"]}}, not a range.'
            )
        if lo == hi:
            return _Param(name, "fixed", (lo,))
        kind = "int" if _is_int(lo) and _is_int(hi) and (step is None or _is_int(step)) else "float"
        return _Param(name, kind, min=lo, max=hi, step=step, sampling=sampling)
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"values"})
        if unknown:
            raise ConfigError(f'{where}: {{"values": [...]}} takes no other keys, got {unknown}.')
        value = value["values"]
    if isinstance(value, (list, tuple)):
        if not value:
            raise ConfigError(f"{where}: empty list of values; give at least one value.")
        if len(set(map(repr, value))) != len(value):
            raise ConfigError(f"{where}: repeated values in {list(value)!r}.")
        kinds = {type(v) for v in value}
        if not (all(isinstance(v, str) for v in value) or all(_is_num(v) for v in value)):
            raise ConfigError(
                f"{where}: values must be all numbers or all strings, got {list(value)!r}."
            )
        if name == "variant":
            bad = [v for v in value if v not in VARIANTS]
            if bad:
                raise ConfigError(
                    f"{where}: unknown variant(s) {bad}; variants: {', '.join(VARIANTS)}."
                )
        if len(kinds) > 1 and all(_is_num(v) for v in value):
            value = [float(v) for v in value]  # keras-tuner needs one type per Choice
        if len(value) == 1:
            return _Param(name, "fixed", (value[0],))
        return _Param(name, "choice", tuple(value))
    if isinstance(value, (str, numbers.Real)) and not isinstance(value, bool):
        return _Param(name, "fixed", (value,))
    raise ConfigError(
        f'{where}: expected a list of values, {{"min": a, "max": b}} or one value, got {value!r}.'
    )


def config_for(base: ModelConfig, values: dict) -> ModelConfig:
    """The ModelConfig of one trial: the base config with the trial's values.

    Args:
        base: the base config (everything not searched).
        values: hyperparameter values (keras-tuner's ``tuner/...`` entries are ignored).

    Example:

    >>> config_for(ModelConfig(conv_filters=(4, 4, 8)), {"conv_scale": 2.0, "lstm_units": 8}).conv_filters
    (8, 8, 16)
    """
    changes = {k: v for k, v in values.items() if not k.startswith("tuner/") and k != "conv_scale"}
    scale = values.get("conv_scale")
    if scale is not None:
        if not _is_num(scale) or scale <= 0:
            raise ConfigError(f"conv_scale: expected a positive number, got {scale!r}.")
        changes["conv_filters"] = [max(1, int(round(f * float(scale)))) for f in base.conv_filters]
    for k in (
        "fusion_units",
        "stream_units",
        "lstm_units",
        "sequence_length",
        "batch_size",
        "seed",
    ):
        if k in changes and _is_num(changes[k]) and float(changes[k]).is_integer():
            changes[k] = int(changes[k])
    return base.replace(**changes)


# -- objective ---------------------------------------------------------------------------


def objective_names(targets) -> list[str]:
    """The metric names a compiled model logs with validation data: what can be optimised.

    Example:

    >>> objective_names(["arousal"])
    ['val_ccc', 'val_ccc_arousal', 'val_loss', 'ccc', 'ccc_arousal', 'loss']
    """
    train = ["ccc"] + [f"ccc_{t}" for t in targets] + ["loss"]
    return ["val_" + n for n in train] + train


def make_objective(name: str, targets):
    """The explicit keras-tuner objective: CCC maximised, the loss minimised.

    Args:
        name: a metric name from :func:`objective_names`, e.g. ``val_ccc``.
        targets: the config's target names.

    Raises:
        ConfigError: the model does not log a metric of that name.

    Example:

    >>> make_objective("val_ccc", ["arousal"]).direction
    'max'
    """
    import keras_tuner as kt

    valid = objective_names(targets)
    if name not in valid:
        raise ConfigError(
            f"objective {name!r}: the model does not log this metric; valid objectives: {', '.join(valid)} "
            "(validation metrics start with val_)."
        )
    return kt.Objective(name, direction="min" if name.endswith("loss") else "max")
