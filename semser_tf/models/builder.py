"""Build, compile, load and re-type the paper's four model variants (:class:`SemserModel`)."""

from __future__ import annotations

import contextlib

import keras

from semser_tf.losses import CCCLoss
from semser_tf.metrics import ccc_metrics
from semser_tf.models.config import ModelConfig
from semser_tf.models.semser_model import SEMANTIC, VARIANT_INPUTS, WAVEFORM, SemserModel  # noqa: F401

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
"""Dtype policies a model can be built under (docs/measurements/benchmarks.md, "The fast setting")."""


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else a ``ConfigError``."""
    from semser_tf.errors import ConfigError

    if precision not in PRECISIONS:
        raise ConfigError(f"precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}.")
    return precision


@contextlib.contextmanager
def precision_policy(precision: str = "float32"):
    """Build models under a Keras dtype policy, restoring the previous global one after.

    ``mixed_bfloat16`` is the project's fast setting (bf16 compute, float32 weights, the
    LSTM and the head kept float32 by :class:`SemserModel`); the parameters and saved files are the
    same as in float32.

    Args:
        precision: ``float32``, ``mixed_bfloat16`` or ``mixed_float16``.

    Example:

    >>> with precision_policy("mixed_bfloat16"):          # doctest: +SKIP
    ...     model = build_model(ModelConfig())
    """
    precision = check_precision(precision)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def with_precision(model: keras.Model, config: ModelConfig | None, precision: str) -> SemserModel:
    """The same model (same weights) rebuilt under another dtype policy.

    A saved model keeps the policy it was built with; this rebuilds it under ``precision``
    from its own config (a :class:`SemserModel`) or from ``config`` and copies the weights
    (for inference: the optimizer is not kept).

    Args:
        model: a :class:`SemserModel`, or a functional model built from ``config``.
        config: its config (``None`` for a SemserModel).
        precision: the policy to rebuild under.
    """
    precision = check_precision(precision)
    if model.dtype_policy.name == precision:
        return model
    model = as_semser_model(model, config)
    rebuilt = SemserModel.from_config({**model.get_config(), "dtype": precision})
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def model_inputs(config: ModelConfig):
    """The input names a variant takes."""
    return VARIANT_INPUTS[config.variant]


def input_names(model: keras.Model):
    """Names of a model's inputs (``waveform`` and/or ``semantic``), in order."""
    return [t.name for t in model.inputs]


def select_inputs(model: keras.Model, features: dict) -> dict:
    """The entries of ``features`` that ``model`` takes (the loader yields both inputs)."""
    return {name: features[name] for name in input_names(model)}


def build_model(
    config: ModelConfig | None = None, with_weights_output: bool = False
) -> SemserModel:
    """The :class:`SemserModel` of ``config``'s architecture (:meth:`ModelConfig.architecture`).

    ``SemserModel(**config.architecture())``: branch(es) -> fusion -> LSTM -> tanh Dense
    per frame, (batch, frames, targets). The training fields of ``config`` are not used
    here (see :func:`compile_model`). No seed is set: weight initialisation follows
    Keras's global seed, which the caller sets once per run
    (``keras.utils.set_random_seed(config.seed)`` before building, as ``train`` does).

    Args:
        config: a :class:`ModelConfig` (the paper's attention model by default).
        with_weights_output: for the attention variant, also output the modality weights
            of the first fusion, (batch, frames, 2) [paralinguistic, semantic], to inspect
            which modality the model listened to.

    Example:

    >>> m = build_model(ModelConfig(variant="semantic", lstm_units=8))
    >>> m.output_shape
    (None, None, 3)
    """
    config = config or ModelConfig()
    if not isinstance(config, ModelConfig):
        raise TypeError(f"build_model: expected a ModelConfig, got {type(config).__name__}.")
    return SemserModel(**config.architecture(), with_weights_output=with_weights_output)


def as_semser_model(model: keras.Model, config: ModelConfig | None = None) -> SemserModel:
    """``model`` as a :class:`SemserModel`: itself, or (a functional model saved by an earlier
    version of the package) a SemserModel of ``config``'s architecture with its weights
    copied layer by layer, by name.

    Raises:
        ConfigError: a layer of the architecture is missing from ``model`` or its weights
            have other shapes (naming the layer).
    """
    from semser_tf.errors import ConfigError

    if isinstance(model, SemserModel):
        return model
    if config is None:
        raise ConfigError(
            f"model {model.name!r} is not a SemserModel; its ModelConfig is needed to convert it"
        )
    with precision_policy(
        model.dtype_policy.name if model.dtype_policy.name in PRECISIONS else "float32"
    ):
        new = build_model(config)
    for layer in new.layers:
        if not layer.weights:
            continue
        try:
            old = model.get_layer(layer.name)
        except ValueError:
            raise ConfigError(
                f"model {model.name!r} has no layer {layer.name!r}; expected the "
                f"{config.variant} architecture of its config"
            ) from None
        values = old.get_weights()
        if [v.shape for v in values] != [tuple(w.shape) for w in layer.weights]:
            raise ConfigError(
                f"model {model.name!r}: layer {layer.name!r} has weights of shapes "
                f"{[v.shape for v in values]}, the config's architecture "
                f"{[tuple(w.shape) for w in layer.weights]}"
            )
        layer.set_weights(values)
    return new


def compile_model(model: keras.Model, config, jit_compile="auto") -> keras.Model:
    """Compile with Adam, the CCC loss and the streaming CCC metrics of the model's targets.

    ``config``: a :class:`ModelConfig` or a :class:`~semser_tf.models.config.TrainingConfig`
    (its ``learning_rate``, ``clipnorm`` and ``target_weights`` are used)."""
    targets = getattr(model, "targets", None) or config.targets
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm),
        loss=CCCLoss(target_weights=config.target_weights),
        weighted_metrics=ccc_metrics(targets),
        jit_compile=jit_compile,
    )
    return model


def load_model(path):
    """``keras.saving.load_model(path, safe_mode=True)`` with a one-line error.

    Importing this module registers the package's layers, loss and metric with Keras, so
    this loads a model saved by the package in any process.

    Raises:
        DataError: the file is missing.
        ConfigError: Keras refuses the file (code in it that safe mode does not run, not a
            ``.keras`` archive, layers of another version), naming the file and the reason.
    """
    import warnings
    import zipfile
    from pathlib import Path

    from semser_tf.errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError("Keras model not found: expected a .keras file", path)
    try:
        with warnings.catch_warnings():
            # a fused model saved with its warm-started branch frozen holds the optimizer
            # state of the other layers only; the reloaded model's optimizer (rebuilt over
            # every layer) is not the training's anyway: nothing is lost
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            return keras.saving.load_model(path, safe_mode=True)
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as err:
        text = " ".join(str(err).split())
        if "safe_mode" in text or "arbitrary code" in text:
            reason = (
                "it holds Python code (a lambda) that Keras safe mode refuses to run; "
                "only models built from the package's layers are loaded"
            )
        else:
            reason = f"{type(err).__name__}: {text[:240]}"
        from semser_tf.errors import ConfigError

        raise ConfigError(f"{path}: cannot load the Keras model ({reason})") from None
