"""Training batches copied to the accelerator ahead of the step by a thread of their own (JAX).

Keras's JAX trainer copies each batch to the device on the thread that runs the training
loop, one batch ahead (``JAXEpochIterator._one_batch_ahead_iterator``). The host side of
that copy (a float32 batch of 100 windows of 300 frames is 265 MB, staged through pageable
memory) and the conversion of a ``tf.data`` batch to NumPy then run between two step
dispatches: where they take longer than a step, the GPU waits for the host. The device
traces of the H200 showed exactly that in the slow epochs at batch 100: one long wait for
the host before each host-to-device copy (docs/measurements/benchmarks.md, "The LSTM kernel
by default").

:func:`device_batches` moves the conversion and the copy to a background thread that keeps
``depth`` batches on the device ahead of the loop; the loop's thread only dispatches steps.
The batches, their order and their values are unchanged (tested): ``fit`` receives arrays
that are already on the device, which Keras passes through. :func:`feed_for_fit` decides
when to use it: the JAX backend on an accelerator without a Keras distribution (a
distribution shards each batch over its devices itself). ``SEMSER_DEVICE_FEED``: ``auto``
(default) or empty, ``0`` (off), ``1`` (on wherever JAX runs, also on the CPU, for tests).
"""

from __future__ import annotations

import os
import queue
import threading

import numpy as np

from semser_tf.errors import ConfigError
from semser_tf.switches import tri_state

__all__ = ["DEFAULT_DEPTH", "DeviceBatches", "device_batches", "feed_for_fit", "feed_switch"]

ENV = "SEMSER_DEVICE_FEED"
DEFAULT_DEPTH = 2
"""Batches held on the device ahead of the step (2 x 265 MB at batch 100, sequence 300)."""

_ITEM, _END, _ERROR = "item", "end", "error"


def feed_switch(environ=None):
    """``SEMSER_DEVICE_FEED`` parsed (:func:`semser_tf.switches.tri_state`): ``"auto"``
    (unset, empty or ``auto``), ``True`` (``1``, ``on``, ...) or ``False`` (``0``, ``off``, ...)."""
    raw = (os.environ if environ is None else environ).get(ENV, "")
    return tri_state(ENV, raw, "auto (the default), 1, on, true, yes or 0, off, false, no")


def _check_depth(depth) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ConfigError(f"device feed depth={depth!r}: expected a positive integer")
    return depth


def _to_numpy(x):
    import jax

    if x is None or isinstance(x, (np.ndarray, jax.Array)):
        return x  # a JAX array is already where device_put puts it: no copy back to the host
    return np.asarray(x)  # a tf.Tensor of the loader, or anything with __array__


class DeviceBatches:
    """An iterator over ``batches`` whose items are already on ``device``: a daemon thread
    reads the source, converts each batch to NumPy and copies it to the device with
    ``jax.device_put``, keeping at most ``depth`` copied batches waiting.

    An error in the source is raised by ``next`` where the batch would have come.
    :meth:`close` (or the end of the source) stops the thread; closing early, as ``fit``
    does when early stopping ends it, leaves no thread behind. The thread holds the
    iterator, so close it (``with``, or :func:`device_batches`) rather than dropping it.

    Args:
        batches: an iterable of (nested) arrays: a ``tf.data.Dataset``, a generator.
        depth: copied batches waiting at most (at least 1).
        device: a ``jax.Device``; default: JAX's default device, the arrays uncommitted
            as Keras's own copy leaves them (committed ones would make ``jit`` compile the
            step a second time, for that placement).
    """

    def __init__(self, batches, depth: int = DEFAULT_DEPTH, device=None):
        self.device = device
        self._queue: queue.Queue = queue.Queue(maxsize=_check_depth(depth))
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=self._fill, args=(batches,), name="semser-device-feed", daemon=True
        )
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self, batches):
        import jax

        try:
            for batch in batches:
                if self._stop.is_set():
                    return
                host = jax.tree_util.tree_map(_to_numpy, batch)
                # not waited for: the next batch is staged while this one's transfer runs
                # (the step that takes it waits on the device); the queue bounds the batches
                # held to ``depth`` + 2 (waiting, taken, being staged)
                on_device = jax.device_put(host, self.device)
                if not self._put((_ITEM, on_device)):
                    return
            self._put((_END, None))
        except BaseException as e:  # noqa: BLE001  (handed to the consumer's thread)
            self._put((_ERROR, e))

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        kind, value = self._queue.get()
        if kind == _ITEM:
            return value
        self._done = True
        self._thread.join()
        if kind == _ERROR:
            raise value
        raise StopIteration

    def close(self):
        """Stop the thread (the batches it holds are dropped)."""
        self._done = True
        self._stop.set()
        while True:  # unblock a put waiting for room
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def device_batches(batches, depth: int = DEFAULT_DEPTH, device=None):
    """A generator over ``batches`` copied to the device ``depth`` ahead by a thread
    (:class:`DeviceBatches`); what ``keras.Model.fit`` takes (it accepts generators, not
    other iterators). Closing the generator, or its end, stops the thread.

    Example:

    >>> import numpy as np
    >>> items = [(np.full((2, 3), i, "float32"),) for i in range(3)]
    >>> tuple(int(x.sum()) for (x,) in device_batches(items))  # the same batches, in order
    (0, 6, 12)

    Raises:
        ConfigError: a ``depth`` below 1, at once (the thread starts with the first batch).
    """
    _check_depth(depth)
    return _fed(batches, depth, device)


def _fed(batches, depth, device):
    with DeviceBatches(batches, depth, device) as feed:
        yield from feed


def feed_for_fit(batches, depth: int = DEFAULT_DEPTH, environ=None):
    """``batches`` as ``fit`` should get them: :func:`device_batches` on the JAX backend on
    an accelerator with no Keras distribution set (``SEMSER_DEVICE_FEED=1``: also on the
    CPU; ``0``: never); else ``batches`` unchanged (the TensorFlow backend consumes
    ``tf.data`` with its own prefetching)."""
    import keras

    switch = feed_switch(environ)
    if switch is False or keras.backend.backend() != "jax":
        return batches
    import jax

    if keras.distribution.distribution() is not None:
        return batches
    if switch == "auto" and jax.default_backend() == "cpu":
        return batches  # no copy to hide: Keras itself skips its look-ahead on the CPU
    return device_batches(batches, depth)
