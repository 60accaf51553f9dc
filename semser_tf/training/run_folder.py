"""A run folder as a small transaction: one writer at a time, stale temporaries cleaned,
and a resume that keeps the recorded settings.

* **Lock**: :class:`RunLock` holds an exclusive ``flock`` on ``<run>/.semser-lock`` while a
  command trains into the folder; a second writer fails at once with a message naming
  the holder (pid, host, start time). The kernel drops the lock when its process dies,
  SIGKILL included, so a killed run never leaves a stale lock; the file is removed when
  the lock is released.
* **Temporaries**: the package's writers (:mod:`semser_tf.io`) use hidden temporary names
  (``.<12 hex>.<name>``, ``.<name>.<random>.partial``); a kill can leave them behind.
  :func:`clean_temporaries` removes them when the lock is held, and a folder that holds
  nothing else (a kill during the first write) counts as empty.
* **Resume settings**: :func:`resume_settings` keeps the recorded training settings; only
  ``epochs`` may change (a larger value extends the run); any other difference is an
  error naming the field.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import time
from pathlib import Path

from semser_tf.errors import ConfigError, DataError
from semser_tf.io import check_replaceable, owned_kind
from semser_tf.training.settings import LEGACY_SETTINGS, TrainSettings

# The layout of a run folder (docs/architecture.md): the one place its file names are spelled.
RUN_MARKER = "run.json"
"""Marks the folder as a semser run (the run kind of :data:`semser_tf.io.OWNER_MARKER`)."""
CONFIG = "config.json"
"""The resolved model config and training settings (``{"model": ..., "training": ...}``)."""
REPORT = "report.json"
"""The evaluation of the best model on the validation partition (``report.md`` beside it)."""
BEST = "best.keras"
"""The model of the best validation mean CCC."""
HISTORY = "history.csv"
"""One row per completed epoch."""
HISTORY_PLOT = "history.png"
"""Loss and CCC curves."""
CHECKPOINTS = "checkpoints"
"""The resume point: ``epoch-N.weights.h5`` and :data:`METADATA`."""
METADATA = "training_metadata.json"
"""In :data:`CHECKPOINTS`: the last committed epoch."""
PLOTS = "plots"
"""Prediction against gold per validation recording."""
EMBEDDINGS_DIR = "embeddings"
"""A copy of the aligned embeddings the run was trained with."""
LOCK_NAME = ".semser-lock"
_TEMPORARY = re.compile(r"^\.(?:[0-9a-f]{12}\..+|.+\.(?:partial|publishing|extract|part|tmp))$")
_CLEANED = ("", CHECKPOINTS, PLOTS)  # sub-folders of a run the writers put temporaries in

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock
    fcntl = None


def is_temporary(name: str) -> bool:
    """True for the hidden temporary names of the package's atomic writers."""
    return bool(_TEMPORARY.match(name))


def _entries(folder: Path):
    return [p for p in folder.iterdir() if p.name != LOCK_NAME]


def only_temporaries(folder: Path) -> bool:
    """The folder exists and holds nothing but the package's temporaries (or nothing)."""
    return folder.is_dir() and all(is_temporary(p.name) for p in _entries(folder))


def clean_temporaries(run_dir: Path) -> list[Path]:
    """Remove the writers' stale temporaries from a run folder (call with the lock held)."""
    removed = []
    for sub in _CLEANED:
        folder = run_dir / sub if sub else run_dir
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if is_temporary(p.name):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
                removed.append(p)
    return removed


class RunLock:
    """An exclusive lock on a run folder (a context manager; see the module doc).

    Example:

    >>> with RunLock() as lock:          # doctest: +SKIP
    ...     lock.acquire("runs/attention")
    """

    def __init__(self):
        self.fd = None
        self.path = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def acquire(self, folder) -> None:
        """Lock ``folder`` (which must exist); no-op when this object holds it already.

        Raises:
            ConfigError: another process holds the lock (it is named).
        """
        if fcntl is None:
            return
        path = Path(folder) / LOCK_NAME
        if self.fd is not None:
            if self.path == path and _same_inode(self.fd, path):
                return
            self.release()
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _holder(fd)
                os.close(fd)
                raise ConfigError(
                    f"{folder}: the run folder is in use by another semser process ({holder}); wait for it "
                    "to finish, or stop it, and run the command again"
                ) from None
            if _same_inode(fd, path):  # not unlinked by a releasing holder meanwhile
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(
            fd,
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                }
            ).encode(),
        )
        self.fd, self.path = fd, path

    def release(self) -> None:
        """Remove the lock file and drop the lock."""
        if self.fd is None:
            return
        try:
            if _same_inode(self.fd, self.path):
                self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)
            self.fd = self.path = None


