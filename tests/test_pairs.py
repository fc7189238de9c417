import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import stats

import naive
from fastw2v import EncodedCorpus, PairGenerator
from fastw2v.constants import CHUNK_TOKENS
from fastw2v.permutation import random_permutation
from fastw2v.sampling import NEG_SALT


def _tiny_corpus(rng, n=3000, vocab=40, sentences=7):
    counts = np.sort(rng.integers(1, 500, size=vocab))[::-1].astype(np.int64)
    probs = counts / counts.sum()
    ids = rng.choice(vocab, size=n, p=probs).astype(np.int32)
    cuts = np.sort(rng.choice(np.arange(1, n), size=sentences - 1, replace=False))
    starts = np.concatenate(([0], cuts, [n])).astype(np.int64)
    return counts, EncodedCorpus(ids=ids, sentence_starts=starts, raw_words=n)


def _unshuffled_rows(gen, corpus, epoch=0):
    rows = []
    for ep, _, (t, c) in gen.iter_blocks(corpus, epochs=1, layout="rows", shuffle=False, start_epoch=epoch):
        rows.extend((int(a), b.tolist()) for a, b in zip(t, c))
    return rows


@pytest.mark.parametrize("sample", [0.0, 1e-2])
@pytest.mark.parametrize("epoch", [0, 3])
def test_kernel_matches_reference_exactly(sample, epoch):
    rng = np.random.default_rng(42)
    counts, corpus = _tiny_corpus(rng)
    # small blocks so the reference also covers block and chunk edges
    gen = PairGenerator(counts, window=4, negative=3, sample=sample, seed=9, threads=1, block_tokens=1200)
    got = _unshuffled_rows(gen, corpus, epoch)
    want = []
    bounds = gen.block_bounds(corpus)
    for b in range(len(bounds) - 1):
        want.extend(naive.block_rows(corpus.ids, corpus.sentence_starts, int(bounds[b]), int(bounds[b + 1]),
                                     gen.tables.keep_thresh, gen.tables.alias_thresh, gen.tables.alias_index, 4, 3, 9, epoch,
                                     CHUNK_TOKENS, NEG_SALT))
    assert len(got) == len(want) > 1000
    assert got == want


def test_chunk_edges_match_reference():
    """A corpus longer than one chunk, so per-chunk RNG streams and offsets are exercised."""
    rng = np.random.default_rng(5)
    counts, corpus = _tiny_corpus(rng, n=CHUNK_TOKENS * 2 + 777, sentences=30)
    gen = PairGenerator(counts, window=2, negative=1, sample=1e-2, seed=3, threads=1, block_tokens=10**9)
    got = _unshuffled_rows(gen, corpus)
    want = naive.block_rows(corpus.ids, corpus.sentence_starts, 0, corpus.n_words, gen.tables.keep_thresh,
                            gen.tables.alias_thresh, gen.tables.alias_index, 2, 1, 3, 0, CHUNK_TOKENS, NEG_SALT)
    assert got == want


def test_flat_layout_is_rows_flattened():
    rng = np.random.default_rng(7)
    counts, corpus = _tiny_corpus(rng)
    gen = PairGenerator(counts, window=3, negative=2, sample=1e-2, seed=1, threads=1)
    rows = _unshuffled_rows(gen, corpus)
    flat = []
    for _, _, (t, c, lab) in gen.iter_blocks(corpus, layout="flat", shuffle=False):
        flat.extend(zip(t.tolist(), c.tolist(), lab.tolist()))
    want = []
    for t, ctxs in rows:
        want.append((t, ctxs[0], 1))
        want.extend((t, n, 0) for n in ctxs[1:])
    assert flat == want


def test_shuffle_is_a_permutation_and_breaks_runs():
    rng = np.random.default_rng(11)
    counts, corpus = _tiny_corpus(rng, n=20000)
    gen = PairGenerator(counts, window=5, negative=2, sample=0, seed=4)
    plain = np.concatenate([np.column_stack((t, c)) for _, _, (t, c) in gen.iter_blocks(corpus, shuffle=False)])
    shuf = np.concatenate([np.column_stack((t, c)) for _, _, (t, c) in gen.iter_blocks(corpus, shuffle=True)])
    assert plain.shape == shuf.shape
    key = lambda a: a[np.lexsort(a.T[::-1])]
    assert np.array_equal(key(plain), key(shuf))
    # unshuffled, consecutive rows share their target most of the time; shuffled, rarely
    same_plain = np.mean(plain[1:, 0] == plain[:-1, 0])
    same_shuf = np.mean(shuf[1:, 0] == shuf[:-1, 0])
    assert same_plain > 0.5 and same_shuf < 0.2


