"""``semser stream``: a real-time PCM pipe, a WAV file, and bad input."""

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.inference.conftest import speechlike

ROOT = Path(__file__).resolve().parents[2]

WRITER = r"""
import sys, time
import numpy as np
from tests.inference.conftest import speechlike
x = (speechlike(2.05, seed=7) * 32767).astype("<i2").tobytes()  # 20 chunks + 50 ms
step = 2205 * 2
t0 = time.time()
for k, i in enumerate(range(0, len(x), step)):
    delay = t0 + k * 0.1 - time.time()
    if delay > 0:
        time.sleep(delay)
    if k == 0:
        open(sys.argv[1], "w").write(repr(time.time()))
    sys.stdout.buffer.write(x[i:i + step]); sys.stdout.buffer.flush()
"""


def _env():
    return dict(
        os.environ,
        PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        TF_CPP_MIN_LOG_LEVEL="2",
    )


def test_realtime_pipe_first_prediction_and_partial_last_chunk(tmp_path):
    """A writer process sends 100 ms of s16le PCM every 100 ms: the first prediction comes
    within 300 ms of the first chunk; at the end of the pipe every frame is written (the
    last, partial one padded with zeros) and the command exits 0."""
    stamp = tmp_path / "first_chunk"
    r, w = os.pipe()
    semser = subprocess.Popen(
        [sys.executable, "-m", "semser_tf.cli", "stream", "-", "--offline"],
        stdin=r,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=_env(),
    )
    os.close(r)
    for line in semser.stderr:  # wait until the model is loaded and traced
        if line.startswith(b"semser stream: ready"):  # not TensorFlow's "already registered"
            break
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(stamp)], stdout=w, cwd=ROOT, env=_env()
    )
    os.close(w)
    first = semser.stdout.readline()
    t_first = time.time()
    rest = semser.stdout.read().splitlines()
    assert writer.wait(30) == 0 and semser.wait(30) == 0, semser.stderr.read()
    latency = t_first - float(stamp.read_text())
    print(f"first prediction {latency * 1000:.0f} ms after the first chunk")
    assert latency < 0.3
    rows = [json.loads(x) for x in [first, *rest]]
    assert [r["time"] for r in rows] == [round(0.1 * k, 1) for k in range(21)]
    assert set(rows[0]) == {
        "time",
        "arousal",
        "valence",
        "liking",
        "w_paralinguistic",
        "w_semantic",
    }
    assert all(abs(r["w_paralinguistic"] + r["w_semantic"] - 1) < 1e-4 for r in rows)


