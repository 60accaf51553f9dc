"""Fine-tuning a pretrained model on a new corpus, with new or fewer targets.

It starts from a zoo model (:func:`semser_tf.zoo.load_pretrained`) and trains with
:func:`semser_tf.training.train`, so it lives in the zoo package, above training
(``semser_tf.training.finetune`` still resolves to this module).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semser_tf.errors import ConfigError
from semser_tf.io import atomic_write_json, atomic_write_text
from semser_tf.training.run_folder import EMBEDDINGS_DIR, REPORT

FREEZABLE = {
    "paralinguistic": ("paralinguistic",),
    "fusion": ("modality_attention", "avl_fusion", "concat_fusion"),
    "lstm": ("lstm",),
}
"""Branch names accepted by ``freeze`` and the layers each one freezes."""


def transplant(pretrained_model, old_targets, new_model, new_targets):
    """Copy every weight of the pretrained model into the new one.

    Layers are matched by name and shape; the output head ``emotion`` keeps the columns of
    the targets both models share (so fewer targets keep their trained weights) and leaves
    new targets' columns as initialised. Returns the names of the targets that are new.
    """
    for layer in new_model.layers:
        if layer.name == "emotion" or not layer.weights:
            continue
        try:
            src = pretrained_model.get_layer(layer.name)
        except ValueError:
            continue
        src_w = src.get_weights()
        if [w.shape for w in src_w] != [w.shape for w in layer.get_weights()]:
            raise ConfigError(
                f"layer {layer.name!r}: pretrained weights of another shape; "
                "fine-tune with the pretrained model's architecture."
            )
        layer.set_weights(src_w)
    kernel, bias = new_model.get_layer("emotion").get_weights()
    old_k, old_b = pretrained_model.get_layer("emotion").get_weights()
    new = []
    for j, t in enumerate(new_targets):
        if t in old_targets:
            i = list(old_targets).index(t)
            kernel[:, j], bias[j] = old_k[:, i], old_b[i]
        else:
            new.append(t)
    new_model.get_layer("emotion").set_weights([kernel, bias])
    return new


def finetune(
    pretrained,
    corpus,
    out_dir,
    *,
    targets=None,
    freeze=(),
    epochs=20,
    patience=5,
    learning_rate=None,
    sequence_length=None,
    batch_size=None,
    val_partition="Devel",
    val_fraction=None,
    train_partition="Train",
    cache_dir=None,
    resume=False,
    overwrite=False,
    verbose="auto",
    embedding_mode=None,
    embeddings=None,
    callbacks=(),
) -> dict:
    """Start from a zoo model and train on a new corpus; CCC before and after.

    Args:
        pretrained: a :class:`~semser_tf.zoo.pretrained.PretrainedModel` or a name/path for
            :func:`~semser_tf.zoo.load_pretrained`.
        corpus: the new corpus (a manifest corpus or SEWA layout).
        out_dir: the run folder (publishable like any training run).
        targets: the targets to predict (default: the corpus's); targets the pretrained
            model knows keep their trained output weights, others get a fresh column.
        freeze: branches to keep fixed: any of ``paralinguistic``, ``fusion``, ``lstm``.
        epochs, patience: training length and early stopping.
        learning_rate, sequence_length, batch_size: overrides of the pretrained config
            (fine-tuning usually wants a smaller learning rate and shorter windows).
        val_partition, val_fraction, train_partition: the held-out part (see
            :class:`~semser_tf.training.run.TrainSettings`).
        cache_dir, resume, overwrite, verbose: as for :func:`~semser_tf.training.train`.
        embedding_mode: ``lookup``, ``text`` or ``encode`` semantic features (default: the
            model's).
        embeddings: an aligned-embeddings folder (or
            :class:`~semser_tf.semantic.embeddings.AlignedEmbeddings`) replacing the
            pretrained model's, e.g. aligned on the new corpus; same dimension as the
            model's semantic input.
        callbacks: the caller's Keras callbacks, as for :func:`~semser_tf.training.train`.

    Returns:
        The run report with ``finetune``: CCC per target before and after on the held-out
        partition.
    """
    from semser_tf.models.builder import build_model, compile_model
    from semser_tf.training.evaluate import evaluate_model
    from semser_tf.training.run import train
    from semser_tf.training.run_data import _split_validation
    from semser_tf.training.settings import TrainSettings
    from semser_tf.zoo.pretrained import PretrainedModel, load_pretrained

    if not isinstance(pretrained, PretrainedModel):
        pretrained = load_pretrained(pretrained)
    if embeddings is not None:
        from semser_tf.semantic.embeddings import AlignedEmbeddings

        if not isinstance(embeddings, AlignedEmbeddings):
            embeddings = AlignedEmbeddings.load(embeddings)
        if embeddings.dim != pretrained.config.semantic_dim:
            raise ConfigError(
                f"embeddings of dimension {embeddings.dim}, but the model {pretrained.name} takes "
                f"semantic input of dimension {pretrained.config.semantic_dim}"
            )
        pretrained = PretrainedModel(
            pretrained.model,
            pretrained.config,
            embeddings,
            pretrained.entry,
            pretrained.report,
            embedding_mode or pretrained.embedding_mode,
        )
    unknown = sorted(set(freeze) - set(FREEZABLE))
    if unknown:
        raise ConfigError(
            f"freeze: unknown branch(es) {', '.join(unknown)}; expected any of {', '.join(FREEZABLE)}."
        )
    targets = tuple(targets or corpus.targets)
    missing = [t for t in targets if t not in corpus.targets]
    if missing:
        raise ConfigError(
            f"targets {missing} are not in the corpus (its targets: {list(corpus.targets)})."
        )
    if targets != tuple(corpus.targets):
        from semser_tf.data.corpus import Corpus

        idx = [list(corpus.targets).index(t) for t in targets]
        corpus = Corpus(
            [_select(r, idx, targets) for r in corpus.recordings()],
            root=corpus.root,
            targets=targets,
        )
    changes = {"targets": targets, "target_weights": None}
    for key, value in (
        ("learning_rate", learning_rate),
        ("sequence_length", sequence_length),
        ("batch_size", batch_size),
    ):
        if value is not None:
            changes[key] = value
    config = pretrained.config.replace(**changes)
    settings = TrainSettings(
        epochs=epochs,
        patience=patience,
        train_partition=train_partition,
        val_partition=val_partition,
        val_fraction=val_fraction,
    )
    corpus = _split_validation(corpus, settings)
    frame_features = pretrained.frame_features(embedding_mode)
    from semser_tf.semantic.frame_features import report_coverage

    report_coverage(frame_features, corpus)
    out_dir = Path(out_dir)

    import keras

    keras.utils.set_random_seed(config.seed)  # once per run, before the model is built
    model = build_model(config)
    new_targets = transplant(pretrained.model, pretrained.targets, model, targets)
    for branch in freeze:
        for name in FREEZABLE[branch]:
            try:
                model.get_layer(name).trainable = False
            except ValueError:
                pass
    compile_model(model, config)
    before = evaluate_model(
        model,
        corpus,
        settings.val_partition,
        config,
        frame_features=frame_features,
        cache_dir=cache_dir,
    )["results"]["raw"]
    report = train(
        corpus,
        out_dir,
        config,
        settings,
        frame_features=frame_features,
        cache_dir=cache_dir,
        resume=resume,
        overwrite=overwrite,
        verbose=verbose,
        initial_model=model,
        callbacks=callbacks,
        dataset_name=Path(str(corpus.root)).name,
    )
    after = report["metrics"][0]
    report["finetune"] = {
        "from": pretrained.name,
        "targets": list(targets),
        "new_targets": new_targets,
        "frozen": list(freeze),
        "partition": settings.val_partition,
        "before": {"ccc": before["ccc"], "mean": before["mean"]},
        "after": {"ccc": after["ccc"], "mean": after["mean"]},
    }
    if pretrained.embeddings is not None and not (out_dir / EMBEDDINGS_DIR).exists():
        pretrained.embeddings.save(out_dir / EMBEDDINGS_DIR)
    atomic_write_json(out_dir / REPORT, report)
    lines = [
        f"# Fine-tuning {pretrained.name} on {Path(str(corpus.root)).name} ({settings.val_partition})",
        "",
        "| | " + " | ".join(targets) + " | mean |",
        "|---|" + "---:|" * (len(targets) + 1),
    ]
    for label, r in (("before", before), ("after", after)):
        lines.append(
            f"| {label} | "
            + " | ".join(f"{r['ccc'][t]:.3f}" for t in targets)
            + f" | {r['mean']:.3f} |"
        )
    atomic_write_text(out_dir / "finetune.md", "\n".join(lines) + "\n")
    return report


def _select(rec, idx, targets):
    import dataclasses

    labels = None if rec.labels is None else np.asarray(rec.labels)[:, idx]
    return dataclasses.replace(rec, labels=labels, targets=targets)
