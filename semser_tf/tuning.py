"""Hyperparameter search over the paper's model with keras-tuner.

keras-tuner is the engine: this module defines the search space of the model
(:class:`SearchSpace`), a ``keras_tuner.HyperModel`` that builds and trains one
configuration on a corpus (:class:`SemserHyperModel`), and :func:`tune`, which runs a
random, Bayesian or Hyperband search on one machine or in keras-tuner's chief/worker mode,
writes a results table and exports the best trial as a run directory.

The objective is always explicit: ``keras_tuner.Objective("val_ccc", direction="max")``.
Given a bare metric name keras-tuner guesses the direction from the name and would take
"ccc" as a quantity to minimise, i.e. search for the worst model.

Output folder (``out_dir``)::

    search/                 keras-tuner project: oracle.json, trial_*/trial.json, checkpoints
    search/workers/         per-worker heartbeat (<id>.alive) and trial log (<id>.jsonl)
    results.csv, results.md one row per trial: trial, status, worker, hyperparameters,
                            objective, val CCC per target (best first)
    best_run/               the best hyperparameters retrained by ``train()``: a run
                            directory (config.json, best.keras, history.csv, report.json)
                            that ``semser publish`` accepts
    tune.json               the search settings (space, tuner, objective, base config)

Distributed search (see docs/tuning.md): one chief serves the oracle over gRPC
(``tune(..., distributed="chief", oracle="0.0.0.0:8000")``), any number of workers run
trials (``distributed="worker", oracle="chief-host:8000"``), all on one shared output
folder. Workers write a heartbeat file every ``heartbeat_s`` seconds; when a worker's
heartbeat stops for ``worker_timeout`` seconds the chief gives its running trial to the
next free worker (keras-tuner alone would wait for that worker forever). A search
resumes from ``out_dir`` (``overwrite=False``): finished trials are kept, unfinished
ones are run again.
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from semser_tf.errors import ConfigError, SemserError
from semser_tf.models.config import VARIANTS, ModelConfig
from semser_tf.io import atomic_write_json, atomic_write_text

PROJECT = "search"
TUNERS = ("random", "bayesian", "hyperband")

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

SPECIAL = {"conv_scale": "multiplies every entry of the base config's conv_filters (rounded, at least 1)"}
_SEARCHABLE_FIELDS = ("variant", "fusion_units", "stream_units", "lstm_units", "dropout", "learning_rate",
                      "sequence_length", "batch_size", "clipnorm", "frame_pooling", "seed")


class TuningError(SemserError):
    """A distributed search cannot proceed (unreachable oracle, port in use, ...)."""


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
            return hp.Int(self.name, int(self.min), int(self.max), step=int(self.step) if self.step else None,
                          sampling=self.sampling)
        return hp.Float(self.name, float(self.min), float(self.max), step=self.step, sampling=self.sampling)

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
    def from_dict(cls, spec: dict, source: str = "search space") -> "SearchSpace":
        """Parse and check a search space; errors name the entry and the expected form.

        Args:
            spec: ``{name: range}`` (see the class doc).
            source: where the spec came from (a file name), used in error messages.
        """
        if not isinstance(spec, dict) or not spec:
            raise ConfigError(f"{source}: expected a non-empty mapping of hyperparameter ranges, got {spec!r}.")
        valid = sorted(set(_SEARCHABLE_FIELDS) | set(SPECIAL))
        params = {}
        for name, value in spec.items():
            where = f"{source}: {name!r}"
            if name not in valid:
                raise ConfigError(f"{where}: not a searchable hyperparameter; valid names: {', '.join(valid)}.")
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
                    raise ConfigError(f"search space {name!r}: value {v!r} is not valid: {err}") from None

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
                f"{where}: expected {{\"min\": a, \"max\": b}} with optional \"step\" and \"sampling\", "
                f"or {{\"values\": [...]}}, got {value!r}."
            )
        lo, hi, step = value["min"], value["max"], value.get("step")
        sampling = value.get("sampling", "linear")
        if not _is_num(lo) or not _is_num(hi) or (step is not None and (not _is_num(step) or step <= 0)):
            raise ConfigError(f"{where}: min and max must be numbers and step a positive number, got {value!r}.")
        if sampling not in ("linear", "log", "reverse_log"):
            raise ConfigError(f"{where}: sampling must be 'linear', 'log' or 'reverse_log', got {sampling!r}.")
        if not lo <= hi:
            raise ConfigError(f"{where}: empty range: min {lo!r} is greater than max {hi!r}.")
        if sampling != "linear" and lo <= 0:
            raise ConfigError(f"{where}: {sampling} sampling needs min > 0, got {lo!r}.")
        if name == "variant":
            raise ConfigError(f"{where}: a choice, e.g. {{\"values\": [\"concat\", \"attention\"]}}, not a range.")
        if lo == hi:
            return _Param(name, "fixed", (lo,))
        kind = "int" if _is_int(lo) and _is_int(hi) and (step is None or _is_int(step)) else "float"
        return _Param(name, kind, min=lo, max=hi, step=step, sampling=sampling)
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"values"})
        if unknown:
            raise ConfigError(f"{where}: {{\"values\": [...]}} takes no other keys, got {unknown}.")
        value = value["values"]
    if isinstance(value, (list, tuple)):
        if not value:
            raise ConfigError(f"{where}: empty list of values; give at least one value.")
        if len(set(map(repr, value))) != len(value):
            raise ConfigError(f"{where}: repeated values in {list(value)!r}.")
        kinds = {type(v) for v in value}
        if not (all(isinstance(v, str) for v in value) or all(_is_num(v) for v in value)):
            raise ConfigError(f"{where}: values must be all numbers or all strings, got {list(value)!r}.")
        if name == "variant":
            bad = [v for v in value if v not in VARIANTS]
            if bad:
                raise ConfigError(f"{where}: unknown variant(s) {bad}; variants: {', '.join(VARIANTS)}.")
        if len(kinds) > 1 and all(_is_num(v) for v in value):
            value = [float(v) for v in value]  # keras-tuner needs one type per Choice
        if len(value) == 1:
            return _Param(name, "fixed", (value[0],))
        return _Param(name, "choice", tuple(value))
    if isinstance(value, (str, numbers.Real)) and not isinstance(value, bool):
        return _Param(name, "fixed", (value,))
    raise ConfigError(f"{where}: expected a list of values, {{\"min\": a, \"max\": b}} or one value, got {value!r}.")


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
    for k in ("fusion_units", "stream_units", "lstm_units", "sequence_length", "batch_size", "seed"):
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


# -- hypermodel --------------------------------------------------------------------------


def _hypermodel_class():
    import keras_tuner as kt

    class SemserHyperModel(kt.HyperModel):
        """A keras-tuner HyperModel of the paper's model trained on a corpus.

        ``build(hp)`` declares the search space, makes the trial's ModelConfig
        (:func:`config_for`) and returns the compiled model; ``fit(hp, model, ...)``
        trains it on the corpus's training partition with validation data (so
        ``val_ccc`` and ``val_ccc_<target>`` are logged) and returns the History.

        Args:
            base_config: the base ModelConfig.
            space: the :class:`SearchSpace`.
            corpus: the corpus (with a validation partition, or ``val_fraction`` in settings).
            settings: ``TrainSettings`` (epochs, partitions, steps per epoch, delay).
            frame_features: semantic frame features, or ``None`` for zeros.
            cache_dir: the loader's cache folder.

        Example:

        >>> hm = SemserHyperModel(ModelConfig(), SearchSpace.from_dict(DEFAULT_SPACE), corpus, TrainSettings())  # doctest: +SKIP
        """

        def __init__(self, base_config, space, corpus, settings, frame_features=None, cache_dir=None):
            super().__init__(name="semser", tunable=True)
            self.base_config, self.space, self.corpus = base_config, space, corpus
            self.settings, self.frame_features, self.cache_dir = settings, frame_features, cache_dir

        def config(self, hp) -> ModelConfig:
            values = self.space.declare(hp)
            return config_for(self.base_config, values)

        def build(self, hp):
            from semser_tf.models.builder import build_model, compile_model

            config = self.config(hp)
            return compile_model(build_model(config), config, jit_compile=self.settings.jit_compile)

        def fit(self, hp, model, *args, **kwargs):
            import warnings

            from semser_tf.data.pipeline import ZeroFrameFeatures, dataset_for_model, make_dataset

            config = self.config(hp)
            features = self.frame_features or ZeroFrameFeatures(config.semantic_dim)
            s = self.settings
            train_ds = make_dataset(self.corpus, s.train_partition, sequence_length=config.sequence_length,
                                    batch_size=config.batch_size, hop=s.hop, shuffle=True, seed=config.seed,
                                    delay_frames=s.delay_frames, speaker_slots=config.speaker_slots,
                                    frame_features=features, cache_dir=self.cache_dir, progress=False)
            if s.steps_per_epoch:
                train_ds = train_ds.take(s.steps_per_epoch)
            val_ds = make_dataset(self.corpus, s.val_partition, sequence_length=config.sequence_length,
                                  batch_size=config.batch_size, shuffle=False, delay_frames=s.delay_frames,
                                  speaker_slots=config.speaker_slots, frame_features=features,
                                  cache_dir=self.cache_dir, progress=False)
            kwargs.setdefault("epochs", s.epochs)
            kwargs.setdefault("verbose", 0)
            kwargs.pop("validation_data", None)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*ran out of data.*")
                return model.fit(dataset_for_model(train_ds, model),
                                 validation_data=dataset_for_model(val_ds, model), shuffle=False, **kwargs)

    return SemserHyperModel


def SemserHyperModel(base_config, space, corpus, settings, frame_features=None, cache_dir=None):
    """A ``keras_tuner.HyperModel`` of the paper's model on a corpus (see the class made here).

    Args:
        base_config: the base :class:`ModelConfig` (everything not searched).
        space: the :class:`SearchSpace`.
        corpus: the corpus.
        settings: a ``TrainSettings`` (epochs per trial, partitions, steps per epoch).
        frame_features: semantic frame features, or ``None`` for zeros.
        cache_dir: the loader's cache folder.

    Example:

    >>> hm = SemserHyperModel(ModelConfig(), SearchSpace.from_dict(DEFAULT_SPACE), corpus, TrainSettings())  # doctest: +SKIP
    """
    return _hypermodel_class()(base_config, space, corpus, settings, frame_features, cache_dir)


# -- tuners with a per-worker trial log --------------------------------------------------


def _tuner_class(kind):
    import keras_tuner as kt

    base = {"random": kt.RandomSearch, "bayesian": kt.BayesianOptimization, "hyperband": kt.Hyperband}[kind]

    class LoggedTuner(base):
        """The keras-tuner tuner, logging which worker ran which trial (search/workers/<id>.jsonl)."""

        def run_trial(self, trial, *args, **kwargs):
            self._log_event(trial, "start")
            result = super().run_trial(trial, *args, **kwargs)
            self._log_event(trial, "end")
            return result

        def _log_event(self, trial, event):
            folder = Path(self.project_dir) / "workers"
            folder.mkdir(parents=True, exist_ok=True)
            line = json.dumps({"trial_id": trial.trial_id, "tuner_id": self.tuner_id, "event": event,
                               "time": time.time(), "pid": os.getpid(), "host": socket.gethostname()})
            with open(folder / f"{_safe_id(self.tuner_id)}.jsonl", "a") as f:
                f.write(line + "\n")
            print(f"semser tune: {self.tuner_id} trial {trial.trial_id} {event}", flush=True)

    LoggedTuner.__name__ = f"Semser{base.__name__}"
    return LoggedTuner


def _safe_id(tuner_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(tuner_id))


def check_tuner(kind: str):
    """An error unless ``kind`` is a tuner that can run here.

    Example:

    >>> check_tuner("random")
    """
    if kind not in TUNERS:
        raise ConfigError(f"--tuner {kind!r}: expected one of {', '.join(TUNERS)}.")
    if kind == "bayesian":
        try:
            import sklearn  # noqa: F401  keras-tuner's Gaussian process needs it
        except ImportError:
            raise ConfigError(
                "--tuner bayesian: keras-tuner's Bayesian optimisation needs scikit-learn "
                "(pip install 'keras-tuner[bayesian]'), which is not installed; use random or hyperband."
            ) from None


def make_tuner(kind, hypermodel, objective, out_dir, max_trials=10, max_epochs=None, seed=0,
               overwrite=False, executions_per_trial=1):
    """A keras-tuner tuner of ``kind`` (random, bayesian, hyperband) writing to ``out_dir/search``.

    Args:
        kind: ``random``, ``bayesian`` or ``hyperband``.
        hypermodel: a :func:`SemserHyperModel`.
        objective: a ``keras_tuner.Objective`` (:func:`make_objective`).
        out_dir: the search folder's parent.
        max_trials: trials to run (random and Bayesian).
        max_epochs: Hyperband's largest epoch budget per trial.
        seed: the oracle's random seed.
        overwrite: start afresh instead of resuming the search in ``out_dir``.
        executions_per_trial: models trained per trial (their metrics are averaged).

    Example:

    >>> tuner = make_tuner("random", hm, make_objective("val_ccc", ["arousal"]), "tune_out")  # doctest: +SKIP
    """
    check_tuner(kind)
    cls = _tuner_class(kind)
    common = dict(hypermodel=hypermodel, objective=objective, seed=seed, directory=str(out_dir),
                  project_name=PROJECT, overwrite=overwrite)
    if kind == "hyperband":
        return cls(max_epochs=max_epochs or 10, factor=3, hyperband_iterations=1, **common)
    return cls(max_trials=max_trials, executions_per_trial=executions_per_trial, **common)


# -- results -----------------------------------------------------------------------------


def load_trials(out_dir) -> list[dict]:
    """The trials of a search folder as dicts (read from ``search/trial_*/trial.json``).

    Each dict has ``trial_id``, ``status``, ``worker`` (who ran it, from the worker logs),
    ``hyperparameters`` (searched values), ``score`` (the objective) and ``metrics`` (every
    metric at the best step).

    Example:

    >>> [t["trial_id"] for t in load_trials("tune_out")]  # doctest: +SKIP
    ['0', '1']
    """
    project = Path(out_dir) / PROJECT
    ran_by = _ran_by(project / "workers")
    trials = []
    for path in sorted(project.glob("trial_*/trial.json")):
        t = json.loads(path.read_text())
        best_step = t.get("best_step")
        metrics = {}
        for name, m in (t.get("metrics", {}).get("metrics", {}) or {}).items():
            obs = m.get("observations", [])
            at = [o for o in obs if o.get("step") == best_step] or obs[-1:]
            if at:
                metrics[name] = float(at[-1]["value"][0])
        values = {k: v for k, v in t["hyperparameters"]["values"].items()}
        trials.append({"trial_id": t["trial_id"], "status": t.get("status"), "score": t.get("score"),
                       "best_step": best_step, "hyperparameters": values, "metrics": metrics,
                       "worker": ran_by.get(t["trial_id"], "")})
    return trials


def _ran_by(folder: Path) -> dict:
    """trial id -> the worker that finished it (else the last one that started it)."""
    events = []
    for path in folder.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a killed worker
    out = {}
    for e in sorted(events, key=lambda e: (e["event"] == "end", e["time"])):
        out[e["trial_id"]] = e["tuner_id"]
    return out


def results_rows(trials, targets, objective="val_ccc") -> list[dict]:
    """Table rows, best objective first: trial, status, worker, hyperparameters, CCCs.

    Args:
        trials: from :func:`load_trials`.
        targets: target names (one ``val_ccc_<target>`` column each).
        objective: the objective's name (its direction decides the order).
    """
    hp_names = sorted({k for t in trials for k in t["hyperparameters"]})
    sign = 1.0 if objective.endswith("loss") else -1.0

    def key(t):
        s = t["score"]
        return (s is None or (isinstance(s, float) and math.isnan(s)), sign * (s or 0.0), t["trial_id"])

    rows = []
    for t in sorted(trials, key=key):
        row = {"trial": t["trial_id"], "status": t["status"], "worker": t["worker"]}
        row.update({k: t["hyperparameters"].get(k, "") for k in hp_names})
        row["objective"] = objective
        row["score"] = t["score"]
        row["val_ccc"] = t["metrics"].get("val_ccc")
        for target in targets:
            row[f"val_ccc_{target}"] = t["metrics"].get(f"val_ccc_{target}")
        row["best_epoch"] = None if t["best_step"] is None else int(t["best_step"]) + 1
        rows.append(row)
    return rows


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_results(out_dir, rows) -> tuple[Path, Path]:
    """Write ``results.csv`` and ``results.md`` (atomically); returns their paths."""
    out_dir = Path(out_dir)
    cols = list(rows[0]) if rows else ["trial", "status"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    atomic_write_text(out_dir / "results.csv", buf.getvalue())
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(_fmt(r.get(k)) for k in cols) + " |" for r in rows]
    atomic_write_text(out_dir / "results.md", "# Hyperparameter search\n\n" + "\n".join(md) + "\n")
    return out_dir / "results.csv", out_dir / "results.md"


def best_trial(out_dir, objective="val_ccc"):
    """The completed trial with the best objective, or ``None``."""
    done = [t for t in load_trials(out_dir) if t["status"] == "COMPLETED" and t["score"] is not None]
    if not done:
        return None
    pick = min if objective.endswith("loss") else max
    return pick(done, key=lambda t: t["score"])


def export_best(out_dir, corpus, base_config, settings, run_dir=None, objective="val_ccc",
                frame_features=None, cache_dir=None, overwrite=False, verbose=0):
    """Retrain the best trial's hyperparameters with ``train()``: a publishable run directory.

    Args:
        out_dir: the search folder.
        corpus: the corpus searched on.
        base_config: the base config of the search.
        settings: the ``TrainSettings`` of the search.
        run_dir: the run directory (default ``out_dir/best_run``).
        objective: the objective's name.
        frame_features, cache_dir: as for ``train()``.
        overwrite: replace an existing run directory.
        verbose: Keras verbosity.

    Returns:
        ``train()``'s report, with ``trial_id`` and ``hyperparameters`` added.

    Example:

    >>> export_best("tune_out", corpus, ModelConfig(), TrainSettings(epochs=20))  # doctest: +SKIP
    """
    from semser_tf.training.run import train

    best = best_trial(out_dir, objective)
    if best is None:
        raise TuningError(f"{Path(out_dir) / PROJECT}: no completed trial to export.")
    config = config_for(base_config, best["hyperparameters"])
    run_dir = Path(run_dir) if run_dir else Path(out_dir) / "best_run"
    report = train(corpus, run_dir, config, settings, frame_features=frame_features, cache_dir=cache_dir,
                   overwrite=overwrite, verbose=verbose, plots=False)
    report.update(trial_id=best["trial_id"], hyperparameters=best["hyperparameters"])
    return report


# -- distributed search ------------------------------------------------------------------


def parse_address(address: str, what="--oracle") -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port), with a clear error.

    Example:

    >>> parse_address("127.0.0.1:8000")
    ('127.0.0.1', 8000)
    """
    if not isinstance(address, str) or ":" not in address:
        raise ConfigError(f"{what} {address!r}: expected HOST:PORT, e.g. 10.0.0.5:8000.")
    host, port = address.rsplit(":", 1)
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{what} {address!r}: expected HOST:PORT with a port in 1-65535.")
    return host, int(port)


