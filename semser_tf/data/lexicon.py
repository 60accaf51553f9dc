"""Word valence lexicons: VADER's bundled ratings, or a user's file.

A :class:`Lexicon` maps a normalised word (lower case, punctuation stripped from both
ends) to a valence in [-1, 1].

* :func:`load_vader` reads ``vader_lexicon.txt`` from the ``vaderSentiment`` package
  (MIT licence; Hutto & Gilbert, "VADER: A Parsimonious Rule-based Model for Sentiment
  Analysis of Social Media Text", ICWSM 2014). Each line is
  ``token<TAB>mean<TAB>std<TAB>[ten ratings]``, the mean of ten raters on -4..4. Only
  purely alphabetic tokens are kept (emoticons such as ``:-)`` and tokens with digits or
  punctuation such as ``10q`` are dropped: 7 217 of the file's 7 520 lines); the valence
  is ``mean / 4``. Eight words occur twice in the file (``lol``, ``ok``, ...: once in the
  emoticon block, once among the words); as in ``vaderSentiment`` itself, which builds
  its dictionary in file order, the later line wins.
* :func:`load_lexicon` reads a user's TSV/CSV file (optional header line).
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from pathlib import Path

from semser_tf.errors import ConfigError, DataError

__all__ = ["Lexicon", "VADER_SCALE", "load_lexicon", "load_vader", "normalize_word", "vader_path"]

VADER_SCALE = 4.0
"""VADER's ratings are means of -4..4 ratings; divided by this to lie in [-1, 1]."""

_EDGE = string.punctuation + "\u2018\u2019\u201c\u201d"


def normalize_word(word: str) -> str:
    """Lower case, punctuation stripped from both ends (``"Good!"`` -> ``"good"``).

    Example:
        >>> normalize_word("'Horrible,'")
        'horrible'
    """
    return str(word).strip().strip(_EDGE).lower()


@dataclass
class Lexicon:
    """Word valence ratings.

    Attributes:
        name: where the ratings come from (``"vader"`` or the file's name).
        ratings: normalised word -> valence in [-1, 1].

    Example:
        >>> lex = Lexicon("mine", {"good": 0.5})
        >>> lex.get("Good!"), "good" in lex, len(lex)
        (0.5, True, 1)
    """

    name: str
    ratings: dict = field(default_factory=dict)

    def get(self, word, default=None):
        """The valence of ``word`` (normalised first), or ``default`` if it is not rated."""
        return self.ratings.get(normalize_word(word), default)

    def __contains__(self, word) -> bool:
        return normalize_word(word) in self.ratings

    def __len__(self) -> int:
        return len(self.ratings)

    def __iter__(self):
        return iter(self.ratings)


def vader_path() -> Path:
    """Path of ``vader_lexicon.txt`` inside the installed ``vaderSentiment`` package.

    Raises:
        DataError: the package is not installed or lacks the file.
    """
    try:
        import vaderSentiment
    except ImportError as err:
        raise DataError(
            "the VADER lexicon needs the vaderSentiment package, which is not installed: "
            "pip install 'semser-tf[synth]'"
        ) from err
    path = Path(vaderSentiment.__file__).resolve().parent / "vader_lexicon.txt"
    if not path.is_file():
        raise DataError("vaderSentiment's vader_lexicon.txt is missing", path)
    return path


_VADER_CACHE: dict = {}


def load_vader() -> Lexicon:
    """VADER's 7 209 rated words (alphabetic tokens), valence = mean rating / 4.

    Returns:
        A :class:`Lexicon` named ``"vader"`` (a fresh copy; the parsed file is cached).

    Raises:
        DataError: the package or its file is missing, or a line is malformed.

    Example:
        >>> lex = load_vader()
        >>> lex.get("good"), lex.get("horrible")
        (0.475, -0.625)
    """
    path = vader_path()
    if path not in _VADER_CACHE:
        ratings = {}
        text = _read_text(path)
        for lineno, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 2:
                raise DataError("expected token<TAB>mean<TAB>std<TAB>ratings", path, lineno)
            token = parts[0].strip()
            if not token.isalpha():
                continue  # emoticons, abbreviations with digits or punctuation
            value = _number(parts[1], path, lineno)
            ratings[token.lower()] = value / VADER_SCALE  # later lines win, as in vaderSentiment
        _VADER_CACHE[path] = ratings
    return Lexicon("vader", dict(_VADER_CACHE[path]))


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise DataError("binary data (NUL byte): expected a UTF-8 text file", path, line)
    try:
        return data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(
            f"not UTF-8 text (byte 0x{data[err.start]:02x}): expected a UTF-8 text file", path, line
        ) from None


