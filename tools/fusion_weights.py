"""Modality weights of trained attention runs against the frames' word/silence state (issue 17).

``weights``: for each run folder (``semser train --variant attention``), the first fusion's
per-frame semantic weight over a partition, with

- the mean semantic weight on silent frames (no word of the recording's word timings has
  its span over the frame centre: the rule the semantic frame features use) and on word
  frames, and on frames whose semantic vector is all zeros (silence or out of vocabulary);
- the standard deviation of the per-frame semantic weight over the partition (and over its
  word frames alone: how much the weight moves within speech);
- a PNG: per run, the weight over one recording with its word frames shaded, and the
  distribution of the weight on word and silent frames.

``cost``: parameters of the compact attention model, the time of a training step and of a
prediction (batch 16 x 100 frames) and of the fusion layer's forward pass alone, for each
scoring option (``attention_scoring`` x ``attention_evidence``).

Usage::

    python tools/fusion_weights.py weights RUN [RUN ...] --corpus CORPUS [--partition Test]
        [--cache-dir DIR] [--plot weights.png] [--json weights.json] [--recording Test_01]
    python tools/fusion_weights.py cost [--repeats 5] [--rounds 5] [--json cost.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

COMPACT = {  # tools/build_pretrained.py's compact configuration
    "conv_filters": [16, 32, 64],
    "fusion_units": 128,
    "stream_units": 64,
    "lstm_units": 64,
    "sequence_length": 100,
    "batch_size": 16,
    "learning_rate": 0.001,
    "semantic_dim": 50,
}


def word_frames(recording, n_frames: int) -> np.ndarray:
    """True on frames whose centre lies in a word's span (``frame_spans``'s rule)."""
    from semser_tf.semantic.frame_features import frame_spans

    state = np.zeros(n_frames, bool)
    for w in recording.words:
        a, b = frame_spans(w.start, w.end, n_frames)
        state[a:b] = True
    return state


def run_weights(run_dir, corpus, partition, cache_dir=None) -> dict:
    """Per-recording semantic weights, word state and zero-vector state of one run."""
    from semser_tf.cli.train import run_frame_features
    from semser_tf.models.builder import load_model
    from semser_tf.models.config import ModelConfig
    from semser_tf.training.evaluate import predict_partition, with_modality_weights
    from semser_tf.training.run_folder import BEST, CONFIG, read_run_config

    run_dir = Path(run_dir)
    cfg = read_run_config(run_dir / CONFIG)
    config = ModelConfig.from_dict(cfg["model"], source=str(run_dir / CONFIG))
    features = run_frame_features(run_dir, cfg, config.variant)
    model = with_modality_weights(load_model(run_dir / BEST))
    if model is None:
        raise SystemExit(f"{run_dir}: not an attention model (no modality_attention layer)")
    _, weights = predict_partition(
        model, corpus, partition, config.sequence_length, features, cache_dir
    )
    recs = {r.name: r for r in corpus.recordings(partition)}
    out = {}
    for name, w in sorted(weights.items()):
        n = len(w)
        zero = (
            ~np.any(features(recs[name], n) != 0, axis=-1)
            if features is not None
            else np.ones(n, bool)
        )
        out[name] = {
            "semantic": w[:, 1].astype(np.float64),
            "word": word_frames(recs[name], n),
            "zero": zero,
        }
    return {"config": config, "recordings": out}


def summary(result) -> dict:
    recs = result["recordings"].values()
    w = np.concatenate([r["semantic"] for r in recs])
    word = np.concatenate([r["word"] for r in recs])
    zero = np.concatenate([r["zero"] for r in recs])
    c = result["config"]
    return {
        "attention_scoring": c.attention_scoring,
        "attention_evidence": c.attention_evidence,
        "frames": int(len(w)),
        "silent_frames": int((~word).sum()),
        "mean_semantic_weight_silent": float(w[~word].mean()),
        "mean_semantic_weight_words": float(w[word].mean()),
        "mean_semantic_weight_zero_vector": float(w[zero].mean()) if zero.any() else None,
        "std_semantic_weight": float(w.std()),
        "std_semantic_weight_words": float(w[word].std()),
        "per_recording_std_mean": float(np.mean([r["semantic"].std() for r in recs])),
    }


def plot(results, labels, path, recording=None):
    from semser_tf.plotting import pyplot, save_figure

    plt = pyplot()

    fig, axes = plt.subplots(
        len(results),
        2,
        figsize=(13, 2.6 * len(results)),
        squeeze=False,
        gridspec_kw={"width_ratios": [3, 1]},
    )
    for row, (res, label) in enumerate(zip(results, labels)):
        name = recording or sorted(res["recordings"])[0]
        r = res["recordings"][name]
        t = (np.arange(len(r["semantic"])) + 0.5) / 10
        ax = axes[row, 0]
        ax.fill_between(
            t, 0, 1, where=r["word"], color="tab:green", alpha=0.15, step="mid", label="word frames"
        )
        ax.plot(t, r["semantic"], color="tab:blue", lw=0.8, label="semantic weight")
        ax.axhline(0.2, color="grey", ls=":", lw=0.8)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("w_semantic")
        ax.set_title(f"{label}: {name}", fontsize=9)
        if row == len(results) - 1:
            ax.set_xlabel("time (s)")
        ax.legend(loc="upper right", fontsize=7)
        w = np.concatenate([x["semantic"] for x in res["recordings"].values()])
        word = np.concatenate([x["word"] for x in res["recordings"].values()])
        ax = axes[row, 1]
        bins = np.linspace(0, 1, 41)
        ax.hist(w[word], bins=bins, alpha=0.6, color="tab:green", label="word frames", density=True)
        ax.hist(
            w[~word], bins=bins, alpha=0.6, color="tab:red", label="silent frames", density=True
        )
        ax.set_title("all recordings of the partition", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


OPTIONS = (
    ("official", "none"),
    ("temperature", "none"),
    ("per_modality", "none"),
    ("gate", "none"),
    ("official", "mask"),
    ("gate", "feature"),
    ("gate", "mask"),
)
"""The (attention_scoring, attention_evidence) pairs ``cost`` measures."""


def cost(repeats: int, rounds: int = 5) -> list:
    """Parameters and step times per option: all models are built first, then timed in
    ``rounds`` interleaved rounds of ``repeats`` calls; the fastest round counts (the least
    disturbed by other load on a shared machine)."""
    import keras

    from semser_tf.layers import CrossAttentionFusion
    from semser_tf.models import ModelConfig, build_model
    from semser_tf.models.builder import compile_model

    rng = np.random.default_rng(0)
    b, t = COMPACT["batch_size"], COMPACT["sequence_length"]
    x = {
        "waveform": rng.normal(0, 0.1, (b, t, 2205)).astype("float32"),
        "semantic": rng.normal(size=(b, t, COMPACT["semantic_dim"])).astype("float32"),
    }
    x["semantic"][:, ::4] = 0.0
    y = rng.uniform(-1, 1, (b, t, 3)).astype("float32")
    conv = rng.normal(size=(b, t, 8 * COMPACT["conv_filters"][-1])).astype("float32")
    built = []
    for scoring, evidence in OPTIONS:
        keras.utils.set_random_seed(0)
        config = ModelConfig(
            variant="attention", **COMPACT, attention_scoring=scoring, attention_evidence=evidence
        )
        model = compile_model(build_model(config), config)
        model.train_on_batch(x, y)
        model.predict_on_batch(x)  # traced before timing
        fusion = CrossAttentionFusion(COMPACT["fusion_units"], scoring=scoring, evidence=evidence)
        fusion([conv, x["semantic"]])
        built.append((scoring, evidence, model, fusion))
    times = {k: {"train": [], "predict": [], "fusion": []} for k in OPTIONS}

    def clock(fn):
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        return (time.perf_counter() - t0) / repeats

    for _ in range(rounds):
        for scoring, evidence, model, fusion in built:
            k = times[(scoring, evidence)]
            k["train"].append(clock(lambda: model.train_on_batch(x, y)))  # noqa: B023  (timed now)
            k["predict"].append(clock(lambda: model.predict_on_batch(x)))  # noqa: B023  (timed now)
            k["fusion"].append(
                clock(lambda: keras.ops.convert_to_numpy(fusion([conv, x["semantic"]])))  # noqa: B023
            )
    rows = []
    for scoring, evidence, model, _fusion in built:
        k = times[(scoring, evidence)]
        rows.append(
            {
                "attention_scoring": scoring,
                "attention_evidence": evidence,
                "params": model.count_params(),
                "fusion_params": model.get_layer("modality_attention").count_params(),
                "train_step_ms": round(1000 * min(k["train"]), 1),
                "predict_ms": round(1000 * min(k["predict"]), 1),
                "fusion_forward_ms": round(1000 * min(k["fusion"]), 2),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("weights", help="modality weights of attention runs over a partition")
    w.add_argument("runs", nargs="+")
    w.add_argument("--corpus", required=True)
    w.add_argument("--partition", default="Test")
    w.add_argument("--cache-dir")
    w.add_argument("--plot", help="PNG to write")
    w.add_argument(
        "--recording", help="recording shown in the plot (default: the partition's first)"
    )
    w.add_argument(
        "--label", action="append", help="a label per run for the plot (default: the folder names)"
    )
    w.add_argument("--json", help="JSON summary to write")
    c = sub.add_parser(
        "cost", help="parameters and step time of each scoring option (compact model)"
    )
    c.add_argument("--repeats", type=int, default=5, help="calls per timed round")
    c.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the fastest counts")
    c.add_argument("--json")
    args = p.parse_args(argv)
    from semser_tf.io import atomic_write_json

    if args.command == "cost":
        rows = cost(args.repeats, args.rounds)
        if args.json:
            atomic_write_json(Path(args.json), rows)
        return 0
    from semser_tf.cli.train import open_corpus

    corpus = open_corpus(args.corpus)
    results, table = [], {}
    for run in args.runs:
        res = run_weights(run, corpus, args.partition, args.cache_dir)
        results.append(res)
        table[Path(run).name] = summary(res)
        print(Path(run).name, json.dumps(table[Path(run).name]), flush=True)
    if args.json:
        atomic_write_json(Path(args.json), table)
    if args.plot:
        labels = args.label or [Path(r).name for r in args.runs]
        plot(results, labels, args.plot, args.recording)
        print(f"written: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
