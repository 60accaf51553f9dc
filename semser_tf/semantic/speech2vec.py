"""Speech2Vec (Chung & Glass 2018): word embeddings learnt from speech alone.

A word segment's 13 MFCCs (:mod:`semser_tf.semantic.mfcc`, standardised with the training
mean and standard deviation; optionally with deltas, ``deltas``) go through a bidirectional
LSTM encoder; its outputs averaged over the real frames (``pooling="mean"``, default) or its
final states (both directions, ``"last"``) are projected to the embedding (100 values). The
decoder, an LSTM whose initial state is computed from the embedding, reconstructs the
MFCC sequence of a *neighbouring* word (skip-gram: a word within ``window`` = 3 positions
of the same recording; one neighbour is sampled per training pair and epoch). The decoder
gets the embedding as its input at every step, without teacher forcing: fed the true
previous frames, it learns to continue the sequence from them and the embedding carries
nothing (observed: held-out word identity at chance). The loss is the mean squared error
over the real (unpadded) frames only. Adam, learning rate 2e-3 decayed by 0.85 per epoch.

Word identity: :func:`held_out_split` and :func:`own_word_accuracy` measure how often a
held-out segment's nearest word vector is its own word (91.4 % on the 240-minute synthetic
corpus with the defaults; docs/measurements/results.md).

A word's vector is the mean of the encodings of all its segments
(:meth:`Speech2Vec.word_vectors`); :meth:`Speech2Vec.encode_segments` embeds any segment
of any recording, no transcript needed.

Segment handling: segments shorter than one MFCC frame (25 ms) are zero-padded to one
frame (see :mod:`~semser_tf.semantic.mfcc`); segments longer than ``max_frames`` frames
keep their first ``max_frames`` frames; word timings outside the audio raise
:class:`~semser_tf.errors.DataError` naming the words file and line.

Example:
    >>> s2v = Speech2Vec(Speech2VecConfig(dim=50, epochs=2))      # doctest: +SKIP
    >>> recs = corpus_segments("corpora/synth", partitions=("Train",))  # doctest: +SKIP
    >>> s2v.fit(recs)                                             # doctest: +SKIP
    >>> words, vectors, counts = s2v.word_vectors(recs)           # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from semser_tf.constants import SAMPLE_RATE
from semser_tf.errors import ConfigError, DataError
from semser_tf.semantic.mfcc import N_MFCC, segment_mfccs

__all__ = [
    "Speech2VecConfig",
    "RecordingSegments",
    "recording_segments",
    "corpus_segments",
    "skipgram_pairs",
    "cmvn",
    "add_deltas",
    "stretch_frames",
    "held_out_split",
    "own_word_accuracy",
    "Speech2Vec",
]


@dataclasses.dataclass
class Speech2VecConfig:
    """Speech2Vec settings.

    Args:
        dim: embedding size (100; Speech2Vec used 50-300).
        hidden_units: LSTM units of the encoder (each direction) and decoder (128).
        window: skip-gram window in words (3).
        max_frames: longest MFCC sequence kept (100 frames = 1 s).
        epochs: training epochs (each samples one neighbour per word occurrence; 15).
        batch_size: pairs per step (64).
        learning_rate: Adam learning rate (2e-3).
        self_target: probability that a pair's target is the centre segment itself
            (0.9). 0 is the original skip-gram objective; on a small corpus whose words
            share contexts (a template grammar), that objective gives no reason to keep
            words apart and segment encodings lose word identity (held-out own-word
            nearest neighbour near chance); reconstructing the segment itself half the
            time keeps it (60 min synthetic corpus, held-out own-word accuracy: 0.5 -> 80 %
            after 30 epochs; 0.75 with cmvn -> 81 %; 0.9 with cmvn and mean pooling -> 84 %,
            after 10-15 epochs; 240 min corpus, the defaults: 0.75 -> 90.8 %, 0.9 -> 91.4 %).
            See docs/semantic.md.
        cmvn: per-recording cepstral mean and variance normalisation: the MFCCs of all
            word segments of one recording (one call of :meth:`Speech2Vec.encode_segments`)
            are normalised by their own per-coefficient mean and standard deviation before
            the global standardisation. Removes much of the speaker and channel.
        pooling: how the encoder summarises the BiLSTM: ``"mean"`` (mean of the outputs
            over the real frames, default: better word identity in our runs) or ``"last"``
            (final states of both directions, as Speech2Vec).
        deltas: extra encoder input channels: 0 (the 13 MFCCs only), 1 (+ deltas) or
            2 (+ deltas and delta-deltas), each the HTK regression over +-2 frames
            (:func:`add_deltas`). Input of the encoder only: the decoder still
            reconstructs the 13 MFCCs.
        speed_perturb: time-stretch augmentation of the encoder input during training:
            each centre segment's frames are resampled (linear interpolation) by a factor
            drawn uniformly from ``[1 - speed_perturb, 1 + speed_perturb]`` (0: off).
            The decoder target is not stretched.
        lr_decay: the learning rate is multiplied by this after every epoch (0.85; 1:
            constant). 240 min synthetic corpus, held-out own-word accuracy after 15
            epochs: 91.4 % (constant rate: see docs/measurements/results.md).
        seed: seeds the weights and the neighbour sampling.

    Example:
        >>> Speech2VecConfig().window
        3
    """

    dim: int = 100
    hidden_units: int = 128
    window: int = 3
    max_frames: int = 100
    epochs: int = 15
    batch_size: int = 64
    learning_rate: float = 2e-3
    self_target: float = 0.9
    cmvn: bool = True
    pooling: str = "mean"
    deltas: int = 0
    speed_perturb: float = 0.0
    lr_decay: float = 0.85
    seed: int = 0

    def validate(self) -> Speech2VecConfig:
        """Check the fields; raise :class:`ConfigError` naming the bad one."""
        for name in ("dim", "hidden_units", "window", "max_frames", "epochs", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"speech2vec.{name}: expected a positive integer, got {v!r}")
        if self.pooling not in ("last", "mean"):
            raise ConfigError(
                f"speech2vec.pooling: expected 'last' or 'mean', got {self.pooling!r}"
            )
        if not 0.0 <= self.self_target < 1.0:
            raise ConfigError(
                f"speech2vec.self_target: expected a value in [0, 1), got {self.self_target!r}"
            )
        if not self.learning_rate > 0:
            raise ConfigError(f"speech2vec.learning_rate: expected > 0, got {self.learning_rate!r}")
        if self.deltas not in (0, 1, 2) or isinstance(self.deltas, bool):
            raise ConfigError(f"speech2vec.deltas: expected 0, 1 or 2, got {self.deltas!r}")
        if not 0.0 <= self.speed_perturb < 1.0:
            raise ConfigError(
                f"speech2vec.speed_perturb: expected a value in [0, 1), got {self.speed_perturb!r}"
            )
        if not 0.0 < self.lr_decay <= 1.0:
            raise ConfigError(
                f"speech2vec.lr_decay: expected a value in (0, 1], got {self.lr_decay!r}"
            )
        return self

    @property
    def n_inputs(self) -> int:
        """Encoder input channels: 13 MFCCs times ``1 + deltas``."""
        return N_MFCC * (1 + int(self.deltas))


class RecordingSegments(NamedTuple):
    """The word segments of one recording, in spoken order.

    Args:
        name: recording name.
        words: normalised words (``""`` when a segment has no usable word).
        mfccs: one ``(frames, 13)`` float32 array per word.
    """

    name: str
    words: list
    mfccs: list


def recording_segments(audio_path, words_path, name: str | None = None) -> RecordingSegments:
    """Load one recording's audio and word timings and compute its word segments' MFCCs.

    Args:
        audio_path: the audio file (resampled to 22050 Hz on load).
        words_path: ``start;end;word`` file, or the timings themselves
            (:class:`~semser_tf.types.WordTiming` items).
        name: recording name (default: the words file's or audio file's stem).

    Returns:
        :class:`RecordingSegments`.

    Raises:
        DataError: unreadable files, or a word outside the audio (file and line named).

    Example:
        >>> rec = recording_segments("audio/Train_01.wav", "words/Train_01.csv")  # doctest: +SKIP
    """
    from semser_tf.data.audio import load_audio
    from semser_tf.data.timings import read_words
    from semser_tf.semantic.word2vec import normalize_word

    if isinstance(words_path, (list, tuple)):
        timings, where = list(words_path), audio_path
    else:
        timings, where = read_words(words_path), words_path
    audio = load_audio(audio_path, SAMPLE_RATE)
    mfccs = segment_mfccs(audio, timings, SAMPLE_RATE, path=where) if timings else []
    return RecordingSegments(
        name or Path(where).stem, [normalize_word(t.word) for t in timings], mfccs
    )


def corpus_segments(
    root,
    partitions: Sequence[str] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    words_dir=None,
) -> list[RecordingSegments]:
    """Word segments of every recording of a corpus that has word timings.

    The timings are those every other command uses: ``words_dir/<name>.csv`` when given,
    else the corpus's ``words/<name>.csv``, else its turn transcriptions spread over the
    turns by the documented fallback (:func:`~semser_tf.data.timings.spread_words`).

    Args:
        root: a SEWA-layout folder, a manifest file, or a
            :class:`~semser_tf.data.corpus.Corpus`.
        partitions: keep recordings whose name starts with one of these (e.g.
            ``("Train",)``); ``None`` keeps all.
        progress: called with ``(done, total, name)`` after each recording.
        words_dir: a folder of ``<name>.csv`` word timings (recognised, aligned...).

    Returns:
        One :class:`RecordingSegments` per recording with words, sorted by name.

    Raises:
        DataError: no recording with word timings, or unreadable files.

    Example:
        >>> recs = corpus_segments("corpora/synth", partitions=("Train",))  # doctest: +SKIP
    """
    from semser_tf.data.corpus import Corpus

    if isinstance(root, Corpus):
        corpus = root
    else:
        root = Path(root)
        if root.is_dir():
            from semser_tf.data.sewa import SEWACorpus

            corpus = SEWACorpus(root, require_labels=())
        elif root.is_file():
            from semser_tf.data.manifest import load_manifest

            corpus = load_manifest(root)
        else:
            raise DataError(
                "corpus not found: expected a SEWA-layout folder or a manifest file", root
            )
    if words_dir:
        corpus = corpus.with_words(words_dir)
    recs = sorted(corpus.recordings(), key=lambda r: r.name)
    if partitions:
        recs = [
            r for r in recs if any(r.name.startswith(x) or r.partition == x for x in partitions)
        ]
    recs = [r for r in recs if r.words]
    if not recs:
        raise DataError(
            f"no recording{' of ' + ','.join(partitions) if partitions else ''} has word timings: "
            "expected words/<name>.csv (start;end;word), transcriptions/<name>.csv, or a "
            "--words-dir folder",
            getattr(corpus, "root", None) or root,
        )
    out = []
    for i, rec in enumerate(recs, 1):
        out.append(recording_segments(rec.audio_path, rec.words, rec.name))
        if progress:
            progress(i, len(recs), rec.name)
    return out


def skipgram_pairs(
    n_words_per_recording: Sequence[int],
    window: int,
    rng: np.random.Generator,
    self_target: float = 0.0,
) -> np.ndarray:
    """One (centre, neighbour) pair per word occurrence, neighbour drawn within the window.

    Indices are global over the concatenated recordings; a neighbour is never the word
    itself and never crosses a recording boundary. One-word recordings give no pair.

    Args:
        n_words_per_recording: words in each recording.
        window: maximum distance in words.
        rng: random generator.
        self_target: probability of pairing a word with itself instead.

    Returns:
        ``(n_pairs, 2)`` int64 array.

    Example:
        >>> skipgram_pairs([3], 1, np.random.default_rng(0)).shape
        (3, 2)
    """
    pairs = []
    offset = 0
    for n in n_words_per_recording:
        for i in range(n):
            cands = [j for j in range(max(0, i - window), min(n, i + window + 1)) if j != i]
            if cands:
                j = (
                    i
                    if (self_target and rng.random() < self_target)
                    else cands[int(rng.integers(len(cands)))]
                )
                pairs.append((offset + i, offset + j))
        offset += n
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def cmvn(mfccs: Sequence[np.ndarray]) -> list:
    """Cepstral mean and variance normalisation over a group of segments (one recording).

    Args:
        mfccs: ``(frames, 13)`` arrays of one recording.

    Returns:
        The arrays minus the group's per-coefficient mean, divided by its standard
        deviation (floored at 1e-3).

    Example:
        >>> out = cmvn([np.array([[1.0] * 13, [3.0] * 13])])
        >>> out[0][:, 0].tolist()
        [-1.0, 1.0]
    """
    if len(mfccs) == 0:
        return []
    allf = np.concatenate([np.asarray(m, np.float64) for m in mfccs], axis=0)
    mu = allf.mean(axis=0)
    sd = np.maximum(allf.std(axis=0), 1e-3)
    return [((np.asarray(m, np.float64) - mu) / sd).astype(np.float32) for m in mfccs]


def add_deltas(frames: np.ndarray, order: int = 2, width: int = 2) -> np.ndarray:
    """Append delta (and delta-delta) coefficients to a feature sequence.

    HTK regression: ``d_t = sum_{n=1..width} n (c_{t+n} - c_{t-n}) / (2 sum_{n} n^2)``,
    the first and last frames repeated beyond the ends; delta-deltas are the deltas of the
    deltas.

    Args:
        frames: ``(frames, channels)`` array.
        order: 0 (unchanged), 1 (+ deltas) or 2 (+ deltas and delta-deltas).
        width: frames on each side (2).

    Returns:
        ``(frames, channels * (1 + order))`` float32: the input, then its deltas, then
        the delta-deltas.

    Example:
        >>> add_deltas(np.arange(5.0)[:, None], order=1)[2].tolist()
        [2.0, 1.0]
    """
    x = np.asarray(frames, np.float64)
    if x.ndim != 2:
        raise DataError(f"feature sequence of shape {x.shape}: expected (frames, channels)")
    out = [x]
    cur = x
    denom = 2.0 * sum(n * n for n in range(1, width + 1))
    for _ in range(int(order)):
        padded = np.concatenate(
            [np.repeat(cur[:1], width, 0), cur, np.repeat(cur[-1:], width, 0)], axis=0
        )
        t = len(cur)
        d = sum(
            n * (padded[width + n : width + n + t] - padded[width - n : width - n + t])
            for n in range(1, width + 1)
        )
        cur = d / denom
        out.append(cur)
    return np.concatenate(out, axis=1).astype(np.float32)


def stretch_frames(frames: np.ndarray, factor: float) -> np.ndarray:
    """Time-stretch a feature sequence by linear interpolation between frames.

    Args:
        frames: ``(n, channels)`` array.
        factor: speed factor: above 1 is faster (fewer frames), ``round(n / factor)``
            frames (at least 1) sampled evenly from the first to the last frame.

    Returns:
        ``(round(n / factor), channels)`` float32.

    Example:
        >>> stretch_frames(np.arange(5.0)[:, None], 0.5)[:, 0].tolist()[:3]
        [0.0, 0.4444444477558136, 0.8888888955116272]
    """
    x = np.asarray(frames, np.float32)
    n = x.shape[0]
    m = max(1, int(round(n / float(factor))))
    if m == n or n == 1:
        return x if n == 1 else x.copy()
    pos = np.linspace(0.0, n - 1.0, m)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    frac = (pos - lo)[:, None].astype(np.float32)
    return (x[lo] * (1 - frac) + x[hi] * frac).astype(np.float32)


def held_out_split(
    recordings: Sequence[RecordingSegments], every: int = 5, offset: int = 2, normalise: bool = True
):
    """Hold out every ``every``-th segment of each recording (positions ``offset``, ``offset + every``, ...).

    The word-identity protocol of docs/measurements/results.md: the held-out segments take no part in
    training nor in the word means. With ``normalise`` each recording's segments are first
    normalised together (:func:`cmvn`, as :meth:`Speech2Vec.encode_segments` would), so
    the returned segments are already normalised: pass ``prenormalised=True`` to
    :meth:`Speech2Vec.fit` and :meth:`Speech2Vec.word_vectors`.

    Args:
        recordings: :class:`RecordingSegments`.
        every: hold out one segment in this many (>= 2).
        offset: position of the first held-out segment, ``0 <= offset < every``.
        normalise: apply :func:`cmvn` per recording before the split.

    Returns:
        ``(train, held)``: two lists of :class:`RecordingSegments` with the same names.

    Raises:
        ConfigError: ``every < 2`` or ``offset`` outside ``[0, every)``.

    Example:
        >>> r = RecordingSegments("a", list("abcdefg"), [np.ones((2, 13))] * 7)
        >>> train, held = held_out_split([r], every=5, offset=2, normalise=False)
        >>> held[0].words, len(train[0].words)
        (['c'], 6)
    """
    if not isinstance(every, (int, np.integer)) or every < 2:
        raise ConfigError(f"held-out split: every must be an integer >= 2, got {every!r}")
    if not isinstance(offset, (int, np.integer)) or not 0 <= offset < every:
        raise ConfigError(f"held-out split: offset must be in [0, {every}), got {offset!r}")
    train, held = [], []
    for r in recordings:
        mf = cmvn(r.mfccs) if normalise else list(r.mfccs)
        tr = [i for i in range(len(r.words)) if i % every != offset]
        ho = [i for i in range(len(r.words)) if i % every == offset]
        train.append(RecordingSegments(r.name, [r.words[i] for i in tr], [mf[i] for i in tr]))
        held.append(RecordingSegments(r.name, [r.words[i] for i in ho], [mf[i] for i in ho]))
    return train, held


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
