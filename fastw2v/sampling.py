"""Random streams and sampling tables shared by every kernel.

Tables are built once in Python; kernels only look things up.

Random numbers
--------------
* Per-token decisions (keep or discard a token, its reduced window) come from a
  counter-based generator: ``mix64(epoch_key + position * GOLDEN)``. The decision
  for a corpus position depends only on ``(seed, epoch, position)``, so it does not
  depend on how the corpus is cut into chunks or how many threads run.
* Negative samples come from a per-chunk xorshift64* stream seeded from
  ``(seed, epoch, first position of the chunk)``, under the epoch's negative key.

:func:`epoch_keys` derives both keys of an epoch; :class:`SamplingTables` holds a
vocabulary's keep thresholds and alias table; :func:`draw_negative` is the one
negative draw every kernel uses.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np
from numba import njit

from .config import check_float
from .errors import ArgumentError, ArgumentTypeError

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_XS_MULT = np.uint64(0x2545F4914F6CDD1D)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S12 = np.uint64(12)
_S25 = np.uint64(25)
_S32 = np.uint64(32)
_S11 = np.uint64(11)
_LOW32 = np.uint64(0xFFFFFFFF)
#: keep thresholds are in units of 2**-32; this value means "always keep"
KEEP_ALWAYS = np.uint64(1 << 32)
#: salts that separate an epoch's streams: negatives, and the generator's shuffle
NEG_SALT = 0xA5A5A5A55A5A5A5A
PERM_SALT = 0x3C3C3C3CC3C3C3C3


@njit(inline="always", cache=True)
def mix64(x):
    """splitmix64 finaliser: a bijective 64-bit hash with good avalanche."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


@njit(inline="always", cache=True)
def token_hash(epoch_key, pos):
    """Random 64 bits for corpus position ``pos`` in the epoch keyed by ``epoch_key``."""
    return mix64(epoch_key + np.uint64(pos) * GOLDEN)


@njit(inline="always", cache=True)
def xorshift_next(state):
    """One xorshift64* step; returns ``(new_state, output)``; state must be non-zero."""
    state ^= state >> _S12
    state ^= state << _S25
    state ^= state >> np.uint64(27)
    return state, state * _XS_MULT


@njit(inline="always", cache=True)
def stream_seed(key, index):
    """Non-zero xorshift state for stream ``index`` under ``key``."""
    s = mix64(key ^ mix64(np.uint64(index) + GOLDEN))
    if s == np.uint64(0):
        s = GOLDEN
    return s


@njit(inline="always", cache=True)
def bounded(r, n):
    """Map 64 random bits to ``[0, n)`` with Lemire's multiply-shift (top 32 bits)."""
    return np.int64(((r >> _S32) * np.uint64(n)) >> _S32)


@njit(inline="always", cache=True)
def alias_draw(r, alias_table):
    """Draw one id with 64 random bits from a packed alias table, uint64[V] (see :func:`pack_alias`)."""
    n = alias_table.shape[0]
    i = bounded(r, n)
    entry = alias_table[i]
    if (r & _LOW32) < (entry & _LOW32):
        return np.int32(i)
    return np.int32(entry >> _S32)


@njit(inline="always", cache=True)
def draw_negative(state, avoid, alias_table):
    """Draw a noise word other than ``avoid``; returns ``(new_state, id)``.

    ``state`` is a non-zero uint64 xorshift state; ``alias_table`` is uint64[V] (see
    :func:`pack_alias`). A draw equal to ``avoid`` is redrawn, so the noise
    distribution has ``avoid``'s mass spread over the others.
    """
    while True:
        state, r = xorshift_next(state)
        d = alias_draw(r, alias_table)
        if d != avoid:
            return state, d


@njit(inline="always", cache=True)
def keep_token(h, keep_thresh_value):
    """Subsampling decision from a token hash: keep with probability thresh / 2**32."""
    return (h >> _S32) < keep_thresh_value


