"""Write docs/api.md, the API reference page: a mkdocstrings directive per public class and function.

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


def _home(obj) -> str | None:
    """``module.qualname`` where a class or function is defined (what mkdocstrings reads)."""
    module, qual = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qual or "<" in qual:
        return None
    return f"{module}.{qual}"


def render() -> str:
    """The page: per public module, a mkdocstrings directive per class and function (at
    the module where it is defined), constants listed with their values."""
    lines = [
        "# API reference",
        "",
        "The public classes and functions, module by module, rendered from their docstrings",
        "by mkdocstrings (`make docs`). This page lists what is public; it is written by",
        "`python tools/api_reference.py`, and `make test` fails when it is out of date.",
        "",
    ]
    seen = set()
    for name, what in MODULES:
        module = importlib.import_module(name)
        lines += [f"## `{name}`", "", what[0].upper() + what[1:] + ".", ""]
        constants, again = [], []
        for public in _public(module):
            obj = getattr(module, public)
            home = _home(obj) if (inspect.isclass(obj) or inspect.isfunction(obj)) else None
            if home is None:
                value = repr(obj)
                value = value if len(value) <= 90 else value[:87] + "..."
                constants.append(f"- `{name}.{public}` = `{value}`")
                continue
            if home in seen:  # rendered once, under the first module that exports it
                again.append(f"- `{name}.{public}`: `{home}`, above")
                continue
            seen.add(home)
            lines += [f"::: {home}", "    options:", "      heading_level: 3", ""]
        if again:
            lines += ["Also exported here:", "", *again, ""]
        if constants:
            lines += ["Constants:", "", *constants, ""]
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
