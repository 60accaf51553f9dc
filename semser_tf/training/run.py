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
import json
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from semser_tf.errors import ConfigError, DataError
from semser_tf.io import atomic_write_json, atomic_write_text
from semser_tf.models.config import ModelConfig
from semser_tf.training.run_folder import (
    RUN_MARKER,
    RunLock,
    check_out_dir,
    empty_run,
    resume_settings,
)

EMBEDDINGS_DIR = "embeddings"
"""Sub-folder of a run holding a copy of the aligned embeddings it was trained with."""


DROPPED_INPUTS = {
    "semantic": ("semantic",),
    "waveform": ("waveform",),
    "either": ("waveform", "semantic"),
}
"""``TrainSettings.dropped_input``: the model inputs modality dropout may zero."""


@dataclasses.dataclass
class TrainSettings:
    """Training-loop settings beside the model config.

    Args:
        epochs: maximum number of epochs.
        patience: stop after this many epochs without a better validation mean CCC.
        train_partition: partition trained on.
        val_partition: partition for early stopping and model selection.
        val_fraction: when the corpus has no validation partition, hold out this fraction
            of the training recordings (the last ones by name) instead; ``None`` makes a
            missing validation partition an error.
        hop: frames between training windows (default: the sequence length).
        delay_frames: annotation-delay shift of the labels (see the data loader).
        steps_per_epoch: cap on batches per epoch (``None``: the whole partition).
        jit_compile: passed to ``Model.compile``.
        precision: Keras dtype policy the model is built under: ``float32`` (default) or
            ``mixed_bfloat16`` (the fast setting, docs/benchmarks.md) or ``mixed_float16``.
        select_per_target: also keep the best epoch of each target, ``best-<target>.keras``
            beside ``best.keras`` (the AVEC 2019 baseline selects per target); the report's
            ``per_target_selection`` holds each target's CCC from its own checkpoint.
        modality_dropout: share of training windows whose ``dropped_input`` is zeroed
            (seeded per epoch; the validation data are never touched), so that a fused
            model cannot lean on one modality alone (0: off).
        dropped_input: the input modality dropout zeroes: ``semantic``, ``waveform`` or
            ``either`` (each dropped window loses one of the two, drawn uniformly).
        staged_epochs: for a fused variant, first train the paralinguistic-only model this
            many epochs (in ``stage1/``), copy its best paralinguistic branch into the
            fused model and keep it frozen while the rest trains (0: off).
    """

    epochs: int = 50
    patience: int = 10
    train_partition: str = "Train"
    val_partition: str = "Devel"
    val_fraction: float | None = None
    hop: int | None = None
    delay_frames: int = 0
    steps_per_epoch: int | None = None
    jit_compile: object = "auto"
    precision: str = "float32"
    select_per_target: bool = False
    modality_dropout: float = 0.7
    dropped_input: str = "waveform"
    staged_epochs: int = 0

    def __post_init__(self):
        from semser_tf.models.builder import check_precision

        check_precision(self.precision)
        for name in ("epochs", "patience"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"TrainSettings.{name}: expected a positive integer, got {v!r}.")
        v = self.steps_per_epoch
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ConfigError(
                f"TrainSettings.steps_per_epoch: expected a positive integer or None "
                f"(no cap: the whole partition), got {v!r}."
            )
        if self.val_fraction is not None and not (0 < float(self.val_fraction) < 1):
            raise ConfigError(
                f"TrainSettings.val_fraction: expected a number in (0, 1), got {self.val_fraction!r}."
            )
        v = self.modality_dropout
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
            raise ConfigError(
                f"TrainSettings.modality_dropout: expected a number in [0, 1), got {v!r}."
            )
        if self.dropped_input not in DROPPED_INPUTS:
            raise ConfigError(
                f"TrainSettings.dropped_input: expected one of {', '.join(DROPPED_INPUTS)}, "
                f"got {self.dropped_input!r}."
            )
        v = self.staged_epochs
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(
                f"TrainSettings.staged_epochs: expected a non-negative integer (0: off), got {v!r}."
            )
        if not isinstance(self.select_per_target, bool):
            raise ConfigError(
                f"TrainSettings.select_per_target: expected true or false, "
                f"got {self.select_per_target!r}."
            )


