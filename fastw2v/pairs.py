"""Skip-gram pair generation: Numba kernels, the streaming generator, Keras drop-ins.

Kernels work on one *block* of the encoded corpus at a time: a run of whole
sentences holding about :data:`~fastw2v.constants.BLOCK_TOKENS` tokens. A block
is processed in passes, each a ``prange`` over fixed-size chunks of corpus
positions:

1. count the tokens kept by subsampling in each chunk;
2. compact the kept tokens, with their reduced window and sentence index;
3. count the (target, context) pairs each chunk emits;
4. emit the pairs and their negatives, each row written straight to its place
   in a block-wide random permutation (the shuffle).

Every random decision is a function of ``(seed, epoch, corpus position)`` or of a
chunk's own stream, never of the thread that runs it, so the output for a seed is
identical whatever the thread count.
"""

from __future__ import annotations

import os
import queue
import threading
from typing import Iterator, Optional

import numba
import numpy as np
from numba import njit, prange

from . import memory
from .constants import BLOCK_TOKENS, CHUNK_TOKENS
from .corpus import EncodedCorpus, as_encoded, check_ids
from .sampling import (
    alias_draw,
    alias_probabilities,
    bounded,
    build_alias_table,
    epoch_key,
    keep_probabilities,
    keep_thresholds,
    keep_token,
    mix64_py,
    noise_distribution,
    pack_alias,
    unpack_alias,
    reduced_window,
    stream_seed,
    token_hash,
    xorshift_next,
)

# ----------------------------------------------------------------------------
# A parallel, thread-count-independent uniform permutation
# ----------------------------------------------------------------------------

_PERM_CHUNK = 1 << 16
_PERM_BUCKET = 1 << 15


@njit(parallel=True, nogil=True, cache=True)
def _perm_count(n, key, n_buckets, chunk, counts):
    n_chunks = counts.shape[0]
    for c in prange(n_chunks):
        lo = c * chunk
        hi = min(lo + chunk, n)
        for i in range(lo, hi):
            counts[c, bounded(token_hash(key, i), n_buckets)] += 1


