"""fastw2v: fast word2vec (skip-gram with negative sampling) for Python.

``import fastw2v`` never imports Keras, TensorFlow or JAX; the Keras trainer lives in
:mod:`fastw2v.keras_trainer` and is imported only when used, on the Keras backend
``KERAS_BACKEND`` names (:mod:`fastw2v.keras_backend`). This package is the top of
the import graph: it gathers the public names of every layer, and no module of
fastw2v imports it. The README's "Modules" section maps the modules and their layers.
"""

from .config import KerasOptions, Word2VecConfig
from .corpus import EncodedCorpus, iter_sentences
from .corpus_cache import encode, load_corpus
from .errors import (
    ArgumentError,
    ArgumentTypeError,
    CheckpointError,
    CorpusError,
    CorpusNotFoundError,
    Fastw2vError,
    TrainingDiverged,
    TrainingInterrupted,
)
from .keras_compat import make_sampling_table, skipgrams
from .pairs import PairGenerator
from .vectors import Vectors
from .vocab import Vocab
from .word2vec import Word2Vec

__version__ = "0.1.0"


def to_keras(vectors, trainable: bool = False, mask_zero: bool = False, name: str = "fastw2v_embedding"):
    """``(lookup, embedding)``: ``vectors`` as the first layers of a Keras text model.

    Imports Keras (:func:`fastw2v.keras_embedding.to_keras` says what the two layers are).
    """
    from .keras_embedding import to_keras as layers

    return layers(vectors, trainable=trainable, mask_zero=mask_zero, name=name)


__all__ = [
    "ArgumentError",
    "ArgumentTypeError",
    "CheckpointError",
    "CorpusError",
    "CorpusNotFoundError",
    "EncodedCorpus",
    "Fastw2vError",
    "KerasOptions",
    "PairGenerator",
    "TrainingDiverged",
    "TrainingInterrupted",
    "Vectors",
    "Vocab",
    "Word2Vec",
    "Word2VecConfig",
    "encode",
    "iter_sentences",
    "load_corpus",
    "make_sampling_table",
    "skipgrams",
    "to_keras",
    "__version__",
]
