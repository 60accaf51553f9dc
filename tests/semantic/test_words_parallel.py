"""Recognition on several processes over contiguous parts cut in pauses (issue 21).

References: hand-computed cut positions on synthetic signals with known silent stretches,
hand-computed shifted times, the one-decoder recognition of the same eSpeak NG speech,
and the TensorFlow resampler for its NumPy twin.
"""

import numpy as np
import pytest

from semser_tf.errors import ConfigError
from semser_tf.semantic.words import parallel
from semser_tf.semantic.words.parallel import (
    check_workers,
    find_pause,
    merge_parts,
    plan_parts,
    resolve_workers,
)
from semser_tf.types import WordTiming

SR16 = 16000
SR = 22050


def _tone_with_silences(seconds, silences):
    """A 440 Hz tone at amplitude 0.1 (-23 dBFS) with exact zeros over ``silences`` (s)."""
    t = np.arange(int(seconds * SR16)) / SR16
    x = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for a, b in silences:
        x[int(a * SR16) : int(b * SR16)] = 0.0
    return x


# -- the pause finder -------------------------------------------------------------------


def test_find_pause_hand_computed():
    # middles 195, 245, 800: the first two lie within 100 of 200; the longer (30 against
    # 10) wins although it is farther; the longest of all (200) lies outside
    assert find_pause([(190, 200), (230, 260), (700, 900)], 200, 100) == 1
    # equally long (20): the nearer middle (230 against 160)
    assert find_pause([(150, 170), (220, 240)], 200, 100) == 1
    # none within reach: the nearest (middles 15 and 945: 385 and 545 from 400)
    assert find_pause([(10, 20), (900, 990)], 400, 5) == 0
    assert find_pause([], 500, 5) is None


def test_plan_parts_hand_computed():
    r = [(0, 100), (300, 400), (450, 500), (800, 900)]
    # two parts of 1000 samples: target 500, reach 1000 / 8 = 125; pause middles 200, 425,
    # 650: only 425 is within reach -> cut at 425
    assert plan_parts(r, 1000, 2) == [(0, 425, r[:2]), (425, 1000, r[2:])]
    # three: reach 83; target 333: no middle within reach, the nearest is 425; target 666:
    # of the pauses after that cut, 650 (16 away)
    assert plan_parts(r, 1000, 3) == [(0, 425, r[:2]), (425, 650, r[2:3]), (650, 1000, r[3:])]
    # more parts than pauses: as many parts as there are utterances
    assert plan_parts(r[:2], 1000, 4) == [(0, 200, r[:1]), (200, 1000, r[1:2])]
    assert plan_parts([(0, 100)], 1000, 2) == [(0, 1000, [(0, 100)])]


def test_cut_lands_in_the_longest_silence_near_the_equal_share():
    # 70 s of tone (the voice activity detector takes it for speech) with silences; the
    # equal share is 35 s, the reach 70 / 8 = 8.75 s. Within it: 31.0-31.6 s (too short to
    # part two utterances once padded) and 34.0-35.5 s; the 5 s silence at 50-55 s lies
    # outside. The cut is the middle of the detector's pause in 34.0-35.5 s, whose
    # edges are padded alike, so about 34.75 s.
    pytest.importorskip("pocketsphinx")
    from semser_tf.semantic.words.asr import speech_segments

    silences = [(5.0, 6.0), (20.0, 21.0), (31.0, 31.6), (34.0, 35.5), (38.0, 38.4), (50.0, 55.0)]
    x = _tone_with_silences(70.0, silences)
    ranges, _ = speech_segments(x)
    parts = plan_parts(ranges, len(x), 2)
    assert len(parts) == 2
    cut = parts[0][1] / SR16
    assert 34.0 < cut < 35.5 and abs(cut - 34.75) < 0.15, cut
    # every utterance lies wholly in one part, the parts hold them all, in order
    assert [u for p in parts for u in p[2]] == ranges
    for start, stop, utterances in parts:
        assert all(start <= a < b <= stop for a, b in utterances)


# -- merging the parts' words -----------------------------------------------------------


def test_merge_shifts_each_part_by_its_offset_in_order():
    parts = [
        [(0.0, 0.25, "a"), (0.5, 1.0, "b")],
        [],  # a part with no words (a silent stretch)
        [(0.125, 0.375, "c"), (2.0, 2.5, "d")],
    ]
    merged = merge_parts(parts, [0.0, 12.5, 20.0])
    assert merged == [
        WordTiming(0.0, 0.25, "a"),
        WordTiming(0.5, 1.0, "b"),
        WordTiming(20.125, 20.375, "c"),
        WordTiming(22.0, 22.5, "d"),
    ]
    with pytest.raises(ValueError, match="3 parts but 2 offsets"):
        merge_parts(parts, [0.0, 1.0])


