"""Recordings and corpora shared by the SEWA loader and generic (manifest) corpora.

A :class:`Recording` holds everything the tf.data pipeline needs about one audio file:
its labels already aligned to 10 Hz frames, the subject's speaking turns and the word
timings. A :class:`Corpus` groups recordings by partition. Both SEWA
(:class:`semser_tf.data.sewa.SEWACorpus`) and manifest corpora
(:func:`semser_tf.data.manifest.load_manifest`) produce these same objects, so the same
pipeline (:func:`semser_tf.data.pipeline.make_dataset`) serves both.

Label alignment rule (see ``docs/data.md``): frame ``i`` covers ``[i * 0.1, (i + 1) * 0.1)``
seconds; a label row with timestamp ``t`` belongs to frame ``floor(t * 10 + 0.5)`` (``t * 10``
rounded half up). Rows are placed by timestamp, never by row index, so shuffled rows or a
first timestamp other than 0 are handled. Frames without a label hold NaN in
``Recording.labels`` and get sample weight 0 in the pipeline.

The tolerant reader of the small delimited text files used by every format lives in
:mod:`semser_tf.data.text_files`; its names are re-exported here.
"""

from __future__ import annotations

import dataclasses
import math
import wave
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from semser_tf.constants import FRAME_RATE, SAMPLE_RATE
from semser_tf.data.text_files import (
    TextRow,
    is_number,
    parse_number,
    read_rows,
    read_text,
    strip_quotes,
)
from semser_tf.errors import DataError
from semser_tf.types import WordTiming

__all__ = [
    "Recording",
    "Corpus",
    "TextRow",
    "read_text",
    "read_rows",
    "parse_number",
    "strip_quotes",
    "time_to_frame",
    "align_labels",
    "resample_labels",
    "audio_duration",
    "n_frames_for_duration",
    "is_number",
]

# --------------------------------------------------------------------------- labels


def time_to_frame(t) -> np.ndarray:
    """Index of the 10 Hz frame a timestamp belongs to: ``floor(t * 10 + 0.5)``.

    Args:
        t: time(s) in seconds.

    Returns:
        Integer frame index (array for array input).

    Example:
        >>> int(time_to_frame(0.3))
        3
    """
    return np.floor(np.asarray(t, dtype=np.float64) * FRAME_RATE + 0.5 + 1e-9).astype(np.int64)


def n_frames_for_duration(seconds: float) -> int:
    """Number of 10 Hz frames that cover ``seconds`` of audio (last partial frame counts).

    Args:
        seconds: the duration.

    Returns:
        ``ceil(seconds * 10)`` (with a tolerance of 1e-6 frames for rounding).

    Example:
        >>> n_frames_for_duration(7.35)
        74
    """
    return int(math.ceil(seconds * FRAME_RATE - 1e-6))


def align_labels(
    times: np.ndarray,
    values: np.ndarray,
    n_frames: int | None,
    *,
    path=None,
    lines: Sequence[int] | None = None,
) -> np.ndarray:
    """Place 10 Hz label rows in their frames by timestamp.

    Args:
        times: (rows,) timestamps in seconds, in any order.
        values: (rows, n_targets) label values.
        n_frames: frames of the audio; ``None`` means as many as the labels need.
        path: the label file, for error messages.
        lines: the 1-based line of each row, for error messages.

    Returns:
        (n_frames, n_targets) float32 with NaN in frames that have no label. Labels in
        the one frame just past the audio are dropped (tolerance of one frame).

    Raises:
        DataError: a negative time, two rows in the same frame (non-monotonic or duplicate
            time), or labels reaching more than one frame past the end of the audio.

    Example:
        >>> align_labels(np.array([0.1, 0.0]), np.array([[2.0], [1.0]]), 3)[:, 0]
        array([ 1.,  2., nan], dtype=float32)
    """
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    lines = list(lines) if lines is not None else [None] * len(times)
    frames = time_to_frame(times)
    if len(frames) and frames.min() < 0:
        i = int(np.argmin(frames))
        raise DataError(f"negative time {times[i]}: expected times >= 0 seconds", path, lines[i])
    order = np.argsort(frames, kind="stable")
    sorted_frames = frames[order]
    dup = np.nonzero(np.diff(sorted_frames) == 0)[0]
    if len(dup):
        a, b = order[dup[0]], order[dup[0] + 1]
        raise DataError(
            f"non-monotonic time: {times[b]} falls in the same 100 ms frame "
            f"({sorted_frames[dup[0]]}) as the row at line {lines[a]} ({times[a]}); "
            "expected one label row per 10 Hz frame with distinct increasing times",
            path,
            lines[b],
        )
    need = int(sorted_frames[-1]) + 1 if len(sorted_frames) else 0
    if n_frames is None:
        n_frames = need
    elif need > n_frames + 1:
        i = order[-1]
        raise DataError(
            f"labels longer than the audio: the label at {times[i]} s is in frame "
            f"{frames[i]} but the audio has {n_frames} frames ({n_frames / FRAME_RATE:.1f} s); "
            "expected labels within the audio (one extra frame tolerated)",
            path,
            lines[i],
        )
    out = np.full((n_frames, values.shape[1] if values.ndim == 2 else 1), np.nan, np.float32)
    keep = frames < n_frames
    out[frames[keep]] = values[keep]
    return out


