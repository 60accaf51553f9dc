"""The three exporters and the checks that run each export in its own runtime.

The record an export leaves (``export.json``, read by :func:`read_export`) is defined in
:mod:`semser_tf.zoo.exported`, since publishing reads it too; both names are re-exported.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from semser_tf.errors import ConfigError
from semser_tf.zoo.exported import EXPORT_RECORD, weights_sha256
from semser_tf.zoo.exported import read_export as read_export  # re-exported

FORMATS = ("savedmodel", "onnx", "tflite")
"""What :func:`export_model` writes."""

TOLERANCE = 1e-4
"""Largest absolute difference from Keras's outputs an export may show on the check input."""

ONNX_OPSET = 17
DEFAULT_TFLITE_FRAMES = 100
"""The TFLite window when none is given: 100 frames, 10 s."""

EXPORT_PINS = "tf2onnx==1.17.0 onnx==1.17.0 onnxruntime"
"""What ``format="onnx"`` needs (``pip install 'semser-tf[export]'``): tf2onnx 1.17.0 works
with TensorFlow 2.17 only beside onnx 1.17.0 (newer onnx needs ml-dtypes >= 0.5)."""


class ExportError(ConfigError):
    """A model that cannot be exported in the asked form, or an export that fails its check."""


def _semser_model(model):
    """The SemserModel of ``model``: a SemserModel, a ``PretrainedModel``, or a name/path that
    :func:`semser_tf.load_pretrained` resolves (zoo name, entry, preset or run folder)."""
    from semser_tf.models import SemserModel

    if isinstance(model, (str, Path)):
        from semser_tf.zoo.pretrained import load_pretrained

        model = load_pretrained(str(model), offline=True, progress=False)
    holder = model
    if not isinstance(model, SemserModel):
        model = getattr(model, "model", model)
    if not isinstance(model, SemserModel):
        raise ExportError(
            f"cannot export a {type(model).__name__}: expected a SemserModel (semser_tf.models), a model "
            "loaded by semser_tf.load_pretrained, or its name or folder; other Keras models may hold "
            "layers the exporters do not know"
        )
    return model, getattr(holder, "input_format", None)


def _inputs(model) -> list[tuple[str, int]]:
    """``(name, width)`` of the model's inputs, in the exported order (waveform first)."""
    names = [t.name for t in model.inputs]
    out = []
    if "waveform" in names:
        out.append(("waveform", int(model.samples_per_frame)))
    if "semantic" in names:
        out.append(("semantic", int(model.semantic_dim)))
    return out


def _serve_fn(model):
    names = [n for n, _ in _inputs(model)]

    def serve(*tensors):
        out = model(dict(zip(names, tensors)), training=False)
        return out["emotion"] if isinstance(out, dict) else out

    return serve


def _signature(model, batch, frames, state: bool = False):
    import tensorflow as tf

    spec = [
        tf.TensorSpec((batch, frames, width), tf.float32, name=name)
        for name, width in _inputs(model)
    ]
    if state:
        from semser_tf.models.stateful import STATE_INPUTS, state_size

        spec += [
            tf.TensorSpec((batch, state_size(model)), tf.float32, name=n) for n in STATE_INPUTS
        ]
    return spec


def _step_fn(model):
    """``step(*inputs, h, c) -> (emotion, h, c)``: the frames given, from the LSTM state given
    (:func:`semser_tf.models.stateful.stateful_step_model`, the rule of ``Predictor.stream``)."""
    from semser_tf.models.stateful import STATE_INPUTS, stateful_step_model

    step_model = stateful_step_model(model, with_weights=False)
    names = [n for n, _ in _inputs(model)] + list(STATE_INPUTS)

    def step(*tensors):
        out = step_model(dict(zip(names, tensors)), training=False)
        return out["emotion"], out["h"], out["c"]

    return step


def _zero_state(model, batch=1) -> dict:
    from semser_tf.models.stateful import STATE_INPUTS, state_size

    return {n: np.zeros((batch, state_size(model)), np.float32) for n in STATE_INPUTS}


def _halves(x: dict, k: int) -> tuple[dict, dict]:
    return {n: v[:, :k] for n, v in x.items()}, {n: v[:, k:] for n, v in x.items()}


def _check_input(model, frames: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        name: (rng.normal(0, 0.1 if name == "waveform" else 1.0, (1, frames, width))).astype(
            "float32"
        )
        for name, width in _inputs(model)
    }


def _keras_out(model, x: dict) -> np.ndarray:
    out = model(x, training=False)
    return np.asarray(out["emotion"] if isinstance(out, dict) else out, np.float32)


