"""Hyperparameter search over the paper's model, as a plain keras-tuner extension.

- :class:`SemserHyperModel` (``semser_tf.tuning.hypermodel``): a module-level
  ``keras_tuner.HyperModel`` of the model on a corpus; use it with any keras-tuner tuner,
  subclass it, override ``build`` or ``fit``.
- :class:`SearchSpace`, :data:`DEFAULT_SPACE`, :func:`config_for`, :func:`make_objective`
  (``semser_tf.tuning.space``): the ranges searched and the explicit objective
  (``keras_tuner.Objective("val_ccc", direction="max")``: given a bare metric name
  keras-tuner cannot tell that CCC is to be maximised).
- :func:`tune` (``semser_tf.tuning.search``): random, Bayesian or Hyperband search on one
  machine or in keras-tuner's chief/worker mode; writes a results table
  (``semser_tf.tuning.results``) and retrains the best trial into a run directory.
- ``semser_tf.tuning.tuners``: keras-tuner's tuners seeding each trial once and logging
  which worker ran it; ``semser_tf.tuning.adapter``: the re-queueing of a dead worker's
  trial and the keras-tuner version check (the only module touching keras-tuner
  internals); ``semser_tf.tuning.distributed``: heartbeats, the chief's watchdog.

Output folder (``out_dir``)::

    search/                 keras-tuner project: oracle.json, trial_*/trial.json, checkpoints
    search/workers/         per-worker heartbeat (<id>.alive) and trial log (<id>.jsonl)
    results.csv, results.md one row per trial: trial, status, worker, hyperparameters,
                            objective, val CCC per target (best first)
    best_run/               the best hyperparameters retrained by ``train()``: a run
                            directory that ``semser publish`` accepts
    tune.json               the search settings (space, tuner, objective, base config)

Importing this package loads neither TensorFlow nor keras-tuner; the names that need
keras-tuner (``SemserHyperModel``, the tuners, the adapter's) load their module on first use.
"""

from __future__ import annotations

import importlib

from semser_tf.tuning._common import PROJECT, TUNERS, TuningError, check_tuner
from semser_tf.tuning.distributed import (
    Heartbeat,
    Watchdog,
    parse_address,
    serve_chief,
    wait_for_oracle,
)
from semser_tf.tuning.results import (
    best_trial,
    export_best,
    load_trials,
    results_rows,
    write_results,
)
from semser_tf.tuning.search import tune
from semser_tf.tuning.space import (
    DEFAULT_SPACE,
    SPECIAL,
    SearchSpace,
    config_for,
    make_objective,
    objective_names,
)

_LAZY = {
    "SemserHyperModel": "semser_tf.tuning.hypermodel",
    "make_tuner": "semser_tf.tuning.tuners",
    "SemserRandomSearch": "semser_tf.tuning.tuners",
    "SemserBayesianOptimization": "semser_tf.tuning.tuners",
    "SemserHyperband": "semser_tf.tuning.tuners",
    "check_keras_tuner": "semser_tf.tuning.adapter",
    "TESTED_VERSION": "semser_tf.tuning.adapter",
}

__all__ = [
    "DEFAULT_SPACE",
    "PROJECT",
    "SPECIAL",
    "TUNERS",
    "Heartbeat",
    "SearchSpace",
    "TuningError",
    "Watchdog",
    "best_trial",
    "check_tuner",
    "config_for",
    "export_best",
    "load_trials",
    "make_objective",
    "objective_names",
    "parse_address",
    "results_rows",
    "serve_chief",
    "tune",
    "wait_for_oracle",
    "write_results",
    *_LAZY,
]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as err:
        if err.name not in ("keras_tuner", "sklearn", "six"):
            raise
        from semser_tf.tuning._common import require_keras_tuner

        require_keras_tuner()
        raise
    globals()[name] = value  # the same object on every access
    return value


def __dir__():
    return __all__
