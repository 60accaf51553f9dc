"""``semser train``, ``semser evaluate`` and ``semser ablation``: thin layers over the API."""

from __future__ import annotations

from pathlib import Path

from semser_tf.cli.run_inputs import (
    WARM_FROM_BRANCH,
    model_config,
    open_corpus,
    open_frame_features,
    run_frame_features,
    train_settings,
)
from semser_tf.errors import ConfigError, DataError
from semser_tf.semantic.frame_features import report_coverage


def _train(args):
    from semser_tf.distribute import make_strategy
    from semser_tf.training.run import train

    corpus = open_corpus(args.corpus, args.words_dir)
    report = train(
        corpus,
        args.out,
        None if args.resume and not _explicit(args) else model_config(args),
        _resume_settings(args) if args.resume else train_settings(args),
        frame_features=open_frame_features(args.embeddings, args.embedding_mode, corpus),
        cache_dir=args.cache_dir,
        resume=args.resume,
        overwrite=args.overwrite,
        verbose=1 if args.verbose else 2,
        strategy=make_strategy(args.strategy),
        embeddings_dir=args.embeddings,
    )
    _print_report(report)
    return 0


def _resume_settings(args):
    """On ``--resume``: the run's recorded settings, with the flags given explicitly (those
    that differ from their defaults) laid over them, so that ``train`` can refuse a
    conflicting flag and let ``--epochs`` extend the run. ``None`` for a new folder."""
    import dataclasses

    from semser_tf.training.run_folder import CONFIG, read_run_config
    from semser_tf.training.settings import LEGACY_SETTINGS, TrainSettings

    cfg_path = Path(args.out) / CONFIG
    if not cfg_path.is_file():
        return train_settings(args)
    saved = {**LEGACY_SETTINGS, **read_run_config(cfg_path).get("training", {})}
    given, defaults = train_settings(args), TrainSettings()
    for f in dataclasses.fields(TrainSettings):
        if getattr(given, f.name) != getattr(defaults, f.name):
            saved[f.name] = getattr(given, f.name)
    return TrainSettings(**saved)


def _explicit(args):
    return bool(args.config or args.set or args.variant or args.preset != "paper")


def _print_report(report):
    for m in report["metrics"]:
        cells = ", ".join(f"{t} {v:.3f}" for t, v in m["ccc"].items())
        print(
            f"{report['variant']}: {m['partition']} CCC {cells}; mean {m['mean']:.3f} "
            f"(best epoch {report.get('best_epoch')}, {report.get('epochs_done')} epochs)"
        )


def _evaluate(args):
    from semser_tf.io import atomic_write_json, atomic_write_text
    from semser_tf.models.builder import load_model as load_keras_model
    from semser_tf.models.config import ModelConfig
    from semser_tf.training.evaluate import evaluate_model, results_markdown
    from semser_tf.training.run_folder import BEST, CONFIG, PLOTS, REPORT, read_run_config

    run = Path(args.run)
    model_path = run / BEST if run.is_dir() else run
    run_dir = run if run.is_dir() else run.parent
    cfg_path = run_dir / CONFIG
    if not model_path.is_file():
        raise DataError(
            "no model: expected a run folder with best.keras or a .keras file", model_path
        )
    cfg = read_run_config(cfg_path)
    config = ModelConfig.from_dict(cfg["model"], source=str(cfg_path), recorded=True)
    features = run_frame_features(
        run_dir, cfg, config.variant, args.embeddings, args.embedding_mode
    )
    out = Path(args.out) if args.out else run_dir / f"eval_{args.partition}"
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; expected a folder for the report")
    model = load_keras_model(model_path)
    corpus = open_corpus(args.corpus, args.words_dir)
    report_coverage(features, corpus)
    bias = args.bias_correction
    if bias and bias != "oracle":
        # fit the bias/scale map on another partition (e.g. Devel) and apply it here
        import numpy as np

        from semser_tf.training.evaluate import fit_bias_scale, predict_partition

        preds = predict_partition(
            model, corpus, bias, config.sequence_length, features, args.cache_dir
        )
        recs = {r.name: r for r in corpus.recordings(bias)}
        p = np.concatenate([v[: len(recs[k].labels)] for k, v in preds.items()])
        g = np.concatenate([recs[k].labels[: len(v)] for k, v in preds.items()])
        m = ~np.isnan(g).any(axis=1)
        scale, offset = fit_bias_scale(p[m], g[m])
        bias = {"scale": scale, "offset": offset}
    report = evaluate_model(
        model,
        corpus,
        args.partition,
        config,
        frame_features=features,
        cache_dir=args.cache_dir,
        delay_frames=args.delay_frames,
        median_window=args.median_window,
        bias_correction=bias,
        plot_dir=out / PLOTS if not args.no_plots else None,
        progress=True,
    )
    atomic_write_json(out / REPORT, report)
    md = results_markdown(report, config.targets)
    atomic_write_text(out / "report.md", md)
    print(md)
    print(f"written: {out}/report.json, report.md" + ("" if args.no_plots else ", plots/"))
    return 0