# -- how many workers, and bad values ---------------------------------------------------


def test_workers_auto_and_explicit(monkeypatch):
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 2)
    assert resolve_workers("auto", 10.0) == 1  # short: one process
    assert resolve_workers("auto", 600.0) == 2  # one per CPU
    assert resolve_workers(1, 600.0) == 1
    assert resolve_workers(3, 600.0) == 3  # an explicit number is kept
    assert resolve_workers(8, 3.5) == 8  # (plan_parts makes fewer parts without pauses)
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 16)
    assert resolve_workers("auto", 600.0) == parallel.MAX_AUTO_WORKERS == 4
    # n workers need n / 2 times MIN_PARALLEL_SECONDS: 1.5 times it allows 3
    assert resolve_workers("auto", 1.5 * parallel.MIN_PARALLEL_SECONDS) == 3


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", "many", True, None])
def test_bad_workers_are_refused_naming_the_argument(bad):
    with pytest.raises(ConfigError, match=r"workers=.*expected 'auto' or a whole number"):
        check_workers(bad)
    from semser_tf.semantic.words import WordSource, recognize

    with pytest.raises(ConfigError, match="workers="):
        WordSource(workers=bad)
    with pytest.raises(ConfigError, match="workers="):  # before the audio is read
        recognize("no-such-file.wav", workers=bad)


def test_workers_with_whisper_refused():
    from semser_tf.semantic.words import WordSource

    with pytest.raises(ConfigError, match="'pocketsphinx' only"):
        WordSource(recognizer="whisper", workers=2)


@pytest.mark.parametrize("command", [["predict", "a.wav"], ["words", "recognize", "a.wav"]])
@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_cli_bad_recognizer_workers_names_the_option(command, bad, capsys):
    from semser_tf.cli import build_parser

    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([*command, "--recognizer-workers", bad])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--recognizer-workers" in err and "whole number" in err and repr(bad) in err


def test_cli_recognizer_workers_with_whisper_refused_naming_the_option():
    import argparse

    from semser_tf.cli.words import check_recognizer_workers

    args = argparse.Namespace(recognizer="whisper", language_model="auto", recognizer_workers=2)
    with pytest.raises(ConfigError, match="--recognizer-workers 2 applies to pocketsphinx only"):
        check_recognizer_workers(args)
    check_recognizer_workers(argparse.Namespace(**{**vars(args), "recognizer_workers": "auto"}))


def test_word_source_cache_key_names_the_workers():
    from semser_tf.semantic.words import WordSource

    one, auto, two = WordSource(workers=1), WordSource(), WordSource(workers=2)
    # one decoder keeps the key of the versions before parallel decoding
    assert one.cache_key == f"{one.name}:utt=60:fail=raise:lm=default"
    assert auto.cache_key == one.cache_key + ":workers=auto"
    assert two.cache_key == one.cache_key + ":workers=2"


@pytest.mark.parametrize("command", [["predict", "a.wav"], ["words", "recognize", "a.wav"]])
def test_cli_recognizer_workers_values(command):
    from semser_tf.cli import build_parser

    p = build_parser()
    assert p.parse_args(command).recognizer_workers == "auto"
    assert p.parse_args([*command, "--recognizer-workers", "3"]).recognizer_workers == 3
    assert p.parse_args([*command, "--recognizer-workers", "AUTO"]).recognizer_workers == "auto"


# -- the workers' resampler -------------------------------------------------------------


def test_numpy_resampler_matches_the_tensorflow_one():
    from semser_tf.data.audio import resample, resample_numpy

    x = np.random.default_rng(0).uniform(-0.5, 0.5, 3 * SR).astype(np.float32)
    y, z = resample(x, SR, SR16), resample_numpy(x, SR, SR16)
    assert z.dtype == np.float32 and len(z) == len(y) == 48_000
    np.testing.assert_allclose(z, y, atol=2e-6)


# -- recognition on two processes against one decoder -----------------------------------


