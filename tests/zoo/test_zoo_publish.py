"""publish_run packs a run folder into a verified entry; its files come back byte for byte."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from semser_tf.errors import ConfigError, SemserError
from semser_tf.zoo import fetch_entry_files, get_entry, publish_run, safe_extract
from tests.zoo.zoo_helpers import files_under

REPORT = {
    "dataset": "SEWA-DE (AVEC 2017)",
    "metrics": [
        {"partition": "devel", "ccc": {"arousal": 0.512, "valence": 0.431, "liking": 0.201}},
        {
            "dataset": "SEWA-DE test",
            "partition": "test",
            "ccc": {"arousal": 0.4, "valence": 0.5, "liking": 0.3},
            "mean": 0.4,
        },
    ],
    "training": {
        "data": "SEWA-DE Train_01..Train_34",
        "command": "semser train --config config.json",
    },
}
CONFIG = {"model": {"variant": "attention", "lstm_units": 256}, "sequence_length": 300}


def make_run(root: Path) -> Path:
    """A small fake run folder following the documented layout."""
    run = root / "run"
    (run / "embeddings").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(CONFIG))
    (run / "report.json").write_text(json.dumps(REPORT))
    (run / "history.csv").write_text("epoch,loss\n0,0.9\n1,0.8\n")
    with zipfile.ZipFile(run / "best.keras", "w") as zf:  # a .keras file is a zip archive
        zf.writestr("config.json", "{}")
        zf.writestr("model.weights.h5", b"\x00" * 64)
    rng = np.random.default_rng(0)
    np.savez(run / "embeddings" / "aligned.npz", vectors=rng.normal(size=(20, 8)).astype("float32"))
    (run / "embeddings" / "vocab.json").write_text(json.dumps([f"w{i}" for i in range(20)]))
    import h5py

    with h5py.File(run / "embeddings" / "mapping.weights.h5", "w") as f:
        f["W"] = np.eye(8, dtype="float32")
    return run


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


EXPECTED = {
    # role -> file name in the run folder
    "model": "best.keras",
    "config": "config.json",
    "report": "report.json",
    "embeddings/aligned.npz": "embeddings/aligned.npz",
    "embeddings/mapping.weights.h5": "embeddings/mapping.weights.h5",
    "embeddings/vocab.json": "embeddings/vocab.json",
}


def test_publish_then_download_by_url_gives_identical_bytes(tmp_path, zoo_env, http_server):
    registry, cache = zoo_env
    run = make_run(tmp_path)
    published = tmp_path / "published" / "semser-test"
    entry_path = publish_run(
        run,
        "semser-test",
        published,
        version="1.2.0",
        base_url=http_server.base_url + "zoo/semser-test/1.2.0",
        description="Attention model for the tests.",
        license="CC-BY-NC-4.0",
    )
    assert entry_path == published / "entry.json"
    data = json.loads(entry_path.read_text())
    assert {f["role"]: f["filename"] for f in data["files"]} == EXPECTED
    for spec in data["files"]:
        source = run / EXPECTED[spec["role"]]
        assert spec["sha256"] == _sha(source)
        assert spec["size"] == source.stat().st_size
        assert spec["url"] == http_server.base_url + "zoo/semser-test/1.2.0/" + spec["filename"]
    assert data["variant"] == "attention" and data["config"] == CONFIG
    assert data["training"] == REPORT["training"]
    devel, test = data["metrics"]
    assert devel["dataset"] == "SEWA-DE (AVEC 2017)" and test["dataset"] == "SEWA-DE test"
    assert devel["mean"] == pytest.approx((0.512 + 0.431 + 0.201) / 3)
    assert "history.csv" not in json.dumps(data["files"])

    # serve the published files; install only the entry.json in the registry
    http_server.add_folder(published, prefix="zoo/semser-test/1.2.0/")
    (registry / "semser-test").mkdir()
    (registry / "semser-test" / "entry.json").write_bytes(entry_path.read_bytes())
    paths = fetch_entry_files("semser-test", progress=False)
    for role, filename in EXPECTED.items():
        assert paths[role] == cache / "semser-test" / "1.2.0" / filename
        assert paths[role].read_bytes() == (run / filename).read_bytes()
    assert http_server.counts["/zoo/semser-test/1.2.0/entry.json"] == 0
    assert sum(http_server.counts.values()) == len(EXPECTED)
    with np.load(paths["embeddings/aligned.npz"], allow_pickle=False) as npz:
        np.testing.assert_array_equal(
            npz["vectors"], np.load(run / "embeddings" / "aligned.npz")["vectors"]
        )


def test_publish_without_base_url_is_a_bundled_entry(tmp_path, zoo_env, no_network):
    registry, cache = zoo_env
    run = make_run(tmp_path)
    entry_path = publish_run(run, "bundled-run", registry / "bundled-run")
    entry = get_entry("bundled-run")
    assert entry.license == "unspecified" and entry.version == "1.0.0"
    assert all(f.url == f.filename for f in entry.files)
    paths = fetch_entry_files("bundled-run")
    for role, filename in EXPECTED.items():
        assert paths[role] == entry_path.parent.resolve() / filename
        assert _sha(paths[role]) == _sha(run / filename)
    assert files_under(cache) == []


def test_existing_output_is_refused_unless_overwrite(tmp_path):
    run = make_run(tmp_path)
    out = tmp_path / "zoo" / "m"
    publish_run(run, "m", out, description="first")
    with pytest.raises(FileExistsError) as err:
        publish_run(run, "m", out, description="second")
    assert isinstance(err.value, SemserError) and str(out) in str(err.value)
    assert json.loads((out / "entry.json").read_text())["description"] == "first"
    publish_run(run, "m", out, description="second", overwrite=True)
    assert json.loads((out / "entry.json").read_text())["description"] == "second"
    assert [p.name for p in out.parent.iterdir()] == ["m"]  # no temporary folder left


@pytest.mark.parametrize(
    "damage,named",
    [
        (
            lambda run: (run / "embeddings" / "tokenizer.pkl").write_bytes(b"\x80\x04."),
            "tokenizer.pkl",
        ),
        (lambda run: (run / "best.keras").unlink(), "best.keras or model.keras"),
        (lambda run: (run / "report.json").unlink(), "report.json or metrics.json"),
        (lambda run: (run / "config.json").write_text("{\n oops"), "config.json:2"),
        (lambda run: (run / "best.keras").write_bytes(b"not a zip"), "best.keras"),
        (
            lambda run: np.savez(
                run / "embeddings" / "aligned.npz", words=np.array([{"a": 1}], dtype=object)
            ),
            "aligned.npz",
        ),
        (
            lambda run: (run / "report.json").write_text(
                json.dumps({"metrics": [{"partition": "devel", "ccc": {"arousal": 3}}]})
            ),
            "metrics[0].ccc.arousal",
        ),
    ],
    ids=[
        "pickle-file",
        "no-model",
        "no-report",
        "bad-config-json",
        "keras-not-zip",
        "object-npz",
        "bad-ccc",
    ],
)
def test_bad_run_folders_are_refused_without_output(tmp_path, damage, named):
    run = make_run(tmp_path)
    damage(run)
    out = tmp_path / "zoo" / "m"
    with pytest.raises(ConfigError) as err:
        publish_run(run, "m", out)
    assert named in str(err.value)
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_publish_archive_extracts_into_a_usable_entry(tmp_path, zoo_env, no_network):
    registry, _ = zoo_env
    run = make_run(tmp_path)
    out = tmp_path / "dist" / "archived"
    publish_run(run, "archived", out, archive="zip")
    archive = tmp_path / "dist" / "archived.zip"
    assert archive.is_file()
    safe_extract(archive, tmp_path / "unpacked")
    # the archive holds the entry folder: put it into a registry and load it offline
    (tmp_path / "unpacked" / "archived").rename(registry / "archived")
    paths = fetch_entry_files("archived")
    assert _sha(paths["model"]) == _sha(run / "best.keras")


def test_published_keras_model_loads_in_safe_mode(tmp_path, zoo_env, http_server):
    keras = pytest.importorskip("keras")
    registry, _ = zoo_env
    run = make_run(tmp_path)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="tanh")(inputs))
    model.save(run / "best.keras")
    published = tmp_path / "pub" / "tiny"
    entry_path = publish_run(run, "tiny", published, base_url=http_server.base_url)
    http_server.add_folder(published)
    (registry / "tiny").mkdir()
    (registry / "tiny" / "entry.json").write_bytes(entry_path.read_bytes())
    paths = fetch_entry_files("tiny", progress=False)
    loaded = keras.saving.load_model(paths["model"], safe_mode=True)
    x = np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4)
    kernel, bias = model.layers[-1].get_weights()
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), np.tanh(x @ kernel + bias), rtol=1e-5, atol=1e-6
    )
