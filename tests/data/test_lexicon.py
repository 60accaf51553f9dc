"""Word valence lexicons: VADER's ratings checked against its file read here independently."""

from pathlib import Path

import pytest

from semser_tf.data.lexicon import Lexicon, load_lexicon, load_vader, normalize_word
from semser_tf.errors import ConfigError, DataError


def _vader_file_means():
    """token -> mean rating, parsed here with plain string splitting (later lines win)."""
    import vaderSentiment

    path = Path(vaderSentiment.__file__).parent / "vader_lexicon.txt"
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        token, mean = line.split("\t")[:2]
        out[token] = float(mean)
    return out


def test_vader_known_words_match_the_file():
    means = _vader_file_means()
    lex = load_vader()
    assert lex.name == "vader"
    # hand-read values of the file: good 1.9, horrible -2.5, great 3.1, bad -2.5
    assert (means["good"], means["horrible"], means["great"], means["bad"]) == (
        1.9,
        -2.5,
        3.1,
        -2.5,
    )
    for word in ("good", "horrible", "great", "bad", "love", "hate", "disaster", "wonderful"):
        assert lex.get(word) == pytest.approx(means[word] / 4.0), word
    assert lex.get("good") == pytest.approx(0.475) and lex.get("horrible") == pytest.approx(-0.625)
    # normalisation: case and edge punctuation
    assert lex.get("Good!") == lex.get("good") and "'HORRIBLE'," in lex
    assert lex.get("table") is None and lex.get("table", 0.0) == 0.0


def test_vader_keeps_alphabetic_tokens_only():
    means = _vader_file_means()
    lex = load_vader()
    alphabetic = {t.lower() for t in means if t.isalpha()}
    assert set(lex.ratings) == alphabetic
    assert len(lex) == 7209  # 7 217 alphabetic lines, 8 words listed twice
    assert ":)" not in lex.ratings and "10q" not in lex.ratings
    assert all(-1.0 <= v <= 1.0 for v in lex.ratings.values())
    # 'ok' is listed twice (1.6, then 1.2): the later line wins, as in vaderSentiment
    assert lex.get("ok") == pytest.approx(1.2 / 4)
    # a fresh copy each time
    lex.ratings["good"] = 9.0
    assert load_vader().get("good") == pytest.approx(0.475)


def test_normalize_word():
    assert normalize_word("  'Hello,'  ") == "hello"
    assert normalize_word("don't") == "don't"


def test_load_lexicon_tsv_csv_header_and_scale(tmp_path):
    p = tmp_path / "lex.tsv"
    p.write_text(
        "word\tvalence\nGood\t2\nbad\t-4\n\n# comment\nokay\t1\nGood\t2\n", encoding="utf-8"
    )
    lex = load_lexicon(p)
    assert isinstance(lex, Lexicon) and lex.name == "lex.tsv"
    assert lex.ratings == {"good": 0.5, "bad": -1.0, "okay": 0.25}  # divided by max |rating| = 4
    assert load_lexicon(p, scale=8).get("bad") == -0.5
    c = tmp_path / "lex.csv"
    c.write_text("id,rating,word\n1,0.3,nice\r\n2,-0.6,awful\r\n", encoding="utf-8")
    lex = load_lexicon(c, word_column=2, rating_column=1, scale=1.0)
    assert lex.ratings == {"nice": 0.3, "awful": -0.6}
    s = tmp_path / "lex.txt"
    s.write_text("happy 3\nsad -3\n", encoding="utf-8")
    assert load_lexicon(s).ratings == {"happy": 1.0, "sad": -1.0}
    assert load_lexicon(s, delimiter=" ", scale=6).ratings == {"happy": 0.5, "sad": -0.5}


@pytest.mark.parametrize(
    "content, line, message",
    [
        ("good\t1\nbad\tvery\n", 2, "rating 'very' is not a number"),
        ("word\tvalence\ngood\t1\nbad\n", 3, "1 column"),
        ("good\t1\nbad\t-1\ngood\t0.5\n", 3, "rated 0.5 here but 1 on line 1"),
        ("", 1, "no lexicon entries"),
        ("word\tvalence\n\n", 1, "no lexicon entries"),
        ("good\tnan\n", 1, "not a finite number"),
        ("\t1\n", 1, "empty word"),
    ],
)
def test_load_lexicon_bad_input_names_file_and_line(tmp_path, content, line, message):
    p = tmp_path / "bad.tsv"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message) as err:
        load_lexicon(p)
    assert str(err.value).startswith(f"{p}:{line}: ")


def test_load_lexicon_binary_and_non_utf8(tmp_path):
    b = tmp_path / "model.bin"
    b.write_bytes(b"good\t1\nbad\t-1\n\x00\x01\x02\x03\xff")
    with pytest.raises(DataError, match="binary data") as err:
        load_lexicon(b)
    assert str(err.value).startswith(f"{b}:3: ")
    latin = tmp_path / "latin.tsv"
    latin.write_bytes(b"good\t1\ncaf\xe9\t0.5\n")
    with pytest.raises(DataError, match="not UTF-8") as err:
        load_lexicon(latin)
    assert str(err.value).startswith(f"{latin}:2: ")


def test_load_lexicon_bad_arguments(tmp_path):
    p = tmp_path / "lex.tsv"
    p.write_text("good\t2\nbad\t-4\n", encoding="utf-8")
    with pytest.raises(DataError, match="outside") as err:
        load_lexicon(p, scale=2)
    assert str(err.value).startswith(f"{p}:2: ")
    with pytest.raises(ConfigError, match="scale"):
        load_lexicon(p, scale=0)
    with pytest.raises(ConfigError, match="columns"):
        load_lexicon(p, word_column=-1)
    with pytest.raises(DataError, match="not found"):
        load_lexicon(tmp_path / "missing.tsv")
