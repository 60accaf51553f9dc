"""The tf.data pipeline against NumPy readings of the fixture files."""

import csv
import math
import os
import warnings
import wave

import numpy as np
import pytest

from semser_tf.data.pipeline import (
    FrameFeatures,
    ZeroFrameFeatures,
    build_cache,
    dataset_for_model,
    frames_from_audio,
    make_dataset,
    window_index,
)
from semser_tf.data.sewa import SEWACorpus
from semser_tf.errors import ConfigError, DataError

SPF = 2205


def read_wav_numpy(path):
    with wave.open(str(path), "rb") as wf:
        assert wf.getsampwidth() == 2 and wf.getnchannels() == 1
        return np.frombuffer(wf.readframes(wf.getnframes()), "<i2").astype(np.float32) / 32768.0


def read_label_file(path):
    """Rows (time, [a, v, l]) read with the csv module, independent of the loader."""
    text = path.read_text()
    delim = ";" if ";" in text.splitlines()[0] else ","
    out = []
    for row in csv.reader(text.splitlines(), delimiter=delim):
        if not row or row[1] == "time":
            continue
        out.append((float(row[1]), [float(v) for v in row[2:5]]))
    return out


def collect(ds):
    xs, ys, ws = [], [], []
    for x, y, w in ds:
        xs.append(x["waveform"].numpy())
        ys.append(y.numpy())
        ws.append(w.numpy())
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)


@pytest.fixture
def corpus(loader_corpus):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SEWACorpus(loader_corpus["root"])


def test_round_trip_frames_labels_mask_every_frame_once(corpus, loader_corpus, tmp_path):
    T = 20
    ds = make_dataset(
        corpus, "Train", sequence_length=T, batch_size=3, cache_dir=tmp_path / "c", progress=False
    )
    wav, tgt, wts = collect(ds)
    root = loader_corpus["root"]
    k = 0
    for name in ("Train_01", "Train_02"):
        audio = read_wav_numpy(root / "audio" / f"{name}.wav")
        n = math.ceil(len(audio) / SPF)
        n_win = math.ceil(n / T)
        w = wav[k : k + n_win].reshape(n_win * T, SPF)
        y = tgt[k : k + n_win].reshape(n_win * T, 3)
        m = wts[k : k + n_win].reshape(n_win * T)
        k += n_win
        # waveform: frame i == samples [i*2205, (i+1)*2205), zero padded
        padded = np.zeros(n_win * T * SPF, np.float32)
        padded[: len(audio)] = audio
        np.testing.assert_array_equal(w.reshape(-1), padded)
        # labels: by timestamp, from the file
        expected_w = np.zeros(n_win * T, np.float32)
        for t, vals in read_label_file(root / "labels" / f"{name}.csv"):
            i = int(round(t * 10))
            np.testing.assert_allclose(y[i], vals, atol=1e-6)
            expected_w[i] = 1.0
        np.testing.assert_array_equal(m, expected_w)
        assert m[n:].sum() == 0 and np.all(y[n:] == 0)  # padded tail masked
        assert np.all(y[m == 0] == 0)
    assert k == len(wav)  # nothing else: every frame once


def test_first_timestamp_not_zero_leaves_leading_frames_unweighted(corpus, tmp_path):
    rec = corpus["Train_02"]
    assert np.isnan(rec.labels[:5]).all() and not np.isnan(rec.labels[5:]).any()
    ds = make_dataset(
        corpus, "Train", sequence_length=50, batch_size=10, cache_dir=tmp_path, progress=False
    )
    _, y, w = collect(ds)
    # Train_01 has 74 frames -> 2 windows; Train_02 is the third window
    assert w[2, :5].sum() == 0 and w[2, 5:].sum() == 45
    np.testing.assert_allclose(y[2, 5, 0], 0.05, atol=1e-6)


def test_overlapping_windows(corpus, loader_corpus, tmp_path):
    T, hop = 20, 7
    ds = make_dataset(
        corpus,
        "Train",
        sequence_length=T,
        hop=hop,
        batch_size=4,
        cache_dir=tmp_path,
        progress=False,
    )
    wav, _, wts = collect(ds)
    audio = read_wav_numpy(loader_corpus["root"] / "audio" / "Train_01.wav")
    n = math.ceil(len(audio) / SPF)
    padded = np.zeros((n + T) * SPF, np.float32)
    padded[: len(audio)] = audio
    frames = padded.reshape(-1, SPF)
    starts = list(range(0, n, hop))
    starts = starts[: next(i for i, s in enumerate(starts) if s + T >= n) + 1]
    assert starts[-1] + T >= n and starts[-2] + T < n
    for j, s in enumerate(starts):
        np.testing.assert_array_equal(wav[j], frames[s : s + T])
        np.testing.assert_array_equal(wts[j], (np.arange(s, s + T) < n).astype(np.float32))
    np.testing.assert_array_equal(wav[1][: T - hop], wav[0][hop:])  # overlap
    index = window_index(corpus, "Train", T, hop, cache_dir=tmp_path)
    assert [s for name, s, _ in index if name == "Train_01"] == starts


