"""The frame cache of the tf.data pipeline: one TFRecord shard per recording.

The first call decodes each recording once (``load_audio`` at 22050 Hz), cuts it
into 10 Hz frames of 2205 samples (last partial frame zero-padded), computes its frame
features and writes one TFRecord shard per recording into ``cache_dir``. The shard name
holds a hash of the audio file (absolute path, size, mtime), the parsed labels, turns and
words, and the frame-feature identity (``cache_key``/``dim``); a changed file or option
gives a new name and a rebuild. A shard is written to a hidden temporary name and renamed
when complete, so an interrupted or failed build leaves no partial shard. The default
``cache_dir`` is ``$SEMSER_TF_CACHE/frames`` if the variable is set, else ``$XDG_CACHE_HOME/semser_tf/frames``,
else ``~/.cache/semser_tf/frames`` (user-writable even when the corpus is read-only). The
folder can be deleted at any time.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

from semser_tf.constants import SAMPLE_RATE
from semser_tf.data.audio import load_audio
from semser_tf.data.corpus import Corpus, Recording
from semser_tf.data.frames import (
    ZeroFrameFeatures,
    _check_features,
    _features_key,
    frames_from_audio,
)
from semser_tf.errors import DataError

__all__ = ["CACHE_FORMAT", "build_cache", "default_cache_dir"]

CACHE_FORMAT = 1
"""Bumped when the shard layout changes (part of every shard's hash)."""


# --------------------------------------------------------------------------- cache


def default_cache_dir() -> Path:
    """The default cache folder of :func:`build_cache`.

    Returns:
        ``$SEMSER_TF_CACHE/frames`` if the variable is set (the zoo's files go to
        ``$SEMSER_TF_CACHE/zoo``, so ``semser_tf.zoo.clear_cache`` leaves the frames),
        else ``$XDG_CACHE_HOME/semser_tf/frames``, else ``~/.cache/semser_tf/frames``.

    Example:
        >>> default_cache_dir().name  # doctest: +SKIP
        'frames'
    """
    env = os.environ.get("SEMSER_TF_CACHE")
    if env:
        return Path(env).expanduser() / "frames"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "semser_tf" / "frames"


def _recording_key(rec: Recording, features) -> str:
    h = hashlib.sha256()
    try:
        st = rec.audio_path.stat()
    except FileNotFoundError:
        raise DataError(
            "audio file not found (moved or deleted since the corpus was read)", rec.audio_path
        ) from None
    for part in (
        f"format={CACHE_FORMAT}",
        f"sr={SAMPLE_RATE}",
        str(rec.audio_path.resolve()),
        str(st.st_size),
        str(st.st_mtime_ns),
        repr(rec.targets),
        repr(rec.turns),
        repr([tuple(w) for w in rec.words]),
        _features_key(features),
    ):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    if rec.labels is not None:
        h.update(np.ascontiguousarray(rec.labels, np.float32).tobytes())
    return h.hexdigest()[:20]


def _shard_path(cache_dir: Path, rec: Recording, features) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in rec.name)
    return cache_dir / f"{safe}-{_recording_key(rec, features)}.tfrecord"


def _bytes_feature(arr):
    import tensorflow as tf  # noqa: PLC0415

    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[arr]))


def _example(rec: Recording, features, n_targets: int) -> bytes:
    import tensorflow as tf  # noqa: PLC0415

    audio = np.asarray(load_audio(rec.audio_path, sample_rate=SAMPLE_RATE), dtype=np.float32)
    frames = frames_from_audio(audio)
    n = frames.shape[0]
    if rec.labels is not None:
        lab = np.full((n, n_targets), np.nan, np.float32)
        k = min(n, rec.labels.shape[0])
        lab[:k] = rec.labels[:k]
        mask = (~np.isnan(lab).any(axis=1)).astype(np.float32)
        lab = np.nan_to_num(lab, nan=0.0)
    else:
        lab = np.zeros((n, n_targets), np.float32)
        mask = np.ones(n, np.float32)
    feats = np.asarray(features(rec, n), dtype=np.float32)
    if feats.shape != (n, features.dim):
        raise DataError(
            f"frame features {features!r} returned shape {feats.shape}: expected "
            f"({n}, {features.dim}) for {n} frames",
            rec.audio_path,
        )
    speaking = rec.speaking(n)
    ex = tf.train.Example(
        features=tf.train.Features(
            feature={
                "name": _bytes_feature(rec.name.encode("utf-8")),
                "n_frames": tf.train.Feature(int64_list=tf.train.Int64List(value=[n])),
                "waveform": _bytes_feature(frames.astype("<f4").tobytes()),
                "semantic": _bytes_feature(feats.astype("<f4").tobytes()),
                "targets": _bytes_feature(lab.astype("<f4").tobytes()),
                "mask": _bytes_feature(mask.astype("<f4").tobytes()),
                "speaking": _bytes_feature(speaking.astype("<f4").tobytes()),
            }
        )
    )
    return ex.SerializeToString()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale_temps(cache_dir: Path) -> None:
    for p in cache_dir.glob(".*.tmp.*"):
        try:
            pid = int(p.name.rsplit(".", 1)[-1])
        except ValueError:
            continue
        if not _pid_alive(pid):
            p.unlink(missing_ok=True)


def build_cache(
    corpus: Corpus,
    partition: str,
    frame_features=None,
    cache_dir=None,
    progress: bool = True,
) -> list[Path]:
    """Decode and frame every recording of a partition into TFRecord shards (once).

    Shards already present (same hash) are reused. Each new shard is written to
    ``.<shard>.tmp.<pid>`` and renamed when complete; on any error the temporary file is
    removed, so the cache never holds a partial shard. Temporary files of dead processes
    (an interrupted build) are removed on the next call.

    Args:
        corpus: the corpus.
        partition: the partition to cache.
        frame_features: a :class:`FrameFeatures` (default ``ZeroFrameFeatures(100)``).
        cache_dir: the cache folder (default :func:`default_cache_dir`).
        progress: print one line per recording built to stderr.

    Returns:
        The shard paths, in the partition's recording order.

    Raises:
        DataError: a recording cannot be decoded, or its features have the wrong shape.

    Example:
        >>> shards = build_cache(SEWACorpus("/data/sewa"), "Train")  # doctest: +SKIP
    """
    import tensorflow as tf  # noqa: PLC0415

    features = frame_features if frame_features is not None else ZeroFrameFeatures()
    _check_features(features)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    _clean_stale_temps(cache_dir)
    recs = corpus.recordings(partition)
    n_t = len(corpus.targets)
    paths = [_shard_path(cache_dir, rec, features) for rec in recs]
    todo = [(r, p) for r, p in zip(recs, paths) if not p.exists()]
    t0 = time.perf_counter()
    for i, (rec, path) in enumerate(todo, 1):
        tmp = path.parent / f".{path.name}.tmp.{os.getpid()}"
        try:
            data = _example(rec, features, n_t)
            with tf.io.TFRecordWriter(str(tmp)) as writer:
                writer.write(data)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        if progress:
            sys.stderr.write(
                f"semser cache: {i}/{len(todo)} {rec.name} -> {path.name} "
                f"({time.perf_counter() - t0:.1f} s)\n"
            )
            sys.stderr.flush()
    return paths


def _shard_frames(path: Path) -> int:
    import tensorflow as tf  # noqa: PLC0415

    for raw in tf.data.TFRecordDataset(str(path)).take(1):
        ex = tf.train.Example.FromString(raw.numpy())
        return int(ex.features.feature["n_frames"].int64_list.value[0])
    raise DataError("empty cache shard", path)