def test_wav_source_csv_equals_predict(tmp_path, capsys):
    import semser_tf
    from semser_tf.cli import main
    from semser_tf.data.audio import save_wav

    path = save_wav(tmp_path / "a.wav", speechlike(3.33, rate=16000, seed=2), 16000)
    assert main(["stream", str(path), "--csv", "--offline", "--chunk-ms", "200"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "time,arousal,valence,liking,w_paralinguistic,w_semantic"
    got = np.array([[float(v) for v in x.split(",")] for x in lines[1:]])
    ref = semser_tf.load_pretrained(offline=True, progress=False).predict(path, words_from="none")
    assert got.shape == (34, 6)
    np.testing.assert_allclose(got[:, 0], ref.times, atol=1e-9)
    np.testing.assert_allclose(got[:, 1:4], ref.values, atol=1.5e-5)  # 5 decimals written
    np.testing.assert_allclose(got[:, 4:], ref.weights, atol=1.5e-5)


def test_odd_byte_count_ends_with_an_error_after_the_complete_frames():
    from semser_tf.cli.stream import pcm_chunks
    from semser_tf.errors import DataError

    data = np.arange(2205 * 2, dtype="<i2").tobytes() + b"\x01"
    gen = pcm_chunks(io.BytesIO(data), 22050, 100, "s16le")
    first = next(gen)
    np.testing.assert_allclose(first, np.arange(2205) / 32768.0)
    with pytest.raises(
        DataError, match=r"1 byte\(s\) of an incomplete sample: --format s16le has 2-byte"
    ):
        list(gen)
    f32 = np.linspace(-1, 1, 3000, dtype="<f4")
    chunks = list(pcm_chunks(io.BytesIO(f32.tobytes()), 22050, 100, "f32le"))
    assert [len(c) for c in chunks] == [2205, 795]
    np.testing.assert_array_equal(np.concatenate(chunks), f32)


@pytest.mark.parametrize(
    "argv,message",
    [
        (
            ["stream", "-", "--chunk-ms", "150"],
            "--chunk-ms 150: expected a positive multiple of 100",
        ),
        (["stream", "-", "--chunk-ms", "0"], "--chunk-ms 0: expected a positive multiple of 100"),
        (["stream", "-", "--rate", "11025"], "--rate 11025: expected a positive multiple of 10 Hz"),
        (["stream"], "give a SOURCE"),
        (["stream", "missing.wav"], "missing.wav: audio file not found"),
    ],
)
def test_bad_options_are_clear_errors(argv, message, capsys):
    from semser_tf.cli import main

    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_unknown_format_names_the_option(capsys):
    from semser_tf.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["stream", "-", "--format", "u8"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--format" in err and "s16le" in err and "f32le" in err


def test_mic_without_sounddevice_names_the_package(capsys, monkeypatch):
    from semser_tf.cli import main

    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails as when not installed
    assert main(["stream", "--mic"]) == 2
    assert "--mic needs the optional 'sounddevice' package" in capsys.readouterr().err


@pytest.mark.slow  # a second fresh process (12 s here); the real-time pipe test stays in the fast suite
def test_reader_closing_the_output_pipe_ends_quietly(tmp_path):
    """``semser stream - | head -1``: the reader goes away after one line; exit 0, no traceback."""
    pcm = tmp_path / "a.raw"
    pcm.write_bytes((speechlike(20.0) * 32767).astype("<i2").tobytes())
    with open(pcm, "rb") as stdin:
        semser = subprocess.Popen(
            [sys.executable, "-m", "semser_tf.cli", "stream", "-", "--offline"],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env=_env(),
        )
        assert json.loads(semser.stdout.readline())["time"] == 0.0
        semser.stdout.close()
        assert semser.wait(60) == 0
    assert b"Traceback" not in semser.stderr.read()


def test_wav_with_words_at_realtime_pace(tmp_path, capsys):
    """--words: the stream equals predict with the same words file; --realtime reads the
    file at its own pace (1.5 s of audio takes at least 1.5 s)."""
    import semser_tf
    from semser_tf.cli import main
    from semser_tf.data.audio import save_wav

    m = semser_tf.load_pretrained(offline=True, progress=False)
    vocab = list(m.embeddings.words)[:3]
    path = save_wav(tmp_path / "w.wav", speechlike(1.5, seed=5), 22050)
    words = tmp_path / "w.csv"
    words.write_text(f"0.1;0.5;{vocab[0]}\n0.6;1.0;{vocab[1]}\n1.1;1.4;{vocab[2]}\n")
    t = time.perf_counter()
    assert main(["stream", str(path), "--words", str(words), "--realtime", "--offline"]) == 0
    elapsed = time.perf_counter() - t
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    ref = m.predict(path, words=words)
    assert ref.words_source == "file" and len(rows) == 15
    got = np.array([[r[t] for t in ref.targets] for r in rows])
    np.testing.assert_allclose(got, ref.values, atol=1.5e-5)
    nowords = m.predict(path, words_from="none").values
    assert np.abs(nowords - ref.values).max() > 1e-3  # the words do reach the stream
    assert elapsed >= 1.5


def test_words_recognised_live_reach_the_model(tmp_path, capsys):
    """--words-from asr: the recogniser's words (Whisper where installed) give the frames of
    speech a semantic input: the predictions there differ from the voice-alone stream,
    while the leading silence, before any word, is predicted as without words."""
    pytest.importorskip("espeakng_loader")
    from semser_tf.cli import main
    from semser_tf.data.audio import save_wav
    from semser_tf.data.espeak import synthesize

    speech, _ = synthesize("what a wonderful and happy day it was", voice="en-us")
    x = np.concatenate([np.zeros(11025, np.float32), speech, np.zeros(22050, np.float32)])
    path = save_wav(tmp_path / "s.wav", x, 22050)

    def run(*extra):
        assert main(["stream", str(path), "--csv", "--offline", *extra]) == 0
        return np.array(
            [
                [float(v) for v in line.split(",")]
                for line in capsys.readouterr().out.splitlines()[1:]
            ]
        )

    live, alone = run("--words-from", "asr", "--delay", "2"), run()
    assert live.shape == alone.shape == (-(-len(x) // 2205), 6)
    speaking = (live[:, 0] >= 0.6) & (live[:, 0] < 0.5 + len(speech) / 22050)
    assert np.abs(live[speaking, 2] - alone[speaking, 2]).max() > 0.05  # valence moved by the words
    assert np.abs(live[:5, 1:4] - alone[:5, 1:4]).max() < 1e-4  # the leading silence: no words yet
