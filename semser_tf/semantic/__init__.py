"""The semantic branch: Word2Vec, Speech2Vec, MUSE-style alignment and frame features.

Modules (imported on demand; TensorFlow is loaded only by those that need it):

* :mod:`~semser_tf.semantic.word2vec` - gensim skip-gram text embeddings, word2vec files.
* :mod:`~semser_tf.semantic.mfcc` - 13 MFCCs of word segments in TensorFlow.
* :mod:`~semser_tf.semantic.speech2vec` - the Speech2Vec encoder-decoder.
* :mod:`~semser_tf.semantic.alignment` - Procrustes, CSLS, refinement, adversarial stage.
* :mod:`~semser_tf.semantic.build` - end-to-end alignment with held-out scoring.
* :mod:`~semser_tf.semantic.frame_features` - per-frame features for the data loader.
* :mod:`~semser_tf.semantic.embeddings` - the aligned-embedding artifact.
* :mod:`~semser_tf.cli.embed` - ``semser embed ...``.

See ``docs/semantic.md``.
"""
