"""Speech2Vec (Chung & Glass 2018): word embeddings learnt from speech alone.

The package holds :mod:`~.config` (the settings), :mod:`~.segments` (the training data)
and :mod:`~.model` (the network); their names are re-exported here.

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

from semser_tf.semantic.speech2vec.config import Speech2VecConfig
from semser_tf.semantic.speech2vec.model import Speech2Vec, own_word_accuracy
from semser_tf.semantic.speech2vec.segments import (
    RecordingSegments,
    add_deltas,
    cmvn,
    corpus_segments,
    held_out_split,
    recording_segments,
    skipgram_pairs,
    stretch_frames,
)

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
