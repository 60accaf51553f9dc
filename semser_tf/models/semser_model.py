"""``SemserModel``: the paper's four variants as one registered Keras model class.

Written in keras-hub's functional-subclass style (``keras_hub.models.Backbone``): the graph
is built in ``__init__`` and handed to ``keras.Model.__init__(inputs=..., outputs=...)``;
``get_config()`` returns the constructor's arguments, which are the **architecture only**
(no batch size, learning rate or seed: those are a run's :class:`TrainingConfig`), so
``SemserModel.from_config(model.get_config())`` rebuilds the same network and a ``.keras``
file of it loads in any process under ``safe_mode=True`` once the package is imported.
``from_preset`` / ``save_to_preset`` read and write a verified preset folder
(:mod:`semser_tf.models.preset`).
"""

from __future__ import annotations

import keras
from keras import layers

from semser_tf.constants import DEFAULT_TARGETS, SAMPLES_PER_FRAME
from semser_tf.layers import (
    LSTM,
    ConcatFusion,
    ConvParalinguistic,
    CrossAttentionFusion,
    HierarchicalAVLFusion,
)
from semser_tf.models.config import check_architecture

WAVEFORM, SEMANTIC = "waveform", "semantic"
"""Input names: waveform (batch, frames, samples_per_frame), semantic (batch, frames, dim)."""

VARIANT_INPUTS = {
    "paralinguistic": (WAVEFORM,),
    "semantic": (SEMANTIC,),
    "concat": (WAVEFORM, SEMANTIC),
    "attention": (WAVEFORM, SEMANTIC),
}
"""The inputs each variant takes."""


def _policy(dtype):
    if dtype is None:
        return keras.mixed_precision.global_policy()
    return keras.dtype_policies.get(dtype)


def _field(name):
    return property(
        lambda self: dict(self._architecture)[name],
        doc=f"The architecture's ``{name}`` (read-only: build a new model to change it).",
    )