def wait_for_oracle(address: str, timeout: float = 30.0):
    """Wait until the chief's oracle at ``address`` accepts connections, or raise.

    Args:
        address: ``HOST:PORT`` of the chief.
        timeout: seconds to wait.

    Raises:
        TuningError: nothing answered within ``timeout`` seconds.

    Example:

    >>> wait_for_oracle("127.0.0.1:8000", timeout=5)  # doctest: +SKIP
    """
    import grpc

    host, port = parse_address(address)
    channel = grpc.insecure_channel(f"{host}:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise TuningError(
            f"the oracle at {host}:{port} did not answer within {timeout:g} s: start the chief first "
            f"(semser tune CORPUS --out DIR --distributed chief --oracle 0.0.0.0:{port}) and check the "
            "host name, the port and the firewall; --connect-timeout sets the wait."
        ) from None
    finally:
        channel.close()


class _Heartbeat:
    """A worker's liveness file, rewritten every ``interval`` seconds by a daemon thread."""

    def __init__(self, folder: Path, tuner_id: str, interval: float):
        self.path = Path(folder) / f"{_safe_id(tuner_id)}.alive"
        self.tuner_id, self.interval = tuner_id, interval
        self._stop = threading.Event()
        self._count = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._beat()
        self._thread = threading.Thread(target=self._run, daemon=True, name="semser-heartbeat")
        self._thread.start()

    def _beat(self):
        self._count += 1
        atomic_write_json(self.path, {"tuner_id": self.tuner_id, "count": self._count, "pid": os.getpid(),
                                      "host": socket.gethostname(), "time": time.time()})

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                self._beat()
            except OSError:
                pass

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)


