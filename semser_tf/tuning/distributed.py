"""Distributed search: addresses, the worker's heartbeat and the chief with its watchdog.

keras-tuner's chief/worker mode is driven by its documented environment variables
(``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP``, ``KERASTUNER_ORACLE_PORT``): a worker
runs ``tuner.search()`` with them set, the chief runs ``tuner.search()`` with
``KERASTUNER_TUNER_ID=chief``, which serves the oracle until the search is over
(:func:`serve_chief`). Beside it a watchdog thread reads the workers' heartbeat files and
hands a silent worker's trial back to the oracle (:class:`~semser_tf.tuning.adapter.RequeueMixin`).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

from semser_tf.errors import ConfigError
from semser_tf.io import atomic_write_json
from semser_tf.tuning._common import TuningError, safe_id

ENV_KEYS = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
CHIEF_ID = "chief"


def parse_address(address: str, what="--oracle") -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port), with a clear error.

    Example:

    >>> parse_address("127.0.0.1:8000")
    ('127.0.0.1', 8000)
    """
    if not isinstance(address, str) or ":" not in address:
        raise ConfigError(f"{what} {address!r}: expected HOST:PORT, e.g. 10.0.0.5:8000.")
    host, port = address.rsplit(":", 1)
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{what} {address!r}: expected HOST:PORT with a port in 1-65535.")
    return host, int(port)


def wait_for_oracle(address: str, timeout: float = 30.0):
    """Wait until the chief's oracle at ``address`` accepts connections, or raise.

    Args:
        address: ``HOST:PORT`` of the chief.
        timeout: seconds to wait.

    Raises:
        TuningError: nothing answered within ``timeout`` seconds.

    Example:

    >>> wait_for_oracle("127.0.0.1:8000", timeout=5)  # doctest: +SKIP
    """
    import grpc

    host, port = parse_address(address)
    channel = grpc.insecure_channel(f"{host}:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise TuningError(
            f"the oracle at {host}:{port} did not answer within {timeout:g} s: start the chief first "
            f"(semser tune CORPUS --out DIR --distributed chief --oracle 0.0.0.0:{port}) and check the "
            "host name, the port and the firewall; --connect-timeout sets the wait."
        ) from None
    finally:
        channel.close()


class Heartbeat:
    """A worker's liveness file, rewritten every ``interval`` seconds by a daemon thread."""

    def __init__(self, folder: Path, tuner_id: str, interval: float):
        self.path = Path(folder) / f"{safe_id(tuner_id)}.alive"
        self.tuner_id, self.interval = tuner_id, interval
        self._stop = threading.Event()
        self._count = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._beat()
        self._thread = threading.Thread(target=self._run, daemon=True, name="semser-heartbeat")
        self._thread.start()

    def _beat(self):
        self._count += 1
        atomic_write_json(
            self.path,
            {
                "tuner_id": self.tuner_id,
                "count": self._count,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "time": time.time(),
            },
        )

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                self._beat()
            except OSError:
                pass

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)


def heartbeat_count(folder: Path, tuner_id: str):
    """The count in a worker's heartbeat file, or ``None`` when there is none (yet)."""
    try:
        return json.loads((Path(folder) / f"{safe_id(tuner_id)}.alive").read_text())["count"]
    except (OSError, ValueError, KeyError):
        return None


