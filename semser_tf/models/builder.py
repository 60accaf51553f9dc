"""Build the paper's four model variants as Keras functional models."""

from __future__ import annotations

import contextlib

import keras
from keras import layers

from semser_tf.layers import ConcatFusion, ConvParalinguistic, CrossAttentionFusion, HierarchicalAVLFusion
from semser_tf.losses import CCCLoss
from semser_tf.metrics import ccc_metrics
from semser_tf.models.config import ModelConfig

WAVEFORM, SEMANTIC = "waveform", "semantic"
"""Input names: waveform (batch, frames, samples_per_frame), semantic (batch, frames, dim)."""


PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
"""Dtype policies a model can be built under (docs/benchmarks.md, "The fast setting")."""


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
    LSTM kept float32 by :func:`build_model`); the parameters and saved files are the
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


def with_precision(model: keras.Model, config: ModelConfig, precision: str) -> keras.Model:
    """The same model (same weights) rebuilt under another dtype policy.

    A saved model keeps the policy it was built with; this rebuilds it from ``config``
    under ``precision`` and copies the weights (for inference: the optimizer is not kept).

    Args:
        model: a model built by :func:`build_model` from ``config``.
        config: its config.
        precision: the policy to rebuild under.
    """
    precision = check_precision(precision)
    if model.dtype_policy.name == precision:
        return model
    with precision_policy(precision):
        rebuilt = build_model(config)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def model_inputs(config: ModelConfig):
    """The input names a variant takes."""
    return {
        "paralinguistic": (WAVEFORM,),
        "semantic": (SEMANTIC,),
        "concat": (WAVEFORM, SEMANTIC),
        "attention": (WAVEFORM, SEMANTIC),
    }[config.variant]


def input_names(model: keras.Model):
    """Names of a model's inputs (``waveform`` and/or ``semantic``), in order."""
    return [t.name for t in model.inputs]


def select_inputs(model: keras.Model, features: dict) -> dict:
    """The entries of ``features`` that ``model`` takes (the loader yields both inputs)."""
    return {name: features[name] for name in input_names(model)}


def build_model(config: ModelConfig | None = None, with_weights_output: bool = False) -> keras.Model:
    """The model of a variant: branch(es) -> fusion -> LSTM -> tanh Dense per frame.

    - ``paralinguistic``: ConvParalinguistic on the waveform.
    - ``semantic``: the per-frame semantic vectors.
    - ``concat``: ConcatFusion(fusion_units, stream_units) of both.
    - ``attention``: CrossAttentionFusion(fusion_units) of both, then
      HierarchicalAVLFusion(stream_units).

    then one ``LSTM(lstm_units)`` over frames and ``Dense(len(targets), tanh)``: one
    prediction per frame, (batch, frames, targets). Inputs are named ``waveform`` and
    ``semantic`` (only those the variant uses); the frame axis is of any length.

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
    keras.utils.set_random_seed(config.seed)
    names = model_inputs(config)
    inputs = {}
    if WAVEFORM in names:
        inputs[WAVEFORM] = keras.Input((None, config.samples_per_frame), name=WAVEFORM)
    if SEMANTIC in names:
        inputs[SEMANTIC] = keras.Input((None, config.semantic_dim), name=SEMANTIC)

    def paralinguistic():
        return ConvParalinguistic(
            filters=config.conv_filters,
            kernel_sizes=config.conv_kernel_sizes,
            pool_sizes=config.conv_pool_sizes,
            dropout=config.dropout,
            frame_pooling=config.frame_pooling,
            samples_per_frame=config.samples_per_frame,
            name="paralinguistic",
        )(inputs[WAVEFORM])

    weights = None
    if config.variant == "paralinguistic":
        x = paralinguistic()
    elif config.variant == "semantic":
        x = inputs[SEMANTIC]
    elif config.variant == "concat":
        x = ConcatFusion(config.fusion_units, config.stream_units, name="concat_fusion")(
            [paralinguistic(), inputs[SEMANTIC]]
        )
    else:
        x, weights = CrossAttentionFusion(
            config.fusion_units, return_weights=True, name="modality_attention"
        )([paralinguistic(), inputs[SEMANTIC]])
        x = HierarchicalAVLFusion(config.stream_units, name="avl_fusion")(x)
    # Under mixed precision (``keras.mixed_precision.set_global_policy("mixed_bfloat16")``,
    # the fast setting of docs/benchmarks.md) the recurrence stays float32: its cell state
    # accumulates over every frame of the window, and cuDNN's LSTM (the JAX backend's on a
    # GPU) takes float32 only. The weights are float32 under any policy.
    policy = keras.mixed_precision.global_policy()
    lstm_dtype = "float32" if policy.compute_dtype != policy.variable_dtype else None
    x = layers.LSTM(config.lstm_units, return_sequences=True, name="lstm", dtype=lstm_dtype)(x)
    out = layers.Dense(len(config.targets), activation="tanh", name="emotion")(x)
    outputs = out
    if with_weights_output:
        if weights is None:
            raise ValueError(f"with_weights_output needs the attention variant, not {config.variant!r}.")
        outputs = {"emotion": out, "modality_weights": weights}
    return keras.Model(inputs, outputs, name=f"semser_{config.variant}")


def compile_model(model: keras.Model, config: ModelConfig, jit_compile="auto") -> keras.Model:
    """Compile with Adam, the CCC loss and the streaming CCC metrics of the config."""
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm),
        loss=CCCLoss(target_weights=config.target_weights),
        weighted_metrics=ccc_metrics(config.targets),
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
    import zipfile
    from pathlib import Path

    from semser_tf.errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError("Keras model not found: expected a .keras file", path)
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as err:
        text = " ".join(str(err).split())
        if "safe_mode" in text or "arbitrary code" in text:
            reason = ("it holds Python code (a lambda) that Keras safe mode refuses to run; "
                      "only models built from the package's layers are loaded")
        else:
            reason = f"{type(err).__name__}: {text[:240]}"
        from semser_tf.errors import ConfigError

        raise ConfigError(f"{path}: cannot load the Keras model ({reason})") from None
