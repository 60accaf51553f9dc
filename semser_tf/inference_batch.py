"""Prediction of many recordings at once: lengths bucketed, several recordings per model call.

:meth:`Predictor.predict <semser_tf.inference.Predictor.predict>` runs a file through
windows of ``windows_per_call * sequence_length`` frames (400 frames, 40 s, for the
bundled model), so a 2 s clip costs a 40 s model call. Here the recordings are sorted by
length and each is padded at its end to the smallest of a few bucket lengths
(:func:`bucket_lengths`: powers of two from 8 frames up to that window); the recordings of
one bucket are predicted side by side, ``rows`` of a batch whose shape is fixed per
bucket (a short last batch is filled with rows of zeros). The model therefore sees at most
``len(bucket_lengths(...))`` input shapes, however many files and lengths there are, and a
backend that compiles per shape (XLA, JAX's ``jit``) compiles that many times at most.

Padding changes nothing in a recording's own frames: the front end (the convolutions, the
modality fusion) works on each 100 ms frame on its own and the LSTM is causal, so the zeros
after the end of a recording only reach outputs after its end, which are dropped; the rows
of a batch never mix (each has its own LSTM state). A recording longer than the largest
bucket is predicted in windows of that length with the LSTM state carried from window to
window (:class:`~semser_tf.models.stateful.StatefulRunner`), as ``Predictor.predict``
does: the same rule, so the outputs equal ``predict``'s within float rounding.

The command-line side (``semser predict A.wav B.wav --out DIR``, ``semser predict
FOLDER --out DIR``) is :func:`plan_outputs` (inputs and outputs checked before the model
loads) and :func:`write_predictions`.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import numpy as np

from semser_tf.constants import FRAME_RATE, SAMPLES_PER_FRAME
from semser_tf.errors import ConfigError, DataError

__all__ = [
    "bucket_lengths",
    "plan_batches",
    "per_item",
    "iter_predictions",
    "iter_pretrained",
    "expand_inputs",
    "plan_outputs",
    "write_predictions",
]

SMALLEST_BUCKET = 8
"""Frames of the shortest bucket (0.8 s): shorter recordings are padded to it."""


def bucket_lengths(largest: int, smallest: int = SMALLEST_BUCKET) -> tuple:
    """The padded lengths in frames: ``smallest``, doubled while below ``largest``, and ``largest``.

    >>> bucket_lengths(400)
    (8, 16, 32, 64, 128, 256, 400)
    """
    largest = int(largest)
    out, n = [], int(smallest)
    while n < largest:
        out.append(n)
        n *= 2
    return (*out, largest)


def plan_batches(n_frames, buckets, batch_size: int, frames_per_call: int) -> list:
    """Model calls for recordings of ``n_frames`` frames: ``[(length, rows, [indices])]``.

    A recording goes to the smallest bucket that holds it (the largest for a longer one,
    then predicted in windows of that length); in each bucket the recordings are taken in
    order of length, ``rows`` at a time: ``batch_size`` at most and no more than
    ``frames_per_call`` frames per call (one row at least), fixed per bucket.

    >>> plan_batches([5, 30, 12, 9], (8, 16, 32), batch_size=2, frames_per_call=64)
    [(8, 2, [0]), (16, 2, [3, 2]), (32, 2, [1])]
    """
    groups: dict = {}
    for i in sorted(range(len(n_frames)), key=lambda i: (n_frames[i], i)):
        length = next((b for b in buckets if b >= n_frames[i]), buckets[-1])
        groups.setdefault(length, []).append(i)
    plan = []
    for length in sorted(groups):
        rows = max(1, min(int(batch_size), int(frames_per_call) // length))
        idx = groups[length]
        plan.extend((length, rows, idx[s : s + rows]) for s in range(0, len(idx), rows))
    return plan


def per_item(value, n, what):
    """``value`` as a list of one entry per item (``None`` and functions kept as they are)."""
    if what == "sample_rate" and (value is None or isinstance(value, (int, float, np.number))):
        return [value] * n  # one rate for every array item
    if value is None or callable(value):
        return value
    if isinstance(value, (str, Path)) or not hasattr(value, "__len__") or len(value) != n:
        raise ConfigError(
            f"{what}: expected one entry per item ({n}), or None; got {type(value).__name__}"
            + (f" of length {len(value)}" if hasattr(value, "__len__") else "")
        )
    return list(value)


def _name(audio, i):
    return str(audio) if isinstance(audio, (str, Path)) else f"item {i} (array)"


def iter_predictions(
    predictor,
    items,
    words=None,
    sample_rate=None,
    with_weights=True,
    batch_size=32,
    frames_per_call=None,
    buckets=None,
):
    """Predict many recordings; yields ``(index, Prediction)`` as each batch is done.

    The order is by bucket, not the items' (see :meth:`Predictor.predict_many
    <semser_tf.inference.Predictor.predict_many>` for the arguments and a list in order).
    Every item is opened (a WAV file's header read, another format decoded and its
    samples let go until its batch) before the first model call, so a missing or
    unreadable file fails at once, naming it; memory holds one batch's recordings.

    Args:
        predictor: a :class:`~semser_tf.inference.Predictor`.
        items: paths and/or 1-D arrays.
        words: ``None``, one words argument per item, or a function of the item's index
            giving it (called just before the item is predicted; words recognised
            on demand).
        sample_rate: the rate of the array items (one number, or one per item).
        with_weights: the modality weights of an attention model.
        batch_size: the most recordings per model call.
        frames_per_call: the most frames per model call (default: the window of
            ``Predictor.predict``, ``windows_per_call * sequence_length``, at least 512).
        buckets: the padded lengths (default :func:`bucket_lengths` up to that window).
    """
    from semser_tf.inference_io import (
        Prediction,
        _ArrayStream,
        checked_words,
        frames_of,
        open_audio_stream,
    )
    from semser_tf.models.stateful import StatefulRunner

    if int(batch_size) < 1:
        raise ConfigError(f"batch_size {batch_size}: expected 1 or more recordings per call")
    items = list(items)
    words = per_item(words, len(items), "words")
    rates = per_item(sample_rate, len(items), "sample_rate")
    window = predictor.sequence_length * predictor.windows_per_call
    buckets = tuple(buckets or bucket_lengths(window))
    frames_per_call = int(frames_per_call or max(window, 512))
    streams = []
    for i, audio in enumerate(items):
        try:
            streams.append(open_audio_stream(audio, rates[i]))
        except DataError as err:
            if isinstance(audio, (str, Path)):
                raise
            raise DataError(f"{_name(audio, i)}: {err}") from err
    n_frames = [frames_of(s) for s in streams]
    for i, audio in enumerate(items):
        if isinstance(audio, (str, Path)) and isinstance(streams[i], _ArrayStream):
            streams[i] = None  # a FLAC/MP3/OGG file decoded whole: again when its batch comes
    has_weights = bool(with_weights and predictor._weights_model is not None)
    step = predictor.step_model(has_weights)
    names = predictor.input_names
    spf, model_spf = SAMPLES_PER_FRAME, predictor.samples_per_frame
    n_targets = len(predictor.targets)
    runners: dict = {}
    for length, rows, idx in plan_batches(n_frames, buckets, batch_size, frames_per_call):
        if rows not in runners:
            runners[rows] = StatefulRunner(predictor.model, batch=rows, step_model=step)
        run = runners[rows]
        run.reset()
        semantic = []
        for i in idx:
            if streams[i] is None:
                streams[i] = open_audio_stream(items[i], rates[i])
            given = words(i) if callable(words) else (None if words is None else words[i])
            try:
                used = checked_words(given, streams[i], items[i])
                semantic.append(predictor._semantic(items[i], used, n_frames[i]))
            except DataError as err:
                if isinstance(items[i], (str, Path)) and str(items[i]) in str(err):
                    raise
                raise DataError(f"{_name(items[i], i)}: {err}") from err
        windows = max(math.ceil(n_frames[i] / length) for i in idx)
        values = np.zeros((len(idx), windows * length, n_targets), np.float32)
        weights = np.zeros((len(idx), windows * length, 2), np.float32) if has_weights else None
        for k in range(windows):
            a, b = k * length, (k + 1) * length
            x = {}
            if "waveform" in names:
                wav = np.zeros((rows, length, model_spf), np.float32)
                for r, i in enumerate(idx):
                    if a < n_frames[i]:  # slot 0 of a two-slot frame, as predict
                        wav[r, :, :spf] = streams[i].samples(a * spf, b * spf).reshape(length, spf)
                x["waveform"] = wav
            if "semantic" in names:
                sem = np.zeros((rows, length, predictor.semantic_dim), np.float32)
                for r, part in enumerate(semantic):
                    piece = part[a:b]
                    sem[r, : len(piece)] = piece
                x["semantic"] = sem
            res = run.step(x)
            values[:, a:b] = res["emotion"][: len(idx)]
            if has_weights:
                weights[:, a:b] = res["modality_weights"][: len(idx)]
        for r, i in enumerate(idx):
            n = n_frames[i]
            if isinstance(items[i], (str, Path)) and isinstance(streams[i], _ArrayStream):
                streams[i] = None  # memory flat in the number of files
            yield (
                i,
                Prediction(
                    np.arange(n) / FRAME_RATE,
                    values[r, :n].copy(),
                    predictor.targets,
                    None if weights is None else weights[r, :n].copy(),
                ),
            )


def iter_pretrained(
    model,
    items,
    words=None,
    sample_rate=None,
    mode=None,
    batch_size=32,
    words_from="auto",
    language_model="auto",
    recognizer="auto",
    whisper_model="base",
    recognizer_workers="auto",
):
    """:func:`iter_predictions` with the words of a ``PretrainedModel`` (its
    ``PretrainedModel.iter_predict_many``): an item without words gets them as
    ``PretrainedModel.predict`` does (``model.words``: aligned or recognised), and each
    :class:`~semser_tf.inference.Prediction` carries the ``words`` used and their
    ``words_source``."""
    from semser_tf.data.timings import read_words_arg

    items = list(items)
    given = per_item(words, len(items), "words") or [None] * len(items)
    rates = per_item(sample_rate, len(items), "sample_rate")
    found = {}

    def words_of(i):
        if model.uses_words:
            found[i] = model.words(
                items[i],
                rates[i],
                given[i],
                None,
                words_from,
                language_model,
                recognizer,
                whisper_model,
                recognizer_workers,
            )
        else:  # the words cannot change the prediction: do not recognise
            found[i] = (read_words_arg(given[i]), "file" if given[i] is not None else "none")
        return found[i][0]

    for i, pred in iter_predictions(
        model.predictor(mode), items, words_of, rates, batch_size=batch_size
    ):
        pred.words, pred.words_source = found.pop(i)
        yield i, pred


# ---------------------------------------------------------------- command line


def expand_inputs(paths) -> list:
    """Audio files from command-line arguments: files as given, folders' ``.wav`` files sorted.

    Raises:
        DataError: naming a path that does not exist, or a folder without WAV files.
    """
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() == ".wav" and f.is_file())
            if not found:
                raise DataError("the folder holds no .wav files", p)
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise DataError("audio file or folder not found", p)
    return files


@dataclasses.dataclass
class OutputJob:
    """One input of ``semser predict ... --out DIR`` and the files written for it."""

    audio: Path
    csv: Path
    png: Path | None
    words: Path | None  # the words file read (from --words-dir), if any
    words_out: Path  # where recognised / aligned words go


def plan_outputs(inputs, out_dir, words_dir=None, plot=True, model=None) -> list:
    """The jobs of ``semser predict INPUT... --out DIR``, checked before the model loads.

    ``DIR/STEM.pred.csv`` (and ``DIR/STEM.pred.png`` with ``plot``) per audio file, the
    names the single-file command uses beside its audio; ``--words-dir`` gives
    ``WORDS_DIR/STEM.words.csv`` as the words of an audio file when it exists. The rule of
    the single-file command holds: no output on an input (links resolved), no two outputs
    on one path (two inputs of one stem are refused), a words file that exists and
    differs from the words used is kept (:func:`write_predictions`).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir}: is a file; expected a folder for the predictions")
    if words_dir is not None and not Path(words_dir).is_dir():
        raise DataError("--words-dir: folder not found", words_dir)
    files = expand_inputs(inputs)
    jobs, stems = [], {}
    for audio in files:
        if audio.stem in stems:
            raise ConfigError(
                f"{stems[audio.stem]} and {audio} would both be written as "
                f"{out_dir / (audio.stem + '.pred.csv')}; predict them into two --out folders"
            )
        stems[audio.stem] = audio
        csv = out_dir / f"{audio.stem}.pred.csv"
        words = Path(words_dir) / f"{audio.stem}.words.csv" if words_dir is not None else None
        jobs.append(
            OutputJob(
                audio,
                csv,
                csv.with_suffix(".png") if plot else None,
                words if words is not None and words.is_file() else None,
                out_dir / f"{audio.stem}.words.csv",
            )
        )
    _check_not_inputs(jobs, model)
    return jobs


def _check_not_inputs(jobs, model=None) -> None:
    """:func:`semser_tf.io.check_outputs` for many files at once: no output is an input
    (paths with links resolved, or the same file under another name), no output a folder."""
    import os

    def key(path):
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    inputs = {}
    named = [("--model", model)] + [("AUDIO", j.audio) for j in jobs]
    named += [("--words-dir file", j.words) for j in jobs if j.words is not None]
    for name, path in named:
        if path is not None:
            inputs[os.path.realpath(path)] = (name, path)
            if key(path) is not None:
                inputs[key(path)] = (name, path)
    for j in jobs:
        outs = {"CSV": j.csv, "plot": j.png, "words file": None if j.words else j.words_out}
        for what, out in outs.items():
            if out is None:
                continue
            hit = inputs.get(os.path.realpath(out)) or inputs.get(key(out) or ())
            if hit is not None:
                raise ConfigError(
                    f"{what} {out} is the input {hit[0]} {hit[1]}: refusing to overwrite an "
                    "input; choose another --out folder"
                )
            if out.is_dir():
                raise ConfigError(f"{what} {out}: is a folder; expected a file path")


def write_predictions(model, jobs, args, stderr=None) -> dict:
    """Predict the jobs of :func:`plan_outputs` with a ``PretrainedModel``, writing as it goes.

    ``args`` carries the words options of ``semser predict`` (``words_from``,
    ``language_model``, ``recognizer``, ``whisper_model``, ``recognizer_workers``, ``mode``,
    ``batch_size``).
    Progress goes to ``stderr``, one line per file written. Returns counts and seconds.
    """
    import time

    stderr = stderr or sys.stderr
    t0 = time.time()
    done, frames, words_written = 0, 0, 0
    preds = model.iter_predict_many(
        [j.audio for j in jobs],
        words=[j.words for j in jobs],
        mode=args.mode,
        words_from=args.words_from,
        language_model=args.language_model,
        recognizer=args.recognizer,
        whisper_model=args.whisper_model,
        recognizer_workers=getattr(args, "recognizer_workers", "auto"),
        batch_size=args.batch_size,
    )
    width, plotter = len(str(len(jobs))), None
    try:
        for i, pred in preds:
            job = jobs[i]
            pred.to_csv(job.csv)
            written = [job.csv]
            if pred.words_source in ("asr", "align") and _write_words(
                job.words_out, pred.words, stderr
            ):
                written.append(job.words_out)
                words_written += 1
            if job.png is not None:
                if plotter is None:
                    plotter = FigurePlotter(pred.targets, pred.weights is not None)
                written.append(plotter.plot(job.png, pred, f"{job.audio.name} - {model.name}"))
            done += 1
            frames += len(pred.times)
            print(
                f"[{done:>{width}}/{len(jobs)}] {job.audio}: {len(pred.times) / FRAME_RATE:.1f} s"
                f" ({pred.words_source}, {len(pred.words or ())} words) -> "
                + ", ".join(str(p) for p in written),
                file=stderr,
            )
    finally:
        if plotter is not None:
            plotter.close()
    return {
        "files": done,
        "audio_seconds": frames / FRAME_RATE,
        "seconds": time.time() - t0,
        "words_written": words_written,
    }


def _write_words(path, words, stderr) -> bool:
    from semser_tf.semantic.words import format_words, write_words

    if path.exists() and path.read_text(encoding="utf-8", errors="replace") != format_words(words):
        # a words file of the user's (or an earlier run, perhaps edited): never overwritten
        print(
            f"semser predict: {path} exists and differs from the words used now: kept; "
            f"pass --words-dir {path.parent} to predict from it",
            file=stderr,
        )
        return False
    write_words(path, words)
    return True


class FigurePlotter:
    """The PNG of :meth:`Prediction.plot <semser_tf.inference.Prediction.plot>` (one panel
    per target, the modality weights below), drawn on one figure kept for every file: the
    figure, its axes and layout are made once and only the data change, several times
    cheaper per file than a new figure each."""

    def __init__(self, targets, with_weights):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        self.targets, self.with_weights = tuple(targets), bool(with_weights)
        n_panels = len(self.targets) + (1 if self.with_weights else 0)
        self.fig, axes = plt.subplots(
            n_panels, 1, figsize=(10, 1.9 * n_panels + 0.6), sharex=True, squeeze=False
        )
        self.axes = axes[:, 0]
        self.lines = []
        for ax, target in zip(self.axes, self.targets):
            ax.set_title(target, fontsize=9, loc="left")
            (line,) = ax.plot([0, 1], [0, 0], color="tab:red", lw=1.2, label="prediction")
            self.lines.append(line)
            ax.set_ylim(-1.05, 1.05)
            ax.grid(alpha=0.3)
        self.axes[0].legend(loc="upper right", fontsize=8)
        self.stack = []
        if self.with_weights:
            ax = self.axes[-1]
            self.stack = ax.stackplot(
                [0, 1],
                [0.5, 0.5],
                [0.5, 0.5],
                labels=["paralinguistic", "semantic"],
                colors=["tab:blue", "tab:orange"],
                alpha=0.7,
            )
            ax.set_ylim(0, 1)
            ax.set_title("modality attention weights", fontsize=9, loc="left")
            ax.legend(loc="upper right", fontsize=8)
        self.axes[-1].set_xlabel("time (s)")
        self.title = self.fig.suptitle("", fontsize=10)
        self.fig.tight_layout()

    def plot(self, path, pred, title) -> Path:
        import io

        from semser_tf.io import atomic_write_bytes

        t = np.arange(len(pred.values)) / FRAME_RATE
        for i, line in enumerate(self.lines):
            line.set_data(t, pred.values[:, i])
        if self.with_weights and pred.weights is not None:
            ax = self.axes[-1]
            for poly in self.stack:
                poly.remove()
            w = pred.weights
            self.stack = ax.stackplot(
                t[: len(w)], w[:, 0], w[:, 1], colors=["tab:blue", "tab:orange"], alpha=0.7
            )
        pad = 0.05 * max(t[-1], 0.1)  # matplotlib's default margins of 5 %
        self.axes[0].set_xlim(-pad, t[-1] + pad)
        self.title.set_text(title)
        buf = io.BytesIO()
        self.fig.savefig(buf, format="png", dpi=90)
        return atomic_write_bytes(Path(path), buf.getvalue())

    def close(self):
        import matplotlib.pyplot as plt

        plt.close(self.fig)