def resample_labels(
    times: np.ndarray,
    values: np.ndarray,
    n_frames: int | None,
    *,
    path=None,
    lines: Sequence[int] | None = None,
) -> np.ndarray:
    """Bring label rows of any rate to 10 Hz frames.

    Rows at 10 Hz (median spacing within 1 % of 0.1 s) are placed by timestamp with
    :func:`align_labels`. Rows at any other rate are linearly interpolated at the frame
    times ``i * 0.1`` s; frames before the first or after the last timestamp get NaN (no
    label, weight 0).

    Args:
        times: (rows,) timestamps in seconds, in any order.
        values: (rows, n_targets) values.
        n_frames: frames of the audio (``None``: up to the last label).
        path: the label file, for error messages.
        lines: 1-based line of each row, for error messages.

    Returns:
        (n_frames, n_targets) float32, NaN where no label.

    Raises:
        DataError: duplicate times, negative times, or labels more than one frame past the
            end of the audio.

    Example:
        >>> t = np.arange(0, 1, 0.04); v = t[:, None]
        >>> resample_labels(t, v, 10)[:3, 0]
        array([0. , 0.1, 0.2], dtype=float32)
    """
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    lines = list(lines) if lines is not None else [None] * len(times)
    if len(times) < 2:
        return align_labels(times, values, n_frames, path=path, lines=lines)
    order = np.argsort(times, kind="stable")
    st = times[order]
    diffs = np.diff(st)
    if np.any(diffs <= 0):
        k = int(np.nonzero(diffs <= 0)[0][0])
        raise DataError(
            f"non-monotonic time: {st[k + 1]} repeats the time of line {lines[order[k]]}; "
            "expected distinct times",
            path,
            lines[order[k + 1]],
        )
    step = float(np.median(diffs))
    if abs(step - 1.0 / FRAME_RATE) <= 0.01 / FRAME_RATE:
        return align_labels(times, values, n_frames, path=path, lines=lines)
    if st[0] < 0:
        raise DataError(f"negative time {st[0]}: expected times >= 0", path, lines[order[0]])
    last_frame = int(np.floor(st[-1] * FRAME_RATE + 1e-9))
    if n_frames is None:
        n_frames = last_frame + 1
    elif st[-1] > (n_frames + 1) / FRAME_RATE:
        raise DataError(
            f"labels longer than the audio: last label at {st[-1]} s, audio has {n_frames} "
            f"frames ({n_frames / FRAME_RATE:.1f} s); expected labels within the audio",
            path,
            lines[order[-1]],
        )
    grid = np.arange(n_frames) / FRAME_RATE
    out = np.full((n_frames, values.shape[1]), np.nan, np.float32)
    inside = (grid >= st[0] - 1e-9) & (grid <= st[-1] + 1e-9)
    sv = values[order]
    for j in range(values.shape[1]):
        out[inside, j] = np.interp(grid[inside], st, sv[:, j])
    return out


# --------------------------------------------------------------------------- audio