class Watchdog:
    """Re-queue the trial of a worker whose heartbeat stopped (a daemon thread on the chief).

    A worker whose heartbeat count has not changed for ``worker_timeout`` seconds, by this
    process's clock (the hosts' clocks need not agree), is taken as dead:
    ``oracle.requeue(tuner_id)`` gives its running trial back to keras-tuner's retry queue
    and forgets the worker, so it no longer holds the search open.

    Args:
        oracle: an oracle with :class:`~semser_tf.tuning.adapter.RequeueMixin`.
        heartbeat_dir: the folder of the workers' ``<id>.alive`` files.
        worker_timeout: seconds of silence before a worker is taken as dead.
        poll_s: seconds between checks.
        log: where to report re-queued trials.
    """

    def __init__(self, oracle, heartbeat_dir, worker_timeout, poll_s=1.0, log=print):
        self.oracle, self.folder = oracle, Path(heartbeat_dir)
        self.worker_timeout, self.poll_s, self.log = float(worker_timeout), poll_s, log
        self._seen = {}  # tuner_id -> (heartbeat count, local time it last changed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="semser-watchdog")

    def start(self):
        self._thread.start()
        return self

    def check(self, now=None):
        """One pass over the registered workers; returns the ids taken as dead."""
        now = time.time() if now is None else now
        dead = []
        for tuner_id in sorted(self.oracle.tuner_ids):
            if tuner_id == CHIEF_ID:
                continue
            count = heartbeat_count(self.folder, tuner_id)
            last = self._seen.get(tuner_id)
            if last is None or count != last[0]:
                self._seen[tuner_id] = (count, now)
            elif now - last[1] > self.worker_timeout:
                trial, requeued = self.oracle.requeue(
                    tuner_id, f"no heartbeat for {now - last[1]:.0f} s"
                )
                self._seen.pop(tuner_id, None)
                dead.append(tuner_id)
                if trial is None:
                    what = "dropped"
                elif requeued:
                    what = f"trial {trial.trial_id} goes to the next worker"
                else:
                    what = f"trial {trial.trial_id} failed ({trial.message})"
                self.log(
                    f"semser tune: worker {tuner_id} silent for {now - last[1]:.0f} s; {what}",
                    flush=True,
                )
        return dead

    def _run(self):
        while not self._stop.wait(self.poll_s):
            try:
                self.check()
            except Exception as err:  # a watchdog that dies would leave the search open forever
                self.log(f"semser tune: watchdog: {type(err).__name__}: {err}", flush=True)

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


class _Env:
    """Set (or, with ``None``, remove) environment variables; restored on exit."""

    def __init__(self, **values):
        self.values = values

    def __enter__(self):
        self.saved = {k: os.environ.get(k) for k in self.values}
        for k, v in self.values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = str(v)
        return self

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def no_kerastuner_env():
    """A context in which keras-tuner sees no chief/worker variables (a single or chief tuner)."""
    return _Env(**{k: None for k in ENV_KEYS})


def worker_env(tuner_id, address):
    """keras-tuner's worker variables for ``tuner_id`` and the chief at ``address``."""
    host, port = parse_address(address)
    return _Env(
        KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=port
    )


def serve_chief(
    tuner, address, heartbeat_dir, worker_timeout=600.0, poll_s=1.0, log=print, verbose=0
):
    """Serve ``tuner``'s oracle to workers until the search is over (keras-tuner's chief mode).

    Runs ``tuner.search()`` with ``KERASTUNER_TUNER_ID=chief`` and the address in
    keras-tuner's variables: keras-tuner serves the oracle over gRPC and returns once a
    worker was told to stop and no trial runs and no worker is registered (it checks that
    every 20 s). Beside it, unless ``worker_timeout`` is 0 or ``None``, a :class:`Watchdog`.

    Args:
        tuner: a tuner of :func:`~semser_tf.tuning.tuners.make_tuner`.
        address: ``HOST:PORT`` to listen on (``0.0.0.0:PORT`` for every interface).
        heartbeat_dir: the folder of the workers' ``<id>.alive`` files.
        worker_timeout: seconds without a heartbeat before a worker is taken as dead.
        poll_s: seconds between the watchdog's checks.
        log: where to report re-queued trials.
        verbose: keras-tuner's verbosity on the chief.

    Example:

    >>> serve_chief(tuner, "0.0.0.0:8000", "tune_out/search/workers")  # doctest: +SKIP
    """
    host, port = parse_address(address)
    check_port_free(host, port)
    watchdog = (
        Watchdog(tuner.oracle, heartbeat_dir, worker_timeout, poll_s, log).start()
        if worker_timeout
        else None
    )
    try:
        with _Env(
            KERASTUNER_TUNER_ID=CHIEF_ID, KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=port
        ):
            tuner.search(verbose=verbose)
    finally:
        if watchdog is not None:
            watchdog.stop()


def check_port_free(host, port):
    """An error unless this process can listen on ``host:port`` (keras-tuner's server does not say)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as err:
            raise TuningError(
                f"--oracle {host}:{port}: cannot listen there ({err.strerror}); "
                "choose a free port or an address of this machine."
            ) from None