@pytest.mark.parametrize("delay", [3, -2])
def test_delay_shifts_labels(corpus, tmp_path, delay):
    T = 40
    kw = dict(sequence_length=T, batch_size=8, cache_dir=tmp_path, progress=False)
    _, y0, w0 = collect(make_dataset(corpus, "Train", **kw))
    _, y1, w1 = collect(make_dataset(corpus, "Train", delay_frames=delay, **kw))
    n = 74  # Train_01: windows 0 and 1
    base_y = y0[:2].reshape(-1, 3)[:n]
    base_w = w0[:2].reshape(-1)[:n]
    got_y = y1[:2].reshape(-1, 3)[:n]
    got_w = w1[:2].reshape(-1)[:n]
    for t in range(n):
        src = t + delay
        if 0 <= src < n:
            np.testing.assert_array_equal(got_y[t], base_y[src])
            assert got_w[t] == base_w[src]
        else:
            assert got_w[t] == 0


def test_speaker_slots_follow_turns(corpus, loader_corpus, tmp_path):
    T = 80
    ds = make_dataset(
        corpus,
        "Train",
        sequence_length=T,
        batch_size=1,
        speaker_slots=True,
        cache_dir=tmp_path,
        progress=False,
    )
    wav, _, _ = collect(ds)
    assert wav.shape[-1] == 2 * SPF
    audio = read_wav_numpy(loader_corpus["root"] / "audio" / "Train_01.wav")
    turns = loader_corpus["turns"]["Train_01"]
    w = wav[0]
    for i in range(74):
        frame = np.zeros(SPF, np.float32)
        chunk = audio[i * SPF : (i + 1) * SPF]
        frame[: len(chunk)] = chunk
        centre = (i + 0.5) * 0.1
        speaks = any(a <= centre < b for a, b in turns)
        if speaks:
            np.testing.assert_array_equal(w[i, :SPF], frame)
            assert not w[i, SPF:].any()
        else:
            np.testing.assert_array_equal(w[i, SPF:], frame)
            assert not w[i, :SPF].any()
    assert sum(any(a <= (i + 0.5) / 10 < b for a, b in turns) for i in range(74)) == 15 + 10


def test_shuffle_is_seeded_and_covers_the_same_windows(corpus, tmp_path):
    kw = dict(sequence_length=10, batch_size=4, cache_dir=tmp_path, progress=False)
    ref, _, _ = collect(make_dataset(corpus, "Train", **kw))
    a, _, _ = collect(make_dataset(corpus, "Train", shuffle=True, seed=3, **kw))
    b, _, _ = collect(make_dataset(corpus, "Train", shuffle=True, seed=3, **kw))
    np.testing.assert_array_equal(a, b)
    key = lambda arr: sorted(arr.reshape(len(arr), -1)[:, :50].sum(1).round(4).tolist())  # noqa: E731
    assert key(a) == key(ref)
    assert not np.array_equal(a, ref)


def test_unlabelled_test_partition(corpus, tmp_path):
    ds = make_dataset(
        corpus, "Test", sequence_length=30, batch_size=2, cache_dir=tmp_path, progress=False
    )
    _, y, w = collect(ds)
    assert y.shape == (1, 30, 3) and not y.any()
    np.testing.assert_array_equal(w[0], (np.arange(30) < 20).astype(np.float32))


def test_element_spec_and_semantic_features(corpus, tmp_path):
    class Ramp:
        dim = 4
        cache_key = "ramp-v1"

        def __call__(self, recording, n_frames):
            return np.tile(np.arange(n_frames, dtype=np.float32)[:, None], (1, self.dim))

    assert isinstance(Ramp(), FrameFeatures)
    ds = make_dataset(
        corpus,
        "Devel",
        sequence_length=25,
        batch_size=2,
        frame_features=Ramp(),
        cache_dir=tmp_path,
        drop_remainder=True,
        progress=False,
    )
    x_spec, y_spec, w_spec = ds.element_spec
    assert x_spec["waveform"].shape.as_list() == [2, 25, SPF]
    assert x_spec["semantic"].shape.as_list() == [2, 25, 4]
    assert y_spec.shape.as_list() == [2, 25, 3] and w_spec.shape.as_list() == [2, 25]
    x, _, _ = next(iter(ds))
    np.testing.assert_array_equal(
        x["semantic"].numpy()[1, :, 0], np.r_[np.arange(25, 30), np.zeros(20)]
    )