def audio_duration(path) -> float:
    """Duration of an audio file in seconds, read from its header when possible.

    WAV files are read with the ``wave`` module (header only); other formats are decoded
    with :func:`semser_tf.data.audio.load_audio`.

    Args:
        path: the audio file.

    Returns:
        The duration in seconds.

    Raises:
        DataError: the file is missing or cannot be read.

    Example:
        >>> audio_duration("audio/Train_01.wav")  # doctest: +SKIP
        293.4
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("audio file not found", path)
    try:
        with wave.open(str(path), "rb") as wf:
            return wf.getnframes() / float(wf.getframerate())
    except (wave.Error, EOFError):
        pass
    from semser_tf.data.wav import wav_info

    try:  # float or extensible WAV: the RIFF parser reads the header only
        info = wav_info(path)
        return info["frames"] / float(info["sample_rate"])
    except DataError:
        pass
    from semser_tf.data.audio import load_audio

    return len(load_audio(path, sample_rate=SAMPLE_RATE)) / float(SAMPLE_RATE)


# --------------------------------------------------------------------------- types


@dataclasses.dataclass
class Recording:
    """One recording with everything the pipeline needs.

    Args:
        name: the recording's name (e.g. ``"Train_01"``), unique within its corpus.
        partition: the partition it belongs to (e.g. ``"Train"``).
        audio_path: the audio file (any rate; resampled to 22050 Hz on load).
        label_path: the label file, or ``None`` (e.g. SEWA test recordings).
        targets: the names of the label columns, e.g. ``("arousal", "valence", "liking")``.
        labels: (n_frames, n_targets) float32 aligned to 10 Hz frames by timestamp, NaN
            where a frame has no label; ``None`` when the recording has no labels.
        turns: the subject's speaking turns as ``(start, end)`` seconds.
        words: word timings (:class:`semser_tf.types.WordTiming`), possibly empty.
        n_frames: 10 Hz frames of the audio as estimated from its header (the cache step
            uses the decoded length, which may differ by one frame after resampling).

    Example:
        >>> rec = Recording("a", "train", "a.wav", None, ("arousal",), None)
        >>> rec.has_labels
        False
    """

    name: str
    partition: str
    audio_path: Path
    label_path: Path | None
    targets: tuple
    labels: np.ndarray | None
    turns: list = dataclasses.field(default_factory=list)
    words: list = dataclasses.field(default_factory=list)
    n_frames: int | None = None

    def __post_init__(self):
        self.audio_path = Path(self.audio_path)
        if self.label_path is not None:
            self.label_path = Path(self.label_path)
        self.targets = tuple(self.targets)
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=np.float32)
            if self.labels.ndim != 2 or self.labels.shape[1] != len(self.targets):
                raise DataError(
                    f"labels of shape {self.labels.shape}: expected (n_frames, "
                    f"{len(self.targets)}) for targets {self.targets}",
                    self.label_path,
                )
        self.words = [WordTiming(float(w[0]), float(w[1]), str(w[2])) for w in self.words]
        self.turns = [(float(a), float(b)) for a, b in self.turns]

    @property
    def has_labels(self) -> bool:
        """True when the recording has a label array."""
        return self.labels is not None

    @property
    def label_mask(self) -> np.ndarray | None:
        """(n_frames,) bool: True where the frame has a label (``None`` without labels)."""
        if self.labels is None:
            return None
        return ~np.isnan(self.labels).any(axis=1)

    def speaking(self, n_frames: int) -> np.ndarray:
        """(n_frames,) float32: 1 where the subject speaks in the frame, else 0.

        A frame counts as spoken when its centre ``(i + 0.5) * 0.1`` s lies in a turn
        ``[start, end)``.

        Args:
            n_frames: number of frames.

        Returns:
            The per-frame speaking flag.
        """
        centre = (np.arange(n_frames) + 0.5) / FRAME_RATE
        flag = np.zeros(n_frames, dtype=np.float32)
        for start, end in self.turns:
            flag[(centre >= start) & (centre < end)] = 1.0
        return flag


class Corpus:
    """Recordings grouped by partition.

    Args:
        recordings: the recordings (names must be unique).
        root: the corpus folder (informational).
        targets: target names shared by all labelled recordings; taken from the
            recordings when omitted.

    Raises:
        DataError: duplicate names, or labelled recordings with different targets.

    Example:
        >>> corpus = Corpus([rec])  # doctest: +SKIP
        >>> corpus.partitions()  # doctest: +SKIP
        ['train']
    """

    def __init__(self, recordings: Iterable[Recording], root=None, targets=None):
        self._recordings = list(recordings)
        self.root = Path(root) if root is not None else None
        seen = {}
        for rec in self._recordings:
            if rec.name in seen:
                raise DataError(f"duplicate recording name {rec.name!r}", rec.audio_path)
            seen[rec.name] = rec
        if targets is None:
            found = {rec.targets for rec in self._recordings if rec.has_labels}
            if len(found) > 1:
                raise DataError(
                    f"recordings have different targets {sorted(found)}: expected the same "
                    "target columns in every label file",
                    self.root,
                )
            targets = (
                found.pop() if found else (self._recordings[0].targets if self._recordings else ())
            )
        self.targets = tuple(targets)
        for rec in self._recordings:
            if rec.has_labels and rec.targets != self.targets:
                raise DataError(
                    f"targets {rec.targets}: expected {self.targets} like the other recordings",
                    rec.label_path,
                )

    def with_words(self, folder) -> Corpus:
        """The same corpus with word timings read from ``folder/<name>.csv`` (``start;end;word``).

        One way to give word timings to every command (``--words-dir``): recognised or
        force-aligned words, another annotation. Recordings without a file in ``folder``
        keep the timings they had (``words/``, or the transcript fallback).

        Raises:
            DataError: ``folder`` missing, or it holds no file named after any recording
                (naming the expected form), or an unreadable words file.
        """
        from semser_tf.data.timings import read_words

        folder = Path(folder)
        if not folder.is_dir():
            raise DataError(
                "word-timings folder not found: expected a folder of <recording>.csv files "
                "(start;end;word)",
                folder,
            )
        recs, found = [], 0
        for rec in self._recordings:
            path = folder / f"{rec.name}.csv"
            if path.is_file():
                rec = dataclasses.replace(rec, words=read_words(path))
                found += 1
            recs.append(rec)
        if self._recordings and not found:
            names = ", ".join(r.name for r in self._recordings[:3])
            raise DataError(
                f"no word-timings file for any recording: expected files such as "
                f"{self._recordings[0].name}.csv (recordings: {names}...)",
                folder,
            )
        return Corpus(recs, root=self.root, targets=self.targets)

    def partitions(self) -> list[str]:
        """Partition names in order of first appearance."""
        out = []
        for rec in self._recordings:
            if rec.partition not in out:
                out.append(rec.partition)
        return out

    def _canonical(self, partition: str) -> str:
        parts = self.partitions()
        if partition in parts:
            return partition
        for p in parts:
            if p.lower() == str(partition).lower():
                return p
        raise DataError(f"no partition {partition!r}: expected one of {parts}", self.root)

    def recordings(self, partition: str | None = None) -> list[Recording]:
        """The recordings of a partition (case-insensitive name), or all of them.

        Args:
            partition: partition name, or ``None`` for every recording.

        Returns:
            The recordings, in corpus order (SEWA: by name; manifest: file order).

        Raises:
            DataError: unknown partition.
        """
        if partition is None:
            return list(self._recordings)
        p = self._canonical(partition)
        return [r for r in self._recordings if r.partition == p]

    def __getitem__(self, name: str) -> Recording:
        for rec in self._recordings:
            if rec.name == name:
                return rec
        raise KeyError(name)

    def __len__(self) -> int:
        return len(self._recordings)

    def __iter__(self):
        return iter(self._recordings)

    @property
    def n_targets(self) -> int:
        """Number of target dimensions."""
        return len(self.targets)

    def __repr__(self) -> str:
        counts = ", ".join(f"{p}: {len(self.recordings(p))}" for p in self.partitions())
        return f"{type(self).__name__}({self.root}, {counts}, targets={self.targets})"


def _check_exists(path, what: str, referenced_by=None, line=None) -> Path:
    path = Path(path)
    if not path.is_file():
        if referenced_by is not None:
            raise DataError(
                f"{what} {path} not found: expected an existing file", referenced_by, line
            )
        raise DataError(f"{what} not found", path)
    return path
