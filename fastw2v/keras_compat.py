"""Compiled drop-ins for Keras' deprecated ``skipgrams`` and ``make_sampling_table``.

:func:`skipgrams` keeps ``tf_keras.preprocessing.sequence.skipgrams``' semantics and
runs in passes, each a ``prange`` over chunks of the sequence:

1. :func:`_sg_count` draws which targets the sampling table keeps, lists each
   chunk's kept targets and counts its positive pairs;
2. :func:`_sg_bucket_counts` (when shuffling) counts how many items each writer
   sends to each random bucket (:func:`_sg_bucket_draw`), replaying the streams the
   emit pass will use;
3. :func:`_sg_emit` walks the kept targets and writes the positives and whole rounds
   of negatives, each item packed into one uint64 straight into its bucket
   (:func:`_sg_pack`, :func:`_sg_slot`); :func:`_sg_emit_remainder` writes a
   fractional last round;
4. :func:`_sg_shuffle_unpack` shuffles each bucket and splits the labels out in the
   same sweep.

Why the passes look as they do: the keep draw is made once and branch-free (a kept
target is an unpredictable branch, and the emit pass would otherwise redraw it); the
bucket scatter prefetches the line each bucket writes next; each bucket is prefetched
whole before its shuffle, whose random reads would otherwise miss the cache until the
sweep had pulled the bucket in; the outputs come from :data:`OUTPUT_POOL`, which
reuses the memory of outputs the caller has dropped instead of faulting in fresh pages.

The couples are the packed buffer viewed as int32[N, 2], so no copy is made.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
from numba import njit, prange

from .config import check_float, check_int
from .corpus import check_ids
from .errors import ArgumentError
from .pages import BufferPool
from .permutation import PERM_BUCKET, PERM_CHUNK, random_permutation
from .prefetch import prefetch
from .sampling import bounded, mix64_py, stream_seed, token_hash, xorshift_next

def make_sampling_table(size: int, sampling_factor: float = 1e-5) -> np.ndarray:
    """Keras-compatible word-rank sampling table.

    ``table[i]`` is the probability of keeping the ``i``-th most frequent word,
    estimated from a Zipf distribution, as ``tf_keras.preprocessing.sequence.
    make_sampling_table`` computes it.

    Returns
    -------
    float64[size]
    """
    check_int("size", size, 1)
    check_float("sampling_factor", sampling_factor, 0.0, strict=True)
    euler_gamma = 0.577
    rank = np.arange(size, dtype=np.float64)
    rank[0] = 1.0
    # Zipf: the frequency of rank r is about 1 / (r * (ln r + gamma))
    inv_freq = rank * (np.log(rank) + euler_gamma) + 0.5 - 1.0 / (12.0 * rank)
    f = sampling_factor * inv_freq
    return np.minimum(1.0, f / np.sqrt(f))


_U53 = 1.0 / 9007199254740992.0

#: where :func:`skipgrams` takes its output arrays from: the memory of outputs the caller
#: has let go of is reused (up to 256 MiB is kept; ``OUTPUT_POOL.clear()`` lets it go)
OUTPUT_POOL = BufferPool()


@njit(parallel=True, nogil=True, cache=True)
def _sg_count(seq, window, table, use_table, key, chunk, counts, kept, n_kept):
    """Per chunk ``c`` of ``seq``: its kept targets and their positive pairs.

    Keras' rule: id 0 is padding; with a table, target ``w`` at position ``i`` is kept
    with probability ``table[w]`` (the draw hashes ``(key, i)``). A kept target pairs
    with every other non-padding id in its window.

    ``seq`` int32[L] or int64[L]; ``table`` float64[>= V] (read only if ``use_table``);
    ``key`` uint64, the subsampling stream. Fills ``kept[c * chunk : c * chunk +
    n_kept[c]]`` (int32 or int64[L]) with the positions of chunk ``c``'s kept targets,
    in order, and ``counts[c]`` (int64[n_chunks]) with their positive pairs.
    """
    n = seq.shape[0]
    n_chunks = counts.shape[0]
    for c in prange(n_chunks):
        lo = c * chunk
        hi = min(lo + chunk, n)
        # the keep draws first, in a loop of their own, apart from the sliding window below
        keep = np.empty(hi - lo, dtype=np.uint8)
        for i in range(lo, hi):
            wi = seq[i]
            k = np.uint8(wi != 0)
            if use_table:
                u = np.float64(token_hash(key, i) >> np.uint64(11)) * _U53
                k &= np.uint8(table[wi] >= u)
            keep[i - lo] = k
        # a running count of the window's non-padding ids, [a, b), as it slides one token at a time
        a = max(0, lo - window)
        b = min(n, lo + window + 1)
        nonzero = 0
        for j in range(a, b):
            if seq[j] != 0:
                nonzero += 1
        cnt = 0
        m = 0
        for i in range(lo, hi):
            if i - window > a:
                nonzero -= np.int64(seq[a] != 0)
                a += 1
            if i + window + 1 <= n and i + window + 1 > b:
                nonzero += np.int64(seq[b] != 0)
                b += 1
            k = np.int64(keep[i - lo])
            # branch-free: always write, advance only past a kept target
            kept[lo + m] = i
            m += k
            cnt += k * (nonzero - 1)  # the target itself is non-padding
        counts[c] = cnt
        n_kept[c] = m


_LABEL_BIT = np.uint64(1 << 63)
_S32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)


@njit(inline="always", cache=True)
def _sg_pack(target, context, label):
    """(target, context, label) in one uint64; viewed as int32[2] it reads (target, context).

    The label is the top bit, which no int32 context id sets.
    """
    v = np.uint64(np.uint32(target)) | (np.uint64(np.uint32(context)) << _S32)
    if label:
        v |= _LABEL_BIT
    return v


@njit(inline="always", cache=True)
def _sg_draw(state, spare, n):
    """A uniform integer in ``[0, n)``, ``n < 2**32``; returns ``(value, state, spare)``.

    Each 64-bit xorshift draw serves two values: the first from its high half, the
    next from its low half, kept in ``spare`` (shifted up, with bit 0 set so that it
    is never 0; 0 means none is kept).
    """
    if spare != np.uint64(0):
        return bounded(spare, n), state, np.uint64(0)
    state, r = xorshift_next(state)
    return bounded(r, n), state, (r << _S32) | np.uint64(1)


_S16 = np.uint64(16)
_S48 = np.uint64(48)
_MARK = np.uint64(1 << 15)
#: the most buckets a shuffle uses: :func:`_sg_bucket_draw` draws 16 bits a bucket
MAX_BUCKETS = 1 << 12


@njit(inline="always", cache=True)
def _sg_bucket_draw(state, spare, n):
    """A random bucket in ``[0, n)``, ``n <= MAX_BUCKETS``; returns ``(value, state, spare)``.

    Each 64-bit xorshift draw serves four buckets, 16 bits each, by multiply-shift.
    ``spare`` holds the unused bits at the top and a marker bit below them; when
    the marker reaches the top bit (or ``spare`` is 0, the start) a new draw is made.
    Buckets come out slightly unequal in probability (at most 1 part in 16 at
    ``MAX_BUCKETS``), which leaves the shuffle uniform: every item's bucket is drawn
    from the same distribution, so given the bucket sizes every assignment of items
    to buckets is equally likely.
    """
    if (spare << np.uint64(1)) == np.uint64(0):
        state, r = xorshift_next(state)
        x = r >> _S48
        spare = (r << _S16) | _MARK
    else:
        x = spare >> _S48
        spare = spare << _S16
    return np.int64((x * np.uint64(n)) >> _S16), state, spare


@njit(parallel=True, nogil=True, cache=True)
def _sg_bucket_counts(items_per_writer, key, n_buckets, counts):
    """``counts[q, b]``: items writer ``q`` sends to bucket ``b``.

    Writer ``q`` draws the bucket of each item it writes, in write order, from its own
    stream (:func:`_sg_bucket_draw`); the emit pass replays the same stream.
    ``items_per_writer`` is int64[Q]; ``counts`` int64[Q, n_buckets], zeroed by the caller.
    """
    for q in prange(items_per_writer.shape[0]):
        state = stream_seed(key, q)
        spare = np.uint64(0)
        for _ in range(items_per_writer[q]):
            b, state, spare = _sg_bucket_draw(state, spare, n_buckets)
            counts[q, b] += 1


#: items ahead of a bucket's next slot that the scatter prefetches (4 cache lines)
_SCATTER_AHEAD = 32


@njit(inline="always", cache=True)
def _sg_slot(k, q, state, spare, n_buckets, slots, shuffled, buf):
    """Where the next item of writer q goes: ``k`` (item order), or the next slot of a random bucket.

    ``slots`` is int64[Q, n_buckets], advanced in place; ``buf`` is only prefetched.
    Returns ``(slot, state, spare)``.
    """
    if not shuffled:
        return k, state, spare
    b, state, spare = _sg_bucket_draw(state, spare, n_buckets)
    d = slots[q, b]
    slots[q, b] = d + 1
    prefetch(buf, d + _SCATTER_AHEAD)
    return d, state, spare


@njit(parallel=True, nogil=True, cache=True)
def _sg_emit(seq, window, kept, n_kept, chunk, offsets, vocabulary_size, rounds, neg_key,
             bucket_key, n_buckets, slots, shuffled, buf, pos_targets):
    """Positives of each sequence chunk, each followed by ``rounds`` negatives that
    share its target (item ``j * n_pos + k`` for round j of positive k).

    ``seq`` int32[L] or int64[L]; ``kept`` and ``n_kept`` the kept targets that
    :func:`_sg_count` listed; ``offsets`` int64[n_chunks + 1], the first positive of
    each chunk; ``slots`` int64[Q, n_buckets], each writer's next
    slot per bucket (advanced in place); ``buf`` uint64[N], the packed items;
    ``pos_targets`` int32[n_pos] (or empty when no remainder round needs them).
    """
    n = seq.shape[0]
    n_chunks = offsets.shape[0] - 1
    n_pos = offsets[n_chunks]
    keep_targets = pos_targets.shape[0] > 0
    for c in prange(n_chunks):
        lo = c * chunk
        k = offsets[c]
        state = stream_seed(neg_key, c)
        nspare = np.uint64(0)
        bstate = stream_seed(bucket_key, c)
        spare = np.uint64(0)
        for t in range(lo, lo + n_kept[c]):
            i = kept[t]
            wi = seq[i]
            for j in range(max(0, i - window), min(n, i + window + 1)):
                if j != i and seq[j] != 0:
                    d, bstate, spare = _sg_slot(k, c, bstate, spare, n_buckets, slots, shuffled, buf)
                    buf[d] = _sg_pack(wi, seq[j], True)
                    for rnd in range(1, rounds + 1):
                        neg, state, nspare = _sg_draw(state, nspare, vocabulary_size - 1)
                        d, bstate, spare = _sg_slot(rnd * n_pos + k, c, bstate, spare, n_buckets, slots, shuffled, buf)
                        buf[d] = _sg_pack(wi, 1 + neg, False)
                    if keep_targets:
                        pos_targets[k] = wi
                    k += 1


@njit(parallel=True, nogil=True, cache=True)
def _sg_emit_remainder(pos_targets, subset, first_item, vocabulary_size, neg_key, rem_bounds, q0,
                       bucket_key, n_buckets, slots, shuffled, buf):
    """The fractional last round: negatives for a random subset of positives' targets.

    ``pos_targets`` int32[n_pos]; ``subset`` int64[>= rem], positions into
    ``pos_targets``; ``rem_bounds`` int64[W + 1], the item ranges of the W remainder
    writers (writer indices ``q0 ...``); ``slots`` and ``buf`` as in :func:`_sg_emit`.
    """
    for r in prange(rem_bounds.shape[0] - 1):
        state = stream_seed(neg_key, np.uint64(1 << 40) + np.uint64(r))
        nspare = np.uint64(0)
        bstate = stream_seed(bucket_key, q0 + r)
        spare = np.uint64(0)
        for item in range(rem_bounds[r], rem_bounds[r + 1]):
            t = pos_targets[subset[item - first_item]]
            neg, state, nspare = _sg_draw(state, nspare, vocabulary_size - 1)
            d, bstate, spare = _sg_slot(item, q0 + r, bstate, spare, n_buckets, slots, shuffled, buf)
            buf[d] = _sg_pack(t, 1 + neg, False)


@njit(inline="always", cache=True)
def _sg_place(buf, i, v, labels, categorical):
    """Put packed item ``v`` at position ``i``: its pair into ``buf``, its label bit into ``labels``."""
    label = np.int8(v >> np.uint64(63))
    buf[i] = v & ~_LABEL_BIT
    if categorical:
        labels[i, 0] = 1 - label
        labels[i, 1] = label
    else:
        labels[i, 0] = label


@njit(parallel=True, nogil=True, cache=True)
def _sg_shuffle_unpack(bucket_starts, key, shuffled, buf, labels, categorical):
    """Shuffle each bucket of ``buf`` (if ``shuffled``) and move the label bits into ``labels``.

    The shuffle is Fisher-Yates from the top; each position is final once the sweep
    has passed it, so its label is split out in the same sweep. ``bucket_starts`` is
    int64[n_buckets + 1]; ``buf`` uint64[N] of packed items, left holding
    ``(target, context)`` only; ``labels`` int8[N, 1], or int8[N, 2] one-hot when
    ``categorical``.
    """
    for b in prange(bucket_starts.shape[0] - 1):
        lo = bucket_starts[b]
        hi = bucket_starts[b + 1]
        if shuffled and hi > lo:
            # buckets hold < 2**32 items, so each 64-bit draw serves two swaps; the halves
            # alternate by the loop index's parity here rather than through _sg_draw's
            # spare, so the loop carries no spare to test and refill
            state = stream_seed(key, b)
            for p in range(lo, hi, 8):  # one prefetch per 64-byte line
                prefetch(buf, p)
            r = np.uint64(0)
            i = hi - 1
            while i > lo:
                if (hi - 1 - i) % 2 == 0:
                    state, r = xorshift_next(state)
                    x = r >> _S32
                else:
                    x = r & _LOW32
                j = lo + np.int64((x * np.uint64(i - lo + 1)) >> _S32)
                # the next bucket (most likely this thread's next), a line every 8 steps, rising
                # through it as this sweep falls through its own
                prefetch(buf, 2 * hi - 1 - i)
                v = buf[j]
                buf[j] = buf[i]
                _sg_place(buf, i, v, labels, categorical)
                i -= 1
            _sg_place(buf, lo, buf[lo], labels, categorical)
        else:
            for i in range(lo, hi):
                _sg_place(buf, i, buf[i], labels, categorical)


def skipgrams(sequence, vocabulary_size: int, window_size: int = 4, negative_samples: float = 1.0,
              shuffle: bool = True, categorical: bool = False, sampling_table=None, seed: Optional[int] = None):
    """Drop-in, compiled replacement for ``tf_keras.preprocessing.sequence.skipgrams``.

    Same semantics as Keras: id 0 is never a target or context, the window is fixed
    (no reduced window), ``sampling_table[w]`` is the probability of keeping target
    ``w`` (contexts are not subsampled), and ``int(n_positive * negative_samples)``
    negatives pair a positive's target (each used once per round, a random subset
    for a fractional last round) with a context uniform over ``1..V-1``.

    Differences from Keras: it returns NumPy arrays, not lists, and the random
    stream is fastw2v's own (same distribution, different draws).

    Parameters
    ----------
    sequence : int array-like of shape (L,)
        Word ids in ``[0, vocabulary_size)``.
    vocabulary_size : int
    window_size : int
    negative_samples : float
        Ratio of negatives to positives (>= 0).
    shuffle : bool
    categorical : bool
        Labels as one-hot ``[[0, 1], ...]`` instead of ``0/1``.
    sampling_table : float array of shape (vocabulary_size,), optional
    seed : int, optional

    Returns
    -------
    couples : int32[N, 2]
        ``(target, context)`` pairs.
    labels : int8[N] or int8[N, 2]
    """
    check_int("vocabulary_size", vocabulary_size, 1)
    check_int("window_size", window_size, 1)
    negative_samples = check_float("negative_samples", negative_samples, 0.0)
    seq = np.asarray(sequence)
    if seq.size == 0:
        seq = seq.astype(np.int32)
    if seq.size > 0:
        # int64 (what np.asarray makes of a list) is used as it is, saving a copy
        seq = check_ids(seq, vocabulary_size, name="sequence", keep=(np.int32, np.int64))
    elif seq.ndim != 1:
        raise ArgumentError(f"sequence must be one-dimensional, got shape {seq.shape}")
    use_table = sampling_table is not None
    if use_table:
        table = np.asarray(sampling_table, dtype=np.float64)
        if table.ndim != 1 or table.shape[0] < vocabulary_size:
            raise ArgumentError(
                f"sampling_table must have at least vocabulary_size={vocabulary_size} entries, got shape {table.shape}"
            )
    else:
        table = np.ones(1, dtype=np.float64)
    if negative_samples > 0 and vocabulary_size < 2:
        raise ArgumentError("negative sampling needs vocabulary_size >= 2 (id 0 is reserved)")
    if seed is None:
        seed = int.from_bytes(os.urandom(8), "little")
    check_int("seed", seed, 0)
    root = mix64_py(int(seed))
    key_sample = np.uint64(mix64_py(root ^ 0x1))
    chunk = PERM_CHUNK
    n = seq.shape[0]
    n_chunks = max(1, (n + chunk - 1) // chunk)
    counts = np.zeros(n_chunks, dtype=np.int64)
    kept = np.empty(n, dtype=np.int32 if n < 2**31 else np.int64)
    n_kept = np.zeros(n_chunks, dtype=np.int64)
    if n:
        _sg_count(seq, window_size, table, use_table, key_sample, chunk, counts, kept, n_kept)
    offsets = np.zeros(n_chunks + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    n_pos = int(offsets[-1])
    n_neg = int(n_pos * negative_samples) if n_pos else 0
    total = n_pos + n_neg
    rounds = n_neg // n_pos if n_pos else 0
    rem = n_neg - rounds * n_pos
    first_rem = (rounds + 1) * n_pos
    rem_bounds = np.append(np.arange(first_rem, total, chunk, dtype=np.int64), np.int64(total)) if rem else \
        np.zeros(1, dtype=np.int64)
    bucket_key = np.uint64(mix64_py(root ^ 0x2))
    neg_key = np.uint64(mix64_py(root ^ 0x4))
    shuffled = bool(shuffle) and total > 0
    if shuffled:
        n_buckets = min(max(1, total // PERM_BUCKET), MAX_BUCKETS)
        items_per_writer = np.concatenate((counts * (rounds + 1), np.diff(rem_bounds)))
        bucket_counts = np.zeros((items_per_writer.shape[0], n_buckets), dtype=np.int64)
        _sg_bucket_counts(items_per_writer, bucket_key, n_buckets, bucket_counts)
        bucket_starts = np.zeros(n_buckets + 1, dtype=np.int64)
        np.cumsum(bucket_counts.sum(axis=0), out=bucket_starts[1:])
        slots = np.cumsum(bucket_counts, axis=0) - bucket_counts + bucket_starts[:-1][None, :]
    else:
        n_buckets = 1
        slots = np.zeros((1, 1), dtype=np.int64)
        bucket_starts = np.append(np.arange(0, total, PERM_BUCKET, dtype=np.int64), np.int64(total))
    # reused buffers where the caller has dropped an earlier call's outputs (see BufferPool);
    # no huge-page advice (MADV_HUGEPAGE): after another library has freed a large heap,
    # the kernel would compact memory on the first touch of each 2 MiB page
    buf = OUTPUT_POOL.empty(total, np.uint64)
    labels = OUTPUT_POOL.empty((total, 2 if categorical else 1), np.int8)
    pos_targets = np.empty(n_pos if rem else 0, dtype=np.int32)
    if n_pos:
        _sg_emit(seq, window_size, kept, n_kept, chunk, offsets, vocabulary_size, rounds,
                 neg_key, bucket_key, n_buckets, slots, shuffled, buf, pos_targets)
    if rem:
        subset = random_permutation(n_pos, mix64_py(root ^ 0x3))[:rem]
        _sg_emit_remainder(pos_targets, subset, first_rem, vocabulary_size, neg_key, rem_bounds, n_chunks,
                           bucket_key, n_buckets, slots, shuffled, buf)
    if total:
        _sg_shuffle_unpack(bucket_starts, np.uint64(mix64_py(root ^ 0x5)), shuffled, buf, labels, categorical)
    couples = buf.view(np.int32).reshape(total, 2)
    return couples, (labels if categorical else labels[:, 0])