def _reclaim(oracle, tuner_id):
    """Give a dead worker's running trial back to the queue and forget the worker."""
    from keras_tuner.src.engine.oracle import synchronized

    @synchronized
    def reclaim(oracle, tuner_id):
        trial = oracle.ongoing_trials.pop(tuner_id, None)
        oracle.tuner_ids.discard(tuner_id)
        if trial is not None:
            oracle._retry_queue.append(trial.trial_id)
            oracle.save()
        return trial

    return reclaim(oracle, tuner_id)


def serve_oracle(oracle, address, heartbeat_dir, worker_timeout=600.0, poll_s=1.0, log=print):
    """Serve a keras-tuner oracle to workers over gRPC until the search is over.

    keras-tuner's own chief loop, plus a watchdog: a worker whose heartbeat file has not
    changed for ``worker_timeout`` seconds (by this process's clock) is taken as dead, its
    running trial goes back to the queue for the next worker and it no longer holds the
    search open. The search is over once the oracle told a worker to stop and no trial
    runs and no worker is registered.

    Args:
        oracle: the tuner's oracle (``tuner.oracle`` of a tuner built without the
            ``KERASTUNER_*`` variables).
        address: ``HOST:PORT`` to listen on (``0.0.0.0:PORT`` for every interface).
        heartbeat_dir: the folder of the workers' ``<id>.alive`` files.
        worker_timeout: seconds without a heartbeat before a worker is taken as dead;
            ``0`` or ``None`` turns the watchdog off.
        poll_s: seconds between checks.
        log: where to report reclaimed trials.

    Example:

    >>> serve_oracle(tuner.oracle, "0.0.0.0:8000", "tune_out/search/workers")  # doctest: +SKIP
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief

    host, port = parse_address(address)
    _check_port_free(host, port)
    from keras_tuner.src.engine import trial as trial_module

    class Servicer(OracleServicer):
        """keras-tuner's servicer, except that a worker asking for a trial once all trials
        exist is told to wait (IDLE) while another worker still runs one: if that worker
        dies, its trial comes back to the queue and a waiting worker takes it. (Upstream,
        the asking worker is told to stop and the dead worker's trial is never finished.)"""

        def CreateTrial(self, request, context):
            trial = self.oracle.create_trial(request.tuner_id)
            if trial.status == trial_module.TrialStatus.STOPPED:
                if any(t != request.tuner_id for t in self.oracle.ongoing_trials):
                    self.oracle.tuner_ids.add(request.tuner_id)  # still part of the search
                    time.sleep(min(poll_s, 0.5))  # the worker asks again at once
                    trial.status = trial_module.TrialStatus.IDLE
                else:
                    self.stop_triggered = True
            return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = Servicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    if server.add_insecure_port(f"{host}:{port}") == 0:
        raise TuningError(f"--oracle {address}: cannot listen on this address (in use or not local).")
    server.start()
    seen = {}  # tuner_id -> (heartbeat count, local time it last changed)
    try:
        while True:
            time.sleep(poll_s)
            if worker_timeout:
                now = time.time()
                for tuner_id in list(oracle.tuner_ids):
                    count = _heartbeat_count(Path(heartbeat_dir), tuner_id)
                    last = seen.get(tuner_id)
                    if last is None or count != last[0]:
                        seen[tuner_id] = (count, now)
                    elif now - last[1] > worker_timeout:
                        trial = _reclaim(oracle, tuner_id)
                        seen.pop(tuner_id, None)
                        log(f"semser tune: worker {tuner_id} silent for {now - last[1]:.0f} s; "
                            + (f"trial {trial.trial_id} goes to the next worker" if trial else "dropped"),
                            flush=True)
            if servicer.stop_triggered and exit_chief(oracle):
                break
    finally:
        server.stop(grace=2)


def _heartbeat_count(folder: Path, tuner_id: str):
    try:
        return json.loads((folder / f"{_safe_id(tuner_id)}.alive").read_text())["count"]
    except (OSError, ValueError, KeyError):
        return None


def _check_port_free(host, port):
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as err:
            raise TuningError(f"--oracle {host}:{port}: cannot listen there ({err.strerror}); "
                              "choose a free port or an address of this machine.") from None


# -- the search --------------------------------------------------------------------------


def tune(corpus, out_dir, base_config: ModelConfig | None = None, space=None, settings=None, *,
         tuner="random", max_trials=10, objective="val_ccc", frame_features=None, cache_dir=None,
         overwrite=False, seed=0, executions_per_trial=1, export=True, distributed=None, oracle=None,
         tuner_id=None, worker_timeout=600.0, heartbeat_s=10.0, connect_timeout=30.0, rpc_timeout=600.0,
         verbose=0) -> dict:
    """Run a hyperparameter search (or one role of a distributed search).

    Args:
        corpus: the corpus (needs a validation partition, or ``settings.val_fraction``).
        out_dir: the search folder (see the module doc); shared by chief and workers.
        base_config: the config of everything not searched (paper defaults when ``None``).
        space: a :class:`SearchSpace` or a dict (default :data:`DEFAULT_SPACE`).
        settings: ``TrainSettings`` of each trial (``epochs`` per trial; Hyperband's
            largest budget).
        tuner: ``random``, ``bayesian`` or ``hyperband``.
        max_trials: trials (random, Bayesian).
        objective: the metric maximised (CCCs) or minimised (losses); default ``val_ccc``.
        frame_features: semantic frame features (needed by the semantic variant).
        cache_dir: the loader's cache folder.
        overwrite: start afresh (otherwise a search in ``out_dir`` is resumed).
        seed: the oracle's seed.
        executions_per_trial: models per trial (random, Bayesian).
        export: after the search, retrain the best trial into ``out_dir/best_run``.
        distributed: ``None`` (one process), ``"chief"`` (serve the oracle) or ``"worker"``.
        oracle: ``HOST:PORT``: where the chief listens / where workers find it.
        tuner_id: a worker's id (default ``worker-<host>-<pid>``).
        worker_timeout: seconds of heartbeat silence before the chief reassigns a
            worker's trial (chief; ``0`` turns it off).
        heartbeat_s: seconds between a worker's heartbeats.
        connect_timeout: seconds a worker waits for the chief at start.
        rpc_timeout: seconds a worker waits for one answer of the chief (keras-tuner's own
            limit is an hour).
        verbose: Keras verbosity of the trials.

    Returns:
        A summary: ``role``, ``trials`` (rows of the results table), ``best`` (the best
        trial), ``results`` (paths) and ``best_run`` (the export's report) where written.

    Example:

    >>> tune(SEWACorpus("sewa"), "tune_out", ModelConfig(), {"lstm_units": [64, 256]}, TrainSettings(epochs=5))  # doctest: +SKIP
    """
    from semser_tf.training.run import TrainSettings, _split_validation

    out_dir = Path(out_dir)
    base_config = base_config or ModelConfig()
    settings = settings or TrainSettings()
    if space is None:
        space = DEFAULT_SPACE
    if isinstance(space, dict):
        space = SearchSpace.from_dict(space)
    if distributed not in (None, "chief", "worker"):
        raise ConfigError(f"--distributed {distributed!r}: expected chief or worker.")
    if distributed and not oracle:
        raise ConfigError(f"--distributed {distributed} needs --oracle HOST:PORT.")
    if distributed:
        parse_address(oracle)
    if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
        raise ConfigError(f"--max-trials: expected a positive integer, got {max_trials!r}.")
    obj = make_objective(objective, base_config.targets)
    space.check_against(base_config, frame_features is not None)
    check_tuner(tuner)
    if list(corpus.targets) != list(base_config.targets):
        raise ConfigError(f"the corpus has targets {list(corpus.targets)} but the config {list(base_config.targets)}.")
    corpus = _split_validation(corpus, settings)

    if distributed == "worker":
        if overwrite:
            raise ConfigError("--overwrite is for the chief (or a single-process search), not a worker.")
        wait_for_oracle(oracle, connect_timeout)
    elif overwrite and out_dir.exists():
        import shutil

        marker = out_dir / "tune.json"
        if any(out_dir.iterdir()) and not marker.is_file():
            raise ConfigError(f"{out_dir}: refusing to overwrite a folder that is not a semser search (no tune.json).")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if distributed != "worker":
        atomic_write_json(out_dir / "tune.json", {
            "tuner": tuner, "max_trials": max_trials, "objective": {"name": obj.name, "direction": obj.direction},
            "space": space.to_dict(), "base_config": base_config.to_dict(), "seed": seed,
            "epochs_per_trial": settings.epochs})

    hypermodel = SemserHyperModel(base_config, space, corpus, settings, frame_features, cache_dir)
    env_keys = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
    saved_env = {k: os.environ.get(k) for k in env_keys}
    heartbeat = None
    try:
        for k in env_keys:  # a chief or a single search must not act as a client
            os.environ.pop(k, None)
        if distributed == "worker":
            from keras_tuner.src.distribute import oracle_client

            oracle_client.TIMEOUT = float(rpc_timeout)
            host, port = parse_address(oracle)
            tuner_id = tuner_id or f"worker-{socket.gethostname()}-{os.getpid()}"
            os.environ.update(KERASTUNER_TUNER_ID=str(tuner_id), KERASTUNER_ORACLE_IP=host,
                              KERASTUNER_ORACLE_PORT=str(port))
        kt_tuner = make_tuner(tuner, hypermodel, obj, out_dir, max_trials=max_trials, max_epochs=settings.epochs,
                              seed=seed, overwrite=False, executions_per_trial=executions_per_trial)
        if distributed == "worker":
            heartbeat = _Heartbeat(Path(kt_tuner.project_dir) / "workers", tuner_id, heartbeat_s)
            kt_tuner.search(verbose=verbose)
            return {"role": "worker", "tuner_id": tuner_id}
        if distributed == "chief":
            kt_tuner.save()
            serve_oracle(kt_tuner.oracle, oracle, Path(kt_tuner.project_dir) / "workers",
                         worker_timeout=worker_timeout)
        else:
            kt_tuner.search(verbose=verbose)
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    rows = results_rows(load_trials(out_dir), base_config.targets, obj.name)
    paths = write_results(out_dir, rows)
    summary = {"role": distributed or "single", "trials": rows, "results": [str(p) for p in paths],
               "best": best_trial(out_dir, obj.name)}
    if export and summary["best"] is not None:
        summary["best_run"] = export_best(out_dir, corpus, base_config, settings, objective=obj.name,
                                          frame_features=frame_features, cache_dir=cache_dir,
                                          overwrite=(out_dir / "best_run" / "run.json").is_file(), verbose=verbose)
    return summary
