"""The one module that adapts keras-tuner's distributed search: a dead worker's trial re-queued.

keras-tuner's chief holds a trial as running until its worker reports it; a worker that
dies never does, so the trial is never finished and the chief never exits (upstream
keras-team/keras-tuner#915). And once every trial exists, a worker asking for one is told
to stop, so no worker would be left to take a re-queued trial. The fix, through
keras-tuner's public API (``keras_tuner.oracles.*``, ``keras_tuner.synchronized``,
``Oracle.create_trial``/``end_trial``, ``keras_tuner.engine.trial.TrialStatus``, and the
oracle's ``ongoing_trials`` and ``tuner_ids``, the attributes keras-tuner's own chief
reads to decide that a search is over):

- :class:`RequeueMixin.requeue` ends a silent worker's trial as ``INVALID``, the status
  keras-tuner documents for "crashed, subject to retries": ``Oracle.end_trial`` then puts
  it back in keras-tuner's own retry queue (this needs ``max_retries_per_trial >= 1``);
- :meth:`RequeueMixin.create_trial` tells a worker to wait (``IDLE``) instead of stopping
  while another worker still runs a trial, so a re-queued trial finds a worker.

One thing has no public equivalent: a worker's RPC timeout is the module constant
``keras_tuner.src.distribute.oracle_client.TIMEOUT`` (one hour since upstream
keras-team/keras-tuner#991, introduced by #957), with no argument or environment variable;
:func:`set_rpc_timeout` sets it. This is the only import from ``keras_tuner.src`` in
semser_tf. :func:`check_keras_tuner` refuses a keras-tuner this was not tested with.
"""

from __future__ import annotations

import time

import keras_tuner
from keras_tuner.engine.trial import TrialStatus

from semser_tf.tuning._common import TuningError

TESTED_VERSION = "1.4.8"
"""The keras-tuner release this module was written and tested against."""

IDLE_WAIT_S = 0.5
"""Seconds the chief holds an idle worker's request (keras-tuner's worker asks again at once)."""


def _rpc_module():
    from keras_tuner.src.distribute import oracle_client  # no public equivalent: see the module doc

    return oracle_client


def check_keras_tuner(version: str | None = None):
    """An error unless the installed keras-tuner is one this adapter works with.

    Accepted: the tested release (1.4.8) and other 1.4.x releases that still have what the
    adapter uses (the public names above and the worker's ``TIMEOUT`` constant).

    Args:
        version: the version to check (default ``keras_tuner.__version__``).

    Raises:
        TuningError: naming the installed and the tested version.

    Example:

    >>> check_keras_tuner()
    """
    version = version or getattr(keras_tuner, "__version__", "unknown")
    parts = version.split(".")
    tested = TESTED_VERSION.split(".")
    hint = (
        f"semser_tf.tuning was tested with keras-tuner {TESTED_VERSION} (1.4.x accepted); "
        f"install it with pip install 'keras-tuner=={TESTED_VERSION}'."
    )
    if parts[:2] != tested[:2]:
        raise TuningError(f"keras-tuner {version} is installed, but {hint}")
    missing = [
        name
        for name, ok in (
            ("keras_tuner.synchronized", hasattr(keras_tuner, "synchronized")),
            (
                "keras_tuner.oracles.RandomSearchOracle",
                hasattr(keras_tuner.oracles, "RandomSearchOracle"),
            ),
            (
                "keras_tuner.oracles.BayesianOptimizationOracle",
                hasattr(keras_tuner.oracles, "BayesianOptimizationOracle"),
            ),
            (
                "keras_tuner.oracles.HyperbandOracle",
                hasattr(keras_tuner.oracles, "HyperbandOracle"),
            ),
            (
                "TrialStatus.IDLE/INVALID",
                hasattr(TrialStatus, "IDLE") and hasattr(TrialStatus, "INVALID"),
            ),
            ("oracle_client.TIMEOUT", _has_timeout()),
        )
        if not ok
    ]
    if missing:
        raise TuningError(
            f"keras-tuner {version} is installed and lacks {', '.join(missing)}; {hint}"
        )


def _has_timeout():
    try:
        return isinstance(getattr(_rpc_module(), "TIMEOUT", None), (int, float))
    except ImportError:
        return False


def set_rpc_timeout(seconds: float):
    """Set how long a worker waits for one answer of the chief (keras-tuner's default: one hour)."""
    _rpc_module().TIMEOUT = float(seconds)


class RequeueMixin:
    """Mixed into a keras-tuner oracle: re-queue a dead worker's trial; idle workers wait.

    Only the chief's (or a single process's) oracle acts; on a worker keras-tuner wraps
    the oracle in its gRPC client and these methods are not called.
    """

    def create_trial(self, tuner_id):
        trial = self._create_trial_or_wait(tuner_id)
        if trial.status == TrialStatus.IDLE:
            time.sleep(IDLE_WAIT_S)  # outside the lock: the watchdog can re-queue meanwhile
        return trial

    @keras_tuner.synchronized
    def _create_trial_or_wait(self, tuner_id):
        trial = super().create_trial(tuner_id)
        if trial.status == TrialStatus.STOPPED and any(t != tuner_id for t in self.ongoing_trials):
            # another worker runs a trial: if it dies, this one takes the trial over
            self.tuner_ids.add(tuner_id)
            trial.status = TrialStatus.IDLE
        return trial

    @keras_tuner.synchronized
    def requeue(self, tuner_id, reason="its worker stopped answering"):
        """Forget worker ``tuner_id``; its running trial goes back to the queue.

        Returns:
            ``(trial, requeued)``: the trial it was running (or ``None``) and whether it
            is queued again (``False``: it used up ``max_retries_per_trial`` and failed;
            ``trial.message`` says why).
        """
        # never raises: keras-tuner's `synchronized` does not release its lock on an exception
        self.tuner_ids.discard(tuner_id)
        trial = self.ongoing_trials.get(tuner_id)
        if trial is None:
            return None, False
        trial.status = TrialStatus.INVALID
        trial.message = f"worker {tuner_id}: {reason}"
        try:
            self.end_trial(trial)  # keras-tuner's retry: INVALID -> its retry queue, or FAILED
        except Exception as err:  # e.g. max_consecutive_failed_trials reached
            trial.status = TrialStatus.FAILED
            trial.message += f"; {err}"
        self.ongoing_trials.pop(tuner_id, None)
        return trial, trial.status != TrialStatus.FAILED


class RandomSearchOracle(RequeueMixin, keras_tuner.oracles.RandomSearchOracle):
    """keras-tuner's random-search oracle with :class:`RequeueMixin`."""


class BayesianOptimizationOracle(RequeueMixin, keras_tuner.oracles.BayesianOptimizationOracle):
    """keras-tuner's Bayesian-optimisation oracle with :class:`RequeueMixin`."""


class HyperbandOracle(RequeueMixin, keras_tuner.oracles.HyperbandOracle):
    """keras-tuner's Hyperband oracle with :class:`RequeueMixin`."""


ORACLES = {
    "random": RandomSearchOracle,
    "bayesian": BayesianOptimizationOracle,
    "hyperband": HyperbandOracle,
}