def _number(text: str, path, lineno: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"rating {text.strip()!r} is not a number", path, lineno) from None
    if not math.isfinite(value):
        raise DataError(f"rating {text.strip()!r} is not a finite number", path, lineno)
    return value


def _split(line: str, delimiter):
    if delimiter is None:
        if "\t" in line:
            return line.split("\t")
        if "," in line:
            return line.split(",")
        return line.split()
    return line.split(delimiter)


def load_lexicon(
    path, word_column: int = 0, rating_column: int = 1, scale=None, delimiter=None
) -> Lexicon:
    """A user's lexicon file: one word and its rating per line (TSV, CSV or spaces).

    Blank lines and lines starting with ``#`` are skipped. The first line is taken as a
    header when its rating field is not a number. Words are normalised
    (:func:`normalize_word`); the same word twice with the same rating is accepted.

    Args:
        path: the file (UTF-8).
        word_column: 0-based column of the word.
        rating_column: 0-based column of the rating.
        scale: ratings are divided by it (``None``: by the largest absolute rating, so
            the ratings span [-1, 1]); the results must lie in [-1, 1].
        delimiter: the field separator; ``None``: a tab if the line has one, else a
            comma if it has one, else runs of white space.

    Returns:
        A :class:`Lexicon` named after the file.

    Raises:
        DataError: naming the file and line, for a binary or non-UTF-8 file, an empty
            file (no entries), a missing column, a non-numeric rating, an empty word,
            a word repeated with another rating, a scaled rating outside [-1, 1].
        ConfigError: a negative column or a non-positive ``scale``.

    Example:
        >>> load_lexicon("ratings.tsv", scale=4.0).get("good")  # doctest: +SKIP
        0.475
    """
    path = Path(path)
    if int(word_column) < 0 or int(rating_column) < 0:
        raise ConfigError(
            f"lexicon columns must be >= 0, got word_column={word_column}, rating_column={rating_column}"
        )
    if scale is not None and not (
        isinstance(scale, (int, float)) and scale > 0 and math.isfinite(scale)
    ):
        raise ConfigError(f"lexicon scale must be a positive number, got {scale!r}")
    if not path.is_file():
        raise DataError("lexicon file not found", path)
    text = _read_text(path)
    raw: dict[str, tuple[float, int]] = {}
    first = True
    need = max(int(word_column), int(rating_column)) + 1
    lines = text.split("\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = _split(line, delimiter)
        if len(fields) < need:
            raise DataError(
                f"{len(fields)} column(s), need column {need - 1} (0-based; word column {word_column}, "
                f"rating column {rating_column}); expected e.g. 'word<TAB>rating'",
                path,
                lineno,
            )
        was_first, first = first, False
        rating_text = fields[rating_column].strip()
        if was_first:
            try:
                float(rating_text)
            except ValueError:
                continue  # a header line
        value = _number(rating_text, path, lineno)
        word = normalize_word(fields[word_column])
        if not word:
            raise DataError(
                f"empty word {fields[word_column]!r} in column {word_column}", path, lineno
            )
        if word in raw and raw[word][0] != value:
            raise DataError(
                f"word {word!r} rated {value:g} here but {raw[word][0]:g} on line {raw[word][1]}",
                path,
                lineno,
            )
        raw.setdefault(word, (value, lineno))
    if not raw:
        raise DataError(
            "no lexicon entries: expected lines 'word<TAB>rating' (optionally after a header)",
            path,
            1,
        )
    if scale is None:
        scale = max(abs(v) for v, _ in raw.values()) or 1.0
    ratings = {}
    for word, (value, lineno) in raw.items():
        scaled = value / float(scale)
        if abs(scaled) > 1.0 + 1e-9:
            raise DataError(
                f"rating {value:g} / scale {scale:g} = {scaled:g} is outside [-1, 1]", path, lineno
            )
        ratings[word] = float(min(1.0, max(-1.0, scaled)))
    return Lexicon(path.name, ratings)
