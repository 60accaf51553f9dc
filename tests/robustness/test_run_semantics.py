"""A run folder is self-contained and read the way it was trained: issue 15, the rows on
``evaluate`` without ``--embeddings``, the recorded semantic mode, ``predict --mode``, and
zoo files that are not listed."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest

from semser_tf.errors import ConfigError
from tests.robustness.conftest import SMALL, snapshot, write_wav

WORDS = ["ja", "nein", "gut"]


def _embeddings(folder):
    """Aligned embeddings of dimension 8 with a Word2Vec table (text mode)."""
    from semser_tf.semantic.embeddings import AlignedEmbeddings

    rng = np.random.default_rng(5)
    emb = AlignedEmbeddings(
        WORDS,
        rng.normal(size=(3, 8)).astype(np.float32),
        np.eye(8, dtype=np.float32),
        text_words=WORDS,
        text_vectors=rng.normal(size=(3, 8)).astype(np.float32),
    )
    return emb.save(folder), emb


def _fake_run(
    root, variant="attention", mode="lookup", features="LookupFrameFeatures(words=3, dim=8)"
):
    from semser_tf.models.config import ModelConfig

    run = root / "run"
    run.mkdir(parents=True)
    config = ModelConfig(variant=variant, **SMALL)
    (run / "run.json").write_text(json.dumps({"kind": "semser-run"}))
    (run / "config.json").write_text(
        json.dumps(
            {
                "variant": variant,
                "model": config.to_dict(),
                "training": {},
                "frame_features": features,
                "semantic_mode": mode,
            }
        )
    )
    (run / "best.keras").write_bytes(b"not loaded before the checks")
    return run


def test_evaluate_a_fused_run_without_its_embeddings_is_an_error(tmp_path, cli, loader_corpus):
    run = _fake_run(tmp_path)
    before = snapshot(tmp_path)
    code, err = cli("evaluate", run, "--corpus", loader_corpus["root"])
    assert code == 2 and str(run) in err and "--embeddings" in err and "no embeddings/" in err
    assert snapshot(tmp_path) == before  # no eval_Devel folder


def test_evaluate_uses_the_runs_embeddings_and_recorded_mode(tmp_path):
    from semser_tf.cli.run_inputs import run_frame_features

    run = _fake_run(tmp_path, mode="text", features="LookupFrameFeatures(words=3, dim=8)")
    _, emb = _embeddings(run / "embeddings")
    cfg = json.loads((run / "config.json").read_text())
    features = run_frame_features(run, cfg, "attention")
    assert features.mode == "text"
    # the vector of "gut" is the run's Word2Vec row (stored as used in the alignment)
    np.testing.assert_allclose(features.vector("gut"), emb.text_vectors[2], rtol=1e-6)
    with pytest.raises(
        ConfigError, match="trained with semantic mode 'text'.*mode 'lookup' gives aligned speech"
    ):
        run_frame_features(run, cfg, "attention", mode="lookup")


def test_evaluate_a_run_trained_on_zeros_keeps_zeros(tmp_path):
    from semser_tf.cli.run_inputs import run_frame_features

    run = _fake_run(tmp_path, variant="concat", mode=None, features="ZeroFrameFeatures(dim=8)")
    assert run_frame_features(run, json.loads((run / "config.json").read_text()), "concat") is None


def test_evaluate_without_config_json_names_it(tmp_path, cli, loader_corpus):
    run = _fake_run(tmp_path)
    (run / "config.json").unlink()
    code, err = cli("evaluate", run, "--corpus", loader_corpus["root"])
    assert code == 2 and str(run / "config.json") in err and "no config.json" in err


@pytest.mark.parametrize("mode", ["encode", "lookup"])
def test_predict_with_a_mode_of_another_space_is_refused(tmp_path, cli, mode):
    run = _fake_run(tmp_path, mode="text")
    wav = tmp_path / "talk.wav"
    write_wav(wav, np.zeros(22050, np.float32))
    before = snapshot(tmp_path)
    code, err = cli("predict", wav, "--model", run, "--mode", mode, "--offline")
    assert code == 2 and "trained with semantic mode 'text'" in err and f"mode {mode!r}" in err
    assert snapshot(tmp_path) == before


def test_train_copies_its_embeddings_into_the_run(tmp_path, loader_corpus):
    from semser_tf.cli.run_inputs import run_frame_features
    from semser_tf.data.sewa import SEWACorpus
    from semser_tf.models.config import ModelConfig
    from semser_tf.training.run import TrainSettings, train

    src, emb = _embeddings(tmp_path / "aligned")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        corpus = SEWACorpus(loader_corpus["root"])
    run = tmp_path / "run"
    train(
        corpus,
        run,
        ModelConfig(variant="concat", **SMALL),
        TrainSettings(epochs=1, steps_per_epoch=1),
        frame_features=emb.frame_features("lookup"),
        embeddings_dir=src,
        verbose=0,
        evaluate_best=False,
        plots=False,
    )
    for f in src.iterdir():
        assert (run / "embeddings" / f.name).read_bytes() == f.read_bytes()
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["embeddings"] == "embeddings" and cfg["semantic_mode"] == "lookup"
    features = run_frame_features(run, cfg, "concat")  # no --embeddings needed any more
    np.testing.assert_allclose(features.vector("ja"), emb.vectors[0], rtol=1e-6)
    # --overwrite with the run's own copy as the input would delete the input: refused
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError, match="an input of this command"):
        train(
            corpus,
            run,
            ModelConfig(variant="concat", **SMALL),
            frame_features=emb.frame_features("lookup"),
            embeddings_dir=run / "embeddings",
            overwrite=True,
            verbose=0,
        )
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- zoo files


@pytest.fixture
def tampered_entry(tmp_path, monkeypatch):
    """The bundled entry copied into a registry, renamed, with its Speech2Vec weights unlisted
    and replaced by other bytes."""
    from pathlib import Path

    import semser_tf
    from semser_tf.zoo import registry as registry_module

    registry = tmp_path / "registry"
    src = Path(semser_tf.__file__).parent / "zoo" / "bundled" / "semser-synthetic-attention"
    dst = registry / "tampered"
    shutil.copytree(src, dst)
    entry = json.loads((dst / "entry.json").read_text())
    entry["name"] = "tampered"
    entry["files"] = [
        f for f in entry["files"] if f["filename"] != "embeddings/speech2vec.weights.h5"
    ]
    (dst / "entry.json").write_text(json.dumps(entry))
    (dst / "embeddings" / "speech2vec.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    monkeypatch.setenv("SEMSER_ZOO_PATH", str(registry))
    monkeypatch.setenv("SEMSER_TF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(registry_module, "_user_paths", [])
    return dst


def test_an_unlisted_speech2vec_file_is_never_loaded(tampered_entry):
    """The bundled entry is a preset: its manifest lists the Speech2Vec weights, so an entry
    that leaves them out (and a file replaced beside it) is refused, never half-loaded."""
    from semser_tf.models.preset import PresetError, verify_preset
    from semser_tf.zoo.pretrained import load_pretrained

    with pytest.raises(
        ConfigError,
        match="not embeddings/speech2vec.weights.h5; every file the model loads must be listed",
    ):
        load_pretrained("tampered", offline=True)
    with pytest.raises(
        PresetError, match="speech2vec.weights.h5: changed since the preset was saved"
    ):
        verify_preset(tampered_entry)


def test_an_entry_without_its_embeddings_json_is_refused(tampered_entry):
    from semser_tf.zoo.pretrained import load_pretrained

    entry = json.loads((tampered_entry / "entry.json").read_text())
    entry["files"] = [f for f in entry["files"] if f["filename"] != "embeddings/embeddings.json"]
    (tampered_entry / "entry.json").write_text(json.dumps(entry))
    with pytest.raises(
        ConfigError,
        match="not embeddings/embeddings.json, embeddings/speech2vec.weights.h5; every file "
        "the model loads must be listed",
    ):
        load_pretrained("tampered", offline=True)
