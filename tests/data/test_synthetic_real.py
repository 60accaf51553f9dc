"""The real-language recipe of the synthetic corpus (generator 2.0).

Word ratings are checked against VADER's file parsed here, labels against a
recomputation in plain NumPy from corpus.json's per-sentence ground truth, files with
plain Python, and the corpus with the project's SEWA reader.
"""

import argparse
import filecmp
import json
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from semser_tf.cli.data import register
from semser_tf.data import synthetic
from semser_tf.data.synthetic import real
from semser_tf.errors import ConfigError

REAL_CORPUS = dict(
    minutes=1.0,
    seed=5,
    recording_seconds=10.0,
    partitions={"Train": 0.5, "Devel": 0.25, "Test": 0.25},
    recipe="real",
)


def _vader_ratings():
    """Alphabetic VADER tokens -> mean / 4, parsed here (later lines win)."""
    import vaderSentiment

    out = {}
    path = Path(vaderSentiment.__file__).parent / "vader_lexicon.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        token, mean = line.split("\t")[:2]
        if token.isalpha():
            out[token.lower()] = float(mean) / 4.0
    return out


@pytest.fixture(scope="module")
def real_corpus(tmp_path_factory):
    """Train_01-03, Devel_01-02, Test_01-02 of about 8.6 s each (a few seconds to make)."""
    return synthetic.generate_corpus(
        tmp_path_factory.mktemp("real") / "c", progress=False, **REAL_CORPUS
    )


# --------------------------------------------------------------------------- sentences, no audio


def test_spell_number_and_chunking():
    assert real.spell_number(0) == "zero" and real.spell_number(40) == "forty"
    assert real.spell_number(117) == "one hundred seventeen"
    assert real.spell_number(21_000) == "twenty one thousand"
    assert (
        real.spell_number(1905) == "nineteen o five"
        and real.spell_number(1900) == "one thousand nine hundred"
    )
    assert real.chunk_sentence("Yes, he said.") == []  # 3 words: too short
    assert real.chunk_sentence("We don't know, he said.") == [
        ["we", "do", "not", "know", "he", "said"]
    ]
    assert real.chunk_sentence("The 3 men weren't hurt, police said.") == [
        ["the", "three", "men", "were", "not", "hurt", "police", "said"]
    ]
    assert real.chunk_sentence("Australia's team won the match easily today") == []  # a possessive
    long = " ".join(f"w{c}" for c in "abcdefghij").replace("w", "")  # 'a b c ... j'
    units = real.chunk_sentence(f"{long} {long}, {long}.")
    assert [len(u) for u in units] == [20, 10]


def test_pool_is_real_english_with_thousands_of_words():
    pool = real.sentence_pool()
    assert len(pool) > 2500
    vocab = Counter(w for ws in pool.words for w in ws)
    assert len(vocab) > 5000
    assert all(real.MIN_WORDS <= len(ws) <= real.MAX_WORDS for ws in pool.words)
    assert all(re.fullmatch("[a-z]+", w) for w in vocab)
    assert {"the", "government", "police", "film", "said"} <= set(vocab)
    assert set(s.split(":")[0] for s in pool.sources) == {name for name, _, _ in real.SOURCES}
    # the unit's sentiment is the mean VADER rating of its rated words (recomputed here)
    vader = _vader_ratings()
    for i in range(0, len(pool), 97):
        rated = [vader[w] for w in pool.words[i] if vader.get(w, 0.0) != 0.0]
        assert pool.sentiments[i] == pytest.approx(np.mean(rated) if rated else 0.0), pool.words[i]


