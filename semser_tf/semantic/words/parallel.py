"""Recognition of a long recording on several processes, over contiguous parts cut in pauses.

pocketsphinx's Python binding keeps the GIL while it decodes, so two decoders in two
threads take as long as one (docs/measurements/benchmarks.md, "The recogniser inside the
budget"); separate processes do run side by side. The recording is cut into ``n``
contiguous parts, and each part is decoded in order by a process of its own:

1. The utterances are found as one decoder finds them (:func:`~.asr.speech_segments`:
   pocketsphinx's voice activity detector over the whole recording, its pauses).
2. Cut ``k`` goes in the longest pause between two utterances within
   :data:`PAUSE_SEARCH_SECONDS` of the equal-share point ``k * duration / n``
   (:func:`find_pause`), so no word is cut and every part holds whole utterances.
3. Each worker decodes its part's utterances, the same sample ranges one decoder would
   decode, after the last utterance of the part before (:data:`WARMUP_UTTERANCES`, its
   words discarded), and returns word times in seconds of its part; they are shifted by
   the part's offset and joined in order (:func:`merge_parts`).

The utterances and the decoder's state being one decoder's, so are the words: identical on
two 10-minute files (docs/measurements/benchmarks.md, "The recogniser on both cores"). What
can still differ: a WAV file at another rate than 16 kHz is resampled here with NumPy, in
this process's one-decoder path with TensorFlow; the two differ in the last bit of a few
samples per minute, which can change a word. Cutting elsewhere than between the detector's utterances
moves the utterances after the cut: with pocketsphinx's frame grid and dither seeded by the
utterance's length, an utterance moved by a single sample decodes differently often enough
that a fifth of the part's words changed on the 10-minute file.

Each worker is a fresh Python interpreter (a ``subprocess`` of ``sys.executable``, given
its job on its standard input): it imports NumPy and pocketsphinx, never
TensorFlow (a WAV file is read and resampled there with
:func:`semser_tf.data.audio.resample_numpy`, the TensorFlow resampler's filter), and
nothing of the caller's ``__main__``. (A ``multiprocessing`` "spawn" or "forkserver"
child re-imports the caller's main script, which breaks scripts without an
``if __name__ == "__main__"`` guard; "fork" would copy TensorFlow's threads.) The workers
start while this process scans the recording for its utterances.

Example:
    >>> from semser_tf.semantic.words import recognize
    >>> words = recognize("talk.wav", workers=2)   # doctest: +SKIP
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np

from semser_tf.errors import ConfigError
from semser_tf.types import WordTiming

from .stream import ASR_SAMPLE_RATE, AudioSource, RecognitionError

__all__ = [
    "MAX_AUTO_WORKERS",
    "WARMUP_UTTERANCES",
    "MIN_PARALLEL_SECONDS",
    "PAUSE_SEARCH_SECONDS",
    "check_workers",
    "find_pause",
    "merge_parts",
    "plan_parts",
    "resolve_workers",
    "usable_cpus",
]

MAX_AUTO_WORKERS = 4
"""Most decoder processes ``workers="auto"`` starts (each holds its own decoder, ~60 MB)."""

MIN_PARALLEL_SECONDS = 60.0
"""``workers="auto"`` decodes recordings shorter than this in one process; ``n`` workers
need ``n / 2`` times this. A worker's start costs about 0.4 s of CPU (interpreter, NumPy,
pocketsphinx, the decoder's models; docs/measurements/benchmarks.md, "The recogniser on
both cores") against 0.07 s per second of speech decoded, so on free CPUs two workers pay
off from about 12 s of audio; but a recording of at most ``max_utterance`` (60 s) is one
utterance, which one process decodes."""

WARMUP_UTTERANCES = 1
"""Utterances before its part a worker decodes first, discarding their words: a decoder's
state carries over from one utterance to the next, and the first utterance after a cut
decoded by a fresh decoder can come out differently (seen on two eSpeak NG sentences in
70 s of noise: the second sentence's words changed). After the utterance before it, the
worker's decoder gave one decoder's words there (tests/semantic/test_words_parallel.py)
and on the 10-minute files of docs/measurements/benchmarks.md ("The recogniser on both
cores")."""

PAUSE_SEARCH_SECONDS = 10.0
"""A cut goes in the longest pause within this many seconds of the equal-share point (at
most a quarter of an equal share)."""


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the system has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def check_workers(workers, name: str = "workers"):
    """Validate a worker count: ``"auto"`` or a whole number >= 1 (returned as given).

    Raises:
        ConfigError: anything else, naming ``name`` (the argument or option).
    """
    if isinstance(workers, str) and workers == "auto":
        return workers
    if isinstance(workers, (int, np.integer)) and not isinstance(workers, bool) and workers >= 1:
        return int(workers)
    raise ConfigError(f"{name}={workers!r}: expected 'auto' or a whole number of processes >= 1")


def resolve_workers(workers, seconds: float) -> int:
    """The number of decoder processes for a recording of ``seconds``.

    ``"auto"``: 1 below :data:`MIN_PARALLEL_SECONDS`, else one per usable CPU, at most
    :data:`MAX_AUTO_WORKERS` and ``2 * seconds / MIN_PARALLEL_SECONDS``. A number is kept
    (a part holds at least one utterance: :func:`plan_parts` makes fewer parts when there
    are fewer pauses).

    Example:
        >>> resolve_workers(1, 600.0), resolve_workers("auto", 10.0), resolve_workers(3, 70.0)
        (1, 1, 3)
    """
    workers = check_workers(workers)
    if workers == "auto":
        if seconds < MIN_PARALLEL_SECONDS or not sys.executable:  # embedded: no interpreter
            return 1
        return max(
            1, min(usable_cpus(), MAX_AUTO_WORKERS, int(2 * seconds // MIN_PARALLEL_SECONDS))
        )
    return workers


def find_pause(pauses, target: int, half: int) -> int | None:
    """The pause to cut in: the longest within ``half`` of ``target``.

    Args:
        pauses: ``(start, stop)`` of each pause (samples, in order).
        target: where the cut should be (samples).
        half: how far from ``target`` a pause's middle may lie.

    Returns:
        The index of the longest pause whose middle lies within ``half`` of ``target``
        (equally long ones: the nearest); when none does, the pause nearest ``target``;
        ``None`` without pauses.

    Example:
        >>> find_pause([(100, 110), (180, 230), (300, 400)], 200, 60)
        1
    """
    if not pauses:
        return None
    mids = np.array([(a + b) // 2 for a, b in pauses])
    lengths = np.array([b - a for a, b in pauses])
    dist = np.abs(mids - target)
    near = np.flatnonzero(dist <= half)
    if near.size == 0:
        return int(np.argmin(dist))
    best = near[lengths[near] == lengths[near].max()]
    return int(best[np.argmin(dist[best])])


def plan_parts(ranges, total: int, n: int, search: float = PAUSE_SEARCH_SECONDS):
    """Cut a recording of ``total`` samples, holding the utterances ``ranges`` (in order),
    into at most ``n`` contiguous parts between utterances.

    Cut ``k`` is the middle of the pause :func:`find_pause` picks near ``k * total / n``
    (within ``search`` seconds, at most a quarter of ``total / n``), among the pauses
    after the previous cut.

    Returns:
        ``(start, stop, utterances)`` per part: its samples ``[start, stop)`` (the parts
        cover ``[0, total)``) and the ``ranges`` that lie in it.

    Example:
        >>> plan_parts([(0, 100), (300, 400), (450, 500)], 600, 2)
        [(0, 200, [(0, 100)]), (200, 600, [(300, 400), (450, 500)])]
    """
    ranges = [(int(a), int(b)) for a, b in ranges]
    half = int(min(search * ASR_SAMPLE_RATE, total / (4 * n)))
    cuts, first = [0], [0]  # cut samples, and the first utterance after each
    for k in range(1, n):
        i0 = first[-1] + 1  # a part holds at least one utterance
        pauses = [(ranges[i - 1][1], ranges[i][0]) for i in range(i0, len(ranges))]
        j = find_pause(pauses, k * total // n, half)
        if j is None:
            break
        a, b = pauses[j]
        cuts.append((a + b) // 2)
        first.append(i0 + j)
    cuts.append(total)
    first.append(len(ranges))
    return [(cuts[k], cuts[k + 1], ranges[first[k] : first[k + 1]]) for k in range(len(cuts) - 1)]


def merge_parts(parts, offsets) -> list[WordTiming]:
    """The words of consecutive parts as one list: each part's ``(start, end, word)`` (seconds
    of the part) shifted by its offset (seconds of the recording), parts in order.

    Example:
        >>> merge_parts([[(0.5, 0.75, "a")], [(0.25, 0.5, "b")]], [0.0, 10.0])
        [WordTiming(start=0.5, end=0.75, word='a'), WordTiming(start=10.25, end=10.5, word='b')]
    """
    parts, offsets = list(parts), [float(o) for o in offsets]
    if len(parts) != len(offsets):
        raise ValueError(f"{len(parts)} parts but {len(offsets)} offsets")
    return [
        WordTiming(float(s) + off, float(e) + off, str(w))
        for words, off in zip(parts, offsets)
        for s, e, w in words
    ]


class _PartSource(AudioSource):
    """Samples ``[a, b)`` of another source, numbered from 0; negative positions read the
    source before the part (a worker's warm-up utterances)."""

    def __init__(self, src: AudioSource, a: int, b: int):
        super().__init__(b - a, src.rate, src.path)
        self.src, self.a = src, a

    def read(self, a: int, b: int):
        return self.src.read(self.a + int(a), self.a + min(int(b), self.total))


_BOOT = (
    "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
    "from semser_tf.semantic.words.asr import _worker_main; _worker_main()"
)


def start_workers(n: int, setup: dict) -> list:
    """Start ``n`` worker interpreters; each loads its decoder and then waits for its job."""
    # one thread each: the workers are the parallelism (NumPy's matrix products stay small)
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    procs = []
    try:
        for _ in range(n):
            p = subprocess.Popen(
                [sys.executable, "-c", _BOOT],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
            procs.append(p)
            pickle.dump(list(sys.path), p.stdin)
            pickle.dump(setup, p.stdin)
            p.stdin.flush()
    except BaseException:
        for p in procs:
            p.kill()
            p.wait()
        raise
    return procs


def finish_workers(procs, jobs) -> list:
    """Give each started worker its job (the surplus ones none); their results, in order."""
    for i, p in enumerate(procs):
        pickle.dump(jobs[i] if i < len(jobs) else None, p.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        p.stdin.close()
    results = []
    for job, p in zip(jobs, procs):
        out = p.stdout.read()
        p.wait()
        where = f"{job['start'] / ASR_SAMPLE_RATE:.1f}-{job['stop'] / ASR_SAMPLE_RATE:.1f} s"
        try:
            status, value = pickle.loads(out)
        except Exception:
            raise RecognitionError(
                f"the recogniser's worker process for {where} ended without a result "
                f"(exit status {p.returncode})",
                job["path"],
            ) from None
        if status != "ok":
            raise RecognitionError(f"{where}: {value}", job["path"])
        results.append(value)
    for p in procs[len(jobs) :]:
        p.wait()
    return results
