"""Exports run in their own runtimes (SavedModel loader, onnxruntime, the TFLite interpreter)
and give Keras's outputs on inputs the exporter's own check did not see."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from semser_tf.errors import ConfigError

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
if keras.backend.backend() != "tensorflow":
    pytest.skip("exports are written from the TensorFlow backend", allow_module_level=True)

from semser_tf.export import ExportError, export_model  # noqa: E402
from semser_tf.export.exporters import read_export  # noqa: E402

needs_onnx = pytest.mark.skipif(
    not (importlib.util.find_spec("tf2onnx") and importlib.util.find_spec("onnxruntime")),
    reason="tf2onnx / onnxruntime not installed (the export extra)",
)


def _tiny(variant):
    from semser_tf.models import ModelConfig, build_model

    keras.utils.set_random_seed(3)
    return build_model(
        ModelConfig(
            variant=variant,
            conv_filters=(4, 4, 4),
            fusion_units=8,
            stream_units=8,
            lstm_units=8,
            semantic_dim=6,
        )
    )


def _inputs(model, batch, frames, seed=11):
    rng = np.random.default_rng(seed)
    x = {}
    names = [t.name for t in model.inputs]
    if "waveform" in names:
        x["waveform"] = rng.normal(0, 0.2, (batch, frames, model.samples_per_frame)).astype(
            "float32"
        )
    if "semantic" in names:
        x["semantic"] = rng.normal(0, 1, (batch, frames, model.semantic_dim)).astype("float32")
    return x


def _keras(model, x):
    return np.asarray(model(x, training=False))


@pytest.fixture(scope="module", params=["attention", "paralinguistic"])
def model(request):
    return _tiny(request.param)


def test_savedmodel_any_batch_and_length(model, tmp_path):
    out = export_model(model, tmp_path / "sm", "savedmodel")
    loaded = tf.saved_model.load(str(out))
    for batch, frames in ((1, 5), (2, 23)):
        x = _inputs(model, batch, frames)
        np.testing.assert_allclose(loaded.serve(*x.values()).numpy(), _keras(model, x), atol=1e-4)
    meta = read_export(out)
    assert meta["format"] == "savedmodel" and meta["check"]["max_abs_diff"] <= 1e-4
    readme = (out / "README.md").read_text()
    assert "waveform" in readme and "22050 Hz" in readme and "arousal, valence, liking" in readme


@needs_onnx
def test_onnx_in_onnxruntime(model, tmp_path):
    import onnxruntime as ort

    out = export_model(model, tmp_path / "onnx", "onnx")
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == list(_inputs(model, 1, 1))
    for batch, frames in ((1, 7), (3, 19)):
        x = _inputs(model, batch, frames)
        np.testing.assert_allclose(sess.run(None, x)[0], _keras(model, x), atol=1e-4)


def test_tflite_fixed_window_in_the_interpreter(model, tmp_path):
    out = export_model(model, tmp_path / "tfl", "tflite", window_frames=12)
    it = tf.lite.Interpreter(model_path=str(out / "model.tflite"))
    it.allocate_tensors()
    x = _inputs(model, 1, 12, seed=5)
    for d in it.get_input_details():
        assert list(d["shape"])[:2] == [1, 12]
        it.set_tensor(d["index"], x[next(n for n in x if n in d["name"])])
    it.invoke()
    np.testing.assert_allclose(
        it.get_tensor(it.get_output_details()[0]["index"]), _keras(model, x), atol=1e-4
    )
    assert json.loads((out / "export.json").read_text())["window_frames"] == 12


def _zeros(model, batch=1):
    units = model.get_layer("lstm").units
    return np.zeros((batch, units), np.float32), np.zeros((batch, units), np.float32)


def test_savedmodel_step_carries_the_state(model, tmp_path):
    """Three chunks (3, 1 and 9 frames) through ``step``, the state passed on, equal one pass."""
    loaded = tf.saved_model.load(str(export_model(model, tmp_path / "sm", "savedmodel")))
    x = _inputs(model, 2, 13, seed=4)
    h, c = _zeros(model, 2)
    parts = []
    for a, b in ((0, 3), (3, 4), (4, 13)):
        y, h, c = loaded.step(*[v[:, a:b] for v in x.values()], h, c)
        parts.append(np.asarray(y))
    np.testing.assert_allclose(np.concatenate(parts, 1), _keras(model, x), atol=1e-4)
    y, _, _ = loaded.step(
        *[v[:, 4:] for v in x.values()], *_zeros(model, 2)
    )  # from zero: not the same
    assert np.abs(np.asarray(y) - _keras(model, x)[:, 4:]).max() > 1e-4


@needs_onnx
def test_onnx_step_carries_the_state(model, tmp_path):
    import onnxruntime as ort

    out = export_model(model, tmp_path / "onnx", "onnx")
    sess = ort.InferenceSession(str(out / "step.onnx"), providers=["CPUExecutionProvider"])
    x = _inputs(model, 1, 11, seed=8)
    h, c = _zeros(model)
    y1, h, c = sess.run(None, {**{n: v[:, :5] for n, v in x.items()}, "h": h, "c": c})
    y2, _, _ = sess.run(None, {**{n: v[:, 5:] for n, v in x.items()}, "h": h, "c": c})
    np.testing.assert_allclose(np.concatenate([y1, y2], 1), _keras(model, x), atol=1e-4)


def test_tflite_one_frame_step_carries_the_state(model, tmp_path):
    out = export_model(model, tmp_path / "tfl", "tflite", window_frames=6)
    it = tf.lite.Interpreter(model_path=str(out / "step.tflite"))
    run = it.get_signature_runner("step")
    x = _inputs(model, 1, 9, seed=2)
    h, c = _zeros(model)
    ys = []
    for k in range(9):
        o = run(**{n: v[:, k : k + 1] for n, v in x.items()}, h=h, c=c)
        y, h, c = (o[key] for key in sorted(o))
        ys.append(y)
    np.testing.assert_allclose(np.concatenate(ys, 1), _keras(model, x), atol=1e-4)
    assert "step.tflite" in (out / "README.md").read_text()


@pytest.mark.parametrize(
    "kwargs,named",
    [
        (dict(format="keras2"), "format 'keras2': expected one of savedmodel, onnx, tflite"),
        (dict(format="tflite", window_frames=0), "a TFLite export needs a fixed window"),
        (
            dict(format="savedmodel", window_frames=10),
            "window_frames applies to the tflite format only",
        ),
    ],
)
def test_bad_requests_are_clear_errors(kwargs, named, tmp_path):
    model = _tiny("paralinguistic")
    with pytest.raises(ExportError, match=named):
        export_model(model, tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists() and list(tmp_path.iterdir()) == []


def test_a_model_that_is_not_the_packages_is_refused(tmp_path):
    inp = keras.Input((None, 4))
    other = keras.Model(inp, keras.layers.Dense(2)(inp))
    with pytest.raises(ExportError, match="expected a SemserModel"):
        export_model(other, tmp_path / "x", "savedmodel")


def test_never_replaces_a_users_folder_and_replaces_its_own(tmp_path):
    model = _tiny("paralinguistic")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(ConfigError, match="exists"):
        export_model(model, mine, "tflite", window_frames=4)
    with pytest.raises(ConfigError, match="refusing to replace"):
        export_model(model, mine, "tflite", window_frames=4, overwrite=True)
    assert (mine / "notes.txt").read_text() == "keep" and sorted(
        p.name for p in mine.iterdir()
    ) == ["notes.txt"]
    out = export_model(model, tmp_path / "e", "tflite", window_frames=4)
    export_model(model, out, "tflite", window_frames=6, overwrite=True)
    assert read_export(out)["window_frames"] == 6
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_a_changed_export_file_is_detected(tmp_path):
    out = export_model(_tiny("paralinguistic"), tmp_path / "e", "tflite", window_frames=4)
    (out / "model.tflite").write_bytes(b"x")
    from semser_tf.errors import DataError

    with pytest.raises(DataError, match="model.tflite is missing or changed"):
        read_export(out)


def test_cli_exports_the_bundled_model(tmp_path, capsys):
    from semser_tf.cli import main

    assert (
        main(
            [
                "export",
                "semser-synthetic-attention",
                "--format",
                "tflite",
                "--out",
                str(tmp_path / "b"),
                "--window-frames",
                "20",
            ]
        )
        == 0
    )
    assert "largest difference from Keras" in capsys.readouterr().out
    meta = read_export(tmp_path / "b")
    assert meta["inputs"] == {"waveform": [1, 20, 2205], "semantic": [1, 20, 50]}
    assert meta["input_format"]["semantic_mode"] == "text"
    assert (
        main(
            [
                "export",
                "semser-synthetic-attention",
                "--format",
                "tflite",
                "--out",
                str(tmp_path / "b"),
            ]
        )
        == 2
    )


def test_publish_carries_exports_fetched_only_on_request(tmp_path, zoo_env):
    """A published preset with its TFLite export: the entry lists the export's files with
    their SHA-256; loading the model does not fetch them; an export of another network is
    refused."""
    from semser_tf.errors import ConfigError
    from semser_tf.models.preset import InputFormat
    from semser_tf.zoo import fetch_entry_files, get_entry, publish_run

    registry, _ = zoo_env
    model = _tiny("paralinguistic")
    from tests.zoo.test_zoo_publish import REPORT

    report = tmp_path / "report.json"
    report.write_text(json.dumps(REPORT))
    preset = model.save_to_preset(
        tmp_path / "preset",
        input_format=InputFormat.for_model(model),
        extra_files={"report.json": report},
    )
    exp = export_model(preset, tmp_path / "tfl", "tflite", window_frames=8)
    entry_json = publish_run(preset, "tiny-exported", registry / "tiny-exported", exports=[exp])
    entry = get_entry("tiny-exported")
    assert sorted(entry.exports) == ["tflite"]
    names = {s.filename for s in entry.exports["tflite"]}
    assert names == {
        "exports/tflite/export.json",
        "exports/tflite/model.tflite",
        "exports/tflite/step.tflite",
        "exports/tflite/README.md",
    }
    spec = entry.file("export/tflite/model.tflite")
    assert spec.sha256 == read_export(exp)["files"]["model.tflite"]
    assert not any(
        r.startswith("export/") for r in fetch_entry_files(entry, offline=True)
    )  # not by default
    path = fetch_entry_files(entry, roles=["export/tflite/model.tflite"], offline=True)[
        "export/tflite/model.tflite"
    ]
    assert path.read_bytes() == (exp / "model.tflite").read_bytes()
    from semser_tf import load_pretrained

    assert (
        load_pretrained("tiny-exported", offline=True).model.count_params() == model.count_params()
    )
    other = export_model(_tiny("semantic"), tmp_path / "other", "tflite", window_frames=8)
    with pytest.raises(ConfigError, match="holds another network"):
        publish_run(preset, "tiny-bad", tmp_path / "bad", exports=[other])
    assert entry_json.is_file() and not (tmp_path / "bad").exists()
