import numpy as np
import pytest

import naive
from helpers import group_purity, planted_corpus
from fastw2v import Word2VecConfig
from fastw2v import PairGenerator, TrainingDiverged, Word2Vec
from fastw2v.hogwild import (ADAGRAD, ADAGRAD_PER_PAIR, SGD, HogwildScratch, Sampling, Schedule, Sentences, Step,
                             Weights, init_weights, make_scratch, sgns_update, sgns_window_update, sigmoid_tables,
                             train_job)
from fastw2v.memory import check_memory
from fastw2v.sampling import NEG_SALT, epoch_keys

SIG, LOG_SIG = sigmoid_tables()


def _with_acc(W, acc):
    """The Adagrad kernels' rows: the weights, then each row's accumulator in a last column."""
    return np.ascontiguousarray(np.column_stack([W, acc]).astype(np.float32))


def _weights(rng, V, dim):
    return (rng.normal(0, 0.3, (V, dim)).astype(np.float32), rng.normal(0, 0.3, (V, dim)).astype(np.float32))


def _step(rule, exact):
    return Step(rule, False, exact, SIG, LOG_SIG)


def _nan_scratch(dim, contexts, n_out):
    """Scratch for a step of up to ``contexts`` inputs and ``n_out`` outputs, its float buffers
    NaN, so that a buffer read before it is written shows in the weights."""
    scratch = make_scratch(1, dim, (contexts + 1) // 2, n_out - 1)
    for buf in scratch:
        if buf.dtype == np.float32:
            buf.fill(np.nan)
    return scratch


@pytest.mark.parametrize("exact", [True, False])
def test_single_update_matches_reference(exact):
    rng = np.random.default_rng(0)
    W_in, W_out = _weights(rng, 20, 16)
    outputs = np.array([3, 7, 11, 7], dtype=np.int32)  # a noise word drawn twice gets both updates
    ref_u, ref_W, ref_loss = naive.sgns_step(W_in[5], W_out, outputs, lr=0.1)
    a, b = W_in.copy(), W_out.copy()
    loss = sgns_update(Weights(a, b), 5, outputs, 4, np.float32(0.1), _step(SGD, exact), _nan_scratch(16, 1, 4))
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
    loss = sgns_update(Weights(a, b), 1, outputs, 4, np.float32(lr), _step(SGD, False), _nan_scratch(dim, 1, 4))
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
    sgns_update(Weights(a, b), 1, outputs, 3, np.float32(lr), _step(SGD, True), _nan_scratch(6, 1, 3))
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


@pytest.mark.parametrize("shared,rule", [(False, SGD), (True, SGD), (False, ADAGRAD), (True, ADAGRAD),
                                         (True, ADAGRAD_PER_PAIR)])
def test_train_job_matches_reference_sequence(shared, rule):
    """The job visits exactly the reference's steps, with the per-sentence learning rate,
    and ends at the reference weights (and Adagrad's accumulators): per pair, (input,
    centre + its own negatives); shared, (contexts, centre + one draw of negatives per centre)."""
    rng = np.random.default_rng(2)
    counts, ids, starts = _tiny_corpus(rng)
    V, dim, window, negative, seed, epoch = len(counts), 8, 3, 2, 4, 1
    gen = PairGenerator(counts, window=window, negative=negative, sample=1e-2, seed=seed)
    W_in, W_out = _weights(rng, V, dim)
    W_in *= 0.1
    W_out *= 0.1
    alpha, min_alpha, offset, total = 0.05, 0.0001, 1000.0, 10000.0
    if rule != SGD:  # a rate that moves rows far enough for a wrong accumulator to show
        alpha, min_alpha = 0.2, 0.05
    acc0 = rng.random(V).astype(np.float32) * 0.01
    key, neg_key = epoch_keys(seed, epoch)
    tables = gen.tables
    a, b = (W_in.copy(), W_out.copy()) if rule == SGD else (_with_acc(W_in, acc0), _with_acc(W_out, acc0[::-1]))
    longest = int(np.max(np.diff(starts)))
    scratch = make_scratch(longest, dim, window, negative)

    def job(a, b, scratch, rule=rule):
        return train_job(Sentences(ids, starts), 0, len(starts) - 1,
                         Sampling(tables.keep_thresh, tables.alias_table, key, neg_key, window, negative),
                         Weights(a, b), Schedule(alpha, min_alpha, offset, total),
                         Step(rule, shared, True, SIG, LOG_SIG), scratch)

    loss, pairs = job(a, b, scratch)
    args = (ids, starts, 0, len(starts) - 1, tables.keep_thresh, tables.alias_thresh, tables.alias_index, window,
            negative, seed, epoch, NEG_SALT)
    per_pair = naive.job_pairs(*args)
    assert pairs == len(per_pair) > 500  # the same positive pairs either way
    U = W_in.astype(np.float64)
    W = W_out.astype(np.float64)
    Ai, Ao = acc0.astype(np.float64), acc0[::-1].astype(np.float64)
    ref_loss = 0.0
    steps = naive.job_windows(*args) if shared else per_pair
    if shared:
        assert sum(len(c) for _, c, _ in steps) == pairs
    for s, inputs, outs in steps:
        lr = max(min_alpha, alpha - (alpha - min_alpha) * (offset + starts[s]) / total)
        if shared and rule == SGD:
            U, W, l = naive.sgns_window_step(U, W, inputs, outs, np.float32(lr))
        elif shared:
            U, W, Ai, Ao, l = naive.sgns_window_adagrad_step(U, W, Ai, Ao, inputs, outs, np.float32(lr),
                                                             per_pair=rule == ADAGRAD_PER_PAIR)
        elif rule == SGD:
            U[inputs], W, l = naive.sgns_step(U[inputs], W, outs, np.float32(lr))
        else:
            U[inputs], W, Ai[inputs], Ao, l = naive.sgns_adagrad_step(U[inputs], W, Ai[inputs], Ao, outs,
                                                                      np.float32(lr))
        ref_loss += l
    np.testing.assert_allclose(a[:, :dim], U, atol=5e-5)
    np.testing.assert_allclose(b[:, :dim], W, atol=5e-5)
    if rule != SGD:
        np.testing.assert_allclose(a[:, dim], Ai, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(b[:, dim], Ao, rtol=1e-4, atol=1e-7)
        assert np.max(np.abs(a[:, :dim] - W_in)) > 0.05  # the rows moved, so a wrong scale would show
    assert loss == pytest.approx(ref_loss, rel=1e-4)
    # every scratch buffer's size is checked, not overrun
    for field, size, match in [("outputs", 2 * window * (negative + 1) - 1, "outputs must hold"),
                               ("neu1e", dim + negative, "neu1e must hold"),
                               ("ctx", 2 * window - 1, "ctx must hold"),
                               ("grads", 2 * window * (negative + 1) - 1, "grads"),
                               ("dout", (negative + 1) * dim - 1, "dout must hold"),
                               ("sq", 2 * window - 1, "sq must hold"),
                               ("gin", 2 * window * dim - 1, "gin must hold"),
                               ("scales", 2 * window + negative, "scales")]:
        small = scratch._replace(**{field: np.empty(size, getattr(scratch, field).dtype)})
        assert isinstance(small, HogwildScratch)
        with pytest.raises(ValueError, match=match):
            job(a.copy(), b.copy(), small)
    # both tables have the same width; the rule must be one the kernel has
    with pytest.raises(ValueError, match="W_in and W_out must have the same width"):
        job(a.copy(), b[:, :-1].copy(), scratch)
    with pytest.raises(ValueError, match="rule must be"):
        job(a.copy(), b.copy(), scratch, rule=7)


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("outputs", [[3, 7, 11, 7], [6]])  # a noise word drawn twice; no noise word
def test_adagrad_update_matches_reference(exact, outputs):
    rng = np.random.default_rng(3)
    dim = 13
    W_in, W_out = _weights(rng, 20, dim)
    acc_in = rng.random(20).astype(np.float32) * 0.05
    acc_out = np.zeros(20, np.float32)  # first steps: each row's step is its gradient normalised
    outputs = np.array(outputs, dtype=np.int32)
    ref = naive.sgns_adagrad_step(W_in[5], W_out, acc_in[5], acc_out, outputs, 0.1, table=not exact)
    a, b = _with_acc(W_in, acc_in), _with_acc(W_out, acc_out)
    loss = sgns_update(Weights(a, b), 5, outputs, len(outputs), np.float32(0.1), _step(ADAGRAD, exact),
                       _nan_scratch(dim, 1, len(outputs)))
    a, ai, b, ao = a[:, :dim], a[:, dim], b[:, :dim], b[:, dim]
    tol = 1e-5
    np.testing.assert_allclose(a[5], ref[0], atol=tol, rtol=0)
    np.testing.assert_allclose(b, ref[1], atol=tol, rtol=0)
    assert ai[5] == pytest.approx(ref[2], rel=1e-5)
    np.testing.assert_allclose(ao, ref[3], rtol=1e-5, atol=1e-9)
    assert loss == pytest.approx(ref[4], abs=1e-5)
    # rows the step did not touch keep their weights and accumulators
    untouched = np.setdiff1d(np.arange(20), outputs)
    assert np.array_equal(b[untouched], W_out[untouched]) and np.array_equal(ao[untouched], acc_out[untouched])
    assert np.array_equal(np.delete(ai, 5), np.delete(acc_in, 5))


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
    loss = sgns_window_update(Weights(a, b), contexts, m, outputs, n_out, np.float32(0.1), _step(SGD, exact),
                              _nan_scratch(dim, m, n_out))
    tol = 1e-6 if exact else 1e-5
    np.testing.assert_allclose(a, ref_U, atol=tol, rtol=0)
    np.testing.assert_allclose(b, ref_W, atol=tol, rtol=0)
    assert loss == pytest.approx(ref_loss, abs=1e-5)
    if m > 1:  # the window step differs from m per-pair steps (it is not the old kernel in disguise)
        u, W = W_in.astype(np.float64), W_out.astype(np.float64)
        for c in contexts:
            u[c], W, _ = naive.sgns_step(u[c], W, outputs, 0.1, table=not exact)
        assert np.max(np.abs(W - ref_W)) > 1e-4


@pytest.mark.parametrize("rule", [ADAGRAD, ADAGRAD_PER_PAIR])
@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("contexts,outputs,dim", [
    ([5, 2, 9, 2], [3, 7, 11, 7], 16),  # a context listed twice steps twice, a noise word drawn twice too
    ([4], [6], 13),  # one context, no noise word, a dim the vector width does not divide
    ([1, 8, 3], [0, 12, 5, 19, 2], 16),  # odd counts: the blocked loops' leftovers
    ([1, 8, 3, 17, 6], [0, 12, 5, 19, 2, 2], 33),
])
def test_window_adagrad_update_matches_reference(rule, exact, contexts, outputs, dim):
    rng = np.random.default_rng(6)
    W_in, W_out = _weights(rng, 20, dim)
    acc_in, acc_out = (rng.random(20) * 0.05).astype(np.float32), (rng.random(20) * 0.05).astype(np.float32)
    acc_out[outputs[0]] = 0.0  # a row's first step
    contexts = np.array(contexts, dtype=np.int32)
    outputs = np.array(outputs, dtype=np.int32)
    per_pair = rule == ADAGRAD_PER_PAIR
    ref = naive.sgns_window_adagrad_step(W_in, W_out, acc_in, acc_out, contexts, outputs, 0.1, per_pair,
                                         table=not exact)
    a, b = _with_acc(W_in, acc_in), _with_acc(W_out, acc_out)
    m, n_out = len(contexts), len(outputs)
    loss = sgns_window_update(Weights(a, b), contexts, m, outputs, n_out, np.float32(0.1), _step(rule, exact),
                              _nan_scratch(dim, m, n_out))
    a, ai, b, ao = a[:, :dim], a[:, dim], b[:, :dim], b[:, dim]
    np.testing.assert_allclose(a, ref[0], atol=1e-5, rtol=0)
    np.testing.assert_allclose(b, ref[1], atol=1e-5, rtol=0)
    np.testing.assert_allclose(ai, ref[2], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(ao, ref[3], rtol=1e-5, atol=1e-9)
    assert loss == pytest.approx(ref[4], abs=1e-5)
    if m > 1:  # the two accumulator rules differ, so each test pins its own
        other = naive.sgns_window_adagrad_step(W_in, W_out, acc_in, acc_out, contexts, outputs, 0.1, not per_pair,
                                               table=not exact)
        assert np.max(np.abs(other[3] - ref[3])) > 1e-4


def test_init_matches_word2vec_c():
    W_in, W_out = init_weights(1000, 50, seed=3)
    assert W_in.dtype == np.float32 and W_out.dtype == np.float32
    assert np.all(W_out == 0)
    assert np.abs(W_in).max() <= 0.5 / 50
    assert abs(W_in.mean()) < 1e-4 and W_in.std() == pytest.approx((1 / 50) / np.sqrt(12), rel=0.02)


@pytest.mark.parametrize("shared,optimizer", [(False, "sgd"), (True, "sgd"), (False, "adagrad"), (True, "adagrad")])
def test_end_to_end_planted_groups(shared, optimizer):
    """Each word's 5 nearest neighbours lie in its own group.

    Measured over 40 corpus seeds x model seeds (2 threads, so Hogwild races
    included): the purity was 1.0 every time with SGD, and with Adagrad (5 corpus x 4
    model seeds x both kernels: 40 of 40).
    The threshold 0.9 leaves a wide margin; we have not seen a chance failure.
    """
    corpus, words = planted_corpus(seed=0)
    model = Word2Vec(dim=16, window=3, negative=5, sample=0, min_count=1, epochs=5, seed=1, optimizer=optimizer,
                     threads=2, shared_negatives=shared).fit(corpus)
    assert model.config.optimizer == optimizer
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


@pytest.mark.parametrize("rate", [dict(optimizer="sgd", alpha=1e30), dict(learning_rate=1e30)])
def test_divergence_is_detected(rate):
    corpus, _ = planted_corpus(seed=3, sentences=300)
    with pytest.raises(TrainingDiverged, match=r"lower --alpha \((sgd|adagrad)'s rate, now 1e\+30\)"):
        Word2Vec(dim=8, min_count=1, epochs=2, exact_sigmoid=True, threads=1, **rate).fit(corpus)


def test_update_rule_defaults_and_refusals():
    """Hogwild defaults to row-wise Adagrad at its measured rate; sgd keeps word2vec's alpha;
    a rate the rule does not take is refused rather than ignored."""
    from fastw2v.config import RATE_DEFAULTS

    m = Word2Vec()
    assert (m.config.optimizer, m.config.learning_rate, m.config.final_rate) == \
        ("adagrad", RATE_DEFAULTS[("hogwild", "adagrad")]["learning_rate"],
         RATE_DEFAULTS[("hogwild", "adagrad")]["final_rate"])
    assert Word2Vec(learning_rate=0.3, final_rate=0.5).config.rates() == pytest.approx((0.3, 0.15))
    assert Word2Vec(optimizer="sgd", alpha=0.05).config.rates() == pytest.approx((0.05, 0.05 * 1e-4))
    with pytest.raises(ValueError, match="alpha and min_alpha are word2vec's SGD rate; adagrad steps by"):
        Word2Vec(alpha=0.05)
    with pytest.raises(ValueError, match="learning_rate is not for sgd"):
        Word2Vec(optimizer="sgd", learning_rate=0.1)
    with pytest.raises(ValueError, match="optimizer 'rmsprop' is not one hogwild trains with"):
        Word2Vec(optimizer="rmsprop")
    with pytest.raises(ValueError, match="optimizer must be one of"):
        Word2Vec(optimizer="adam")
    # resolving twice changes nothing
    assert m.config.for_trainer("hogwild") == m.config


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
