"""``LSTM``: ``keras.layers.LSTM`` with its time loop in one GPU kernel under JAX.

The layer is ``keras.layers.LSTM`` (same arguments, weights, saved files and outputs). On
the JAX backend with an NVIDIA GPU of compute capability 8.0 or newer it runs the
recurrence with :func:`semser_tf.kernels.lstm_pallas.recurrence` (one Pallas kernel for all
time steps, forward and backward) in place of cuDNN's one launch per step; the input
projection ``x @ kernel + bias`` stays one whole-sequence matrix product. Everywhere else
(TensorFlow, a CPU, an older GPU, a mask, dropout on the recurrence, non-default
activations, a unit count that is not a multiple of 16, a Keras distribution whose sharding
the kernel does not split, or ``use_cudnn=False``) it is exactly ``keras.layers.LSTM``.

``SEMSER_LSTM_KERNEL`` (read at import) chooses: ``auto`` (the default) takes the kernel
where it applies unless the GPU is shared through NVIDIA's MPS; ``1`` takes it under MPS
too; ``0`` always uses Keras's loop. The kernel's programs wait on each other at every time
step, so all of them must be resident at once: ``programs_for`` launches no more than the
GPU has multiprocessors, but under MPS other processes' kernels run beside ours and a
thread limit (``CUDA_MPS_ACTIVE_THREAD_PERCENTAGE``) can leave fewer multiprocessors than
the device reports.

Measured on an H200 (docs/measurements/benchmarks.md, "The LSTM kernel by default"): the
LSTM alone trains 3.2-3.6x faster than cuDNN's and predicts 2.1-3.2x faster, with the same
weights after a training step (7e-7 relative in float32). The model's bf16 training step
takes 13.1-13.5 ms at batch 25 after the first epoch (cuDNN's: 20-24.5). At batch 100 it is
bound by the host's copy of the input: 37.9-38.6 ms in three epochs of six and 64-74 ms in
the others, 33.7-34.0 ms with the batches already on the device. In every traced epoch the
kernel's longest launch equals its mean, so the slow epochs are not the kernel's waiting.
"""

from __future__ import annotations

import os

import keras
from keras import ops

from semser_tf.switches import tri_state


def kernel_switch(value: str) -> bool | str:
    """``SEMSER_LSTM_KERNEL``'s value: ``"auto"`` (empty or auto), ``True`` (1, on, true,
    yes) or ``False`` (0, off, false, no)."""
    return tri_state(
        "SEMSER_LSTM_KERNEL",
        value,
        "auto (the default: the one-kernel LSTM on a JAX GPU unless it is shared through "
        "MPS), 1, on, true, yes (also under MPS) or 0, off, false, no (Keras's loop)",
    )


def shared_through_mps(environ=None, pipe_directory="/tmp/nvidia-mps") -> bool:
    """Whether this process may be an MPS client (NVIDIA's Multi-Process Service): an MPS
    setting in the environment, or the control daemon's default pipe directory present."""
    environ = os.environ if environ is None else environ
    if environ.get("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE") or environ.get("CUDA_MPS_PIPE_DIRECTORY"):
        return True
    return os.path.isdir(pipe_directory)


# Switches (module level, like the waveform stage's), read when the call is traced: the
# kernel "auto", on or off (SEMSER_LSTM_KERNEL: see the module's docstring); the
# recurrent product's operand type ("float32": TF32 on the GPU, as cuDNN's float32 LSTM;
# "bfloat16"; "auto": bfloat16 when the layer computes in bfloat16, else float32);
# _INTERPRET runs the kernel in Pallas's interpreter on a CPU (the tests).
_KERNEL_LSTM = kernel_switch(os.environ.get("SEMSER_LSTM_KERNEL", ""))
_DOT_DTYPE = "auto"
_PROGRAMS = 16  # programs per block of 16 sequences, at most (see programs_for)
_INTERPRET = False


