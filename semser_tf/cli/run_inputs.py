"""What a training command reads from its arguments: the corpus, the frame features (an
embeddings folder, or a run's own copy), the model config and the training settings.
Shared by ``semser train``, ``evaluate``, ``ablation``, ``tune`` and ``zoo finetune``."""

from __future__ import annotations

import json
from pathlib import Path

from semser_tf.errors import ConfigError, DataError
from semser_tf.semantic.frame_features import report_coverage


def open_corpus(path, words_dir=None):
    """A SEWA-layout folder or a manifest file (``.csv``/``.jsonl``/``.json``).

    ``words_dir``: a folder of ``<recording>.csv`` word timings that replaces each
    recording's own (see :meth:`~semser_tf.data.corpus.Corpus.with_words`).
    """
    path = Path(path)
    if path.is_dir():
        from semser_tf.data.sewa import SEWACorpus

        corpus = SEWACorpus(path)
    elif path.is_file():
        from semser_tf.data.manifest import load_manifest

        corpus = load_manifest(path)
    else:
        raise DataError("corpus not found: expected a SEWA-layout folder or a manifest file", path)
    return corpus.with_words(words_dir) if words_dir else corpus


def open_frame_features(embeddings, mode="lookup", corpus=None):
    """Frame features from an aligned-embeddings folder, or ``None``; with ``corpus``, the
    OOV rate of its words is printed."""
    if not embeddings:
        return None
    from semser_tf.semantic.embeddings import AlignedEmbeddings

    features = AlignedEmbeddings.load(embeddings).frame_features(mode=mode)
    report_coverage(features, corpus)
    return features


def run_frame_features(run_dir, cfg: dict, variant: str, embeddings=None, mode=None):
    """The frame features a run was trained with: ``embeddings`` or the run's own copy,
    in the recorded semantic mode (``None`` for a model without semantic input).

    Raises:
        ConfigError: a fused or semantic model whose embeddings are nowhere to be found,
            or a mode of another space than the recorded one.
    """
    from semser_tf.semantic.embeddings import check_mode
    from semser_tf.training.run_folder import CONFIG, EMBEDDINGS_DIR

    run_dir = Path(run_dir)
    recorded = cfg.get("semantic_mode")
    check_mode(mode, recorded, run_dir / CONFIG)
    mode = mode or recorded or "lookup"
    if embeddings is None and (run_dir / EMBEDDINGS_DIR).is_dir():
        embeddings = run_dir / EMBEDDINGS_DIR
    if embeddings is not None:
        return open_frame_features(embeddings, mode)
    if variant == "paralinguistic" or str(cfg.get("frame_features", "")).startswith(
        "ZeroFrameFeatures"
    ):
        return None  # no semantic input, or trained on zeros: evaluated on zeros too
    raise ConfigError(
        f"{run_dir}: the {variant} model was trained with semantic features ({cfg.get('frame_features')}), "
        "but the run folder has no embeddings/ copy; pass --embeddings DIR (the aligned embeddings it was "
        "trained with): with zeros its figures would be meaningless."
    )


def parse_sets(pairs):
    """``--set KEY=VALUE`` items as a dict (each VALUE read as JSON, else kept as text)."""
    out = {}
    for item in pairs or []:
        if "=" not in item:
            raise ConfigError(
                f"--set {item!r}: expected KEY=VALUE (VALUE in JSON, e.g. lstm_units=128)."
            )
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def model_config(args):
    """The ``ModelConfig`` of ``--preset``/``--config``, ``--set`` and ``--variant``."""
    from semser_tf.cli.models import load_config

    overrides = parse_sets(args.set)
    if getattr(args, "variant", None):
        overrides["variant"] = args.variant
    return load_config(args.preset, args.config, overrides)


def train_settings(args):
    """``TrainSettings`` from a training command's options (those it lacks: the defaults)."""
    from semser_tf.training.run import TrainSettings

    warm = getattr(args, "warm_start", None)
    return TrainSettings(
        epochs=args.epochs,
        patience=args.patience,
        train_partition=args.train_partition,
        val_partition=args.val_partition,
        val_fraction=args.val_fraction,
        delay_frames=args.delay_frames,
        steps_per_epoch=args.steps_per_epoch,
        precision=getattr(args, "precision", "float32"),
        select_per_target=getattr(args, "select_per_target", False),
        modality_dropout=getattr(args, "modality_dropout", TrainSettings.modality_dropout),
        dropped_input=getattr(args, "dropped_input", TrainSettings.dropped_input),
        staged_epochs=getattr(args, "staged_epochs", 0),  # finetune has none: off
        dropout_mode=getattr(args, "dropout_mode", "random"),
        dropped_unscored=_names(getattr(args, "dropped_unscored", None)),
        kept_unscored=_names(getattr(args, "kept_unscored", None)),
        warm_start=None if warm == WARM_FROM_BRANCH else warm,
        staged_frozen_epochs=getattr(args, "staged_frozen_epochs", None),
        staged_finetune_lr=getattr(args, "staged_finetune_lr", 0.1),
        validation=getattr(args, "validation", TrainSettings.validation),
        context_frames=getattr(args, "context_frames", 0),
    )


WARM_FROM_BRANCH = "branch"
"""``semser ablation --warm-start branch``: the fused variants start from the ablation's own
paralinguistic run."""


def _names(text) -> tuple:
    """A comma-separated list of names (``None``: none)."""
    return tuple(t.strip() for t in (text or "").split(",") if t.strip())
