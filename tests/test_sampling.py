import numpy as np
import pytest
from scipy import stats

import naive
from fastw2v import sampling
from fastw2v.sampling import (
    alias_probabilities,
    build_alias_table,
    keep_probabilities,
    keep_thresholds,
    noise_distribution,
)


def test_keep_probability_matches_word2vec_formula():
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 100_000, size=300)
    for sample in (1e-3, 1e-4, 1e-5, 0.0):
        got = keep_probabilities(counts, sample)
        want = naive.keep_prob(counts.tolist(), sample)
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.all(keep_probabilities(counts, 0.0) == 1.0)


def test_keep_thresholds_are_probability_times_2_pow_32():
    probs = np.array([0.0, 0.25, 0.5, 1.0, 0.999999])
    th = keep_thresholds(probs)
    assert th.dtype == np.uint64
    assert th.tolist() == [0, 1 << 30, 1 << 31, 1 << 32, int(np.floor(0.999999 * 2**32))]


@pytest.mark.parametrize("power", [0.75, 1.0, 0.0])
def test_alias_table_is_exact(power):
    rng = np.random.default_rng(1)
    counts = rng.zipf(1.3, size=2000).astype(np.int64)
    probs = noise_distribution(counts, power)
    th, idx = build_alias_table(probs)
    assert th.dtype == np.uint32 and idx.dtype == np.int32
    assert th.nbytes + idx.nbytes == 8 * len(counts)  # 8 bytes per vocabulary entry
    np.testing.assert_allclose(alias_probabilities(th, idx), probs, atol=2e-9)


def test_rng_twins_agree():
    for x in [0, 1, 2**63, 123456789, 2**64 - 1]:
        assert int(sampling.mix64(np.uint64(x))) == naive.mix64(x) == sampling.mix64_py(x)
    key = sampling.epoch_key(7, 3)
    assert int(key) == naive.epoch_key(7, 3)
    for pos in [0, 5, 10**9]:
        assert int(sampling.token_hash(key, pos)) == naive.token_hash(int(key), pos)
    s = sampling.stream_seed(key, 11)
    assert int(s) == naive.stream_seed(int(key), 11)
    ref = naive.XorShift(int(s))
    state = s
    for _ in range(5):
        state, out = sampling.xorshift_next(np.uint64(state))
        assert int(out) == ref.next()


def test_reduced_window_is_uniform():
    key = int(sampling.epoch_key(3, 0))
    window = 7
    draws = np.array([(((naive.token_hash(key, p) & naive.M32) * window) >> 32) + 1 for p in range(20000)])
    kernel = np.array([int(sampling.reduced_window(np.uint64(sampling.token_hash(np.uint64(key), p)), window)) for p in range(2000)])
    assert np.array_equal(kernel, draws[:2000])
    observed = np.bincount(draws, minlength=window + 1)[1:]
    assert observed.sum() == 20000 and draws.min() == 1 and draws.max() == window
    # chi-square against U{1..window}; false-failure rate 1e-3
    assert stats.chisquare(observed).pvalue > 1e-3
