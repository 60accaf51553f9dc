"""The ``semser`` command line: one module of this package per group of sub-commands.

A module listed in ``_COMMAND_MODULES`` defines ``register(subparsers)``, which adds its
commands with ``subparsers.add_parser(...)`` and sets ``func`` (a callable taking the parsed
``argparse.Namespace`` and returning an exit code) with ``set_defaults``. The CLI is a thin
layer over the Python API: the modules only parse arguments and call library functions.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import warnings

from semser_tf.errors import SemserError

_COMMAND_MODULES = (
    "semser_tf.cli.models",
    "semser_tf.cli.data",
    "semser_tf.cli.embed",
    "semser_tf.cli.words",
    "semser_tf.cli.train",
    "semser_tf.cli.zoo",
    "semser_tf.cli.tune",
    "semser_tf.cli.export",
    "semser_tf.cli.stream",
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
    _document_defaults(parser)
    return parser


def _document_defaults(parser: argparse.ArgumentParser) -> None:
    """Every option's default in ``--help``: appended to a help text that does not state it,
    or the whole text of an option without one (tests/robustness/test_messages.py checks
    that none is left without a description)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _document_defaults(child)
        elif (
            action.option_strings
            and action.help
            and action.help is not argparse.SUPPRESS
            and "default" not in action.help
            and action.default not in (None, False, argparse.SUPPRESS)
        ):
            action.help = f"{action.help} (default: %(default)s)"
        elif action.option_strings and action.help is None:
            if isinstance(action, argparse._StoreTrueAction):
                action.help = "a switch (default: off)"
            elif action.default is None or action.default is argparse.SUPPRESS:
                action.help = "(default: none)" if not action.required else "required"
            else:
                action.help = "(default: %(default)s)"


def _format_warning(message, category, filename, lineno, line=None):
    """Warnings as one line each, without the source line they were raised from."""
    return f"semser: warning: {message}\n"


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    previous, warnings.formatwarning = warnings.formatwarning, _format_warning
    try:
        return int(args.func(args) or 0)
    except SemserError as err:
        print(f"semser {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # read-only folder, disk full, a file where a folder is expected ...
        print(f"semser {args.command}: error: {os_error_message(err)}", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = previous


_OS_HINTS = {
    errno.EACCES: "the folder or file is not writable (or readable) by you; choose another path",
    errno.EPERM: "the folder or file is not writable (or readable) by you; choose another path",
    errno.EROFS: "the file system is read-only; choose another path",
    errno.ENOSPC: "no space left on the device; free some space or write elsewhere (no partial output is kept)",
    errno.EDQUOT: "disk quota exceeded; free some space or write elsewhere",
    errno.ENOTDIR: "a file stands where a folder is expected",
    errno.EISDIR: "a folder stands where a file is expected",
    errno.EEXIST: "it exists already",
    errno.ENOENT: "not found",
}


def os_error_message(err: OSError) -> str:
    """One line for an operating-system error: the path, what happened and what to do."""
    where = err.filename if err.filename is not None else ""
    if err.filename2 is not None:
        where = f"{where} -> {err.filename2}"
    what = err.strerror or type(err).__name__
    hint = _OS_HINTS.get(err.errno)
    return (f"{where}: " if where else "") + what + (f" ({hint})" if hint else "")
