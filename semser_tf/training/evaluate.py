"""Evaluation with the AVEC conventions, post-processing, and plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semser_tf.errors import ConfigError, DataError
from semser_tf.metrics_numpy import ccc_np as ccc_np  # re-exported: its home before metrics_numpy
from semser_tf.metrics_numpy import ccc_table
from semser_tf.plotting import plot_recording


def shift_predictions(pred: np.ndarray, frames: int) -> np.ndarray:
    """Delay predictions by ``frames`` (the annotation delay): ``out[t] = pred[t - frames]``.

    Human ratings lag the signal, so a model that reacts at once is early; shifting its
    output later aligns it with the ratings. The first frames repeat the first prediction.
    """
    if frames <= 0:
        return pred
    head = np.repeat(pred[:1], min(frames, len(pred)), axis=0)
    return np.concatenate([head, pred[: len(pred) - frames]], axis=0)[: len(pred)]


def median_smooth(pred: np.ndarray, window: int) -> np.ndarray:
    """Median filter of odd ``window`` frames along time, per target (edges replicated)."""
    if window <= 1:
        return pred
    if window % 2 == 0:
        raise ConfigError(f"median window of {window} frames: expected an odd number.")
    half = window // 2
    padded = np.pad(pred, ((half, half), (0, 0)), mode="edge")
    view = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)
    return np.median(view, axis=-1)


def fit_bias_scale(pred: np.ndarray, gold: np.ndarray):
    """Per-target linear map matching the predictions' mean and std to the gold's."""
    pm, ps = pred.mean(0), pred.std(0)
    gm, gs = gold.mean(0), gold.std(0)
    scale = np.where(ps > 1e-8, gs / np.maximum(ps, 1e-8), 1.0)
    return scale, gm - scale * pm


def with_modality_weights(model):
    """``model`` with the first fusion's modality weights as a second output, or ``None``
    when it has no attention fusion (so one prediction pass gives both)."""
    import keras

    try:
        layer = model.get_layer("modality_attention")
    except ValueError:
        return None
    return keras.Model(model.input, [model.output, layer.output[1]])


def predict_partition(
    model,
    corpus,
    partition,
    sequence_length=300,
    frame_features=None,
    cache_dir=None,
    batch_size=8,
    progress=False,
    window_reset=False,
    runner=None,
):
    """Per-recording predictions over the unshuffled windows of the cached pipeline.

    The rule of ``semser predict`` (:class:`semser_tf.inference.Predictor`): each
    recording's windows are predicted in order with the LSTM state carried from one
    window to the next (:class:`~semser_tf.models.stateful.StatefulRunner`), so a
    recording's prediction equals one pass of the model over the whole recording, with
    no seams at window boundaries. ``window_reset=True`` gives the older rule (each
    window from zero state, ``batch_size`` windows per call), as the windows are trained.

    Args:
        model: a :class:`~semser_tf.models.SemserModel`, or a model with several outputs
            from :func:`with_modality_weights`.
        runner: a :class:`~semser_tf.models.stateful.StatefulRunner` of ``model`` to reuse
            (its step model shares the model's variables; default: a new one).

    Returns:
        ``{name: (n_frames, n_targets) array}`` for every recording of the partition; for a
        model with several outputs (e.g. :func:`with_modality_weights`), a list of such
        dicts, one per output.
    """
    import warnings

    from semser_tf.data.pipeline import dataset_for_model, make_dataset, window_index

    index = window_index(
        corpus, partition, sequence_length, cache_dir=cache_dir, frame_features=frame_features
    )
    ds = make_dataset(
        corpus,
        partition,
        sequence_length=sequence_length,
        batch_size=batch_size if window_reset else 1,
        shuffle=False,
        frame_features=frame_features,
        cache_dir=cache_dir,
        progress=progress,
    )
    multi = isinstance(model.output, (list, tuple))
    if window_reset:
        ds = dataset_for_model(ds, model).map(lambda x, y, w: x)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ran out of data.*")
            preds = model.predict(ds, verbose=1 if progress else 0)
    else:
        preds = _predict_carried(model, ds, index, multi, runner)
    if isinstance(preds, dict):
        preds = preds["emotion"]

    def stitch(windows):
        out: dict[str, list] = {}
        lengths: dict[str, int] = {}
        for (name, start, valid), window in zip(index, windows):
            out.setdefault(name, []).append(window[:valid])
            lengths[name] = start + valid
        return {name: np.concatenate(parts, axis=0)[: lengths[name]] for name, parts in out.items()}

    if isinstance(preds, (list, tuple)) and multi:
        return [stitch(p) for p in preds]
    return stitch(preds)


def _predict_carried(model, ds, index, multi, runner=None):
    """Window outputs in ``index`` order, each recording's LSTM state carried across its
    windows (a recording's windows must come in order, as ``window_index`` lists them)."""
    from semser_tf.models.stateful import StatefulRunner

    run = runner if runner is not None else StatefulRunner(model, with_weights=multi)
    names = run.input_names
    states, expected = {}, {}
    emotion, weights = [], []
    for (name, start, valid), (x, _, _) in zip(index, ds):
        if start != expected.get(name, 0):
            raise DataError(
                f"recording {name!r}: window at frame {start} after frame {expected.get(name, 0)}; "
                "carrying the LSTM state needs each recording's windows in order"
            )
        expected[name] = start + valid
        if name in states:
            run.state = states[name]
        else:
            run.reset()
        out = run.step({n: x[n].numpy() for n in names})
        states[name] = run.state if valid else states.get(name)
        emotion.append(out["emotion"][0])
        if multi:
            weights.append(out["modality_weights"][0])
    return [emotion, weights] if multi else emotion


def evaluate_predictions(
    predictions: dict,
    corpus,
    partition,
    targets,
    delay_frames=0,
    median_window=0,
    bias_correction=None,
) -> dict:
    """CCC of a partition: concatenated over recordings per target, and per recording.

    Each post-processing step is reported on its own and all together: ``raw``, ``shift``
    (delay by ``delay_frames``), ``median`` (median filter of ``median_window`` frames),
    ``bias_scale`` (per-target mean/std matching, with the map fitted on
    ``bias_correction``: a dict ``{"scale", "offset"}`` from another partition, or
    ``"oracle"`` to fit on this partition itself, which is optimistic), ``all``.

    Frames without a gold label are left out.
    """
    recs = {r.name: r for r in corpus.recordings(partition)}
    if not any(r.has_labels for r in recs.values()):
        raise DataError(f"partition {partition!r} has no labels to evaluate against", corpus.root)
    gold_parts, pred_parts, per_recording = [], [], {}
    for name, pred in predictions.items():
        rec = recs[name]
        if not rec.has_labels:
            continue
        n = min(len(pred), len(rec.labels))
        gold, p = rec.labels[:n], pred[:n]
        gold_parts.append(gold)
        pred_parts.append(p)
    if not gold_parts:
        raise DataError(f"no labelled predictions in partition {partition!r}", corpus.root)

    def steps(p_list, which):
        out = []
        for p in p_list:
            if which in ("shift", "all"):
                p = shift_predictions(p, delay_frames)
            if which in ("median", "all"):
                p = median_smooth(p, median_window)
            out.append(p)
        return out

    results = {}
    variants = ["raw"]
    if delay_frames:
        variants.append("shift")
    if median_window and median_window > 1:
        variants.append("median")
    if bias_correction:
        variants.append("bias_scale")
    if len(variants) > 2:
        variants.append("all")
    for which in variants:
        preds = steps(pred_parts, which)
        masks = [~np.isnan(g).any(axis=1) for g in gold_parts]
        g_all = np.concatenate([g[m] for g, m in zip(gold_parts, masks)])
        p_all = np.concatenate([p[m] for p, m in zip(preds, masks)])
        entry = {}
        if which in ("bias_scale", "all"):
            if bias_correction == "oracle":
                scale, offset = fit_bias_scale(p_all, g_all)
            else:
                scale, offset = (
                    np.asarray(bias_correction["scale"]),
                    np.asarray(bias_correction["offset"]),
                )
            p_all = p_all * scale + offset
            entry["bias_scale"] = {
                "scale": scale.tolist(),
                "offset": offset.tolist(),
                "fitted_on": "this partition" if bias_correction == "oracle" else "given",
            }
        entry.update(ccc_table(p_all, g_all, targets))
        results[which] = entry
    names = [n for n in predictions if recs[n].has_labels]
    for name, g, p in zip(names, gold_parts, pred_parts):
        m = ~np.isnan(g).any(axis=1)
        per_recording[name] = ccc_table(p[m], g[m], targets)
    return {
        "partition": partition,
        "frames": int(sum(len(g) for g in gold_parts)),
        "recordings": len(gold_parts),
        "delay_frames": delay_frames,
        "median_window": median_window,
        "results": results,
        "per_recording": per_recording,
    }


def results_markdown(report: dict, targets) -> str:
    """A Markdown table of an evaluation report (one row per post-processing)."""
    lines = [
        "| post-processing | " + " | ".join(targets) + " | mean |",
        "|---|" + "---|" * (len(targets) + 1),
    ]
    for which, entry in report["results"].items():
        cells = [f"{entry['ccc'][t]:.3f}" for t in targets]
        lines.append(f"| {which} | " + " | ".join(cells) + f" | {entry['mean']:.3f} |")
    return "\n".join(lines) + "\n"


def evaluate_model(
    model,
    corpus,
    partition,
    config,
    frame_features=None,
    cache_dir=None,
    delay_frames=0,
    median_window=0,
    bias_correction=None,
    plot_dir=None,
    progress=False,
    window_reset=False,
) -> dict:
    """Predict a partition and evaluate it (see :func:`evaluate_predictions`); optional plots.

    For attention models the per-frame modality weights are drawn under the predictions.
    Each recording is predicted with the LSTM state carried across its windows
    (:func:`predict_partition`), the rule of ``semser predict``; ``window_reset=True``
    the older rule (every window from zero state).
    """
    if frame_features is None:
        from semser_tf.data.pipeline import ZeroFrameFeatures

        frame_features = ZeroFrameFeatures(config.semantic_dim)
    both = with_modality_weights(model) if plot_dir is not None else None
    preds = predict_partition(
        both or model,
        corpus,
        partition,
        config.sequence_length,
        frame_features,
        cache_dir,
        progress=progress,
        window_reset=window_reset,
    )
    weights = None
    if both is not None:
        preds, weights = preds
    report = evaluate_predictions(
        preds, corpus, partition, config.targets, delay_frames, median_window, bias_correction
    )
    if plot_dir is not None:
        recs = {r.name: r for r in corpus.recordings(partition)}
        for name, pred in preds.items():
            plot_recording(
                Path(plot_dir) / f"{name}.png",
                name,
                pred,
                recs[name].labels,
                config.targets,
                None if weights is None else weights.get(name),
            )
        report["plots"] = str(plot_dir)
    return report
