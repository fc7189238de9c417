"""fastw2v.skipgrams against tf_keras.preprocessing.sequence.skipgrams."""

from collections import Counter

import numpy as np
import pytest
from scipy import stats

import naive
from fastw2v import make_sampling_table, skipgrams

keras_seq = pytest.importorskip("tf_keras.preprocessing.sequence", reason="tf_keras is not installed")


def _zipf_sequence(rng, n, V):
    ranks = np.arange(1, V)
    p = 1.0 / ranks
    p /= p.sum()
    seq = rng.choice(ranks, size=n, p=p)
    seq[rng.random(n) < 0.03] = 0  # some padding
    return seq


def test_make_sampling_table_matches_keras():
    for size, factor in [(1, 1e-5), (10, 1e-5), (5000, 1e-5), (5000, 1e-3)]:
        np.testing.assert_allclose(make_sampling_table(size, factor), keras_seq.make_sampling_table(size, factor),
                                   rtol=1e-12)


def test_positives_are_exactly_keras_multiset_without_sampling_table():
    rng = np.random.default_rng(0)
    seq = _zipf_sequence(rng, 3000, 200)
    couples, labels = skipgrams(seq, 200, window_size=3, negative_samples=0.0, seed=1)
    k_couples, k_labels = keras_seq.skipgrams(seq.tolist(), 200, window_size=3, negative_samples=0.0, seed=1)
    assert Counter(map(tuple, couples.tolist())) == Counter(map(tuple, k_couples))
    assert Counter(map(tuple, couples.tolist())) == Counter(naive.keras_positive_pairs(seq.tolist(), 3))
    assert labels.tolist() == [1] * len(k_labels)


@pytest.mark.parametrize("window", [1, 3, 8])
def test_positives_across_chunk_boundaries(monkeypatch, window):
    """Many short chunks (the count pass slides its window count from one chunk's first
    token): the positives are still exactly the reference's, padding at the edges included."""
    from fastw2v import keras_compat

    monkeypatch.setattr(keras_compat, "PERM_CHUNK", 97)
    rng = np.random.default_rng(5)
    seq = _zipf_sequence(rng, 2000, 60)
    seq[:3] = 0
    seq[-2:] = 0
    seq[500:520] = 0  # a run of padding longer than any window
    couples, labels = skipgrams(seq, 60, window_size=window, negative_samples=1.0, seed=2)
    positives = couples[labels == 1]
    assert Counter(map(tuple, positives.tolist())) == Counter(naive.keras_positive_pairs(seq.tolist(), window))
    assert int((labels == 0).sum()) == positives.shape[0]


@pytest.mark.parametrize("ratio", [1.0, 2.0, 0.5, 1.5])
def test_negatives_are_statistically_equivalent(ratio):
    rng = np.random.default_rng(1)
    V = 50
    seq = _zipf_sequence(rng, 6000, V)
    couples, labels = skipgrams(seq, V, window_size=2, negative_samples=ratio, seed=3)
    k_couples, k_labels = keras_seq.skipgrams(seq.tolist(), V, window_size=2, negative_samples=ratio, seed=3)
    k_couples = np.asarray(k_couples)
    k_labels = np.asarray(k_labels)
    # same counts of positives and negatives
    assert labels.shape[0] == k_labels.shape[0]
    assert int(labels.sum()) == int(k_labels.sum())
    pos_targets = Counter(couples[labels == 1, 0].tolist())
    neg = couples[labels == 0]
    k_neg = k_couples[k_labels == 0]
    if ratio == int(ratio):
        # each positive target is used exactly `ratio` times, as Keras does
        assert Counter(neg[:, 0].tolist()) == Counter({w: c * int(ratio) for w, c in pos_targets.items()})
        assert Counter(k_neg[:, 0].tolist()) == Counter(neg[:, 0].tolist())
    # negative contexts are uniform over 1..V-1 in both
    for ctx in (neg[:, 1], k_neg[:, 1]):
        assert ctx.min() >= 1
        obs = np.bincount(ctx, minlength=V)[1:]
        assert stats.chisquare(obs).pvalue > 1e-4
    # and the two negative-target distributions agree (two-sample chi-square)
    table = np.array([np.bincount(neg[:, 0], minlength=V), np.bincount(k_neg[:, 0], minlength=V)])
    table = table[:, table.sum(axis=0) > 0]
    assert stats.chi2_contingency(table).pvalue > 1e-4


def test_consecutive_negatives_are_independent():
    """Each 64-bit draw serves two negatives (its halves): in write order, a negative's
    context must match the next one's only by chance, 1 / (V - 1)."""
    rng = np.random.default_rng(5)
    V = 30
    seq = _zipf_sequence(rng, 20000, V)
    couples, labels = skipgrams(seq, V, window_size=2, negative_samples=1.0, shuffle=False, seed=11)
    ctx = couples[labels == 0, 1]  # unshuffled: negatives in the order they were drawn
    same = int(np.sum(ctx[1:] == ctx[:-1]))
    assert stats.binomtest(same, len(ctx) - 1, 1.0 / (V - 1)).pvalue > 1e-4