@njit(parallel=True, nogil=True, cache=True)
def _perm_scatter(n, key, n_buckets, chunk, offsets, out):
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

    Each index goes to a bucket chosen by a hash of ``(key, index)``; each bucket
    is then Fisher-Yates shuffled with its own stream. Independent uniform buckets
    followed by uniform in-bucket shuffles give a uniform permutation
    (Rao-Sandelius), and the result depends only on ``(n, key)``, not on threads.

    Returns
    -------
    perm : int64[n]
    """
    key = np.uint64(key)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    n_buckets = max(1, n // _PERM_BUCKET)
    n_chunks = (n + _PERM_CHUNK - 1) // _PERM_CHUNK
    counts = np.zeros((n_chunks, n_buckets), dtype=np.int64)
    _perm_count(n, key, n_buckets, _PERM_CHUNK, counts)
    bucket_totals = counts.sum(axis=0)
    bucket_starts = np.zeros(n_buckets + 1, dtype=np.int64)
    np.cumsum(bucket_totals, out=bucket_starts[1:])
    offsets = np.cumsum(counts, axis=0) - counts + bucket_starts[:-1][None, :]
    out = np.empty(n, dtype=np.int64)
    _perm_scatter(n, key, n_buckets, _PERM_CHUNK, offsets, out)
    _perm_shuffle_buckets(key, bucket_starts, out)
    return out


# ----------------------------------------------------------------------------
# Block kernels for the PairGenerator
# ----------------------------------------------------------------------------


@njit(parallel=True, nogil=True, cache=True)
def _count_kept(ids, s0, s1, keep_thresh, key, chunk, kept_counts):
    n_chunks = kept_counts.shape[0]
    for c in prange(n_chunks):
        lo = s0 + c * chunk
        hi = min(lo + chunk, s1)
        cnt = 0
        for p in range(lo, hi):
            if keep_token(token_hash(key, p), keep_thresh[ids[p]]):
                cnt += 1
        kept_counts[c] = cnt


@njit(parallel=True, nogil=True, cache=True)
def _compact_kept(ids, sent_starts, s0, s1, keep_thresh, key, chunk, window, kept_offsets, k_ids, k_win, k_sent):
    n_chunks = kept_offsets.shape[0] - 1
    for c in prange(n_chunks):
        lo = s0 + c * chunk
        hi = min(lo + chunk, s1)
        o = kept_offsets[c]
        si = np.searchsorted(sent_starts, lo, side="right") - 1
        nxt = sent_starts[si + 1]
        for p in range(lo, hi):
            while p >= nxt:
                si += 1
                nxt = sent_starts[si + 1]
            h = token_hash(key, p)
            if keep_token(h, keep_thresh[ids[p]]):
                k_ids[o] = ids[p]
                k_win[o] = reduced_window(h, window)
                k_sent[o] = si
                o += 1


@njit(inline="always", cache=True)
def _context_range(k, k_win, k_sent, n_kept):
    """Compacted index range [lo, hi] of the window around k, clipped to its sentence."""
    b = k_win[k]
    s = k_sent[k]
    lo = max(0, k - b)
    hi = min(n_kept - 1, k + b)
    while k_sent[lo] != s:
        lo += 1
    while k_sent[hi] != s:
        hi -= 1
    return lo, hi


@njit(parallel=True, nogil=True, cache=True)
def _count_pairs(kept_offsets, k_win, k_sent, pair_counts):
    n_chunks = kept_offsets.shape[0] - 1
    n_kept = k_win.shape[0]
    for c in prange(n_chunks):
        cnt = 0
        for k in range(kept_offsets[c], kept_offsets[c + 1]):
            lo, hi = _context_range(k, k_win, k_sent, n_kept)
            cnt += hi - lo
        pair_counts[c] = cnt


@njit(inline="always", cache=True)
def _draw_negative(state, avoid, alias_table):
    while True:
        state, r = xorshift_next(state)
        d = alias_draw(r, alias_table)
        if d != avoid:
            return state, d


@njit(parallel=True, nogil=True, cache=True)
def _emit_rows(kept_offsets, row_offsets, k_ids, k_win, k_sent, s0, chunk, neg_key,
               alias_table, dest, targets, contexts):
    n_chunks = kept_offsets.shape[0] - 1
    n_kept = k_ids.shape[0]
    negative = contexts.shape[1] - 1
    shuffled = dest.shape[0] > 0
    for c in prange(n_chunks):
        state = stream_seed(neg_key, s0 + c * chunk)
        r = row_offsets[c]
        for k in range(kept_offsets[c], kept_offsets[c + 1]):
            lo, hi = _context_range(k, k_win, k_sent, n_kept)
            t = k_ids[k]
            for j in range(lo, hi + 1):
                if j == k:
                    continue
                ctx = k_ids[j]
                d = dest[r] if shuffled else r
                targets[d] = t
                contexts[d, 0] = ctx
                for n in range(1, negative + 1):
                    state, neg = _draw_negative(state, ctx, alias_table)
                    contexts[d, n] = neg
                r += 1


@njit(parallel=True, nogil=True, cache=True)
def _emit_flat(kept_offsets, row_offsets, k_ids, k_win, k_sent, s0, chunk, neg_key,
               alias_table, negative, dest, targets, contexts, labels):
    n_chunks = kept_offsets.shape[0] - 1
    n_kept = k_ids.shape[0]
    width = negative + 1
    shuffled = dest.shape[0] > 0
    for c in prange(n_chunks):
        state = stream_seed(neg_key, s0 + c * chunk)
        e = row_offsets[c] * width
        for k in range(kept_offsets[c], kept_offsets[c + 1]):
            lo, hi = _context_range(k, k_win, k_sent, n_kept)
            t = k_ids[k]
            for j in range(lo, hi + 1):
                if j == k:
                    continue
                ctx = k_ids[j]
                d = dest[e] if shuffled else e
                targets[d] = t
                contexts[d] = ctx
                labels[d] = 1
                e += 1
                for n in range(negative):
                    d = dest[e] if shuffled else e
                    targets[d] = t
                    state, neg = _draw_negative(state, ctx, alias_table)
                    contexts[d] = neg
                    labels[d] = 0
                    e += 1


# ----------------------------------------------------------------------------
# The generator
# ----------------------------------------------------------------------------

_NEG_SALT = 0xA5A5A5A55A5A5A5A
_PERM_SALT = 0x3C3C3C3CC3C3C3C3


class PairGenerator:
    """Streams subsampled skip-gram pairs with negative samples, in large batches.

    Parameters
    ----------
    vocab_or_counts : Vocab or int array of shape (V,)
        Word counts, indexed by id. Subsampling and the noise distribution use them.
    window : int
        Maximum window; each kept token draws word2vec's reduced window
        ``b ~ U{1..window}``.
    negative : int
        Negatives per positive pair, drawn from ``counts ** ns_power``; a draw that
        equals the positive context is redrawn.
    sample : float
        Subsampling threshold ``t`` (word2vec.c's formula); 0 disables it.
    ns_power : float
        Exponent of the noise distribution.
    seed : int
        The output is a function of the seed only, whatever ``threads`` is.
    threads : int, optional
        Numba threads; default every available core.
    block_tokens : int
        Corpus tokens per block; a block's pairs are shuffled together.
    """

    def __init__(self, vocab_or_counts, window: int = 5, negative: int = 5, sample: float = 1e-3,
                 ns_power: float = 0.75, seed: int = 1, threads: Optional[int] = None,
                 block_tokens: int = BLOCK_TOKENS) -> None:
        counts = getattr(vocab_or_counts, "counts", vocab_or_counts)
        counts = np.asarray(counts)
        if counts.dtype == object or not np.issubdtype(counts.dtype, np.number) or counts.ndim != 1:
            raise TypeError("vocab_or_counts must be a Vocab or a 1-D array of word counts")
        if counts.shape[0] == 0:
            raise ValueError("the vocabulary is empty")
        if not np.all(np.isfinite(counts)) or np.any(counts <= 0):
            raise ValueError("every word count must be a positive number")
        _check_int("window", window, 1)
        _check_int("negative", negative, 0)
        _check_int("seed", seed, 0)
        _check_int("block_tokens", block_tokens, 1)
        if threads is not None:
            _check_int("threads", threads, 1)
        if not np.isfinite(sample) or sample < 0:
            raise ValueError(f"sample must be >= 0, got {sample}")
        if not np.isfinite(ns_power) or ns_power < 0:
            raise ValueError(f"ns_power must be >= 0, got {ns_power}")
        if negative > 0 and counts.shape[0] < 2:
            raise ValueError("negative sampling needs a vocabulary of at least 2 words")
        self.counts = counts.astype(np.int64) if np.issubdtype(counts.dtype, np.integer) else counts.astype(np.float64)
        self.vocab_size = int(counts.shape[0])
        self.window = int(window)
        self.negative = int(negative)
        self.sample = float(sample)
        self.ns_power = float(ns_power)
        self.seed = int(seed)
        self.threads = threads
        self.block_tokens = int(block_tokens)
        self.keep_prob = keep_probabilities(self.counts, self.sample)
        self.keep_thresh = keep_thresholds(self.keep_prob)
        noise = noise_distribution(self.counts, self.ns_power)
        if negative > 0 and noise.max() > 0.999:
            raise ValueError(
                f"ns_power={ns_power} puts {noise.max():.4f} of the noise mass on one word; "
                "negatives could not avoid it. Use a smaller ns_power"
            )
        self.noise = noise
        self.alias_table = pack_alias(*build_alias_table(noise))

    @property
    def alias_thresh(self) -> np.ndarray:
        return unpack_alias(self.alias_table)[0]

    @property
    def alias_index(self) -> np.ndarray:
        return unpack_alias(self.alias_table)[1]

    # -- one block -----------------------------------------------------------

    def _compact_block(self, ids, sent_starts, s0, s1, key):
        """Passes 1-3 for one block: kept tokens, their windows and sentences, row offsets per chunk."""
        chunk = CHUNK_TOKENS
        n_chunks = max(1, (s1 - s0 + chunk - 1) // chunk)
        kept_counts = np.empty(n_chunks, dtype=np.int64)
        _count_kept(ids, s0, s1, self.keep_thresh, key, chunk, kept_counts)
        kept_offsets = np.zeros(n_chunks + 1, dtype=np.int64)
        np.cumsum(kept_counts, out=kept_offsets[1:])
        n_kept = int(kept_offsets[-1])
        k_ids = np.empty(n_kept, dtype=np.int32)
        k_win = np.empty(n_kept, dtype=np.int64)
        k_sent = np.empty(n_kept, dtype=np.int64)
        _compact_kept(ids, sent_starts, s0, s1, self.keep_thresh, key, chunk, self.window,
                      kept_offsets, k_ids, k_win, k_sent)
        pair_counts = np.empty(n_chunks, dtype=np.int64)
        _count_pairs(kept_offsets, k_win, k_sent, pair_counts)
        row_offsets = np.zeros(n_chunks + 1, dtype=np.int64)
        np.cumsum(pair_counts, out=row_offsets[1:])
        return kept_offsets, k_ids, k_win, k_sent, row_offsets

    def _block_pairs(self, ids, sent_starts, s0, s1, epoch, layout, shuffle, negative):
        key = epoch_key(self.seed, epoch)
        neg_key = np.uint64(mix64_py(int(key) ^ _NEG_SALT))
        chunk = CHUNK_TOKENS
        kept_offsets, k_ids, k_win, k_sent, row_offsets = self._compact_block(ids, sent_starts, s0, s1, key)
        n_rows = int(row_offsets[-1])
        width = negative + 1
        n_out = n_rows if layout == "rows" else n_rows * width
        perm_key = mix64_py(int(key) ^ _PERM_SALT ^ mix64_py(s0))
        dest = random_permutation(n_out, perm_key) if shuffle else np.empty(0, dtype=np.int64)
        if layout == "rows":
            targets = np.empty(n_rows, dtype=np.int32)
            contexts = np.empty((n_rows, width), dtype=np.int32)
            _emit_rows(kept_offsets, row_offsets, k_ids, k_win, k_sent, s0, chunk, neg_key,
                       self.alias_table, dest, targets, contexts)
            return (targets, contexts)
        targets = np.empty(n_out, dtype=np.int32)
        contexts = np.empty(n_out, dtype=np.int32)
        labels = np.empty(n_out, dtype=np.int8)
        _emit_flat(kept_offsets, row_offsets, k_ids, k_win, k_sent, s0, chunk, neg_key,
                   self.alias_table, negative, dest, targets, contexts, labels)
        return (targets, contexts, labels)

    def rows_in_epoch(self, corpus, epoch: int = 0) -> int:
        """Exact number of (target, context) rows the given epoch yields, without emitting them."""
        corpus = as_encoded(corpus, self.vocab_size)
        key = epoch_key(self.seed, epoch)
        bounds = self.block_bounds(corpus)
        starts = np.ascontiguousarray(corpus.sentence_starts, dtype=np.int64)
        total = 0
        for b in range(bounds.shape[0] - 1):
            row_offsets = self._compact_block(corpus.ids, starts, int(bounds[b]), int(bounds[b + 1]), key)[-1]
            total += int(row_offsets[-1])
            memory.release_pages(corpus.ids, 0, int(bounds[b + 1]))
        return total

    def block_bounds(self, corpus: EncodedCorpus) -> np.ndarray:
        """Token offsets of the blocks: whole sentences, about ``block_tokens`` each."""
        starts = corpus.sentence_starts
        n = int(starts[-1])
        marks = np.arange(self.block_tokens, n, self.block_tokens, dtype=np.int64)
        idx = np.searchsorted(starts, marks, side="left")
        bounds = np.unique(np.concatenate(([0], starts[idx], [n])))
        return bounds

    def iter_blocks(self, corpus, epochs: int = 1, layout: str = "rows", shuffle: bool = True,
                    start_epoch: int = 0, negative: Optional[int] = None):
        """Yield ``(epoch, raw_tokens_done_in_epoch, arrays)`` per block, in the calling thread."""
        corpus = as_encoded(corpus, self.vocab_size)
        negative = self.negative if negative is None else negative
        _check_layout(layout)
        if self.threads is not None:
            numba.set_num_threads(min(self.threads, numba.config.NUMBA_NUM_THREADS))
        bounds = self.block_bounds(corpus)
        ids = corpus.ids
        starts = np.ascontiguousarray(corpus.sentence_starts, dtype=np.int64)
        for epoch in range(start_epoch, start_epoch + epochs):
            for b in range(bounds.shape[0] - 1):
                s0, s1 = int(bounds[b]), int(bounds[b + 1])
                arrays = self._block_pairs(ids, starts, s0, s1, epoch, layout, shuffle, negative)
                memory.release_pages(ids, s0, s1)  # a memory-mapped corpus stays out of the resident set
                yield epoch, s1, arrays

    # -- the public stream ---------------------------------------------------

    def batches(self, ids, batch_size: int, layout: str = "rows", epochs: int = 1, shuffle: bool = True,
                start_epoch: int = 0, prefetch: int = 2) -> Iterator[tuple]:
        """Yield fixed-size batches of pairs; the last one may be short.

        Parameters
        ----------
        ids : EncodedCorpus, int array, or (ids, sentence_starts)
            The encoded corpus. It is validated (ids in ``[0, V)``) and never copied.
        batch_size : int
            Rows per batch (``layout="rows"``) or pairs per batch (``"flat"``).
        layout : {"rows", "flat"}
            ``"rows"`` yields ``(targets int32[B], contexts int32[B, 1 + negative])``
            with the positive context in column 0. ``"flat"`` yields
            ``(targets int32[B], contexts int32[B], labels int8[B])`` with
            ``negative`` label-0 pairs for each label-1 pair.
        epochs : int
            Passes over the corpus; each epoch resubsamples.
        shuffle : bool
            Shuffle pairs within each block (at least ~1M rows on real corpora).

        The next block is generated in a background thread while batches are consumed.
        """
        _check_int("batch_size", batch_size, 1)
        _check_int("epochs", epochs, 1)
        _check_layout(layout)
        corpus = as_encoded(ids, self.vocab_size)
        for _, _, batch in self._batches(corpus, batch_size, layout, epochs, shuffle, start_epoch, prefetch):
            yield batch

    def batches_with_progress(self, corpus, batch_size: int, layout: str = "rows", epochs: int = 1,
                              shuffle: bool = True, start_epoch: int = 0, prefetch: int = 2):
        """Like :meth:`batches` but yields ``(epoch, words_done_in_epoch, batch)``.

        ``words_done_in_epoch`` counts encoded-corpus tokens up to the end of the
        block the batch's last row came from, for learning-rate schedules.
        """
        _check_int("batch_size", batch_size, 1)
        corpus = as_encoded(corpus, self.vocab_size)
        return self._batches(corpus, batch_size, layout, epochs, shuffle, start_epoch, prefetch)

    def _batches(self, corpus, batch_size, layout, epochs, shuffle, start_epoch, prefetch):
        blocks = _background(self.iter_blocks(corpus, epochs, layout, shuffle, start_epoch), prefetch)
        pending = None
        pending_epoch = start_epoch
        try:
            for epoch, done, arrays in blocks:
                if pending is not None:
                    arrays = tuple(np.concatenate((p, a)) for p, a in zip(pending, arrays))
                    pending = None
                n = arrays[0].shape[0]
                full = n // batch_size * batch_size
                for lo in range(0, full, batch_size):
                    yield epoch, done, tuple(a[lo : lo + batch_size] for a in arrays)
                if full < n:
                    pending = tuple(a[full:] for a in arrays)
                    pending_epoch = epoch
            if pending is not None:
                yield pending_epoch, int(corpus.n_words), pending
        finally:
            blocks.close()

    def expected_pairs_per_token(self) -> float:
        """Expected positive pairs per corpus token (ignoring sentence edges)."""
        kept = float(np.dot(self.keep_prob, self.counts) / self.counts.sum())
        return kept * kept * (self.window + 1)


def _check_layout(layout):
    if layout not in ("rows", "flat"):
        raise ValueError(f"layout must be 'rows' or 'flat', got {layout!r}")


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


class _background:
    """Run a generator in a daemon thread, ``prefetch`` items ahead."""

    _DONE = object()

    def __init__(self, gen, prefetch: int):
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, prefetch))
        self._stop = threading.Event()
        self._gen = gen
        self._thread = threading.Thread(target=self._run, name="fastw2v-pairs", daemon=True)
        self._thread.start()

    def _run(self):
        try:
            for item in self._gen:
                while not self._stop.is_set():
                    try:
                        self._queue.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._queue.put(("done", None))
        except BaseException as exc:  # forwarded to the consumer
            self._queue.put(("error", exc))

    def __iter__(self):
        while True:
            kind, item = self._queue.get()
            if kind == "item":
                yield item
            elif kind == "done":
                return
            else:
                raise item

    def close(self):
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=30)


# ----------------------------------------------------------------------------
# Keras-compatible drop-ins
# ----------------------------------------------------------------------------


def make_sampling_table(size: int, sampling_factor: float = 1e-5) -> np.ndarray:
    """Keras-compatible word-rank sampling table.

    ``table[i]`` is the probability of keeping the ``i``-th most frequent word,
    estimated from a Zipf distribution, as ``tf_keras.preprocessing.sequence.
    make_sampling_table`` computes it.

    Returns
    -------
    float64[size]
    """
    _check_int("size", size, 1)
    if not np.isfinite(sampling_factor) or sampling_factor <= 0:
        raise ValueError(f"sampling_factor must be > 0, got {sampling_factor}")
    euler_gamma = 0.577
    rank = np.arange(size, dtype=np.float64)
    rank[0] = 1.0
    # Zipf: the frequency of rank r is about 1 / (r * (ln r + gamma))
    inv_freq = rank * (np.log(rank) + euler_gamma) + 0.5 - 1.0 / (12.0 * rank)
    f = sampling_factor * inv_freq
    return np.minimum(1.0, f / np.sqrt(f))


_U53 = 1.0 / 9007199254740992.0


@njit(inline="always", cache=True)
def _sg_is_target(seq, i, table, use_table, key):
    """Keras' rule: id 0 is padding; with a table, keep target w with probability table[w]."""
    wi = seq[i]
    if wi == 0:
        return False
    if use_table:
        u = np.float64(token_hash(key, i) >> np.uint64(11)) * _U53
        if table[wi] < u:
            return False
    return True


@njit(parallel=True, nogil=True, cache=True)
def _sg_count(seq, window, table, use_table, key, chunk, counts):
    n = seq.shape[0]
    n_chunks = counts.shape[0]
    for c in prange(n_chunks):
        lo = c * chunk
        hi = min(lo + chunk, n)
        cnt = 0
        for i in range(lo, hi):
            if not _sg_is_target(seq, i, table, use_table, key):
                continue
            for j in range(max(0, i - window), min(n, i + window + 1)):
                if j != i and seq[j] != 0:
                    cnt += 1
        counts[c] = cnt


_LABEL_BIT = np.uint64(1 << 63)
_S32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)


