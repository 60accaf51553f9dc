"""Recipe ``real`` (generator version 2.0): real English sentences, chosen by a mood.

The sentences come from English text that the ``gensim`` wheel ships as test data
(``gensim/test/test_data``, no download):

* ``lee_background.cor``: 300 Australian news articles (the Lee background corpus,
  Lee, Pincombe & Welsh 2005), about 60 000 words;
* ``lee.cor``: the 50 news articles of the Lee document-similarity corpus;
* ``pang_lee_polarity.cor``: 200 movie-review sentences labelled positive or negative
  (Pang & Lee, sentence polarity data);
* ``alldata-id-10.txt``: 10 IMDB movie reviews (Maas et al. 2011).

:func:`sentence_pool` cuts them into speakable units of 4 to 20 words (rules in
``docs/synthetic_corpus.md``); each unit's sentiment is the mean valence of its words that
VADER rates (:func:`semser_tf.data.lexicon.load_vader`). :class:`RealSentences` draws a
unit with probability proportional to ``exp(KAPPA * mood * sentiment)`` (not repeating one
within a recording) and swaps each evaluative adjective of a fixed list, with the slot's
polarity drawn from the mood as in the template recipe. Valence labels are then computed
from the VADER ratings of the words actually spoken.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semser_tf.data.lexicon import Lexicon, load_vader
from semser_tf.data.synthetic.labels import polarity
from semser_tf.errors import ConfigError, DataError

__all__ = [
    "ADJECTIVES_NEGATIVE",
    "ADJECTIVES_POSITIVE",
    "HELD_OUT_EVERY",
    "KAPPA",
    "MAX_WORDS",
    "MIN_WORDS",
    "SOURCES",
    "RealSentences",
    "SentencePool",
    "chunk_sentence",
    "real_text_lines",
    "sentence_pool",
    "source_folder",
    "spell_number",
]

MIN_WORDS = 4
MAX_WORDS = 20
KAPPA = 5.0
"""Strength of the mood's pull on the choice of sentence: weight ``exp(KAPPA mood s)``."""
HELD_OUT_EVERY = 5
"""With ``held_out_text``, every fifth document of each source is spoken only in Test."""
SUBSTITUTE_PROB = 0.7
"""Probability that an evaluative adjective of the sentence is swapped (then its polarity
is drawn from the mood: positive ``0.35 (1 + m)``, negative ``0.35 (1 - m)``, else kept)."""

SOURCES = (
    ("lee_background", "lee_background.cor", "lines"),
    ("lee", "lee.cor", "lines"),
    ("pang_lee", "pang_lee_polarity.cor", "labelled"),
    ("imdb", "alldata-id-10.txt", "tagged"),
)
"""(name, file in gensim/test/test_data, line format) of the sentence sources."""

# Evaluative adjectives that can stand in for one another (all rated by VADER).
ADJECTIVES_POSITIVE = tuple(
    "good great nice lovely excellent fantastic amazing beautiful brilliant pleasant delightful "
    "perfect superb charming cheerful happy friendly gorgeous marvelous splendid fine decent cool "
    "fun clever helpful comfortable fresh elegant exciting impressive enjoyable generous kind "
    "sweet glorious wonderful best better funny strong positive safe important".split()
)
ADJECTIVES_NEGATIVE = tuple(
    "terrible awful horrible bad poor nasty ugly boring dreadful disgusting annoying stupid "
    "useless broken dirty painful sad miserable awkward rude noisy disappointing unpleasant "
    "worthless gloomy pathetic mediocre stale ridiculous hopeless wrong weak messy cruel lousy "
    "dull grim worst worse tedious silly serious dangerous negative".split()
)

_CONTRACTIONS = (
    (r"\bcan't\b", "can not"),
    (r"\bwon't\b", "will not"),
    (r"\bshan't\b", "shall not"),
    (r"n't\b", " not"),
    (r"'re\b", " are"),
    (r"'ve\b", " have"),
    (r"'ll\b", " will"),
    (r"\bi'm\b", "i am"),
    (r"\b(it|that|there|what|he|she|who|here|where)'s\b", r"\1 is"),
    (r"\b(i|you|he|she|we|they)'d\b", r"\1 would"),
    (r"\blet's\b", "let us"),
)
_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_WORD = re.compile(r"[a-z]+")