@keras.saving.register_keras_serializable(package="semser_tf")
class SemserModel(keras.Model):
    """Branch(es) -> fusion -> LSTM -> tanh Dense per frame (Tzirakis et al., ICASSP 2021).

    - ``paralinguistic``: ConvParalinguistic on the waveform.
    - ``semantic``: the per-frame semantic vectors.
    - ``concat``: ConcatFusion(fusion_units, stream_units) of both.
    - ``attention``: CrossAttentionFusion(fusion_units, attention_scoring,
      attention_evidence) of both (the semantic input second), then
      HierarchicalAVLFusion(stream_units).

    then one ``LSTM(lstm_units)`` over frames and ``Dense(len(targets), tanh)``: one
    prediction per frame, (batch, frames, targets). Inputs are named ``waveform`` and
    ``semantic`` (only those the variant uses); the frame axis is of any length. Under a
    mixed policy (``dtype="mixed_bfloat16"`` or the global policy) the LSTM and the head
    stay float32: the cell state accumulates over every frame, and the loss sees float32
    predictions. Layer names (``paralinguistic``, ``concat_fusion``,
    ``modality_attention``, ``avl_fusion``, ``lstm``, ``emotion``) are those of
    :func:`~semser_tf.models.build_model`'s earlier functional models, so their weights map.

    Its config is the architecture only; seeds are the caller's
    (``keras.utils.set_random_seed`` once per run, before building).

    Args:
        variant: ``paralinguistic``, ``semantic``, ``concat`` or ``attention``.
        targets: names of the predicted dimensions, in output order.
        samples_per_frame: waveform samples per frame (2205; 4410 with speaker slots).
        semantic_dim: size of the per-frame semantic vectors.
        conv_filters: filters of each convolution of the paralinguistic stack.
        conv_kernel_sizes: kernel size of each convolution.
        conv_pool_sizes: max-pooling size after each convolution.
        frame_pooling: ``flatten``, ``mean`` or ``max`` (see ConvParalinguistic).
        dropout: dropout rate of the paralinguistic stack.
        fusion_units: projection size of the fusion layers (1024 in the paper).
        stream_units: size of the fused streams (512 in the paper).
        lstm_units: LSTM size (256 in the paper).
        attention_scoring: attention only: the modality fusion's ``scoring`` (see
            :class:`CrossAttentionFusion`; ``official`` is the official code's).
        attention_evidence: attention only: the modality fusion's ``evidence`` (``none`` is
            the official code's).
        with_weights_output: attention only: also output the first fusion's modality
            weights, ``{"emotion": ..., "modality_weights": (batch, frames, 2)}``.
        dtype: a dtype policy (name or ``keras.DTypePolicy``); default the global one.

    Example:

    >>> m = SemserModel(variant="semantic", lstm_units=8, semantic_dim=10)
    >>> m.output_shape
    (None, None, 3)
    """

    def __init__(
        self,
        variant="attention",
        targets=DEFAULT_TARGETS,
        samples_per_frame=SAMPLES_PER_FRAME,
        semantic_dim=100,
        conv_filters=(50, 125, 250),
        conv_kernel_sizes=(8, 6, 6),
        conv_pool_sizes=(10, 5, 5),
        frame_pooling="flatten",
        dropout=0.5,
        fusion_units=1024,
        stream_units=512,
        lstm_units=256,
        attention_scoring="official",
        attention_evidence="none",
        with_weights_output=False,
        dtype=None,
        **kwargs,
    ):
        arch = check_architecture(
            dict(
                variant=variant,
                targets=targets,
                samples_per_frame=samples_per_frame,
                semantic_dim=semantic_dim,
                conv_filters=conv_filters,
                conv_kernel_sizes=conv_kernel_sizes,
                conv_pool_sizes=conv_pool_sizes,
                frame_pooling=frame_pooling,
                dropout=dropout,
                fusion_units=fusion_units,
                stream_units=stream_units,
                lstm_units=lstm_units,
                attention_scoring=attention_scoring,
                attention_evidence=attention_evidence,
            )
        )
        if with_weights_output and arch["variant"] != "attention":
            raise ValueError(
                f"with_weights_output needs the attention variant, not {arch['variant']!r}."
            )
        policy = _policy(dtype)
        mixed = policy.compute_dtype != policy.variable_dtype
        # === Inputs ===
        names = VARIANT_INPUTS[arch["variant"]]
        inputs = {}
        if WAVEFORM in names:
            inputs[WAVEFORM] = keras.Input((None, arch["samples_per_frame"]), name=WAVEFORM)
        if SEMANTIC in names:
            inputs[SEMANTIC] = keras.Input((None, arch["semantic_dim"]), name=SEMANTIC)

        def paralinguistic():
            return ConvParalinguistic(
                filters=arch["conv_filters"],
                kernel_sizes=arch["conv_kernel_sizes"],
                pool_sizes=arch["conv_pool_sizes"],
                dropout=arch["dropout"],
                frame_pooling=arch["frame_pooling"],
                samples_per_frame=arch["samples_per_frame"],
                name="paralinguistic",
                dtype=policy,
            )(inputs[WAVEFORM])

        # === Functional model ===
        weights = None
        if arch["variant"] == "paralinguistic":
            x = paralinguistic()
        elif arch["variant"] == "semantic":
            x = inputs[SEMANTIC]
        elif arch["variant"] == "concat":
            x = ConcatFusion(
                arch["fusion_units"], arch["stream_units"], name="concat_fusion", dtype=policy
            )([paralinguistic(), inputs[SEMANTIC]])
        else:
            x, weights = CrossAttentionFusion(
                arch["fusion_units"],
                return_weights=True,
                name="modality_attention",
                scoring=arch["attention_scoring"],
                evidence=arch["attention_evidence"],
                dtype=policy,
            )([paralinguistic(), inputs[SEMANTIC]])
            x = HierarchicalAVLFusion(arch["stream_units"], name="avl_fusion", dtype=policy)(x)
        # float32 under a mixed policy: the recurrence's state accumulates over every frame
        # (and cuDNN's LSTM takes float32 only); the head gives the loss float32 predictions
        head_dtype = "float32" if mixed else policy
        x = LSTM(arch["lstm_units"], return_sequences=True, name="lstm", dtype=head_dtype)(x)
        out = layers.Dense(
            len(arch["targets"]), activation="tanh", name="emotion", dtype=head_dtype
        )(x)
        outputs = {"emotion": out, "modality_weights": weights} if with_weights_output else out
        kwargs.setdefault("name", f"semser_{arch['variant']}")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # === Config === (plain values: nothing Keras tracks)
        self._architecture = tuple(arch.items())
        self._with_weights_output = bool(with_weights_output)
        if dtype is not None:
            self.dtype_policy = policy

    # -- the architecture --------------------------------------------------------------
    @property
    def architecture(self) -> dict:
        """The architecture arguments (``ARCHITECTURE_FIELDS``), JSON-ready."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self._architecture}

    def get_config(self):
        # not chained to Functional.get_config (a nested layer graph): the constructor's
        # arguments, as keras_hub.models.Backbone.get_config does
        config = {"name": self.name, "trainable": self.trainable, **self.architecture}
        if self._with_weights_output:
            config["with_weights_output"] = True
        config["dtype"] = keras.dtype_policies.serialize(self.dtype_policy)
        return config

    variant = _field("variant")
    targets = _field("targets")
    samples_per_frame = _field("samples_per_frame")
    semantic_dim = _field("semantic_dim")

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)

    # -- presets ------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, preset, load_weights: bool = True, **kwargs) -> SemserModel:
        """A model from a preset: a registry name (see ``semser_tf.zoo.list_pretrained``)
        or a local preset folder, verified file by file before anything is read.

        Args:
            preset: a zoo name (its files fetched and verified as ``load_pretrained``
                does) or the path of a folder written by :meth:`save_to_preset`.
            load_weights: load the preset's weights (else a freshly initialised model
                of the same architecture).
            **kwargs: overrides of the config (``dtype="mixed_bfloat16"``, ``name``...).

        Example:

        >>> model = SemserModel.from_preset("semser-synthetic-attention")  # doctest: +SKIP
        """
        return (
            _preset_module().load_preset(preset, load_weights=load_weights, cls=cls, **kwargs).model
        )

    def save_to_preset(
        self,
        preset_dir,
        *,
        input_format=None,
        embeddings=None,
        extra_files=None,
        overwrite: bool = False,
    ):
        """Write this model as a preset folder (atomically; see :mod:`semser_tf.models.preset`).

        Args:
            preset_dir: the folder to create (``overwrite`` replaces only a preset folder
                this package wrote).
            input_format: the :class:`~semser_tf.models.preset.InputFormat` the model expects
                (default: derived from the model, no semantic features recorded).
            embeddings: the aligned-embeddings folder the semantic input comes from.
            extra_files: ``{name: path}`` of JSON files to carry (e.g. ``report.json``).
        """
        return _preset_module().save_preset(
            self,
            preset_dir,
            input_format=input_format,
            embeddings=embeddings,
            extra_files=extra_files,
            overwrite=overwrite,
        )


def _preset_module():
    """:mod:`semser_tf.models.preset`, bound late: the preset format builds and checks
    SemserModels, so it sits above this module (docs/architecture.md); these two methods are
    the Keras-Hub-style shortcuts to it."""
    import importlib

    return importlib.import_module("semser_tf.models.preset")