def test_generator_vocabulary_in_the_thousands_and_mood_sets_sentiment():
    gen = real.RealSentences()
    rng = np.random.default_rng(0)
    vader = _vader_ratings()
    words, means = Counter(), {}
    for mood in (-0.8, 0.8):
        gen.used[:] = False
        scores = []
        for _ in range(600):
            text, info = gen.next(rng, mood)
            ws = text.split()
            assert real.MIN_WORDS <= len(ws) <= real.MAX_WORDS
            words.update(ws)
            rated = [vader[w] for w in ws if vader.get(w, 0.0) != 0.0]
            scores.append(np.mean(rated) if rated else 0.0)
            assert info["source"] in gen.pool.sources
        means[mood] = float(np.mean(scores))
    assert len(words) > 3000
    assert means[0.8] > 0.15 and means[-0.8] < -0.15
    # Zipf-like: the most frequent word is far more frequent than the 100th
    counts = sorted(words.values(), reverse=True)
    assert counts[0] > 20 * counts[99]


def test_swapped_adjectives_keep_polarity_with_the_mood():
    gen = real.RealSentences()
    rng = np.random.default_rng(1)
    pos, neg = set(real.ADJECTIVES_POSITIVE), set(real.ADJECTIVES_NEGATIVE)
    swapped = {1.0: Counter(), -1.0: Counter()}
    for mood in (1.0, -1.0):
        gen.used[:] = False
        for _ in range(1500):
            text, info = gen.next(rng, mood)
            if "original" in info:
                for new, old in zip(text.split(), info["original"].split()):
                    if new != old and new not in ("a", "an"):
                        swapped[mood][
                            "pos" if new in pos else "neg" if new in neg else "other"
                        ] += 1
    # mood +1: p(positive) = 0.7, p(negative) = 0; mood -1 the reverse
    assert swapped[1.0]["pos"] > 10 and swapped[1.0]["neg"] == 0 and swapped[1.0]["other"] == 0
    assert swapped[-1.0]["neg"] > 10 and swapped[-1.0]["pos"] == 0 and swapped[-1.0]["other"] == 0


def test_held_out_text_split():
    pool = real.sentence_pool()
    held = pool.held_out()
    docs = {}
    for src, d, h in zip(pool.sources, pool.documents, held):
        docs.setdefault((src.split(":")[0], d), set()).add(bool(h))
    assert all(len(v) == 1 for v in docs.values())  # a document is held out whole
    assert all(v == {d % 5 == 0} for (_, d), v in docs.items())
    assert 0.15 < held.mean() < 0.25
    rng = np.random.default_rng(3)
    for split, allowed in (
        ("test", set(np.flatnonzero(held))),
        ("train", set(np.flatnonzero(~held))),
    ):
        gen = real.RealSentences(split=split)
        drawn = {pool.sources.index(gen.next(rng, m)[1]["source"]) for m in np.linspace(-1, 1, 700)}
        assert drawn <= allowed and len(drawn) > 300
    with pytest.raises(ConfigError, match="split"):
        real.RealSentences(split="devel")


def test_real_background_text(tmp_path):
    path = synthetic.generate_text_corpus(tmp_path / "bg.txt", sentences=300, seed=2, recipe="real")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 300 and all(4 <= len(line.split()) <= 20 for line in lines)
    assert len({w for line in lines for w in line.split()}) > 1000
    again = synthetic.generate_text_corpus(
        tmp_path / "bg2.txt", sentences=300, seed=2, recipe="real"
    )
    assert again.read_bytes() == path.read_bytes()
    with pytest.raises(ConfigError, match="recipe"):
        synthetic.generate_text_corpus(tmp_path / "x.txt", sentences=3, recipe="nope")


# --------------------------------------------------------------------------- the corpus


