"""Fixtures of the data tests."""

import wave
from pathlib import Path

import numpy as np
import pytest

# --------------------------------------------------------------------------- loader fixtures
# Tiny SEWA-layout corpora written with the `wave` module and NumPy, with labels that are
# known exactly (no speech synthesis needed).


def write_wav(path, audio, sample_rate=22050):
    """Write float audio in [-1, 1) as 16-bit PCM mono; return the int16 samples."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.clip(np.round(np.asarray(audio) * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(sample_rate)
        wf.writeframes(pcm.tobytes())
    return pcm


def write_text(path, text, encoding="utf-8"):
    """Write text exactly as given (line ends included)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def label_values(t):
    """The fixture's label function: arousal, valence, liking at time t (seconds)."""
    t = np.asarray(t, dtype=np.float64)
    return np.stack(
        [0.01 * np.round(t * 10), -0.02 * np.round(t * 10), np.sin(np.round(t * 10))], -1
    )


LOADER_TURNS = {"Train_01": [(1.0, 2.5), (4.0, 5.05)], "Train_02": [(0.0, 0.75)]}


@pytest.fixture
def loader_corpus(tmp_path):
    """A 4-recording SEWA-layout corpus with known labels, in several file dialects.

    Train_01: 73 frames + 1000 samples (74 frames, last partial); labels for every frame,
    rows shuffled, no header, ';'. Train_02: exactly 50 frames; labels from 0.5 s only,
    header, ',', CRLF, trailing blank lines. Devel_01: 3 s at 16 kHz. Test_01: no labels.

    Returns a dict: root, samples (name -> int16 array of 22050 Hz files), turns.
    """
    root = tmp_path / "sewa"
    rng = np.random.default_rng(7)
    samples = {}
    specs = {"Train_01": 73 * 2205 + 1000, "Train_02": 50 * 2205, "Test_01": 2 * 22050}
    for name, n in specs.items():
        samples[name] = write_wav(root / "audio" / f"{name}.wav", rng.uniform(-0.5, 0.5, n))
    write_wav(root / "audio" / "Devel_01.wav", rng.uniform(-0.5, 0.5, 3 * 16000), 16000)

    # Train_01: every frame, shuffled rows, no header, ';'
    times = np.arange(74) / 10.0
    vals = label_values(times)
    order = rng.permutation(74)
    lines = [
        f"Train_01;{times[i]:.2f};{vals[i, 0]:.6f};{vals[i, 1]:.6f};{vals[i, 2]:.6f}" for i in order
    ]
    write_text(root / "labels" / "Train_01.csv", "\n".join(lines) + "\n")
    # Train_02: first timestamp 0.5, header, ',', CRLF, trailing blank lines
    times = np.arange(5, 50) / 10.0
    vals = label_values(times)
    lines = ["name,time,arousal,valence,liking"] + [
        f"Train_02,{t:.1f},{v[0]:.6f},{v[1]:.6f},{v[2]:.6f}" for t, v in zip(times, vals)
    ]
    write_text(root / "labels" / "Train_02.csv", "\r\n".join(lines) + "\r\n\r\n\r\n")
    times = np.arange(30) / 10.0
    vals = label_values(times)
    write_text(
        root / "labels" / "Devel_01.csv",
        "".join(f"Devel_01;{t:.1f};{v[0]};{v[1]};{v[2]}\n" for t, v in zip(times, vals)),
    )
    for name, turns in LOADER_TURNS.items():
        write_text(root / "turns" / f"{name}.csv", "".join(f"{a};{b}\n" for a, b in turns))
    write_text(
        root / "transcriptions" / "Train_01.csv",
        "1.0;2.5;'Hallo <laughter> schön, ja'\n4.0;5.0;'<filler> genau'\n",
    )
    write_text(root / "words" / "Train_02.csv", "start;end;word\n0.0;0.3;Grüß\n0.3;0.7;'Gott'\n")
    return {"root": root, "samples": samples, "turns": LOADER_TURNS}


# --------------------------------------------------------------------------- synthetic corpus
# A real-speech corpus from the eSpeak NG generator: one ~15 s recording per partition.

TINY_CORPUS = dict(
    minutes=0.75,
    seed=123,
    recording_seconds=15.0,
    partitions={"Train": 1.0, "Devel": 1.0, "Test": 1.0},
)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """Path of a generated SEWA-layout corpus: Train_01, Devel_01, Test_01 (15 s each).

    Made by ``semser_tf.data.synthetic.generate_corpus(**TINY_CORPUS)`` once per session
    (well under a second); it has labels for all three and ``words/``. Do not modify it.
    """
    from semser_tf.data.synthetic import generate_corpus

    out = tmp_path_factory.mktemp("synthetic") / "tiny"
    return generate_corpus(out, progress=False, **TINY_CORPUS)