def _ablation(args):
    from semser_tf.training.ablation import ablation, ablation_markdown

    corpus = open_corpus(args.corpus, args.words_dir)
    table = ablation(
        corpus,
        args.out,
        model_config(args),
        train_settings(args),
        variants=args.variants.split(","),
        frame_features=open_frame_features(args.embeddings, args.embedding_mode, corpus),
        cache_dir=args.cache_dir,
        resume=args.resume,
        overwrite=args.overwrite,
        verbose=1 if args.verbose else 2,
        evaluate_partition=args.test_partition,
        embeddings_dir=args.embeddings,
        warm_start_from_branch=True if args.warm_start == WARM_FROM_BRANCH else None,
    )
    print(ablation_markdown(table))
    print(f"written: {args.out}/ablation.md, ablation.json, ablation.png")
    return 0


def _common(p, variant=True):
    p.add_argument("corpus", help="SEWA-layout folder or manifest file")
    p.add_argument("--out", required=True, help="output (run) directory (required)")
    if variant:
        p.add_argument(
            "--variant",
            help="paralinguistic, semantic, concat or attention (default: the preset's, attention)",
        )
    p.add_argument("--preset", default="paper", help="paper or official (default: %(default)s)")
    p.add_argument(
        "--config", help="JSON file of model-config fields (default: none, the preset's values)"
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config field, VALUE in JSON; repeatable (default: none)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=50,
        help="most epochs (default: %(default)s); with --resume a larger value extends the run",
    )
    p.add_argument(
        "--patience",
        type=int,
        default=10,
        help="stop after this many epochs without a better validation CCC (default: %(default)s)",
    )
    p.add_argument(
        "--train-partition", default="Train", help="partition trained on (default: %(default)s)"
    )
    p.add_argument(
        "--val-partition",
        default="Devel",
        help="partition for early stopping and model selection (default: %(default)s)",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=None,
        help="hold out this fraction of Train when there is no validation partition (default: none, "
        "a missing validation partition is an error)",
    )
    p.add_argument(
        "--delay-frames",
        type=int,
        default=0,
        help="annotation-delay shift of the labels in 100 ms frames (default: %(default)s)",
    )
    p.add_argument(
        "--steps-per-epoch",
        type=int,
        default=None,
        help="cap on optimizer steps per epoch, a positive integer (default: none, the whole partition)",
    )
    p.add_argument(
        "--embeddings",
        help="aligned-embeddings folder for the semantic input (default: none, zeros)",
    )
    p.add_argument(
        "--embedding-mode",
        default="lookup",
        help="lookup (aligned speech table), text (the text space: GloVe or Word2Vec) or encode (speech) "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--words-dir",
        help="folder of <recording>.csv word timings (start;end;word) used instead "
        "of the corpus's words/, e.g. recognised or aligned words (default: none, the corpus's)",
    )
    p.add_argument(
        "--cache-dir",
        help="the loader's TFRecord cache folder (default: $SEMSER_TF_CACHE/frames, else "
        "$XDG_CACHE_HOME/semser_tf/frames or ~/.cache/semser_tf/frames)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last completed epoch (default: off)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in --out, only a semser run that holds none of the inputs (default: off)",
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="per-step progress bars (default: off, one line per epoch)",
    )
    p.add_argument(
        "--select-per-target",
        action="store_true",
        help="also keep the best epoch of each target, best-<target>.keras beside best.keras, and "
        "report each target's CCC from its own epoch (the AVEC 2019 baseline's selection; "
        "default: off)",
    )
    p.add_argument(
        "--modality-dropout",
        type=float,
        default=0.7,
        help="fused variants: share of training windows whose --dropped-input is zeroed, seeded per "
        "epoch, so the fusion cannot lean on the voice alone; 0: off (default: %(default)s, "
        "measured in docs/measurements/results.md, 'Fusion training remedies')",
    )
    p.add_argument(
        "--dropped-input",
        default="waveform",
        choices=("semantic", "waveform", "either"),
        help="the input --modality-dropout zeroes; either: one of the two per dropped window "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--validation",
        default="carried",
        choices=("carried", "window"),
        help="how the validation partition is predicted for early stopping and selection: carried "
        "(the LSTM state carried across each recording's windows, as predict and evaluate) or "
        "window (each window from zero state, Keras's own) (default: %(default)s)",
    )
    p.add_argument(
        "--context-frames",
        type=int,
        default=0,
        help="frames of context before each training window, fed to the model but not scored, "
        "so the LSTM state is warmed up as when a whole file is predicted (default: %(default)s, off)",
    )
    p.add_argument(
        "--staged-epochs",
        type=int,
        default=None,
        help="fused variants: train the paralinguistic-only model this many epochs first (RUN/stage1), "
        "then keep its branch frozen in the fused model: the unimodal warm start; 0: off "
        "(default: as many as --epochs; docs/measurements/results.md)",
    )
    p.add_argument(
        "--dropout-mode",
        default="random",
        choices=("random", "paired"),
        help="fused variants: random: a --modality-dropout share of the windows loses its "
        "--dropped-input; paired: every window appears twice in its batch, whole and with the "
        "input zeroed (the batch doubles; any --modality-dropout above 0 turns it on) "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--dropped-unscored",
        default=None,
        help="comma-separated targets a window is not scored on when its input is dropped, e.g. "
        "arousal: the voice path learns arousal from the windows that have the voice, the words "
        "carry valence and liking on the others (default: none, every target scored)",
    )
    p.add_argument(
        "--kept-unscored",
        default=None,
        help="comma-separated targets a window that keeps every input is not scored on, e.g. "
        "valence,liking with --dropout-mode paired --dropped-unscored arousal: the whole windows "
        "teach arousal, their copies without the voice valence and liking (default: none)",
    )
    p.add_argument(
        "--warm-start",
        default=None,
        help="fused variants: initialise the paralinguistic branch from this paralinguistic-only "
        "run folder (or .keras file) and keep it frozen, instead of a first stage"
        + (
            "; 'branch': from this ablation's own paralinguistic run (list it first in --variants; "
            "what the default staging does when it is listed first)"
            if not variant
            else ""
        )
        + " (default: none)",
    )
    p.add_argument(
        "--staged-frozen-epochs",
        type=int,
        default=None,
        help="with --staged-epochs or --warm-start: fused epochs the branch stays frozen; then it "
        "trains too, at --staged-finetune-lr times the learning rate (default: frozen throughout)",
    )
    p.add_argument(
        "--staged-finetune-lr",
        type=float,
        default=0.1,
        help="learning-rate factor of the epochs after --staged-frozen-epochs (default: %(default)s)",
    )
    p.add_argument(
        "--precision",
        default="float32",
        help="dtype policy: float32, mixed_bfloat16 (the fast setting on GPUs and on CPUs with "
        "AVX512_BF16/AMX; docs/measurements/benchmarks.md) or mixed_float16 (default: %(default)s)",
    )


