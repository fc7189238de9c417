"""The skip-gram pair generator: Numba block kernels and the streaming :class:`PairGenerator`.

Kernels work on one *block* of the encoded corpus at a time: a run of whole
sentences holding about :data:`~fastw2v.constants.BLOCK_TOKENS` tokens. A block
is processed in passes, each a ``prange`` over fixed-size chunks of corpus
positions:

1. :func:`count_kept` counts the tokens kept by subsampling in each chunk;
2. :func:`compact_kept` compacts the kept tokens, with their reduced window and
   sentence index;
3. :func:`_count_pairs` counts the (target, context) pairs each chunk emits;
4. :func:`_emit_rows` or :func:`_emit_flat` emits the pairs and their negatives,
   each row written straight to its place in a block-wide random permutation
   (:func:`fastw2v.permutation.random_permutation`: the shuffle).

Every random decision is a function of ``(seed, epoch, corpus position)`` or of a
chunk's own stream, never of the thread that runs it, so the output for a seed is
identical whatever the thread count. :class:`PairGenerator` runs the passes block
by block, in a background thread, and cuts the blocks into batches.

Per-token decisions (keep, reduced window) hash ``(seed, epoch, corpus position)``;
negatives come from a xorshift64* stream per chunk, seeded from ``(seed, epoch, chunk
position)``, and are drawn from an alias table packed into one uint64 per word
(:mod:`fastw2v.sampling`), so a draw reads one cache line. The permutation is built in
parallel: random buckets, then a Fisher-Yates shuffle per bucket.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterator, Optional

import numba
import numpy as np
from numba import njit, prange

from . import pages
from .config import check_choice, check_int
from .constants import BLOCK_TOKENS, CHUNK_TOKENS
from .corpus import EncodedCorpus, as_encoded
from .permutation import random_permutation
from .sampling import (
    PERM_SALT,
    SamplingTables,
    draw_negative,
    epoch_keys,
    keep_token,
    mix64_py,
    reduced_window,
    stream_seed,
    token_hash,
)

LAYOUTS = ("rows", "flat")

@njit(parallel=True, nogil=True, cache=True)
def count_kept(ids, s0, s1, keep_thresh, key, chunk, kept_counts):
    """``kept_counts[c]``: tokens of ``ids[s0 + c * chunk : ...]`` (up to ``s1``) that subsampling keeps.

    ``ids`` int32[N]; ``keep_thresh`` uint64[V]; ``key`` uint64, the epoch key;
    ``kept_counts`` int64[n_chunks].
    """
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
def compact_kept(ids, sent_starts, s0, s1, keep_thresh, key, chunk, window, kept_offsets, k_ids, k_win, k_sent):
    """Write the kept tokens of positions ``s0..s1-1`` compactly, with their window and sentence.

    ``ids`` int32[N]; ``sent_starts`` int64[S + 1]; ``keep_thresh`` uint64[V];
    ``kept_offsets`` int64[n_chunks + 1], where each chunk's kept tokens start;
    outputs ``k_ids`` int32[n_kept], ``k_win`` int64[n_kept] (the reduced window
    ``b``) and ``k_sent`` int64[n_kept] (the sentence index).
    """
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
    """Compacted index range [lo, hi] of the window around k, clipped to its sentence.

    ``k_win``, ``k_sent`` int64[n_kept], as :func:`compact_kept` writes them.
    """
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
    """``pair_counts[c]``: (target, context) pairs the kept tokens of chunk ``c`` emit.

    ``kept_offsets`` int64[n_chunks + 1]; ``k_win``, ``k_sent`` int64[n_kept];
    ``pair_counts`` int64[n_chunks].
    """
    n_chunks = kept_offsets.shape[0] - 1
    n_kept = k_win.shape[0]
    for c in prange(n_chunks):
        cnt = 0
        for k in range(kept_offsets[c], kept_offsets[c + 1]):
            lo, hi = _context_range(k, k_win, k_sent, n_kept)
            cnt += hi - lo
        pair_counts[c] = cnt


@njit(parallel=True, nogil=True, cache=True)
def _emit_rows(kept_offsets, row_offsets, k_ids, k_win, k_sent, s0, chunk, neg_key,
               alias_table, dest, targets, contexts):
    """Emit the rows layout: one row per positive pair, its negatives beside it.

    ``kept_offsets`` int64[n_chunks + 1]; ``row_offsets`` int64[n_chunks + 1], each
    chunk's first row; ``k_ids`` int32[n_kept]; ``k_win``, ``k_sent`` int64[n_kept];
    ``neg_key`` uint64 (chunk ``c`` draws from ``stream_seed(neg_key, s0 + c * chunk)``);
    ``alias_table`` uint64[V]; ``dest`` int64[n_rows], the shuffle (empty: no shuffle);
    outputs ``targets`` int32[n_rows] and ``contexts`` int32[n_rows, 1 + negative],
    the positive context in column 0.
    """
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
                    state, neg = draw_negative(state, ctx, alias_table)
                    contexts[d, n] = neg
                r += 1


@njit(parallel=True, nogil=True, cache=True)
def _emit_flat(kept_offsets, row_offsets, k_ids, k_win, k_sent, s0, chunk, neg_key,
               alias_table, negative, dest, targets, contexts, labels):
    """Emit the flat layout: each positive pair, then its ``negative`` label-0 pairs.

    Arguments as :func:`_emit_rows`, but ``dest`` is int64[n_rows * (1 + negative)]
    (or empty) and the outputs are ``targets``, ``contexts`` int32[n_rows * (1 + negative)]
    and ``labels`` int8[same].
    """
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
                    state, neg = draw_negative(state, ctx, alias_table)
                    contexts[d] = neg
                    labels[d] = 0
                    e += 1


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
        self.seed = check_int("seed", seed, 0)
        self.window = check_int("window", window, 1)
        self.negative = check_int("negative", negative, 0)
        self.block_tokens = check_int("block_tokens", block_tokens, 1)
        self.threads = None if threads is None else check_int("threads", threads, 1)
        counts = getattr(vocab_or_counts, "counts", vocab_or_counts)
        #: the subsampling thresholds and the noise distribution's alias table
        self.tables = SamplingTables(counts, sample, ns_power, need_negatives=self.negative > 0)
        self.vocab_size = len(self.tables)

    # -- one block -----------------------------------------------------------

    def _compact_block(self, ids, sent_starts, s0, s1, key):
        """Passes 1-3 for one block: kept tokens, their windows and sentences, row offsets per chunk."""
        chunk = CHUNK_TOKENS
        n_chunks = max(1, (s1 - s0 + chunk - 1) // chunk)
        kept_counts = np.empty(n_chunks, dtype=np.int64)
        count_kept(ids, s0, s1, self.tables.keep_thresh, key, chunk, kept_counts)
        kept_offsets = np.zeros(n_chunks + 1, dtype=np.int64)
        np.cumsum(kept_counts, out=kept_offsets[1:])
        n_kept = int(kept_offsets[-1])
        k_ids = np.empty(n_kept, dtype=np.int32)
        k_win = np.empty(n_kept, dtype=np.int64)
        k_sent = np.empty(n_kept, dtype=np.int64)
        compact_kept(ids, sent_starts, s0, s1, self.tables.keep_thresh, key, chunk, self.window,
                      kept_offsets, k_ids, k_win, k_sent)
        pair_counts = np.empty(n_chunks, dtype=np.int64)
        _count_pairs(kept_offsets, k_win, k_sent, pair_counts)
        row_offsets = np.zeros(n_chunks + 1, dtype=np.int64)
        np.cumsum(pair_counts, out=row_offsets[1:])
        return kept_offsets, k_ids, k_win, k_sent, row_offsets

    def _block_pairs(self, ids, sent_starts, s0, s1, epoch, layout, shuffle, negative):
        """All of one block's pairs, as the layout's arrays (see :meth:`batches`)."""
        key, neg_key = epoch_keys(self.seed, epoch)
        chunk = CHUNK_TOKENS
        kept_offsets, k_ids, k_win, k_sent, row_offsets = self._compact_block(ids, sent_starts, s0, s1, key)
        n_rows = int(row_offsets[-1])
        width = negative + 1
        n_out = n_rows if layout == "rows" else n_rows * width
        perm_key = mix64_py(int(key) ^ PERM_SALT ^ mix64_py(s0))
        dest = random_permutation(n_out, perm_key) if shuffle else np.empty(0, dtype=np.int64)
        if layout == "rows":
            targets = np.empty(n_rows, dtype=np.int32)
            contexts = np.empty((n_rows, width), dtype=np.int32)
            _emit_rows(kept_offsets, row_offsets, k_ids, k_win, k_sent, s0, chunk, neg_key,
                       self.tables.alias_table, dest, targets, contexts)
            return (targets, contexts)
        targets = np.empty(n_out, dtype=np.int32)
        contexts = np.empty(n_out, dtype=np.int32)
        labels = np.empty(n_out, dtype=np.int8)
        _emit_flat(kept_offsets, row_offsets, k_ids, k_win, k_sent, s0, chunk, neg_key,
                   self.tables.alias_table, negative, dest, targets, contexts, labels)
        return (targets, contexts, labels)

    def rows_in_epoch(self, corpus, epoch: int = 0) -> int:
        """Exact number of (target, context) rows the given epoch yields, without emitting them."""
        corpus = as_encoded(corpus, self.vocab_size)
        key, _ = epoch_keys(self.seed, epoch)
        bounds = self.block_bounds(corpus)
        starts = np.ascontiguousarray(corpus.sentence_starts, dtype=np.int64)
        total = 0
        for b in range(bounds.shape[0] - 1):
            row_offsets = self._compact_block(corpus.ids, starts, int(bounds[b]), int(bounds[b + 1]), key)[-1]
            total += int(row_offsets[-1])
            pages.release_pages(corpus.ids, 0, int(bounds[b + 1]))
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
        check_choice("layout", layout, LAYOUTS)
        if self.threads is not None:
            numba.set_num_threads(min(self.threads, numba.config.NUMBA_NUM_THREADS))
        bounds = self.block_bounds(corpus)
        ids = corpus.ids
        starts = np.ascontiguousarray(corpus.sentence_starts, dtype=np.int64)
        for epoch in range(start_epoch, start_epoch + epochs):
            for b in range(bounds.shape[0] - 1):
                s0, s1 = int(bounds[b]), int(bounds[b + 1])
                arrays = self._block_pairs(ids, starts, s0, s1, epoch, layout, shuffle, negative)
                pages.release_pages(ids, s0, s1)  # a memory-mapped corpus stays out of the resident set
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
        check_int("batch_size", batch_size, 1)
        check_int("epochs", epochs, 1)
        check_choice("layout", layout, LAYOUTS)
        corpus = as_encoded(ids, self.vocab_size)
        for _, _, batch in self._batches(corpus, batch_size, layout, epochs, shuffle, start_epoch, prefetch):
            yield batch

    def _batches(self, corpus, batch_size, layout, epochs, shuffle, start_epoch, prefetch):
        """Yield ``(epoch, tokens_done_in_epoch, batch)``: blocks from a background thread, cut to size."""
        blocks = background(self.iter_blocks(corpus, epochs, layout, shuffle, start_epoch), prefetch)
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

class background:
    """Run a generator in a daemon thread, ``prefetch`` items ahead.

    Iterate it once; :meth:`close` stops the thread (it also stops by itself at the
    generator's end). An exception in the generator is raised to the consumer.
    """

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
