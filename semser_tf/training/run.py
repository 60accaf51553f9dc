"""Training into a run directory: checks, the run folder, then the one training loop.

A run directory holds (the layout ``semser publish`` reads):

```
config.json           resolved model config + training settings (+ "variant", "dataset")
best.keras            the model of the best validation mean CCC
history.csv           one row per completed epoch (no gaps, even after a SIGKILL)
report.json           evaluation of best.keras on the validation partition
report.md             the same as a Markdown table
history.png           loss and CCC curves
checkpoints/epoch-N.weights.h5, checkpoints/training_metadata.json   the resume point
logs/                 TensorBoard
plots/                prediction against gold per validation recording
run.json              marks the folder as a semser run
```

The training is one ``model.fit`` with Keras's callbacks (:mod:`semser_tf.training.loop`):
a run killed at any moment (SIGKILL included) resumes from the last completed epoch, and
the epoch that was interrupted is trained again from its start.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from semser_tf.errors import ConfigError, DataError
from semser_tf.io import atomic_write_json, atomic_write_text
from semser_tf.models.config import ModelConfig
from semser_tf.plotting import plot_history
from semser_tf.training.run_data import SMALL_EPOCH_STEPS as SMALL_EPOCH_STEPS  # re-exported
from semser_tf.training.run_data import (
    _check_labelled_frames,
    _check_lengths,
    _hint_small_epochs,
    _split_validation,
    training_data,
)
from semser_tf.training.run_data import epoch_steps as epoch_steps  # re-exported
from semser_tf.training.run_data import validation_setup as validation_setup  # re-exported
from semser_tf.training.run_folder import (
    BEST,
    CONFIG,
    EMBEDDINGS_DIR,
    HISTORY_PLOT,
    PLOTS,
    REPORT,
    RUN_MARKER,
    RunLock,
    check_out_dir,
    empty_run,
    read_run_config,
    resume_settings,
)
from semser_tf.training.settings import DROPPED_INPUTS as DROPPED_INPUTS  # re-exported
from semser_tf.training.settings import LEGACY_SETTINGS as LEGACY_SETTINGS  # re-exported
from semser_tf.training.settings import TrainSettings
from semser_tf.training.staged import STAGE1 as STAGE1  # re-exported
from semser_tf.training.staged import branch_schedule, is_staged, staged_model


def _copy_embeddings(src: Path, dest: Path) -> None:
    """Copy an aligned-embeddings folder into the run (temporary name, then rename)."""
    import tempfile

    if not src.is_dir():
        raise DataError("aligned-embeddings folder not found", src)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".partial"))
    try:
        for path in sorted(src.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                shutil.copy2(path, tmp / path.name)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def train(
    corpus,
    out_dir,
    config: ModelConfig | None = None,
    settings: TrainSettings | None = None,
    *,
    frame_features=None,
    cache_dir=None,
    resume=False,
    overwrite=False,
    verbose="auto",
    callbacks=(),
    strategy=None,
    evaluate_best=True,
    plots=True,
    dataset_name=None,
    initial_model=None,
    embeddings_dir=None,
) -> dict:
    """Train a model variant on a corpus; returns the run's report.

    Args:
        corpus: a corpus (``SEWACorpus``, a manifest corpus, ...).
        out_dir: the run directory (see the module doc for its contents).
        config: the model config (paper defaults when ``None``; the saved one on resume).
        settings: the training-loop settings.
        frame_features: per-frame semantic features for the loader (zeros when ``None``,
            which the semantic-only variant refuses).
        cache_dir: the loader's TFRecord cache folder.
        resume: continue the run in ``out_dir`` from its last completed epoch, with its
            recorded config and settings (``settings`` may only change ``epochs``: a larger
            value extends the run).
        overwrite: replace the run in ``out_dir`` (only a run, never a folder holding an
            input of this call).
        verbose: Keras progress-bar verbosity.
        strategy: a ``tf.distribute`` strategy to build and train under.
        evaluate_best: evaluate best.keras on the validation partition at the end.
        plots: write the PNG plots.
        dataset_name: name of the data in the report (default: the corpus folder name).
        initial_model: a built model to start from instead of a fresh one (fine-tuning);
            it is compiled with the config's optimizer, loss and metrics here. Its
            frozen layers (``trainable=False``) stay frozen. The caller, who built it,
            has set the seeds (``keras.utils.set_random_seed(config.seed)``); without an
            initial model ``train`` sets them, once, before building.
        callbacks: Keras callbacks of the caller (``EarlyStopping``, ``ReduceLROnPlateau``,
            ...), run in the one ``model.fit`` of the run before the loop's own, so they
            see every epoch; their ``wait``/``best``/... survive a resume
            (:mod:`semser_tf.training.loop`).
        embeddings_dir: the aligned-embeddings folder ``frame_features`` come from; it is
            copied into ``out_dir/embeddings`` so that the run folder is self-contained
            (``evaluate``, ``predict`` and ``publish`` read it from there).

    Example:

    >>> from semser_tf.data.sewa import SEWACorpus                                   # doctest: +SKIP
    >>> report = train(SEWACorpus("sewa"), "runs/att", ModelConfig(variant="attention"))  # doctest: +SKIP
    """
    with RunLock() as lock:  # one writer per run folder, released even on errors
        return _train(
            lock,
            corpus,
            out_dir,
            config,
            settings,
            frame_features=frame_features,
            cache_dir=cache_dir,
            resume=resume,
            overwrite=overwrite,
            verbose=verbose,
            callbacks=callbacks,
            strategy=strategy,
            evaluate_best=evaluate_best,
            plots=plots,
            dataset_name=dataset_name,
            initial_model=initial_model,
            embeddings_dir=embeddings_dir,
        )


def _train(
    lock,
    corpus,
    out_dir,
    config,
    settings,
    *,
    frame_features,
    cache_dir,
    resume,
    overwrite,
    verbose,
    callbacks,
    strategy,
    evaluate_best,
    plots,
    dataset_name,
    initial_model,
    embeddings_dir,
) -> dict:
    import keras

    from semser_tf.data.pipeline import ZeroFrameFeatures
    from semser_tf.models.builder import build_model, compile_model, load_model, precision_policy
    from semser_tf.training.multiworker import fit_for_strategy

    # model.fit, or a custom loop when the strategy spans several workers (fit cannot)
    fit_run = functools.partial(fit_for_strategy, strategy=strategy)

    out_dir = Path(out_dir)
    inputs = [getattr(corpus, "root", None), cache_dir, embeddings_dir]
    mode = check_out_dir(out_dir, resume, overwrite, inputs, lock)
    resuming = mode == "resume"
    saved = None
    if mode in ("resume", "restart"):  # the recorded config and settings, never the defaults
        saved = read_run_config(out_dir / CONFIG)
        saved_config = ModelConfig.from_dict(
            saved["model"], source=str(out_dir / CONFIG), recorded=True
        )
        if config is not None and config != saved_config:
            diff = [k for k, v in config.to_dict().items() if saved_config.to_dict()[k] != v]
            raise ConfigError(
                f"{out_dir}: the run was started with a different config (fields {', '.join(diff)}); "
                "resume with the same config or start a new run."
            )
        config = saved_config
        settings = resume_settings(out_dir, saved.get("training", {}), settings)
    settings = settings or TrainSettings()
    config = config or ModelConfig()
    if frame_features is None:
        if config.variant == "semantic":
            raise ConfigError(
                "the semantic variant needs frame features (aligned word embeddings: "
                "--embeddings DIR); with zeros it could learn nothing."
            )
        frame_features = ZeroFrameFeatures(config.semantic_dim)
        if config.variant in ("concat", "attention"):
            warnings.warn(
                f"{config.variant} variant trained without semantic features (zeros).", stacklevel=2
            )
    if int(frame_features.dim) != config.semantic_dim:
        raise ConfigError(
            f"frame features of dimension {frame_features.dim}, but ModelConfig.semantic_dim={config.semantic_dim}."
        )
    corpus = _split_validation(corpus, settings)
    _check_lengths(corpus, settings.train_partition, config)
    if list(corpus.targets) != list(config.targets):
        raise ConfigError(
            f"the corpus has targets {list(corpus.targets)} but ModelConfig.targets is {list(config.targets)}; "
            "set targets in the config to the corpus's."
        )

    _check_labelled_frames(corpus, settings)
    _hint_small_epochs(corpus, settings, config)

    if mode == "replace":  # only now that the new run's inputs passed their checks
        empty_run(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lock.acquire(out_dir)
    dataset_name = dataset_name or Path(str(corpus.root or "corpus")).name
    if embeddings_dir is not None and not (out_dir / EMBEDDINGS_DIR).is_dir():
        _copy_embeddings(Path(embeddings_dir), out_dir / EMBEDDINGS_DIR)
    if saved is not None and saved.get("training", {}).get("epochs") != settings.epochs:
        saved["training"]["epochs"] = settings.epochs  # a resume with more epochs extends the run
        atomic_write_json(out_dir / CONFIG, saved)
    if not resuming:
        if not (out_dir / RUN_MARKER).is_file():
            atomic_write_json(out_dir / RUN_MARKER, {"kind": "semser-run", "created": time.time()})
        atomic_write_json(
            out_dir / CONFIG,
            {
                "variant": config.variant,
                "dataset": dataset_name,
                "model": config.to_dict(),
                "training": {
                    k: (v if not isinstance(v, np.generic) else v.item())
                    for k, v in dataclasses.asdict(settings).items()
                },
                "frame_features": repr(frame_features),
                "semantic_mode": getattr(frame_features, "mode", None),
                "embeddings": EMBEDDINGS_DIR if (out_dir / EMBEDDINGS_DIR).is_dir() else None,
            },
        )

    if initial_model is None:  # once per run, before the model is built (else the caller did)
        keras.utils.set_random_seed(config.seed)
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    t_total = time.time()
    staged = is_staged(settings, config) and initial_model is None
    if staged:  # the paralinguistic branch from a model trained alone (stage1/ or warm_start)
        with scope, precision_policy(settings.precision):
            initial_model = staged_model(
                corpus, out_dir, config, settings, frame_features, cache_dir, verbose, fit_run
            )
    with scope, precision_policy(settings.precision):
        model = compile_model(
            initial_model if initial_model is not None else build_model(config),
            config,
            jit_compile=settings.jit_compile,
        )
        schedule = branch_schedule(model, config, settings) if staged else []

    train_epoch, val_ds, steps = training_data(
        corpus, settings, config, frame_features, cache_dir, model, progress=verbose != 0
    )
    val_data, val_callbacks = validation_setup(
        corpus, settings, config, frame_features, cache_dir, val_ds
    )
    result = fit_run(
        model,
        train_epoch,
        val_data,
        out_dir,
        settings,
        callbacks=[*callbacks, *schedule],
        verbose=verbose,
        steps_per_epoch=steps,
        targets=config.targets,
        validation_callbacks=val_callbacks,
    )
    history = result["history"]
    if plots and history:
        plot_history(history, out_dir / HISTORY_PLOT)

    report = {
        "dataset": dataset_name,
        "variant": config.variant,
        "epochs_done": result["epochs_done"],
        "best_epoch": result["best_epoch"],
        "best_val_ccc": result["best_val_ccc"],
        "best_epoch_per_target": result["per_target"],
        "stopped_early": result["stopped_early"],
        "train_seconds": round(time.time() - t_total, 1),
        "training": {
            "data": f"{dataset_name} {settings.train_partition}",
            "command": _command(config),
        },
        "metrics": [],
    }
    if evaluate_best and (out_dir / BEST).exists():
        from semser_tf.training.evaluate import evaluate_model, results_markdown

        best_model = load_model(out_dir / BEST)
        ev = evaluate_model(
            best_model,
            corpus,
            settings.val_partition,
            config,
            frame_features=frame_features,
            cache_dir=cache_dir,
            plot_dir=(out_dir / PLOTS) if plots else None,
        )
        raw = ev["results"]["raw"]
        report["metrics"].append(
            {
                "dataset": dataset_name,
                "partition": settings.val_partition,
                "ccc": raw["ccc"],
                "mean": raw["mean"],
            }
        )
        report["evaluation"] = ev
        md = results_markdown(ev, config.targets)
        if settings.select_per_target:
            sel = per_target_selection(
                out_dir, corpus, settings.val_partition, config, frame_features, cache_dir
            )
            report["per_target_selection"] = sel
            md += (
                "\nPer-target selection (each target from its own best epoch, best-<target>.keras): "
                + ", ".join(
                    f"{t} {sel['ccc'][t]:.3f} (epoch {sel['epochs'].get(t)})"
                    for t in config.targets
                )
                + f"; mean {sel['mean']:.3f}\n"
            )
        atomic_write_text(
            out_dir / "report.md",
            f"# {config.variant} on {dataset_name} ({settings.val_partition})\n\n" + md,
        )
    atomic_write_json(out_dir / REPORT, report)
    return report


def per_target_selection(
    run_dir, corpus, partition, config, frame_features=None, cache_dir=None
) -> dict:
    """Each target's CCC on ``partition`` from its own best checkpoint, ``best-<target>.keras``.

    A shared trunk cannot hold three epochs at once: to predict with this selection, predict
    each target with its own checkpoint (``load_model(RUN/best-<target>.keras)``,
    ``semser evaluate RUN/best-<target>.keras``) and keep that target's column.

    Returns:
        ``{"partition", "ccc": {target: CCC}, "mean", "epochs": {target: epoch}, "models": {target: file}}``.
    """
    from semser_tf.models.builder import load_model
    from semser_tf.training.evaluate import evaluate_model
    from semser_tf.training.loop import HISTORY, MONITOR, best_row, best_target_path, read_history

    run_dir = Path(run_dir)
    history = read_history(run_dir / HISTORY)
    ccc, epochs, models = {}, {}, {}
    for t in config.targets:
        path = best_target_path(run_dir, t)
        if not path.is_file():
            raise DataError(
                f"no best model of {t!r}: the run was trained without select_per_target "
                "(--select-per-target)",
                path,
            )
        ev = evaluate_model(
            load_model(path),
            corpus,
            partition,
            config,
            frame_features=frame_features,
            cache_dir=cache_dir,
        )
        ccc[t] = float(ev["results"]["raw"]["ccc"][t])
        row = best_row(history, f"{MONITOR}_{t}")
        epochs[t] = row["epoch"] if row else None
        models[t] = path.name
    return {
        "partition": partition,
        "ccc": ccc,
        "mean": float(np.mean(list(ccc.values()))),
        "epochs": epochs,
        "models": models,
    }


def _command(config) -> str:
    """The command line that started this process when it is ``semser``, else an API note."""
    import shlex
    import sys

    if Path(sys.argv[0]).name == "semser":
        return "semser " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return (
        f"semser_tf.training.train(variant={config.variant!r}, ...) from {Path(sys.argv[0]).name}"
    )
