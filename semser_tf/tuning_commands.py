"""``semser tune``: hyperparameter search with keras-tuner (a thin layer over semser_tf.tuning)."""

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
            raise ConfigError(f"--search {item!r}: expected NAME=RANGE (RANGE in JSON, e.g. lstm_units=[64,128]).")
        key, value = item.split("=", 1)
        try:
            space[key] = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigError(f"--search {item!r}: RANGE must be JSON, e.g. [64,128] or "
                              '{"min":1e-5,"max":1e-3,"sampling":"log"}.') from None
    for key in args.fix or []:
        space.pop(key, None)
    return space


def _tune(args):
    from semser_tf.training.commands import _config, _settings, open_corpus, open_frame_features
    from semser_tf.tuning import SearchSpace, tune

    space = SearchSpace.from_dict(_space(args), source=args.space or "search space")
    corpus = open_corpus(args.corpus, args.words_dir)
    summary = tune(corpus, args.out, _config(args), space, _settings(args),
                   tuner=args.tuner, max_trials=args.max_trials, objective=args.objective,
                   frame_features=open_frame_features(args.embeddings, args.embedding_mode, corpus),
                   cache_dir=args.cache_dir, overwrite=args.overwrite, seed=args.seed,
                   executions_per_trial=args.executions_per_trial, export=not args.no_export,
                   distributed=args.distributed, oracle=args.oracle, tuner_id=args.tuner_id,
                   worker_timeout=args.worker_timeout, heartbeat_s=args.heartbeat,
                   connect_timeout=args.connect_timeout, verbose=1 if args.verbose else 0)
    if summary["role"] == "worker":
        print(f"semser tune: worker {summary['tuner_id']} done (no trial left)")
        return 0
    print(Path(summary["results"][1]).read_text())
    best = summary.get("best")
    if best:
        print(f"best trial {best['trial_id']}: {args.objective} {best['score']:.4f} with "
              + ", ".join(f"{k}={v}" for k, v in sorted(best["hyperparameters"].items())))
    if "best_run" in summary:
        print(f"best trial retrained: {Path(args.out) / 'best_run'} (semser publish accepts it)")
    print("written: " + ", ".join(summary["results"]))
    return 0


def register(sub):
    from semser_tf.training.commands import _common

    p = sub.add_parser("tune", help="hyperparameter search (keras-tuner: random, bayesian, hyperband)",
                       description="Search the model's hyperparameters on a corpus. The objective is "
                                   "maximised for CCCs, minimised for losses. See docs/tuning.md.")
    _common(p)
    p.add_argument("--tuner", default="random", choices=("random", "bayesian", "hyperband"))
    p.add_argument("--max-trials", type=int, default=10, help="trials (random, bayesian)")
    p.add_argument("--objective", default="val_ccc", help="val_ccc (default), val_ccc_<target>, val_loss, ...")
    p.add_argument("--space", help="JSON file of hyperparameter ranges (default: the built-in space)")
    p.add_argument("--search", action="append", metavar="NAME=RANGE",
                   help='set one range, e.g. lstm_units=[64,256] or learning_rate={"min":1e-5,"max":1e-3,"sampling":"log"}')
    p.add_argument("--fix", action="append", metavar="NAME",
                   help="do not search NAME (take it from the base config)")
    p.add_argument("--seed", type=int, default=0, help="the tuner's seed")
    p.add_argument("--executions-per-trial", type=int, default=1)
    p.add_argument("--no-export", action="store_true", help="do not retrain the best trial into OUT/best_run")
    p.add_argument("--distributed", choices=("chief", "worker"), help="role in a distributed search")
    p.add_argument("--oracle", metavar="HOST:PORT",
                   help="chief: address to listen on (0.0.0.0:8000); worker: the chief's address")
    p.add_argument("--tuner-id", help="worker id (default worker-HOST-PID); reuse it to restart a worker")
    p.add_argument("--worker-timeout", type=float, default=600.0,
                   help="chief: seconds without a worker heartbeat before its trial is reassigned (0: never)")
    p.add_argument("--heartbeat", type=float, default=10.0, help="worker: seconds between heartbeats")
    p.add_argument("--connect-timeout", type=float, default=30.0,
                   help="worker: seconds to wait for the chief before giving up")
    p.set_defaults(func=_tune)
