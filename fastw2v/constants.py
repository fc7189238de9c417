"""Constants shared by every layer of fastw2v, kept in one place."""

#: Sentences (and text8-style single lines) longer than this are cut into
#: pseudo-sentences of at most this many words, as word2vec.c and gensim do.
MAX_SENTENCE_LEN = 10_000

#: Sigmoid lookup table: ``SIGMOID_TABLE_SIZE`` bins over ``[-MAX_EXP, MAX_EXP]``.
MAX_EXP = 6.0
SIGMOID_TABLE_SIZE = 1000

#: Corpus positions handled by one kernel chunk (one RNG stream each).
CHUNK_TOKENS = 16_384

#: Default number of corpus tokens per generator block; a block is shuffled as a
#: whole and holds about 1M pair rows on text8-like data with the defaults.
BLOCK_TOKENS = 1 << 18

#: Bytes read from a text file per step when streaming.
READ_CHUNK_BYTES = 1 << 22

#: The Google analogy protocol searches only the most frequent words.
ANALOGY_RESTRICT_VOCAB = 30_000

#: Version of the on-disk encoded-corpus cache and the checkpoint format.
CACHE_FORMAT_VERSION = 1
CHECKPOINT_FORMAT_VERSION = 1

#: Keras backend: default rows (sgns) or pairs (tutorial) per step, chosen by
#: measurement (benchmarks/bench_keras.py --batch-sweep for speed; sgns at 16,384
#: rows diverged on wiki8 with alpha 0.025, 4,096 is stable and as fast per pair).
KERAS_BATCH_SIZE = {"sgns": 4096, "tutorial": 65536}