@pytest.fixture(scope="module")
def two_sentences_wav(tmp_path_factory):
    """70 s of quiet noise (-70 dBFS) with one eSpeak NG sentence near 10 s and one near 50 s:
    longer than one 60 s utterance, so one decoder cuts it at its pauses too; the equal-share
    point (35 s) lies in the 35 s pause between them. Written at 16 kHz, so this process and
    the workers decode the same samples (at another rate they resample with TensorFlow and
    NumPy, which differ in the last bit of a few samples per minute, and pocketsphinx can
    hear a sentence differently for that)."""
    pytest.importorskip("pocketsphinx")
    pytest.importorskip("espeakng_loader")
    from semser_tf.data.audio import resample, save_wav
    from semser_tf.data.espeak import synthesize

    rng = np.random.default_rng(0)
    x = (10 ** (-70 / 20) * rng.standard_normal(70 * SR16)).astype(np.float32)
    for t0, text in (
        (10.0, "the weather today was wonderful and warm"),
        (50.0, "we walked along the river before dinner"),
    ):
        audio, _ = synthesize(text, voice="en-us")
        audio = resample(audio, SR, SR16)
        x[int(t0 * SR16) : int(t0 * SR16) + len(audio)] += audio
    return save_wav(tmp_path_factory.mktemp("parallel") / "two.wav", x, SR16), x


def test_two_workers_give_the_words_of_one_decoder(two_sentences_wav, monkeypatch):
    from semser_tf.semantic.words import asr, recognize
    from semser_tf.semantic.words.asr import speech_segments
    from semser_tf.semantic.words.stream import open_source

    # a fresh decoder here, as in the workers (this process's cached one carries state
    # from whatever other tests decoded before, which can move a boundary by a frame)
    monkeypatch.setattr(asr, "_decoders", {})
    path, _ = two_sentences_wav
    src = open_source(path)
    cut = plan_parts(speech_segments(src)[0], src.total, 2)[0][1] / SR16
    assert 14.0 < cut < 50.0  # in the pause
    one = recognize(path, workers=1)
    two = recognize(path, workers=2)
    assert len(one) >= 6
    assert [w.word for w in two] == [w.word for w in one]
    # the same times (up to the rounding of the part's offset added back)
    assert max(max(abs(a.start - b.start), abs(a.end - b.end)) for a, b in zip(one, two)) < 1e-9
    assert any(w.start > cut for w in two) and any(w.end < cut for w in two)
    # an array's parts are sent to the workers as samples (the file's samples: the 16-bit
    # file is not the float array it was written from)
    arr = recognize(src.read(0, src.total), SR16, workers=2)
    assert [w.word for w in arr] == [w.word for w in one]


def test_a_worker_failure_is_reported(two_sentences_wav, tmp_path):
    from semser_tf.semantic.words import RecognitionError, recognize

    bad_lm = tmp_path / "bad.arpa"
    bad_lm.write_text("not a language model\n")
    with pytest.raises(RecognitionError, match="cannot load this language model"):
        recognize(two_sentences_wav[0], workers=2, language_model=bad_lm)
    with pytest.raises(RecognitionError, match="not found"):
        recognize(two_sentences_wav[0], workers=2, language_model=tmp_path / "missing.arpa")


@pytest.mark.slow
def test_two_workers_are_faster_on_a_long_recording(tmp_path):
    # throughput floor: 3 minutes of eSpeak NG speech (real English), the general model.
    # The workers' CPU is bounded always; the wall-clock gain only on free CPUs (on a
    # shared machine the kernel's fair share per session can leave one core's worth).
    import os
    import resource
    import time

    from semser_tf.data.audio import save_wav
    from semser_tf.data.synthetic import generate_recording
    from semser_tf.semantic.words import recognize

    if parallel.usable_cpus() < 2:
        pytest.skip("one CPU: two decoder processes cannot run side by side")
    rec = generate_recording("Test_01", 180, "en-us+m3", 11, recipe="real", text_split="test")
    path = save_wav(tmp_path / "talk.wav", rec.audio)
    recognize(path, workers=1)  # warm-up: the decoder, TensorFlow's resampler
    idle = os.getloadavg()[0] < parallel.usable_cpus() - 1.5
    c, t = time.process_time(), time.perf_counter()
    one = recognize(path, workers=1)
    c1, t1 = time.process_time() - c, time.perf_counter() - t
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    two = recognize(path, workers=2)
    t2 = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    c2 = after.ru_utime + after.ru_stime - kids.ru_utime - kids.ru_stime
    assert abs(len(two) - len(one)) <= 0.02 * len(one)
    assert c2 < 1.3 * c1 + 1.5, (c1, c2)  # the split adds little work
    if idle and os.getloadavg()[0] < parallel.usable_cpus() - 1.0:
        assert t2 < 0.75 * t1, (t1, t2)
