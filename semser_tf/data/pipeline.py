"""The tf.data pipeline: decode once into a TFRecord cache, then window, shuffle, batch.

:func:`make_dataset` turns a partition of a :class:`~semser_tf.data.corpus.Corpus` (SEWA
or manifest) into a ``tf.data.Dataset`` of::

    ({"waveform": (B, T, 2205) float32,      # 4410 with speaker_slots=True
      "semantic": (B, T, D) float32},        # frame features, D = frame_features.dim
     targets (B, T, n_targets) float32,
     sample_weight (B, T) float32)

**Cache.** The first call decodes each recording once into a TFRecord cache
(:mod:`semser_tf.data.cache`: the shard names, the default folder, atomic shards).

**Windows.** Windows of ``sequence_length`` frames start at ``0, hop, 2 * hop, ...``; the
last window is the first that reaches the end of the recording and is padded with zeros
(sample weight 0). With ``hop == sequence_length`` and no shuffle every frame is seen
exactly once per epoch, recordings in corpus order.

**Delay.** ``delay_frames = d > 0`` shifts labels *earlier*: the target at frame ``t`` is
the label of frame ``t + d`` (predict what the annotators reported ``d`` frames later from
the audio at ``t``: compensates their reaction delay). The last ``d`` frames then have no
target (weight 0). Negative ``d`` shifts the other way.

**Sample weight** is 1 on frames with a label and 0 on padding and unlabelled frames; for a
recording without labels (prediction) it is 1 on every real frame and targets are 0.

**Frame features** follow the :class:`FrameFeatures` protocol.
"""

from __future__ import annotations

import os

import numpy as np

from semser_tf.constants import SAMPLES_PER_FRAME
from semser_tf.data.cache import (
    _shard_frames,
    build_cache,
    default_cache_dir,
)
from semser_tf.data.corpus import Corpus
from semser_tf.data.frames import (
    FrameFeatures,
    ZeroFrameFeatures,
    _check_features,
    frames_from_audio,
)
from semser_tf.errors import ConfigError, DataError

__all__ = [
    "modality_dropout",
    "unscored_context",
    "FrameFeatures",
    "ZeroFrameFeatures",
    "make_dataset",
    "build_cache",
    "default_cache_dir",
    "frames_from_audio",
    "window_starts",
    "window_index",
    "corpus_targets",
    "n_targets",
    "dataset_for_model",
]


# --------------------------------------------------------------------------- windows


