"""tools/zoo_table.py renders the registry as Markdown between the markers of docs/zoo.md."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.zoo.zoo_helpers import FILES, write_entry

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def zoo_table():
    spec = importlib.util.spec_from_file_location("zoo_table", REPO / "tools" / "zoo_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _registry(tmp_path):
    registry = tmp_path / "reg"
    write_entry(registry, "beta", FILES)  # 22 + 24 + 10240 bytes = 10286 bytes = 10.0 KiB
    path = write_entry(registry, "alpha", {"model.keras": b"x" * 2048}, variant="concat")
    data = json.loads(path.read_text())
    data["metrics"] = [
        {
            "dataset": "SEWA-DE",
            "partition": "devel",
            "ccc": {"arousal": 0.5, "valence": 0.25},
            "mean": 0.375,
        },
        {
            "dataset": "SEWA-DE",
            "partition": "test",
            "ccc": {"arousal": 0.1234, "valence": -0.2, "liking": 0.0},
            "mean": -0.0256,
        },
    ]
    data["training"]["data"] = "a|b"
    path.write_text(json.dumps(data))
    return registry


EXPECTED = """\
| Model | Version | Variant | Training data | Evaluated on | CCC arousal | CCC valence | CCC liking | CCC mean | Size |
|---|---|---|---|---|---:|---:|---:|---:|---:|
| `alpha` | 1.0.0 | concat | a\\|b | SEWA-DE / devel | 0.500 | 0.250 | — | 0.375 | 2.0 KiB |
| `alpha` | 1.0.0 | concat | a\\|b | SEWA-DE / test | 0.123 | -0.200 | 0.000 | -0.026 | 2.0 KiB |
| `beta` | 1.0.0 | attention | SEWA-DE Train | SEWA-DE / devel | 0.500 | 0.400 | 0.300 | 0.400 | 10.0 KiB |
"""


def test_table_rows_and_figures(zoo_table, tmp_path, capsys):
    registry = _registry(tmp_path)
    assert zoo_table.main(["--registry", str(registry)]) == 0
    assert capsys.readouterr().out == EXPECTED


def test_write_and_check_between_markers(zoo_table, tmp_path):
    registry = _registry(tmp_path)
    doc = tmp_path / "zoo.md"
    doc.write_text(
        "# Zoo\n\nintro\n\n<!-- zoo-table:begin -->\nold table\n<!-- zoo-table:end -->\n\nafter\n"
    )
    assert zoo_table.main(["--check", str(doc), "--registry", str(registry)]) == 1
    assert zoo_table.main(["--write", str(doc), "--registry", str(registry)]) == 0
    assert doc.read_text() == (
        "# Zoo\n\nintro\n\n<!-- zoo-table:begin -->\n"
        + EXPECTED
        + "<!-- zoo-table:end -->\n\nafter\n"
    )
    assert zoo_table.main(["--check", str(doc), "--registry", str(registry)]) == 0


def test_missing_markers_and_empty_registry(zoo_table, tmp_path, capsys):
    doc = tmp_path / "zoo.md"
    doc.write_text("no markers\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert zoo_table.main(["--write", str(doc), "--registry", str(empty)]) == 2
    assert "zoo-table:begin" in capsys.readouterr().err
    assert doc.read_text() == "no markers\n"
    assert zoo_table.main(["--registry", str(empty)]) == 0
    assert capsys.readouterr().out == "_No model is published in the zoo yet._\n"


def test_repository_docs_table_is_up_to_date(zoo_table, monkeypatch):
    from semser_tf.zoo import registry

    monkeypatch.delenv("SEMSER_ZOO_PATH", raising=False)
    monkeypatch.setattr(registry, "_user_paths", [])
    assert zoo_table.main(["--check", str(REPO / "docs" / "zoo.md")]) == 0