def test_cache_reused_and_rebuilt_on_change(corpus, loader_corpus, tmp_path):
    first = build_cache(corpus, "Train", cache_dir=tmp_path, progress=False)
    stamps = [p.stat().st_mtime_ns for p in first]
    again = build_cache(corpus, "Train", cache_dir=tmp_path, progress=False)
    assert again == first and [p.stat().st_mtime_ns for p in again] == stamps
    other = build_cache(corpus, "Train", ZeroFrameFeatures(8), cache_dir=tmp_path, progress=False)
    assert set(other).isdisjoint(first)
    audio = loader_corpus["root"] / "audio" / "Train_01.wav"
    st = audio.stat()
    os.utime(audio, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    changed = build_cache(corpus, "Train", cache_dir=tmp_path, progress=False)
    assert changed[0] != first[0] and changed[1] == first[1]


def test_failed_build_leaves_no_partial_shard(corpus, tmp_path):
    class Failing:
        dim = 3
        cache_key = "failing"

        def __call__(self, recording, n_frames):
            if recording.name == "Train_02":
                raise RuntimeError("feature extractor broke")
            return np.zeros((n_frames, 3), np.float32)

    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="broke"):
        make_dataset(corpus, "Train", frame_features=Failing(), cache_dir=cache, progress=False)
    names = sorted(p.name for p in cache.iterdir())
    assert len(names) == 1 and names[0].startswith("Train_01-") and names[0].endswith(".tfrecord")
    # a stale temporary of a dead process is removed on the next build
    stale = cache / f".{names[0]}.tmp.999999999"
    stale.write_bytes(b"partial")
    build_cache(corpus, "Train", cache_dir=cache, progress=False)
    assert not stale.exists()
    assert not [p for p in cache.iterdir() if ".tmp." in p.name]


def test_bad_options(corpus, tmp_path):
    with pytest.raises(ConfigError, match="sequence_length"):
        make_dataset(corpus, "Train", sequence_length=0, cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="dim"):
        make_dataset(corpus, "Train", frame_features=lambda r, n: None, cache_dir=tmp_path)


def test_frames_from_audio():
    x = np.arange(5000, dtype=np.float32)
    f = frames_from_audio(x)
    assert f.shape == (3, SPF)
    np.testing.assert_array_equal(f[1], x[SPF : 2 * SPF])
    np.testing.assert_array_equal(f[2, : 5000 - 2 * SPF], x[2 * SPF :])
    assert not f[2, 5000 - 2 * SPF :].any()
    assert frames_from_audio(x, 1).shape == (1, SPF)
    assert frames_from_audio(x, 4)[3].sum() == 0


def test_dataset_for_model(corpus, tmp_path):
    import keras

    inp = keras.Input((None, SPF), name="waveform")
    model = keras.Model(inp, keras.layers.Dense(3)(inp))
    ds = make_dataset(
        corpus, "Devel", sequence_length=10, batch_size=2, cache_dir=tmp_path, progress=False
    )
    x, y, w = next(iter(dataset_for_model(ds, model)))
    assert x.shape == (2, 10, SPF) and y.shape == (2, 10, 3)
    with pytest.raises(ConfigError, match="inputs"):
        other = keras.Input((None, 5), name="mfcc")
        dataset_for_model(ds, keras.Model(other, other))


def test_changed_labels_rebuild_and_vanished_audio_is_reported(loader_corpus, tmp_path):
    root = loader_corpus["root"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = build_cache(SEWACorpus(root), "Devel", cache_dir=tmp_path, progress=False)
        text = (
            (root / "labels" / "Devel_01.csv")
            .read_text()
            .replace("Devel_01;0.0;0.0;", "Devel_01;0.0;0.5;")
        )
        (root / "labels" / "Devel_01.csv").write_text(text)
        corpus = SEWACorpus(root)
    after = build_cache(corpus, "Devel", cache_dir=tmp_path, progress=False)
    assert after != before
    _, y, _ = collect(
        make_dataset(corpus, "Devel", sequence_length=30, cache_dir=tmp_path, progress=False)
    )
    assert y[0, 0, 0] == 0.5
    (root / "audio" / "Devel_01.wav").unlink()
    with pytest.raises(DataError, match="Devel_01.wav: audio file not found"):
        build_cache(corpus, "Devel", cache_dir=tmp_path / "other", progress=False)


def test_generated_corpus_round_trip(request, tmp_path):
    """The synthetic generator's SEWA layout (quoted names, words/) loads without warnings."""
    try:
        root = request.getfixturevalue("tiny_corpus")
    except pytest.FixtureLookupError:
        pytest.skip("tiny_corpus fixture not available")
    import json

    meta = json.loads((root / "corpus.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # word timings come from words/, no fallback
        corpus = SEWACorpus(root)
    rec = corpus.recordings("Train")[0]
    assert len(rec.words) > 0
    audio = read_wav_numpy(root / "audio" / f"{rec.name}.wav")
    frames = math.ceil(len(audio) / SPF)
    assert abs(meta["recordings"][rec.name]["frames"] - frames) <= 1
    ds = make_dataset(
        corpus, "Train", sequence_length=frames, batch_size=1, cache_dir=tmp_path, progress=False
    )
    wav, y, w = collect(ds)
    assert wav.shape[0] == 1
    rows = read_label_file(root / "labels" / f"{rec.name}.csv")
    assert len(rows) in (frames, frames + 1)
    for t, vals in rows:
        i = int(round(t * 10))
        if i < frames:
            np.testing.assert_allclose(y[0, i], vals, atol=1e-6)
    np.testing.assert_array_equal(wav[0].reshape(-1)[: len(audio)], audio)