def _same_inode(fd, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _holder(fd) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode("utf-8"))
        return f"pid {info['pid']} on {info['host']}, started {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that is starting"


def check_out_dir(
    out_dir: Path, resume: bool, overwrite: bool, inputs=(), lock: RunLock | None = None
) -> str:
    """What to do with the run folder: ``"new"``, ``"replace"`` (``overwrite`` of a run:
    call :func:`empty_run` once the new run's inputs are checked), ``"resume"`` (a committed
    epoch exists) or ``"restart"`` (``resume`` of a run with its config but no committed
    epoch).

    An existing run is locked (``lock``) before anything in it is read or removed.

    Raises:
        ConfigError: the folder holds other files, another run (without ``resume`` or
            ``overwrite``), an input of the command (``overwrite``), or is a file.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: is a file; expected a folder for the run (or a new path)")
    if not out_dir.exists():
        return "new"
    is_run = owned_kind(out_dir) == "run"
    if is_run and lock is not None:
        lock.acquire(out_dir)
        clean_temporaries(out_dir)
    if only_temporaries(out_dir):  # empty, or a kill during the first write
        if lock is not None:
            lock.acquire(out_dir)
            clean_temporaries(out_dir)
        return "new"
    if overwrite:
        if not is_run:
            raise ConfigError(
                f"{out_dir}: refusing to overwrite a folder that is not a semser run "
                f"(no {RUN_MARKER}); choose an empty or new output directory."
            )
        # nor one that holds an input (corpus, embeddings, cache)
        check_replaceable(out_dir, "run", inputs=inputs)
        return "replace"  # emptied by empty_run() once the new run's inputs are checked
    if resume:
        if not is_run:
            raise ConfigError(
                f"{out_dir}: nothing to resume (no {RUN_MARKER}); it holds other files."
            )
        if (out_dir / CHECKPOINTS / METADATA).is_file():  # a committed epoch
            return "resume"
        return "restart" if (out_dir / CONFIG).is_file() else "new"
    raise ConfigError(
        f"{out_dir}: the output directory already holds "
        + ("a run" if is_run else "other files")
        + "; pass resume=True (--resume) to continue it or overwrite=True (--overwrite) to replace it."
    )


def empty_run(out_dir: Path) -> None:
    """Remove a run's files (the lock file stays: its holder is this process)."""
    for p in _entries(out_dir):
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


def resume_settings(out_dir: Path, saved: dict, settings):
    """The recorded settings of a run, with ``settings.epochs`` when given.

    Args:
        out_dir: the run (named in messages).
        saved: the ``training`` object of its ``config.json``.
        settings: the caller's :class:`~semser_tf.training.run.TrainSettings` or ``None``.

    Raises:
        ConfigError: a field other than ``epochs`` differs from the recorded one.
    """
    recorded = TrainSettings(
        **{**LEGACY_SETTINGS, **saved}
    )  # a field the run predates: what it used
    if settings is None:
        return recorded
    diff = [
        f"{f.name} {getattr(recorded, f.name)!r} -> {getattr(settings, f.name)!r}"
        for f in dataclasses.fields(TrainSettings)
        if f.name != "epochs" and getattr(settings, f.name) != getattr(recorded, f.name)
    ]
    if diff:
        raise ConfigError(
            f"{out_dir}: resume with training settings that differ from the run's ({'; '.join(diff)}); "
            "only epochs may change (a larger value extends the run). Leave the other flags out or start a new run."
        )
    return dataclasses.replace(recorded, epochs=settings.epochs)


def best_target_path(out_dir, target) -> Path:
    """The best model of one target in a run folder, ``best-<target>.keras``."""
    return Path(out_dir) / f"best-{target}.keras"


def read_run_config(cfg_path):
    """A run's ``config.json`` as a dict, or a clear error naming it."""
    cfg_path = Path(cfg_path)
    if not cfg_path.is_file():
        raise DataError(
            f"no {CONFIG}: expected the run's configuration (written by semser train) "
            "beside the model",
            cfg_path,
        )
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"not valid JSON ({err})", cfg_path) from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict):
        raise DataError(
            "expected a JSON object with a 'model' object (the run's model config)", cfg_path
        )
    return cfg


__all__ = [
    "BEST",
    "CHECKPOINTS",
    "CONFIG",
    "EMBEDDINGS_DIR",
    "HISTORY",
    "HISTORY_PLOT",
    "METADATA",
    "PLOTS",
    "REPORT",
    "RunLock",
    "best_target_path",
    "read_run_config",
    "LOCK_NAME",
    "RUN_MARKER",
    "check_out_dir",
    "clean_temporaries",
    "empty_run",
    "resume_settings",
    "is_temporary",
    "only_temporaries",
]
