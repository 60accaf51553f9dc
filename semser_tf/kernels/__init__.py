"""Backend-specific kernels, below the layers.

Layers, losses and metrics are written with ``keras.ops`` only. The exception lives here:
a kernel that one backend needs for speed, which a layer calls only when that backend and
device are in use and which has a plain Keras equivalent that every other case runs. Each
kernel is tested against an independent NumPy reference (values and gradients), on the
CPU in Pallas's interpreter and on the GPU by ``benchmarks/lstm_kernel.py``.

* :mod:`semser_tf.kernels.lstm_pallas`: an LSTM whose whole time loop runs in one GPU
  kernel (Pallas, JAX backend), forward and backward, for ``keras.layers.LSTM``'s cell.
"""