def test_real_corpus_meta_and_held_out_voices(real_corpus):
    meta = json.loads((Path(real_corpus) / "corpus.json").read_text())
    assert (
        meta["generator_version"] == "2.0" == synthetic.GENERATOR_VERSION
        and meta["recipe"] == "real"
    )
    assert meta["partitions"] == {
        "Train": ["Train_01", "Train_02", "Train_03"],
        "Devel": ["Devel_01", "Devel_02"],
        "Test": ["Test_01", "Test_02"],
    }
    used = {name: rec["voice"] for name, rec in meta["recordings"].items()}
    test_voices = {v for n, v in used.items() if n.startswith("Test_")}
    other_voices = {v for n, v in used.items() if not n.startswith("Test_")}
    assert (
        test_voices == {"en-gb-x-gbclan+m4", "en-gb-x-gbcwmd+f5"} and not test_voices & other_voices
    )
    assert other_voices == {"en+m1", "en+f3", "en-us+m3", "en-us+f2", "en-gb-x-rp+m7"}
    assert (
        meta["test_voices"] == list(synthetic.DEFAULT_TEST_VOICES)
        and meta["test_voices_held_out"] is True
    )
    # no default Test voice shares its variant with a default Train/Devel voice
    variants = lambda vs: {v.split("+")[1] for v in vs}  # noqa: E731
    assert not variants(synthetic.DEFAULT_TEST_VOICES) & variants(synthetic.DEFAULT_VOICES)
    assert meta["lexicon"]["name"] == "vader" and meta["lexicon"]["rated_words"] == 7209
    assert meta["sentence_pool"]["units"] > 2500
    assert sorted(meta["sentence_pool"]["source_sha256"]) == sorted(f for _, f, _ in real.SOURCES)


def test_corpus_statistics(real_corpus):
    """The docs' figures, against counts made here from the words/ files."""
    from semser_tf.data.synthetic.stats import corpus_statistics, zipf_slope

    counts = Counter(
        line.split(";")[2]
        for p in sorted((Path(real_corpus) / "words").iterdir())
        for line in p.read_text().splitlines()
    )
    stats = corpus_statistics(real_corpus, window_s=2.0)
    assert stats["tokens"] == sum(counts.values()) and stats["vocabulary"] == len(counts)
    assert stats["words_5plus"] == sum(1 for c in counts.values() if c >= 5)
    # a pure power law n_r = C r^-a has slope -a exactly
    assert zipf_slope([1e6 * r**-1.3 for r in range(1, 200)]) == pytest.approx(-1.3)
    labels = np.concatenate(
        [
            [float(line.split(";")[3]) for line in p.read_text().splitlines()]
            for p in sorted((Path(real_corpus) / "labels").iterdir())
        ]
    )
    assert stats["valence_std"] == pytest.approx(labels.std(), abs=1e-4)
    # 2 s windows ending at least the 2 s lag before the end: 4 in each 10 s recording, 2 in each 7.5 s one
    assert stats["windows"] == 3 * 4 + 4 * 2 and -1 <= stats["valence_vs_ratings_r"] <= 1


def test_real_corpus_read_by_sewa_reader(real_corpus):
    from semser_tf.data.sewa import SEWACorpus

    meta = json.loads((Path(real_corpus) / "corpus.json").read_text())
    recs = {r.name: r for r in SEWACorpus(real_corpus).recordings()}
    assert sorted(recs) == sorted(meta["recordings"])
    for name, rec in recs.items():
        sentences = meta["recordings"][name]["sentences"]
        assert [w.word for w in rec.words] == " ".join(s["text"] for s in sentences).split()
        assert rec.labels.shape == (meta["recordings"][name]["frames"], 3)
        assert np.all(np.abs(rec.labels) <= 1.0)


def _recompute_valence(sentences, n_frames, lag_s=2.0, tau_s=0.5, relax_s=2.0):
    """The documented label recipe, written out again: running mean of the non-zero word
    ratings from each rated word's onset frame to the sentence's end frame, relaxing to 0
    elsewhere, then a first-order low-pass and the annotation delay."""
    target = [None] * n_frames
    for s in sentences:
        total = count = 0
        end = min(n_frames, math.ceil(s["end"] * 10))
        for start, r in zip(s["word_starts"], s["word_sentiments"]):
            if r != 0:
                total, count = total + r, count + 1
                for k in range(min(int(start * 10), n_frames - 1), end):
                    target[k] = total / count
    raw, prev = [], 0.0
    for k in range(n_frames):
        prev = target[k] if target[k] is not None else prev * math.exp(-0.1 / relax_s)
        raw.append(prev)
    alpha, y, out = 1 - math.exp(-0.1 / tau_s), 0.0, []
    for x in raw:
        y += alpha * (x - y)
        out.append(y)
    lag = round(lag_s * 10)
    return np.array([0.0] * lag + out[: n_frames - lag])


