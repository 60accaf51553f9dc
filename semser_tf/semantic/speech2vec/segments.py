"""The training data of Speech2Vec: word segments of MFCCs, skip-gram pairs, normalisation,
deltas, speed perturbation and the held-out split."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from semser_tf.constants import SAMPLE_RATE
from semser_tf.errors import ConfigError, DataError
from semser_tf.semantic.mfcc import segment_mfccs


class RecordingSegments(NamedTuple):
    """The word segments of one recording, in spoken order.

    Args:
        name: recording name.
        words: normalised words (``""`` when a segment has no usable word).
        mfccs: one ``(frames, 13)`` float32 array per word.
    """

    name: str
    words: list
    mfccs: list


def recording_segments(audio_path, words_path, name: str | None = None) -> RecordingSegments:
    """Load one recording's audio and word timings and compute its word segments' MFCCs.

    Args:
        audio_path: the audio file (resampled to 22050 Hz on load).
        words_path: ``start;end;word`` file, or the timings themselves
            (:class:`~semser_tf.types.WordTiming` items).
        name: recording name (default: the words file's or audio file's stem).

    Returns:
        :class:`RecordingSegments`.

    Raises:
        DataError: unreadable files, or a word outside the audio (file and line named).

    Example:
        >>> rec = recording_segments("audio/Train_01.wav", "words/Train_01.csv")  # doctest: +SKIP
    """
    from semser_tf.data.audio import load_audio
    from semser_tf.data.timings import read_words
    from semser_tf.semantic.word2vec import normalize_word

    if isinstance(words_path, (list, tuple)):
        timings, where = list(words_path), audio_path
    else:
        timings, where = read_words(words_path), words_path
    audio = load_audio(audio_path, SAMPLE_RATE)
    mfccs = segment_mfccs(audio, timings, SAMPLE_RATE, path=where) if timings else []
    return RecordingSegments(
        name or Path(where).stem, [normalize_word(t.word) for t in timings], mfccs
    )


def corpus_segments(
    root,
    partitions: Sequence[str] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    words_dir=None,
) -> list[RecordingSegments]:
    """Word segments of every recording of a corpus that has word timings.

    The timings are those every other command uses: ``words_dir/<name>.csv`` when given,
    else the corpus's ``words/<name>.csv``, else its turn transcriptions spread over the
    turns by the documented fallback (:func:`~semser_tf.data.timings.spread_words`).

    Args:
        root: a SEWA-layout folder, a manifest file, or a
            :class:`~semser_tf.data.corpus.Corpus`.
        partitions: keep recordings whose name starts with one of these (e.g.
            ``("Train",)``); ``None`` keeps all.
        progress: called with ``(done, total, name)`` after each recording.
        words_dir: a folder of ``<name>.csv`` word timings (recognised, aligned...).

    Returns:
        One :class:`RecordingSegments` per recording with words, sorted by name.

    Raises:
        DataError: no recording with word timings, or unreadable files.

    Example:
        >>> recs = corpus_segments("corpora/synth", partitions=("Train",))  # doctest: +SKIP
    """
    from semser_tf.data.corpus import Corpus

    if isinstance(root, Corpus):
        corpus = root
    else:
        root = Path(root)
        if root.is_dir():
            from semser_tf.data.sewa import SEWACorpus

            corpus = SEWACorpus(root, require_labels=())
        elif root.is_file():
            from semser_tf.data.manifest import load_manifest

            corpus = load_manifest(root)
        else:
            raise DataError(
                "corpus not found: expected a SEWA-layout folder or a manifest file", root
            )
    if words_dir:
        corpus = corpus.with_words(words_dir)
    recs = sorted(corpus.recordings(), key=lambda r: r.name)
    if partitions:
        recs = [
            r for r in recs if any(r.name.startswith(x) or r.partition == x for x in partitions)
        ]
    recs = [r for r in recs if r.words]
    if not recs:
        raise DataError(
            f"no recording{' of ' + ','.join(partitions) if partitions else ''} has word timings: "
            "expected words/<name>.csv (start;end;word), transcriptions/<name>.csv, or a "
            "--words-dir folder",
            getattr(corpus, "root", None) or root,
        )
    out = []
    for i, rec in enumerate(recs, 1):
        out.append(recording_segments(rec.audio_path, rec.words, rec.name))
        if progress:
            progress(i, len(recs), rec.name)
    return out


def skipgram_pairs(
    n_words_per_recording: Sequence[int],
    window: int,
    rng: np.random.Generator,
    self_target: float = 0.0,
) -> np.ndarray:
    """One (centre, neighbour) pair per word occurrence, neighbour drawn within the window.

    Indices are global over the concatenated recordings; a neighbour is never the word
    itself and never crosses a recording boundary. One-word recordings give no pair.

    Args:
        n_words_per_recording: words in each recording.
        window: maximum distance in words.
        rng: random generator.
        self_target: probability of pairing a word with itself instead.

    Returns:
        ``(n_pairs, 2)`` int64 array.

    Example:
        >>> skipgram_pairs([3], 1, np.random.default_rng(0)).shape
        (3, 2)
    """
    pairs = []
    offset = 0
    for n in n_words_per_recording:
        for i in range(n):
            cands = [j for j in range(max(0, i - window), min(n, i + window + 1)) if j != i]
            if cands:
                j = (
                    i
                    if (self_target and rng.random() < self_target)
                    else cands[int(rng.integers(len(cands)))]
                )
                pairs.append((offset + i, offset + j))
        offset += n
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def cmvn(mfccs: Sequence[np.ndarray]) -> list:
    """Cepstral mean and variance normalisation over a group of segments (one recording).

    Args:
        mfccs: ``(frames, 13)`` arrays of one recording.

    Returns:
        The arrays minus the group's per-coefficient mean, divided by its standard
        deviation (floored at 1e-3).

    Example:
        >>> out = cmvn([np.array([[1.0] * 13, [3.0] * 13])])
        >>> out[0][:, 0].tolist()
        [-1.0, 1.0]
    """
    if len(mfccs) == 0:
        return []
    allf = np.concatenate([np.asarray(m, np.float64) for m in mfccs], axis=0)
    mu = allf.mean(axis=0)
    sd = np.maximum(allf.std(axis=0), 1e-3)
    return [((np.asarray(m, np.float64) - mu) / sd).astype(np.float32) for m in mfccs]


def add_deltas(frames: np.ndarray, order: int = 2, width: int = 2) -> np.ndarray:
    """Append delta (and delta-delta) coefficients to a feature sequence.

    HTK regression: ``d_t = sum_{n=1..width} n (c_{t+n} - c_{t-n}) / (2 sum_{n} n^2)``,
    the first and last frames repeated beyond the ends; delta-deltas are the deltas of the
    deltas.

    Args:
        frames: ``(frames, channels)`` array.
        order: 0 (unchanged), 1 (+ deltas) or 2 (+ deltas and delta-deltas).
        width: frames on each side (2).

    Returns:
        ``(frames, channels * (1 + order))`` float32: the input, then its deltas, then
        the delta-deltas.

    Example:
        >>> add_deltas(np.arange(5.0)[:, None], order=1)[2].tolist()
        [2.0, 1.0]
    """
    x = np.asarray(frames, np.float64)
    if x.ndim != 2:
        raise DataError(f"feature sequence of shape {x.shape}: expected (frames, channels)")
    out = [x]
    cur = x
    denom = 2.0 * sum(n * n for n in range(1, width + 1))
    for _ in range(int(order)):
        padded = np.concatenate(
            [np.repeat(cur[:1], width, 0), cur, np.repeat(cur[-1:], width, 0)], axis=0
        )
        t = len(cur)
        d = sum(
            n * (padded[width + n : width + n + t] - padded[width - n : width - n + t])
            for n in range(1, width + 1)
        )
        cur = d / denom
        out.append(cur)
    return np.concatenate(out, axis=1).astype(np.float32)


def stretch_frames(frames: np.ndarray, factor: float) -> np.ndarray:
    """Time-stretch a feature sequence by linear interpolation between frames.

    Args:
        frames: ``(n, channels)`` array.
        factor: speed factor: above 1 is faster (fewer frames), ``round(n / factor)``
            frames (at least 1) sampled evenly from the first to the last frame.

    Returns:
        ``(round(n / factor), channels)`` float32.

    Example:
        >>> stretch_frames(np.arange(5.0)[:, None], 0.5)[:, 0].tolist()[:3]
        [0.0, 0.4444444477558136, 0.8888888955116272]
    """
    x = np.asarray(frames, np.float32)
    n = x.shape[0]
    m = max(1, int(round(n / float(factor))))
    if m == n or n == 1:
        return x if n == 1 else x.copy()
    pos = np.linspace(0.0, n - 1.0, m)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    frac = (pos - lo)[:, None].astype(np.float32)
    return (x[lo] * (1 - frac) + x[hi] * frac).astype(np.float32)


def held_out_split(
    recordings: Sequence[RecordingSegments], every: int = 5, offset: int = 2, normalise: bool = True
):
    """Hold out every ``every``-th segment of each recording (positions ``offset``, ``offset + every``, ...).

    The word-identity protocol of docs/measurements/results.md: the held-out segments take no part in
    training nor in the word means. With ``normalise`` each recording's segments are first
    normalised together (:func:`cmvn`, as :meth:`Speech2Vec.encode_segments` would), so
    the returned segments are already normalised: pass ``prenormalised=True`` to
    :meth:`Speech2Vec.fit` and :meth:`Speech2Vec.word_vectors`.

    Args:
        recordings: :class:`RecordingSegments`.
        every: hold out one segment in this many (>= 2).
        offset: position of the first held-out segment, ``0 <= offset < every``.
        normalise: apply :func:`cmvn` per recording before the split.

    Returns:
        ``(train, held)``: two lists of :class:`RecordingSegments` with the same names.

    Raises:
        ConfigError: ``every < 2`` or ``offset`` outside ``[0, every)``.

    Example:
        >>> r = RecordingSegments("a", list("abcdefg"), [np.ones((2, 13))] * 7)
        >>> train, held = held_out_split([r], every=5, offset=2, normalise=False)
        >>> held[0].words, len(train[0].words)
        (['c'], 6)
    """
    if not isinstance(every, (int, np.integer)) or every < 2:
        raise ConfigError(f"held-out split: every must be an integer >= 2, got {every!r}")
    if not isinstance(offset, (int, np.integer)) or not 0 <= offset < every:
        raise ConfigError(f"held-out split: offset must be in [0, {every}), got {offset!r}")
    train, held = [], []
    for r in recordings:
        mf = cmvn(r.mfccs) if normalise else list(r.mfccs)
        tr = [i for i in range(len(r.words)) if i % every != offset]
        ho = [i for i in range(len(r.words)) if i % every == offset]
        train.append(RecordingSegments(r.name, [r.words[i] for i in tr], [mf[i] for i in tr]))
        held.append(RecordingSegments(r.name, [r.words[i] for i in ho], [mf[i] for i in ho]))
    return train, held
