"""Hogwild SGD for skip-gram with negative sampling: the Numba kernels.

:func:`train_job` trains one job (a run of whole sentences): per sentence it
subsamples and draws reduced windows, then for each centre word either draws its
negatives once and trains its whole window with :func:`sgns_window_update` (the
default, ``shared``), or draws negatives for every context and calls
:func:`sgns_update` once per pair. Both prefetch (:func:`_prefetch_rows`) the rows
the next step will touch.
:func:`init_weights` and :func:`sigmoid_tables` build its inputs, and
:func:`make_scratch` one thread's scratch buffers (:class:`HogwildScratch`).
Its arguments travel in typed groups, each a ``NamedTuple`` that Numba passes by value
and reads fields of at no cost: :class:`Sentences` (the corpus), :class:`Sampling` (the
epoch's keys and sampling tables), :class:`Weights`, :class:`Schedule` (the learning
rate), :class:`Step` (the update rule, the kernel and the sigmoid) and
:class:`HogwildScratch`.

The Hogwild contract
--------------------
* Threads update the shared ``W_in`` and ``W_out`` without locks; a race can
  lose or mix an update, which SGD tolerates (Niu et al., 2011; word2vec.c).
* Each call of :func:`train_job` works on one *job*: a run of whole sentences.
  Its :class:`HogwildScratch` (kept tokens, their windows, the gradient
  accumulator, one window's outputs) belongs to the calling thread.
* Random numbers: subsampling and the reduced window come from the same
  counter-based hash of ``(seed, epoch, corpus position)`` as the pair generator;
  negatives from a xorshift64* stream seeded from ``(seed, epoch, job start)``,
  drawn in centre order (per-pair: in pair order).
* The learning rate is a pure function of the corpus position (linear decay over
  all planned words of all epochs), so the schedule does not depend on how many
  threads run or in which order jobs finish.
* Update rules (``Step.rule``): word2vec's SGD (``SGD``), or row-wise Adagrad (``ADAGRAD``,
  the default): each row of ``W_in`` and ``W_out`` has one accumulator float, kept in an
  extra last column of the weight arrays (:func:`row_width`) so that it shares the row's
  cache lines, and read and grown without a lock like the weights. A step's row gradient ``g`` grows its row's
  accumulator by ``mean(g ** 2)`` and the row moves by ``lr * g / (sqrt(acc) + eps)``.
  In a shared-negative window an output row's gradient is summed over the window's
  contexts and steps once, so its accumulator grows by that sum's mean square;
  ``ADAGRAD_PER_PAIR`` grows it by each pair's instead (an alternative kept for
  comparison; ``ADAGRAD`` is the default). Rare rows take large normalised steps and
  frequent rows small ones, which is why Adagrad learns more per epoch than the one
  decaying rate SGD gives every row.
* With one thread and a seed, training is bit-for-bit repeatable. With more, the
  result depends on the interleaving of updates, so it differs from run to run.

Roles, as in word2vec.c and gensim: for each (centre, context) pair in the centre's
reduced window, the *context* word's input vector ``W_in[ctx]`` is trained against
the *centre* word's output vector (label 1) and ``negative`` noise words (label 0,
never the centre itself). The pair generator's rows put the centre first
(``target``); over a corpus both orders train the same multiset of pairs, and the
Hogwild trainer keeps word2vec.c's, so that its steps compare with word2vec.c's and
gensim's one for one.

The shared-negative window step
-------------------------------
The default (``shared``; Ji et al. 2016, "Parallelizing Word2Vec in Shared and
Distributed Memory"): each centre word draws its ``negative`` noise words once, and
all of its contexts train against the same ``1 + negative`` output rows. The window's
work becomes a small dense product, in this order: the ``contexts x (1 + negative)``
logits; their gradients; each output row's update from the input rows as they were
before the step; each input row's step from the output rows as they were; last the
output rows' steps. Every gradient is taken at the weights before the window's step (a
row listed twice gets both updates). The loops take two contexts (or two outputs) at
a time, so each loaded row feeds two dot products. Against word2vec.c's per-pair step
(fresh negatives for every pair, each pair's step before the next pair's logits) the
centre's output row moves once per window by the sum instead of once per context, each
output row is loaded once per window instead of once per pair, and the random draws
drop from ``contexts x negative`` to ``negative`` per centre. The next centre's noise
words are drawn one window ahead and their rows prefetched (``llvm.prefetch``) while
this window trains.

The per-pair step
-----------------
``shared=False`` keeps word2vec.c's step: it draws the negatives of all of a centre's
contexts first and prefetches the ``W_out`` rows of the next pair while the current
pair trains (those rows are random and mostly outside the caches). A step takes its
``negative + 1`` logits before its updates, which differs from word2vec.c's
interleaving only when a noise word is drawn twice in one step. ``tests/naive.py``
holds a plain-Python reference of both steps. The loss is summed per epoch in
float64; the estimator stops on NaN/Inf in the loss or the weights.

Sigmoid
-------
word2vec.c's choice by default: a 1000-bin table over [-6, 6] (:func:`sigmoid_tables`),
the gradient clamped to ``label - {0, 1}`` beyond it, and a linear tail for the loss;
``exact_sigmoid`` computes it exactly.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, types
from numba.core.errors import TypingError
from numba.extending import overload

from .constants import MAX_EXP, SIGMOID_TABLE_SIZE
from .prefetch import prefetch
from .sampling import draw_negative, keep_token, reduced_window, stream_seed, token_hash

# fastmath without nnan/ninf: NaN and Inf must survive so divergence is detected
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


def sigmoid_tables():
    """Lookup tables over ``[-MAX_EXP, MAX_EXP]`` at bin centres, as word2vec.c.

    Returns
    -------
    sig : float32[SIGMOID_TABLE_SIZE]
        ``sigmoid(x)``
    log_sig : float32[SIGMOID_TABLE_SIZE]
        ``log(sigmoid(x))``, for the loss.
    """
    x = (np.arange(SIGMOID_TABLE_SIZE, dtype=np.float64) + 0.5) / SIGMOID_TABLE_SIZE * 2 * MAX_EXP - MAX_EXP
    sig = 1.0 / (1.0 + np.exp(-x))
    return sig.astype(np.float32), np.log(sig).astype(np.float32)


#: Update rules of :func:`train_job` (``Step.rule``): word2vec's SGD; row-wise Adagrad with
#: one accumulator step per output row per window (the window's summed gradient); and
#: row-wise Adagrad with one accumulator step per (context, output) pair.
SGD, ADAGRAD, ADAGRAD_PER_PAIR = 0, 1, 2
#: Added to ``sqrt(accumulator)`` so a row that has only seen zero gradients does not divide by zero.
ADAGRAD_EPSILON = 1e-10


class Sentences(NamedTuple):
    """The encoded corpus, as :func:`train_job` reads it.

    Attributes
    ----------
    ids : int32[N]
        Vocabulary ids in corpus order (may be a read-only memory map).
    sent_starts : int64[S + 1]
        ``ids[sent_starts[s]:sent_starts[s + 1]]`` is sentence ``s``.
    """

    ids: np.ndarray
    sent_starts: np.ndarray


class Sampling(NamedTuple):
    """One epoch's random choices: subsampling, reduced windows and noise words.

    Attributes
    ----------
    keep_thresh : uint64[V]
        Subsampling thresholds (:func:`fastw2v.sampling.keep_token`).
    alias_table : uint64[V]
        The noise distribution (:func:`fastw2v.sampling.draw_negative`).
    key, neg_key : uint64
        The epoch's keys for per-token decisions and the negative streams
        (:func:`fastw2v.sampling.epoch_keys`).
    window : int64
        The largest reduced window.
    negative : int64
        Noise words per positive output.
    """

    keep_thresh: np.ndarray
    alias_table: np.ndarray
    key: np.uint64
    neg_key: np.uint64
    window: int
    negative: int


class Weights(NamedTuple):
    """The weights every thread trains, in place and without locks.

    Attributes
    ----------
    W_in, W_out : float32[V, dim] (``SGD``) or float32[V, dim + 1] (Adagrad)
        Input and output vectors. Under Adagrad each row ends with its accumulator
        (:func:`row_width`).
    """

    W_in: np.ndarray
    W_out: np.ndarray


class Schedule(NamedTuple):
    """The learning rate: linear in the corpus position, from ``alpha`` at position 0 to
    ``min_alpha`` at ``total_positions``, where a token's position is ``pos_offset`` plus
    its index in the corpus. Under Adagrad it scales each row's normalised step.

    Attributes
    ----------
    alpha, min_alpha, pos_offset, total_positions : float64
    """

    alpha: float
    min_alpha: float
    pos_offset: float
    total_positions: float


class Step(NamedTuple):
    """How each step is taken: its update rule, its kernel and its sigmoid.

    Attributes
    ----------
    rule : int64
        ``SGD``, ``ADAGRAD`` or ``ADAGRAD_PER_PAIR`` (see the module docstring).
    shared : bool
        One draw of negatives per centre word, shared by its whole window
        (:func:`sgns_window_update`); else fresh negatives per pair (:func:`sgns_update`).
    exact : bool
        The exact sigmoid; else word2vec.c's table.
    sig_table, log_sig_table : float32[SIGMOID_TABLE_SIZE]
        The tables (:func:`sigmoid_tables`), read unless ``exact``.
    """

    rule: int
    shared: bool
    exact: bool
    sig_table: np.ndarray
    log_sig_table: np.ndarray


class HogwildScratch(NamedTuple):
    """One thread's buffers for :func:`train_job`.

    Attributes
    ----------
    k_ids : int32[>= longest sentence]
        The kept tokens of one sentence.
    k_win : int64[same]
        Their reduced windows.
    neu1e : float32[>= dim + negative + 1]
        One step's gradients (see :func:`sgns_update`).
    outputs : int32[>= 2 * window * (negative + 1)]
        One centre word's contexts, each followed by its negatives (per-pair step), or
        two centres' outputs (shared-negative step).
    ctx : int32[>= 2 * window]
        One window's context words (shared-negative step).
    grads : float32[>= 2 * window * (negative + 1)]
        One window's scaled logit gradients (shared-negative step).
    dout : float32[>= (negative + 1) * dim]
        One window's output-row updates (shared-negative step).
    sq : float32[>= 2 * window]
        One window's contexts' mean squares (shared-negative step, ``ADAGRAD_PER_PAIR``).
    gin : float32[>= 2 * window * dim]
        One window's input gradients, held until all are summed (shared-negative step, Adagrad).
    scales : float32[>= 2 * window + negative + 1]
        One window's rows' Adagrad scales (shared-negative step).
    """

    k_ids: np.ndarray
    k_win: np.ndarray
    neu1e: np.ndarray
    outputs: np.ndarray
    ctx: np.ndarray
    grads: np.ndarray
    dout: np.ndarray
    sq: np.ndarray
    gin: np.ndarray
    scales: np.ndarray


def make_scratch(longest_sentence: int, dim: int, window: int, negative: int) -> HogwildScratch:
    """Fresh :class:`HogwildScratch` buffers of the sizes :func:`train_job` needs."""
    return HogwildScratch(k_ids=np.empty(longest_sentence, dtype=np.int32),
                          k_win=np.empty(longest_sentence, dtype=np.int64),
                          neu1e=np.empty(dim + negative + 1, dtype=np.float32),
                          outputs=np.empty(2 * window * (negative + 1), dtype=np.int32),
                          ctx=np.empty(2 * window, dtype=np.int32),
                          grads=np.empty(2 * window * (negative + 1), dtype=np.float32),
                          dout=np.empty((negative + 1) * dim, dtype=np.float32),
                          sq=np.empty(2 * window, dtype=np.float32),
                          gin=np.empty(2 * window * dim, dtype=np.float32),
                          scales=np.empty(2 * window + negative + 1, dtype=np.float32))


@njit(inline="always", fastmath=FASTMATH, cache=True)
def _grad_and_loss(f, label, step):
    """Return ``(label - sigmoid(f), -log p(label | f))`` for one logit.

    Table mode (default, word2vec.c's choice): sigmoid from a 1000-bin table over
    [-6, 6]; beyond it the gradient is clamped to label - {0, 1} (the saturated
    sigmoid) and the loss is linear (``-log sigmoid(f) ~ -f`` for f << 0).
    Exact mode (``step.exact``) computes both with ``exp``/``log1p``. ``step`` is a
    :class:`Step`.
    """
    sig_table, log_sig_table = step.sig_table, step.log_sig_table
    z = f if label == 1 else -f  # loss is -log sigmoid(z)
    if step.exact:
        if z >= 0:
            loss = math.log1p(math.exp(-z))
        else:
            loss = -z + math.log1p(math.exp(z))
        s = 1.0 / (1.0 + math.exp(-f))
        return np.float32(label - s), loss
    if f >= MAX_EXP:
        s = 1.0
    elif f <= -MAX_EXP:
        s = 0.0
    else:
        s = sig_table[int((f + MAX_EXP) * (SIGMOID_TABLE_SIZE / MAX_EXP / 2))]
    if z >= MAX_EXP:
        loss = 0.0
    elif z <= -MAX_EXP:
        loss = -z
    else:
        loss = -log_sig_table[int((z + MAX_EXP) * (SIGMOID_TABLE_SIZE / MAX_EXP / 2))]
    return np.float32(label - s), loss


@njit(inline="always", cache=True)
def row_width(W, rule):
    """The embedding dimension of a kernel's weight array: its width, less the accumulator
    column that Adagrad keeps at the end of each row."""
    return W.shape[1] - (0 if rule == SGD else 1)


@njit(inline="always", fastmath=FASTMATH, cache=True)
def _mean_square(W, row, dim):
    """``mean(W[row, :dim] ** 2)``, in float32."""
    s = np.float32(0.0)
    for d in range(dim):
        s += W[row, d] * W[row, d]
    return s / dim


@njit(inline="always", fastmath=FASTMATH, cache=True)
def _adagrad_scale(W, row, dim, grown, lr):
    """Grow row ``row``'s accumulator ``W[row, dim]`` by ``grown`` and return its step's scale
    ``lr / (sqrt(acc) + eps)``.

    The accumulator sits in its row, just past the weights, so it shares the row's last
    cache line instead of costing a line of its own (an output row is random and mostly
    outside the caches). It is read, grown and written without a lock, like the weights: a
    race loses one growth, which only makes that one step a little larger.
    """
    acc = W[row, dim] + grown
    W[row, dim] = acc
    return np.float32(lr / (math.sqrt(acc) + ADAGRAD_EPSILON))


@njit(inline="always", cache=True)
def _prefetch_rows(W, outputs, first, last):
    """Prefetch every cache line of the rows ``W[outputs[first:last]]``.

    ``W`` is float32[V, width]; ``outputs`` int32[n] of row ids. A row need not start on a
    cache line, so its last element is prefetched too.
    """
    step = max(1, 64 // W.itemsize)
    for n in range(first, last):
        for d in range(0, W.shape[1], step):
            prefetch(W, (outputs[n], d))
        prefetch(W, (outputs[n], W.shape[1] - 1))


# The window step's sweeps that combine rows, one helper per block shape, each called with
# its flags (``terms``, ``fresh``, ``squares``) as constants. The helpers are overloads,
# which Numba inlines once typed and with only the code of the flags' variant. Written as
# ``@njit(inline="always")`` functions they would carry every variant's code into each
# call, and Numba copies an inlined function's code again at every level of inlining,
# which makes the compile much slower. A variant keeps its own expression and its own
# order of loads: Adagrad's square-summing sweep adds the terms to the row's value one by
# one (``dst + a + b``), the others add their finished sum (``dst + (a + b)``), and the
# golden outputs pin that rounding; where the row's value is loaded sets how far LLVM
# unrolls the loop.

def _constant(flag, name):
    """The value of a helper's flag, which each call must pass as a constant."""
    if not isinstance(flag, types.Literal):
        raise TypingError(f"{name} must be a constant at each call")
    return flag.literal_value


def _combine_rows(dst, at, src, r0, r1, r2, g0, g1, g2, terms, fresh, squares, dim):
    """``dst[at:at + dim]`` takes (``fresh``) or adds the weighted rows
    ``g0 * src[r0] + g1 * src[r1] + g2 * src[r2]``, their first ``terms`` (1 to 3) only.
    Returns the sum of the new row's squares if ``squares`` (else 0).

    Added to the row's value, the terms are summed first, or under ``squares`` added one
    by one from the left. The row's value is read before the source rows. ``dst`` is
    float32[n], ``src`` float32[V, width]; compiled code only (see
    :func:`_combine_rows_variant`).
    """
    raise NotImplementedError("_combine_rows runs in compiled code only")


@overload(_combine_rows, inline="always", prefer_literal=True)
def _combine_rows_variant(dst, at, src, r0, r1, r2, g0, g1, g2, terms, fresh, squares, dim):
    """:func:`_combine_rows` for one set of constant flags."""
    n_terms = _constant(terms, "terms")
    set_row, sum_squares = _constant(fresh, "fresh"), _constant(squares, "squares")
    add_one_by_one = sum_squares and not set_row

    def variant(dst, at, src, r0, r1, r2, g0, g1, g2, terms, fresh, squares, dim):
        q = np.float32(0.0)
        for d in range(dim):
            if add_one_by_one:
                v = dst[at + d] + g0 * src[r0, d]
                if n_terms > 1:
                    v = v + g1 * src[r1, d]
                if n_terms > 2:
                    v = v + g2 * src[r2, d]
            elif set_row:
                v = g0 * src[r0, d]
                if n_terms > 1:
                    v = v + g1 * src[r1, d]
                if n_terms > 2:
                    v = v + g2 * src[r2, d]
            else:
                old = dst[at + d]
                v = g0 * src[r0, d]
                if n_terms > 1:
                    v = v + g1 * src[r1, d]
                if n_terms > 2:
                    v = v + g2 * src[r2, d]
                v = old + v
            dst[at + d] = v
            if sum_squares:
                q += v * v
        return q
    return variant


def _combine_rows_twice(dst, at0, at1, src, r0, r1, g00, g01, g10, g11, fresh, squares, dim):
    """Two destination rows from the same two source rows, in one sweep over ``d``:
    ``dst[at0:at0 + dim]`` takes (``fresh``) or adds ``g00 * src[r0] + g10 * src[r1]``, and
    ``dst[at1:at1 + dim]`` ``g01 * src[r0] + g11 * src[r1]``. Under ``squares`` (which
    adds, whatever ``fresh`` says) the terms are added one by one from the left and the
    two new rows' sums of squares returned (else 0). Compiled code only, as
    :func:`_combine_rows`.
    """
    raise NotImplementedError("_combine_rows_twice runs in compiled code only")


@overload(_combine_rows_twice, inline="always", prefer_literal=True)
def _combine_rows_twice_variant(dst, at0, at1, src, r0, r1, g00, g01, g10, g11, fresh, squares, dim):
    """:func:`_combine_rows_twice` for one set of constant flags."""
    set_rows, sum_squares = _constant(fresh, "fresh"), _constant(squares, "squares")

    def variant(dst, at0, at1, src, r0, r1, g00, g01, g10, g11, fresh, squares, dim):
        q0 = q1 = np.float32(0.0)
        for d in range(dim):
            x0 = src[r0, d]
            x1 = src[r1, d]
            if sum_squares:
                v0 = dst[at0 + d] + g00 * x0 + g10 * x1
                v1 = dst[at1 + d] + g01 * x0 + g11 * x1
                dst[at0 + d] = v0
                dst[at1 + d] = v1
                q0 += v0 * v0
                q1 += v1 * v1
            elif set_rows:
                dst[at0 + d] = g00 * x0 + g10 * x1
                dst[at1 + d] = g01 * x0 + g11 * x1
            else:
                dst[at0 + d] += g00 * x0 + g10 * x1
                dst[at1 + d] += g01 * x0 + g11 * x1
        return q0, q1
    return variant


@njit(inline="always", fastmath=FASTMATH, cache=True)
def sgns_update(weights, t, outputs, n_out, lr, step, scratch):
    """One SGNS step for input word ``t`` against ``outputs[0]`` (label 1) and
    ``outputs[1:n_out]`` (label 0). Returns the summed loss (float64).

    The step's logits are all taken first, from the weights as they were before it;
    then each ``W_out`` row is updated and ``W_in[t]`` once at the end. word2vec.c
    interleaves the two, so a noise word drawn twice in one step sees its own first
    update there; otherwise the two orders give the same result. Taking the dot products
    first lets the CPU overlap them instead of waiting on each logit's sigmoid in turn.

    ``weights`` is a :class:`Weights`, updated in place; ``outputs`` int32[>= n_out];
    ``lr`` float32; ``step`` a :class:`Step` (its ``shared`` is not read); of ``scratch``
    (a :class:`HogwildScratch`) only ``neu1e``, float32[>= dim + n_out], is used: the
    input word's gradient accumulator, then the outputs' scaled gradients. Under Adagrad
    (``step.rule``), each output row in turn grows its accumulator (its last column, see
    :func:`row_width`) and steps by its normalised gradient, then the input by its own.
    """
    W_in, W_out = weights
    neu1e = scratch.neu1e
    dim = row_width(W_in, step.rule)
    for n in range(n_out):
        o = outputs[n]
        logit = np.float32(0.0)
        for d in range(dim):
            logit += W_in[t, d] * W_out[o, d]
        neu1e[dim + n] = logit
    loss = 0.0
    adagrad = step.rule != SGD
    for n in range(n_out):
        g, l = _grad_and_loss(neu1e[dim + n], 1 if n == 0 else 0, step)
        loss += l
        neu1e[dim + n] = g if adagrad else g * lr
    for d in range(dim):
        neu1e[d] = 0.0
    msq_t = _mean_square(W_in, t, dim) if adagrad else np.float32(0.0)
    for n in range(n_out):
        o = outputs[n]
        g = neu1e[dim + n]
        for d in range(dim):
            neu1e[d] += g * W_out[o, d]
        if adagrad:
            # the row's gradient is g * W_in[t]: its mean square is g^2 * msq_t
            g *= _adagrad_scale(W_out, o, dim, g * g * msq_t, lr)
        for d in range(dim):
            W_out[o, d] += g * W_in[t, d]
    scale_t = np.float32(1.0)
    if adagrad:
        sum_sq = np.float32(0.0)
        for d in range(dim):
            sum_sq += neu1e[d] * neu1e[d]
        scale_t = _adagrad_scale(W_in, t, dim, sum_sq / dim, lr)
    for d in range(dim):
        W_in[t, d] += scale_t * neu1e[d]
    return loss


@njit(inline="always", fastmath=FASTMATH, cache=True)
def sgns_window_update(weights, ctx, m, outputs, n_out, lr, step, scratch):
    """One shared-negative window step: the inputs ``W_in[ctx[:m]]`` (the centre's
    contexts) against the same outputs, ``outputs[0]`` (label 1, the centre) and
    ``outputs[1:n_out]`` (label 0). Returns the summed loss (float64).

    The step is the gradient of the window's summed loss taken at the weights as they
    were before it (the rows of a context or noise word listed twice get both updates):

    1. the ``m x n_out`` logits ``W_in[ctx] @ W_out[outputs].T``;
    2. their scaled gradients ``G = lr * (label - sigmoid)``;
    3. the outputs' updates ``G.T @ W_in[ctx]`` into ``dout``, from the inputs before the step;
    4. each input row steps by ``G[i] @ W_out[outputs]`` (the outputs are not yet changed);
    5. each output row steps by its ``dout`` row.

    Per-pair word2vec (:func:`sgns_update`) instead draws fresh negatives for every
    context and applies each pair's step before the next pair's logits, so the centre's
    output row moves ``m`` times within a window where here it moves once by the sum.
    Each output row is loaded once per window instead of once per pair, and the
    loops over the rows are small dense products the CPU can keep in registers.

    Under Adagrad (``step.rule``), the gradients are taken the same way, unscaled; then
    each input in turn, and each output in turn, grows its accumulator and steps by
    ``lr`` over the accumulator's square root (a row listed twice steps twice).

    ``weights`` is a :class:`Weights`, updated in place; ``ctx`` int32[>= m]; ``outputs``
    int32[>= n_out]; ``lr`` float32; ``step`` a :class:`Step` (its ``shared`` is not
    read); ``scratch`` a :class:`HogwildScratch` whose buffers hold at least
    ``grads`` m * n_out, ``dout`` n_out * dim, ``neu1e`` dim, ``sq`` m, ``gin`` m * dim and
    ``scales`` n_out + m floats (its ``k_ids``, ``k_win``, ``outputs`` and ``ctx`` are not
    read).
    """
    W_in, W_out = weights
    grads, dout, neu1e = scratch.grads, scratch.dout, scratch.neu1e
    sq, gin, scales = scratch.sq, scratch.gin, scratch.scales
    rule = step.rule
    dim = row_width(W_in, rule)
    if m == 0:
        return 0.0
    # 1. logits: two contexts x three outputs per sweep over d, so five row loads feed six
    #    products (an odd last context is paired with itself and its copy discarded);
    #    f<a><b> is the logit of context i + a against output n + b
    for i in range(0, m, 2):
        paired = i + 1 < m
        c0 = ctx[i]
        c1 = ctx[i + 1] if paired else c0
        g_at = i * n_out  # grads' row of context i
        n = 0
        while n + 3 <= n_out:
            o0 = outputs[n]
            o1 = outputs[n + 1]
            o2 = outputs[n + 2]
            f00 = f01 = f02 = f10 = f11 = f12 = np.float32(0.0)
            for d in range(dim):
                x0 = W_in[c0, d]
                x1 = W_in[c1, d]
                y0 = W_out[o0, d]
                y1 = W_out[o1, d]
                y2 = W_out[o2, d]
                f00 += x0 * y0
                f01 += x0 * y1
                f02 += x0 * y2
                f10 += x1 * y0
                f11 += x1 * y1
                f12 += x1 * y2
            grads[g_at + n] = f00
            grads[g_at + n + 1] = f01
            grads[g_at + n + 2] = f02
            if paired:
                grads[g_at + n_out + n] = f10
                grads[g_at + n_out + n + 1] = f11
                grads[g_at + n_out + n + 2] = f12
            n += 3
        while n < n_out:
            o = outputs[n]
            f00 = f10 = np.float32(0.0)
            for d in range(dim):
                y = W_out[o, d]
                f00 += W_in[c0, d] * y
                f10 += W_in[c1, d] * y
            grads[g_at + n] = f00
            if paired:
                grads[g_at + n_out + n] = f10
            n += 1
    # 2. scaled gradients
    loss = 0.0
    adagrad = rule != SGD
    scale = np.float32(1.0) if adagrad else lr
    for i in range(m):
        for n in range(n_out):
            g, l = _grad_and_loss(grads[i * n_out + n], 1 if n == 0 else 0, step)
            loss += l
            grads[i * n_out + n] = g * scale
    if rule == ADAGRAD_PER_PAIR:
        for i in range(m):
            sq[i] = _mean_square(W_in, ctx[i], dim)
    # 3. the outputs' updates G.T @ W_in[ctx] into dout, from the inputs before the step:
    #    two outputs x two contexts per sweep (a missing partner gets a zero gradient).
    #    Under ADAGRAD the last sweep also sums the rows' squares while their final values
    #    are in registers, for the mean squares the accumulators grow by.
    n = 0
    while n < n_out:
        two = n + 1 < n_out
        at0 = n * dim  # dout's rows of outputs n and n + 1
        at1 = at0 + dim
        for i in range(0, m, 2):
            c0 = ctx[i]
            g00 = grads[i * n_out + n]
            g01 = grads[i * n_out + n + 1] if two else np.float32(0.0)
            c1 = c0
            g10 = g11 = np.float32(0.0)
            if i + 1 < m:
                c1 = ctx[i + 1]
                g10 = grads[(i + 1) * n_out + n]
                g11 = grads[(i + 1) * n_out + n + 1] if two else np.float32(0.0)
            if rule == ADAGRAD and i + 2 >= m:
                if i == 0:  # nothing to add to yet: start from zero rows
                    for d in range(dim):
                        dout[at0 + d] = 0.0
                    if two:
                        for d in range(dim):
                            dout[at1 + d] = 0.0
                if two:
                    q0, q1 = _combine_rows_twice(dout, at0, at1, W_in, c0, c1, g00, g01, g10, g11,
                                                 fresh=False, squares=True, dim=dim)
                    scales[n + 1] = q1 / dim
                else:
                    q0 = _combine_rows(dout, at0, W_in, c0, c1, c1, g00, g10, g10, terms=2, fresh=False,
                                       squares=True, dim=dim)
                scales[n] = q0 / dim
            elif two:
                if i == 0:
                    _combine_rows_twice(dout, at0, at1, W_in, c0, c1, g00, g01, g10, g11, fresh=True,
                                        squares=False, dim=dim)
                else:
                    _combine_rows_twice(dout, at0, at1, W_in, c0, c1, g00, g01, g10, g11, fresh=False,
                                        squares=False, dim=dim)
            elif i == 0:
                _combine_rows(dout, at0, W_in, c0, c1, c1, g00, g10, g10, terms=2, fresh=True, squares=False,
                              dim=dim)
            else:
                _combine_rows(dout, at0, W_in, c0, c1, c1, g00, g10, g10, terms=2, fresh=False, squares=False,
                              dim=dim)
        n += 2
    # 4. each input's step G[i] @ W_out[outputs], from the outputs before the step, three
    #    outputs per sweep into neu1e, then added to the input row. Adagrad keeps every
    #    input's gradient (in gin) until all are summed and then steps the rows in order;
    #    stepping each row as soon as its own is summed would change float rounding, and
    #    so the reference and the golden outputs. Under Adagrad the last sweep (a 3-output
    #    one, or the last leftover output) also sums the row's squares, while its final
    #    values are in registers.
    dst = gin if adagrad else neu1e
    for i in range(m):
        c = ctx[i]
        g_at = i * n_out  # row i of grads
        at = i * dim if adagrad else 0  # row i of gin, or neu1e
        q = np.float32(0.0)
        n = 0
        while n + 3 <= n_out:
            g0 = grads[g_at + n]
            g1 = grads[g_at + n + 1]
            g2 = grads[g_at + n + 2]
            o0 = outputs[n]
            o1 = outputs[n + 1]
            o2 = outputs[n + 2]
            last = adagrad and n + 3 == n_out
            if n == 0 and last:
                q = _combine_rows(dst, at, W_out, o0, o1, o2, g0, g1, g2, terms=3, fresh=True, squares=True,
                                  dim=dim)
            elif n == 0:
                _combine_rows(dst, at, W_out, o0, o1, o2, g0, g1, g2, terms=3, fresh=True, squares=False, dim=dim)
            elif last:
                q = _combine_rows(dst, at, W_out, o0, o1, o2, g0, g1, g2, terms=3, fresh=False, squares=True,
                                  dim=dim)
            else:
                _combine_rows(dst, at, W_out, o0, o1, o2, g0, g1, g2, terms=3, fresh=False, squares=False,
                              dim=dim)
            n += 3
        if n == 0:
            for d in range(dim):
                dst[at + d] = 0.0
        while n < n_out:
            g = grads[g_at + n]
            o = outputs[n]
            if adagrad and n == n_out - 1:
                q = _combine_rows(dst, at, W_out, o, o, o, g, g, g, terms=1, fresh=False, squares=True, dim=dim)
            else:
                _combine_rows(dst, at, W_out, o, o, o, g, g, g, terms=1, fresh=False, squares=False, dim=dim)
            n += 1
        if adagrad:  # the inputs' mean squares follow the outputs' in scales
            scales[n_out + i] = q / dim
        else:
            for d in range(dim):
                W_in[c, d] += neu1e[d]
    if adagrad:
        for i in range(m):  # in order: a context listed twice grows its accumulator twice
            scales[n_out + i] = _adagrad_scale(W_in, ctx[i], dim, scales[n_out + i], lr)
        for i in range(m):
            c = ctx[i]
            scale_c = scales[n_out + i]
            for d in range(dim):
                W_in[c, d] += scale_c * gin[i * dim + d]
    # 5. the outputs' steps (under ADAGRAD, step 3 left each output's mean square in scales)
    if rule == ADAGRAD_PER_PAIR:
        for n in range(n_out):
            grown = np.float32(0.0)
            for i in range(m):
                g = grads[i * n_out + n]
                grown += g * g * sq[i]
            scales[n] = grown
    if adagrad:
        for n in range(n_out):  # in order: a noise word drawn twice grows its accumulator twice
            scales[n] = _adagrad_scale(W_out, outputs[n], dim, scales[n], lr)
    for n in range(n_out):
        o = outputs[n]
        at0 = n * dim  # dout's row of output n
        scale_o = scales[n] if adagrad else np.float32(1.0)
        for d in range(dim):
            W_out[o, d] += scale_o * dout[at0 + d]
    return loss


@njit(inline="always", fastmath=FASTMATH, cache=True)
def _shared_sentence(weights, n_kept, state, alias_table, negative, lr, step, scratch):
    """Train one sentence's kept words ``scratch.k_ids[:n_kept]`` (reduced windows
    ``scratch.k_win``) with :func:`sgns_window_update`. Returns ``(state, loss, pairs)``.

    Each centre with a context (every centre, once two words are kept) draws its
    ``negative`` noise words (from ``alias_table``, uint64[V]) in centre order, never the
    centre itself. The draws run one centre ahead, into the other half of
    ``scratch.outputs``, so that the next window's random output rows are prefetched
    while this window trains.
    """
    # the arrays are read through their groups, not bound to names here: each such name
    # costs a reference count increment and decrement per sentence that Numba does not prune
    n_out = negative + 1
    loss = 0.0
    pairs = 0
    if n_kept < 2:
        return state, loss, pairs
    for k in range(min(2, n_kept)):
        # slot k % 2 holds centre k's outputs: the centre, then its negatives
        scratch.outputs[k * n_out] = scratch.k_ids[k]
        for n in range(1, n_out):
            state, neg = draw_negative(state, scratch.k_ids[k], alias_table)
            scratch.outputs[k * n_out + n] = neg
    for k in range(n_kept):
        slot = (k % 2) * n_out
        nxt = n_out - slot
        if k >= 1 and k + 1 < n_kept:
            scratch.outputs[nxt] = scratch.k_ids[k + 1]
            for n in range(1, n_out):
                state, neg = draw_negative(state, scratch.k_ids[k + 1], alias_table)
                scratch.outputs[nxt + n] = neg
        if k + 1 < n_kept:
            _prefetch_rows(weights.W_out, scratch.outputs, nxt, nxt + n_out)
        win = scratch.k_win[k]
        if k + win + 1 < n_kept:
            _prefetch_rows(weights.W_in, scratch.k_ids, k + win + 1, k + win + 2)
        m = 0
        for j in range(max(0, k - win), min(n_kept, k + win + 1)):
            if j != k:
                scratch.ctx[m] = scratch.k_ids[j]
                m += 1
        loss += sgns_window_update(weights, scratch.ctx, m, scratch.outputs[slot:slot + n_out], n_out, lr, step,
                                   scratch)
        pairs += m
    return state, loss, pairs


@njit(nogil=True, fastmath=FASTMATH, cache=True)
def train_job(sentences, sent_lo, sent_hi, sampling, weights, schedule, step, scratch):
    """Train on sentences ``sent_lo..sent_hi-1`` of the encoded corpus.

    Parameters
    ----------
    sentences : Sentences
        The encoded corpus.
    sent_lo, sent_hi : int
        The job's sentences.
    sampling : Sampling
        The epoch's keys, the sampling tables (from :mod:`fastw2v.sampling`), ``window``
        and ``negative``.
    weights : Weights
        ``W_in`` and ``W_out``, updated in place (Hogwild).
    schedule : Schedule
        The learning rate, as a function of the corpus position.
    step : Step
        The update rule, the kernel (``shared``) and the sigmoid.
    scratch : HogwildScratch
        The calling thread's buffers. All but ``k_ids`` and ``k_win`` are size-checked
        here. ``k_ids`` and ``k_win`` must hold the job's longest sentence; that is not
        checked per job: :func:`make_scratch` with the corpus's longest sentence
        guarantees it.

    Each group's fields have the dtypes its class lists; build the groups with those
    (a Python ``int``, ``float`` or ``bool`` is one), so that every caller shares one
    compiled specialisation.

    Returns
    -------
    (loss, pairs) : (float64, int64)
        Summed loss over every (positive or negative) output and the number of
        positive pairs trained.
    """
    ids, sent_starts = sentences
    W_in, W_out = weights
    keep_thresh, alias_table = sampling.keep_thresh, sampling.alias_table
    window, negative = sampling.window, sampling.negative
    alpha, min_alpha = schedule.alpha, schedule.min_alpha
    rule = step.rule
    k_ids, k_win, neu1e, outputs = scratch.k_ids, scratch.k_win, scratch.neu1e, scratch.outputs
    n_out = negative + 1
    if rule != SGD and rule != ADAGRAD and rule != ADAGRAD_PER_PAIR:
        raise ValueError("train_job: rule must be SGD, ADAGRAD or ADAGRAD_PER_PAIR")
    if W_in.shape[1] != W_out.shape[1] or (rule != SGD and W_in.shape[1] < 2):
        raise ValueError("train_job: W_in and W_out must have the same width, dim (+ 1 accumulator column for "
                         "Adagrad)")
    dim = row_width(W_in, rule)
    if outputs.shape[0] < 2 * window * n_out:
        raise ValueError("train_job: outputs must hold 2 * window * (negative + 1) ids")
    if neu1e.shape[0] < dim + n_out:
        raise ValueError("train_job: neu1e must hold dim + negative + 1 floats")
    if scratch.ctx.shape[0] < 2 * window or scratch.grads.shape[0] < 2 * window * n_out:
        raise ValueError("train_job: ctx must hold 2 * window ids and grads 2 * window * (negative + 1) floats")
    if scratch.dout.shape[0] < n_out * dim:
        raise ValueError("train_job: dout must hold (negative + 1) * dim floats")
    if scratch.sq.shape[0] < 2 * window:
        raise ValueError("train_job: sq must hold 2 * window floats")
    if scratch.gin.shape[0] < 2 * window * dim or scratch.scales.shape[0] < 2 * window + n_out:
        raise ValueError("train_job: gin must hold 2 * window * dim floats and scales 2 * window + negative + 1")
    state = stream_seed(sampling.neg_key, sent_starts[sent_lo])
    total_loss = 0.0
    n_pairs = 0
    for s in range(sent_lo, sent_hi):
        lo = sent_starts[s]
        hi = sent_starts[s + 1]
        progress = (schedule.pos_offset + lo) / schedule.total_positions
        lr = np.float32(max(min_alpha, alpha - (alpha - min_alpha) * progress))
        n_kept = 0
        for p in range(lo, hi):
            h = token_hash(sampling.key, p)
            if keep_token(h, keep_thresh[ids[p]]):
                k_ids[n_kept] = ids[p]
                k_win[n_kept] = reduced_window(h, window)
                n_kept += 1
        if step.shared:
            state, loss, pairs = _shared_sentence(weights, n_kept, state, alias_table, negative, lr, step, scratch)
            total_loss += loss
            n_pairs += pairs
            continue
        for k in range(n_kept):
            win = k_win[k]
            t = k_ids[k]
            j_lo = max(0, k - win)
            j_hi = min(n_kept, k + win + 1)
            # rows first touched one centre from now: the next centre's output row and
            # the next word to enter a window as an input (the others are in cache)
            if k + 1 < n_kept:
                _prefetch_rows(W_out, k_ids, k + 1, k + 2)
            if k + window + 1 < n_kept:
                _prefetch_rows(W_in, k_ids, k + window + 1, k + window + 2)
            # word2vec.c's roles: each context word's input vector is trained against
            # the centre word's output vector (label 1) and `negative` noise words.
            # Draw the negatives of every context in the window first (the stream is
            # consumed in the same order as pair by pair), so that the W_out rows of
            # the next pair can be prefetched while this pair trains: those rows are
            # random, mostly outside the caches, and waiting for them is most of the cost.
            m = 0
            for j in range(j_lo, j_hi):
                if j == k:
                    continue
                outputs[m * n_out] = t
                for n in range(1, n_out):
                    state, neg = draw_negative(state, t, alias_table)
                    outputs[m * n_out + n] = neg
                m += 1
            if m > 0:
                _prefetch_rows(W_out, outputs, 1, n_out)
            pair = 0
            for j in range(j_lo, j_hi):
                if j == k:
                    continue
                if pair + 1 < m:
                    _prefetch_rows(W_out, outputs, (pair + 1) * n_out + 1, (pair + 2) * n_out)
                total_loss += sgns_update(weights, k_ids[j], outputs[pair * n_out:(pair + 1) * n_out], n_out, lr,
                                          step, scratch)
                n_pairs += 1
                pair += 1
    return total_loss, n_pairs


def init_weights(vocab_size: int, dim: int, seed: int):
    """word2vec.c's initialisation: ``W_in ~ U(-0.5/dim, 0.5/dim)``, ``W_out = 0``.

    Returns
    -------
    W_in, W_out : float32[V, dim]
    """
    rng = np.random.default_rng(seed)
    W_in = ((rng.random((vocab_size, dim), dtype=np.float32) - 0.5) / dim).astype(np.float32)
    W_out = np.zeros((vocab_size, dim), dtype=np.float32)
    return W_in, W_out
