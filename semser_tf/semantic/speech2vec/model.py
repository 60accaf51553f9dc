"""The Speech2Vec model (Chung & Glass 2018): encoder, decoder, training, word vectors, and
the own-word accuracy of held-out segments."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from semser_tf.constants import SAMPLE_RATE
from semser_tf.errors import ConfigError, DataError
from semser_tf.semantic.mfcc import N_MFCC, segment_mfccs
from semser_tf.semantic.speech2vec.config import Speech2VecConfig
from semser_tf.semantic.speech2vec.segments import (
    RecordingSegments,
    add_deltas,
    cmvn,
    skipgram_pairs,
    stretch_frames,
)


def own_word_accuracy(
    model: Speech2Vec,
    train: Sequence[RecordingSegments],
    held: Sequence[RecordingSegments],
    prenormalised: bool = True,
) -> dict:
    """Share of held-out segments whose nearest word mean (cosine) is their own word.

    Word means come from ``train`` (:meth:`Speech2Vec.word_vectors`); a held-out segment
    whose word has no training segment counts as an error. Segments with an empty word
    are skipped.

    Args:
        model: a trained :class:`Speech2Vec`.
        train: segments that give the word means.
        held: segments to classify.
        prenormalised: the segments were already normalised per recording
            (:func:`held_out_split` with ``normalise=True``).

    Returns:
        ``{"accuracy", "segments", "correct", "unseen", "words"}``; ``unseen`` counts
        held-out segments of words without a training segment.

    Example:
        >>> train, held = held_out_split(recs)                    # doctest: +SKIP
        >>> own_word_accuracy(model, train, held)["accuracy"]     # doctest: +SKIP
        0.9
    """
    words, vecs, _ = model.word_vectors(train, prenormalised=prenormalised)
    idx = {w: i for i, w in enumerate(words)}
    segs = [
        (w, m)
        for r in held
        for w, m in zip(r.words, r.mfccs if prenormalised else model._group(r.mfccs))
        if w
    ]
    if not segs:
        raise ConfigError("own-word accuracy: no held-out segment with a word")
    enc = model.encode([m for _, m in segs]).astype(np.float64)
    v = vecs.astype(np.float64)
    en = enc / np.maximum(np.linalg.norm(enc, axis=1, keepdims=True), 1e-12)
    vn = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    pred = (en @ vn.T).argmax(axis=1)
    correct = sum(int(w in idx and idx[w] == j) for (w, _), j in zip(segs, pred))
    unseen = sum(int(w not in idx) for w, _ in segs)
    return {
        "accuracy": correct / len(segs),
        "segments": len(segs),
        "correct": int(correct),
        "unseen": int(unseen),
        "words": len(words),
    }


def _repeat_layer():
    import keras
    from keras import ops

    class RepeatToLength(keras.layers.Layer):
        """(batch, dim) and (batch, steps, ...) -> the vector repeated ``steps`` times."""

        def call(self, inputs):
            vec, ref = inputs
            shape = ops.shape(ref)
            return ops.broadcast_to(
                ops.expand_dims(vec, 1), (shape[0], shape[1], ops.shape(vec)[-1])
            )

        def compute_output_shape(self, input_shapes):
            return (input_shapes[1][0], input_shapes[1][1], input_shapes[0][-1])

    return RepeatToLength


def _RepeatToLength(**kwargs):
    return _repeat_layer()(**kwargs)


#: Values of fields that older saved configurations lack (they were trained without them).
_LEGACY_FIELDS = {"deltas": 0, "speed_perturb": 0.0, "lr_decay": 1.0}


class Speech2Vec:
    """The Speech2Vec encoder-decoder (Keras 3).

    Args:
        config: :class:`Speech2VecConfig`.

    Example:
        >>> model = Speech2Vec(Speech2VecConfig(dim=16, hidden_units=16, epochs=1))  # doctest: +SKIP
    """

    def __init__(self, config: Speech2VecConfig | None = None):
        self.config = (config or Speech2VecConfig()).validate()
        self.mean = np.zeros(self.config.n_inputs, np.float32)
        self.std = np.ones(self.config.n_inputs, np.float32)
        self.encoder = None
        self.trainer = None
        self._build()

    # -------------------------------------------------------------- model
    def _build(self):
        import keras
        from keras import layers

        cfg = self.config
        keras.utils.set_random_seed(cfg.seed)
        seg = keras.Input((None, cfg.n_inputs), name="segment")
        x = layers.Masking(mask_value=0.0)(seg)
        if cfg.pooling == "mean":
            x = layers.Bidirectional(
                layers.LSTM(cfg.hidden_units, return_sequences=True), name="encoder_bilstm"
            )(x)
            x = layers.GlobalAveragePooling1D(name="encoder_pool")(x)  # mask-aware
        else:
            x = layers.Bidirectional(layers.LSTM(cfg.hidden_units), name="encoder_bilstm")(x)
        emb = layers.Dense(cfg.dim, name="embedding")(x)
        self.encoder = keras.Model(seg, emb, name="speech2vec_encoder")

        enc_in = keras.Input((None, cfg.n_inputs), name="centre")
        dec_in = keras.Input((None, N_MFCC), name="neighbour")  # only its length is used
        e = self.encoder(enc_in)
        h0 = layers.Dense(cfg.hidden_units, activation="tanh", name="decoder_h0")(e)
        c0 = layers.Dense(cfg.hidden_units, name="decoder_c0")(e)
        steps = _RepeatToLength(name="decoder_inputs")([e, dec_in])
        y = layers.LSTM(cfg.hidden_units, return_sequences=True, name="decoder_lstm")(
            steps, initial_state=[h0, c0]
        )
        y = layers.Dense(N_MFCC, name="decoder_frames")(y)
        self.trainer = keras.Model([enc_in, dec_in], y, name="speech2vec")
        self.trainer.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="mse")

    # --------------------------------------------------------- features
    def normalise_recording(self, mfccs: Sequence[np.ndarray]) -> list:
        """What :meth:`encode` expects of one recording's segment MFCCs: :func:`cmvn` over
        them when ``config.cmvn``, else the arrays unchanged.

        Args:
            mfccs: ``(frames, 13)`` arrays of all word segments of one recording.

        Returns:
            A list of arrays of the same shapes.

        Example:
            >>> enc = model.encode(model.normalise_recording(rec.mfccs))  # doctest: +SKIP
        """
        return cmvn(mfccs) if self.config.cmvn else list(mfccs)

    def _group(self, mfccs, prenormalised: bool = False):
        return list(mfccs) if prenormalised else self.normalise_recording(mfccs)

    def _features(self, m: np.ndarray) -> np.ndarray:
        """The encoder's input before standardisation: MFCCs (+ deltas), at most max_frames."""
        m = np.asarray(m, np.float32)
        if m.ndim != 2 or m.shape[1] != N_MFCC:
            raise DataError(f"MFCC sequence of shape {m.shape}: expected (frames, {N_MFCC})")
        m = m[: self.config.max_frames]
        return add_deltas(m, self.config.deltas) if self.config.deltas and len(m) else m

    def _standardise(self, m: np.ndarray) -> np.ndarray:
        f = self._features(m)
        if f.shape[0] == 0:
            return np.zeros((1, self.config.n_inputs), np.float32)  # a frame at the mean
        return ((f - self.mean) / self.std).astype(np.float32)

    def _pad(self, seqs: Sequence[np.ndarray]) -> np.ndarray:
        n = max(s.shape[0] for s in seqs)
        out = np.zeros((len(seqs), n, seqs[0].shape[1]), np.float32)
        for i, s in enumerate(seqs):
            # a frame of exact zeros would be masked as padding; nudge it (never happens
            # for real MFCCs, whose standardised values are continuous)
            s = np.where(np.all(s == 0, axis=1, keepdims=True), np.float32(1e-6), s)
            out[i, : s.shape[0]] = s
        return out

    # ---------------------------------------------------------- training
    def fit(
        self,
        recordings: Sequence[RecordingSegments],
        epochs: int | None = None,
        progress: Callable[[dict], None] | None = None,
        prenormalised: bool = False,
    ) -> list:
        """Train on the word segments of some recordings (skip-gram, window 3).

        Args:
            recordings: :class:`RecordingSegments` (e.g. from :func:`corpus_segments`).
            epochs: overrides ``config.epochs``.
            progress: called after every epoch with ``{"epoch", "loss", "pairs"}``.
            prenormalised: the segments were already normalised per recording
                (:func:`cmvn`, e.g. by :func:`held_out_split`); skips ``config.cmvn``.

        Returns:
            The per-epoch history.

        Raises:
            DataError: no recording with two or more words (no skip-gram pair).
        """
        cfg = self.config
        seqs = [m for r in recordings for m in self._group(r.mfccs, prenormalised)]
        counts = [len(r.mfccs) for r in recordings]
        rng = np.random.default_rng(cfg.seed)
        if not seqs or not len(skipgram_pairs(counts, cfg.window, rng)):
            raise DataError(
                "no training pairs: expected recordings with at least two word segments"
            )
        feats = [self._features(s) for s in seqs]
        allf = np.concatenate(feats, axis=0)
        self.mean = allf.mean(axis=0).astype(np.float32)
        self.std = np.maximum(allf.std(axis=0), 1e-3).astype(np.float32)
        std = [self._standardise(s) for s in seqs]
        history = []
        for epoch in range(1, int(epochs or cfg.epochs) + 1):
            lr = cfg.learning_rate * cfg.lr_decay ** (epoch - 1)
            self.trainer.optimizer.learning_rate.assign(lr)
            pairs = skipgram_pairs(counts, cfg.window, rng, cfg.self_target)
            pairs = pairs[rng.permutation(len(pairs))]
            # bucket by length to keep padding small
            order = np.argsort(
                [max(std[a].shape[0], std[b].shape[0]) for a, b in pairs], kind="stable"
            )
            batches = [order[i : i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
            rng.shuffle(batches)
            total = 0.0
            n = 0
            for bidx in batches:
                p = pairs[bidx]
                if cfg.speed_perturb:
                    f = rng.uniform(1 - cfg.speed_perturb, 1 + cfg.speed_perturb, len(p))
                    enc = self._pad([stretch_frames(std[a], f[r]) for r, (a, _) in enumerate(p)])
                else:
                    enc = self._pad([std[a] for a, _ in p])
                tgt = self._pad(
                    [std[b][:, :N_MFCC] for _, b in p]
                )  # the decoder rebuilds the MFCCs
                w = np.zeros(tgt.shape[:2], np.float32)
                for r, (_, b) in enumerate(p):
                    w[r, : std[b].shape[0]] = 1.0
                w *= w.size / max(w.sum(), 1.0)  # mean over real frames
                loss = self.trainer.train_on_batch([enc, tgt], tgt, sample_weight=w)
                total += float(np.asarray(loss).reshape(-1)[0]) * len(p)
                n += len(p)
            entry = {"epoch": epoch, "loss": total / n, "pairs": int(n), "learning_rate": lr}
            history.append(entry)
            if progress:
                progress(entry)
        return history

    # ---------------------------------------------------------- inference
    def encode(self, mfccs: Sequence[np.ndarray], batch_size: int = 256) -> np.ndarray:
        """Embed MFCC sequences (one per segment).

        With ``config.cmvn`` the sequences must already be normalised per recording
        (:func:`cmvn`); :meth:`encode_segments` and :meth:`word_vectors` do that.

        Args:
            mfccs: ``(frames, 13)`` arrays (globally standardised here).
            batch_size: segments per forward pass.

        Returns:
            ``(n, dim)`` float32.

        Example:
            >>> model.encode([np.zeros((5, 13))]).shape  # doctest: +SKIP
            (1, 100)
        """
        if len(mfccs) == 0:
            return np.zeros((0, self.config.dim), np.float32)
        std = [self._standardise(m) for m in mfccs]
        order = np.argsort([s.shape[0] for s in std], kind="stable")
        out = np.zeros((len(std), self.config.dim), np.float32)
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            out[idx] = np.asarray(self.encoder(self._pad([std[k] for k in idx]), training=False))
        return out

    def encode_segments(self, audio, timings, path=None) -> np.ndarray:
        """Embed the word segments of a recording (no transcript needed).

        Args:
            audio: 1-D waveform at 22050 Hz.
            timings: ``WordTiming`` items (only start and end are used).
            path: the words file, named in errors.

        Returns:
            ``(n_words, dim)`` float32, one row per timing.

        Raises:
            DataError: timings outside the audio.

        Example:
            >>> vecs = model.encode_segments(audio, words)  # doctest: +SKIP
        """
        if len(timings) == 0:
            return np.zeros((0, self.config.dim), np.float32)
        return self.encode(self._group(segment_mfccs(audio, timings, SAMPLE_RATE, path=path)))

    def word_vectors(
        self,
        recordings: Sequence[RecordingSegments],
        min_count: int = 1,
        prenormalised: bool = False,
    ):
        """Each word's vector: the mean encoding of all its segments.

        Args:
            recordings: :class:`RecordingSegments`.
            min_count: drop words with fewer segments.
            prenormalised: the segments were already normalised per recording.

        Returns:
            ``(words, vectors (n, dim) float32, counts)``, most frequent first (ties by
            word). Segments with an empty word are skipped.

        Raises:
            ConfigError: no word left (empty vocabulary).
        """
        words = [w for r in recordings for w in r.words]
        seqs = [m for r in recordings for m in self._group(r.mfccs, prenormalised)]
        keep = [i for i, w in enumerate(words) if w]
        enc = self.encode([seqs[i] for i in keep])
        sums, counts = {}, {}
        for row, i in enumerate(keep):
            w = words[i]
            sums[w] = sums.get(w, 0) + enc[row].astype(np.float64)
            counts[w] = counts.get(w, 0) + 1
        vocab = sorted((w for w in counts if counts[w] >= min_count), key=lambda w: (-counts[w], w))
        if not vocab:
            raise ConfigError(
                f"speech2vec: empty vocabulary (no word with at least {min_count} segments)"
            )
        vecs = np.stack([sums[w] / counts[w] for w in vocab]).astype(np.float32)
        return vocab, vecs, [counts[w] for w in vocab]

    # ---------------------------------------------------------- persistence
    def get_config(self) -> dict:
        """JSON-serialisable settings and feature statistics."""
        return {
            "config": dataclasses.asdict(self.config),
            "mfcc_mean": self.mean.tolist(),
            "mfcc_std": self.std.tolist(),
        }

    @classmethod
    def from_config(cls, cfg: dict) -> Speech2Vec:
        """Rebuild (untrained weights) from :meth:`get_config`.

        Raises:
            ConfigError: unknown or missing fields.
        """
        try:
            # fields added later take the value that reproduces the older models
            fields = {**_LEGACY_FIELDS, **cfg["config"]}
            conf = Speech2VecConfig(**fields)
            mean = np.asarray(cfg["mfcc_mean"], np.float32)
            std = np.asarray(cfg["mfcc_std"], np.float32)
        except (KeyError, TypeError) as err:
            raise ConfigError(
                f"speech2vec config: {err}: expected the fields of Speech2VecConfig, "
                "mfcc_mean and mfcc_std"
            ) from None
        n = conf.n_inputs
        if mean.shape != (n,) or std.shape != (n,):
            raise ConfigError(
                f"speech2vec config: mfcc_mean/mfcc_std must hold {n} values "
                f"(13 MFCCs x (1 + deltas {conf.deltas}))"
            )
        model = cls(conf)
        model.mean, model.std = mean, std
        return model

    def save_weights(self, path) -> Path:
        """Write the encoder and decoder weights (``.weights.h5``, no pickle), atomically."""
        from semser_tf.io import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp:
            self.trainer.save_weights(str(tmp))
        return path

    def load_weights(self, path) -> None:
        """Load weights written by :meth:`save_weights`.

        Raises:
            DataError: missing file or weights of another architecture.
        """
        path = Path(path)
        if not path.is_file():
            raise DataError("Speech2Vec weights not found", path)
        import warnings

        try:
            with warnings.catch_warnings():
                # the optimizer state saved with the weights is not needed for encoding
                warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
                self.trainer.load_weights(str(path))
        except (ValueError, KeyError, OSError) as err:
            raise DataError(
                f"weights do not match this Speech2Vec configuration: {err}", path
            ) from None