LEGACY_SETTINGS = {
    "select_per_target": False,
    "modality_dropout": 0.0,
    "dropped_input": "semantic",
    "staged_epochs": 0,
}
"""What runs recorded before these settings existed were trained with. The fused variants'
default is now waveform dropout 0.7 (docs/results.md, "Fusion training remedies")."""


def _split_validation(corpus, settings: TrainSettings):
    """The corpus with a validation partition, or a clear error."""
    from semser_tf.data.corpus import Corpus

    parts = {p.lower(): p for p in corpus.partitions()}
    if settings.train_partition.lower() not in parts:
        raise DataError(
            f"no {settings.train_partition!r} partition to train on; partitions: {sorted(parts.values())}",
            corpus.root,
        )
    if settings.val_partition.lower() in parts:
        return corpus
    if settings.val_fraction is None:
        raise DataError(
            f"no validation partition {settings.val_partition!r} (partitions: {sorted(parts.values())}); "
            "name one with val_partition (--val-partition) or hold out part of the training "
            "recordings with val_fraction (--val-fraction 0.2)",
            corpus.root,
        )
    train = sorted(corpus.recordings(settings.train_partition), key=lambda r: r.name)
    n_val = max(1, int(round(len(train) * float(settings.val_fraction))))
    if n_val >= len(train):
        raise DataError(
            f"val_fraction={settings.val_fraction} leaves no training recording out of {len(train)}",
            corpus.root,
        )
    held = {r.name for r in train[-n_val:]}
    recs = [
        dataclasses.replace(r, partition=settings.val_partition) if r.name in held else r
        for r in corpus.recordings()
    ]
    return Corpus(recs, root=corpus.root, targets=corpus.targets)


def _labelled_frames(recording, delay: int) -> int:
    mask = recording.label_mask
    if mask is None:
        return 0
    n = len(mask)
    shifted = mask[delay:] if delay >= 0 else mask[: max(0, n + delay)]
    return int(np.count_nonzero(shifted))


def _check_labelled_frames(corpus, settings: TrainSettings) -> None:
    """Refuse a training or validation partition without a single labelled frame."""
    d = int(settings.delay_frames)
    for part in (settings.train_partition, settings.val_partition):
        recs = corpus.recordings(part)
        if recs and sum(_labelled_frames(r, d) for r in recs) == 0:
            files = sorted({str(r.label_path) for r in recs if r.label_path is not None})
            extra = f" with --delay-frames {d}" if d else ""
            raise DataError(
                f"the {part} partition has no labelled frame{extra} ({len(recs)} recording(s), label files: "
                f"{', '.join(files[:3]) or 'none'}{' ...' if len(files) > 3 else ''}); expected label rows "
                "'name;time;<targets>' within the audio"
                + (" and a delay shorter than the recordings" if d else ""),
                corpus.root,
            )


SMALL_EPOCH_STEPS = 4
"""Fewer optimizer steps per epoch than this draw a hint (the paper's defaults on a small corpus)."""


