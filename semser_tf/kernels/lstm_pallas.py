"""An LSTM whose whole time loop runs in one GPU kernel (Pallas on Triton, JAX backend).

Why: on a GPU, ``keras.layers.LSTM`` runs cuDNN's RNN (``jax.experimental.rnn``), which
launches a small matrix product and an element-wise kernel for every time step, forward and
backward: 1 200 launches for a 300-frame window, with the GPU idle between them. Here the
whole recurrence is one launch per direction. A block of 16 sequences is shared by
``programs`` programs, each owning a slice of the units: its slice of the recurrent weights
is read once and kept, its part of the state stays in registers, and at every step it
reads what the block's programs wrote, after an arrival counter says they all have: the
whole h_{t-1} of its rows in the forward pass; in the backward pass, its units' columns of
every program's share of dh_{t-1} (each program's own gate columns of dz_t times their rows
of U^T), which it sums. With ``programs=1`` nothing waits, but
the one program re-reads all of U from L2 at every step. The input projection
``x @ kernel + bias`` and the gradients of the weights are whole-sequence matrix products
left to XLA.

The cell is Keras's ``LSTMCell`` with its defaults (gates in the order input, forget, cell,
output; ``sigmoid`` gates, ``tanh`` cell)::

    z_t = xw_t + h_{t-1} @ U          xw_t = x_t @ W + b (given)
    i, f, o = sigmoid(z_i, z_f, z_o);  g = tanh(z_g)
    c_t = f * c_{t-1} + i * g;         h_t = o * tanh(c_t)

``h_{t-1} @ U`` is computed in ``dot_dtype`` with float32 accumulation: ``"float32"`` (which
the GPU's tensor cores run as TF32, as cuDNN's float32 LSTM does) or ``"bfloat16"``. The
state, the gates and every element-wise step stay float32.

The backward pass is a second kernel running the same loop backwards in time; it writes the
gradient of every step's gate pre-activations, from which ``dxw`` (that array itself),
``dU = sum_t h_{t-1}^T dz_t`` and the initial state's gradients follow.

:func:`recurrence` is the entry point; ``interpret=True`` runs the same kernels in Pallas's
interpreter on any device (how the tests check them on a CPU).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl

ROWS = 16  # sequences per program: the smallest matrix-product tile Triton takes
DOT_DTYPES = ("float32", "bfloat16")
RESIDENT_BYTES = 64 * 1024  # a program's weight slice up to this is loaded once, not per step


def block_for(hidden: int) -> int | None:
    """The width of the hidden-unit tiles the kernels use for ``hidden`` units, or ``None``
    when ``hidden`` is not a multiple of 16 (the kernels do not take it)."""
    for block in (64, 32, 16):
        if hidden % block == 0:
            return block
    return None


def _backend_module():
    try:  # JAX >= 0.5: jax.experimental.pallas.triton
        from jax.experimental.pallas import triton as backend
    except ImportError:  # older JAX: jax.experimental.pallas.gpu
        from jax.experimental.pallas import gpu as backend
    return backend


def _compiler_params(num_warps: int, num_stages: int):
    backend = _backend_module()
    cls = getattr(backend, "CompilerParams", None) or backend.TritonCompilerParams
    return cls(num_warps=num_warps, num_stages=num_stages)


def _atomic_add(ref, idx, value):
    add = getattr(_backend_module(), "atomic_add", None) or pl.atomic_add
    return add(ref, (idx,), value)


def _step_done(flags_ref, idx, programs, interpret):
    """Every program of this row block has written step ``idx``'s values: a barrier of the
    program's threads (their stores come before what follows), then, with several programs
    per row block, an arrival counter in global memory (acquire-release atomics at GPU scope)
    that each program increments and waits on. Nothing in the interpreter, which runs one
    program at a time (so only one program per row block)."""
    if interpret:
        return
    _backend_module().debug_barrier()
    if programs > 1:
        _atomic_add(flags_ref, idx, 1)
        lax.while_loop(lambda seen: seen < programs, lambda _: _atomic_add(flags_ref, idx, 0), 0)


def _dot(a, b):
    """``a @ b`` accumulated in float32 (``pl.dot`` is gone from JAX 0.12; this lowers to
    the same Triton product, TF32 for float32 operands at the default precision)."""
    return lax.dot(a, b, preferred_element_type=jnp.float32)


def _sigmoid(z):
    return 1.0 / (1.0 + jnp.exp(-z))


def _tile(ref, row, col, rows, width):
    return ref[pl.ds(row, rows), pl.ds(col, width)]


def _this_program(hidden, programs):
    """This program's row block ``r``, its first row, its first unit, and its units' tiles:
    the grid is ``(programs, row blocks)``, so the programs of one row block are launched
    one after another."""
    p, r = pl.program_id(0), pl.program_id(1)
    width = hidden // programs
    block = block_for(width)
    return r, r * ROWS, p * width, block, width // block


def _weight_tiles(ref, origin, shape, chunks, resident):
    """``tiles(gate, chunk)`` -> the weight tile of ``shape`` at ``origin(gate, chunk)`` (row,
    column) for that gate and chunk of this program's units: read once here when
    ``resident``, else at every use."""

    def read(g, j):
        row, col = origin(g, j)
        return _tile(ref, row, col, *shape)

    if resident:
        cache = {(g, j): read(g, j) for g in range(4) for j in range(chunks)}
        return lambda g, j: cache[g, j]
    return read


def _forward_kernel(
    xw_ref,
    u_ref,
    h0_ref,
    c0_ref,
    _flags_in,
    hs_ref,
    cs_ref,
    acts_ref,
    flags_ref,
    *,
    steps,
    batch,
    hidden,
    programs,
    dot_dtype,
    resident,
    interpret,
):
    """Program ``(p, r)``: the units ``[p * hidden / programs, ...)`` of rows ``[16 r, 16 r +
    16)`` through all ``steps``. ``xw_ref`` is ``(steps * batch, 4 * hidden)``, row ``t *
    batch + b``; ``acts_ref`` receives i, f, g, o after their activations in that layout,
    ``hs_ref`` and ``cs_ref`` h_t and c_t. Each step reads the whole h_{t-1} of its rows
    (written by all the row block's programs) as the product's left operand."""
    r, r0, u0, block, chunks = _this_program(hidden, programs)
    weight = _weight_tiles(
        u_ref, lambda g, j: (0, g * hidden + u0 + j * block), (hidden, block), chunks, resident
    )
    a = h0_ref[pl.ds(r0, ROWS), :]
    c = tuple(_tile(c0_ref, r0, u0 + j * block, ROWS, block) for j in range(chunks))

    def step(t, carry):
        a, c = carry
        base = t * batch + r0
        ad = a.astype(dot_dtype)
        new_c = []
        for j in range(chunks):
            col = u0 + j * block
            z = [
                _tile(xw_ref, base, g * hidden + col, ROWS, block) + _dot(ad, weight(g, j))
                for g in range(4)
            ]
            i, f, g, o = _sigmoid(z[0]), _sigmoid(z[1]), jnp.tanh(z[2]), _sigmoid(z[3])
            cn = f * c[j] + i * g
            for gate, act in enumerate((i, f, g, o)):
                acts_ref[pl.ds(base, ROWS), pl.ds(gate * hidden + col, block)] = act
            cs_ref[pl.ds(base, ROWS), pl.ds(col, block)] = cn
            hs_ref[pl.ds(base, ROWS), pl.ds(col, block)] = o * jnp.tanh(cn)
            new_c.append(cn)
        _step_done(flags_ref, r * steps + t, programs, interpret)
        return hs_ref[pl.ds(base, ROWS), :], tuple(new_c)

    lax.fori_loop(0, steps, step, (a, c))


def _backward_kernel(
    dhs_ref,
    acts_ref,
    cs_ref,
    cprev_ref,
    ut_ref,
    dc_last_ref,
    _flags_in,
    dz_ref,
    part_ref,
    dh0_ref,
    dc0_ref,
    flags_ref,
    *,
    steps,
    batch,
    hidden,
    programs,
    dot_dtype,
    resident,
    interpret,
):
    """The loop of :func:`_forward_kernel` backwards in time, over the same units and rows.
    ``dhs_ref``: the gradient of every h_t; ``cprev_ref``: c_{t-1} (c_0 at t = 0);
    ``ut_ref``: ``U`` transposed. Each step writes its units' pre-activation gradients dz_t
    to ``dz_ref`` and its share of dh_{t-1} = dz_t @ U^T, the product of its own gate
    columns of dz_t with their rows of U^T, ``(16, units)``, to its column block of
    ``part_ref`` (two slots, by step parity: a slot is rewritten two steps later, once every
    program has passed the step between). After the row block's programs all have, its
    units' dh_{t-1} is the sum of those shares' columns of its units: 16 small tiles read,
    where reading all of dz_t (4 x as many bytes) and multiplying it by U^T took 5.3 x the
    forward step's time on an H200 (docs/measurements/benchmarks.md). The initial state's
    gradients go to ``dh0_ref``, ``dc0_ref``."""
    r, r0, u0, block, chunks = _this_program(hidden, programs)
    p = pl.program_id(0)
    weight = _weight_tiles(
        ut_ref, lambda g, j: (g * hidden + u0 + j * block, 0), (block, hidden), chunks, resident
    )
    zeros = jnp.zeros((ROWS, block), jnp.float32)
    dh = tuple(zeros for _ in range(chunks))
    dc = tuple(_tile(dc_last_ref, r0, u0 + j * block, ROWS, block) for j in range(chunks))

    def step(k, carry):
        dh_next, dc_next = carry
        base = (steps - 1 - k) * batch + r0
        share = jnp.zeros((ROWS, hidden), jnp.float32)
        new_dc = []
        for j in range(chunks):
            col = u0 + j * block
            i, f, g, o = (
                _tile(acts_ref, base, gate * hidden + col, ROWS, block) for gate in range(4)
            )
            tc = jnp.tanh(_tile(cs_ref, base, col, ROWS, block))
            dh_t = _tile(dhs_ref, base, col, ROWS, block) + dh_next[j]
            dc_t = dc_next[j] + dh_t * o * (1.0 - tc * tc)
            dz = (
                dc_t * g * i * (1.0 - i),
                dc_t * _tile(cprev_ref, base, col, ROWS, block) * f * (1.0 - f),
                dc_t * i * (1.0 - g * g),
                dh_t * tc * o * (1.0 - o),
            )
            for gate, d in enumerate(dz):
                dz_ref[pl.ds(base, ROWS), pl.ds(gate * hidden + col, block)] = d
                share = share + _dot(d.astype(dot_dtype), weight(gate, j))
            new_dc.append(dc_t * f)
        slot = lax.rem(k, 2) * batch + r0
        part_ref[pl.ds(slot, ROWS), pl.ds(p * hidden, hidden)] = share
        _step_done(flags_ref, r * steps + k, programs, interpret)
        new_dh = []
        for j in range(chunks):
            acc = zeros
            for q in range(programs):
                acc = acc + _tile(part_ref, slot, q * hidden + u0 + j * block, ROWS, block)
            new_dh.append(acc)
        return tuple(new_dh), tuple(new_dc)

    dh, dc = lax.fori_loop(0, steps, step, (dh, dc))
    for j in range(chunks):
        dh0_ref[pl.ds(r0, ROWS), pl.ds(u0 + j * block, block)] = dh[j]
        dc0_ref[pl.ds(r0, ROWS), pl.ds(u0 + j * block, block)] = dc[j]


def _pad_rows(x, rows, axis):
    pad = [(0, 0)] * x.ndim
    pad[axis] = (0, rows - x.shape[axis])
    return jnp.pad(x, pad) if rows != x.shape[axis] else x


def _call(kernel, out_shapes, flags_index, options, grid, name):
    dot_dtype, programs, num_warps, num_stages, interpret = options
    return pl.pallas_call(
        kernel,
        out_shape=out_shapes,
        grid=grid,
        input_output_aliases={flags_index: len(out_shapes) - 1},
        compiler_params=None if interpret else _compiler_params(num_warps, num_stages),
        interpret=interpret,
        name=name,
    )


def _settings(options, hidden):
    dot_dtype, programs, _, _, interpret = options
    width = hidden // programs
    resident = 4 * hidden * width * jnp.dtype(dot_dtype).itemsize <= RESIDENT_BYTES
    return dict(
        hidden=hidden,
        programs=programs,
        dot_dtype=dot_dtype,
        resident=resident,
        interpret=interpret,
    )


def _forward(xw, u, h0, c0, options):
    steps, b, gates = xw.shape
    hidden = gates // 4
    batch = -(-b // ROWS) * ROWS
    blocks = batch // ROWS
    programs = options[1]
    f32 = jnp.float32
    kernel = functools.partial(
        _forward_kernel, steps=steps, batch=batch, **_settings(options, hidden)
    )
    out = (
        jax.ShapeDtypeStruct((steps * batch, hidden), f32),
        jax.ShapeDtypeStruct((steps * batch, hidden), f32),
        jax.ShapeDtypeStruct((steps * batch, gates), f32),
        jax.ShapeDtypeStruct((blocks * steps,), jnp.int32),
    )
    hs, cs, acts, _ = _call(kernel, out, 4, options, (programs, blocks), "lstm_fwd")(
        _pad_rows(xw.astype(f32), batch, 1).reshape(steps * batch, gates),
        u.astype(options[0]),
        _pad_rows(h0.astype(f32), batch, 0),
        _pad_rows(c0.astype(f32), batch, 0),
        jnp.zeros((blocks * steps,), jnp.int32),
    )
    shape = (steps, batch, hidden)
    return hs.reshape(shape), cs.reshape(shape), acts


def _check(xw, u, h0, c0, options):
    if xw.ndim != 3 or u.ndim != 2 or u.shape[1] != xw.shape[2] or 4 * u.shape[0] != u.shape[1]:
        raise ValueError(
            f"recurrence expects xw (steps, batch, 4 * units) and U (units, 4 * units); got "
            f"xw {tuple(xw.shape)}, U {tuple(u.shape)}"
        )
    if block_for(u.shape[0]) is None:
        raise ValueError(f"the LSTM kernel takes a multiple of 16 units, not {u.shape[0]}")
    want = (xw.shape[1], u.shape[0])
    for name, x in (("h0", h0), ("c0", c0)):
        if tuple(x.shape) != want:
            raise ValueError(f"{name} must be (batch, units) = {want}, not {tuple(x.shape)}")
    dot_dtype, programs, _, _, interpret = options
    if dot_dtype not in DOT_DTYPES:
        raise ValueError(f"dot_dtype must be one of {DOT_DTYPES}, not {dot_dtype!r}")
    units = u.shape[0]
    if programs < 1 or units % programs or block_for(units // programs) is None:
        raise ValueError(
            f"programs must divide the {units} units into slices of a multiple of 16, not "
            f"{programs}"
        )
    if interpret and programs > 1:
        raise ValueError(
            "the interpreter runs one program at a time: programs > 1 wait on each other"
        )


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _recurrence(xw, u, h0, c0, options):
    hs, cs, _ = _forward(xw, u, h0, c0, options)
    b = xw.shape[1]
    return hs[:, :b], cs[-1, :b]


def _recurrence_fwd(xw, u, h0, c0, options):
    hs, cs, acts = _forward(xw, u, h0, c0, options)
    b = xw.shape[1]
    return (hs[:, :b], cs[-1, :b]), (hs, cs, acts, u, h0, c0)


def _recurrence_bwd(options, residuals, cotangents):
    hs, cs, acts, u, h0, c0 = residuals
    dhs, dc_last = cotangents
    steps, batch, hidden = hs.shape
    blocks = batch // ROWS
    b = h0.shape[0]
    f32 = jnp.float32
    c0p = _pad_rows(c0.astype(f32), batch, 0)
    h0p = _pad_rows(h0.astype(f32), batch, 0)
    cprev = jnp.concatenate([c0p[None], cs[:-1]], axis=0)
    kernel = functools.partial(
        _backward_kernel, steps=steps, batch=batch, **_settings(options, hidden)
    )
    flat = (steps * batch, hidden)
    out = (
        jax.ShapeDtypeStruct((steps * batch, 4 * hidden), f32),
        jax.ShapeDtypeStruct((2 * batch, options[1] * hidden), f32),
        jax.ShapeDtypeStruct((batch, hidden), f32),
        jax.ShapeDtypeStruct((batch, hidden), f32),
        jax.ShapeDtypeStruct((blocks * steps,), jnp.int32),
    )
    dz, _, dh0, dc0, _ = _call(kernel, out, 6, options, (options[1], blocks), "lstm_bwd")(
        _pad_rows(dhs.astype(f32), batch, 1).reshape(flat),
        acts,
        cs.reshape(flat),
        cprev.reshape(flat),
        u.astype(options[0]).T,
        _pad_rows(dc_last.astype(f32), batch, 0),
        jnp.zeros((blocks * steps,), jnp.int32),
    )
    hprev = jnp.concatenate([h0p[None], hs[:-1]], axis=0).reshape(flat)
    du = jnp.einsum("nh,ng->hg", hprev, dz)
    dxw = dz.reshape(steps, batch, 4 * hidden)[:, :b]
    return dxw, du.astype(u.dtype), dh0[:b].astype(h0.dtype), dc0[:b].astype(c0.dtype)


_recurrence.defvjp(_recurrence_fwd, _recurrence_bwd)


def recurrence(
    xw,
    u,
    h0,
    c0,
    *,
    dot_dtype: str = "float32",
    programs: int = 1,
    num_warps: int = 8,
    num_stages: int = 1,
    interpret: bool = False,
):
    """The LSTM's time loop over precomputed input projections, differentiable.

    Args:
        xw: ``(steps, batch, 4 * units)``, time-major: ``x_t @ kernel + bias`` for every step,
            gates in Keras's order (i, f, g, o).
        u: ``(units, 4 * units)``, the recurrent kernel. ``units`` a multiple of 16.
        h0, c0: ``(batch, units)``, the initial state.
        dot_dtype: the recurrent product's operand type (``float32`` or ``bfloat16``);
            accumulation and everything else is float32.
        programs: programs per block of 16 sequences, each owning ``units / programs`` of
            the units (a multiple of 16); with more than one they exchange h_t (forward) and
            the gate gradients (backward) through global memory at every step and wait on
            each other, so all ``programs * ceil(batch / 16)`` must be resident on the GPU at
            once (``LSTM`` allows one per multiprocessor).
        num_warps, num_stages: Triton's launch settings for both kernels (``num_stages`` 1:
            with more, Triton multi-buffers every weight tile of the unrolled step and the
            shared memory needed exceeds a multiprocessor's).
        interpret: run the kernels in Pallas's interpreter (any device; slow; one program
            per row block).

    Returns:
        ``(hs, c_last)``: every step's ``h_t`` ``(steps, batch, units)`` and the last cell
        state ``(batch, units)``, float32.
    """
    options = (str(dot_dtype), int(programs), int(num_warps), int(num_stages), bool(interpret))
    _check(xw, u, h0, c0, options)
    return _recurrence(xw, u, h0, c0, options)
