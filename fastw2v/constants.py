"""Fixed sizes and limits that more than one module reads, or that a user may want to find.

Hyperparameters and their defaults live in :mod:`fastw2v.config`; the constants
that define a random stream (key salts) stay beside it in :mod:`fastw2v.sampling`.
"""

#: Sentences (and text8-style single lines) longer than this are cut into
#: pseudo-sentences of at most this many words, as word2vec.c and gensim do.
MAX_SENTENCE_LEN = 10_000

#: The id of a padding occurrence: every id of a row that pads a Keras ``sgns`` batch to
#: its full size (:func:`fastw2v.segments.pad_rows`); the step trains nothing on it.
PAD_ID = -1

#: Sigmoid lookup table: ``SIGMOID_TABLE_SIZE`` bins over ``[-MAX_EXP, MAX_EXP]``.
MAX_EXP = 6.0
SIGMOID_TABLE_SIZE = 1000

#: Corpus positions handled by one pair-generator kernel chunk (one RNG stream each).
CHUNK_TOKENS = 16_384

#: Default number of corpus tokens per generator block; a block is shuffled as a
#: whole and holds about 1M pair rows on text8-like data with the defaults.
BLOCK_TOKENS = 1 << 18

#: Corpus tokens per Hogwild job (whole sentences; word2vec.c and gensim use 10,000 too).
JOB_WORDS = 10_000

#: Bytes read from a text file per step when streaming.
READ_CHUNK_BYTES = 1 << 22

#: The Google analogy protocol searches only the most frequent words.
ANALOGY_RESTRICT_VOCAB = 30_000

#: Version of the on-disk encoded-corpus cache and of the checkpoint format.
CACHE_FORMAT_VERSION = 1
CHECKPOINT_FORMAT_VERSION = 2

#: Divergence: a weight larger than this in magnitude, or a Keras running loss this
#: many times its first value, stops training.
WEIGHT_LIMIT = 1e4
LOSS_EXPLOSION_FACTOR = 100.0

#: Training runs from the command line write a checkpoint this often (besides one at
#: each epoch end) when they have a checkpoint directory, and save into
#: ``DEFAULT_CHECKPOINT_DIR`` when interrupted without one.
CHECKPOINT_EVERY_SECONDS = 300.0
DEFAULT_CHECKPOINT_DIR = "fastw2v-checkpoint"

#: ``--strategy multiworker``: seconds of silence after which a peer counts as lost,
#: also the bound on meeting the peers at start-up (``--peer-timeout``;
#: :mod:`fastw2v.multiworker.peers`).
DEFAULT_PEER_TIMEOUT = 60.0