def _hint_small_epochs(corpus, settings: TrainSettings, config: ModelConfig) -> int:
    """Warn when an epoch is only a few optimizer steps; returns the steps per epoch."""
    T = config.sequence_length
    hop = settings.hop or T
    windows = 0
    for r in corpus.recordings(settings.train_partition):
        n = int(r.n_frames or 0)
        n_w = 1 + max(0, -(-(n - T) // hop))  # the loader's count: 1 + ceil((n - T) / hop)
        windows += min(n_w, max(1, -(-n // hop)))
    steps = -(-windows // config.batch_size)
    if settings.steps_per_epoch:
        steps = min(steps, settings.steps_per_epoch)
    if 0 < steps < SMALL_EPOCH_STEPS:
        warnings.warn(
            f"the {settings.train_partition} partition gives {windows} window(s) of {T} frames: {steps} optimizer "
            f"step(s) per epoch at batch_size {config.batch_size}; on a corpus this small choose a shorter "
            "window or a smaller batch (--set sequence_length=100 --set batch_size=4) or more --epochs",
            stacklevel=3,
        )
    return steps


def epoch_steps(
    corpus, settings: TrainSettings, config: ModelConfig, frame_features=None, cache_dir=None
) -> int:
    """Batches in one epoch of the training partition (the loader's windows over the
    decoded frames), capped by ``settings.steps_per_epoch``."""
    from semser_tf.data.pipeline import window_index

    windows = len(
        window_index(
            corpus,
            settings.train_partition,
            config.sequence_length,
            settings.hop,
            cache_dir=cache_dir,
            frame_features=frame_features,
        )
    )
    steps = max(1, -(-windows // config.batch_size))
    return min(steps, settings.steps_per_epoch) if settings.steps_per_epoch else steps


def training_data(
    corpus,
    settings: TrainSettings,
    config: ModelConfig,
    frame_features,
    cache_dir,
    model,
    progress: bool = False,
):
    """``(train_epoch, val_ds, steps_per_epoch)`` of a run, in ``model``'s input form: the
    one definition of a run's data, shared by :func:`train` and the tuner's trials.

    ``train_epoch(e)`` is the training partition reshuffled with seed ``config.seed + e``
    (so a resumed run, or a trial, sees the batches an uninterrupted ``train`` sees);
    ``val_ds`` the validation partition in order; ``steps_per_epoch`` from
    :func:`epoch_steps`. The frame cache of the training partition is built first.
    """
    from semser_tf.data.pipeline import (
        build_cache,
        dataset_for_model,
        make_dataset,
        modality_dropout,
    )
    from semser_tf.models.builder import input_names

    drop = float(getattr(settings, "modality_dropout", 0.0) or 0.0)
    dropped = DROPPED_INPUTS[getattr(settings, "dropped_input", "semantic")]
    drop = drop if {"waveform", "semantic"} <= set(input_names(model)) else 0.0  # fused models only
    common = dict(
        sequence_length=config.sequence_length,
        batch_size=config.batch_size,
        delay_frames=settings.delay_frames,
        speaker_slots=config.speaker_slots,
        frame_features=frame_features,
        cache_dir=cache_dir,
    )

    def train_epoch(epoch):  # each epoch reshuffled with its own seed
        ds = make_dataset(
            corpus,
            settings.train_partition,
            hop=settings.hop,
            shuffle=True,
            seed=config.seed + epoch,
            progress=False,
            **common,
        )
        if drop:
            ds = modality_dropout(ds, drop, seed=config.seed + epoch, key=dropped)
        return dataset_for_model(ds, model)

    build_cache(corpus, settings.train_partition, frame_features, cache_dir, progress=progress)
    val_ds = dataset_for_model(
        make_dataset(corpus, settings.val_partition, shuffle=False, progress=progress, **common),
        model,
    )
    return train_epoch, val_ds, epoch_steps(corpus, settings, config, frame_features, cache_dir)


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


def _check_lengths(corpus, partition, config: ModelConfig):
    longest = max((r.n_frames or 0) for r in corpus.recordings(partition))
    if longest and config.sequence_length > longest:
        raise ConfigError(
            f"ModelConfig.sequence_length={config.sequence_length} frames is longer than every "
            f"{partition} recording (the longest has {longest} frames = {longest / 10:.1f} s); "
            "choose a sequence length of at most that."
        )


def _plot_history(history: list[dict], path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt

    from semser_tf.io import atomic_write_bytes

    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    for key, style in (("loss", "-"), ("val_loss", "--")):
        if key in history[0]:
            a.plot(ep, [h[key] for h in history], style, label=key)
    (
        a.set_xlabel("epoch"),
        a.set_title("CCC loss", fontsize=9),
        a.legend(fontsize=8),
        a.grid(alpha=0.3),
    )
    for key in [k for k in history[0] if k.startswith("val_ccc")]:
        b.plot(ep, [h[key] for h in history], label=key[4:])
    (
        b.set_xlabel("epoch"),
        b.set_title("validation CCC", fontsize=9),
        b.legend(fontsize=8),
        b.grid(alpha=0.3),
    )
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


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
        saved = read_run_config(out_dir / "config.json")
        saved_config = ModelConfig.from_dict(
            saved["model"], source=str(out_dir / "config.json"), recorded=True
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
        atomic_write_json(out_dir / "config.json", saved)
    if not resuming:
        if not (out_dir / RUN_MARKER).is_file():
            atomic_write_json(out_dir / RUN_MARKER, {"kind": "semser-run", "created": time.time()})
        atomic_write_json(
            out_dir / "config.json",
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
    staged = (
        settings.staged_epochs
        and config.variant in ("concat", "attention")
        and initial_model is None
    )
    if staged:  # stage 1: the paralinguistic branch alone, in stage1/
        with scope, precision_policy(settings.precision):
            initial_model = _staged_model(
                corpus,
                out_dir,
                config,
                settings,
                frame_features,
                cache_dir,
                verbose,
                compile_model,
                build_model,
                load_model,
                fit_run,
            )
    with scope, precision_policy(settings.precision):
        model = compile_model(
            initial_model if initial_model is not None else build_model(config),
            config,
            jit_compile=settings.jit_compile,
        )

    train_epoch, val_ds, steps = training_data(
        corpus, settings, config, frame_features, cache_dir, model, progress=verbose != 0
    )
    result = fit_run(
        model,
        train_epoch,
        val_ds,
        out_dir,
        settings,
        callbacks=callbacks,
        verbose=verbose,
        steps_per_epoch=steps,
        targets=config.targets,
    )
    history = result["history"]
    if plots and history:
        _plot_history(history, out_dir / "history.png")

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
    if evaluate_best and (out_dir / "best.keras").exists():
        from semser_tf.training.evaluate import evaluate_model, results_markdown

        best_model = load_model(out_dir / "best.keras")
        ev = evaluate_model(
            best_model,
            corpus,
            settings.val_partition,
            config,
            frame_features=frame_features,
            cache_dir=cache_dir,
            plot_dir=(out_dir / "plots") if plots else None,
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
    atomic_write_json(out_dir / "report.json", report)
    return report


STAGE1 = "stage1"
"""Sub-folder of a staged run holding its paralinguistic-only first stage (a run folder of its own)."""


def _staged_model(
    corpus,
    out_dir,
    config,
    settings,
    frame_features,
    cache_dir,
    verbose,
    compile_model,
    build_model,
    load_model,
    fit_run,
):
    """Staged training's first stage and hand-over: train the paralinguistic-only model
    ``settings.staged_epochs`` epochs into ``out_dir/stage1`` (resumable like any run),
    then return a fused model of ``config`` whose ``paralinguistic`` branch holds that
    stage's best weights (``best.keras``, selected on the mean CCC) and is frozen."""
    stage_dir = Path(out_dir) / STAGE1
    stage_config = config.replace(variant="paralinguistic")
    stage_settings = dataclasses.replace(
        settings,
        epochs=settings.staged_epochs,
        staged_epochs=0,
        select_per_target=False,
        modality_dropout=0.0,
    )
    para = compile_model(build_model(stage_config), stage_config, jit_compile=settings.jit_compile)
    train_epoch, val_ds, steps = training_data(
        corpus, stage_settings, stage_config, frame_features, cache_dir, para, progress=False
    )
    fit_run(
        para, train_epoch, val_ds, stage_dir, stage_settings, verbose=verbose, steps_per_epoch=steps
    )
    best = stage_dir / "best.keras"
    if not best.is_file():
        raise DataError(
            "the paralinguistic stage wrote no best.keras (no epoch with a validation CCC); "
            "staged training cannot continue",
            stage_dir,
        )
    fused = build_model(config)
    branch = fused.get_layer("paralinguistic")
    branch.set_weights(load_model(best).get_layer("paralinguistic").get_weights())
    branch.trainable = False
    return fused


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


def read_run_config(cfg_path):
    """A run's ``config.json`` as a dict, or a clear error naming it."""
    cfg_path = Path(cfg_path)
    if not cfg_path.is_file():
        raise DataError(
            "no config.json: expected the run's configuration (written by semser train) "
            "beside the model",
            cfg_path,
        )
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"not valid JSON ({err})", cfg_path) from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict):
        raise DataError(
            "expected a JSON object with a 'model' object (the run's model config)", cfg_path
        )
    return cfg


def _command(config) -> str:
    """The command line that started this process when it is ``semser``, else an API note."""
    import shlex
    import sys

    if Path(sys.argv[0]).name == "semser":
        return "semser " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return (
        f"semser_tf.training.train(variant={config.variant!r}, ...) from {Path(sys.argv[0]).name}"
    )
