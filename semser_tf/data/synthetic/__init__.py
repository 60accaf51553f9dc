"""A synthetic corpus of real (synthesised) speech in the AVEC 2017 SEWA layout.

Each recording is one speaker (an eSpeak NG voice) saying English sentences, separated by
pauses. The labels are made so that the paper's claim can be checked: **valence** comes
only from the words (their lexicon ratings), **arousal** only from the voice (speaking
rate, pitch, pitch range and loudness, driven by a smooth random trajectory drawn
independently of the words), and **liking** mixes both. Labels are then smoothed and
delayed as human ratings are.

Two recipes (``recipe=``) decide what is said:

* ``real`` (generator version 2.0, ``semser synth``'s default): real English sentences
  from the news and review text that gensim ships, chosen by a slowly varying mood,
  evaluative adjectives swapped by it, words rated with VADER; held-out Test voices
  (:mod:`semser_tf.data.synthetic.real`).
* ``template`` (version 1.0): a small built-in lexicon in 14 templates, byte for byte as
  before 2.0 (:mod:`semser_tf.data.synthetic.template`).

Layout (``generate_corpus``)::

    audio/<Part>_NN.wav            22050 Hz, 16-bit PCM, mono
    labels/<Part>_NN.csv           'name';time;arousal;valence;liking   (10 Hz, no header)
    turns/<Part>_NN.csv            start;end            (speech spans)
    transcriptions/<Part>_NN.csv   start;end;'sentence'
    words/<Part>_NN.csv            start;end;word
    corpus.json                    parameters, ground truth per sentence, sizes

Formulas: :mod:`semser_tf.data.synthetic.labels` and ``docs/synthetic_corpus.md``.
Modules: ``labels`` (label model), ``template`` and ``real`` (what is said),
``recording`` (one recording), ``corpus`` (the whole corpus, isolated workers),
``stats`` (the figures of the docs).
"""

from semser_tf.data.synthetic.corpus import (
    DEFAULT_TEST_VOICES,
    DEFAULT_VOICES,
    GENERATOR_VERSION,
    GENERATOR_VERSIONS,
    PARTITIONS,
    _Progress,  # noqa: F401  (used by the tests and by callers of 1.0)
    _run_isolated,  # noqa: F401
    generate_corpus,
    generate_text_corpus,
    read_corpus_meta,
)
from semser_tf.data.synthetic.labels import (
    ANNOTATION_LAG_S,
    AROUSAL_SCALE,
    AROUSAL_SIGMA_S,
    LIKING_WEIGHTS,
    MOOD_SCALE,
    MOOD_SIGMA_S,
    NOISE_DBFS,
    SMOOTHING_TAU_S,
    VALENCE_RELAX_TAU_S,
    prosody_for_arousal,
    rating_filter,
)
from semser_tf.data.synthetic.real import (
    RealSentences,
    SentencePool,
    real_text_lines,
    sentence_pool,
)
from semser_tf.data.synthetic.recording import (
    RECIPES,
    GeneratedRecording,
    SentenceInfo,
    generate_recording,
    write_recording,
)
from semser_tf.data.synthetic.template import LEXICON, TEMPLATES, lexicon_sizes, make_sentence

__all__ = [
    "ANNOTATION_LAG_S",
    "AROUSAL_SCALE",
    "AROUSAL_SIGMA_S",
    "DEFAULT_TEST_VOICES",
    "DEFAULT_VOICES",
    "GENERATOR_VERSION",
    "GENERATOR_VERSIONS",
    "LEXICON",
    "LIKING_WEIGHTS",
    "MOOD_SCALE",
    "MOOD_SIGMA_S",
    "NOISE_DBFS",
    "PARTITIONS",
    "RECIPES",
    "SMOOTHING_TAU_S",
    "TEMPLATES",
    "VALENCE_RELAX_TAU_S",
    "GeneratedRecording",
    "RealSentences",
    "SentenceInfo",
    "SentencePool",
    "generate_corpus",
    "generate_recording",
    "generate_text_corpus",
    "lexicon_sizes",
    "make_sentence",
    "prosody_for_arousal",
    "rating_filter",
    "read_corpus_meta",
    "real_text_lines",
    "sentence_pool",
    "write_recording",
]
