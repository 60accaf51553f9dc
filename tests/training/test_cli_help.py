"""Every option of ``semser train`` and ``semser finetune`` has a help text that states
its default (argparse's ``%(default)s`` where the default is a value)."""

from __future__ import annotations

import argparse

import pytest


def _check(parser: argparse.ArgumentParser) -> list[str]:
    bad = []
    for action in parser._actions:  # the options argparse lists in --help
        if isinstance(action, argparse._HelpAction) or not action.option_strings:
            continue
        name, text = action.option_strings[-1], action.help or ""
        if "default" not in text and not action.required:
            bad.append(f"{name}: no default in {text!r}")
        if action.default not in (None, False) and "%(default)s" not in text:
            bad.append(
                f"{name}: default {action.default!r} not stated with %(default)s in {text!r}"
            )
        if action.required and "required" not in text:
            bad.append(f"{name}: required but its help does not say so")
    return bad


def _subparser(name):
    from semser_tf.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("command", ["train", "ablation"])
def test_train_options_state_their_defaults(command, capsys):
    parser = _subparser(command)
    assert _check(parser) == []
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    assert "(default: 50)" in out and "(default: Devel)" in out and "(default: float32)" in out


def test_finetune_options_state_their_defaults(capsys):
    parser = _subparser("finetune")  # the registered semser finetune
    assert _check(parser) == []
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 20)" in out and "(default: 5)" in out
    args = parser.parse_args(["corpus", "--out", "o"])
    assert (args.epochs, args.patience, args.val_partition, args.model) == (20, 5, "Devel", None)