@njit(inline="always", cache=True)
def _sg_pack(target, context, label):
    """(target, context, label) in one uint64; viewed as int32[2] it reads (target, context)."""
    v = np.uint64(np.uint32(target)) | (np.uint64(np.uint32(context)) << _S32)
    if label:
        v |= _LABEL_BIT
    return v


@njit(parallel=True, nogil=True, cache=True)
def _sg_bucket_counts(items_per_writer, key, n_buckets, counts):
    """Bucket counts per writer. Writer q draws the bucket of each item it writes,
    in write order, from its own stream; the emit pass replays the same stream."""
    for q in prange(items_per_writer.shape[0]):
        state = stream_seed(key, q)
        for _ in range(items_per_writer[q]):
            state, r = xorshift_next(state)
            counts[q, bounded(r, n_buckets)] += 1


@njit(inline="always", cache=True)
def _sg_slot(k, q, state, n_buckets, slots, shuffled):
    """Where the next item of writer q goes: item order, or its random bucket."""
    if not shuffled:
        return k, state
    state, r = xorshift_next(state)
    b = bounded(r, n_buckets)
    d = slots[q, b]
    slots[q, b] = d + 1
    return d, state


@njit(parallel=True, nogil=True, cache=True)
def _sg_emit(seq, window, table, use_table, sample_key, chunk, offsets, vocabulary_size, rounds, neg_key,
             bucket_key, n_buckets, slots, shuffled, buf, pos_targets):
    """Positives of each sequence chunk, each followed by ``rounds`` negatives that
    share its target (item ``j * n_pos + k`` for round j of positive k)."""
    n = seq.shape[0]
    n_chunks = offsets.shape[0] - 1
    n_pos = offsets[n_chunks]
    keep_targets = pos_targets.shape[0] > 0
    for c in prange(n_chunks):
        lo = c * chunk
        hi = min(lo + chunk, n)
        k = offsets[c]
        state = stream_seed(neg_key, c)
        bstate = stream_seed(bucket_key, c)
        for i in range(lo, hi):
            if not _sg_is_target(seq, i, table, use_table, sample_key):
                continue
            wi = seq[i]
            for j in range(max(0, i - window), min(n, i + window + 1)):
                if j != i and seq[j] != 0:
                    d, bstate = _sg_slot(k, c, bstate, n_buckets, slots, shuffled)
                    buf[d] = _sg_pack(wi, seq[j], True)
                    for rnd in range(1, rounds + 1):
                        state, r = xorshift_next(state)
                        d, bstate = _sg_slot(rnd * n_pos + k, c, bstate, n_buckets, slots, shuffled)
                        buf[d] = _sg_pack(wi, 1 + bounded(r, vocabulary_size - 1), False)
                    if keep_targets:
                        pos_targets[k] = wi
                    k += 1


