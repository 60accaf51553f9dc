"""Generic corpora for fine-tuning, described by a manifest file.

A manifest is a CSV (``;`` or ``,``, header row required) or JSON-lines file with one
recording per row/line and the fields:

``audio``      path of the audio file (required)
``labels``     path of the label file (optional: unlabelled recordings for prediction)
``words``      path of a word timing file ``start;end;word`` (optional)
``turns``      path of a turns file ``start;end`` (optional, for ``speaker_slots``)
``partition``  partition name (optional, default ``"train"``)
``name``       recording name (optional, default the audio file's stem)

Relative paths are relative to the manifest's folder. A label file has a header naming a
time column (``time`` or ``timestamp``, seconds) and any number of target columns with
any names (a ``name`` or ``file`` column is ignored), at any rate: 10 Hz rows are placed
by timestamp, other rates are linearly interpolated to 10 Hz frames.

Example manifest (CSV)::

    audio,labels,words,partition
    clips/a.wav,clips/a_labels.csv,clips/a_words.csv,train
    clips/b.wav,clips/b_labels.csv,,devel

Example label file (25 Hz)::

    time,arousal,dominance
    0.00,0.10,-0.20
    0.04,0.12,-0.19

Example:
    >>> corpus = load_manifest("finetune/manifest.csv")  # doctest: +SKIP
    >>> corpus.targets  # doctest: +SKIP
    ('arousal', 'dominance')
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from semser_tf.data.corpus import (
    Corpus,
    Recording,
    audio_duration,
    n_frames_for_duration,
    resample_labels,
)
from semser_tf.data.sewa import read_turns
from semser_tf.data.text_files import parse_number, read_rows, read_text, strip_quotes
from semser_tf.data.timings import read_words
from semser_tf.errors import DataError

__all__ = ["ManifestCorpus", "load_manifest", "read_label_table"]

_TIME_NAMES = ("time", "timestamp")
_IGNORED = ("name", "file", "filename", "id")
_FIELDS = ("audio", "labels", "words", "turns", "partition", "name")


def read_label_table(path):
    """Read a generic label file with a header: a time column and target columns.

    Args:
        path: the label file (``;`` or ``,`` separated).

    Returns:
        ``(times, values, lines, targets)``: (rows,) seconds, (rows, n) values, the
        1-based line of each row and the target names (header order).

    Raises:
        DataError: no header with a ``time``/``timestamp`` column, no target column,
            missing column, non-numeric or NaN value (file, line and field named).

    Example:
        >>> times, values, lines, targets = read_label_table("a_labels.csv")  # doctest: +SKIP
    """
    path = Path(path)
    rows, _ = read_rows(path, min_fields=2, expected="time;<target>;...")
    if not rows:
        raise DataError("empty label file: expected a header 'time;<target>;...' and rows", path)
    header = [strip_quotes(f, path, rows[0].line, "column name").strip() for f in rows[0].fields]
    low = [h.lower() for h in header]
    time_col = next((low.index(n) for n in _TIME_NAMES if n in low), None)
    if time_col is None:
        raise DataError(
            f"header {header} has no time column: expected a header naming a 'time' or "
            "'timestamp' column (seconds) and target columns",
            path,
            rows[0].line,
        )
    cols = [i for i, h in enumerate(low) if i != time_col and h not in _IGNORED]
    if not cols:
        raise DataError(f"header {header} has no target column", path, rows[0].line)
    targets = tuple(header[i] for i in cols)
    body = rows[1:]
    times = np.empty(len(body))
    values = np.empty((len(body), len(cols)))
    lines = []
    need = max([time_col] + cols) + 1
    for r, row in enumerate(body):
        if len(row.fields) < need:
            raise DataError(
                f"missing column: found {len(row.fields)} field(s), expected {len(header)} "
                f"({';'.join(header)})",
                path,
                row.line,
            )
        times[r] = parse_number(row.fields[time_col], path, row.line, header[time_col])
        for k, c in enumerate(cols):
            values[r, k] = parse_number(row.fields[c], path, row.line, header[c])
        lines.append(row.line)
    return times, values, lines, targets


def _manifest_entries(path: Path) -> list[tuple[int, dict]]:
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        out = []
        for lineno, ln in enumerate(read_text(path).splitlines(), 1):
            if not ln.strip():
                continue
            try:
                obj = json.loads(ln)
            except json.JSONDecodeError as err:
                raise DataError(
                    f"invalid JSON ({err.msg}): expected one object per line with "
                    "'audio' and optional 'labels', 'words', 'turns', 'partition'",
                    path,
                    lineno,
                ) from None
            if not isinstance(obj, dict):
                raise DataError("expected a JSON object per line", path, lineno)
            out.append((lineno, {str(k).lower(): v for k, v in obj.items()}))
        return out
    rows, _ = read_rows(path, min_fields=1, expected="audio;labels;words;partition")
    if not rows:
        return []
    header = [
        strip_quotes(f, path, rows[0].line, "column name").strip().lower() for f in rows[0].fields
    ]
    if "audio" not in header:
        raise DataError(
            f"header {header} has no 'audio' column: expected a header row with columns "
            "audio, labels (optional), words (optional), partition (optional)",
            path,
            rows[0].line,
        )
    out = []
    for row in rows[1:]:
        entry = {}
        for i, h in enumerate(header):
            if i < len(row.fields):
                v = strip_quotes(row.fields[i], path, row.line, h)
                entry[h] = v
        out.append((row.line, entry))
    return out


class ManifestCorpus(Corpus):
    """A corpus described by a manifest (see the module documentation for the format).

    Args:
        path: the manifest (``.csv``/``.tsv``/``.txt`` or ``.jsonl``).
        default_partition: partition of rows without one.

    Raises:
        DataError: a row without audio, a path to a missing file (names the manifest and
            its line), label files with different targets, or any unreadable file.

    Example:
        >>> corpus = ManifestCorpus("manifest.jsonl")  # doctest: +SKIP
    """

    def __init__(self, path, default_partition: str = "train"):
        path = Path(path)
        if not path.is_file():
            raise DataError("manifest not found", path)
        base = path.parent
        recordings = []
        targets = None
        first_labels = None
        for lineno, entry in _manifest_entries(path):

            def _path(key, entry=entry, lineno=lineno):
                v = entry.get(key)
                if v is None or (isinstance(v, str) and not v.strip()):
                    return None
                p = Path(str(v).strip())
                p = p if p.is_absolute() else base / p
                if not p.is_file():
                    raise DataError(
                        f"{key} file {p} not found: expected an existing file (relative paths "
                        "are relative to the manifest)",
                        path,
                        lineno,
                    )
                return p

            apath = _path("audio")
            if apath is None:
                raise DataError("no audio path: expected an 'audio' field", path, lineno)
            lpath, wpath, tpath = _path("labels"), _path("words"), _path("turns")
            name = str(entry.get("name") or "").strip() or apath.stem
            part = str(entry.get("partition") or "").strip() or default_partition
            n_frames = n_frames_for_duration(audio_duration(apath))
            labels = None
            rec_targets = ()
            if lpath is not None:
                times, values, lines, rec_targets = read_label_table(lpath)
                if targets is None:
                    targets, first_labels = rec_targets, lpath
                elif rec_targets != targets:
                    raise DataError(
                        f"targets {rec_targets}: expected {targets} as in {first_labels}",
                        lpath,
                        1,
                    )
                labels = resample_labels(times, values, n_frames, path=lpath, lines=lines)
            words = read_words(wpath) if wpath is not None else []
            turns = read_turns(tpath) if tpath is not None else []
            recordings.append(
                Recording(name, part, apath, lpath, rec_targets, labels, turns, words, n_frames)
            )
        targets = targets or ()
        for rec in recordings:
            if rec.labels is None:
                rec.targets = targets
        super().__init__(recordings, root=base, targets=targets)
        self.manifest = path


def load_manifest(path, default_partition: str = "train") -> ManifestCorpus:
    """Load a generic corpus from a manifest (CSV or JSONL).

    Args:
        path: the manifest file.
        default_partition: partition of rows that name none.

    Returns:
        A :class:`ManifestCorpus` of :class:`~semser_tf.data.corpus.Recording` objects,
        usable with :func:`semser_tf.data.pipeline.make_dataset` like a SEWA corpus.

    Example:
        >>> ds = make_dataset(load_manifest("m.csv"), "train")  # doctest: +SKIP
    """
    return ManifestCorpus(path, default_partition=default_partition)