def test_real_labels_follow_the_vader_ratings_of_the_spoken_words(real_corpus):
    root = Path(real_corpus)
    meta = json.loads((root / "corpus.json").read_text())
    vader = _vader_ratings()
    n_rated = 0
    for name, rec in meta["recordings"].items():
        words = [
            line.split(";") for line in (root / "words" / f"{name}.csv").read_text().splitlines()
        ]
        sentences = rec["sentences"]
        spoken = [w for s in sentences for w in s["text"].split()]
        assert [w[2] for w in words] == spoken
        starts = [t for s in sentences for t in s["word_starts"]]
        assert [float(w[0]) for w in words] == pytest.approx(starts, abs=5e-4)
        for s in sentences:  # each word's rating is VADER's mean / 4 (0 if unrated)
            assert s["word_sentiments"] == pytest.approx(
                [vader.get(w, 0.0) for w in s["text"].split()]
            )
            rated = [r for r in s["word_sentiments"] if r != 0]
            n_rated += len(rated)
            assert s["sentiment"] == pytest.approx(np.mean(rated) if rated else 0.0, abs=1e-6)
            assert s["source"].split(":")[0] in {n for n, _, _ in real.SOURCES}
        labels = np.array(
            [
                [float(x) for x in line.split(";")[2:]]
                for line in (root / "labels" / f"{name}.csv").read_text().splitlines()
            ]
        )
        assert np.all(np.abs(labels) <= 1.0)
        expected = _recompute_valence(
            sentences, rec["frames"], lag_s=meta["labels"]["annotation_lag_s"]
        )
        np.testing.assert_allclose(labels[:, 1], expected, atol=2e-6)
    assert n_rated > 8


def test_real_corpus_same_seed_same_files(real_corpus, tmp_path):
    again = synthetic.generate_corpus(tmp_path / "again", progress=False, jobs=2, **REAL_CORPUS)
    files = sorted(p.relative_to(real_corpus) for p in Path(real_corpus).rglob("*") if p.is_file())
    assert len(files) == 7 * 5 + 1
    for rel in files:
        assert filecmp.cmp(Path(real_corpus) / rel, again / rel, shallow=False), rel


def test_valence_from_words_arousal_from_voice_real():
    """The paper's point on real sentences: per sentence, the label at (end + lag)."""
    recs = [
        synthetic.generate_recording(
            f"Train_{i:02d}",
            30.0,
            synthetic.DEFAULT_VOICES[i % 8],
            np.random.SeedSequence([8, i]),
            recipe="real",
        )
        for i in range(30)
    ]
    rows = [
        (
            s.sentiment,
            s.arousal,
            rec.labels[int(round((s.end + 2.0) * 10)), 0],
            rec.labels[int(round((s.end + 2.0) * 10)), 1],
        )
        for rec in recs
        for s in rec.sentences
        if int(round((s.end + 2.0) * 10)) < len(rec.labels)
    ]
    sentiment, arousal_param, arousal, valence = np.array(rows).T
    r = lambda a, b: float(np.corrcoef(a, b)[0, 1])  # noqa: E731
    assert len(rows) > 120
    assert r(valence, sentiment) > 0.9 and abs(r(valence, arousal_param)) < 0.25
    assert r(arousal, arousal_param) > 0.9 and abs(r(arousal, sentiment)) < 0.25


