"""The waveform convolution and its max pooling as one element-wise computation.

The first stage of ``ConvParalinguistic`` convolves a one-channel waveform with a short
kernel (8 taps) and keeps the maximum of every ``pool`` (10) outputs. Written as a matmul
followed by a max, its output (``pool`` times larger than what is kept: 2 180 x 56 values
per 100 ms frame) is written to memory, read back for the max, and in training read and
compared again for the max's gradient: on a GPU the largest memory traffic of the step,
about 1.8 GB per batch-25 training step (docs/measurements/benchmarks.md, "The LSTM's time
loop"). With one input channel each output is only ``kernel_size`` multiply-adds, so
this module computes the ``pool`` phases of every pooled step element-wise from a
*polyphase* view of the waveform (row ``t`` holds samples ``pool t .. pool t + pool +
kernel_size - 2``) and takes their maximum in the same pass: XLA fuses it into one loop
that reads the waveform and writes only the pooled values. The gradient is written out
by hand (``ops.custom_gradient``) so that it reads the same small inputs, not the
convolution's full output:

- each convolution output is rounded to the compute dtype before the max, as the matmul's
  output is, so the forward values are the matmul-then-max values;
- the gradient of a window's maximum is shared equally among the phases that reach it
  (ties), the rule of ``ops.max``'s gradient that the reshape-and-max pooling used, so
  with ``bfloat16`` outputs, where ties are common, the gradients do not drift towards
  one phase. The tied phases travel from the forward pass as a 10-bit mask and a count
  packed into one ``int16`` per pooled value.

Only ``keras.ops``; tested against NumPy and the plain Keras stack in
``tests/perf/test_fast_paths.py``.
"""

from __future__ import annotations

from keras import ops

MAX_POOL = 11
"""Largest pool this path takes: the tie mask needs ``pool`` bits and the count (at most
``pool``) 4 more, within the 15 value bits of an ``int16``."""


def polyphase(x, pool: int, kernel_size: int, pooled: int):
    """(n, steps) -> (n, pooled, pool + kernel_size - 1): row t is x[pool t : pool t + width].

    ``steps`` must be at least ``pooled * pool + kernel_size - 1`` (the padded input of
    the ``valid`` convolution whose outputs the pooling keeps).
    """
    width = pool + kernel_size - 1
    blocks = -(-width // pool)
    need = (pooled + blocks - 1) * pool
    if need > x.shape[1]:
        x = ops.pad(x, ((0, 0), (0, need - x.shape[1])))
    cols = [
        ops.reshape(x[:, q * pool : q * pool + pooled * pool], (-1, pooled, pool))
        for q in range(blocks)
    ]
    return ops.concatenate(cols, axis=-1)[..., :width]


def _conv_pool(pool: int, kernel_size: int):
    """The custom-gradient function of (polyphase rows, kernel (k, f)) -> pooled (n, pooled, f)."""
    taps = range(kernel_size)

    @ops.custom_gradient
    def conv_pool(rows, kernel):
        dtype = rows.dtype
        xf, wf = ops.cast(rows, "float32"), ops.cast(kernel, "float32")

        def phase(i):
            s = xf[..., i : i + 1] * wf[0]
            for j in taps[1:]:
                s = s + xf[..., i + j : i + j + 1] * wf[j]
            return ops.cast(s, dtype)

        phases = [phase(i) for i in range(pool)]
        y = phases[0]
        for s in phases[1:]:
            y = ops.maximum(y, s)
        ties = [ops.cast(ops.equal(s, y), "int16") for s in phases]
        code = ties[0]
        for i, t in enumerate(ties[1:], start=1):
            code = code + t * (1 << i)
        count = ties[0]
        for t in ties[1:]:
            count = count + t
        code = code + count * (1 << pool)

        def grad(*args, upstream=None):
            g = args[0] if upstream is None else upstream
            share = ops.cast(g, "float32") / ops.cast(ops.right_shift(code, pool), "float32")
            won = [ops.equal(ops.bitwise_and(ops.right_shift(code, i), 1), 1) for i in range(pool)]
            d_kernel = []
            for j in taps:
                picked = ops.where(won[0], xf[..., j : j + 1], 0.0)
                for i in range(1, pool):
                    picked = picked + ops.where(won[i], xf[..., i + j : i + j + 1], 0.0)
                d_kernel.append(ops.sum(share * picked, axis=(0, 1)))
            d_rows = []
            for col in range(pool + kernel_size - 1):
                acc = None
                for i in range(max(0, col - kernel_size + 1), min(pool, col + 1)):
                    term = ops.where(won[i], wf[col - i], 0.0)
                    acc = term if acc is None else acc + term
                d_rows.append(ops.sum(share * acc, axis=-1))
            return (
                ops.cast(ops.stack(d_rows, axis=-1), dtype),
                ops.cast(ops.stack(d_kernel), kernel.dtype),
            )

        return y, grad

    return conv_pool


def conv_pool_one_channel(x, kernel, pool: int, pooled: int):
    """``valid`` convolution of a one-channel signal, then max over windows of ``pool``.

    Args:
        x: (n, steps, 1), already padded; ``steps >= pooled * pool + kernel_size - 1``.
        kernel: (kernel_size, 1, filters), in the compute dtype of ``x``.
        pool: the max-pooling size (2 .. ``MAX_POOL``).
        pooled: pooled steps to produce.

    Returns:
        (n, pooled, filters): ``max`` over each window of the convolution outputs, without
        bias or activation (they commute with the max; the caller adds them).
    """
    if not 2 <= pool <= MAX_POOL:
        raise ValueError(f"conv_pool_one_channel: pool must be 2..{MAX_POOL}, got {pool}.")
    kernel_size = kernel.shape[0]
    rows = polyphase(x[..., 0], pool, kernel_size, pooled)
    return _conv_pool(pool, kernel_size)(rows, kernel[:, 0, :])
