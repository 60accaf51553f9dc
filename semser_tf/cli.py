"""The ``semser`` command line. Each package registers its own sub-commands.

A module listed in ``_COMMAND_MODULES`` defines ``register(subparsers)``, which adds its
commands with ``subparsers.add_parser(...)`` and sets ``func`` (a callable taking the parsed
``argparse.Namespace`` and returning an exit code) with ``set_defaults``. The CLI is a thin
layer over the Python API: the modules only parse arguments and call library functions.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from semser_tf.errors import SemserError

_COMMAND_MODULES = (
    "semser_tf.models.commands",
    "semser_tf.data.commands",
    "semser_tf.semantic.commands",
    "semser_tf.semantic.words.commands",
    "semser_tf.training.commands",
    "semser_tf.zoo.commands",
    "semser_tf.tuning_commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="semser",
        description="Continuous speech emotion recognition from what is said and how it is said.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name and (name == err.name or name.startswith(err.name + ".")):
                # that part of the package is not there
                continue
            raise
        module.register(sub)
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SemserError as err:
        print(f"semser {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