def test_cli_synth_real_and_test_voices(tmp_path, monkeypatch):
    parser = argparse.ArgumentParser(prog="semser")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "synth",
            str(tmp_path / "a"),
            "--minutes",
            "0.2",
            "--recording-seconds",
            "4",
            "--partitions",
            "Train=1,Test=1",
            "--voices",
            "en+f3",
            "--test-voices",
            "en-us+m6,en-029+m4",
            "--quiet",
        ]
    )
    assert args.recipe == "real" and args.func(args) == 0
    meta = json.loads((tmp_path / "a" / "corpus.json").read_text())
    assert meta["recipe"] == "real" and meta["test_voices"] == ["en-us+m6", "en-029+m4"]
    assert [meta["recordings"][n]["voice"] for n in ("Train_01", "Test_01", "Test_02")] == [
        "en+f3",
        "en-us+m6",
        "en-029+m4",
    ]
    seen = {}
    monkeypatch.setattr(synthetic, "generate_corpus", lambda out, **kw: seen.update(kw))
    for extra, recipe, test_voices in [
        (["--test-voices", "same"], "real", ["en+f3"]),
        (["--recipe", "template"], "template", None),
        (["--recipe", "template", "--test-voices", "same"], "template", None),
    ]:
        args = parser.parse_args(
            ["synth", str(tmp_path / "b"), "--voices", "en+f3", "--quiet"] + extra
        )
        assert args.func(args) == 0
        assert (seen["recipe"], seen["test_voices"], seen["voices"]) == (
            recipe,
            test_voices,
            ["en+f3"],
        )
    monkeypatch.undo()
    args = parser.parse_args(
        [
            "synth",
            str(tmp_path / "h"),
            "--minutes",
            "0.2",
            "--recording-seconds",
            "6",
            "--partitions",
            "Train=1,Test=1",
            "--held-out-text",
            "--quiet",
        ]
    )
    assert args.func(args) == 0
    meta = json.loads((tmp_path / "h" / "corpus.json").read_text())
    held = real.sentence_pool().held_out()
    index = {src: i for i, src in enumerate(real.sentence_pool().sources)}
    assert meta["held_out_text"] is True
    for name, rec in meta["recordings"].items():
        assert rec["sentences"]
        assert all(
            held[index[s["source"]]] == name.startswith("Test_") for s in rec["sentences"]
        ), name
    with pytest.raises(ConfigError, match="held_out_text"):
        synthetic.generate_corpus(tmp_path / "c", minutes=0.1, held_out_text=True, progress=False)
    with pytest.raises(ConfigError, match="recipe"):
        synthetic.generate_corpus(tmp_path / "c", minutes=0.1, recipe="nope", progress=False)
    with pytest.raises(ConfigError, match="unknown espeak voice"):
        synthetic.generate_corpus(
            tmp_path / "c", minutes=0.1, recipe="real", test_voices=["zz-x"], progress=False
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "h"]


def test_real_corpus_with_a_user_lexicon(tmp_path):
    from semser_tf.errors import DataError

    lex = tmp_path / "mine.tsv"
    lex.write_text("word\trating\nthe\t2\nsaid\t-4\nof\t1\n", encoding="utf-8")
    out = synthetic.generate_corpus(
        tmp_path / "c",
        minutes=0.15,
        recording_seconds=9,
        partitions={"Train": 1},
        recipe="real",
        lexicon=lex,
        progress=False,
    )
    meta = json.loads((out / "corpus.json").read_text())
    assert meta["lexicon"]["name"] == "mine.tsv" and meta["lexicon"]["rated_words"] == 3
    assert str(tmp_path) not in (out / "corpus.json").read_text()  # no path of this machine
    expected = {"the": 0.5, "said": -1.0, "of": 0.25}  # divided by the largest |rating|, 4
    sentences = meta["recordings"]["Train_01"]["sentences"]
    assert sentences
    for s in sentences:
        assert s["word_sentiments"] == [expected.get(w, 0.0) for w in s["text"].split()]
    bad = tmp_path / "bad.tsv"
    bad.write_text("good\t1\nbad\tawful\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.tsv:2: rating 'awful' is not a number"):
        synthetic.generate_corpus(
            tmp_path / "d", minutes=0.1, recipe="real", lexicon=bad, progress=False
        )
    with pytest.raises(ConfigError, match="recipe 'real' only"):
        synthetic.generate_corpus(tmp_path / "d", minutes=0.1, lexicon=lex, progress=False)
    assert not (tmp_path / "d").exists()
