"""fastw2v: fast word2vec (skip-gram with negative sampling) for Python.

``import fastw2v`` never imports Keras, TensorFlow or JAX; the Keras trainer lives in
:mod:`fastw2v.keras_trainer` and is imported only when used, on the Keras backend
``KERAS_BACKEND`` names (:mod:`fastw2v.keras_backend`). The README's "How it
works" maps the modules and their layers.
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
    "__version__",
]
