"""``semser tune``: hyperparameter search with keras-tuner (a thin layer over semser_tf.tuning.tune)."""

from __future__ import annotations

import json
from pathlib import Path

from semser_tf.errors import ConfigError


def _space(args):
    from semser_tf.tuning import DEFAULT_SPACE

    space = dict(DEFAULT_SPACE)
    if args.space:
        path = Path(args.space)
        try:
            loaded = json.loads(path.read_text())
        except OSError as err:
            raise ConfigError(f"{path}: cannot read the search space ({err.strerror}).") from None
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}:{err.lineno}: not valid JSON ({err.msg}).") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a JSON object of hyperparameter ranges.")
        space = loaded
    for item in args.search or []:
        if "=" not in item:
            raise ConfigError(
                f"--search {item!r}: expected NAME=RANGE (RANGE in JSON, e.g. lstm_units=[64,128])."
            )
        key, value = item.split("=", 1)
        try:
            space[key] = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigError(
                f"--search {item!r}: RANGE must be JSON, e.g. [64,128] or "
                '{"min":1e-5,"max":1e-3,"sampling":"log"}.'
            ) from None
    for key in args.fix or []:
        space.pop(key, None)
    return space


def _tune(args):
    from semser_tf.cli.run_inputs import (
        model_config,
        open_corpus,
        open_frame_features,
        train_settings,
    )
    from semser_tf.tuning import SearchSpace, tune

    space = SearchSpace.from_dict(_space(args), source=args.space or "search space")
    corpus = open_corpus(args.corpus, args.words_dir)
    summary = tune(
        corpus,
        args.out,
        model_config(args),
        space,
        train_settings(args),
        tuner=args.tuner,
        max_trials=args.max_trials,
        objective=args.objective,
        frame_features=open_frame_features(args.embeddings, args.embedding_mode, corpus),
        cache_dir=args.cache_dir,
        overwrite=args.overwrite,
        seed=args.seed,
        executions_per_trial=args.executions_per_trial,
        export=not args.no_export,
        distributed=args.distributed,
        oracle=args.oracle,
        tuner_id=args.tuner_id,
        worker_timeout=args.worker_timeout,
        heartbeat_s=args.heartbeat,
        connect_timeout=args.connect_timeout,
        rpc_timeout=args.rpc_timeout,
        max_retries=args.max_retries,
        verbose=1 if args.verbose else 0,
    )
    if summary["role"] == "worker":
        print(f"semser tune: worker {summary['tuner_id']} done (no trial left)")
        return 0
    print(Path(summary["results"][1]).read_text())
    best = summary.get("best")
    if best:
        print(
            f"best trial {best['trial_id']}: {args.objective} {best['score']:.4f} with "
            + ", ".join(f"{k}={v}" for k, v in sorted(best["hyperparameters"].items()))
        )
    if "best_run" in summary:
        print(f"best trial retrained: {Path(args.out) / 'best_run'} (semser publish accepts it)")
    print("written: " + ", ".join(summary["results"]))
    return 0


def register(sub):
    from semser_tf.cli.train import _common

    p = sub.add_parser(
        "tune",
        help="hyperparameter search (keras-tuner: random, bayesian, hyperband)",
        description="Search the model's hyperparameters on a corpus. The objective is "
        "maximised for CCCs, minimised for losses. See docs/tuning.md.",
    )
    _common(p)
    p.add_argument(
        "--tuner",
        default="random",
        choices=("random", "bayesian", "hyperband"),
        help="keras-tuner's search algorithm (default: %(default)s)",
    )
    p.add_argument(
        "--max-trials",
        type=int,
        default=10,
        help="trials (random, bayesian) (default: %(default)s)",
    )
    p.add_argument(
        "--objective",
        default="val_ccc",
        help="metric optimised: val_ccc, val_ccc_<target>, val_loss, ... (default: %(default)s)",
    )
    p.add_argument(
        "--space",
        help="JSON file of hyperparameter ranges (default: the built-in space, "
        "semser_tf.tuning.DEFAULT_SPACE)",
    )
    p.add_argument(
        "--search",
        action="append",
        metavar="NAME=RANGE",
        help='set one range, e.g. lstm_units=[64,256] or learning_rate={"min":1e-5,"max":1e-3,'
        '"sampling":"log"}; repeatable (default: none, the space as given)',
    )
    p.add_argument(
        "--fix",
        action="append",
        metavar="NAME",
        help="do not search NAME (take it from the base config); repeatable (default: none)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="the tuner's (oracle's) seed (default: %(default)s)"
    )
    p.add_argument(
        "--executions-per-trial",
        type=int,
        default=1,
        help="models trained per trial, metrics averaged (random, bayesian) (default: %(default)s)",
    )
    p.add_argument(
        "--max-retries",
        type=int,
        default=1,
        help="times a trial is run again after it failed or its worker went silent; 0: never, "
        "then a dead worker's trial fails (default: %(default)s)",
    )
    p.add_argument(
        "--no-export",
        action="store_true",
        help="do not retrain the best trial into OUT/best_run (default: off, it is retrained)",
    )
    p.add_argument(
        "--distributed",
        choices=("chief", "worker"),
        help="role in a distributed search (default: none, one process)",
    )
    p.add_argument(
        "--oracle",
        metavar="HOST:PORT",
        help="chief: address to listen on (0.0.0.0:8000); worker: the chief's address "
        "(default: none; needed with --distributed)",
    )
    p.add_argument(
        "--tuner-id", help="worker id; reuse it to restart a worker (default: worker-HOST-PID)"
    )
    p.add_argument(
        "--worker-timeout",
        type=float,
        default=600.0,
        help="chief: seconds without a worker heartbeat before its trial is re-queued, 0: never "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--heartbeat",
        type=float,
        default=10.0,
        help="worker: seconds between heartbeats (default: %(default)s)",
    )
    p.add_argument(
        "--connect-timeout",
        type=float,
        default=30.0,
        help="worker: seconds to wait for the chief before giving up (default: %(default)s)",
    )
    p.add_argument(
        "--rpc-timeout",
        type=float,
        default=600.0,
        help="worker: seconds to wait for one answer of the chief (default: %(default)s; "
        "keras-tuner's own: 3600)",
    )
    _state_defaults(p)
    p.set_defaults(func=_tune)


_TUNE_HELP = {  # options shared with `semser train` that mean something else in a search
    "out": "the search folder (required: no default; a search there is resumed)",
    "epochs": "epochs per trial, Hyperband's largest budget; also the retraining of the best trial "
    "(default: %(default)s)",
    "resume": "no effect: a search in --out always resumes (default: off)",
    "overwrite": "start the search afresh (only in a folder that holds a search: tune.json) (default: off)",
}


def _state_defaults(parser):
    """Every option's help states its default: tune's meaning of shared options, the default appended."""
    import argparse

    for action in parser._actions:
        if (
            not action.option_strings
            or action.help is argparse.SUPPRESS
            or isinstance(action, argparse._HelpAction)
        ):
            continue
        if action.dest in _TUNE_HELP:
            action.help = _TUNE_HELP[action.dest]
        elif "default" not in (action.help or ""):
            if action.required:
                tail = "(required: no default)"
            elif isinstance(action, argparse._StoreTrueAction):
                tail = "(default: off)"
            elif action.default is None:
                tail = "(default: none)"
            else:
                tail = "(default: %(default)s)"
            action.help = f"{action.help} {tail}" if action.help else tail
