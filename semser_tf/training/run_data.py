"""The data of a training run: the validation split, the checks of what will be trained on,
and :func:`training_data`, the one definition of a run's datasets (shared by
:func:`semser_tf.training.train` and the tuner's trials)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from semser_tf.errors import ConfigError, DataError
from semser_tf.models.config import ModelConfig
from semser_tf.training.settings import DROPPED_INPUTS, TrainSettings

__all__ = [
    "SMALL_EPOCH_STEPS",
    "dropout_unscored",
    "epoch_steps",
    "training_data",
    "validation_setup",
]


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
    T, hop = training_window(settings, config)
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


def training_window(settings: TrainSettings, config: ModelConfig) -> tuple[int, int]:
    """``(frames, hop)`` of a training window: ``sequence_length`` frames scored, preceded by
    ``settings.context_frames`` frames that warm the LSTM state up and are not scored; the
    windows start ``hop`` apart (``settings.hop``, default ``sequence_length``)."""
    T = int(config.sequence_length)
    B = int(getattr(settings, "context_frames", 0) or 0)
    return T + B, int(settings.hop or T)


def epoch_steps(
    corpus, settings: TrainSettings, config: ModelConfig, frame_features=None, cache_dir=None
) -> int:
    """Batches in one epoch of the training partition (the loader's windows over the
    decoded frames), capped by ``settings.steps_per_epoch``."""
    from semser_tf.data.pipeline import window_index

    length, hop = training_window(settings, config)
    windows = len(
        window_index(
            corpus,
            settings.train_partition,
            length,
            hop,
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
    (so a resumed run, or a trial, sees the batches an uninterrupted ``train`` sees), in
    windows of :func:`training_window` (with ``settings.context_frames``, the first frames
    of each window only warm the LSTM up: their weight is zero);
    ``val_ds`` the validation partition in order; ``steps_per_epoch`` from
    :func:`epoch_steps`. The frame cache of the training partition is built first.
    """
    from semser_tf.data.pipeline import (
        build_cache,
        dataset_for_model,
        make_dataset,
        modality_dropout,
        unscored_context,
    )
    from semser_tf.models.builder import input_names

    length, hop = training_window(settings, config)
    context = length - int(config.sequence_length)

    drop = float(getattr(settings, "modality_dropout", 0.0) or 0.0)
    dropped = DROPPED_INPUTS[getattr(settings, "dropped_input", "semantic")]
    drop = drop if {"waveform", "semantic"} <= set(input_names(model)) else 0.0  # fused models only
    paired = getattr(settings, "dropout_mode", "random") == "paired"
    unscored = dropout_unscored(settings, config)
    kept_unscored = dropout_unscored(settings, config, "kept_unscored")
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
            hop=hop,
            shuffle=True,
            seed=config.seed + epoch,
            progress=False,
            **{**common, "sequence_length": length},
        )
        if context:
            ds = unscored_context(ds, context)
        if drop:
            ds = modality_dropout(
                ds,
                0.0 if paired else drop,
                seed=config.seed + epoch,
                key=dropped,
                unscored=unscored,
                paired=paired,
                kept_unscored=kept_unscored,
            )
        return dataset_for_model(ds, model)

    build_cache(corpus, settings.train_partition, frame_features, cache_dir, progress=progress)
    val_ds = dataset_for_model(
        make_dataset(corpus, settings.val_partition, shuffle=False, progress=progress, **common),
        model,
    )
    return train_epoch, val_ds, epoch_steps(corpus, settings, config, frame_features, cache_dir)


def dropout_unscored(
    settings: TrainSettings, config: ModelConfig, field: str = "dropped_unscored"
) -> tuple[int, ...]:
    """The indices in ``config.targets`` of ``settings.dropped_unscored`` (or of another
    ``field``, ``kept_unscored``), or a ``ConfigError`` naming the field and the model's
    targets."""
    names = tuple(getattr(settings, field, ()) or ())
    unknown = [t for t in names if t not in config.targets]
    if unknown:
        raise ConfigError(
            f"TrainSettings.{field}: {unknown[0]!r} is not a target of the model "
            f"(targets: {', '.join(config.targets)})."
        )
    return tuple(list(config.targets).index(t) for t in names)


def _check_lengths(corpus, partition, config: ModelConfig):
    longest = max((r.n_frames or 0) for r in corpus.recordings(partition))
    if longest and config.sequence_length > longest:
        raise ConfigError(
            f"ModelConfig.sequence_length={config.sequence_length} frames is longer than every "
            f"{partition} recording (the longest has {longest} frames = {longest / 10:.1f} s); "
            "choose a sequence length of at most that."
        )


def validation_setup(
    corpus, settings: TrainSettings, config: ModelConfig, frame_features, cache_dir, val_ds
):
    """``(validation_data, callbacks)`` for ``model.fit`` by ``settings.validation``:
    ``(None, [CarriedValidation])`` for the carried rule (the callbacks must run first),
    ``(val_ds, [])`` for Keras's own per-window validation."""
    if getattr(settings, "validation", "window") != "carried":
        return val_ds, []
    from semser_tf.training.validation import CarriedValidation

    cb = CarriedValidation(
        corpus,
        settings.val_partition,
        config.targets,
        config.sequence_length,
        delay_frames=settings.delay_frames,
        frame_features=frame_features,
        cache_dir=cache_dir,
    )
    return None, [cb]
