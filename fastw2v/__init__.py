"""fastw2v: fast word2vec (skip-gram with negative sampling) for Python.

``import fastw2v`` never imports TensorFlow; the Keras models live in
:mod:`fastw2v.keras_models` and are imported only when used.
"""

from .config import Word2VecConfig
from .corpus import CorpusError, CorpusNotFoundError, EncodedCorpus, iter_sentences
from .dataset import encode, load_corpus
from .model import TrainingDiverged, TrainingInterrupted, Word2Vec
from .pairs import PairGenerator, make_sampling_table, skipgrams
from .vectors import Vectors
from .vocab import Vocab

__version__ = "0.1.0"

__all__ = [
    "CorpusError",
    "CorpusNotFoundError",
    "EncodedCorpus",
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
