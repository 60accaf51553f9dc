"""The results of a search: its trials, the results table, the best trial and its export."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from semser_tf.io import atomic_write_text
from semser_tf.tuning._common import PROJECT, TuningError
from semser_tf.tuning.space import config_for


def load_trials(out_dir) -> list[dict]:
    """The trials of a search folder as dicts (read from ``search/trial_*/trial.json``).

    Each dict has ``trial_id``, ``status``, ``worker`` (who ran it, from the worker logs),
    ``hyperparameters`` (searched values), ``score`` (the objective) and ``metrics`` (every
    metric at the best step).

    Example:

    >>> [t["trial_id"] for t in load_trials("tune_out")]  # doctest: +SKIP
    ['0', '1']
    """
    project = Path(out_dir) / PROJECT
    ran_by = _ran_by(project / "workers")
    trials = []
    for path in sorted(project.glob("trial_*/trial.json")):
        t = json.loads(path.read_text())
        best_step = t.get("best_step")
        metrics = {}
        for name, m in (t.get("metrics", {}).get("metrics", {}) or {}).items():
            obs = m.get("observations", [])
            at = [o for o in obs if o.get("step") == best_step] or obs[-1:]
            if at:
                metrics[name] = float(at[-1]["value"][0])
        values = {k: v for k, v in t["hyperparameters"]["values"].items()}
        trials.append(
            {
                "trial_id": t["trial_id"],
                "status": t.get("status"),
                "score": t.get("score"),
                "best_step": best_step,
                "hyperparameters": values,
                "metrics": metrics,
                "worker": ran_by.get(t["trial_id"], ""),
            }
        )
    return trials


def _ran_by(folder: Path) -> dict:
    """trial id -> the worker that finished it (else the last one that started it)."""
    events = []
    for path in folder.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a killed worker
    out = {}
    for e in sorted(events, key=lambda e: (e["event"] == "end", e["time"])):
        out[e["trial_id"]] = e["tuner_id"]
    return out


def results_rows(trials, targets, objective="val_ccc") -> list[dict]:
    """Table rows, best objective first: trial, status, worker, hyperparameters, CCCs.

    Args:
        trials: from :func:`load_trials`.
        targets: target names (one ``val_ccc_<target>`` column each).
        objective: the objective's name (its direction decides the order).
    """
    hp_names = sorted({k for t in trials for k in t["hyperparameters"]})
    sign = 1.0 if objective.endswith("loss") else -1.0

    def key(t):
        s = t["score"]
        return (
            s is None or (isinstance(s, float) and math.isnan(s)),
            sign * (s or 0.0),
            t["trial_id"],
        )

    rows = []
    for t in sorted(trials, key=key):
        row = {"trial": t["trial_id"], "status": t["status"], "worker": t["worker"]}
        row.update({k: t["hyperparameters"].get(k, "") for k in hp_names})
        row["objective"] = objective
        row["score"] = t["score"]
        row["val_ccc"] = t["metrics"].get("val_ccc")
        for target in targets:
            row[f"val_ccc_{target}"] = t["metrics"].get(f"val_ccc_{target}")
        row["best_epoch"] = None if t["best_step"] is None else int(t["best_step"]) + 1
        rows.append(row)
    return rows


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_results(out_dir, rows) -> tuple[Path, Path]:
    """Write ``results.csv`` and ``results.md`` (atomically); returns their paths."""
    out_dir = Path(out_dir)
    cols = list(rows[0]) if rows else ["trial", "status"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    atomic_write_text(out_dir / "results.csv", buf.getvalue())
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(_fmt(r.get(k)) for k in cols) + " |" for r in rows]
    atomic_write_text(out_dir / "results.md", "# Hyperparameter search\n\n" + "\n".join(md) + "\n")
    return out_dir / "results.csv", out_dir / "results.md"


def best_trial(out_dir, objective="val_ccc"):
    """The completed trial with the best objective, or ``None``."""
    done = [
        t for t in load_trials(out_dir) if t["status"] == "COMPLETED" and t["score"] is not None
    ]
    if not done:
        return None
    pick = min if objective.endswith("loss") else max
    return pick(done, key=lambda t: t["score"])


def export_best(
    out_dir,
    corpus,
    base_config,
    settings,
    run_dir=None,
    objective="val_ccc",
    frame_features=None,
    cache_dir=None,
    overwrite=False,
    verbose=0,
):
    """Retrain the best trial's hyperparameters with ``train()``: a publishable run directory.

    Args:
        out_dir: the search folder.
        corpus: the corpus searched on.
        base_config: the base config of the search.
        settings: the ``TrainSettings`` of the search.
        run_dir: the run directory (default ``out_dir/best_run``).
        objective: the objective's name.
        frame_features: as for ``train()``.
        cache_dir: as for ``train()``.
        overwrite: replace an existing run directory.
        verbose: Keras verbosity.

    Returns:
        ``train()``'s report, with ``trial_id`` and ``hyperparameters`` added.

    Example:

    >>> export_best("tune_out", corpus, ModelConfig(), TrainSettings(epochs=20))  # doctest: +SKIP
    """
    from semser_tf.training.run import train

    best = best_trial(out_dir, objective)
    if best is None:
        raise TuningError(f"{Path(out_dir) / PROJECT}: no completed trial to export.")
    config = config_for(base_config, best["hyperparameters"])
    run_dir = Path(run_dir) if run_dir else Path(out_dir) / "best_run"
    report = train(
        corpus,
        run_dir,
        config,
        settings,
        frame_features=frame_features,
        cache_dir=cache_dir,
        overwrite=overwrite,
        verbose=verbose,
        plots=False,
    )
    report.update(trial_id=best["trial_id"], hyperparameters=best["hyperparameters"])
    return report
