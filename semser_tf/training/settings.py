"""The training-loop settings of a run (beside its :class:`~semser_tf.models.ModelConfig`).

:class:`TrainSettings` is recorded in the run's ``config.json`` (``training``) and checked
again on resume (:func:`semser_tf.training.run_folder.resume_settings`).
"""

from __future__ import annotations

import dataclasses
import os

from semser_tf.errors import ConfigError

__all__ = ["DROPOUT_MODES", "DROPPED_INPUTS", "LEGACY_SETTINGS", "TrainSettings"]

DROPPED_INPUTS = {
    "semantic": ("semantic",),
    "waveform": ("waveform",),
    "either": ("waveform", "semantic"),
}
"""``TrainSettings.dropped_input``: the model inputs modality dropout may zero."""

DROPOUT_MODES = ("random", "paired")
"""``TrainSettings.dropout_mode``: a random share of the windows dropped, or every window twice."""


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
        steps_per_execution: training steps per call of Keras's train function (batch
            callbacks once per call; the weights are those of one step at a time). ``None``:
            1, Keras's default (16 measured no faster on the H200: docs/measurements/benchmarks.md,
            "GPU (H200)"); cut to a divisor of the steps per epoch
            (:func:`~semser_tf.training.loop.execution_steps`).
        precision: Keras dtype policy the model is built under: ``float32`` (default) or
            ``mixed_bfloat16`` (the fast setting, docs/measurements/benchmarks.md) or ``mixed_float16``.
        select_per_target: also keep the best epoch of each target, ``best-<target>.keras``
            beside ``best.keras`` (the AVEC 2019 baseline selects per target); the report's
            ``per_target_selection`` holds each target's CCC from its own checkpoint.
        modality_dropout: share of training windows whose ``dropped_input`` is zeroed
            (seeded per epoch; the validation data are never touched), so that a fused
            model cannot lean on one modality alone (0: off).
        dropped_input: the input modality dropout zeroes: ``semantic``, ``waveform`` or
            ``either`` (each dropped window loses one of the two, drawn uniformly).
        dropout_mode: ``random``: a ``modality_dropout`` share of the windows is dropped;
            ``paired``: every training window appears twice in its batch, once whole and
            once with ``dropped_input`` zeroed (the batch doubles; a ``modality_dropout``
            above 0 turns it on, its value is not used);
            :func:`~semser_tf.data.pipeline.modality_dropout`.
        dropped_unscored: targets a window is not scored on when its input is dropped
            (their sample weight 0 there): ``("arousal",)`` with the waveform dropped keeps
            arousal to the windows that have the voice, while the words carry valence and
            liking on the dropped ones (empty: every target scored).
        kept_unscored: targets a window that keeps every input is not scored on (with
            ``paired``, ``("valence", "liking")`` and ``dropped_unscored=("arousal",)``:
            the whole windows teach arousal only, their copies without the voice valence
            and liking only; empty: every target scored).
        staged_epochs: for a fused variant, first train the paralinguistic-only model this
            many epochs (in ``stage1/``), copy its best paralinguistic branch into the
            fused model and keep it frozen while the rest trains: the unimodal warm start,
            the fused variants' default (``None``: as many epochs as ``epochs``; measured
            in docs/measurements/results.md, "Unimodal warm start and paired modality
            dropout"; 0: off).
        warm_start: a paralinguistic-only run folder (or its ``.keras`` file) whose
            ``best.keras`` branch initialises a fused model's ``paralinguistic`` branch
            instead of a first stage (the unimodal warm start; ``semser ablation`` passes
            its own paralinguistic run on); frozen as in staged training (``None``: off).
        staged_frozen_epochs: with staging or a warm start, the fused epochs the branch
            stays frozen; after them it trains too and the learning rate of the whole
            model is ``staged_finetune_lr`` times the config's (``None``: frozen
            throughout).
        staged_finetune_lr: the learning-rate factor of the fine-tuning epochs after
            ``staged_frozen_epochs``.
        validation: how the validation partition is predicted for early stopping and
            selection: ``carried`` (the LSTM state carried across each recording's windows,
            the rule of predict and evaluate) or ``window`` (Keras's own: each window from
            zero state); :mod:`semser_tf.training.validation`.
        context_frames: frames of context before each training window, fed to the model
            but not scored (their weight zero), so that the LSTM enters the scored frames
            with a warmed-up state as in prediction over a whole file; the windows stay
            ``hop`` apart (:func:`~semser_tf.data.pipeline.unscored_context`; 0: off).
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
    steps_per_execution: int | None = None
    precision: str = "float32"
    select_per_target: bool = False
    modality_dropout: float = 0.7
    dropped_input: str = "waveform"
    staged_epochs: int | None = None
    dropout_mode: str = "random"
    dropped_unscored: tuple = ()
    kept_unscored: tuple = ()
    warm_start: str | None = None
    staged_frozen_epochs: int | None = None
    staged_finetune_lr: float = 0.1
    validation: str = "carried"
    context_frames: int = 0

    def _check_count(self, name: str, minimum: int, expected: str, optional=True) -> None:
        """An integer field of at least ``minimum`` (or ``None``, when ``optional``)."""
        v = getattr(self, name)
        if v is None and optional:
            return
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ConfigError(f"TrainSettings.{name}: expected {expected}, got {v!r}.")

    def __post_init__(self):
        from semser_tf.models.builder import check_precision

        check_precision(self.precision)
        for name in ("epochs", "patience"):
            self._check_count(name, 1, "a positive integer", optional=False)
        self._check_count(
            "steps_per_epoch", 1, "a positive integer or None (no cap: the whole partition)"
        )
        self._check_count(
            "steps_per_execution", 1, "a positive integer or None (the backend's default)"
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
        self._check_count(
            "staged_epochs", 0, "a non-negative integer (0: off) or None (as many as epochs)"
        )
        if self.dropout_mode not in DROPOUT_MODES:
            raise ConfigError(
                f"TrainSettings.dropout_mode: expected one of {', '.join(DROPOUT_MODES)}, "
                f"got {self.dropout_mode!r}."
            )
        for name in ("dropped_unscored", "kept_unscored"):
            v = getattr(self, name)
            if isinstance(v, str) or not isinstance(v, (list, tuple)):
                raise ConfigError(
                    f"TrainSettings.{name}: expected a list of target names "
                    f"(e.g. ['arousal']), got {v!r}."
                )
            if not all(isinstance(t, str) and t for t in v) or len(set(v)) != len(v):
                raise ConfigError(
                    f"TrainSettings.{name}: expected distinct target names, got {list(v)!r}."
                )
            setattr(self, name, tuple(v))  # a list when read back from config.json
        v = self.warm_start
        if isinstance(v, os.PathLike):
            v = self.warm_start = os.fspath(v)
        if v is not None and (not isinstance(v, str) or not v):
            raise ConfigError(
                f"TrainSettings.warm_start: expected the path of a paralinguistic run folder "
                f"or .keras file, or None, got {v!r}."
            )
        self._check_count(
            "staged_frozen_epochs", 0, "a non-negative integer or None (frozen throughout)"
        )
        v = self.staged_finetune_lr
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
            raise ConfigError(
                f"TrainSettings.staged_finetune_lr: expected a number in (0, 1], got {v!r}."
            )
        if not isinstance(self.select_per_target, bool):
            raise ConfigError(
                f"TrainSettings.select_per_target: expected true or false, "
                f"got {self.select_per_target!r}."
            )
        v = self.context_frames
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(
                f"TrainSettings.context_frames: expected a non-negative integer (0: off), got {v!r}."
            )
        if self.validation not in ("carried", "window"):
            raise ConfigError(
                f"TrainSettings.validation: expected carried or window, got {self.validation!r}."
            )


LEGACY_SETTINGS = {
    "select_per_target": False,
    "modality_dropout": 0.0,
    "dropped_input": "semantic",
    "staged_epochs": 0,
    "validation": "window",
    "dropout_mode": "random",
    "dropped_unscored": (),
    "kept_unscored": (),
    "warm_start": None,
    "staged_frozen_epochs": None,
    "staged_finetune_lr": 0.1,
}
"""What runs recorded before these settings existed were trained with. The fused variants'
defaults are now waveform dropout 0.7 (docs/measurements/results.md, "Fusion training remedies")
and the unimodal warm start, ``staged_epochs=None`` (same file, "Unimodal warm start and paired
modality dropout")."""