def test_sampling_table_keep_rates_agree_with_keras():
    rng = np.random.default_rng(2)
    V = 100
    seq = _zipf_sequence(rng, 40_000, V)
    table = make_sampling_table(V, sampling_factor=1e-2)
    couples, labels = skipgrams(seq, V, window_size=1, negative_samples=0.0, sampling_table=table, seed=5)
    k_couples, _ = keras_seq.skipgrams(seq.tolist(), V, window_size=1, negative_samples=0.0,
                                       sampling_table=table, seed=5)
    ours = np.bincount(couples[:, 0], minlength=V)
    theirs = np.bincount(np.asarray(k_couples)[:, 0], minlength=V)
    full = np.bincount(np.asarray(naive.keras_positive_pairs(seq.tolist(), 1))[:, 0], minlength=V)
    assert ours.sum() < 0.9 * full.sum()  # the table really subsamples
    t = np.array([ours, theirs])
    t = t[:, t.sum(axis=0) > 0]
    assert stats.chi2_contingency(t).pvalue > 1e-4


def test_shuffle_categorical_and_seed():
    rng = np.random.default_rng(3)
    seq = _zipf_sequence(rng, 2000, 30)
    a, la = skipgrams(seq, 30, seed=7)
    b, lb = skipgrams(seq, 30, seed=7)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    c, lc = skipgrams(seq, 30, seed=7, shuffle=False)
    assert not np.array_equal(a, c)
    key = lambda x, l: sorted(zip(map(tuple, x.tolist()), l.tolist()))
    assert key(a, la) == key(c, lc)
    # unshuffled: positives first, like Keras
    n_pos = int(lc.sum())
    assert lc[:n_pos].all() and not lc[n_pos:].any()
    d, ld = skipgrams(seq, 30, seed=7, categorical=True)
    assert ld.shape == (len(d), 2) and np.array_equal(ld[:, 1], la) and np.array_equal(ld[:, 0], 1 - la)
    assert np.array_equal(d, a)


def test_empty_and_padding_only_sequences():
    c, l = skipgrams([], 10)
    assert c.shape == (0, 2) and l.shape == (0,)
    c, l = skipgrams([0, 0, 0], 10)
    assert c.shape == (0, 2)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(sequence=[1, 2, 10], vocabulary_size=10), ValueError, "out of range"),
        (dict(sequence=[1, -2, 3], vocabulary_size=10), ValueError, "negative id"),
        (dict(sequence=[1.0, 2.0], vocabulary_size=10), TypeError, "integer"),
        (dict(sequence=[1, 2], vocabulary_size=10, window_size=0), ValueError, "window_size"),
        (dict(sequence=[1, 2], vocabulary_size=10, negative_samples=-1), ValueError, "negative_samples"),
        (dict(sequence=[1, 2], vocabulary_size=10, sampling_table=np.ones(3)), ValueError, "sampling_table"),
    ],
)
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        skipgrams(**kwargs)


def test_shuffle_is_uniform_across_buckets(monkeypatch):
    """With many buckets, every item is equally likely at every position, and where two
    items land is independent of how close they were before the shuffle."""
    import fastw2v.keras_compat as kc

    monkeypatch.setattr(kc, "PERM_BUCKET", 8)  # 54 items -> 6 buckets of the random scatter
    seq = np.arange(1, 16)
    base, base_labels = skipgrams(seq, 16, window_size=2, negative_samples=0.0, shuffle=False, seed=0)
    n = len(base)
    assert n == 54 and base_labels.all()  # 15 targets x up to 4 contexts
    index = np.full(16 * 16, -1)
    index[base[:, 0] * 16 + base[:, 1]] = np.arange(n)  # positives here are all distinct
    runs = 2000
    where = np.empty((runs, n), dtype=np.int64)  # where[s, i]: position of unshuffled item i, seed s
    for s in range(runs):
        couples, _ = skipgrams(seq, 16, window_size=2, negative_samples=0.0, seed=s)
        where[s, index[couples[:, 0] * 16 + couples[:, 1]]] = np.arange(n)
    for item in (0, 1, n // 2, n - 1):
        assert stats.chisquare(np.bincount(where[:, item], minlength=n)).pvalue > 1e-4, item
    # neighbours before the shuffle: positions' gap uniform over the n - 1 non-zero gaps
    gap = (where[:, 1] - where[:, 0]) % n
    assert gap.min() > 0
    assert stats.chisquare(np.bincount(gap, minlength=n)[1:]).pvalue > 1e-4


def test_reused_output_memory_never_touches_live_arrays():
    """skipgrams reuses the memory of outputs the caller dropped; arrays still alive, or
    views of them, keep their values through later calls, from any thread."""
    from concurrent.futures import ThreadPoolExecutor

    import fastw2v.keras_compat as kc

    rng = np.random.default_rng(8)
    seq = _zipf_sequence(rng, 50_000, 40)
    ref = {s: skipgrams(seq, 40, seed=s) for s in range(4)}
    snap = {s: (c.copy(), l.copy()) for s, (c, l) in ref.items()}
    kc.OUTPUT_POOL.clear()
    first = skipgrams(seq, 40, seed=0)
    addr = first[0].ctypes.data
    column = first[0][:, 1]  # a view outlives the arrays it came from
    del first
    again = skipgrams(seq, 40, seed=1)
    assert again[0].ctypes.data != addr
    np.testing.assert_array_equal(column, snap[0][0][:, 1])
    del column
    reused = skipgrams(seq, 40, seed=2)
    assert reused[0].ctypes.data == addr  # freed now, so reused
    np.testing.assert_array_equal(reused[0], snap[2][0])
    np.testing.assert_array_equal(reused[1], snap[2][1])
    del again, reused
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda s: skipgrams(seq, 40, seed=s % 4), range(16)))
    for s, (c, l) in enumerate(outs):
        np.testing.assert_array_equal(c, snap[s % 4][0])
        np.testing.assert_array_equal(l, snap[s % 4][1])
    assert len({c.ctypes.data for c, _ in outs}) == 16  # every live output has its own memory