def spell_number(n: int) -> str:
    """English words for ``0 <= n < 1 000 000``; 1100-1999 as years.

    Example:
        >>> spell_number(1998), spell_number(2001), spell_number(345)
        ('nineteen ninety eight', 'two thousand one', 'three hundred forty five')
    """
    n = int(n)
    if not 0 <= n < 1_000_000:
        raise ValueError(f"spell_number: {n} is outside 0..999999")
    if 1100 <= n <= 1999 and n % 100 != 0:
        return f"{spell_number(n // 100)} {spell_number(n % 100) if n % 100 >= 10 else 'o ' + _ONES[n % 100]}"
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + spell_number(n % 100))
    return (
        spell_number(n // 1000)
        + " thousand"
        + ("" if n % 1000 == 0 else " " + spell_number(n % 1000))
    )


def chunk_sentence(sentence: str) -> list[list[str]]:
    """Speakable units of one sentence: lists of 4-20 lower-case alphabetic words.

    Lower case; contractions expanded (``don't`` -> ``do not``); hyphens become spaces;
    whole numbers below a million spelled out. The sentence is cut at commas, dashes,
    brackets and quotes, and the pieces are joined again, in order, into units of at most
    ``MAX_WORDS`` words. Units with any other token (a possessive ``'s``, a decimal, a
    symbol) or fewer than ``MIN_WORDS`` words are dropped.

    Example:
        >>> chunk_sentence("It's 25 km south-west of Sydney, police said.")
        [['it', 'is', 'twenty', 'five', 'km', 'south', 'west', 'of', 'sydney', 'police', 'said']]
    """
    s = sentence.lower().replace("\u2019", "'").replace("`", "'")
    for pattern, repl in _CONTRACTIONS:
        s = re.sub(pattern, repl, s)
    s = re.sub(
        r"(?<![\w.,])\d{1,6}(?!\w|[.,]\d)", lambda m: " " + spell_number(int(m.group())) + " ", s
    )
    s = re.sub(r"[.!?]+$", "", s.strip())
    out: list[list[str]] = []
    cur: list[str] = []
    for piece in re.split(r"\s*(?:,|--|\s-\s|[()\[\]\"{};:])\s*", s):
        words = piece.replace("-", " ").split()
        if not words:
            continue
        if cur and len(cur) + len(words) > MAX_WORDS:
            out.append(cur)
            cur = []
        cur = cur + words
    if cur:
        out.append(cur)
    return [
        c for c in out if MIN_WORDS <= len(c) <= MAX_WORDS and all(_WORD.fullmatch(w) for w in c)
    ]


def source_folder() -> Path:
    """``gensim/test/test_data`` of the installed gensim (the sentence sources).

    Raises:
        DataError: gensim is not installed or its test data are missing.
    """
    import importlib.util

    spec = importlib.util.find_spec("gensim")  # located, not imported (its import takes 0.5 s)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "the real-language recipe needs gensim's bundled test data (pip install gensim)"
        )
    folder = Path(list(spec.submodule_search_locations)[0]).resolve() / "test" / "test_data"
    missing = [f for _, f, _ in SOURCES if not (folder / f).is_file()]
    if missing:
        raise DataError(f"gensim's test data lack {', '.join(missing)}", folder)
    return folder


def _documents(path: Path, kind: str) -> list[str]:
    text = path.read_bytes().decode("cp1252", errors="replace")
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    if kind == "labelled":  # "__label__pos text"
        lines = [
            line.split(" ", 1)[1] if line.startswith("__label__") and " " in line else line
            for line in lines
        ]
    elif kind == "tagged":  # "_*12 text"
        lines = [re.sub(r"^_\*\d+\s+", "", line) for line in lines]
    return [line for line in lines if line]


def _sentences(document: str) -> list[str]:
    document = re.sub(r"\s+", " ", document)
    return [s for s in re.split(r"(?<=[.!?;:])\s+", document) if s.strip()]


@dataclass
class SentencePool:
    """The speakable units of the sources, with their sentiment and source.

    Attributes:
        words: per unit, its words.
        sources: per unit, ``"<source>:<n>"`` (n counts the units of that source from 0).
        sentiments: per unit, the mean valence of its rated words (0 if none), float64.
        lexicon: the word ratings used.
        files: the source files' SHA-256 (the units depend on gensim's copies of them).
        documents: per unit, the 0-based index of its document (line) in its source.
    """

    words: list
    sources: list
    sentiments: np.ndarray
    lexicon: Lexicon
    files: dict = None  # source file -> SHA-256 of its bytes
    documents: list = None  # per unit, its document's index within its source

    def __len__(self) -> int:
        return len(self.words)

    def held_out(self) -> np.ndarray:
        """Boolean mask of the units kept for Test by ``held_out_text``: those of every
        :data:`HELD_OUT_EVERY`-th document of each source (documents 0, 5, 10, ...)."""
        return np.array([d % HELD_OUT_EVERY == 0 for d in self.documents], dtype=bool)

    def summary(self) -> dict:
        """Counts for ``corpus.json``: units and words per source, distinct words."""
        per_source: dict = {}
        for words, src in zip(self.words, self.sources):
            entry = per_source.setdefault(src.split(":")[0], {"units": 0, "words": 0})
            entry["units"] += 1
            entry["words"] += len(words)
        return {
            "units": len(self.words),
            "words": int(sum(len(w) for w in self.words)),
            "distinct_words": len({w for ws in self.words for w in ws}),
            "sources": per_source,
            "source_sha256": dict(self.files or {}),
            "unit_words": [MIN_WORDS, MAX_WORDS],
        }


_POOL_CACHE: dict = {}


