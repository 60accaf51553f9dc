"""The stateful step model: a :class:`SemserModel` with its LSTM state as input and output.

A :class:`~semser_tf.models.SemserModel` runs its LSTM from zero state over whatever frames
it is given. Everything before the LSTM (the convolutional front end, the fusion layers)
works on each 100 ms frame on its own, so a long recording can be predicted in pieces
(windows of a file, 100 ms chunks of a live stream) with the LSTM state carried from one
piece to the next, and the result equals one pass of the model over the whole recording
(up to float rounding): no seams at the pieces' boundaries, and memory flat in the length.

:func:`stateful_step_model` builds that model from a trained one; its layers *are* the
trained model's (the same variables, nothing copied), so it follows later training or
``load_weights`` of the original. It runs on every Keras backend (TensorFlow, JAX).
:class:`StatefulRunner` carries the state between calls; ``Predictor.predict``,
``Predictor.stream`` (:mod:`semser_tf.inference`) and ``evaluate``
(:func:`semser_tf.training.evaluate.predict_partition`) all predict through it, so they
share one rule.

Example:

>>> import numpy as np
>>> from semser_tf.models import ModelConfig, build_model
>>> m = build_model(ModelConfig(variant="semantic", lstm_units=4, semantic_dim=3))
>>> step = stateful_step_model(m)
>>> sorted(step.output.keys()) if isinstance(step.output, dict) else None
['c', 'emotion', 'h']
"""

from __future__ import annotations

import numpy as np

__all__ = ["STATE_INPUTS", "stateful_step_model", "StatefulRunner", "state_size"]

STATE_INPUTS = ("h", "c")
"""Names of the state inputs and outputs: the LSTM's hidden and cell state, (batch, lstm_units)."""


def _lstm_layer(model):
    import keras

    try:
        layer = model.get_layer("lstm")
    except ValueError:
        layer = None
    if not isinstance(layer, keras.layers.LSTM):
        raise ValueError(
            f"model {model.name!r}: a stateful step model needs the package's single LSTM layer "
            "named 'lstm' (a SemserModel or a functional model of its variants)"
        )
    return layer


def state_size(model) -> int:
    """Units of the model's LSTM (the size of ``h`` and ``c``)."""
    return int(_lstm_layer(model).units)


def stateful_step_model(model, with_weights: bool = True):
    """A Keras model that predicts frames from an LSTM state and returns the new state.

    Inputs: the model's own (``waveform`` (batch, frames, samples_per_frame) and/or
    ``semantic`` (batch, frames, dim); any number of frames, one frame for a live step)
    plus ``h`` and ``c``, (batch, lstm_units) float32: the LSTM state before the first
    frame (zeros at the start of a recording). Outputs, a dict: ``emotion`` (batch, frames,
    targets), ``h`` and ``c`` (the state after the last frame), and for an attention model
    (with ``with_weights``) ``modality_weights`` (batch, frames, 2) [paralinguistic,
    semantic] of its first fusion.

    The front end (all layers up to the LSTM's input) and the head are the trained
    model's layers, shared; the LSTM's cell is shared too, wrapped in a
    ``keras.layers.RNN`` that returns its state. So ``step({..., h: 0, c: 0})["emotion"]``
    equals ``model(...)`` and splitting the frames into pieces with the state carried
    changes nothing beyond float rounding.

    Args:
        model: a :class:`~semser_tf.models.SemserModel` (or a functional model with the
            package's layer names: ``lstm``, ``emotion``, ``modality_attention``).
        with_weights: output the modality weights of an attention model.

    Returns:
        A functional ``keras.Model`` named ``<model.name>_step``.
    """
    import keras

    lstm = _lstm_layer(model)
    head = model.get_layer("emotion")
    inputs = {
        t.name: keras.Input(tuple(t.shape[1:]), name=t.name, dtype=t.dtype) for t in model.inputs
    }
    feeds = {name: inputs[name] for name in inputs}
    front_outputs = [lstm.input]
    weights_tensor = None
    if with_weights:
        try:
            weights_tensor = model.get_layer("modality_attention").output[1]
        except (ValueError, IndexError, TypeError, AttributeError):
            weights_tensor = None
    if weights_tensor is not None:
        front_outputs.append(weights_tensor)
    model_input = model.input
    front = keras.Model(model_input, front_outputs, name=f"{model.name}_front")
    arg = (
        {k: feeds[k] for k in model_input}
        if isinstance(model_input, dict)
        else [feeds[t.name] for t in model.inputs]
    )
    parts = front(arg)
    parts = list(parts) if isinstance(parts, (list, tuple)) else [parts]
    units = int(lstm.units)
    h0 = keras.Input((units,), name="h", dtype="float32")
    c0 = keras.Input((units,), name="c", dtype="float32")
    rnn = keras.layers.RNN(
        lstm.cell,
        return_sequences=True,
        return_state=True,
        name="lstm_step",
        dtype=lstm.dtype_policy,
    )
    seq, h1, c1 = rnn(parts[0], initial_state=[h0, c0])
    out = {"emotion": head(seq), "h": h1, "c": c1}
    if len(parts) > 1:
        out["modality_weights"] = parts[1]
    return keras.Model({**inputs, "h": h0, "c": c0}, out, name=f"{model.name}_step")


