"""The paralinguistic branch: a 1-D convolutional stack over the raw waveform."""

from __future__ import annotations

import keras
from keras import layers, ops

from semser_tf.layers._checks import check_positive_int_tuple, check_rate
from semser_tf.layers._waveform_pool import conv_pool_one_channel

_XLA_BACKEND = keras.backend.backend() == "jax"

_IM2COL_MAX_DEPTH = {"float32": 64, "bfloat16": 64} if _XLA_BACKEND else {}
"""Per compute dtype: convolutions whose patch depth (kernel size x input channels) is at
most this run as a matmul of shifted copies (im2col); deeper ones, and every convolution
in a dtype not listed, call the backend's convolution. Under JAX (always XLA) the
waveform convolution (depth 8) is a matmul when ``_FUSED_WAVEFORM_POOL`` is off; TensorFlow (oneDNN, no XLA on a CPU) keeps
its convolution, faster there. Chosen from the measurements in docs/measurements/benchmarks.md; the
values never change the result (tests/perf)."""

_POOL_BY_RESHAPE = _XLA_BACKEND
"""Max pooling as a reshape + max over the window axis (XLA fuses it; its gradient is a
select, where ``reduce_window``'s is a slow select-and-scatter on CPU) or, when False,
the backend's max-pooling op (oneDNN's pooling on TensorFlow: 3.5x faster there)."""

_FUSED_WAVEFORM_POOL = _XLA_BACKEND
"""The one-channel (waveform) convolution and its max pooling computed together,
element-wise, from a polyphase view of the waveform (``_waveform_pool``): the
convolution's full output is never written. Under JAX (XLA fuses the element-wise loop);
TensorFlow keeps its convolution and pooling ops, which run without XLA on a CPU. Same
values; a tie's gradient goes to the first maximum, as ``MaxPooling1D``'s (tests/perf)."""

_CHANNEL_MULTIPLE = 8 if _XLA_BACKEND else 1
"""Channels between the stages are carried rounded up to a multiple of this (50 -> 56,
125 -> 128, 250 -> 256) by padding the kernels and biases with zeros at call time.
cuDNN's tensor-core convolutions want channel counts that are multiples of 8 and
otherwise copy every activation into a padded buffer first (``nhwcAddPaddingKernel``:
3.7 ms of a 23 ms bf16 training step on an H100, docs/measurements/benchmarks.md). The extra
channels are exactly zero (zero kernel, zero bias, ReLU, dropout of zero) and meet zero
kernel rows in the next stage, so outputs and gradients of the real weights are
unchanged; the parameters keep their shapes. Off (1) on TensorFlow, where oneDNN pads
internally."""


