"""Word timings: word files, transcript words and the proportional fallback."""

import warnings

import pytest

from semser_tf.data.timings import (
    ApproximateTimingWarning,
    Sentence,
    read_words,
    spread_words,
    transcript_words,
    word_timings,
)
from semser_tf.errors import DataError
from semser_tf.types import WordTiming

from .conftest import write_text


@pytest.mark.parametrize(
    "text",
    [
        "0.0;0.4;Grüß\n0.4;0.9;Gott\n1.0;1.2;ähm\n",
        "start,end,word\r\n0.0,0.4,'Grüß'\r\n0.4,0.9,\"Gott\"\r\n1.0,1.2,ähm\r\n\r\n",
        "start;end;word\n0.0;0.4;Grüß\n\n0.4;0.9;'Gott'\n1.0;1.2;ähm\n\n\n",
    ],
)
def test_read_words_dialects(tmp_path, text):
    p = write_text(tmp_path / "w.csv", text)
    assert read_words(p) == [
        WordTiming(0.0, 0.4, "Grüß"),
        WordTiming(0.4, 0.9, "Gott"),
        WordTiming(1.0, 1.2, "ähm"),
    ]


@pytest.mark.parametrize(
    "text,line,what",
    [
        ("0.0;0.4;a\n0.5;0.3;b\n", 2, "end 0.3 before start 0.5"),
        ("0.0;0.4;a\n0.5;nan;b\n", 2, "end time is 'nan'"),
        ("0.0;0.4;a\n0.5\n", 2, "missing column"),
        ("0.5;0.6;a\n0.1;0.2;b\n", 2, "non-monotonic time"),
        ("0.0;0.4;a\n0.5;0.6;'b\n", 2, "unbalanced quotes"),
    ],
)
def test_bad_word_file(tmp_path, text, line, what):
    p = write_text(tmp_path / "w.csv", text)
    with pytest.raises(DataError) as err:
        read_words(p)
    assert str(err.value).startswith(f"{p}:{line}: ") and what in str(err.value)


def test_transcript_words_strip_tags_and_punctuation():
    assert transcript_words("<filler> Ähm, das ist... [noise] schön! <laughter>") == [
        "Ähm",
        "das",
        "ist",
        "schön",
    ]
    assert transcript_words("geht's gut?") == ["geht's", "gut"]
    assert transcript_words("<laughter>") == []


def test_fallback_spreads_by_character_length():
    # "ab" (2) "cde" (3) "f" (1) over [1, 7]: 6 s / 6 chars = 1 s per character
    got = spread_words(
        [Sentence(1.0, 7.0, "ab <laughter> cde, f."), Sentence(8.0, 9.0, "<filler>")], warn=False
    )
    assert got == [
        WordTiming(1.0, 3.0, "ab"),
        WordTiming(3.0, 6.0, "cde"),
        WordTiming(6.0, 7.0, "f"),
    ]


def test_word_timings_prefers_word_file_then_falls_back_with_warning(tmp_path):
    words = write_text(tmp_path / "words.csv", "0.0;0.5;ja\n")
    trans = write_text(tmp_path / "trans.csv", "0.0;2.0;'nein doch'\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert word_timings(words, trans, "Train_09") == [WordTiming(0.0, 0.5, "ja")]
    with pytest.warns(ApproximateTimingWarning, match="Train_09"):
        got = word_timings(tmp_path / "absent.csv", trans, "Train_09")
    assert got == [WordTiming(0.0, 1.0, "nein"), WordTiming(1.0, 2.0, "doch")]
    assert word_timings(None, tmp_path / "absent.csv") == []
