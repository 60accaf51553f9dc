"""Presets in keras-hub's manner: from_preset -> predict -> save_to_preset -> from_preset,
the manifest verified, tampering refused, nothing a user owns replaced."""

import json
import shutil

import numpy as np
import pytest

from semser_tf.errors import ConfigError
from semser_tf.models import (
    InputFormat,
    ModelConfig,
    PresetError,
    SemserModel,
    build_model,
    load_preset,
)

SMALL = dict(conv_filters=(4, 6, 8), fusion_units=16, stream_units=8, lstm_units=8, semantic_dim=10)
BUNDLED = "semser-synthetic-attention"


def _x(dim, frames=6, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "waveform": rng.normal(0, 0.3, (1, frames, 2205)).astype("float32"),
        "semantic": rng.normal(0, 0.3, (1, frames, dim)).astype("float32"),
    }


@pytest.fixture(scope="module")
def small_preset(tmp_path_factory):
    model = build_model(ModelConfig(**SMALL))
    folder = tmp_path_factory.mktemp("presets") / "small"
    model.save_to_preset(folder)
    return model, folder


def test_bundled_preset_round_trips_with_identical_outputs(tmp_path):
    model = SemserModel.from_preset(BUNDLED)  # a registry name
    assert isinstance(model, SemserModel) and model.semantic_dim == 50
    x = _x(50)
    first = np.asarray(model.predict_on_batch(x))
    saved = model.save_to_preset(tmp_path / "again")
    files = json.loads((saved / "metadata.json").read_text())["files"]
    assert {"config.json", "model.weights.h5", "input_format.json"} <= set(files)
    again = SemserModel.from_preset(str(saved))  # a local folder
    np.testing.assert_array_equal(np.asarray(again.predict_on_batch(x)), first)
    assert again.get_config() == model.get_config()


def test_a_trained_models_preset_holds_its_weights_and_no_optimizer(tmp_path):
    """A compiled, trained model's preset: the weights file has no optimizer slots, and the
    reloaded model predicts exactly as the trained one."""
    import h5py

    from semser_tf.models import compile_model

    config = ModelConfig(**SMALL)
    model = compile_model(build_model(config), config)
    x, y = _x(10, seed=1), np.full((1, 6, 3), 0.3, "float32")
    model.train_on_batch(x, y)
    assert model.optimizer.built and len(model.optimizer.variables) > 2
    saved = model.save_to_preset(tmp_path / "trained")
    with h5py.File(saved / "model.weights.h5", "r") as f:
        assert "optimizer" not in f and "layers" in f
    again = SemserModel.from_preset(str(saved))
    np.testing.assert_array_equal(
        np.asarray(again.predict_on_batch(x)), np.asarray(model.predict_on_batch(x))
    )


def test_preset_records_the_input_format(small_preset):
    _, folder = small_preset
    fmt = json.loads((folder / "input_format.json").read_text())
    assert (
        fmt["sample_rate"],
        fmt["frame_rate"],
        fmt["frame_length"],
        fmt["samples_per_frame"],
    ) == (22050, 10, 2205, 2205)
    assert (
        fmt["targets"] == ["arousal", "valence", "liking"] and "[-1, 1]" in fmt["label_convention"]
    )
    loaded = load_preset(folder)
    assert loaded.input_format == InputFormat(semantic_dim=10) and loaded.embeddings_dir is None


def test_load_weights_false_gives_the_architecture_only(small_preset):
    model, folder = small_preset
    fresh = SemserModel.from_preset(folder, load_weights=False)
    assert fresh.get_config() == model.get_config()
    assert not np.array_equal(fresh.get_weights()[0], model.get_weights()[0])


@pytest.mark.parametrize(
    "damage, message",
    [
        ("weights", "changed since the preset was saved"),
        ("extra", "not listed in"),
        ("missing", "listed in metadata.json but missing"),
        ("config", "changed since the preset was saved"),
    ],
)
def test_a_tampered_preset_is_refused(small_preset, tmp_path, damage, message):
    _, folder = small_preset
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    if damage == "weights":
        data = bytearray((copy / "model.weights.h5").read_bytes())
        data[-100] ^= 0xFF
        (copy / "model.weights.h5").write_bytes(bytes(data))
    elif damage == "extra":
        (copy / "embeddings").mkdir()
        (copy / "embeddings" / "speech2vec.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    elif damage == "missing":
        (copy / "input_format.json").unlink()
    else:
        cfg = json.loads((copy / "config.json").read_text())
        cfg["config"]["lstm_units"] = 9
        (copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(PresetError, match=message):
        SemserModel.from_preset(copy)


def test_save_to_preset_replaces_only_its_own_folder(small_preset, tmp_path):
    model, _ = small_preset
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep")
    with pytest.raises(ConfigError, match="exists"):
        model.save_to_preset(user)
    with pytest.raises(
        ConfigError, match="refusing to replace a folder this package did not create"
    ):
        model.save_to_preset(user, overwrite=True)
    assert (user / "notes.txt").read_text() == "keep"
    ours = model.save_to_preset(tmp_path / "ours")
    model.save_to_preset(ours, overwrite=True)  # its own folder: replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "mine",
        "ours",
    ]  # no temporary folder left


def test_a_preset_of_another_class_or_unknown_name_is_refused(small_preset, tmp_path):
    _, folder = small_preset
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    cfg = json.loads((copy / "config.json").read_text())
    cfg["registered_name"] = "Functional"
    (copy / "config.json").write_text(json.dumps(cfg))
    meta = json.loads(
        (copy / "metadata.json").read_text()
    )  # a consistent manifest: the class is refused
    import hashlib

    data = (copy / "config.json").read_bytes()
    meta["files"]["config.json"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(PresetError, match="expected a serialised SemserModel"):
        SemserModel.from_preset(copy)
    with pytest.raises(ConfigError, match="unknown pretrained model 'no-such-preset'"):
        SemserModel.from_preset("no-such-preset")
