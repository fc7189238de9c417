import numpy as np
import pytest

import naive
from helpers import group_purity, planted_corpus
from fastw2v import Word2VecConfig
from fastw2v import PairGenerator, TrainingDiverged, Word2Vec
from fastw2v.hogwild import (HogwildScratch, init_weights, make_scratch, sgns_update, sgns_window_update,
                             sigmoid_tables, train_job)
from fastw2v.memory import check_memory
from fastw2v.sampling import NEG_SALT, epoch_keys

SIG, LOG_SIG = sigmoid_tables()


def _weights(rng, V, dim):
    return (rng.normal(0, 0.3, (V, dim)).astype(np.float32), rng.normal(0, 0.3, (V, dim)).astype(np.float32))


@pytest.mark.parametrize("exact", [True, False])
def test_single_update_matches_reference(exact):
    rng = np.random.default_rng(0)
    W_in, W_out = _weights(rng, 20, 16)
    outputs = np.array([3, 7, 11, 7], dtype=np.int32)  # a noise word drawn twice gets both updates
    ref_u, ref_W, ref_loss = naive.sgns_step(W_in[5], W_out, outputs, lr=0.1)
    a, b = W_in.copy(), W_out.copy()
    loss = sgns_update(a, b, 5, outputs, 4, np.float32(0.1), np.empty(16 + 4, np.float32), exact, SIG, LOG_SIG)
    # exact up to float32 rounding (the kernel sums dot products in reassociated order)
    tol = 1e-6 if exact else 2e-3  # the table sigmoid has 0.012-wide bins
    np.testing.assert_allclose(a[5], ref_u, atol=tol, rtol=0)
    np.testing.assert_allclose(b, ref_W, atol=tol, rtol=0)
    assert loss == pytest.approx(ref_loss, abs=1e-5 if exact else 2e-2)
    untouched = np.delete(np.arange(20), 5)
    assert np.array_equal(a[untouched], W_in[untouched])


@pytest.mark.parametrize("positive_logit", [-8.0, 8.0, 6.0, -6.0])
def test_table_sigmoid_saturated_branches_match_reference(positive_logit):
    """Logits beyond [-6, 6] take word2vec.c's clamped gradient and linear loss tail.

    The outputs' logits are the positive's, +7 and -9 (both beyond the table) and 0.5
    (inside it). An exact sigmoid would differ by about 3e-4 * lr per weight at |f| = 8,
    far above the tolerance, so the test tells the branches apart."""
    dim = 4
    W_in = np.zeros((6, dim), np.float32)
    W_in[1] = 2.0  # u; logits are 2 * sum(v)
    W_out = np.zeros((6, dim), np.float32)
    for row, logit in [(2, positive_logit), (3, 7.0), (4, -9.0), (5, 0.5)]:
        W_out[row] = logit / (2.0 * dim)
    outputs = np.array([2, 3, 4, 5], dtype=np.int32)
    lr = 1.0
    ref_u, ref_W, ref_loss = naive.sgns_step(W_in[1], W_out, outputs, lr=lr, table=True)
    exact_u, _, _ = naive.sgns_step(W_in[1], W_out, outputs, lr=lr, table=False)
    assert np.max(np.abs(exact_u - ref_u)) > 1e-4  # the reference really uses the table's ends
    a, b = W_in.copy(), W_out.copy()
    loss = sgns_update(a, b, 1, outputs, 4, np.float32(lr), np.empty(dim + 4, np.float32), False, SIG, LOG_SIG)
    np.testing.assert_allclose(a[1], ref_u, atol=1e-5, rtol=0)
    np.testing.assert_allclose(b, ref_W, atol=1e-5, rtol=0)
    assert loss == pytest.approx(ref_loss, abs=1e-5)


def test_update_is_a_gradient_step_finite_differences():
    """The update equals -lr * dL/dtheta, with dL/dtheta from central differences."""
    rng = np.random.default_rng(1)
    W_in, W_out = _weights(rng, 10, 6)
    W_in64, W_out64 = W_in.astype(np.float64), W_out.astype(np.float64)
    outputs = np.array([2, 4, 6], dtype=np.int32)
    lr = 1e-3
    a, b = W_in.copy(), W_out.copy()
    sgns_update(a, b, 1, outputs, 3, np.float32(lr), np.empty(6 + 3, np.float32), True, SIG, LOG_SIG)
    eps = 1e-6
    grad_u = np.zeros(6)
    for d in range(6):
        up, dn = W_in64[1].copy(), W_in64[1].copy()
        up[d] += eps
        dn[d] -= eps
        grad_u[d] = (naive.sgns_loss(up, W_out64, outputs) - naive.sgns_loss(dn, W_out64, outputs)) / (2 * eps)
    np.testing.assert_allclose((a[1] - W_in[1]) / lr, -grad_u, rtol=2e-3, atol=2e-4)
    for o in (2, 4, 6):
        grad_v = np.zeros(6)
        for d in range(6):
            up, dn = W_out64.copy(), W_out64.copy()
            up[o, d] += eps
            dn[o, d] -= eps
            grad_v[d] = (naive.sgns_loss(W_in64[1], up, outputs) - naive.sgns_loss(W_in64[1], dn, outputs)) / (2 * eps)
        np.testing.assert_allclose((b[o] - W_out[o]) / lr, -grad_v, rtol=2e-3, atol=2e-4)