@njit(inline="always", cache=True)
def reduced_window(h, window):
    """word2vec's reduced window ``b ~ U{1..window}`` from the low 32 bits of a token hash."""
    return np.int64(((h & _LOW32) * np.uint64(window)) >> _S32) + 1


def epoch_key(seed: int, epoch: int) -> np.uint64:
    """Key of the per-token random stream for one epoch (pure Python, for tables and tests)."""
    return np.uint64(mix64_py(mix64_py(int(seed) & 0xFFFFFFFFFFFFFFFF) ^ (int(epoch) * 0x632BE59BD9B4E019 & 0xFFFFFFFFFFFFFFFF)))


def epoch_keys(seed: int, epoch: int) -> Tuple[np.uint64, np.uint64]:
    """``(key, neg_key)`` of one epoch: per-token decisions, and the negative streams."""
    key = epoch_key(seed, epoch)
    return key, np.uint64(mix64_py(int(key) ^ NEG_SALT))


def mix64_py(x: int) -> int:
    """Pure-Python twin of :func:`mix64` (used to derive keys and by the reference tests)."""
    mask = 0xFFFFFFFFFFFFFFFF
    x &= mask
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
    return x ^ (x >> 31)


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """word2vec.c's keep probability ``(sqrt(f/t) + 1) * t / f``, capped at 1.

    Parameters
    ----------
    counts : int64[V]
        Word counts.
    sample : float
        The threshold ``t``. ``0`` disables subsampling (every probability is 1).

    Returns
    -------
    keep_prob : float64[V]
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample == 0:
        return np.ones_like(counts)
    total = counts.sum()
    threshold_count = sample * total  # word2vec.c works in counts: f/t == count / (t * total)
    keep_prob = (np.sqrt(counts / threshold_count) + 1.0) * threshold_count / counts
    return np.minimum(keep_prob, 1.0)


def keep_thresholds(keep_prob: np.ndarray) -> np.ndarray:
    """Integer thresholds (units of 2**-32) for :func:`keep_token`; uint64[V]."""
    keep_prob = np.asarray(keep_prob, dtype=np.float64)
    thresh = np.floor(keep_prob * 4294967296.0)
    return np.minimum(thresh, 4294967296.0).astype(np.uint64)


def noise_distribution(counts: np.ndarray, power: float) -> np.ndarray:
    """Unigram^power distribution over ids; float64[V] summing to 1."""
    weights = np.asarray(counts, dtype=np.float64) ** power
    return weights / weights.sum()


def build_alias_table(probs: np.ndarray):
    """Walker/Vose alias table for O(1) draws: 8 bytes per vocabulary entry (uint32 + int32).

    Parameters
    ----------
    probs : float64[V]
        Probabilities summing to 1.

    Returns
    -------
    alias_thresh : uint32[V]
        Stay on bin ``i`` when the low 32 random bits are below this value.
    alias_index : int32[V]
        Otherwise return this id.
    """
    probs = np.asarray(probs, dtype=np.float64)
    n = probs.shape[0]
    if n == 0:
        raise ArgumentError("cannot build a noise table for an empty vocabulary")
    scaled = probs * n
    alias_index = np.arange(n, dtype=np.int32)
    stay = np.ones(n, dtype=np.float64)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s = small.pop()
        g = large[-1]
        stay[s] = scaled[s]
        alias_index[s] = g
        scaled[g] = scaled[g] + scaled[s] - 1.0
        if scaled[g] < 1.0:
            large.pop()
            small.append(g)
    # leftovers have probability 1 up to rounding: they alias to themselves, so the
    # coin does not matter and the threshold fits in uint32
    for i in small + large:
        stay[i] = 1.0
        alias_index[i] = i
    thresh = np.minimum(np.floor(stay * 4294967296.0), 4294967295.0).astype(np.uint32)
    return thresh, alias_index


def pack_alias(alias_thresh: np.ndarray, alias_index: np.ndarray) -> np.ndarray:
    """One uint64 per entry, ``alias_index << 32 | alias_thresh``: a draw reads one cache line."""
    return (alias_index.astype(np.uint64) << np.uint64(32)) | alias_thresh.astype(np.uint64)


def unpack_alias(alias_table: np.ndarray):
    """Inverse of :func:`pack_alias`: ``(alias_thresh uint32[V], alias_index int32[V])``."""
    return ((alias_table & np.uint64(0xFFFFFFFF)).astype(np.uint32),
            (alias_table >> np.uint64(32)).astype(np.int32))


def alias_probabilities(alias_thresh: np.ndarray, alias_index: np.ndarray) -> np.ndarray:
    """The exact distribution an alias table draws from (for tests); float64[V]."""
    n = alias_thresh.shape[0]
    stay = alias_thresh.astype(np.float64) / 4294967296.0
    stay[alias_index == np.arange(n)] = 1.0
    probs = stay / n
    np.add.at(probs, alias_index, (1.0 - stay) / n)
    return probs


class SamplingTables:
    """A vocabulary's sampling tables, built once: subsampling and the noise distribution.

    Parameters
    ----------
    counts : int or float array of shape (V,)
        Word counts, indexed by id; every count positive.
    sample : float
        Subsampling threshold ``t``; 0 disables subsampling.
    ns_power : float
        Exponent of the unigram noise distribution.
    need_negatives : bool
        Refuse a vocabulary where negatives cannot be drawn (fewer than 2 words, or
        nearly all the noise mass on one word, which :func:`draw_negative` would
        redraw without end).

    Attributes
    ----------
    counts : int64[V] or float64[V]
    keep_prob : float64[V]
    keep_thresh : uint64[V]
        For :func:`keep_token`.
    noise : float64[V]
    alias_table : uint64[V]
        For :func:`alias_draw` and :func:`draw_negative`.
    """

    def __init__(self, counts, sample: float = 1e-3, ns_power: float = 0.75, need_negatives: bool = True) -> None:
        counts = np.asarray(counts)
        if counts.dtype == object or not np.issubdtype(counts.dtype, np.number) or counts.ndim != 1:
            raise ArgumentTypeError("counts must be a Vocab or a 1-D array of word counts")
        if counts.shape[0] == 0:
            raise ArgumentError("the vocabulary is empty")
        if not np.all(np.isfinite(counts)) or np.any(counts <= 0):
            raise ArgumentError("every word count must be a positive number")
        self.sample = check_float("sample", sample, 0.0)
        self.ns_power = check_float("ns_power", ns_power, 0.0)
        if need_negatives and counts.shape[0] < 2:
            raise ArgumentError("negative sampling needs a vocabulary of at least 2 words")
        integer = np.issubdtype(counts.dtype, np.integer)
        self.counts = counts.astype(np.int64) if integer else counts.astype(np.float64)
        self.keep_prob = keep_probabilities(self.counts, self.sample)
        self.keep_thresh = keep_thresholds(self.keep_prob)
        self.noise = noise_distribution(self.counts, self.ns_power)
        if need_negatives and self.noise.max() > 0.999:
            raise ArgumentError(
                f"ns_power={ns_power} puts {self.noise.max():.4f} of the noise mass on one word; "
                "negatives could not avoid it. Use a smaller ns_power"
            )
        self.alias_table = pack_alias(*build_alias_table(self.noise))

    def __len__(self) -> int:
        return int(self.counts.shape[0])

    @property
    def alias_thresh(self) -> np.ndarray:
        """uint32[V], unpacked from :attr:`alias_table`."""
        return unpack_alias(self.alias_table)[0]

    @property
    def alias_index(self) -> np.ndarray:
        """int32[V], unpacked from :attr:`alias_table`."""
        return unpack_alias(self.alias_table)[1]
