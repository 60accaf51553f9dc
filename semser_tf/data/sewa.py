"""The SEWA corpus as released for AVEC 2017, and parsers of its files (Ringeval et al., "AVEC 2017", ACM MM workshop 2017).

Layout under the corpus root::

    audio/<name>.wav                 any sample rate, resampled to 22050 Hz on load
    labels/<name>.csv                name;time;arousal;valence;liking   (10 Hz, no header)
    turns/<name>.csv                 start;end                           (subject speaking)
    transcriptions/<name>.csv        start;end;'text'                    (sentence level)
    words/<name>.csv                 start;end;word                      (optional)

``<name>`` is ``Train_NN``, ``Devel_NN`` or ``Test_NN``; the prefix is the partition.
Test recordings may lack labels (``Recording.labels is None``); train and devel ones may
not. Every file may have a header row or none, ``;`` or ``,`` separators, CRLF line ends,
blank lines, quoted or unquoted text and UTF-8 text (latin-1 accepted with a warning).

Example:
    >>> corpus = SEWACorpus("/data/sewa")  # doctest: +SKIP
    >>> corpus.partitions()  # doctest: +SKIP
    ['Train', 'Devel', 'Test']
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from semser_tf.constants import DEFAULT_TARGETS
from semser_tf.data.corpus import (
    Corpus,
    Recording,
    align_labels,
    audio_duration,
    n_frames_for_duration,
)
from semser_tf.data.text_files import is_number, parse_number, read_rows
from semser_tf.data.timings import read_transcription, read_words, word_timings  # noqa: F401
from semser_tf.errors import DataError

__all__ = ["SEWACorpus", "read_labels", "read_turns", "read_transcription", "read_words"]

_NAME = re.compile(r"^(train|devel|test)_", re.IGNORECASE)
_PARTITIONS = ("Train", "Devel", "Test")
_AUDIO_EXT = (".wav", ".flac", ".ogg", ".mp3", ".m4a")
_TIME_NAMES = ("time", "timestamp", "frametime", "frame_time")


class EmptyLabelsWarning(UserWarning):
    """A label file holds no rows: its recording has no labelled frame."""


def read_labels(path, targets=DEFAULT_TARGETS):
    """Read a SEWA label file ``name;time;arousal;valence;liking``.

    Without a header the columns are positional: ``name;time;t1;t2;...`` (a first column
    that is a number means there is no name column: ``time;t1;...``). With a header the
    time column is the one named ``time`` or ``timestamp`` and the targets are looked up
    by name (case-insensitive), falling back to the columns after the time column.

    Args:
        path: the label file.
        targets: names of the target columns, in output order.

    Returns:
        ``(times, values, lines)``: (rows,) float64 seconds, (rows, n_targets) float64,
        and the 1-based line of each row. Rows keep file order (alignment sorts them).

    Raises:
        DataError: missing column, non-numeric value, NaN or infinite value; the message
            names the file, the line and the field.

    Example:
        >>> times, values, lines = read_labels("labels/Train_01.csv")  # doctest: +SKIP
    """
    path = Path(path)
    targets = tuple(targets)
    n_t = len(targets)
    expected = "name;time;" + ";".join(targets)
    rows, _ = read_rows(path, min_fields=1 + n_t, expected=expected)
    if not rows:
        return np.zeros(0), np.zeros((0, n_t)), []
    first = rows[0].fields
    header = None
    if not is_number(first[1] if len(first) > 1 else first[0]) and not is_number(first[0]):
        header = [f.strip("'\" ").lower() for f in first]
        rows = rows[1:]
    if header is not None:
        time_col = next((header.index(n) for n in _TIME_NAMES if n in header), None)
        if time_col is None:
            raise DataError(
                f"header {header} has no time column: expected a column named 'time' or "
                f"'timestamp' ({expected})",
                path,
                1,
            )
        cols = []
        for k, t in enumerate(targets):
            if t.lower() in header:
                cols.append(header.index(t.lower()))
            elif time_col + 1 + k < len(header):
                cols.append(time_col + 1 + k)
            else:
                raise DataError(
                    f"missing column {t!r} in header {header}: expected {expected}", path, 1
                )
    else:
        has_name = not is_number(first[0])
        time_col = 1 if has_name else 0
        cols = [time_col + 1 + k for k in range(n_t)]
    need = max([time_col] + cols) + 1
    times = np.empty(len(rows))
    values = np.empty((len(rows), n_t))
    lines = []
    for i, row in enumerate(rows):
        f = row.fields
        if len(f) < need:
            raise DataError(
                f"missing column: found {len(f)} field(s), expected {need} ({expected})",
                path,
                row.line,
            )
        times[i] = parse_number(f[time_col], path, row.line, "time")
        for k, c in enumerate(cols):
            values[i, k] = parse_number(f[c], path, row.line, targets[k])
        lines.append(row.line)
    return times, values, lines


def read_turns(path) -> list[tuple[float, float]]:
    """Read a turns file ``start;end`` (seconds the subject speaks).

    Args:
        path: the turns file (header row optional; extra columns ignored).

    Returns:
        ``[(start, end), ...]`` in file order.

    Raises:
        DataError: missing column, non-numeric/NaN time, ``end < start`` or a start before
            the previous turn's start (non-monotonic time); names the file and line.

    Example:
        >>> read_turns("turns/Train_01.csv")[:1]  # doctest: +SKIP
        [(0.52, 3.1)]
    """
    rows, _ = read_rows(path, min_fields=2, expected="start;end")
    if rows and not is_number(rows[0].fields[0]):
        rows = rows[1:]
    out = []
    prev = None
    for row in rows:
        start = parse_number(row.fields[0], path, row.line, "start time")
        end = parse_number(row.fields[1], path, row.line, "end time")
        if end < start:
            raise DataError(
                f"non-monotonic time: end {end} before start {start}; expected start;end "
                "with start <= end",
                path,
                row.line,
            )
        if prev is not None and start < prev[0]:
            raise DataError(
                f"non-monotonic time: start {start} before the previous turn's start "
                f"{prev[0]} (line {prev[1]}); expected turns in time order",
                path,
                row.line,
            )
        out.append((start, end))
        prev = (start, row.line)
    return out


def _by_stem(folder: Path, exts) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.name.startswith("."):
            continue
        if exts is not None and p.suffix.lower() not in exts:
            continue
        if not _NAME.match(p.stem):
            continue
        prev = found.get(p.stem)
        if prev is None or (p.suffix.lower() == ".wav" and prev.suffix.lower() != ".wav"):
            found[p.stem] = p
    return found


def _partition(name: str) -> str:
    prefix = _NAME.match(name).group(1).lower()
    return {p.lower(): p for p in _PARTITIONS}[prefix]


class SEWACorpus(Corpus):
    """The SEWA corpus (AVEC 2017 layout) found under ``root``.

    All label, turn and transcript files are parsed when the object is built, so a bad
    file fails early with a :class:`~semser_tf.errors.DataError` naming it. Labels are
    aligned to 10 Hz frames by timestamp (see :mod:`semser_tf.data.corpus`).

    Args:
        root: the corpus folder (with ``audio/``, ``labels/`` ...).
        targets: label column names (default arousal, valence, liking).
        require_labels: partitions whose recordings must have labels (test ones need not).

    Raises:
        DataError: no ``audio/`` folder, a label file without audio, a train/devel audio
            file without labels, labels longer than the audio by more than one frame, or
            any unreadable file.

    Example:
        >>> corpus = SEWACorpus("/data/sewa")  # doctest: +SKIP
        >>> [r.name for r in corpus.recordings("Devel")][:2]  # doctest: +SKIP
        ['Devel_01', 'Devel_02']
    """

    def __init__(self, root, targets=DEFAULT_TARGETS, require_labels=("Train", "Devel")):
        root = Path(root)
        if not (root / "audio").is_dir():
            raise DataError(
                "no audio/ folder: expected the SEWA layout audio/<name>.wav, "
                "labels/<name>.csv, turns/, transcriptions/",
                root,
            )
        audio = _by_stem(root / "audio", _AUDIO_EXT)
        labels = _by_stem(root / "labels", (".csv", ".txt"))
        for name, lpath in labels.items():
            if name not in audio:
                raise DataError(
                    f"missing audio for label file: expected {root / 'audio' / (name + '.wav')}",
                    lpath,
                )
        required = {p.lower() for p in require_labels}
        order = {p: i for i, p in enumerate(_PARTITIONS)}
        names = sorted(audio, key=lambda n: (order[_partition(n)], n))
        recordings = []
        spread = []  # recordings whose word times come from the fallback
        for name in names:
            part = _partition(name)
            apath = audio[name]
            lpath = labels.get(name)
            if lpath is None and part.lower() in required:
                raise DataError(
                    f"no label file for {part} recording {name}: expected "
                    f"{root / 'labels' / (name + '.csv')}",
                    apath,
                )
            n_frames = n_frames_for_duration(audio_duration(apath))
            lab = None
            if lpath is not None:
                times, values, lines = read_labels(lpath, targets)
                if len(times) == 0:
                    warnings.warn(
                        f"{lpath}: empty label file: recording {name} has no labelled frame "
                        "and takes no part in training or evaluation",
                        EmptyLabelsWarning,
                        stacklevel=2,
                    )
                lab = align_labels(times, values, n_frames, path=lpath, lines=lines)
            tpath = root / "turns" / f"{name}.csv"
            turns = read_turns(tpath) if tpath.is_file() else []
            words = word_timings(
                root / "words" / f"{name}.csv",
                root / "transcriptions" / f"{name}.csv",
                name,
                warn=False,
            )
            if words and not (root / "words" / f"{name}.csv").is_file():
                spread.append(name)
            recordings.append(
                Recording(name, part, apath, lpath, targets, lab, turns, words, n_frames)
            )
        if spread:  # one warning for the corpus, not one per recording
            from semser_tf.data.timings import ApproximateTimingWarning

            shown = ", ".join(spread[:4]) + (
                f" and {len(spread) - 4} more" if len(spread) > 4 else ""
            )
            warnings.warn(
                f"{root}: {len(spread)} recording(s) without word-level timings ({shown}); word times "
                "spread over transcript sentences by character length (approximate; words/<name>.csv "
                "gives exact ones)",
                ApproximateTimingWarning,
                stacklevel=2,
            )
        super().__init__(recordings, root=root, targets=targets)
