"""Per-frame semantic features: the aligned embedding of the word spoken at each frame.

Frame ``i`` (100 ms, 10 Hz) is centred at ``t_i = (i + 0.5) / 10`` s. It gets the vector of
the word whose span ``[start, end)`` contains ``t_i`` (if two spans overlap, the one listed
first), and zeros where no word is spoken (silence, pauses, beyond the last word).

Two modes:

* ``lookup`` (the official code): the transcript word (normalised by
  :func:`~semser_tf.semantic.word2vec.normalize_word`) is looked up in the aligned table.
  An out-of-vocabulary word gets a **deterministic** vector: a standard normal vector drawn
  from a generator seeded with ``SHA-256(f"{oov_seed}:{word}")``, scaled to the mean norm
  of the table's vectors. The same word thus always gets the same vector, in every run and
  on every machine (the official code drew a fresh random vector each time). A word that
  normalises to ``""`` (a tag, punctuation) counts as silence (zeros). Every occurrence of
  a word gets the same vector.
* ``encode`` (needs no transcript): each word segment of ``recording.audio_path`` (spans
  from ``recording.words``; the word strings are ignored) is embedded by the Speech2Vec
  encoder and mapped into the text space by the same preprocessing and ``W`` as the
  table.

Both implement the loader's frame-feature protocol (``semser_tf.data.pipeline``): a
callable ``f(recording, n_frames) -> (n_frames, dim)`` float32 with attributes ``dim`` and
``cache_key``; only ``recording.words`` and ``recording.audio_path`` are used.

Example:
    >>> import numpy as np
    >>> from semser_tf.types import WordTiming
    >>> f = LookupFrameFeatures(["ja"], np.ones((1, 2), np.float32))
    >>> class Rec: words = [WordTiming(0.0, 0.25, "Ja")]; audio_path = None
    >>> f(Rec(), 4)
    array([[1., 1.],
           [1., 1.],
           [0., 0.],
           [0., 0.]], dtype=float32)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np

from semser_tf.constants import FRAME_RATE
from semser_tf.errors import ConfigError, DataError

__all__ = [
    "report_coverage",
    "frame_spans",
    "words_to_frames",
    "oov_vector",
    "LookupFrameFeatures",
    "TextFrameFeatures",
    "EncodeFrameFeatures",
]


def frame_spans(
    start: float, end: float, n_frames: int, frame_rate: int = FRAME_RATE
) -> tuple[int, int]:
    """Frames ``[a, b)`` whose centres ``(i + 0.5) / frame_rate`` lie in ``[start, end)``.

    Example:
        >>> frame_spans(0.0, 0.25, 10)
        (0, 2)
        >>> frame_spans(0.12, 0.14, 10)   # no frame centre inside: no frame
        (1, 1)
    """
    a = int(np.ceil(start * frame_rate - 0.5))
    b = int(np.ceil(end * frame_rate - 0.5))
    a = min(max(a, 0), n_frames)
    b = min(max(b, a), n_frames)
    return a, b


def words_to_frames(
    timings, vectors: np.ndarray, n_frames: int, frame_rate: int = FRAME_RATE
) -> np.ndarray:
    """Spread per-word vectors over 10 Hz frames (zeros where no word is spoken).

    Args:
        timings: ``WordTiming`` items (start and end in seconds).
        vectors: ``(len(timings), dim)``; a row of ``None``-like zeros is simply zeros.
        n_frames: number of frames.
        frame_rate: frames per second (10).

    Returns:
        ``(n_frames, dim)`` float32.

    Example:
        >>> words_to_frames([(0.0, 0.1, "a")], np.ones((1, 2)), 2).tolist()
        [[1.0, 1.0], [0.0, 0.0]]
    """
    vectors = np.asarray(vectors, np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(timings):
        raise ConfigError(
            f"vectors of shape {vectors.shape}: expected ({len(timings)}, dim), one row per word"
        )
    out = np.zeros((int(n_frames), vectors.shape[1]), np.float32)
    filled = np.zeros(int(n_frames), bool)
    for t, v in zip(timings, vectors):
        a, b = frame_spans(float(t[0]), float(t[1]), int(n_frames), frame_rate)
        if b > a:
            free = ~filled[a:b]
            out[a:b][free] = v
            filled[a:b] = True
    return out


def oov_vector(word: str, dim: int, norm: float, seed: int = 0) -> np.ndarray:
    """The deterministic vector of an out-of-vocabulary word.

    Args:
        word: the normalised word.
        dim: vector size.
        norm: the length of the result (the table's mean norm).
        seed: changes every OOV vector at once.

    Returns:
        ``(dim,)`` float32 of length ``norm``.

    Example:
        >>> bool(np.allclose(oov_vector("xyz", 4, 2.0), oov_vector("xyz", 4, 2.0)))
        True
    """
    digest = hashlib.sha256(f"{int(seed)}:{word}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    v = rng.standard_normal(int(dim))
    return (v / np.linalg.norm(v) * float(norm)).astype(np.float32)


def _table_key(words, vectors, extra: str) -> str:
    h = hashlib.sha256()
    h.update("\n".join(words).encode("utf-8"))
    h.update(np.ascontiguousarray(vectors, np.float32).tobytes())
    h.update(extra.encode("utf-8"))
    return h.hexdigest()[:16]


class LookupFrameFeatures:
    """Frame features by transcript lookup in an aligned table.

    Args:
        words: the table's vocabulary (normalised words).
        vectors: ``(len(words), dim)`` aligned vectors.
        oov_seed: seed of the deterministic OOV vectors.

    Raises:
        ConfigError: empty vocabulary, duplicate words, or a vectors/words mismatch.

    Example:
        >>> f = LookupFrameFeatures(["a", "b"], np.eye(2, dtype=np.float32))
        >>> f.dim
        2
    """

    def __init__(self, words: Sequence[str], vectors, oov_seed: int = 0):
        vectors = np.asarray(vectors, np.float32)
        words = [str(w) for w in words]
        if len(words) == 0:
            raise ConfigError("frame features: empty vocabulary; expected at least one word")
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ConfigError(
                f"frame features: vectors of shape {vectors.shape}, expected ({len(words)}, dim)"
            )
        if len(set(words)) != len(words):
            raise ConfigError("frame features: duplicate words in the vocabulary")
        self.words = words
        self.vectors = vectors
        self.index = {w: i for i, w in enumerate(words)}
        self.dim = int(vectors.shape[1])
        self.oov_seed = int(oov_seed)
        self.mean_norm = float(np.linalg.norm(vectors, axis=1).mean())
        self.cache_key = "s2v-lookup:" + _table_key(words, vectors, f"oov={oov_seed}")

    def vector(self, word: str) -> np.ndarray:
        """The vector of one word (table, deterministic OOV vector, or zeros for ``""``)."""
        from semser_tf.semantic.word2vec import normalize_word

        w = normalize_word(word)
        if not w:
            return np.zeros(self.dim, np.float32)
        i = self.index.get(w)
        if i is not None:
            return self.vectors[i]
        return oov_vector(w, self.dim, self.mean_norm, self.oov_seed)

    def __call__(self, recording, n_frames: int) -> np.ndarray:
        words = list(recording.words)
        vecs = (
            np.stack([self.vector(t[2]) for t in words])
            if words
            else np.zeros((0, self.dim), np.float32)
        )
        return words_to_frames(words, vecs, n_frames)

    def coverage(self, words):
        """OOV count of ``words`` (as written) against this table: a
        :class:`~semser_tf.semantic.text_space.Coverage`."""
        from collections import Counter

        from semser_tf.semantic.text_space import Coverage
        from semser_tf.semantic.word2vec import normalize_word

        counts = Counter(w for w in (normalize_word(x) for x in words) if w)
        oov = Counter({w: c for w, c in counts.items() if w not in self.index})
        return Coverage(
            sum(counts.values()),
            sum(oov.values()),
            len(counts),
            len(oov),
            tuple(w for w, _ in oov.most_common(10)),
        )

    def __repr__(self) -> str:
        return f"LookupFrameFeatures(words={len(self.words)}, dim={self.dim})"


class TextFrameFeatures:
    """The ``text`` mode over an external text space (GloVe...): any word it knows.

    A word's feature is its text-space vector, preprocessed as in the alignment
    (``normalize(v - text_mean)``); a word the space does not know (see
    :meth:`~semser_tf.semantic.text_space.TextSpace.key` for the forms tried) falls back to
    its aligned speech vector, then to the deterministic OOV vector (unit length, the
    length of every preprocessed text vector).

    Args:
        space: a :class:`~semser_tf.semantic.text_space.TextSpace`.
        text_mean: ``(dim,)`` mean subtracted in the alignment.
        speech_words, speech_vectors: the aligned speech table (fallback).
        oov_seed: seed of the OOV vectors.
    """

    def __init__(
        self,
        space,
        text_mean,
        speech_words: Sequence[str] = (),
        speech_vectors=None,
        oov_seed: int = 0,
    ):
        self.space = space
        self.text_mean = np.asarray(text_mean, np.float32)
        self.dim = space.dim
        if self.text_mean.shape != (self.dim,):
            raise ConfigError(
                f"text frame features: text_mean of shape {self.text_mean.shape}, expected ({self.dim},)"
            )
        self.speech = {}
        if speech_vectors is not None and len(speech_words):
            self.speech = dict(
                zip([str(w) for w in speech_words], np.asarray(speech_vectors, np.float32))
            )
        self.oov_seed = int(oov_seed)
        self.cache_key = "text-space:" + _table_key(
            [space.name, str(len(space)), *sorted(self.speech)],
            self.text_mean,
            f"oov={oov_seed}:"
            + hashlib.sha256(np.ascontiguousarray(space.vectors[:1000]).tobytes()).hexdigest()[:16],
        )
        self._memo = {}

    def vector(self, word: str) -> np.ndarray:
        """The feature of one word (text space, aligned speech vector, OOV vector, or zeros for ``""``)."""
        from semser_tf.semantic.word2vec import normalize_word

        w = normalize_word(word)
        if not w:
            return np.zeros(self.dim, np.float32)
        v = self._memo.get(w)
        if v is None:
            t = self.space.vector(w)
            if t is not None:
                t = t - self.text_mean
                n = float(np.linalg.norm(t))
                v = (t / n if n else t).astype(np.float32)
            elif w in self.speech:
                v = self.speech[w]
            else:
                v = oov_vector(w, self.dim, 1.0, self.oov_seed)
            self._memo[w] = v
        return v

    def coverage(self, words):
        """OOV count of ``words`` against the text space (speech-table fallbacks count as OOV)."""
        return self.space.coverage(words)

    def __call__(self, recording, n_frames: int) -> np.ndarray:
        words = list(recording.words)
        vecs = (
            np.stack([self.vector(t[2]) for t in words])
            if words
            else np.zeros((0, self.dim), np.float32)
        )
        return words_to_frames(words, vecs, n_frames)

    def __repr__(self) -> str:
        return f"TextFrameFeatures({self.space.name}, words={len(self.space)}, dim={self.dim})"


class EncodeFrameFeatures:
    """Transcript-free frame features: Speech2Vec encodings of the word segments, mapped.

    Args:
        encode: ``encode(audio, timings, path) -> (n_words, dim_s)`` (e.g.
            :meth:`Speech2Vec.encode_segments`).
        transform: maps raw encodings ``(n, dim_s)`` to aligned vectors ``(n, dim)``
            (preprocessing then ``W``).
        dim: output size.
        cache_key: identifies encoder + mapping (for the loader's cache).

    Example:
        >>> f = EncodeFrameFeatures(s2v.encode_segments, transform, 100, "k")  # doctest: +SKIP
    """

    def __init__(self, encode: Callable, transform: Callable, dim: int, cache_key: str):
        self.encode = encode
        self.transform = transform
        self.dim = int(dim)
        self.cache_key = "s2v-encode:" + str(cache_key)

    def __call__(self, recording, n_frames: int) -> np.ndarray:
        from semser_tf.constants import SAMPLE_RATE
        from semser_tf.data.audio import load_audio

        words = list(recording.words)
        if not words:
            return np.zeros((int(n_frames), self.dim), np.float32)
        path = getattr(recording, "audio_path", None)
        if path is None:
            raise DataError(
                "encode-mode frame features need the recording's audio (audio_path is None)"
            )
        audio = load_audio(path, SAMPLE_RATE)
        raw = self.encode(audio, words, getattr(recording, "words_path", None) or path)
        return words_to_frames(words, self.transform(np.asarray(raw)), n_frames)

    def __repr__(self) -> str:
        return f"EncodeFrameFeatures(dim={self.dim})"


def report_coverage(features, corpus, stream=None) -> None:
    """Print how many of the corpus's words the frame features know (the OOV rate)."""
    import sys

    if features is None or corpus is None or not hasattr(features, "coverage"):
        return
    words = [w[2] for r in corpus.recordings() for w in r.words]
    if not words:
        print(
            "semantic input: the corpus has no word timings (words/, transcriptions/ or --words-dir): "
            "the semantic input is zeros",
            file=stream or sys.stderr,
        )
        return
    print(
        f"semantic input ({getattr(features, 'mode', '?')} mode): {features.coverage(words).summary()}",
        file=stream or sys.stderr,
    )
