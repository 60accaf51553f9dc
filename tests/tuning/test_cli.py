"""`semser tune --help`: every option states its default; the help loads no TensorFlow."""

import contextlib
import io
import os
import re
import subprocess
import sys

import pytest


def tune_help():
    from semser_tf.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["tune", "--help"])
    return out.getvalue()


def option_entries(text):
    """{option: its help text} parsed from argparse's --help output."""
    body = text.split("options:", 1)[1]
    entries, current = {}, None
    for line in body.splitlines():
        m = re.match(r"  (-{1,2}[\w-]+)(?:,\s*--[\w-]+)?(?: [^\s].*?)?(?:  +(.*))?$", line)
        if m and not line.startswith("   "):
            current = m.group(1)
            entries[current] = m.group(2) or ""
        elif current and line.strip():
            entries[current] += " " + line.strip()
    return {k: " ".join(v.split()) for k, v in entries.items()}


def test_every_tune_option_states_its_default():
    entries = option_entries(tune_help())
    assert {
        "--max-trials",
        "--tuner",
        "--worker-timeout",
        "--max-retries",
        "--out",
        "--epochs",
    } <= set(entries)
    missing = [
        opt
        for opt, text in entries.items()
        if opt != "-h" and not re.search(r"default|required", text)
    ]
    assert missing == []
    # the defaults shown are the parser's (argparse's %(default)s), not a copy that can drift
    expect = {
        "--tuner": "(default: random)",
        "--max-trials": "(default: 10)",
        "--objective": "(default: val_ccc)",
        "--seed": "(default: 0)",
        "--executions-per-trial": "(default: 1)",
        "--max-retries": "(default: 1)",
        "--worker-timeout": "(default: 600.0)",
        "--heartbeat": "(default: 10.0)",
        "--connect-timeout": "(default: 30.0)",
        "--rpc-timeout": "(default: 600.0;",
        "--epochs": "(default: 50)",
        "--no-export": "(default: off",
        "--distributed": "(default: none",
        "--out": "(required: no default",
    }
    wrong = {opt: entries[opt] for opt, text in expect.items() if text not in entries[opt]}
    assert wrong == {}


def test_tune_help_stays_light():
    code = (
        "import sys\nfrom semser_tf.cli import main\ntry:\n    main(['tune', '--help'])\nexcept SystemExit:\n"
        "    pass\nprint(sorted(m for m in ('tensorflow', 'keras', 'keras_tuner') if m in sys.modules), "
        "file=sys.stderr)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert proc.stderr.strip().splitlines()[-1] == "[]", proc.stderr[-500:]
    assert "--max-retries" in proc.stdout


def test_package_import_is_light_and_every_public_name_resolves():
    code = (
        "import sys\nimport semser_tf.tuning as t\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'keras_tuner') if m in sys.modules))\n"
        "missing = [n for n in t.__all__ if getattr(t, n, None) is None]\n"
        "print(missing, 'keras_tuner' in sys.modules, t.SemserHyperModel.__module__)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.getcwd(), "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert proc.stdout.splitlines() == ["[]", "[] True semser_tf.tuning.hypermodel"], proc.stderr[
        -1000:
    ]