def _tiny_corpus(rng, n=2000, V=30, sentences=6):
    counts = np.sort(rng.integers(1, 300, size=V))[::-1].astype(np.int64)
    ids = rng.choice(V, size=n, p=counts / counts.sum()).astype(np.int32)
    cuts = np.sort(rng.choice(np.arange(1, n), size=sentences - 1, replace=False))
    return counts, ids, np.concatenate(([0], cuts, [n])).astype(np.int64)


@pytest.mark.parametrize("shared", [False, True])
def test_train_job_matches_reference_sequence(shared):
    """The job visits exactly the reference's steps, with the per-sentence learning rate,
    and ends at the reference weights: per pair, (input, centre + its own negatives);
    shared, (contexts, centre + one draw of negatives per centre)."""
    rng = np.random.default_rng(2)
    counts, ids, starts = _tiny_corpus(rng)
    V, dim, window, negative, seed, epoch = len(counts), 8, 3, 2, 4, 1
    gen = PairGenerator(counts, window=window, negative=negative, sample=1e-2, seed=seed)
    W_in, W_out = _weights(rng, V, dim)
    W_in *= 0.1
    W_out *= 0.1
    alpha, min_alpha, offset, total = 0.05, 0.0001, 1000.0, 10000.0
    key, neg_key = epoch_keys(seed, epoch)
    tables = gen.tables
    a, b = W_in.copy(), W_out.copy()
    longest = int(np.max(np.diff(starts)))
    scratch = make_scratch(longest, dim, window, negative)

    def job(a, b, scratch):
        return train_job(ids, starts, 0, len(starts) - 1, tables.keep_thresh, key, neg_key, window, negative,
                         tables.alias_table, a, b, alpha, min_alpha, offset, total, True, shared, SIG, LOG_SIG,
                         *scratch)

    loss, pairs = job(a, b, scratch)
    args = (ids, starts, 0, len(starts) - 1, tables.keep_thresh, tables.alias_thresh, tables.alias_index, window,
            negative, seed, epoch, NEG_SALT)
    per_pair = naive.job_pairs(*args)
    assert pairs == len(per_pair) > 500  # the same positive pairs either way
    U = W_in.astype(np.float64)
    W = W_out.astype(np.float64)
    ref_loss = 0.0
    if shared:
        windows = naive.job_windows(*args)
        assert sum(len(c) for _, c, _ in windows) == pairs
        for s, contexts, outs in windows:
            lr = max(min_alpha, alpha - (alpha - min_alpha) * (offset + starts[s]) / total)
            U, W, l = naive.sgns_window_step(U, W, contexts, outs, np.float32(lr))
            ref_loss += l
    else:
        for s, t, outs in per_pair:
            lr = max(min_alpha, alpha - (alpha - min_alpha) * (offset + starts[s]) / total)
            U[t], W, l = naive.sgns_step(U[t], W, outs, np.float32(lr))
            ref_loss += l
    np.testing.assert_allclose(a, U, atol=5e-5)
    np.testing.assert_allclose(b, W, atol=5e-5)
    assert loss == pytest.approx(ref_loss, rel=1e-4)
    # every scratch buffer's size is checked, not overrun
    for field, size, match in [("outputs", 2 * window * (negative + 1) - 1, "outputs must hold"),
                               ("neu1e", dim + negative, "neu1e must hold"),
                               ("ctx", 2 * window - 1, "ctx must hold"),
                               ("grads", 2 * window * (negative + 1) - 1, "grads"),
                               ("dout", (negative + 1) * dim - 1, "dout must hold")]:
        small = scratch._replace(**{field: np.empty(size, getattr(scratch, field).dtype)})
        assert isinstance(small, HogwildScratch)
        with pytest.raises(ValueError, match=match):
            job(a.copy(), b.copy(), small)


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("contexts,outputs,dim", [
    ([5, 2, 9, 2], [3, 7, 11, 7], 16),  # a context listed twice gets both updates, a noise word drawn twice too
    ([4], [6], 13),  # one context, no noise word, a dim the vector width does not divide
    ([4], [6, 1], 7),
    ([1, 8, 3], [0, 12, 5, 19, 2], 16),  # odd counts: the blocked loops' leftovers
    ([1, 8, 3, 17, 6], [0, 12, 5, 19, 2, 2], 33),
    ([2, 3, 4, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14, 15], 9),
])
def test_window_update_matches_reference(exact, contexts, outputs, dim):
    rng = np.random.default_rng(5)
    W_in, W_out = _weights(rng, 20, dim)
    contexts = np.array(contexts, dtype=np.int32)
    outputs = np.array(outputs, dtype=np.int32)
    ref_U, ref_W, ref_loss = naive.sgns_window_step(W_in, W_out, contexts, outputs, lr=0.1, table=not exact)
    a, b = W_in.copy(), W_out.copy()
    m, n_out = len(contexts), len(outputs)
    # scratch starts as NaN, so a buffer read before it is written shows in the weights
    loss = sgns_window_update(a, b, contexts, m, outputs, n_out, np.float32(0.1), np.full(m * n_out, np.nan, np.float32),
                              np.full(n_out * dim, np.nan, np.float32), np.full(dim, np.nan, np.float32), exact, SIG,
                              LOG_SIG)
    tol = 1e-6 if exact else 1e-5
    np.testing.assert_allclose(a, ref_U, atol=tol, rtol=0)
    np.testing.assert_allclose(b, ref_W, atol=tol, rtol=0)
    assert loss == pytest.approx(ref_loss, abs=1e-5)
    if m > 1:  # the window step differs from m per-pair steps (it is not the old kernel in disguise)
        u, W = W_in.astype(np.float64), W_out.astype(np.float64)
        for c in contexts:
            u[c], W, _ = naive.sgns_step(u[c], W, outputs, 0.1, table=not exact)
        assert np.max(np.abs(W - ref_W)) > 1e-4


