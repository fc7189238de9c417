"""Trained vectors as the first layers of a user's Keras model (:func:`fastw2v.to_keras`).

The tutorial's end product is an embedding layer in a network. :func:`embedding_layers`
gives the two pieces a text model needs, consistent with each other:

* a lookup from words to rows: Keras' ``StringLookup`` on TensorFlow, where it runs
  inside a model on string inputs; on JAX, which has no string tensors,
  :class:`~fastw2v.vocab.WordIds`, to apply in the input pipeline;
* a ``keras.layers.Embedding`` whose rows are the vectors, after one zero row for
  unknown words (and before it, with ``mask_zero``, one zero row for padding).

The rows follow the vocabulary's order, shifted by those reserved rows; the lookup
uses the same shift. Only this module and the glue import Keras.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import keras
import numpy as np

from .errors import ArgumentError
from .keras_glue import glue
from .vocab import word_index

_glue = glue()


def embedding_matrix(words: Sequence[str], vectors: np.ndarray, mask_zero: bool) -> np.ndarray:
    """float32[reserved + V, dim]: the reserved zero rows (padding with ``mask_zero``, unknown), then the vectors."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if len(words) == 0:
        raise ArgumentError("to_keras: the vocabulary is empty; there is nothing to embed")
    word_index(words)  # a repeated word would make two rows for one string
    if not np.isfinite(vectors).all():
        bad = int(np.flatnonzero(~np.isfinite(vectors).all(axis=1))[0])
        raise ArgumentError(f"to_keras: the vector of {words[bad]!r} (row {bad}) holds NaN or Inf; an embedding "
                            "must be finite (retrain, or drop that word)")
    reserved = 2 if mask_zero else 1
    matrix = np.zeros((len(words) + reserved, vectors.shape[1]), dtype=np.float32)
    matrix[reserved:] = vectors
    return matrix


def embedding_layers(words: Sequence[str], vectors: np.ndarray, trainable: bool = False, mask_zero: bool = False,
                     name: str = "fastw2v_embedding") -> Tuple[object, "keras.layers.Embedding"]:
    """``(lookup, embedding)`` for ``words`` and their ``vectors`` (see the module docstring)."""
    matrix = embedding_matrix(list(words), vectors, mask_zero)
    embedding = keras.layers.Embedding(matrix.shape[0], matrix.shape[1], mask_zero=mask_zero, trainable=trainable,
                                       name=name)
    embedding.build((None,))
    embedding.set_weights([matrix])
    return _glue.string_lookup(list(words), mask_zero), embedding


def to_keras(vectors, trainable: bool = False, mask_zero: bool = False, name: str = "fastw2v_embedding"):
    """``(lookup, embedding)``: these vectors as the first layers of a Keras text model.

    ``vectors`` is a :class:`~fastw2v.vectors.Vectors`. ``embedding`` is a
    ``keras.layers.Embedding`` whose rows are the vectors after a zero row for unknown
    words (and, with ``mask_zero``, a zero padding row 0 before it); frozen unless
    ``trainable``. ``lookup`` maps words to its rows: Keras' ``StringLookup`` on
    TensorFlow (inside the model, on string inputs); on JAX a
    :class:`~fastw2v.vocab.WordIds`, applied to arrays of str in the input pipeline.
    Vectors holding NaN or Inf, or no words, are refused.
    """
    return embedding_layers(vectors.words, vectors.vectors, trainable=trainable, mask_zero=mask_zero, name=name)
