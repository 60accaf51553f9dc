"""docs/api.md lists what tools/api_reference.py finds public today (mkdocstrings renders it)."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_api_reference_is_current():
    spec = importlib.util.spec_from_file_location("api_reference", REPO / "tools/api_reference.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    text = tool.render()
    # one directive per public class or function, at the module that defines it
    assert "::: semser_tf.models.semser_model.SemserModel" in text
    assert text.count("::: semser_tf.models.semser_model.SemserModel") == 1
    assert "::: semser_tf.inference.Predictor" in text
    assert (REPO / "docs/api.md").read_text() == text, (
        "docs/api.md is out of date: run python tools/api_reference.py"
    )