def _write_savedmodel(
    model, folder: Path, frames=None, batch=None, endpoints=("serve", "step")
) -> None:
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    if "serve" in endpoints:
        archive.add_endpoint(
            "serve", _serve_fn(model), input_signature=_signature(model, batch, frames)
        )
    if "step" in endpoints:
        archive.add_endpoint(
            "step", _step_fn(model), input_signature=_signature(model, batch, frames, state=True)
        )
    archive.write_out(str(folder), verbose=False)


def _run_savedmodel(folder: Path, x: dict) -> np.ndarray:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(folder))
    return np.asarray(loaded.serve(*x.values()), np.float32)


def _stream_savedmodel(folder: Path, model, x: dict, k: int) -> np.ndarray:
    """The ``step`` endpoint over ``x`` in two calls (frames ``:k`` then ``k:``), state carried."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(folder))
    z = _zero_state(model)
    a, b = _halves(x, k)
    y1, h, c = loaded.step(*a.values(), z["h"], z["c"])
    y2, _, _ = loaded.step(*b.values(), h, c)
    return np.concatenate([np.asarray(y1), np.asarray(y2)], axis=1).astype(np.float32)


def _write_onnx(model, folder: Path) -> Path:
    """``model.onnx`` (``serve``) and ``step.onnx`` (the stateful step); returns the first."""
    try:
        import tf2onnx
    except ImportError:
        raise ExportError(
            f"ONNX export needs tf2onnx and onnx: pip install {EXPORT_PINS} "
            "(or pip install 'semser-tf[export]')"
        ) from None
    import tensorflow as tf

    for name, fn, sig in (
        ("model.onnx", _serve_fn(model), _signature(model, None, None)),
        ("step.onnx", _step_fn(model), _signature(model, None, None, state=True)),
    ):
        try:
            tf2onnx.convert.from_function(
                tf.function(fn, input_signature=sig),
                input_signature=sig,
                opset=ONNX_OPSET,
                output_path=str(folder / name),
            )
        except Exception as err:  # tf2onnx raises many kinds; name the step and the reason
            raise ExportError(
                f"tf2onnx could not convert the model ({name}): {type(err).__name__}: "
                f"{' '.join(str(err).split())[:300]}"
            ) from err
    return folder / "model.onnx"


def _onnx_session(path: Path):
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError(
            f"checking an ONNX export needs onnxruntime: pip install {EXPORT_PINS}"
        ) from None
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _stream_onnx(folder: Path, model, x: dict, k: int) -> np.ndarray:
    sess = _onnx_session(folder / "step.onnx")
    a, b = _halves(x, k)
    y1, h, c = sess.run(None, {**a, **_zero_state(model)})
    y2, _, _ = sess.run(None, {**b, "h": h, "c": c})
    return np.concatenate([y1, y2], axis=1).astype(np.float32)


def _run_onnx(path: Path, x: dict) -> np.ndarray:
    sess = _onnx_session(path)
    feeds = {i.name: x[i.name.split(":")[0]] for i in sess.get_inputs()}
    return np.asarray(sess.run(None, feeds)[0], np.float32)


def _write_tflite(model, folder: Path, frames: int, work: Path) -> Path:
    """``model.tflite`` (``serve``, a window of ``frames``) and ``step.tflite`` (signature
    ``step``: one frame and the LSTM state in, the frame's prediction and the state out)."""
    import tensorflow as tf

    for name, endpoint, n in (("model.tflite", "serve", frames), ("step.tflite", "step", 1)):
        staging = work / f"savedmodel-{endpoint}"
        _write_savedmodel(model, staging, frames=n, batch=1, endpoints=(endpoint,))
        try:
            data = tf.lite.TFLiteConverter.from_saved_model(
                str(staging), signature_keys=[endpoint]
            ).convert()
        except Exception as err:
            raise ExportError(
                f"the TFLite converter refused the model ({name}): {type(err).__name__}: "
                f"{' '.join(str(err).split())[:300]}"
            ) from err
        (folder / name).write_bytes(data)
    return folder / "model.tflite"


def _interpreter(path: Path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=str(path))


def _stream_tflite(folder: Path, model, x: dict) -> np.ndarray:
    """``step.tflite`` frame by frame over ``x``, the state carried."""
    it = _interpreter(folder / "step.tflite")
    run = it.get_signature_runner("step")
    state = _zero_state(model)
    frames = next(iter(x.values())).shape[1]
    out = []
    for k in range(frames):
        o = run(**{n: v[:, k : k + 1] for n, v in x.items()}, **state)
        y, h, c = (o[key] for key in sorted(o))  # output_0, output_1, output_2: emotion, h, c
        out.append(y)
        state = {"h": h, "c": c}
    return np.concatenate(out, axis=1).astype(np.float32)


def _run_tflite(path: Path, x: dict) -> np.ndarray:
    it = _interpreter(path)
    it.allocate_tensors()
    for d in it.get_input_details():
        name = next(n for n in x if n in d["name"])
        it.set_tensor(d["index"], x[name])
    it.invoke()
    return np.asarray(it.get_tensor(it.get_output_details()[0]["index"]), np.float32)


def _readme(fmt: str, model, input_format, frames) -> str:
    ins = _inputs(model)
    shape = f"1 x {frames}" if frames else "batch x frames (any)"
    fmt_name = {
        "savedmodel": "TensorFlow SavedModel (endpoint `serve`)",
        "onnx": f"ONNX (opset {ONNX_OPSET})",
        "tflite": f"LiteRT / TFLite, a fixed window of {frames} frames",
    }[fmt]
    sr = getattr(input_format, "sample_rate", 22050)
    rate = getattr(input_format, "frame_rate", 10)
    targets = ", ".join(model.targets)
    lines = [
        f"# {model.name}: {fmt_name}",
        "",
        'Exported by semser-tf (Tzirakis et al., "Speech Emotion Recognition Using Semantic Information", '
        "ICASSP 2021): continuous emotion per 100 ms frame.",
        "",
        "## Inputs (float32)",
        "",
    ]
    for name, width in ins:
        if name == "waveform":
            lines.append(
                f"- `waveform`: {shape} x {width}: mono audio at {sr} Hz, cut into frames of "
                f"{width} samples ({1000 // rate} ms), the last frame zero-padded."
            )
        else:
            mode = getattr(input_format, "semantic_mode", None)
            space = getattr(input_format, "text_space", None)
            lines.append(
                f"- `semantic`: {shape} x {width}: one word vector per frame (mode {mode!r}"
                + (f", text space {space}" if space else "")
                + "), the vector of the word spoken in that frame, zeros where none is; "
                "semser-tf's frame features compute it from words with times."
            )
    units = _zero_state(model)["h"].shape[1]
    step_file = {
        "savedmodel": "endpoint `step`",
        "onnx": "`step.onnx`",
        "tflite": "`step.tflite` (signature `step`, one frame per call)",
    }[fmt]
    lines += [
        "",
        f"Streaming ({step_file}): the same inputs for the frames of a chunk plus `h` and `c`, "
        f"1 x {units} each (zeros at the start); it returns the chunk's predictions, then the new "
        "`h` and `c` to pass with the next chunk (outputs in that order). Chunk by chunk it gives "
        "what one call over the whole recording gives (checked at export).",
    ]
    lines += [
        "",
        "## Output",
        "",
        f"- {shape} x {len(model.targets)}: {targets} in [-1, 1], one row per input frame "
        f"({rate} per second); frame k covers audio [k/{rate}, (k+1)/{rate}) s.",
        "",
        "## Frame rule",
        "",
        "The network's LSTM starts from a zero state at the first frame of each call; give a whole "
        "recording (or window) per call."
        if fmt != "tflite"
        else f"Each call is one window of {frames} frames from a zero LSTM state; for longer audio call "
        "it window by window (pad the last one with zeros and drop the padded rows).",
        "",
        "## Run it",
        "",
    ]
    names = ", ".join(n for n, _ in ins)
    if fmt == "savedmodel":
        lines += [
            "```python",
            "import tensorflow as tf",
            "m = tf.saved_model.load('THIS_FOLDER')",
            f"y = m.serve({names})",
            "```",
        ]
    elif fmt == "onnx":
        lines += [
            "```python",
            "import onnxruntime as ort",
            "s = ort.InferenceSession('THIS_FOLDER/model.onnx')",
            "y = s.run(None, {" + ", ".join(f"'{n}': {n}" for n, _ in ins) + "})[0]",
            "```",
        ]
    else:
        lines += [
            "```python",
            "from ai_edge_litert.interpreter import Interpreter  # or tf.lite.Interpreter",
            "it = Interpreter(model_path='THIS_FOLDER/model.tflite'); it.allocate_tensors()",
            "# set each input by its name (get_input_details), it.invoke(), read the output",
            "```",
        ]
    return "\n".join(lines) + "\n"


def export_model(
    model,
    out_dir,
    format: str = "savedmodel",
    *,
    window_frames: int | None = None,
    overwrite: bool = False,
    check_frames: int = 37,
) -> Path:
    """Export ``model`` into the folder ``out_dir`` and check it with its own runtime.

    Args:
        model: a :class:`~semser_tf.models.SemserModel`, a model from
            :func:`semser_tf.load_pretrained`, or a name/folder it resolves (offline).
        out_dir: the export folder (created; see the module doc for its files).
        format: ``savedmodel``, ``onnx`` or ``tflite``.
        window_frames: frames per call: ``tflite`` only, default
            :data:`DEFAULT_TFLITE_FRAMES`; SavedModel and ONNX take any length.
        overwrite: replace ``out_dir`` if an earlier export wrote it (never another folder).
        check_frames: frames of the random check input (SavedModel, ONNX).

    Returns:
        ``out_dir``.

    Raises:
        ExportError: an unknown format, a model that is not the package's, a variable or
            bad TFLite window, a missing converter or runtime (naming what to install), a
            conversion that fails, or an export whose outputs differ from Keras's by more
            than :data:`TOLERANCE`.
        ConfigError: ``out_dir`` exists and is not an export this package wrote.
    """
    from semser_tf.io import (
        OWNER_MARKER,
        atomic_write_json,
        check_replaceable,
        mark_owned,
        replace_dir,
    )
    from semser_tf.zoo.cache import sha256_file

    if format not in FORMATS:
        raise ExportError(f"format {format!r}: expected one of {', '.join(FORMATS)}")
    if format == "tflite":
        frames = DEFAULT_TFLITE_FRAMES if window_frames is None else window_frames
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
            raise ExportError(
                f"window_frames {window_frames!r}: a TFLite export needs a fixed window of at least one frame "
                f"(e.g. {DEFAULT_TFLITE_FRAMES} = 10 s): a variable-length TFLite model of this network "
                "converts but fails in the interpreter (XNNPACK cannot resize it)"
            )
    else:
        if window_frames is not None:
            raise ExportError(
                f"window_frames applies to the tflite format only; a {format} export takes "
                "any number of frames"
            )
        frames = None
    model, input_format = _semser_model(model)
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ConfigError(
            f"{out_dir}: exists; pass overwrite=True (--overwrite) to replace an earlier export"
        )
    check_replaceable(out_dir, "export", option="--overwrite")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".export"))
    try:
        folder = work / "out"
        folder.mkdir()
        t0 = time.time()
        x = _check_input(model, frames or check_frames)
        expected = _keras_out(model, x)
        k = (frames or check_frames) // 2
        if format == "savedmodel":
            _write_savedmodel(model, folder)
            got, streamed = _run_savedmodel(folder, x), _stream_savedmodel(folder, model, x, k)
        elif format == "onnx":
            got = _run_onnx(_write_onnx(model, folder), x)
            streamed = _stream_onnx(folder, model, x, k)
        else:
            got = _run_tflite(_write_tflite(model, folder, frames, work), x)
            streamed = _stream_tflite(folder, model, x)
        diff, step_diff = (
            float(np.max(np.abs(y - expected))) if y.shape == expected.shape else float("inf")
            for y in (got, streamed)
        )
        if not diff <= TOLERANCE:
            raise ExportError(
                f"the {format} export's outputs differ from Keras's by {diff:.3g} "
                f"(shape {got.shape} against {expected.shape}; at most {TOLERANCE} allowed)"
            )
        if not step_diff <= TOLERANCE:
            raise ExportError(
                f"the {format} export's stateful step, the state carried, differs from one "
                f"pass of Keras by {step_diff:.3g} (at most {TOLERANCE} allowed)"
            )
        (folder / "README.md").write_text(
            _readme(format, model, input_format, frames), encoding="utf-8"
        )
        files = {
            p.relative_to(folder).as_posix(): sha256_file(p)
            for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != OWNER_MARKER
        }
        atomic_write_json(
            folder / EXPORT_RECORD,
            {
                "format": format,
                "model": model.name,
                "variant": model.variant,
                "targets": list(model.targets),
                "inputs": {
                    name: [1 if frames else None, frames, width] for name, width in _inputs(model)
                },
                "output": [1 if frames else None, frames, len(model.targets)],
                "window_frames": frames,
                "weights_sha256": weights_sha256(model),
                "input_format": input_format.to_dict() if input_format is not None else None,
                "state": {"inputs": ["h", "c"], "size": _zero_state(model)["h"].shape[1]},
                "check": {
                    "frames": frames or check_frames,
                    "max_abs_diff": diff,
                    "step_max_abs_diff": step_diff,
                    "tolerance": TOLERANCE,
                },
                "seconds": round(time.time() - t0, 1),
                "files": files,
            },
        )
        mark_owned(folder, "export")
        replace_dir(folder, out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out_dir