def test_init_matches_word2vec_c():
    W_in, W_out = init_weights(1000, 50, seed=3)
    assert W_in.dtype == np.float32 and W_out.dtype == np.float32
    assert np.all(W_out == 0)
    assert np.abs(W_in).max() <= 0.5 / 50
    assert abs(W_in.mean()) < 1e-4 and W_in.std() == pytest.approx((1 / 50) / np.sqrt(12), rel=0.02)


@pytest.mark.parametrize("shared", [False, True])
def test_end_to_end_planted_groups(shared):
    """Each word's 5 nearest neighbours lie in its own group.

    Measured over 40 corpus seeds x model seeds (2 threads, so Hogwild races
    included): the purity was 1.0 every time. The threshold 0.9 leaves a wide
    margin; we have not seen a chance failure in 40 runs.
    """
    corpus, words = planted_corpus(seed=0)
    model = Word2Vec(dim=16, window=3, negative=5, sample=0, min_count=1, epochs=5, alpha=0.025, seed=1,
                     threads=2, shared_negatives=shared).fit(corpus)
    assert group_purity(model.vectors, words) >= 0.9
    # and a random embedding is far from that (the test can fail)
    rng = np.random.default_rng(0)
    from fastw2v.vectors import Vectors

    random_vectors = Vectors(model.vectors.words, rng.normal(size=model.vectors.vectors.shape))
    assert group_purity(random_vectors, words) < 0.5


@pytest.mark.parametrize("shared", [False, True])
def test_one_thread_is_bit_for_bit_repeatable(shared):
    corpus, _ = planted_corpus(seed=1, sentences=400)
    kw = dict(dim=12, window=3, negative=3, sample=1e-3, min_count=1, epochs=2, seed=5, threads=1,
              shared_negatives=shared)
    a = Word2Vec(**kw).fit(corpus)
    b = Word2Vec(**kw).fit(corpus)
    assert np.array_equal(a.W_in, b.W_in) and np.array_equal(a.W_out, b.W_out)
    c = Word2Vec(**dict(kw, seed=6)).fit(corpus)
    assert not np.array_equal(a.W_in, c.W_in)


def test_loss_is_reported_per_epoch_and_decreases():
    corpus, _ = planted_corpus(seed=2)
    m = Word2Vec(dim=16, window=3, negative=5, sample=0, min_count=1, epochs=4, seed=1).fit(corpus)
    losses = [h["loss"] for h in m.state.history]
    assert len(losses) == 4 and all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    assert isinstance(m.state.history[0]["loss_sum"], float)


def test_divergence_is_detected():
    corpus, _ = planted_corpus(seed=3, sentences=300)
    with pytest.raises(TrainingDiverged, match="alpha"):
        Word2Vec(dim=8, min_count=1, epochs=2, alpha=1e30, exact_sigmoid=True, threads=1).fit(corpus)


def test_estimator_does_no_work_in_init_and_validates():
    m = Word2Vec(dim=3)
    assert m.W_in is None
    with pytest.raises(RuntimeError, match="fit"):
        m.vectors
    with pytest.raises(ValueError, match="dim"):
        Word2Vec(dim=0)
    with pytest.raises(ValueError, match="window"):
        Word2Vec(Word2VecConfig(), window=0)


def test_memory_estimate_refuses_huge_dim():
    with pytest.raises(MemoryError, match="GiB"):
        check_memory(1_000_000, 10_000_000, available=8 << 30)
    check_memory(1000, 100, available=8 << 30)
