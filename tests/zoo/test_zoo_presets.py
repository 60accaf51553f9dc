"""The zoo and presets: separate caches, lazy imports, embeddings never replaced by zeros,
published entries free of machine paths."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from semser_tf.errors import ConfigError
from semser_tf.zoo import cache_dir, clear_cache
from tests.zoo.zoo_helpers import write_entry

REPO = Path(__file__).resolve().parents[2]
SMALL = dict(conv_filters=(4, 6, 8), fusion_units=16, stream_units=8, lstm_units=8, semantic_dim=4)


def test_clear_cache_leaves_the_frame_cache(zoo_env):
    from semser_tf.data.pipeline import default_cache_dir

    frames, zoo = default_cache_dir(), cache_dir()
    assert frames != zoo and zoo not in frames.parents and frames not in zoo.parents
    (frames / "shard.tfrecord").parent.mkdir(parents=True)
    (frames / "shard.tfrecord").write_bytes(b"frames")
    (zoo / "m" / "1.0.0").mkdir(parents=True)
    (zoo / "m" / "1.0.0" / "model.keras").write_bytes(b"zoo")
    clear_cache()
    assert (frames / "shard.tfrecord").read_bytes() == b"frames"
    assert not zoo.exists()


def test_load_pretrained_imports_from_the_zoo_without_tensorflow():
    code = (
        "import sys, semser_tf.zoo\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "from semser_tf.zoo import load_pretrained, PretrainedModel\n"
        "assert callable(load_pretrained)\n"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        cwd=REPO,
        timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )


def _legacy_entry(registry: Path, name: str, emb_folder: str) -> Path:
    """An entry of the older layout (a .keras model) whose model was trained with
    lookup embeddings, listing them under ``emb_folder``."""
    import keras

    from semser_tf.models import ModelConfig, build_model
    from semser_tf.semantic.embeddings import AlignedEmbeddings

    keras.utils.set_random_seed(0)
    config = ModelConfig(variant="attention", sequence_length=10, **SMALL)
    work = registry.parent / f"{name}-work"
    work.mkdir()
    build_model(config).save(work / "model.keras")
    vectors = np.eye(4, dtype=np.float32)[:3] * 2.0
    AlignedEmbeddings(["good", "bad", "okay"], vectors, np.eye(4, dtype=np.float32)).save(
        work / "emb"
    )
    cfg = {
        "model": config.to_dict(),
        "semantic_mode": "lookup",
        "frame_features": "LookupFrameFeatures(words=3, dim=4)",
    }
    files = {
        "model.keras": (work / "model.keras").read_bytes(),
        "config.json": json.dumps(cfg).encode(),
    }
    for f in ("embeddings.json", "embeddings.npz"):
        files[f"{emb_folder}/{f}"] = (work / "emb" / f).read_bytes()
    write_entry(registry, name, files)
    return work / "emb"


def test_embeddings_fetched_elsewhere_are_an_error_or_used_never_zeros(zoo_env, no_network):
    from semser_tf.zoo.pretrained import load_pretrained

    registry, _ = zoo_env
    emb = _legacy_entry(registry, "elsewhere", "aligned")  # not under embeddings/: not the model's
    _legacy_entry(registry, "listed", "embeddings")
    with pytest.raises(
        ConfigError, match="trained with 'lookup' semantic features.*pass embeddings="
    ):
        load_pretrained("elsewhere", offline=True)
    audio = (0.3 * np.sin(2 * np.pi * 200 * np.arange(22050) / 22050)).astype("float32")
    words = [(0.0, 0.4, "good"), (0.5, 0.9, "bad")]
    given = load_pretrained("elsewhere", offline=True, embeddings=emb).predict(
        audio, sample_rate=22050, words=words
    )
    listed = load_pretrained("listed", offline=True).predict(audio, sample_rate=22050, words=words)
    np.testing.assert_allclose(given.values, listed.values, atol=1e-6)
    zeros = load_pretrained("listed", offline=True).predict(
        audio, sample_rate=22050, words_from="none"
    )
    assert np.abs(given.values - zeros.values).max() > 1e-4  # the words reached the model


_ABS = re.compile(r"(?:^|[\s'\"=,\[])(/[A-Za-z0-9_.-]+/\S*)")


def _absolute_paths(value, where=""):
    if isinstance(value, str):
        return [(where, m.group(1)) for m in _ABS.finditer(value)]
    if isinstance(value, dict):
        return [hit for k, v in value.items() for hit in _absolute_paths(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [hit for i, v in enumerate(value) for hit in _absolute_paths(v, f"{where}[{i}]")]
    return []


def test_published_entry_records_no_absolute_path(tmp_path, zoo_env, monkeypatch):
    from semser_tf.zoo import publish_run
    from tests.zoo.test_zoo_publish import make_run

    run = make_run(tmp_path)
    corpus = tmp_path / "corpora" / "sewa"
    config = {
        "model": {"variant": "attention"},
        "dataset": str(corpus),
        "cache": str(tmp_path / "cache"),
    }
    (run / "config.json").write_text(json.dumps(config))
    report = json.loads((run / "report.json").read_text())
    report["training"] = {
        "data": f"{corpus} Train",
        "command": f"semser train {corpus} --out {run} --cache-dir /var/tmp/frames",
    }
    report["plots"] = str(run / "plots")
    (run / "report.json").write_text(json.dumps(report))
    monkeypatch.chdir(tmp_path)
    entry = publish_run(run, "rel", tmp_path / "out" / "rel", license="BSD-3-Clause")
    data = json.loads(entry.read_text())
    assert _absolute_paths(data) == []
    assert data["training"]["command"] == "semser train corpora/sewa --out run --cache-dir frames"
    assert data["config"]["dataset"] == "corpora/sewa"
    for f in ("config.json", "report.json"):
        assert _absolute_paths(json.loads((entry.parent / f).read_text())) == [], f


def test_bundled_entries_record_no_absolute_path():
    for path in sorted((REPO / "zoo").rglob("*.json")):
        assert _absolute_paths(json.loads(path.read_text())) == [], path
