"""Word2Vec text embeddings (gensim skip-gram): training, loading and saving.

The paper trained skip-gram Word2Vec on German text (dimension 100, window 4, minimum
count 7, their own TensorFlow code); here gensim does the training with the same defaults
(:class:`Word2VecConfig`), on the corpus transcripts plus any extra text files.

Words are normalised with :func:`normalize_word` (transcript tags and edge punctuation
removed by the data package's tokenizer, then lower-cased) on both the text side and the
speech side, so that identical words match.

Vectors are saved and loaded in the plain word2vec formats only (text or binary,
``KeyedVectors.save_word2vec_format`` / ``load_word2vec_format``): a gensim ``.model``
file is a pickle and is never loaded from a user path.

Example:
    >>> kv = train_word2vec([["the", "cat", "sat"]] * 20, Word2VecConfig(min_count=1, vector_size=8))  # doctest: +SKIP
    >>> save_vectors(kv, "w2v.txt")                                                                 # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from semser_tf.errors import ConfigError, DataError

__all__ = [
    "Word2VecConfig",
    "normalize_word",
    "tokenize",
    "transcript_sentences",
    "text_file_sentences",
    "train_word2vec",
    "load_vectors",
    "save_vectors",
    "vectors_table",
]


@dataclasses.dataclass
class Word2VecConfig:
    """gensim skip-gram settings (defaults: the paper's).

    Args:
        vector_size: dimension (100).
        window: context window (4).
        min_count: ignore words seen fewer times (7; lower it for small corpora).
        sg: 1 skip-gram, 0 CBOW.
        negative: negative samples per positive pair (5).
        hs: 1 for hierarchical softmax.
        sample: down-sampling threshold of frequent words (1e-3).
        alpha: initial learning rate (0.025).
        min_alpha: final learning rate (0.0001).
        epochs: passes over the text (5).
        max_vocab_size: cap on the vocabulary while building it (``None``: no cap).
        workers: threads; 1 with a fixed ``seed`` (and ``PYTHONHASHSEED`` fixed) gives
            reproducible vectors.
        seed: random seed.

    Example:
        >>> Word2VecConfig(min_count=1).window
        4
    """

    vector_size: int = 100
    window: int = 4
    min_count: int = 7
    sg: int = 1
    negative: int = 5
    hs: int = 0
    sample: float = 1e-3
    alpha: float = 0.025
    min_alpha: float = 0.0001
    epochs: int = 5
    max_vocab_size: int | None = None
    workers: int = 1
    seed: int = 0

    def validate(self) -> Word2VecConfig:
        """Check the fields; raise :class:`ConfigError` naming the bad one."""
        for name in ("vector_size", "window", "min_count", "epochs", "workers"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"word2vec.{name}: expected a positive integer, got {v!r}")
        if self.sg not in (0, 1) or self.hs not in (0, 1):
            raise ConfigError("word2vec.sg and word2vec.hs: expected 0 or 1")
        if self.negative < 0 or (self.negative == 0 and not self.hs):
            raise ConfigError("word2vec.negative: expected >= 0 (and > 0 unless hs=1)")
        if not self.alpha > 0:
            raise ConfigError(f"word2vec.alpha: expected a positive number, got {self.alpha!r}")
        return self


def normalize_word(word: str) -> str:
    """The form in which words are matched across the text and speech vocabularies.

    Args:
        word: a word as written (transcript or words file).

    Returns:
        Lower-cased, edge punctuation stripped; ``""`` for a tag or pure punctuation.

    Example:
        >>> normalize_word("Genau!")
        'genau'
    """
    from semser_tf.data.timings import transcript_words

    parts = transcript_words(str(word))
    return " ".join(parts).lower()


def tokenize(text: str) -> list[str]:
    """Split a text line into normalised words (tags and punctuation removed).

    Args:
        text: one sentence or line.

    Returns:
        The words, lower-cased.

    Example:
        >>> tokenize("Ja, <filler> äh... genau!")
        ['ja', 'äh', 'genau']
    """
    from semser_tf.data.timings import transcript_words

    return [w.lower() for w in transcript_words(text)]


def transcript_sentences(root) -> list[list[str]]:
    """The sentences of a SEWA-layout corpus: ``transcriptions/*.csv``, else ``words/*.csv``.

    Recordings with a transcript contribute one sentence per transcript line; those with
    only a words file contribute the words of the file as one sentence.

    Args:
        root: the corpus folder.

    Returns:
        Tokenised sentences.

    Raises:
        DataError: the folder has neither ``transcriptions/`` nor ``words/`` files, or a
            file cannot be read.

    Example:
        >>> transcript_sentences("corpora/synth")[:1]  # doctest: +SKIP
        [['the', 'chair', 'was', 'sweet']]
    """
    from semser_tf.data.timings import read_transcription, read_words

    root = Path(root)
    trans = {p.stem: p for p in sorted((root / "transcriptions").glob("*.csv"))}
    words = {p.stem: p for p in sorted((root / "words").glob("*.csv"))}
    if not trans and not words:
        raise DataError(
            "no transcriptions/*.csv or words/*.csv files: expected a SEWA-layout corpus", root
        )
    out = []
    for name in sorted(set(trans) | set(words)):
        if name in trans:
            for s in read_transcription(trans[name]):
                toks = tokenize(s.text)
                if toks:
                    out.append(toks)
        else:
            toks = [w for w in (normalize_word(t.word) for t in read_words(words[name])) if w]
            if toks:
                out.append(toks)
    return out


def text_file_sentences(path) -> list[list[str]]:
    """Sentences of a plain UTF-8 text file, one per non-empty line.

    Args:
        path: the text file.

    Returns:
        Tokenised lines.

    Raises:
        DataError: the file is missing or not UTF-8 text (naming the line).

    Example:
        >>> text_file_sentences("extra.txt")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("text file not found", path)
    out = []
    with open(path, "rb") as fh:
        for i, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(
                    "not UTF-8 text: expected one sentence per line in UTF-8", path, i
                ) from None
            toks = tokenize(line)
            if toks:
                out.append(toks)
    return out


def train_word2vec(sentences: Iterable[Sequence[str]], config: Word2VecConfig | None = None):
    """Train gensim skip-gram Word2Vec.

    Args:
        sentences: tokenised sentences (lists of words; see :func:`transcript_sentences`).
        config: :class:`Word2VecConfig` (defaults: dim 100, window 4, min count 7).

    Returns:
        ``gensim.models.KeyedVectors``; ``index_to_key`` is in decreasing frequency.

    Raises:
        ConfigError: bad settings, no sentences, or no word reaching ``min_count``.

    Example:
        >>> kv = train_word2vec([["a", "b"]] * 10, Word2VecConfig(min_count=1, vector_size=4))  # doctest: +SKIP
    """
    from gensim.models import Word2Vec

    cfg = (config or Word2VecConfig()).validate()
    sentences = [list(s) for s in sentences if len(s)]
    if not sentences:
        raise ConfigError("word2vec: no sentences to train on (empty text)")
    counts = {}
    for s in sentences:
        for w in s:
            counts[w] = counts.get(w, 0) + 1
    if not any(c >= cfg.min_count for c in counts.values()):
        raise ConfigError(
            f"word2vec: empty vocabulary: no word occurs min_count={cfg.min_count} times "
            f"(most frequent: {max(counts.values())}); lower min_count for a small corpus"
        )
    model = Word2Vec(
        sentences=sentences,
        vector_size=cfg.vector_size,
        window=cfg.window,
        min_count=cfg.min_count,
        sg=cfg.sg,
        negative=cfg.negative,
        hs=cfg.hs,
        sample=cfg.sample,
        alpha=cfg.alpha,
        min_alpha=cfg.min_alpha,
        epochs=cfg.epochs,
        max_vocab_size=cfg.max_vocab_size,
        workers=cfg.workers,
        seed=cfg.seed,
    )
    return model.wv


def _is_binary(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.readline(4096)
        body = fh.read(4096)
    try:
        head.decode("ascii")
    except UnicodeDecodeError:
        return True
    parts = head.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def load_vectors(path, binary: bool | None = None, limit: int | None = None):
    """Load pretrained vectors in word2vec text or binary format (never a pickle).

    Args:
        path: the vectors file (``<count> <dim>`` header line).
        binary: ``True`` binary, ``False`` text, ``None`` detect from the content.
        limit: read only the first (most frequent) ``limit`` words.

    Returns:
        ``gensim.models.KeyedVectors``.

    Raises:
        DataError: missing file, no header, or a malformed line (naming the file).

    Example:
        >>> kv = load_vectors("vectors.txt")  # doctest: +SKIP
    """
    from gensim.models import KeyedVectors

    path = Path(path)
    if not path.is_file():
        raise DataError("vectors file not found", path)
    if binary is None:
        binary = _is_binary(path)
    if not binary:
        with open(path, "rb") as fh:
            head = fh.readline().split()
        if len(head) != 2 or not all(h.isdigit() for h in head):
            raise DataError("no word2vec header: expected a first line '<count> <dim>'", path, 1)
        if int(head[0]) == 0 or int(head[1]) == 0:
            raise DataError("empty vocabulary: header announces 0 words or dimension 0", path, 1)
    try:
        return KeyedVectors.load_word2vec_format(str(path), binary=binary, limit=limit)
    except (ValueError, EOFError, UnicodeDecodeError) as err:
        raise DataError(
            f"not a word2vec {'binary' if binary else 'text'} file: {err}", path
        ) from None


def save_vectors(kv, path, binary: bool = False) -> Path:
    """Save vectors in word2vec text (default) or binary format, atomically.

    Args:
        kv: ``KeyedVectors`` (or anything with ``save_word2vec_format``).
        path: destination file.
        binary: binary format.

    Returns:
        The path written.

    Example:
        >>> save_vectors(kv, "vectors.txt")  # doctest: +SKIP
    """
    from semser_tf.io import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        kv.save_word2vec_format(str(tmp), binary=binary)
    return path


def vectors_table(kv) -> tuple[list[str], np.ndarray]:
    """The vocabulary (most frequent first, as stored) and the ``(n, dim)`` float32 table.

    Args:
        kv: ``KeyedVectors``.

    Returns:
        ``(words, vectors)``.

    Example:
        >>> words, V = vectors_table(kv)  # doctest: +SKIP
    """
    words = list(kv.index_to_key)
    return words, np.asarray(kv.vectors, dtype=np.float32)
