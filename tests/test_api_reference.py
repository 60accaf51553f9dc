"""docs/api.md is what tools/api_reference.py writes from today's docstrings."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_api_reference_is_current():
    spec = importlib.util.spec_from_file_location("api_reference", REPO / "tools/api_reference.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    text = tool.render()
    assert "## `semser_tf.models`" in text and "- `from_preset(cls, preset" in text
    assert (REPO / "docs/api.md").read_text() == text, (
        "docs/api.md is out of date: run python tools/api_reference.py"
    )
