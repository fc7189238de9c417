"""A parallel, uniformly random permutation whose result does not depend on the thread count.

:func:`random_permutation` runs three passes, each a ``prange``:

1. :func:`_perm_count` counts, per chunk of indices, how many fall in each bucket
   (the bucket of an index is a hash of ``(key, index)``);
2. :func:`_perm_scatter` writes each index into its bucket's slots, in index order;
3. :func:`_perm_shuffle_buckets` Fisher-Yates shuffles each bucket with its own stream.

Independent uniform buckets followed by uniform in-bucket shuffles give a uniform
permutation (Rao-Sandelius). :mod:`fastw2v.keras_compat` shares the bucket sizes.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .sampling import bounded, stream_seed, token_hash, xorshift_next

#: indices per counting/scatter chunk, and the mean bucket size
PERM_CHUNK = 1 << 16
PERM_BUCKET = 1 << 15


@njit(parallel=True, nogil=True, cache=True)
def _perm_count(n, key, n_buckets, chunk, counts):
    """Fill ``counts[c, b]``: indices of chunk ``c`` (``[c * chunk, (c + 1) * chunk)``) in bucket ``b``.

    ``key`` is uint64; ``counts`` is int64[n_chunks, n_buckets], zeroed by the caller.
    """
    n_chunks = counts.shape[0]
    for c in prange(n_chunks):
        lo = c * chunk
        hi = min(lo + chunk, n)
        for i in range(lo, hi):
            counts[c, bounded(token_hash(key, i), n_buckets)] += 1


@njit(parallel=True, nogil=True, cache=True)
def _perm_scatter(n, key, n_buckets, chunk, offsets, out):
    """Write each index of ``range(n)`` into the next free slot of its bucket.

    ``offsets`` is int64[n_chunks, n_buckets]: the first slot of chunk ``c``'s share
    of bucket ``b`` (advanced in place); ``out`` is int64[n].
    """
    n_chunks = offsets.shape[0]
    for c in prange(n_chunks):
        lo = c * chunk
        hi = min(lo + chunk, n)
        for i in range(lo, hi):
            b = bounded(token_hash(key, i), n_buckets)
            out[offsets[c, b]] = i
            offsets[c, b] += 1


@njit(parallel=True, nogil=True, cache=True)
def _perm_shuffle_buckets(key, bucket_starts, out):
    """Fisher-Yates shuffle ``out[bucket_starts[b]:bucket_starts[b + 1]]`` for every bucket ``b``.

    ``bucket_starts`` is int64[n_buckets + 1]; ``out`` is int64[n], shuffled in place;
    bucket ``b`` draws from the stream ``stream_seed(key, b)``.
    """
    n_buckets = bucket_starts.shape[0] - 1
    for b in prange(n_buckets):
        lo = bucket_starts[b]
        state = stream_seed(key, b)
        for i in range(bucket_starts[b + 1] - 1, lo, -1):
            state, r = xorshift_next(state)
            j = lo + bounded(r, i - lo + 1)
            tmp = out[i]
            out[i] = out[j]
            out[j] = tmp


def random_permutation(n: int, key: int) -> np.ndarray:
    """A uniformly random permutation of ``range(n)``, built in parallel.

    The result depends only on ``(n, key)``, not on the thread count.

    Returns
    -------
    perm : int64[n]
    """
    key = np.uint64(key)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    n_buckets = max(1, n // PERM_BUCKET)
    n_chunks = (n + PERM_CHUNK - 1) // PERM_CHUNK
    counts = np.zeros((n_chunks, n_buckets), dtype=np.int64)
    _perm_count(n, key, n_buckets, PERM_CHUNK, counts)
    bucket_totals = counts.sum(axis=0)
    bucket_starts = np.zeros(n_buckets + 1, dtype=np.int64)
    np.cumsum(bucket_totals, out=bucket_starts[1:])
    offsets = np.cumsum(counts, axis=0) - counts + bucket_starts[:-1][None, :]
    out = np.empty(n, dtype=np.int64)
    _perm_scatter(n, key, n_buckets, PERM_CHUNK, offsets, out)
    _perm_shuffle_buckets(key, bucket_starts, out)
    return out
