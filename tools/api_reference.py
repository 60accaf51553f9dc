"""Write docs/api.md, the API reference, from the public modules' docstrings and signatures.

    python tools/api_reference.py            # rewrite docs/api.md
    python tools/api_reference.py --check    # exit 1 when docs/api.md is out of date (make test)

Public means: a module's ``__all__`` where it has one, else the classes and functions the module
defines (or takes from its own submodules) whose names do not start with ``_``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "api.md"

MODULES = (
    ("semser_tf", "the top level: the bundled model in one line"),
    ("semser_tf.models", "the network: SemserModel, configs, presets"),
    ("semser_tf.layers", "the paper's layers"),
    ("semser_tf.losses", "the CCC loss"),
    ("semser_tf.metrics", "the CCC metric"),
    ("semser_tf.data.corpus", "SEWA-layout corpora"),
    ("semser_tf.data.manifest", "corpora from a manifest (CSV or JSONL)"),
    ("semser_tf.data.pipeline", "the tf.data loader"),
    ("semser_tf.semantic.text_space", "the text embedding space (GloVe by default)"),
    ("semser_tf.semantic.embeddings", "the aligned-embedding artifact"),
    ("semser_tf.training", "training, evaluation, the ablation, fine-tuning"),
    ("semser_tf.tuning", "hyperparameter search with keras-tuner"),
    ("semser_tf.inference", "prediction over time"),
    ("semser_tf.streaming", "live prediction"),
    ("semser_tf.zoo", "the model zoo: registry, download, publish"),
    ("semser_tf.export", "SavedModel, ONNX and TFLite export"),
)


def _public(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is not None:
        return [n for n in names if not n.startswith("__")]
    out = []
    for name, obj in vars(module).items():
        if name.startswith("_") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        home = getattr(obj, "__module__", "") or ""
        if home == module.__name__ or home.startswith(module.__name__ + "."):
            out.append(name)
    return sorted(out)


def _summary(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    para = doc.split("\n\n", 1)[0].strip()
    return " ".join(para.split())


def _signature(obj) -> str:
    try:
        sig = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""
    return sig if len(sig) <= 160 else sig[:157] + "...)"


def _entry(qual: str, obj) -> list[str]:
    if inspect.isclass(obj):
        lines = [f"### `{qual}{_signature(obj)}`", "", _summary(obj) or "(no docstring)", ""]
        methods = [
            (n, m)
            for n, m in vars(obj).items()
            if not n.startswith("_")
            and (inspect.isfunction(m) or isinstance(m, classmethod | property))
        ]
        for n, m in methods:
            fn = (
                m.__func__
                if isinstance(m, classmethod)
                else m.fget
                if isinstance(m, property)
                else m
            )
            text = _summary(fn)
            sig = "" if isinstance(m, property) else _signature(fn)
            lines.append(f"- `{n}{sig}`" + (f": {text}" if text else ""))
        if methods:
            lines.append("")
        return lines
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return [f"### `{qual}{_signature(obj)}`", "", _summary(obj) or "(no docstring)", ""]
    value = repr(obj)
    value = value if len(value) <= 100 else value[:97] + "..."
    return [f"- `{qual}` = `{value}`", ""]


def render() -> str:
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings by `python tools/api_reference.py`; `make test` fails when",
        "it is out of date. Guides: README.md and the other files in docs/.",
        "",
    ]
    for name, what in MODULES:
        module = importlib.import_module(name)
        lines += [f"## `{name}`: {what}", ""]
        head = _summary(module)
        if head:
            lines += [head, ""]
        for public in _public(module):
            lines += _entry(f"{name}.{public}", getattr(module, public))
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only compare with docs/api.md (default: rewrite it)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    text = render()
    if args.check:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python tools/api_reference.py", file=sys.stderr)
            return 1
        return 0
    tmp = OUT.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(OUT)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
