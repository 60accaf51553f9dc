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
- the gradient of a window's maximum goes to the first phase that reaches it, the rule of
  Keras's ``MaxPooling1D`` (``reduce_window``'s select-and-scatter under JAX, TensorFlow's
  max-pooling gradient). The winner's index travels from the forward pass as one
  ``int8`` per pooled value, and the kernel's gradient is a contraction of the phases'
  patches with the gradient placed on the winners. (``ops.max``'s
  gradient, which the reshape-and-max pooling uses, shares a tie equally instead; with
  ``bfloat16`` outputs ties are common, and the two rules give kernel gradients a few per
  cent apart, both valid, docs/measurements/benchmarks.md.)

Only ``keras.ops``; tested against NumPy and the plain Keras stack in
``tests/perf/test_fast_paths.py``.
"""

from __future__ import annotations

from keras import ops


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

        y = phase(0)
        first = ops.zeros(ops.shape(y), dtype="int8")  # the first phase reaching the max
        for i in range(1, pool):
            s = phase(i)
            higher = ops.greater(s, y)
            y = ops.where(higher, s, y)
            first = ops.where(higher, i, first)

        def grad(*args, upstream=None):
            g = args[0] if upstream is None else upstream
            # The window's gradient on its winning phase, (..., pool, f), and each phase's
            # patch, (..., pool, k): the kernel's gradient is one contraction over rows and
            # phases, a matmul as the im2col path's, but of inputs that are never larger
            # than pool x the pooled output. (Picking the winner's patch element-wise, per
            # tap, was 3.8 ms of a 16 ms GPU step; a gather was slower still.)
            won = ops.equal(
                ops.expand_dims(first, -2), ops.reshape(ops.arange(pool, dtype="int8"), (pool, 1))
            )
            on_winner = ops.where(won, ops.expand_dims(g, -2), ops.zeros((), g.dtype))
            patches = ops.stack([rows[..., i : i + kernel_size] for i in range(pool)], axis=-2)
            d_kernel = ops.einsum("ntik,ntif->kf", patches, ops.cast(on_winner, dtype))
            # each tap j of phase i adds on_winner . w[j] to column i + j of the row
            d_taps = ops.einsum("ntif,kf->ntik", ops.cast(on_winner, "float32"), wf)
            width = pool + kernel_size - 1
            d_rows = None
            for i in range(pool):
                part = ops.pad(d_taps[..., i, :], ((0, 0), (0, 0), (i, width - kernel_size - i)))
                d_rows = part if d_rows is None else d_rows + part
            return ops.cast(d_rows, dtype), ops.cast(d_kernel, kernel.dtype)

        return y, grad

    return conv_pool


def conv_pool_one_channel(x, kernel, pool: int, pooled: int):
    """``valid`` convolution of a one-channel signal, then max over windows of ``pool``.

    Args:
        x: (n, steps, 1), already padded; ``steps >= pooled * pool + kernel_size - 1``.
        kernel: (kernel_size, 1, filters), in the compute dtype of ``x``.
        pool: the max-pooling size (at least 2).
        pooled: pooled steps to produce.

    Returns:
        (n, pooled, filters): ``max`` over each window of the convolution outputs, without
        bias or activation (they commute with the max; the caller adds them).
    """
    if pool < 2:
        raise ValueError(f"conv_pool_one_channel: pool must be at least 2, got {pool}.")
    kernel_size = kernel.shape[0]
    if x.shape[1] < pooled * pool + kernel_size - 1:
        raise ValueError(
            f"conv_pool_one_channel: {x.shape[1]} input steps, but {pooled} pooled steps of "
            f"{pool} with a kernel of {kernel_size} read {pooled * pool + kernel_size - 1}."
        )
    rows = polyphase(x[..., 0], pool, kernel_size, pooled)
    return _conv_pool(pool, kernel_size)(rows, kernel[:, 0, :])