@keras.saving.register_keras_serializable(package="semser_tf")
class ConvParalinguistic(layers.Layer):
    """Raw waveform frames to one paralinguistic feature vector per label frame.

    The official stack (Tzirakis et al. 2021): Conv1D(50, 8) -> MaxPool(10) -> Dropout ->
    Conv1D(125, 6) -> MaxPool(5) -> Dropout -> Conv1D(250, 6) -> MaxPool(5) -> Dropout, all
    convolutions ``same`` padded with ReLU.

    Frame rule (one vector per label frame, exactly): every 100 ms label frame is
    convolved on its own samples only, with zero ``same`` padding at the frame's edges,
    and each max pooling keeps the whole windows that fit (``valid``, floor). With 2205
    samples per frame and pools 10, 5, 5 that leaves ``2205 // 10 // 5 // 5 = 8`` pooled
    steps per frame; ``frame_pooling="flatten"`` (default) concatenates them into an
    ``8 * 250 = 2000`` feature vector, the size the official code feeds the fusion.
    ``"mean"`` and ``"max"`` pool them over time to 250 features instead.

    The official code convolves the whole 30 s window as one stream, crops the pooled
    sequence to ``8 * frames`` steps and reshapes it: since 2205 is not a multiple of 250,
    its frame ``t`` then sees samples ``2000 t .. 2000 t + 2000``, drifting 205 samples
    per frame (2.8 s after 300 frames) away from the labels. Convolving per frame keeps
    every feature vector on its own frame's samples; the price is that the first and
    last ``kernel_size // 2`` samples of a frame see zeros instead of their neighbours.

    Args:
        filters: output channels of each convolution.
        kernel_sizes: kernel size of each convolution (same length as ``filters``).
        pool_sizes: max-pooling size after each convolution.
        dropout: dropout rate after each pooling (0 disables it).
        frame_pooling: ``"flatten"``, ``"mean"`` or ``"max"``: how the pooled steps of one
            frame become its feature vector.
        samples_per_frame: expected samples per frame (2205 at 22050 Hz and 10 Hz labels;
            4410 with the speaker-slot layout). ``None`` accepts any length fixed at build.
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

    Example:

    >>> import numpy as np
    >>> layer = ConvParalinguistic()
    >>> layer(np.zeros((2, 3, 2205), "float32")).shape
    (2, 3, 2000)
    """

    def __init__(
        self,
        filters=(50, 125, 250),
        kernel_sizes=(8, 6, 6),
        pool_sizes=(10, 5, 5),
        dropout=0.5,
        frame_pooling="flatten",
        samples_per_frame=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int_tuple("filters", filters)
        self.kernel_sizes = check_positive_int_tuple("kernel_sizes", kernel_sizes)
        self.pool_sizes = check_positive_int_tuple("pool_sizes", pool_sizes)
        if not (len(self.filters) == len(self.kernel_sizes) == len(self.pool_sizes)):
            raise ValueError(
                "ConvParalinguistic: filters, kernel_sizes and pool_sizes must have the same "
                f"length, got {len(self.filters)}, {len(self.kernel_sizes)}, "
                f"{len(self.pool_sizes)}."
            )
        self.dropout = check_rate("dropout", dropout)
        if frame_pooling not in ("flatten", "mean", "max"):
            raise ValueError(
                "ConvParalinguistic: frame_pooling must be 'flatten', 'mean' or 'max', "
                f"got {frame_pooling!r}."
            )
        self.frame_pooling = frame_pooling
        if samples_per_frame is not None:
            samples_per_frame = check_positive_int_tuple("samples_per_frame", (samples_per_frame,))[
                0
            ]
        self.samples_per_frame = samples_per_frame
        self.convs = [
            layers.Conv1D(
                f, k, padding="same", activation="relu", name=f"conv{i}", dtype=self.dtype_policy
            )
            for i, (f, k) in enumerate(zip(self.filters, self.kernel_sizes))
        ]
        self.pools = [
            layers.MaxPooling1D(p, name=f"pool{i}", dtype=self.dtype_policy)
            for i, p in enumerate(self.pool_sizes)
        ]
        self.dropouts = [
            layers.Dropout(self.dropout, name=f"dropout{i}") for i in range(len(self.filters))
        ]

    def steps_per_frame(self, samples_per_frame: int) -> int:
        """Pooled time steps left per frame of ``samples_per_frame`` samples."""
        steps = samples_per_frame
        for p in self.pool_sizes:
            steps //= p
        return steps

    def _check_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"ConvParalinguistic ({self.name}): expected a waveform of rank 3 "
                f"(batch, frames, samples_per_frame), got shape {tuple(input_shape)}."
            )
        spf = input_shape[-1]
        if spf is None:
            raise ValueError(
                f"ConvParalinguistic ({self.name}): the last axis (samples_per_frame) must be "
                f"known, got shape {tuple(input_shape)}."
            )
        if self.samples_per_frame is not None and spf != self.samples_per_frame:
            raise ValueError(
                f"ConvParalinguistic ({self.name}): waveform frames of {spf} samples, but the "
                f"layer is configured for samples_per_frame={self.samples_per_frame} "
                "(2205 = 100 ms at 22050 Hz; 4410 with speaker slots)."
            )
        if self.steps_per_frame(spf) < 1:
            raise ValueError(
                f"ConvParalinguistic ({self.name}): frames of {spf} samples are shorter than "
                f"the total pooling {self.pool_sizes}."
            )
        return spf

    def build(self, input_shape):
        spf = self._check_shape(input_shape)
        length, channels = spf, 1
        for conv, pool in zip(self.convs, self.pools):
            conv.build((None, length, channels))
            channels = conv.filters
            length //= pool.pool_size[0]
        self.built = True

    def _plan(self, samples_per_frame):
        """Per convolution: (input steps taken, left pad, right pad, conv outputs, pooled steps).

        Only the convolution outputs that some kept pooling window reads are computed
        (the ``valid`` pooling drops the rest: 5 of 2205 after the first convolution, 4 of 44
        after the last), and only the input steps those outputs read are kept, so the
        values are exactly those of the full ``same`` convolution.
        """
        lengths = [samples_per_frame]
        for p in self.pool_sizes[:-1]:
            lengths.append(lengths[-1] // p)
        plan = []
        pooled = self.steps_per_frame(samples_per_frame)  # pooled steps the next stage reads
        for k, p, length in reversed(list(zip(self.kernel_sizes, self.pool_sizes, lengths))):
            outputs = pooled * p
            left, right = (k - 1) // 2, k // 2  # TensorFlow / XLA "same" padding
            take = min(length, outputs + right)
            plan.append((take, left, outputs + right - take, outputs, pooled))
            pooled = take
        return plan[::-1]

    @staticmethod
    def _padded(n: int) -> int:
        return -(-n // _CHANNEL_MULTIPLE) * _CHANNEL_MULTIPLE

    def _kernel(self, conv, x):
        """``conv``'s kernel in ``x``'s dtype, with zero rows for ``x``'s extra channels and
        zero columns up to ``_padded(filters)`` outputs (see ``_CHANNEL_MULTIPLE``)."""
        kernel = ops.cast(conv.kernel, x.dtype)
        extra_in = x.shape[-1] - kernel.shape[1]
        extra_out = self._padded(conv.filters) - conv.filters
        if extra_in or extra_out:
            kernel = ops.pad(kernel, ((0, 0), (0, extra_in), (0, extra_out)))
        return kernel

    def _conv(self, x, conv, outputs):
        """``valid`` convolution without bias or activation, (n, steps, c) -> (n, outputs, f)."""
        kernel = self._kernel(conv, x)
        k, channels = conv.kernel_size[0], x.shape[-1]
        if channels * k <= _IM2COL_MAX_DEPTH.get(keras.backend.standardize_dtype(x.dtype), 0):
            # Few input channels (the raw waveform): a convolution library call spends its
            # time on layout; a matmul of the k shifted copies is one dense contraction.
            patches = ops.concatenate([x[:, j : j + outputs, :] for j in range(k)], axis=-1)
            return ops.matmul(patches, ops.reshape(kernel, (k * channels, kernel.shape[-1])))
        return ops.conv(x, kernel, strides=1, padding="valid")

    def _stage(self, i, step, x, training=None):
        """Stage ``i`` of the stack on (n, steps, channels), with ``step`` from ``_plan``."""
        take, left, right, outputs, pooled = step
        conv = self.convs[i]
        if take < x.shape[1]:
            x = x[:, :take, :]
        if left or right:
            x = ops.pad(x, ((0, 0), (left, right), (0, 0)))
        pool = self.pool_sizes[i]
        if _FUSED_WAVEFORM_POOL and x.shape[-1] == 1 and pool > 1:
            y = conv_pool_one_channel(x, self._kernel(conv, x), pool, pooled)
        else:
            y = self._pool(self._conv(x, conv, outputs), pool, pooled)
        bias = ops.cast(conv.bias, y.dtype)
        if y.shape[-1] != conv.filters:
            bias = ops.pad(bias, ((0, y.shape[-1] - conv.filters),))
        return self.dropouts[i](ops.relu(y + bias), training=training)

    @staticmethod
    def _pool(y, pool, pooled):
        if _POOL_BY_RESHAPE:
            y = ops.max(ops.reshape(y, (-1, pooled, pool, y.shape[-1])), axis=2)
        elif pool > 1:
            y = ops.max_pool(y, pool, strides=pool, padding="valid")
        return y

    def call(self, inputs, training=None):
        spf = inputs.shape[-1]
        batch, frames = ops.shape(inputs)[0], ops.shape(inputs)[1]
        x = ops.reshape(inputs, (-1, spf, 1))
        # Per stage: conv (only the outputs the pooling keeps) -> max over whole windows ->
        # bias -> ReLU -> dropout. Max pooling commutes with adding a per-channel bias and
        # with ReLU (both monotone), so pooling first gives the same values as
        # Conv1D(relu) -> MaxPooling1D while the bias and ReLU touch 1/pool of the steps.
        for i, step in enumerate(self._plan(spf)):
            x = self._stage(i, step, x, training)
        if x.shape[-1] != self.filters[-1]:
            x = x[..., : self.filters[-1]]  # the zero channels of _CHANNEL_MULTIPLE
        if self.frame_pooling == "flatten":
            x = ops.reshape(x, (batch, frames, x.shape[1] * x.shape[2]))
        elif self.frame_pooling == "mean":
            x = ops.reshape(ops.mean(x, axis=1), (batch, frames, x.shape[2]))
        else:
            x = ops.reshape(ops.max(x, axis=1), (batch, frames, x.shape[2]))
        return x

    def compute_output_shape(self, input_shape):
        spf = self._check_shape(input_shape)
        if self.frame_pooling == "flatten":
            features = self.steps_per_frame(spf) * self.filters[-1]
        else:
            features = self.filters[-1]
        return (input_shape[0], input_shape[1], features)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=list(self.filters),
            kernel_sizes=list(self.kernel_sizes),
            pool_sizes=list(self.pool_sizes),
            dropout=self.dropout,
            frame_pooling=self.frame_pooling,
            samples_per_frame=self.samples_per_frame,
        )
        return config