def test_random_permutation_is_a_permutation_and_uniform():
    for n in [1, 2, 17, 100_003]:
        p = random_permutation(n, 5)
        assert np.array_equal(np.sort(p), np.arange(n))
    # position of element 0 over many keys is uniform over n=8 places
    pos = [int(np.argmax(random_permutation(8, k) == 0)) for k in range(4000)]
    assert stats.chisquare(np.bincount(pos, minlength=8)).pvalue > 1e-3


def test_random_permutation_mixes_across_buckets():
    """Position-by-destination chi-square over n = 2**18 (8 buckets, the parallel path).

    The indices fall in 16 source blocks and their destinations in 16 destination
    blocks; a uniform permutation sends each sampled index to each destination block
    with probability 1/16, whatever its source block. A shuffle that only mixed within
    buckets or neighbourhoods would pile up on the diagonal. 300 keys x 16 source blocks
    x 8 sampled indices gives 150 expected per cell; false-failure rate 1e-3."""
    n, blocks, per_block, keys = 1 << 18, 16, 8, 300
    rng = np.random.default_rng(7)
    table = np.zeros((blocks, blocks), dtype=np.int64)
    size = n // blocks
    for k in range(keys):
        perm = random_permutation(n, 1000 + k)  # perm[j] is the index placed at position j
        where = np.empty(n, dtype=np.int64)
        where[perm] = np.arange(n)
        for src in range(blocks):
            idx = rng.integers(src * size, (src + 1) * size, size=per_block)
            np.add.at(table[src], where[idx] // size, 1)
    expected = keys * per_block / blocks
    chi2 = float(((table - expected) ** 2 / expected).sum())
    assert chi2 < stats.chi2.isf(1e-3, df=(blocks - 1) * blocks)


def test_batches_sizes_and_content():
    rng = np.random.default_rng(3)
    counts, corpus = _tiny_corpus(rng, n=20000)
    gen = PairGenerator(counts, window=5, negative=5, sample=1e-3, seed=2)
    total = sum(c.shape[0] for _, _, (t, c) in gen.iter_blocks(corpus))
    batches = list(gen.batches(corpus, batch_size=1000, epochs=2))
    sizes = [b[0].shape[0] for b in batches]
    assert all(s == 1000 for s in sizes[:-1]) and 0 < sizes[-1] <= 1000
    assert batches[0][1].shape == (1000, 6) and batches[0][1].dtype == np.int32
    # two epochs resubsample: about twice the pairs of one, but not the same pairs
    assert abs(sum(sizes) - 2 * total) < 0.05 * total
    flat = list(gen.batches(corpus, batch_size=999, layout="flat"))
    t, c, lab = flat[0]
    assert t.shape == c.shape == lab.shape == (999,)
    frac_pos = np.mean(np.concatenate([b[2] for b in flat]))
    assert abs(frac_pos - 1 / 6) < 1e-9


def test_batches_does_not_copy_corpus():
    rng = np.random.default_rng(3)
    counts, corpus = _tiny_corpus(rng, n=5000)
    from fastw2v.corpus import as_encoded

    assert as_encoded(corpus, len(counts)).ids is corpus.ids
    ids = np.asarray(corpus.ids, dtype=np.int32)
    assert np.shares_memory(as_encoded(ids, len(counts)).ids, ids)


@pytest.mark.integration
def test_same_output_whatever_the_thread_count():
    code = textwrap.dedent(
        """
        import sys, hashlib, numpy as np
        from fastw2v import PairGenerator, EncodedCorpus
        rng = np.random.default_rng(0)
        counts = rng.integers(1, 1000, size=500)
        ids = rng.choice(500, size=300_000, p=counts / counts.sum()).astype(np.int32)
        corpus = EncodedCorpus.from_array(ids, 500)
        h = hashlib.sha256()
        for layout in ("rows", "flat"):
            gen = PairGenerator(counts, window=5, negative=4, sample=1e-3, seed=123, threads=int(sys.argv[1]))
            for batch in gen.batches(corpus, 4096, layout=layout, epochs=2):
                for a in batch:
                    h.update(np.ascontiguousarray(a).tobytes())
        print(h.hexdigest())
        """
    )
    digests = [
        subprocess.run([sys.executable, "-c", code, str(t)], capture_output=True, text=True, check=True,
                       env={**__import__("os").environ, "NUMBA_NUM_THREADS": str(max(t, 2))}).stdout.strip()
        for t in (1, 2)
    ]
    assert digests[0] == digests[1] and len(digests[0]) == 64


def test_negatives_follow_unigram_power_chi_square():
    rng = np.random.default_rng(8)
    V = 60
    counts = np.sort(rng.integers(5, 5000, size=V))[::-1].astype(np.int64)
    ids = rng.choice(V, size=60_000, p=counts / counts.sum()).astype(np.int32)
    corpus = EncodedCorpus.from_array(ids, V)
    gen = PairGenerator(counts, window=3, negative=5, sample=0, ns_power=0.75, seed=6)
    obs = np.zeros(V)
    expected = np.zeros(V)
    p = counts ** 0.75
    p = p / p.sum()
    for t, c in gen.batches(corpus, 100_000):
        pos = c[:, 0]
        negs = c[:, 1:]
        assert not np.any(negs == pos[:, None])  # a negative never equals the positive
        obs += np.bincount(negs.ravel(), minlength=V)
        # a draw equal to the context is redrawn: P(d | ctx) = p_d / (1 - p_ctx), d != ctx
        n_ctx = np.bincount(pos, minlength=V) * negs.shape[1]
        for ctx in np.nonzero(n_ctx)[0]:
            e = n_ctx[ctx] * p / (1 - p[ctx])
            e[ctx] = 0
            expected += e
    assert stats.chisquare(obs, expected).pvalue > 1e-3


def test_subsampling_keep_rates_match_formula():
    rng = np.random.default_rng(9)
    V = 30
    counts = np.sort(rng.integers(10, 20000, size=V))[::-1].astype(np.int64)
    ids = np.repeat(np.arange(V, dtype=np.int32), counts)
    rng.shuffle(ids)
    corpus = EncodedCorpus.from_array(ids, V)
    gen = PairGenerator(counts, window=1, negative=0, sample=1e-3, seed=2)
    kept = np.zeros(V)
    epochs = 4
    from fastw2v.pairs import compact_kept, count_kept
    from fastw2v.sampling import epoch_key

    n = corpus.n_words
    for ep in range(epochs):
        key = epoch_key(2, ep)
        n_chunks = (n + CHUNK_TOKENS - 1) // CHUNK_TOKENS
        kc = np.empty(n_chunks, dtype=np.int64)
        count_kept(corpus.ids, 0, n, gen.tables.keep_thresh, key, CHUNK_TOKENS, kc)
        off = np.concatenate(([0], np.cumsum(kc)))
        k_ids = np.empty(off[-1], np.int32)
        k_win = np.empty(off[-1], np.int64)
        k_sent = np.empty(off[-1], np.int64)
        compact_kept(corpus.ids, corpus.sentence_starts, 0, n, gen.tables.keep_thresh, key, CHUNK_TOKENS, 1, off,
                      k_ids, k_win, k_sent)
        kept += np.bincount(k_ids, minlength=V)
    trials = counts * epochs
    expect = trials * gen.tables.keep_prob
    sd = np.sqrt(trials * gen.tables.keep_prob * (1 - gen.tables.keep_prob))
    assert np.any(gen.tables.keep_prob < 0.5)  # the test really subsamples
    z = np.where(sd > 0, (kept - expect) / np.where(sd > 0, sd, 1), kept - expect)
    # Bonferroni over V words at overall false-failure rate ~1e-3
    assert np.max(np.abs(z)) < stats.norm.isf(1e-3 / (2 * V))


def test_window_offsets_follow_reduced_window_distribution():
    """With no subsampling, P(|offset| = m) is proportional to window - m + 1."""
    V, window = 1000, 5
    ids = (np.arange(200_000) % V).astype(np.int32)
    corpus = EncodedCorpus.from_array(ids, V)
    gen = PairGenerator(np.ones(V, dtype=np.int64), window=window, negative=0, sample=0, seed=1)
    hist = np.zeros(window + 1)
    for t, c in gen.batches(corpus, 1 << 20):
        d = (c[:, 0].astype(np.int64) - t) % V
        d = np.minimum(d, V - d)
        hist += np.bincount(d, minlength=window + 1)[: window + 1]
    assert hist[0] == 0
    obs = hist[1:]
    m = np.arange(1, window + 1)
    expected = (window - m + 1) / (window * (window + 1) / 2) * obs.sum()
    assert stats.chisquare(obs, expected).pvalue > 1e-3


def test_sentences_are_never_crossed():
    ids = np.arange(40, dtype=np.int32)
    starts = np.array([0, 10, 25, 40], dtype=np.int64)
    corpus = EncodedCorpus(ids=ids, sentence_starts=starts, raw_words=40)
    gen = PairGenerator(np.ones(40, dtype=np.int64), window=8, negative=0, sample=0, seed=1)
    (t, c), = list(gen.batches(corpus, 10_000))
    sent = np.searchsorted(starts, np.arange(40), side="right") - 1
    assert np.array_equal(sent[t], sent[c[:, 0]])