def sentence_pool(lexicon: Lexicon | None = None) -> SentencePool:
    """All speakable units of :data:`SOURCES`, in file order (cached per process).

    Args:
        lexicon: word ratings (default VADER; only VADER's pool is cached).

    Example:
        >>> pool = sentence_pool()
        >>> len(pool) > 2000
        True
    """
    if lexicon is None and "vader" in _POOL_CACHE:  # only VADER's pool is cached
        return _POOL_CACHE["vader"]
    cache = lexicon is None
    lexicon = load_vader() if lexicon is None else lexicon
    folder = source_folder()
    words, sources, files, documents = [], [], {}, []
    for name, filename, kind in SOURCES:
        n = 0
        files[filename] = hashlib.sha256((folder / filename).read_bytes()).hexdigest()
        for d, doc in enumerate(_documents(folder / filename, kind)):
            for sentence in _sentences(doc):
                for unit in chunk_sentence(sentence):
                    words.append(unit)
                    sources.append(f"{name}:{n}")
                    documents.append(d)
                    n += 1
    sentiments = np.array([_mean_rating(u, lexicon) for u in words], dtype=np.float64)
    pool = SentencePool(words, sources, sentiments, lexicon, files, documents)
    if cache:
        _POOL_CACHE["vader"] = pool
    return pool


def _mean_rating(words, lexicon: Lexicon) -> float:
    rated = [r for r in (lexicon.get(w, 0.0) for w in words) if r != 0.0]
    return float(np.mean(rated)) if rated else 0.0


class RealSentences:
    """Draws sentences from a :class:`SentencePool` according to a mood.

    Args:
        pool: the units (default :func:`sentence_pool`).
        split: ``None`` (all units), ``"train"`` (the units outside
            :meth:`SentencePool.held_out`) or ``"test"`` (only those).

    Example:
        >>> gen = RealSentences()
        >>> text, info = gen.next(np.random.default_rng(0), mood=0.5)
    """

    def __init__(self, pool: SentencePool | None = None, split: str | None = None):
        self.pool = sentence_pool() if pool is None else pool
        if split is None:
            self.excluded = np.zeros(len(self.pool), dtype=bool)
        elif split in ("train", "test"):
            held = self.pool.held_out()
            self.excluded = held if split == "train" else ~held
        else:
            raise ConfigError(f"text split must be None, 'train' or 'test', got {split!r}")
        self.used = self.excluded.copy()
        lex = self.pool.lexicon
        counts: dict = {}
        for ws in self.pool.words:
            for w in ws:
                counts[w] = counts.get(w, 0) + 1
        # swap candidates weighted by their frequency in the sources (+1), so common words stay common
        self._adj = {}
        for sign, table in ((1, ADJECTIVES_POSITIVE), (-1, ADJECTIVES_NEGATIVE)):
            words = [w for w in table if lex.get(w, 0.0) * sign > 0]
            weights = np.array([counts.get(w, 0) + 1.0 for w in words])
            self._adj[sign] = (words, weights / weights.sum())
        self._swappable = set(self._adj[1][0]) | set(self._adj[-1][0])

    def rating(self, word: str) -> float:
        """The valence of a spoken word (0 if the lexicon does not rate it)."""
        return float(self.pool.lexicon.get(word, 0.0))

    def next(self, rng: np.random.Generator, mood: float) -> tuple[str, dict]:
        """One sentence for ``mood`` in [-1, 1]: ``(text, {"source": ..., "original": ...})``.

        ``original`` (the unit before adjectives were swapped) is present only when a
        word was swapped.
        """
        if self.used.all():  # every allowed unit spoken: start over
            self.used = self.excluded.copy()
        logits = KAPPA * float(mood) * self.pool.sentiments
        logits = np.where(self.used, -np.inf, logits - logits[~self.used].max())
        p = np.exp(logits)
        i = int(rng.choice(len(p), p=p / p.sum()))
        self.used[i] = True
        words = list(self.pool.words[i])
        for j, w in enumerate(words):
            if w in self._swappable and rng.random() < SUBSTITUTE_PROB:
                sign = polarity(rng, mood)
                if sign:
                    cand, prob = self._adj[sign]
                    words[j] = cand[int(rng.choice(len(cand), p=prob))]
        for j in range(len(words) - 1):  # a/an agree with a swapped adjective
            if words[j] in ("a", "an") and words[j + 1] != self.pool.words[i][j + 1]:
                words[j] = "an" if words[j + 1][0] in "aeiou" else "a"
        info = {"source": self.pool.sources[i]}
        if words != self.pool.words[i]:
            info["original"] = " ".join(self.pool.words[i])
        return " ".join(words), info


def real_text_lines(rng: np.random.Generator, sentences: int) -> list[str]:
    """Background text of the real recipe: ``sentences`` lines of pool units.

    Each line is one unit drawn as in the corpus, for a mood of +1 or -1 (equally likely,
    per line); units repeat once the pool is used up. With swapped adjectives, lines
    vary even where a unit repeats.

    Example:
        >>> real_text_lines(np.random.default_rng(0), 2)  # doctest: +SKIP
    """
    gen = RealSentences()
    lines = []
    for _ in range(int(sentences)):
        mood = 1.0 if rng.random() < 0.5 else -1.0
        lines.append(gen.next(rng, mood)[0])
    return lines
