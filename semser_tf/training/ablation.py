"""The paper's ablation: the four variants trained with the same seed and data."""

from __future__ import annotations

import time
from pathlib import Path

from semser_tf.io import atomic_write_json, atomic_write_text
from semser_tf.models.config import VARIANTS, ModelConfig
from semser_tf.plotting import plot_ablation
from semser_tf.training.run_folder import BEST, CONFIG, REPORT, read_run_config


def ablation(
    corpus,
    out_dir,
    config: ModelConfig | None = None,
    settings=None,
    variants=VARIANTS,
    frame_features=None,
    cache_dir=None,
    resume=False,
    overwrite=False,
    verbose="auto",
    evaluate_partition=None,
    embeddings_dir=None,
    warm_start_from_branch=None,
) -> dict:
    """Train each variant into ``out_dir/<variant>`` and tabulate CCC per target.

    Every variant gets the same config (but for ``variant``), seed, data, frame features
    and training settings. The table is written as ``ablation.md``, ``ablation.json`` and
    ``ablation.png`` in ``out_dir``.

    Args:
        corpus: the corpus.
        out_dir: folder of the runs and the table.
        config: the shared config (paper defaults when ``None``).
        settings: shared :class:`~semser_tf.training.run.TrainSettings`.
        variants: the variants to train, in table order.
        frame_features: semantic frame features (required by the semantic variant).
        cache_dir: as for :func:`~semser_tf.training.run.train`.
        resume: as for :func:`~semser_tf.training.run.train`.
        overwrite: as for :func:`~semser_tf.training.run.train`.
        verbose: as for :func:`~semser_tf.training.run.train`.
        evaluate_partition: also evaluate every best model on this partition (e.g. ``Test``).
        embeddings_dir: the aligned-embeddings folder of ``frame_features``; each variant's
            run folder gets a copy (see :func:`~semser_tf.training.run.train`).
        warm_start_from_branch: the fused variants start from this ablation's
            paralinguistic run, ``out_dir/paralinguistic/best.keras``
            (``TrainSettings.warm_start``, :mod:`semser_tf.training.staged`): list
            ``paralinguistic`` before them in ``variants``, or have it trained before.
            ``None`` (default): when the settings stage the fused variants (the default
            unimodal warm start, no ``warm_start`` of their own) and ``paralinguistic``
            is trained before them here, so that its run is their first stage (the same
            model a ``stage1/`` would train, once instead of once per fused variant).

    Returns:
        ``{"rows": [{variant, partition, ccc{target}, mean, seconds}], ...}``.
    """
    from semser_tf.training.run import TrainSettings, train

    config = config or ModelConfig()
    settings = settings or TrainSettings()
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        from semser_tf.errors import ConfigError

        raise ConfigError(
            f"{out_dir}: is a file; expected a folder for the ablation's runs (or a new path)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    if warm_start_from_branch is None:
        from semser_tf.training.staged import is_staged

        fused = [v for v in variants if v in ("concat", "attention")]
        warm_start_from_branch = bool(
            fused
            and settings.warm_start is None
            and is_staged(settings, config.replace(variant=fused[0]))
            and "paralinguistic" in variants
            and list(variants).index("paralinguistic") < list(variants).index(fused[0])
        )
    rows = []
    for variant in variants:
        t0 = time.time()
        run_dir = out_dir / variant
        run_settings = settings
        if warm_start_from_branch and variant in ("concat", "attention"):
            run_settings = _from_branch(settings, out_dir)
        if resume and (run_dir / REPORT).exists() and _finished(run_dir):
            report = _load(run_dir)
        else:
            report = train(
                corpus,
                run_dir,
                config.replace(variant=variant),
                run_settings,
                frame_features=frame_features,
                cache_dir=cache_dir,
                resume=resume,
                overwrite=overwrite,
                verbose=verbose,
                embeddings_dir=embeddings_dir,
            )
        metric = report["metrics"][0]
        rows.append(
            {
                "variant": variant,
                "partition": metric["partition"],
                "selection": "mean",
                "ccc": metric["ccc"],
                "mean": metric["mean"],
                "best_epoch": report.get("best_epoch"),
                "epochs_done": report.get("epochs_done"),
                "seconds": round(time.time() - t0, 1),
            }
        )
        sel = report.get("per_target_selection")
        if sel:
            rows.append(
                {
                    "variant": variant,
                    "partition": sel["partition"],
                    "selection": "per-target",
                    "ccc": sel["ccc"],
                    "mean": sel["mean"],
                    "best_epoch": sel["epochs"],
                }
            )
        if evaluate_partition:
            rows.append(
                _evaluate_extra(
                    corpus, run_dir, variant, evaluate_partition, frame_features, cache_dir
                )
            )
            if sel:
                rows.append(
                    _evaluate_per_target(
                        corpus, run_dir, variant, evaluate_partition, frame_features, cache_dir
                    )
                )
    table = {
        "targets": list(config.targets),
        "rows": rows,
        "config": config.to_dict(),
        "warm_start_from_branch": bool(warm_start_from_branch),
        "settings": {
            k: getattr(settings, k)
            for k in (
                "epochs",
                "patience",
                "train_partition",
                "val_partition",
                "select_per_target",
                "modality_dropout",
                "dropped_input",
                "dropout_mode",
                "dropped_unscored",
                "kept_unscored",
                "staged_epochs",
                "warm_start",
                "staged_frozen_epochs",
                "staged_finetune_lr",
            )
        },
    }
    atomic_write_json(out_dir / "ablation.json", table)
    atomic_write_text(out_dir / "ablation.md", ablation_markdown(table))
    plot_ablation(table, out_dir / "ablation.png")
    return table


def _from_branch(settings, out_dir: Path):
    """``settings`` with ``warm_start`` the ablation's paralinguistic run (a ConfigError
    when it has no best model yet)."""
    import dataclasses

    from semser_tf.errors import ConfigError

    branch = out_dir / "paralinguistic"
    if not (branch / BEST).is_file():
        raise ConfigError(
            f"{branch}: no best.keras to warm-start the fused variants from; list "
            "paralinguistic before concat and attention in the variants"
        )
    return dataclasses.replace(settings, warm_start=str(branch))


def _finished(run_dir: Path) -> bool:

    from semser_tf.training.loop import committed_state

    state = committed_state(run_dir)
    if state is None:
        return False
    cfg = read_run_config(run_dir / CONFIG)
    return state.get("stopped") or state["epoch"] >= cfg["training"]["epochs"]


def _load(run_dir: Path) -> dict:
    import json

    return json.loads((run_dir / REPORT).read_text())


def _evaluate_extra(corpus, run_dir, variant, partition, frame_features, cache_dir):

    from semser_tf.models.builder import load_model
    from semser_tf.training.evaluate import evaluate_model

    cfg = ModelConfig.from_dict(read_run_config(run_dir / CONFIG)["model"], recorded=True)
    model = load_model(run_dir / BEST)
    ev = evaluate_model(
        model, corpus, partition, cfg, frame_features=frame_features, cache_dir=cache_dir
    )
    raw = ev["results"]["raw"]
    atomic_write_json(run_dir / f"eval_{partition}.json", ev)
    return {
        "variant": variant,
        "partition": partition,
        "selection": "mean",
        "ccc": raw["ccc"],
        "mean": raw["mean"],
    }


def _evaluate_per_target(corpus, run_dir, variant, partition, frame_features, cache_dir):

    from semser_tf.io import atomic_write_json
    from semser_tf.training.run import per_target_selection

    cfg = ModelConfig.from_dict(read_run_config(run_dir / CONFIG)["model"])
    sel = per_target_selection(run_dir, corpus, partition, cfg, frame_features, cache_dir)
    atomic_write_json(run_dir / f"eval_{partition}_per_target.json", sel)
    return {
        "variant": variant,
        "partition": partition,
        "selection": "per-target",
        "ccc": sel["ccc"],
        "mean": sel["mean"],
        "best_epoch": sel["epochs"],
    }


def ablation_markdown(table: dict) -> str:
    targets = table["targets"]
    lines = [
        "| variant | partition | selection | " + " | ".join(targets) + " | mean |",
        "|---|---|---|" + "---:|" * (len(targets) + 1),
    ]
    for r in table["rows"]:
        lines.append(
            f"| {r['variant']} | {r['partition']} | {r.get('selection', 'mean')} | "
            + " | ".join(f"{r['ccc'][t]:.3f}" for t in targets)
            + f" | {r['mean']:.3f} |"
        )
    return "\n".join(lines) + "\n"
