"""Alignment of the speech embedding space onto the text space (MUSE, Conneau et al. 2018).

The package holds one module per stage, and re-exports their names here:
:mod:`~.tables` (checks, normalisation, Procrustes), :mod:`~.csls` (CSLS and its blocked
sweeps), :mod:`~.refinement` (dictionaries, criterion, iterated Procrustes),
:mod:`~.evaluation` (precision@k, supervised alignment) and :mod:`~.adversarial`.

Conventions (read this first):

* **Vectors are rows.** An embedding table is an array of shape ``(n_words, dim)``;
  row ``i`` is the vector of word ``i``. Rows are ordered by decreasing word frequency
  (row 0 is the most frequent word): "the most frequent words" means "the first rows".
* **The mapping acts on column vectors**, as in the paper: ``W`` has shape ``(dim, dim)``
  and maps a speech vector ``s`` to ``W @ s``. For a table of row vectors this is
  ``S @ W.T``; :func:`apply_mapping` does exactly that.
* ``S`` is the source (speech) table, ``T`` the target (text) table. A dictionary is an
  integer array of shape ``(m, 2)`` of ``(source row, target row)`` pairs.

The pieces:

* :func:`procrustes` - the orthogonal ``W`` minimising ``||W S^T - T^T||_F`` over paired
  rows: ``W = U V^T`` with ``U Sigma V^T = SVD(T^T S)``.
* :func:`csls_scores`, :func:`csls_knn` - cross-domain similarity local scaling,
  ``CSLS(Wx, y) = 2 cos(Wx, y) - r_T(Wx) - r_S(y)``, where ``r_T(Wx)`` is the mean cosine of
  ``Wx`` with its ``k`` nearest target vectors and ``r_S(y)`` the mean cosine of ``y`` with
  its ``k`` nearest mapped source vectors (``k = 10``).
* :func:`build_dictionary` - mutual nearest neighbours under CSLS among the
  ``max_rank`` most frequent words of each side (MUSE's ``dico_max_rank`` = 15000).
* :func:`refine` - iterated Procrustes: rebuild the dictionary from the current mapping,
  solve Procrustes, repeat (5 iterations); the mapping with the best
  :func:`unsupervised_criterion` is kept.
* :func:`unsupervised_criterion` - model selection without a dictionary: the mean cosine
  of the CSLS translations of the 10000 most frequent source words (capped to the
  vocabulary; translations are searched among the ``max_rank`` most frequent targets).
* :func:`precision_at_k` - evaluation against a known dictionary.
* :func:`identical_words_dictionary` - the supervised dictionary (same word on both sides).
* :func:`adversarial_align` - the adversarial stage (Keras 3, TensorFlow backend): a
  discriminator tells mapped speech vectors from text vectors, the mapping learns to fool
  it, and stays near orthogonal by ``W <- (1 + beta) W - beta W W^T W`` after each step.

All CSLS computations are exact (no approximate search) and blocked. The sweeps of
:func:`build_dictionary`, :func:`unsupervised_criterion` and :func:`refine` cut the
similarity matrix into tiles of a few MB that are reduced while in cache (top-k means
found from per-chunk maxima: the ``k`` largest values of a row lie in the ``k`` chunks
with the largest maxima), so a 20000 x 20000 problem never materialises more than one
tile per core; see :func:`_csls_pass`.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> T = rng.standard_normal((500, 20))
    >>> Q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    >>> S = T @ Q                      # s_i = Q^T t_i, so W = Q maps S onto T
    >>> W = procrustes(S, T)
    >>> bool(np.allclose(W, Q))
    True
"""

from __future__ import annotations

from semser_tf.semantic.alignment.adversarial import (
    AdversarialConfig,
    AdversarialResult,
    adversarial_align,
)
from semser_tf.semantic.alignment.csls import (
    _csls_pass,
    _default_threads,
    _tile_chunk_maxima,
    _tile_chunk_members,
    csls_knn,
    csls_scores,
    knn_mean_similarity,
)
from semser_tf.semantic.alignment.evaluation import (
    identical_words_dictionary,
    precision_at_k,
    supervised_align,
)
from semser_tf.semantic.alignment.refinement import (
    RefineResult,
    build_dictionary,
    refine,
    unsupervised_criterion,
)
from semser_tf.semantic.alignment.tables import (
    apply_mapping,
    as_table,
    normalize_rows,
    orthogonalize,
    procrustes,
)

__all__ = [
    "as_table",
    "normalize_rows",
    "apply_mapping",
    "orthogonalize",
    "procrustes",
    "knn_mean_similarity",
    "csls_scores",
    "csls_knn",
    "build_dictionary",
    "unsupervised_criterion",
    "refine",
    "RefineResult",
    "precision_at_k",
    "identical_words_dictionary",
    "supervised_align",
    "AdversarialConfig",
    "AdversarialResult",
    "adversarial_align",
]

# the blocked sweep's internals, used by the tests and benchmarks
_INTERNALS = (_csls_pass, _default_threads, _tile_chunk_maxima, _tile_chunk_members)