@njit(parallel=True, nogil=True, cache=True)
def _sg_emit_remainder(pos_targets, subset, first_item, vocabulary_size, neg_key, rem_bounds, q0,
                       bucket_key, n_buckets, slots, shuffled, buf):
    """The fractional last round: a random subset of positives' targets."""
    for r in prange(rem_bounds.shape[0] - 1):
        state = stream_seed(neg_key, np.uint64(1 << 40) + np.uint64(r))
        bstate = stream_seed(bucket_key, q0 + r)
        for item in range(rem_bounds[r], rem_bounds[r + 1]):
            t = pos_targets[subset[item - first_item]]
            state, x = xorshift_next(state)
            d, bstate = _sg_slot(item, q0 + r, bstate, n_buckets, slots, shuffled)
            buf[d] = _sg_pack(t, 1 + bounded(x, vocabulary_size - 1), False)


@njit(parallel=True, nogil=True, cache=True)
def _sg_shuffle_unpack(bucket_starts, key, shuffled, buf, labels, categorical):
    for b in prange(bucket_starts.shape[0] - 1):
        lo = bucket_starts[b]
        hi = bucket_starts[b + 1]
        if shuffled:
            # buckets hold < 2**32 items, so each 64-bit draw serves two swaps
            state = stream_seed(key, b)
            i = hi - 1
            while i > lo:
                state, r = xorshift_next(state)
                j = lo + np.int64(((r >> _S32) * np.uint64(i - lo + 1)) >> _S32)
                tmp = buf[i]
                buf[i] = buf[j]
                buf[j] = tmp
                i -= 1
                if i > lo:
                    j = lo + np.int64(((r & _LOW32) * np.uint64(i - lo + 1)) >> _S32)
                    tmp = buf[i]
                    buf[i] = buf[j]
                    buf[j] = tmp
                    i -= 1
        for i in range(lo, hi):
            v = buf[i]
            label = np.int8(1) if (v & _LABEL_BIT) != np.uint64(0) else np.int8(0)
            buf[i] = v & ~_LABEL_BIT
            if categorical:
                labels[i, 0] = 1 - label
                labels[i, 1] = label
            else:
                labels[i, 0] = label


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
    _check_int("vocabulary_size", vocabulary_size, 1)
    _check_int("window_size", window_size, 1)
    if not np.isfinite(negative_samples) or negative_samples < 0:
        raise ValueError(f"negative_samples must be >= 0, got {negative_samples}")
    seq = np.asarray(sequence)
    if seq.size == 0:
        seq = seq.astype(np.int32)
    if seq.size > 0:
        seq = check_ids(seq, vocabulary_size, name="sequence")
    elif seq.ndim != 1:
        raise ValueError(f"sequence must be one-dimensional, got shape {seq.shape}")
    use_table = sampling_table is not None
    if use_table:
        table = np.asarray(sampling_table, dtype=np.float64)
        if table.ndim != 1 or table.shape[0] < vocabulary_size:
            raise ValueError(
                f"sampling_table must have at least vocabulary_size={vocabulary_size} entries, got shape {table.shape}"
            )
    else:
        table = np.ones(1, dtype=np.float64)
    if negative_samples > 0 and vocabulary_size < 2:
        raise ValueError("negative sampling needs vocabulary_size >= 2 (id 0 is reserved)")
    if seed is None:
        seed = int.from_bytes(os.urandom(8), "little")
    _check_int("seed", seed, 0)
    root = mix64_py(int(seed))
    key_sample = np.uint64(mix64_py(root ^ 0x1))
    chunk = _PERM_CHUNK
    n = seq.shape[0]
    n_chunks = max(1, (n + chunk - 1) // chunk)
    counts = np.zeros(n_chunks, dtype=np.int64)
    if n:
        _sg_count(seq, window_size, table, use_table, key_sample, chunk, counts)
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
        n_buckets = max(1, total // _PERM_BUCKET)
        items_per_writer = np.concatenate((counts * (rounds + 1), np.diff(rem_bounds)))
        bucket_counts = np.zeros((items_per_writer.shape[0], n_buckets), dtype=np.int64)
        _sg_bucket_counts(items_per_writer, bucket_key, n_buckets, bucket_counts)
        bucket_starts = np.zeros(n_buckets + 1, dtype=np.int64)
        np.cumsum(bucket_counts.sum(axis=0), out=bucket_starts[1:])
        slots = np.cumsum(bucket_counts, axis=0) - bucket_counts + bucket_starts[:-1][None, :]
    else:
        n_buckets = 1
        slots = np.zeros((1, 1), dtype=np.int64)
        bucket_starts = np.append(np.arange(0, total, _PERM_BUCKET, dtype=np.int64), np.int64(total))
    buf = memory.empty(total, np.uint64)
    labels = memory.empty((total, 2 if categorical else 1), np.int8)
    pos_targets = np.empty(n_pos if rem else 0, dtype=np.int32)
    if n_pos:
        _sg_emit(seq, window_size, table, use_table, key_sample, chunk, offsets, vocabulary_size, rounds,
                 neg_key, bucket_key, n_buckets, slots, shuffled, buf, pos_targets)
    if rem:
        subset = random_permutation(n_pos, mix64_py(root ^ 0x3))[:rem]
        _sg_emit_remainder(pos_targets, subset, first_rem, vocabulary_size, neg_key, rem_bounds, n_chunks,
                           bucket_key, n_buckets, slots, shuffled, buf)
    if total:
        _sg_shuffle_unpack(bucket_starts, np.uint64(mix64_py(root ^ 0x5)), shuffled, buf, labels, categorical)
    couples = buf.view(np.int32).reshape(total, 2)
    return couples, (labels if categorical else labels[:, 0])


__all__ = ["PairGenerator", "skipgrams", "make_sampling_table", "random_permutation", "alias_probabilities"]
