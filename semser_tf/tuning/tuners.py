"""keras-tuner's tuners with a per-worker trial log, one seed per trial and the re-queueing oracle.

``SemserRandomSearch``, ``SemserBayesianOptimization`` and ``SemserHyperband`` are
``keras_tuner.Tuner`` subclasses built the way keras-tuner documents a custom oracle
(``Tuner(oracle=..., hypermodel=...)``), with the oracles of
:mod:`semser_tf.tuning.adapter`. Each trial:

- starts with ``keras.utils.set_random_seed(hypermodel.trial_seed(hp))`` when the
  hypermodel has ``trial_seed`` (:class:`~semser_tf.tuning.hypermodel.SemserHyperModel`
  does): the one place the tuning code seeds, before the trial's ``build``;
- logs its start and end to ``search/workers/<tuner id>.jsonl`` (the results table's
  "worker" column).
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import keras
import keras_tuner

from semser_tf.tuning import adapter
from semser_tf.tuning._common import PROJECT, check_tuner, safe_id


class _TrialHooks:
    """Seeds each trial once, at its start, and logs which worker ran it."""

    def run_trial(self, trial, *args, **kwargs):
        self._log_event(trial, "start")
        trial_seed = getattr(self.hypermodel, "trial_seed", None)
        if callable(trial_seed):
            keras.utils.set_random_seed(trial_seed(trial.hyperparameters))
        result = super().run_trial(trial, *args, **kwargs)
        self._log_event(trial, "end")
        return result

    def _log_event(self, trial, event):
        folder = Path(self.project_dir) / "workers"
        folder.mkdir(parents=True, exist_ok=True)
        line = json.dumps(
            {
                "trial_id": trial.trial_id,
                "tuner_id": self.tuner_id,
                "event": event,
                "time": time.time(),
                "pid": os.getpid(),
                "host": socket.gethostname(),
            }
        )
        with open(folder / f"{safe_id(self.tuner_id)}.jsonl", "a") as f:
            f.write(line + "\n")
        print(f"semser tune: {self.tuner_id} trial {trial.trial_id} {event}", flush=True)


def _oracle_args(objective, seed, max_retries):
    return dict(objective=objective, seed=seed, max_retries_per_trial=max_retries)


class SemserRandomSearch(_TrialHooks, keras_tuner.Tuner):
    """keras-tuner's random search (``keras_tuner.RandomSearch``) with the re-queueing oracle."""

    def __init__(self, hypermodel, objective, max_trials=10, seed=None, max_retries=1, **kwargs):
        oracle = adapter.RandomSearchOracle(
            max_trials=max_trials, **_oracle_args(objective, seed, max_retries)
        )
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)


class SemserBayesianOptimization(_TrialHooks, keras_tuner.Tuner):
    """keras-tuner's Bayesian optimisation with the re-queueing oracle (needs scikit-learn)."""

    def __init__(self, hypermodel, objective, max_trials=10, seed=None, max_retries=1, **kwargs):
        oracle = adapter.BayesianOptimizationOracle(
            max_trials=max_trials, **_oracle_args(objective, seed, max_retries)
        )
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)


class SemserHyperband(_TrialHooks, keras_tuner.Hyperband):
    """keras-tuner's Hyperband (its epoch budgets and checkpoint reloads) with the re-queueing oracle."""

    def __init__(
        self,
        hypermodel,
        objective,
        max_epochs=10,
        factor=3,
        hyperband_iterations=1,
        seed=None,
        max_retries=1,
        **kwargs,
    ):
        oracle = adapter.HyperbandOracle(
            max_epochs=max_epochs,
            factor=factor,
            hyperband_iterations=hyperband_iterations,
            **_oracle_args(objective, seed, max_retries),
        )
        # keras_tuner.Hyperband.__init__ only makes a stock HyperbandOracle: go to Tuner's
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)


TUNER_CLASSES = {
    "random": SemserRandomSearch,
    "bayesian": SemserBayesianOptimization,
    "hyperband": SemserHyperband,
}


def make_tuner(
    kind,
    hypermodel,
    objective,
    out_dir,
    max_trials=10,
    max_epochs=None,
    seed=0,
    overwrite=False,
    executions_per_trial=1,
    max_retries=1,
):
    """A tuner of ``kind`` (random, bayesian, hyperband) writing to ``out_dir/search``.

    Args:
        kind: ``random``, ``bayesian`` or ``hyperband``.
        hypermodel: a ``keras_tuner.HyperModel``, e.g. a
            :class:`~semser_tf.tuning.hypermodel.SemserHyperModel` (or a subclass).
        objective: a ``keras_tuner.Objective`` (:func:`~semser_tf.tuning.space.make_objective`).
        out_dir: the search folder's parent.
        max_trials: trials to run (random and Bayesian).
        max_epochs: Hyperband's largest epoch budget per trial.
        seed: the oracle's random seed.
        overwrite: start afresh instead of resuming the search in ``out_dir``.
        executions_per_trial: models trained per trial (their metrics are averaged).
        max_retries: times a trial is run again after it failed or its worker went silent
            (keras-tuner's ``max_retries_per_trial``; the re-queueing needs at least 1).

    Example:

    >>> tuner = make_tuner("random", hm, make_objective("val_ccc", ["arousal"]), "tune_out")  # doctest: +SKIP
    """
    adapter.check_keras_tuner()
    check_tuner(kind)
    common = dict(
        hypermodel=hypermodel,
        objective=objective,
        seed=seed,
        max_retries=max_retries,
        directory=str(out_dir),
        project_name=PROJECT,
        overwrite=overwrite,
    )
    if kind == "hyperband":
        return SemserHyperband(
            max_epochs=max_epochs or 10, factor=3, hyperband_iterations=1, **common
        )
    return TUNER_CLASSES[kind](
        max_trials=max_trials, executions_per_trial=executions_per_trial, **common
    )