def add_finetune_arguments(p):
    """The options of ``semser finetune`` (:func:`semser_tf.zoo.finetune.finetune`),
    each with its default in its help."""
    p.add_argument("corpus", help="manifest file or SEWA-layout folder")
    p.add_argument("--out", required=True, help="output (run) directory (required)")
    p.add_argument(
        "--model",
        default=None,
        help="zoo name, entry path or run folder (default: the bundled model)",
    )
    p.add_argument("--targets", help="comma-separated targets (default: the corpus's)")
    p.add_argument(
        "--freeze",
        help="comma-separated branches kept fixed: paralinguistic, fusion, lstm (default: none)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=20,
        help="most epochs (default: %(default)s); with --resume a larger value extends the run",
    )
    p.add_argument(
        "--patience",
        type=int,
        default=5,
        help="stop after this many epochs without a better validation CCC (default: %(default)s)",
    )
    p.add_argument("--learning-rate", type=float, help="Adam learning rate (default: the model's)")
    p.add_argument(
        "--sequence-length", type=int, help="frames per training window (default: the model's)"
    )
    p.add_argument("--batch-size", type=int, help="windows per batch (default: the model's)")
    p.add_argument(
        "--val-partition",
        default="Devel",
        help="partition for early stopping and model selection (default: %(default)s)",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        help="hold out this fraction of Train when there is no validation partition (default: none, "
        "a missing validation partition is an error)",
    )
    p.add_argument(
        "--embeddings",
        help="aligned-embeddings folder replacing the model's, same dimension "
        "(default: the model's)",
    )
    p.add_argument("--embedding-mode", help="lookup, text or encode (default: the model's)")
    p.add_argument(
        "--words-dir",
        help="folder of <recording>.csv word timings (start;end;word) used instead "
        "of the corpus's words/ (default: none, the corpus's)",
    )
    p.add_argument("--cache-dir", help="the loader's TFRecord cache folder (default: as for train)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last completed epoch (default: off)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in --out, only a semser run that holds none of the inputs (default: off)",
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="per-step progress bars (default: off, one line per epoch)",
    )


