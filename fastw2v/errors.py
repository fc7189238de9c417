"""Every exception fastw2v raises on purpose derives from :class:`Fastw2vError`.

The command line turns a :class:`Fastw2vError` into a one-line message and an exit
code; any other exception is a bug and keeps its traceback. Where the API promises a
builtin type (``ValueError`` for a bad value, ``TypeError`` for a wrong type,
``FileNotFoundError`` for a missing file), that type is the second base, so callers
may catch either.
"""

from __future__ import annotations


class Fastw2vError(Exception):
    """Base of every error fastw2v raises on purpose."""


class ArgumentError(Fastw2vError, ValueError):
    """A parameter or an array has a bad value (the message names it)."""


class ArgumentTypeError(Fastw2vError, TypeError):
    """A parameter or an array has the wrong type (the message names it)."""


class CorpusError(Fastw2vError, ValueError):
    """The corpus cannot be used (empty, unreadable, no word reaches min_count ...)."""


class CorpusNotFoundError(CorpusError, FileNotFoundError):
    """The corpus path does not exist or is not a regular file."""


class MissingFileError(Fastw2vError, FileNotFoundError):
    """An input file (vectors, vocabulary, evaluation set) does not exist."""


class FileFormatError(Fastw2vError, ValueError):
    """A vocabulary, vectors or evaluation file is truncated or malformed."""


class VectorsFormatError(FileFormatError):
    """A word2vec file is truncated, malformed, or disagrees with its header."""


class CheckpointError(Fastw2vError, ValueError):
    """A checkpoint is missing, damaged, or belongs to another run."""


class OutputError(Fastw2vError, OSError):
    """A result could not be written (missing directory, full disk, no permission)."""


class DownloadError(Fastw2vError, OSError):
    """The corpus could not be downloaded or failed its checksum."""


class InsufficientMemoryError(Fastw2vError, MemoryError):
    """The weights would not fit in the memory available."""


class TrainingDiverged(Fastw2vError, RuntimeError):
    """The loss or the weights became NaN/Inf or exploded."""


class TrainingInterrupted(Fastw2vError, RuntimeError):
    """Training stopped on request (a signal or a checkpoint); the state so far is kept."""


class PeerLost(Fastw2vError, RuntimeError):
    """A multi-worker run lost a peer, or could not reach one at start-up."""


class UsageError(Fastw2vError):
    """Command-line flags that do not fit together."""
