"""Export a model for use outside Python's Keras: TensorFlow SavedModel, ONNX and LiteRT (TFLite).

Each export is one folder, checked by its real runtime before it is kept:

* ``savedmodel``: ``keras.export.ExportArchive``; endpoints ``serve(waveform, semantic)``
  over any batch and any number of frames and ``step(waveform, semantic, h, c) ->
  (emotion, h, c)`` with the LSTM state in and out (loaded back with ``tf.saved_model.load``);
* ``onnx``: ``model.onnx`` and ``step.onnx`` through tf2onnx (opset 17), any batch and
  frame count (checked with onnxruntime);
* ``tflite``: ``model.tflite`` for a fixed window of ``window_frames`` frames and
  ``step.tflite``, one frame per call with the state (checked with the LiteRT/TFLite
  interpreter). A variable-length TFLite model of this network
  converts but fails in the interpreter (its XNNPACK delegate cannot resize the graph),
  so it is refused with a message instead of written. Every step export is checked to carry
the state: the recording in two calls (one frame per call for TFLite) equals one pass.

Beside the model: ``README.md`` (inputs, outputs, rates, the frame rule, how to run it) and
``export.json`` (format, shapes, the model's input format, the check's largest
difference from Keras, every file's SHA-256). The folder is assembled under a temporary
name and renamed; an existing folder is replaced only with ``overwrite=True`` and only if
an earlier export wrote it.

The semantic input is the per-frame word vectors (``semantic_dim`` wide, zeros where no
word is spoken) that the package's frame features compute from words and their times;
the export holds the network only.

Example:

>>> from semser_tf.export import export_model
>>> export_model("zoo/semser-synthetic-attention", "exports/att-onnx", "onnx")  # doctest: +SKIP
PosixPath('exports/att-onnx')
"""

from __future__ import annotations

from semser_tf.export.exporters import FORMATS, ExportError, export_model

__all__ = ["FORMATS", "ExportError", "export_model"]