def window_starts(n_frames: int, sequence_length: int, hop: int) -> list[int]:
    """Start frames of a recording's windows: ``0, hop, 2 * hop, ...`` up to and including
    the first window that reaches the end (``start + sequence_length >= n_frames``).

    Args:
        n_frames: frames of the recording.
        sequence_length: window length in frames.
        hop: distance between window starts.

    Returns:
        The start frames (at least one, even for an empty recording).

    Example:
        >>> window_starts(650, 300, 300)
        [0, 300, 600]
    """
    n_w = 1 + max(0, -(-(n_frames - sequence_length) // hop))
    n_w = min(n_w, max(1, -(-n_frames // hop)))
    return [k * hop for k in range(n_w)]


def window_index(
    corpus: Corpus,
    partition: str,
    sequence_length: int = 300,
    hop=None,
    cache_dir=None,
    frame_features=None,
):
    """The windows of an unshuffled :func:`make_dataset`, in order.

    Useful to put predictions back in place: window ``k`` of the dataset covers frames
    ``[start, start + valid)`` of recording ``name``.

    Args:
        corpus: the corpus.
        partition: the partition.
        sequence_length: window length in frames.
        hop: hop in frames (default ``sequence_length``).
        cache_dir: the cache folder (frame counts come from the decoded audio).
        frame_features: as given to :func:`make_dataset` (for the shard names).

    Returns:
        A list of ``(name, start, valid)`` tuples.

    Example:
        >>> window_index(corpus, "Devel")[:2]  # doctest: +SKIP
        [('Devel_01', 0, 300), ('Devel_01', 300, 300)]
    """
    hop = sequence_length if hop is None else hop
    shards = build_cache(corpus, partition, frame_features, cache_dir, progress=False)
    out = []
    for rec, shard in zip(corpus.recordings(partition), shards):
        n = _shard_frames(shard)
        for s in window_starts(n, sequence_length, hop):
            out.append((rec.name, s, max(0, min(sequence_length, n - s))))
    return out


def corpus_targets(corpus: Corpus) -> tuple:
    """Target names of a corpus (the order of the last axis of ``targets``).

    Args:
        corpus: the corpus.

    Returns:
        The names, e.g. ``("arousal", "valence", "liking")`` for SEWA.

    Example:
        >>> corpus_targets(SEWACorpus("/data/sewa"))  # doctest: +SKIP
        ('arousal', 'valence', 'liking')
    """
    return tuple(corpus.targets)


def n_targets(corpus: Corpus) -> int:
    """Number of targets of a corpus (the size of the model's output layer).

    Args:
        corpus: the corpus.

    Returns:
        ``len(corpus.targets)``.

    Example:
        >>> n_targets(SEWACorpus("/data/sewa"))  # doctest: +SKIP
        3
    """
    return len(corpus.targets)


def make_dataset(
    corpus: Corpus,
    partition: str,
    sequence_length: int = 300,
    batch_size: int = 25,
    hop: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    delay_frames: int = 0,
    speaker_slots: bool = False,
    frame_features=None,
    cache_dir=None,
    drop_remainder: bool = False,
    shuffle_buffer: int = 64,
    cycle_length: int = 4,
    progress: bool = True,
    autotune: bool | None = None,
):
    """Windows of a partition as a batched ``tf.data.Dataset`` (see the module doc).

    Args:
        corpus: a :class:`~semser_tf.data.corpus.Corpus` (SEWA or manifest).
        partition: the partition (case-insensitive), e.g. ``"Train"``.
        sequence_length: frames per window (paper: 300 = 30 s).
        batch_size: windows per batch (paper: 25).
        hop: frames between window starts (default ``sequence_length``: no overlap).
        shuffle: shuffle recordings and windows (seeded, reshuffled each epoch).
        seed: the shuffle seed.
        delay_frames: annotation-delay shift; ``d > 0`` pairs the audio at frame ``t``
            with the label of frame ``t + d``.
        speaker_slots: 4410 samples per frame: the frame's samples in slot 0 when the
            subject speaks (frame centre inside a turn), else in slot 1; the other slot 0.
        frame_features: a :class:`FrameFeatures` (default ``ZeroFrameFeatures(100)``).
        cache_dir: the TFRecord cache (default :func:`default_cache_dir`).
        drop_remainder: drop the last incomplete batch.
        shuffle_buffer: windows in the shuffle buffer (memory: about 2.6 MB each at T=300).
        cycle_length: recordings read concurrently when shuffling.
        progress: show cache-building progress on stderr.
        autotune: tf.data's autotuning of parallelism and buffers. ``None`` (default):
            on only with more than 4 CPU cores. On the 2-core machine it costs the
            training step up to 1.8x (the paper's attention model, batch 5: 2.56 s per
            step inside ``fit`` against 1.44 s with autotuning off, where ``fit`` on the
            loader matches ``train_on_batch`` on in-memory arrays; the loader alone needs
            7 ms per batch), because its background threads compete with the model for the
            two cores. ``benchmarks/fit_vs_step.py`` measures it.

    Returns:
        A dataset of ``({"waveform", "semantic"}, targets, sample_weight)`` batches.

    Raises:
        ConfigError: a non-positive length, batch or hop, or bad frame features.
        DataError: a recording cannot be read.

    Example:
        >>> ds = make_dataset(SEWACorpus("/data/sewa"), "Train", shuffle=True)  # doctest: +SKIP
        >>> x, y, w = next(iter(ds))  # doctest: +SKIP
        >>> x["waveform"].shape, y.shape, w.shape  # doctest: +SKIP
        (TensorShape([25, 300, 2205]), TensorShape([25, 300, 3]), TensorShape([25, 300]))
    """
    import tensorflow as tf  # noqa: PLC0415

    hop = sequence_length if hop is None else hop
    for label, v in (
        ("sequence_length", sequence_length),
        ("batch_size", batch_size),
        ("hop", hop),
        ("shuffle_buffer", shuffle_buffer),
        ("cycle_length", cycle_length),
    ):
        if not isinstance(v, (int, np.integer)) or v <= 0:
            raise ConfigError(f"{label}={v!r}: expected a positive integer")
    if not isinstance(delay_frames, (int, np.integer)):
        raise ConfigError(f"delay_frames={delay_frames!r}: expected an integer")
    features = frame_features if frame_features is not None else ZeroFrameFeatures()
    _check_features(features)
    shards = build_cache(corpus, partition, features, cache_dir, progress=progress)
    if not shards:
        raise DataError(f"partition {partition!r} has no recordings", corpus.root)
    T, hop, d = int(sequence_length), int(hop), int(delay_frames)
    D, n_t, F = int(features.dim), len(corpus.targets), SAMPLES_PER_FRAME
    spec = {
        "n_frames": tf.io.FixedLenFeature([], tf.int64),
        "waveform": tf.io.FixedLenFeature([], tf.string),
        "semantic": tf.io.FixedLenFeature([], tf.string),
        "targets": tf.io.FixedLenFeature([], tf.string),
        "mask": tf.io.FixedLenFeature([], tf.string),
        "speaking": tf.io.FixedLenFeature([], tf.string),
    }

    def parse(serialized):
        ex = tf.io.parse_single_example(serialized, spec)
        n = tf.cast(ex["n_frames"], tf.int32)

        def raw(key, width):
            return tf.reshape(tf.io.decode_raw(ex[key], tf.float32, little_endian=True), [n, width])

        wav = raw("waveform", F)
        sem = raw("semantic", D)
        tgt = raw("targets", n_t)
        mask = tf.reshape(tf.io.decode_raw(ex["mask"], tf.float32), [n])
        spk = tf.reshape(tf.io.decode_raw(ex["speaking"], tf.float32), [n])
        if d != 0:  # target at t = label at t + d
            idx = tf.range(n) + d
            ok = tf.cast((idx >= 0) & (idx < n), tf.float32)
            idx = tf.clip_by_value(idx, 0, tf.maximum(n - 1, 0))
            tgt = tf.gather(tgt, idx) * ok[:, None]
            mask = tf.gather(mask, idx) * ok
        n_w = 1 + tf.maximum(0, (n - T + hop - 1) // hop)
        n_w = tf.minimum(n_w, tf.maximum(1, (n + hop - 1) // hop))
        length = (n_w - 1) * hop + T
        pad = length - n

        def padded(x):
            return tf.pad(x, [[0, pad]] + [[0, 0]] * (len(x.shape) - 1))

        return n_w, padded(wav), padded(sem), padded(tgt), padded(mask), padded(spk)

    def to_windows(n_w, wav, sem, tgt, mask, spk):
        def cut(k):
            s = tf.cast(k, tf.int32) * hop
            return (
                tf.ensure_shape(wav[s : s + T], [T, F]),
                tf.ensure_shape(sem[s : s + T], [T, D]),
                tf.ensure_shape(tgt[s : s + T], [T, n_t]),
                tf.ensure_shape(mask[s : s + T], [T]),
                tf.ensure_shape(spk[s : s + T], [T]),
            )

        return tf.data.Dataset.range(tf.cast(n_w, tf.int64)).map(cut)

    def assemble(wav, sem, tgt, mask, spk):  # on whole batches: one vectorised op
        if speaker_slots:
            on = spk[..., None]
            wav = tf.concat([wav * on, wav * (1.0 - on)], axis=-1)
        return {"waveform": wav, "semantic": sem}, tgt, mask

    auto = tf.data.AUTOTUNE
    files = tf.data.Dataset.from_tensor_slices([str(p) for p in shards])
    if shuffle:
        files = files.shuffle(len(shards), seed=seed, reshuffle_each_iteration=True)
    records = files.interleave(
        tf.data.TFRecordDataset, cycle_length=1, num_parallel_calls=auto, deterministic=True
    )
    parsed = records.map(parse, num_parallel_calls=auto, deterministic=True).prefetch(2)
    if shuffle:
        windows = parsed.interleave(
            to_windows,
            cycle_length=min(cycle_length, len(shards)),
            block_length=1,
            num_parallel_calls=auto,
            deterministic=True,
        )
        windows = windows.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    else:
        windows = parsed.flat_map(to_windows)
    batches = windows.batch(batch_size, drop_remainder=drop_remainder)
    out = batches.map(assemble, num_parallel_calls=auto, deterministic=True).prefetch(auto)
    if autotune is None:
        autotune = (os.cpu_count() or 1) > 4
    options = tf.data.Options()
    options.autotune.enabled = bool(autotune)
    return out.with_options(options)


def unscored_context(ds, frames: int):
    """Zero the sample weights of the first ``frames`` frames of every window.

    With windows of ``sequence_length + frames`` frames started ``sequence_length`` apart,
    every frame after a recording's first ``frames`` is scored exactly once, and the LSTM
    enters the scored part with a state warmed up on the frames before it, as it does when
    a whole recording is predicted with the state carried across windows (the rule of
    ``predict`` and ``evaluate``). A recording's first ``frames`` frames are not scored.

    Args:
        ds: batches ``(x, y, w)`` from :func:`make_dataset` (``w`` of shape (B, T)).
        frames: leading frames of each window to leave unscored (less than T).

    Returns:
        The dataset with those weights zero; inputs and labels as they were.
    """
    import tensorflow as tf

    frames = int(frames)
    if frames < 0:
        raise ConfigError(f"unscored_context: frames must be 0 or more, got {frames}")

    def mask(x, y, w):
        T = tf.shape(w)[1]
        keep = tf.cast(tf.range(T) >= frames, w.dtype)
        return x, y, w * keep[tf.newaxis, :]

    return ds.map(mask, num_parallel_calls=tf.data.AUTOTUNE)


def modality_dropout(
    ds, rate: float, seed: int, key="semantic", unscored=(), paired=False, kept_unscored=()
):
    """Zero one input (a modality) of a random share of the windows, or of a copy of each.

    Modality dropout (Neverova et al., "ModDrop", 2016): a fused model trained with part of
    its windows lacking one modality cannot rely on that modality alone, so the other
    branch keeps learning. Each window of each batch is dropped with probability ``rate``,
    drawn with ``tf.random.stateless_uniform`` from ``(seed, batch index)``: the same
    ``seed`` drops the same windows.

    With ``paired`` every window appears twice in its batch (the batch doubles): first
    all the windows whole, then the same windows with the input dropped (``rate`` is not
    used). With ``unscored`` the dropped windows are not scored on those targets: the
    sample weights become per target, ``(B, T, n_targets)``, zero there (so that, with the
    waveform dropped and ``unscored=(arousal,)``, the voice path learns arousal from every
    window while the words alone must carry valence and liking on the copies).
    ``kept_unscored`` does the same for the windows that keep every input (with
    ``(valence, liking)`` and ``paired``: the whole windows teach arousal only, the copies
    valence and liking only).

    Args:
        ds: batches ``(x, y, w)`` from :func:`make_dataset` (``x[key]`` of shape (B, T, D)).
        rate: share of windows dropped, in [0, 1).
        seed: the seed (e.g. ``config.seed + epoch``).
        key: the input to drop (``"semantic"`` or ``"waveform"``), or a tuple of inputs:
            each dropped window then loses one of them, drawn uniformly.
        unscored: indices of the targets (last axis of ``y``) a dropped window is not
            scored on.
        paired: each window twice, whole and dropped, instead of a random share dropped.
        kept_unscored: indices of the targets a window that keeps every input is not
            scored on.

    Returns:
        The dataset with the dropped windows' input zeroed; labels as they were; weights
        as they were, or per target with ``unscored`` or ``kept_unscored``.
    """
    import tensorflow as tf

    rate = float(rate)
    keys = (key,) if isinstance(key, str) else tuple(key)
    unscored = tuple(int(i) for i in unscored)
    kept_unscored = tuple(int(i) for i in kept_unscored)
    if not 0 <= rate < 1:
        raise ConfigError(f"modality_dropout: rate must be in [0, 1), got {rate!r}")
    missing = [k for k in keys if k not in ds.element_spec[0]]
    if not keys or missing:
        raise ConfigError(
            f"modality_dropout: the dataset has no input {missing[0] if missing else None!r} "
            f"(inputs: {sorted(ds.element_spec[0])})"
        )
    n_t = ds.element_spec[1].shape[-1]
    bad = [i for i in (*unscored, *kept_unscored) if not (n_t is None or 0 <= i < n_t)]
    if bad:
        raise ConfigError(
            f"modality_dropout: unscored target index {bad[0]} outside the {n_t} targets"
        )

    def drop(i, batch):
        x, y, w = batch
        if paired:
            x = {k: tf.concat([v, v], axis=0) for k, v in x.items()}
            y, w = tf.concat([y, y], axis=0), tf.concat([w, w], axis=0)
        n = tf.shape(x[keys[0]])[:1]
        seeds = tf.random.experimental.stateless_split(
            tf.stack([tf.cast(seed, tf.int64), i]), num=2
        )
        if paired:  # the second half: the copies
            dropped = tf.range(n[0]) >= n[0] // 2
        else:
            dropped = tf.random.stateless_uniform(n, seed=seeds[0]) < rate
        which = tf.cast(
            tf.floor(tf.random.stateless_uniform(n, seed=seeds[1]) * len(keys)), tf.int32
        )
        out = dict(x)
        for j, k in enumerate(keys):
            v = x[k]
            gone = tf.logical_and(dropped, tf.equal(which, j))
            out[k] = v * tf.cast(tf.logical_not(gone), v.dtype)[:, None, None]
        if unscored or kept_unscored:
            targets = np.arange(int(n_t))
            off_dropped = tf.constant(np.isin(targets, unscored))[None, :]  # (1, targets)
            off_kept = tf.constant(np.isin(targets, kept_unscored))[None, :]
            gone = dropped[:, None]
            off = tf.logical_or(
                tf.logical_and(gone, off_dropped), tf.logical_and(tf.logical_not(gone), off_kept)
            )  # (B, targets)
            w = w[:, :, None] * tf.cast(tf.logical_not(off), w.dtype)[:, None, :]
        return out, y, w

    return ds.enumerate().map(drop, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def dataset_for_model(ds, model):
    """Keep only the inputs a Keras model takes, in the structure it expects.

    Args:
        ds: a dataset from :func:`make_dataset`.
        model: a Keras model whose inputs are named like the dataset's (``"waveform"``,
            ``"semantic"``).

    Returns:
        The dataset with ``x`` reduced to the model's inputs: a dict for a dict-input
        model, a single tensor for a one-input model, a tuple otherwise.

    Raises:
        ConfigError: the model takes an input the dataset does not have.

    Example:
        >>> ds = dataset_for_model(make_dataset(corpus, "Train"), model)  # doctest: +SKIP
    """
    spec = ds.element_spec[0]
    struct = getattr(model, "input", None)
    if isinstance(struct, dict):
        keys = {k: (k if k in spec else getattr(t, "name", k)) for k, t in struct.items()}
    else:
        keys = {
            getattr(t, "name", None): getattr(t, "name", None)
            for t in (getattr(model, "inputs", None) or [])
        }
    missing = [n for n in keys.values() if n not in spec]
    if not keys or missing:
        raise ConfigError(
            f"model inputs {list(keys.values())}: expected inputs named among {sorted(spec)}"
        )
    if isinstance(struct, dict):
        return ds.map(lambda x, y, w: ({k: x[n] for k, n in keys.items()}, y, w))
    names = list(keys.values())
    if len(names) == 1:
        return ds.map(lambda x, y, w: (x[names[0]], y, w))
    return ds.map(lambda x, y, w: (tuple(x[n] for n in names), y, w))