def programs_for(units: int, batch: int, multiprocessors: int | None, most: int = 16) -> int:
    """Programs per block of 16 sequences for the kernel: the most (up to ``most``) that
    split ``units`` into slices of a multiple of 16, provided every program of the launch
    fits on the GPU at once, one per multiprocessor (they wait on each other at every step,
    so all must be resident; a program takes 80-84 KiB of shared memory at 256 units in
    float32, and every GPU that ``takes_kernel`` holds one per multiprocessor); else 1 (the
    programs of a row block then never wait on another)."""
    blocks = -(-batch // 16)
    for programs in range(min(most, units // 16), 1, -1):
        if units % programs == 0 and (units // programs) % 16 == 0:
            if multiprocessors is not None and programs * blocks <= multiprocessors:
                return programs
    return 1


def _kernel_mode(layer, mask, training) -> str | None:
    """``"gpu"``, ``"interpret"`` or ``None`` (Keras's own loop) for this call."""
    if _KERNEL_LSTM is False or keras.backend.backend() != "jax" or mask is not None:
        return None
    if layer.use_cudnn not in ("auto", True) or layer.go_backwards or layer.unroll:
        return None
    if layer.recurrent_dropout or (training and layer.dropout):
        return None
    cell = layer.cell
    if cell.activation is not keras.activations.tanh:
        return None
    if cell.recurrent_activation is not keras.activations.sigmoid:
        return None
    from semser_tf.kernels.lstm_pallas import block_for

    if block_for(cell.units) is None or keras.distribution.distribution() is not None:
        return None
    if _INTERPRET:
        return "interpret"
    import jax

    if jax.default_backend() != "gpu" or not takes_kernel(jax.devices()[0]):
        return None
    if _KERNEL_LSTM == "auto" and shared_through_mps():
        return None
    return "gpu"


def takes_kernel(device) -> bool:
    """Whether ``device`` runs the kernels: an NVIDIA GPU of compute capability 8.0 or newer
    (A100, RTX 30 series and later), whose multiprocessors hold the 80-84 KiB of shared
    memory a program takes at 256 units; older ones (a T4 has 64 KiB) and other makers'
    GPUs use Keras's loop."""
    capability = getattr(device, "compute_capability", None)
    try:
        major = int(str(capability).split(".")[0])
    except ValueError:
        return False
    return major >= 8


def dot_dtype_for(compute_dtype: str, setting: str) -> str:
    """The recurrent product's operand type: ``setting``, or with ``"auto"`` bfloat16 for a
    layer that computes in bfloat16 (its inputs are rounded to bfloat16 already; the LSTM
    alone trains 10-14 % faster so on an H200) and float32 (TF32, as cuDNN's) otherwise."""
    if setting != "auto":
        return setting
    return "bfloat16" if str(compute_dtype) == "bfloat16" else "float32"


@keras.saving.register_keras_serializable(package="semser_tf")
class LSTM(keras.layers.LSTM):
    """``keras.layers.LSTM`` whose time loop is one GPU kernel on the JAX backend.

    Takes ``keras.layers.LSTM``'s arguments; the weights (``kernel``, ``recurrent_kernel``,
    ``bias``) and the config are the same, so a model saved with either layer loads into
    the other. The class keeps Keras's name on purpose: a ``.weights.h5`` file stores a
    functional model's layers under their class names in snake case, so another name would
    not load the weights saved before it (the zoo's among them).

    >>> import numpy as np
    >>> lstm = LSTM(16, return_sequences=True)
    >>> lstm(np.zeros((2, 5, 3), "float32")).shape
    (2, 5, 16)
    """

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        mode = _kernel_mode(self, mask, training)
        if mode is None:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        from semser_tf.kernels.lstm_pallas import recurrence

        cell = self.cell
        xw = ops.einsum("bti,ig->tbg", sequences, cell.kernel.value)
        if cell.use_bias:
            xw = xw + cell.bias.value
        h0, c0 = initial_state
        programs = 1
        if mode == "gpu":
            import jax

            cores = getattr(jax.devices()[0], "core_count", None)
            programs = programs_for(cell.units, sequences.shape[0], cores, _PROGRAMS)
        hs, c_last = recurrence(
            xw,
            cell.recurrent_kernel.value,
            h0,
            c0,
            dot_dtype=dot_dtype_for(self.compute_dtype, _DOT_DTYPE),
            programs=programs,
            interpret=mode == "interpret",
        )
        outputs = ops.transpose(hs, (1, 0, 2))
        last = outputs[:, -1]
        return last, outputs, [last, c_last]