def register(sub):
    p = sub.add_parser("train", help="train a model variant on a corpus")
    _common(p)
    p.add_argument(
        "--strategy",
        default="default",
        help="%(default)s (one device, the default), mirrored (tf.distribute.MirroredStrategy over the host's GPUs; "
        "the batch size is the global batch), multiworker (TF_CONFIG) or data_parallel "
        "(JAX keras.distribution.DataParallel); see docs/scaling.md",
    )
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="evaluate a trained model (AVEC conventions)")
    p.add_argument("run", help="run folder (best.keras + config.json) or a .keras file")
    p.add_argument("--corpus", required=True, help="SEWA-layout folder or manifest file")
    p.add_argument("--partition", default="Devel", help="partition evaluated (default Devel)")
    p.add_argument(
        "--delay-frames",
        type=int,
        default=0,
        help="shift predictions later by this many frames (default 0)",
    )
    p.add_argument(
        "--median-window",
        type=int,
        default=0,
        help="odd median-filter length in frames (default 0: none)",
    )
    p.add_argument(
        "--bias-correction",
        default=None,
        help="'oracle' (fit on this partition) or a partition to fit the map on, e.g. Devel",
    )
    p.add_argument(
        "--embeddings", help="aligned-embeddings folder (default: the run's embeddings/ copy)"
    )
    p.add_argument(
        "--embedding-mode",
        default=None,
        help="lookup, text or encode (default: the mode the run was trained with)",
    )
    p.add_argument(
        "--words-dir",
        help="folder of <recording>.csv word timings (start;end;word) used instead "
        "of the corpus's words/ (e.g. recognised or aligned words)",
    )
    p.add_argument("--cache-dir", help="the loader's TFRecord cache folder (default as for train)")
    p.add_argument("--out", help="output folder (default RUN/eval_PARTITION)")
    p.add_argument("--no-plots", action="store_true", help="write no plots")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("ablation", help="train the four variants and tabulate CCC")
    _common(p, variant=False)
    p.add_argument(
        "--variants",
        default="paralinguistic,semantic,concat,attention",
        help="comma-separated variants (default: %(default)s)",
    )
    p.add_argument(
        "--test-partition",
        default=None,
        help="also evaluate each best model on this partition (default: none)",
    )
    p.set_defaults(func=_ablation)
