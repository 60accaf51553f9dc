"""Generate the synthetic corpus: plan the recordings, run them in isolated workers, write.

See ``docs/synthetic_corpus.md``. Two recipes say different things (:data:`RECIPES`):
``real`` (generator version 2.0) speaks real English sentences rated with VADER, with
held-out voices for the Test partition; ``template`` (version 1.0) speaks the built-in
templates and reproduces corpora made before 2.0 byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from semser_tf.constants import FRAME_RATE, SAMPLE_RATE
from semser_tf.data.synthetic.labels import (
    ANNOTATION_LAG_S,
    AROUSAL_SCALE,
    AROUSAL_SIGMA_S,
    LIKING_WEIGHTS,
    NOISE_DBFS,
    SMOOTHING_TAU_S,
    VALENCE_RELAX_TAU_S,
)
from semser_tf.data.synthetic.recording import RECIPES, generate_recording, write_recording
from semser_tf.errors import ConfigError, DataError, SemserError
from semser_tf.io import atomic_write_text, check_replaceable

__all__ = [
    "DEFAULT_TEST_VOICES",
    "DEFAULT_VOICES",
    "GENERATOR_VERSION",
    "GENERATOR_VERSIONS",
    "PARTITIONS",
    "generate_corpus",
    "generate_text_corpus",
    "read_corpus_meta",
]

GENERATOR_VERSIONS = {"real": "2.0", "template": "1.0"}
GENERATOR_VERSION = GENERATOR_VERSIONS["real"]
"""Version of the newest recipe (``real``); ``template`` corpora record ``"1.0"``."""

DEFAULT_VOICES = (
    "en+m1",
    "en+f3",
    "en-us+m3",
    "en-us+f2",
    "en-gb-x-rp+m7",
    "en-gb-scotland+f4",
    "en-029+m2",
    "en-us-nyc+f1",
)
"""eSpeak NG voices (language + variant) used by default, one per recording in turn."""

DEFAULT_TEST_VOICES = (
    "en-gb-x-gbclan+m4",
    "en-gb-x-gbcwmd+f5",
    "en-us+m6",
)
"""Held-out voices of the Test partition (recipe ``real``): their variants (m4, f5, m6) and
two of their accents (Lancastrian, West Midlands) occur in no default Train/Devel voice."""

PARTITIONS = {"Train": 0.6, "Devel": 0.2, "Test": 0.2}
TEST_PARTITION = "Test"


class _Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: float, enabled: bool, width: int = 30):
        self.total, self.enabled, self.width = total, enabled, width
        self.t0 = time.perf_counter()

    def update(self, done: float, note: str = "") -> None:
        if not self.enabled:
            return
        frac = 0.0 if self.total <= 0 else min(1.0, done / self.total)
        bar = "#" * int(round(frac * self.width))
        elapsed = time.perf_counter() - self.t0
        sys.stderr.write(f"\r[{bar:<{self.width}}] {frac * 100:5.1f}% {note} {elapsed:6.1f}s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _plan(minutes: float, recording_seconds: float, partitions: dict) -> list[tuple[str, float]]:
    if not isinstance(partitions, dict) or not partitions:
        raise ConfigError(
            f"partitions must be a non-empty dict of name -> fraction, got {partitions!r}"
        )
    total = sum(partitions.values())
    if any(f < 0 for f in partitions.values()) or total <= 0:
        raise ConfigError(
            f"partition fractions must be >= 0 with a positive sum, got {partitions!r}"
        )
    seconds = minutes * 60.0
    plan = []
    for part, frac in partitions.items():
        if not str(part).isidentifier():
            raise ConfigError(f"partition name {part!r} must be a word such as Train, Devel, Test")
        share = seconds * frac / total
        if share <= 0:
            continue
        count = max(1, int(round(share / recording_seconds)))
        length = max(2.0, share / count)
        digits = max(2, len(str(count)))
        plan.extend((f"{part}_{i + 1:0{digits}d}", length) for i in range(count))
    return plan


def _generate_and_write(job: tuple) -> dict:
    """Worker: generate one recording, write it under ``root``, return its metadata."""
    name, length, voice, entropy, spawn_key, root, lag_s = job[:7]
    recipe = job[7] if len(job) > 7 else "template"
    text_split = job[8] if len(job) > 8 else None
    lexicon = job[9] if len(job) > 9 else None
    seq = np.random.SeedSequence(entropy, spawn_key=tuple(spawn_key))
    rec = generate_recording(
        name, length, voice, seq, lag_s=lag_s, recipe=recipe, text_split=text_split, lexicon=lexicon
    )
    write_recording(rec, root)
    return {
        "voice": voice,
        "seconds": round(len(rec.audio) / SAMPLE_RATE, 6),
        "frames": int(rec.labels.shape[0]),
        "sentences": [s.to_json() for s in rec.sentences],
        "n_words": len(rec.words),
    }


def _run_isolated(work: list, jobs: int):
    """Run ``_generate_and_write`` for each job in a fresh Python process, ``jobs`` at a time.

    Yields the results in job order. The job goes in as JSON on stdin, the result comes
    back as JSON on stdout (``python -m semser_tf.data.synthetic``).
    """
    from concurrent.futures import ThreadPoolExecutor

    root = str(Path(__file__).resolve().parents[3])
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")

    def run(job):
        proc = subprocess.run(
            [sys.executable, "-m", "semser_tf.data.synthetic"],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            env=env,
        )
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise SemserError(
                f"generating recording {job[0]} failed (exit {proc.returncode}):\n{tail}"
            )
        return json.loads(proc.stdout)

    with ThreadPoolExecutor(max_workers=max(1, min(int(jobs), len(work)))) as pool:
        futures = [pool.submit(run, job) for job in work]
        try:
            for fut in futures:
                yield fut.result()
        finally:
            for fut in futures:
                fut.cancel()


def generate_corpus(
    out_dir,
    minutes: float = 10.0,
    seed: int = 0,
    voices=None,
    recording_seconds: float = 60.0,
    partitions=None,
    progress: bool = True,
    overwrite: bool = False,
    lag_s: float = ANNOTATION_LAG_S,
    jobs: int = 1,
    recipe: str = "template",
    test_voices=None,
    held_out_text: bool = False,
    lexicon=None,
) -> Path:
    """Generate a synthetic SEWA-layout corpus of ``minutes`` of speech.

    The corpus is built in a temporary folder next to ``out_dir`` and renamed to
    ``out_dir`` when complete, so an interrupted run leaves no partial corpus.

    Args:
        out_dir: destination folder; must not exist (or be empty) unless ``overwrite``.
        minutes: total audio length in minutes, split over the partitions.
        seed: random seed; the same seed gives byte-identical files.
        voices: eSpeak NG voices (default :data:`DEFAULT_VOICES`), assigned to the
            recordings in turn (recipe ``real``: the recordings outside Test).
        recording_seconds: approximate length of each recording (at least 2 s).
        partitions: name -> fraction (default Train 0.6, Devel 0.2, Test 0.2).
        progress: draw a progress bar on stderr.
        overwrite: replace an existing ``out_dir``.
        lag_s: annotation delay of the labels in seconds.
        jobs: worker processes. Each recording is made in a fresh process (eSpeak NG
            carries state from one synthesis to the next, so this is what makes the
            audio reproducible); ``jobs`` of them run at a time.
        recipe: ``"real"`` (real English sentences rated with VADER, version 2.0) or
            ``"template"`` (the built-in templates, version 1.0: the same seed gives the
            same files as before version 2.0). The default stays ``"template"`` for
            existing callers; ``semser synth`` defaults to ``"real"``.
        test_voices: voices of the Test partition's recordings, in turn. Default: for
            ``real``, :data:`DEFAULT_TEST_VOICES` (never used in Train/Devel by default);
            for ``template``, the same rotation over ``voices`` as before 2.0.
        held_out_text: recipe ``real`` only: Test speaks only the units of every fifth
            source document (``real.HELD_OUT_EVERY``), the other partitions never do, so
            no Test sentence occurs in Train/Devel (default False: all partitions draw
            from the whole pool).
        lexicon: recipe ``real`` only: a word-rating file (TSV/CSV, read with
            :func:`semser_tf.data.lexicon.load_lexicon`: word in column 0, rating in
            column 1, divided by the largest absolute rating) instead of VADER.

    Returns:
        The corpus folder.

    Raises:
        ConfigError: bad sizes, partitions, recipe or voices; ``out_dir`` exists.

    Example:
        >>> generate_corpus("corpora/synth", minutes=2, seed=0)  # doctest: +SKIP
        PosixPath('corpora/synth')
    """
    from semser_tf.data import espeak

    out_dir = Path(out_dir)
    if not (isinstance(minutes, (int, float)) and minutes > 0):
        raise ConfigError(f"minutes must be a positive number, got {minutes!r}")
    if not (isinstance(recording_seconds, (int, float)) and recording_seconds >= 2.0):
        raise ConfigError(f"recording_seconds must be at least 2, got {recording_seconds!r}")
    partitions = dict(PARTITIONS if partitions is None else partitions)
    if recipe not in RECIPES:
        raise ConfigError(f"recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
    voices = list(DEFAULT_VOICES if voices is None else voices)
    if not voices:
        raise ConfigError("voices must name at least one eSpeak NG voice")
    if test_voices is None and recipe == "real":
        test_voices = DEFAULT_TEST_VOICES
    test_voices = None if test_voices is None else list(test_voices)
    if test_voices is not None and not test_voices:
        raise ConfigError("test_voices must name at least one eSpeak NG voice (or be None)")
    for v in voices + (test_voices or []):  # fail before any work on an unknown voice
        espeak.synthesize("a", voice=v)
    if (held_out_text or lexicon is not None) and recipe != "real":
        raise ConfigError("held_out_text and lexicon apply to recipe 'real' only")
    lex = None
    if lexicon is not None:
        from semser_tf.data.lexicon import load_lexicon

        lexicon = str(Path(lexicon).resolve())
        lex = load_lexicon(lexicon)  # a bad file fails here, before any work
    if recipe == "real":
        from semser_tf.data.synthetic.real import sentence_pool

        pool_summary = sentence_pool(lex).summary()  # fails early if gensim's data are missing
    if not (isinstance(lag_s, (int, float)) and 0 <= lag_s < 3600):
        raise ConfigError(f"lag_s (--lag) must be a delay of 0 s or more, got {lag_s!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs (--jobs) must be a positive integer, got {jobs!r}")
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: is a file; expected a folder for the corpus (or a new path)")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise ConfigError(
            f"{out_dir}: output folder exists and is not empty (pass overwrite=True, or --overwrite)"
        )
    if overwrite:  # only a corpus this generator wrote is replaced
        check_replaceable(out_dir, "corpus", option="overwrite=True (--overwrite)")
    plan = _plan(float(minutes), float(recording_seconds), partitions)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=str(out_dir.parent))
    )
    bar = _Progress(sum(length for _, length in plan), progress)
    try:
        root_seq = np.random.SeedSequence(int(seed))
        assigned = _assign_voices(plan, voices, test_voices)
        work = [
            (name, length, voice, root_seq.entropy, list(child.spawn_key), str(tmp), lag_s)
            + (
                ()
                if recipe == "template"
                else (
                    recipe,
                    (
                        ("test" if _partition(name) == TEST_PARTITION else "train")
                        if held_out_text
                        else None
                    ),
                    lexicon,
                )
            )
            for (name, length), voice, child in zip(plan, assigned, root_seq.spawn(len(plan)))
        ]
        records = {}
        done = 0.0
        counts = {"sentences": 0, "words": 0, "audio_seconds": 0.0}
        t0 = time.perf_counter()
        for i, info in enumerate(_run_isolated(work, jobs)):
            name, length = plan[i]
            counts["sentences"] += len(info["sentences"])
            counts["words"] += info.pop("n_words")
            counts["audio_seconds"] += info["seconds"]
            records[name] = info
            done += length
            bar.update(done, f"{i + 1}/{len(plan)} recordings")
        elapsed = time.perf_counter() - t0
        bar.close()
        meta = {
            "format": "SEWA (AVEC 2017) layout with words/",
            "generator": "semser_tf.data.synthetic",
            "generator_version": GENERATOR_VERSIONS[recipe],
            "seed": int(seed),
            "minutes": float(minutes),
            "recording_seconds": float(recording_seconds),
            "partitions": {p: [n for n, _ in plan if _partition(n) == p] for p in partitions},
            "voices": voices,
            "sample_rate": SAMPLE_RATE,
            "frame_rate": FRAME_RATE,
            "targets": ["arousal", "valence", "liking"],
            "labels": {
                "annotation_lag_s": lag_s,
                "smoothing_tau_s": SMOOTHING_TAU_S,
                "valence_relax_tau_s": VALENCE_RELAX_TAU_S,
                "liking": f"{LIKING_WEIGHTS[0]} * valence + {LIKING_WEIGHTS[1]} * arousal",
                "arousal": f"tanh(c + {AROUSAL_SCALE} z), z unit-variance Gaussian-smoothed noise "
                f"(sigma {AROUSAL_SIGMA_S} s), c ~ U(-0.2, 0.2)",
                "prosody": "rate = 170 + 50 a, pitch = 50 + 25 a, pitch_range = 50 + 40 a, volume = 100 + 40 a",
            },
            "noise_dbfs": NOISE_DBFS,
            "lexicon": _lexicon_meta(recipe, lex, lexicon),
            "sizes": {
                "recordings": len(plan),
                "audio_seconds": round(counts["audio_seconds"], 3),
                "sentences": counts["sentences"],
                "words": counts["words"],
            },
            "recordings": records,
        }
        if recipe != "template":  # keys of 2.0 (template corpora keep the 1.0 layout)
            meta["recipe"] = recipe
            meta["sentence_pool"] = pool_summary
            meta["held_out_text"] = bool(held_out_text)
        if test_voices is not None:
            meta["test_voices"] = test_voices
            others = {v for (n, _), v in zip(plan, assigned) if _partition(n) != TEST_PARTITION}
            meta["test_voices_held_out"] = not set(test_voices) & others
        atomic_write_text(tmp / "corpus.json", json.dumps(meta, indent=1, sort_keys=True) + "\n")
        if out_dir.exists():
            if out_dir.is_dir() and not any(out_dir.iterdir()):
                out_dir.rmdir()
            elif overwrite:
                shutil.rmtree(out_dir)
            else:  # appeared meanwhile
                raise ConfigError(
                    f"{out_dir}: output folder exists and is not empty (pass overwrite=True, or --overwrite)"
                )
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if progress:
        speed = counts["audio_seconds"] / max(elapsed, 1e-9)
        print(
            f"{out_dir}: {len(plan)} recordings, {counts['audio_seconds'] / 60:.2f} min of audio "
            f"in {elapsed:.1f} s ({speed:.0f} audio s per s)",
            file=sys.stderr,
        )
    return out_dir


def _partition(name: str) -> str:
    return name.rsplit("_", 1)[0]


def _assign_voices(plan, voices: list, test_voices) -> list:
    """The voice of each planned recording.

    Without ``test_voices`` every recording takes the next of ``voices`` in plan order
    (the 1.0 behaviour). With them, Test recordings take ``test_voices`` in turn and
    the others ``voices`` in turn, each rotation counted on its own.
    """
    if test_voices is None:
        return [voices[i % len(voices)] for i in range(len(plan))]
    out, n_test, n_other = [], 0, 0
    for name, _ in plan:
        if _partition(name) == TEST_PARTITION:
            out.append(test_voices[n_test % len(test_voices)])
            n_test += 1
        else:
            out.append(voices[n_other % len(voices)])
            n_other += 1
    return out


def _lexicon_meta(recipe: str, lex=None, path=None) -> dict:
    if recipe == "template":
        from semser_tf.data.synthetic.template import lexicon_sizes

        return lexicon_sizes()
    from semser_tf.data.lexicon import VADER_SCALE, load_vader

    if lex is None:
        lex = load_vader()
        info = {
            "source": "vaderSentiment's vader_lexicon.txt (MIT), alphabetic tokens",
            "valence": f"mean rating / {VADER_SCALE:g}",
        }
    else:  # the file's name and checksum, not its path
        import hashlib

        info = {
            "source": "user file",
            "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
            "valence": "rating / largest absolute rating",
        }
    values = np.array(list(lex.ratings.values()))
    return dict(
        info,
        name=lex.name,
        rated_words=len(lex),
        positive=int(np.sum(values > 0)),
        negative=int(np.sum(values < 0)),
    )


def generate_text_corpus(
    path, sentences: int = 20000, seed: int = 0, recipe: str = "template"
) -> Path:
    """Background text for Word2Vec: the analogue of the paper's external text corpus.

    The paper trains Word2Vec on a large text collection (German SWC wiki text), not on
    the emotion corpus's transcripts.

    * ``recipe="template"`` (the 1.0 text, unchanged for a seed): the template
      transcripts alone cannot give word vectors that carry sentiment, since their
      templates put positive and negative words in the same slots (measured:
      nearest-centroid polarity accuracy of such vectors is chance, 0.49). Each line is
      two or three template sentences sharing one strong mood (+1 or -1) joined by
      "and", so sentiment words co-occur with words of the same polarity.
    * ``recipe="real"``: each line is one unit of the real recipe's sentence pool, drawn
      as in the corpus for a mood of +1 or -1 per line (so, as in natural text, words of
      one polarity share contexts), with its evaluative adjectives swapped by that mood.

    Args:
        path: the text file to write (UTF-8, one sentence per line), atomically.
        sentences: number of lines.
        seed: random seed (independent of the corpus's speech).
        recipe: ``"template"`` or ``"real"``.

    Returns:
        The path.

    Example:
        >>> generate_text_corpus("/tmp/background.txt", sentences=10, recipe="real")  # doctest: +SKIP
    """
    rng = np.random.default_rng([seed, 7919])
    if recipe == "template":
        from semser_tf.data.synthetic.template import template_text_lines

        lines = template_text_lines(rng, sentences)
    elif recipe == "real":
        from semser_tf.data.synthetic.real import real_text_lines

        lines = real_text_lines(rng, sentences)
    else:
        raise ConfigError(f"recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def read_corpus_meta(root) -> dict:
    """Read ``corpus.json`` of a generated corpus.

    Args:
        root: the corpus folder.

    Returns:
        The parsed metadata.

    Raises:
        DataError: missing or not valid JSON.

    Example:
        >>> read_corpus_meta("corpora/synth")["seed"]  # doctest: +SKIP
        0
    """
    path = Path(root) / "corpus.json"
    if not path.is_file():
        raise DataError("no corpus.json: not a generated corpus", path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"corpus.json is not valid JSON: {err.msg}", path, err.lineno) from err
