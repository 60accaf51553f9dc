"""``tune()``: a hyperparameter search (or one role of a distributed search) on a corpus."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from semser_tf.errors import ConfigError
from semser_tf.io import atomic_write_json
from semser_tf.models.config import ModelConfig
from semser_tf.training.run_folder import RUN_MARKER
from semser_tf.tuning._common import check_tuner
from semser_tf.tuning.distributed import (
    no_kerastuner_env,
    parse_address,
    serve_chief,
    wait_for_oracle,
    worker_env,
)
from semser_tf.tuning.results import (
    best_trial,
    export_best,
    load_trials,
    results_rows,
    write_results,
)
from semser_tf.tuning.space import DEFAULT_SPACE, SearchSpace, make_objective


def tune(
    corpus,
    out_dir,
    base_config: ModelConfig | None = None,
    space=None,
    settings=None,
    *,
    tuner="random",
    max_trials=10,
    objective="val_ccc",
    frame_features=None,
    cache_dir=None,
    overwrite=False,
    seed=0,
    executions_per_trial=1,
    export=True,
    distributed=None,
    oracle=None,
    tuner_id=None,
    worker_timeout=600.0,
    heartbeat_s=10.0,
    connect_timeout=30.0,
    rpc_timeout=600.0,
    max_retries=1,
    verbose=0,
) -> dict:
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
        max_retries: times a trial is run again after it failed or its worker went silent
            (keras-tuner's ``max_retries_per_trial``; a dead worker's trial is re-queued
            only while retries are left).
        verbose: Keras verbosity of the trials.

    Returns:
        A summary: ``role``, ``trials`` (rows of the results table), ``best`` (the best
        trial), ``results`` (paths) and ``best_run`` (the export's report) where written.

    Example:

    >>> tune(SEWACorpus("sewa"), "tune_out", ModelConfig(), {"lstm_units": [64, 256]}, TrainSettings(epochs=5))  # doctest: +SKIP
    """
    from semser_tf.training.run_data import _split_validation
    from semser_tf.training.settings import TrainSettings

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
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigError(f"--max-retries: expected a non-negative integer, got {max_retries!r}.")
    obj = make_objective(objective, base_config.targets)
    space.check_against(base_config, frame_features is not None)
    check_tuner(tuner)
    from semser_tf.tuning import adapter

    adapter.check_keras_tuner()  # before anything is written
    if list(corpus.targets) != list(base_config.targets):
        raise ConfigError(
            f"the corpus has targets {list(corpus.targets)} but the config {list(base_config.targets)}."
        )
    corpus = _split_validation(corpus, settings)

    if distributed == "worker":
        if overwrite:
            raise ConfigError(
                "--overwrite is for the chief (or a single-process search), not a worker."
            )
        wait_for_oracle(oracle, connect_timeout)
    elif overwrite and out_dir.exists():
        import shutil

        marker = out_dir / "tune.json"
        if any(out_dir.iterdir()) and not marker.is_file():
            raise ConfigError(
                f"{out_dir}: refusing to overwrite a folder that is not a semser search (no tune.json)."
            )
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if distributed != "worker":
        atomic_write_json(
            out_dir / "tune.json",
            {
                "tuner": tuner,
                "max_trials": max_trials,
                "objective": {"name": obj.name, "direction": obj.direction},
                "space": space.to_dict(),
                "base_config": base_config.to_dict(),
                "seed": seed,
                "epochs_per_trial": settings.epochs,
            },
        )

    from semser_tf.tuning.hypermodel import SemserHyperModel
    from semser_tf.tuning.tuners import make_tuner

    hypermodel = SemserHyperModel(base_config, space, corpus, settings, frame_features, cache_dir)
    tuner_args = dict(
        max_trials=max_trials,
        max_epochs=settings.epochs,
        seed=seed,
        overwrite=False,
        executions_per_trial=executions_per_trial,
        max_retries=max_retries,
    )
    if distributed == "worker":
        from semser_tf.tuning.distributed import Heartbeat

        adapter.set_rpc_timeout(rpc_timeout)
        tuner_id = str(tuner_id or f"worker-{socket.gethostname()}-{os.getpid()}")
        with worker_env(tuner_id, oracle):  # keras-tuner's documented worker variables
            kt_tuner = make_tuner(tuner, hypermodel, obj, out_dir, **tuner_args)
            heartbeat = Heartbeat(Path(kt_tuner.project_dir) / "workers", tuner_id, heartbeat_s)
            try:
                kt_tuner.search(verbose=verbose)
            finally:
                heartbeat.stop()
        return {"role": "worker", "tuner_id": tuner_id}
    with no_kerastuner_env():  # a chief or a single search must not act as a client
        kt_tuner = make_tuner(tuner, hypermodel, obj, out_dir, **tuner_args)
        if distributed == "chief":
            serve_chief(
                kt_tuner,
                oracle,
                Path(kt_tuner.project_dir) / "workers",
                worker_timeout=worker_timeout,
                verbose=verbose,
            )
        else:
            kt_tuner.search(verbose=verbose)

    rows = results_rows(load_trials(out_dir), base_config.targets, obj.name)
    paths = write_results(out_dir, rows)
    summary = {
        "role": distributed or "single",
        "trials": rows,
        "results": [str(p) for p in paths],
        "best": best_trial(out_dir, obj.name),
    }
    if export and summary["best"] is not None:
        summary["best_run"] = export_best(
            out_dir,
            corpus,
            base_config,
            settings,
            objective=obj.name,
            frame_features=frame_features,
            cache_dir=cache_dir,
            overwrite=(out_dir / "best_run" / RUN_MARKER).is_file(),
            verbose=verbose,
        )
    return summary