class StatefulRunner:
    """Predicts consecutive pieces of recordings through a :func:`stateful_step_model`,
    carrying the LSTM state from one piece to the next.

    One state row per stream: ``batch`` streams are predicted side by side (the pieces
    of one call must have the same number of frames). ``reset()`` (or ``reset(rows)``)
    starts a stream again from zero state.

    Args:
        model: the trained :class:`~semser_tf.models.SemserModel`.
        batch: streams predicted side by side.
        with_weights: also return the modality weights of an attention model.

    Example:

    >>> import numpy as np
    >>> from semser_tf.models import ModelConfig, build_model
    >>> m = build_model(ModelConfig(variant="semantic", lstm_units=4, semantic_dim=3))
    >>> run = StatefulRunner(m)
    >>> out = run.step({"semantic": np.ones((1, 5, 3), "float32")})
    >>> out["emotion"].shape
    (1, 5, 3)
    """

    def __init__(self, model, batch: int = 1, with_weights: bool = True, step_model=None):
        self.model = model
        self.step_model = step_model or stateful_step_model(model, with_weights=with_weights)
        self.units = state_size(model)
        self.batch = int(batch)
        self.input_names = [t.name for t in model.inputs]
        self.has_weights = "modality_weights" in self.step_model.output
        self.reset()

    def reset(self, rows=None):
        """Zero state for all streams (or for the rows ``rows``)."""
        if rows is None:
            self.h = np.zeros((self.batch, self.units), np.float32)
            self.c = np.zeros((self.batch, self.units), np.float32)
        else:
            self.h[rows] = 0.0
            self.c[rows] = 0.0

    @property
    def state(self):
        """The current ``(h, c)``, copies, (batch, lstm_units) each."""
        return self.h.copy(), self.c.copy()

    @state.setter
    def state(self, hc):
        self.h = np.array(hc[0], np.float32).reshape(self.batch, self.units)
        self.c = np.array(hc[1], np.float32).reshape(self.batch, self.units)

    def step(self, x: dict) -> dict:
        """Predict the next frames of every stream: ``x`` maps input names to
        (batch, frames, ...) arrays; returns NumPy ``emotion`` (and ``modality_weights``)
        and keeps the new state."""
        missing = [n for n in self.input_names if n not in x]
        if missing:
            raise ValueError(f"StatefulRunner.step: missing input(s) {', '.join(missing)}")
        feed = {n: np.asarray(x[n], np.float32) for n in self.input_names}
        feed["h"], feed["c"] = self.h, self.c
        out = self.step_model.predict_on_batch(feed)
        self.h, self.c = np.asarray(out["h"], np.float32), np.asarray(out["c"], np.float32)
        result = {"emotion": np.asarray(out["emotion"], np.float32)}
        if "modality_weights" in out:
            result["modality_weights"] = np.asarray(out["modality_weights"], np.float32)
        return result
