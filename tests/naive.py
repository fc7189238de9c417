"""Slow, obviously-correct reference implementations for the kernels.

Written from the definitions, in plain Python integers, independent of the
Numba code (only the sampling *tables* are shared; they are checked separately).
"""

from __future__ import annotations

import math

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix64(x: int) -> int:
    x &= M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def token_hash(key: int, pos: int) -> int:
    return mix64((key + pos * GOLDEN) & M64)


def epoch_key(seed: int, epoch: int) -> int:
    return mix64(mix64(seed) ^ ((epoch * 0x632BE59BD9B4E019) & M64))


def stream_seed(key: int, index: int) -> int:
    s = mix64(key ^ mix64((index + GOLDEN) & M64))
    return s if s else GOLDEN


class XorShift:
    def __init__(self, state: int) -> None:
        self.state = state

    def next(self) -> int:
        s = self.state
        s ^= s >> 12
        s ^= (s << 25) & M64
        s ^= s >> 27
        self.state = s
        return (s * 0x2545F4914F6CDD1D) & M64


def alias_draw(r: int, thresh, index) -> int:
    n = len(thresh)
    i = ((r >> 32) * n) >> 32
    return i if (r & M32) < int(thresh[i]) else int(index[i])


def keep_prob(counts, sample):
    total = sum(counts)
    out = []
    for c in counts:
        if sample == 0:
            out.append(1.0)
            continue
        f = c / total
        out.append(min(1.0, (math.sqrt(f / sample) + 1) * sample / f))
    return out


def block_rows(ids, sent_starts, s0, s1, keep_thresh, alias_thresh, alias_index, window, negative, seed, epoch,
               chunk, neg_salt):
    """Rows (target, [context, neg...]) of one block in emission order (no shuffle)."""
    key = epoch_key(seed, epoch)
    neg_key = mix64(key ^ neg_salt)

    def sentence_of(p):
        s = 0
        while sent_starts[s + 1] <= p:
            s += 1
        return s

    kept = []  # (id, window, sentence, chunk)
    for p in range(s0, s1):
        h = token_hash(key, p)
        if (h >> 32) < int(keep_thresh[ids[p]]):
            b = (((h & M32) * window) >> 32) + 1
            kept.append((int(ids[p]), b, sentence_of(p), (p - s0) // chunk))
    rows = []
    n_chunks = max(1, (s1 - s0 + chunk - 1) // chunk)
    for c in range(n_chunks):
        rng = XorShift(stream_seed(neg_key, s0 + c * chunk))
        for k, (t, b, s, kc) in enumerate(kept):
            if kc != c:
                continue
            for j in range(max(0, k - b), min(len(kept) - 1, k + b) + 1):
                if j == k or kept[j][2] != s:
                    continue
                ctx = kept[j][0]
                negs = []
                for _ in range(negative):
                    while True:
                        d = alias_draw(rng.next(), alias_thresh, alias_index)
                        if d != ctx:
                            break
                    negs.append(d)
                rows.append((t, [ctx] + negs))
    return rows


def keras_positive_pairs(sequence, window_size):
    """The positive (target, context) multiset of Keras' skipgrams without sampling."""
    out = []
    n = len(sequence)
    for i, wi in enumerate(sequence):
        if not wi:
            continue
        for j in range(max(0, i - window_size), min(n, i + window_size + 1)):
            if j != i and sequence[j]:
                out.append((wi, sequence[j]))
    return out


TABLE_MAX_EXP = 6.0
TABLE_SIZE = 1000


def table_sigmoid(x: float) -> float:
    """word2vec.c's table sigmoid: the sigmoid at the centre of x's bin in [-6, 6]; 0 or 1 beyond."""
    if x >= TABLE_MAX_EXP:
        return 1.0
    if x <= -TABLE_MAX_EXP:
        return 0.0
    width = 2 * TABLE_MAX_EXP / TABLE_SIZE
    i = int((x + TABLE_MAX_EXP) / width)
    centre = -TABLE_MAX_EXP + (i + 0.5) * width
    return 1.0 / (1.0 + math.exp(-centre))


def table_loss(z: float) -> float:
    """``-log sigmoid(z)`` from the table: 0 beyond +6, linear (``-z``) below -6."""
    if z >= TABLE_MAX_EXP:
        return 0.0
    if z <= -TABLE_MAX_EXP:
        return -z
    return -math.log(table_sigmoid(z))


def logit_step(f, positive, lr, table=False):
    """``(lr * (label - sigmoid(f)), -log p(label | f))`` for one logit, exact or from the table."""
    label = 1.0 if positive else 0.0
    if table:
        s = table_sigmoid(f)
        loss = table_loss(f if positive else -f)
    else:
        s = 1.0 / (1.0 + math.exp(-f))
        loss = -math.log(s) if positive else -math.log(1.0 - s)
    return (label - s) * lr, loss


def sgns_step(w_in, W_out, outputs, lr, table=False):
    """Reference SGNS step in float64: returns (new w_in, new W_out, loss).

    Loss ``-log s(u.v_c) - sum_n log s(-u.v_n)``. Every logit is taken from the weights
    before the step; then the W_out rows are updated in turn (a row listed twice gets
    both updates) and the input vector once at the end. ``table`` uses word2vec.c's
    table sigmoid and its saturated ends instead of the exact sigmoid.
    """
    import numpy as np

    u = np.asarray(w_in, dtype=np.float64).copy()
    W = np.asarray(W_out, dtype=np.float64).copy()
    logits = [float(u @ W[o]) for o in outputs]
    neu1e = np.zeros_like(u)
    loss = 0.0
    for n, (o, f) in enumerate(zip(outputs, logits)):
        g, l = logit_step(f, n == 0, lr, table)
        loss += l
        neu1e += g * W[o]
        W[o] += g * u
    return u + neu1e, W, loss


def sgns_loss(u, W_out, outputs):
    import numpy as np

    loss = 0.0
    for n, o in enumerate(outputs):
        f = float(np.dot(u, W_out[o]))
        z = f if n == 0 else -f
        loss += math.log1p(math.exp(-z))
    return loss


def kept_tokens(ids, sent_starts, s, key, keep_thresh, window):
    """Sentence ``s``'s tokens that subsampling keeps, as ``(id, reduced window)``."""
    kept = []
    for p in range(int(sent_starts[s]), int(sent_starts[s + 1])):
        h = token_hash(key, p)
        if (h >> 32) < int(keep_thresh[ids[p]]):
            kept.append((int(ids[p]), (((h & M32) * window) >> 32) + 1))
    return kept


def noise_words(rng, centre, negative, alias_thresh, alias_index):
    """``negative`` draws from the alias table, each redrawn while it is ``centre``."""
    out = []
    for _ in range(negative):
        while True:
            d = alias_draw(rng.next(), alias_thresh, alias_index)
            if d != centre:
                break
        out.append(d)
    return out


def job_pairs(ids, sent_starts, sent_lo, sent_hi, keep_thresh, alias_thresh, alias_index, window, negative, seed,
              epoch, neg_salt):
    """The (sentence, input word, outputs) steps one Hogwild job takes, in order."""
    key = epoch_key(seed, epoch)
    rng = XorShift(stream_seed(mix64(key ^ neg_salt), int(sent_starts[sent_lo])))
    steps = []
    for s in range(sent_lo, sent_hi):
        kept = kept_tokens(ids, sent_starts, s, key, keep_thresh, window)
        for k, (t, b) in enumerate(kept):
            for j in range(max(0, k - b), min(len(kept), k + b + 1)):
                if j == k:
                    continue
                # word2vec.c's roles: the context's input against the centre's output
                steps.append((s, kept[j][0], [t] + noise_words(rng, t, negative, alias_thresh, alias_index)))
    return steps


def sgns_window_step(W_in, W_out, contexts, outputs, lr, table=False):
    """Reference shared-negative window step in float64: returns (new W_in, new W_out, loss).

    Every context's input row is trained against the same outputs (``outputs[0]``
    label 1, the rest label 0). All gradients are taken at the weights before the
    step and then added, so a row listed twice gets the sum of its updates.
    """
    import numpy as np

    U = np.asarray(W_in, dtype=np.float64).copy()
    W = np.asarray(W_out, dtype=np.float64).copy()
    dU = np.zeros_like(U)
    dW = np.zeros_like(W)
    loss = 0.0
    for c in contexts:
        for n, o in enumerate(outputs):
            g, l = logit_step(float(U[c] @ W[o]), n == 0, lr, table)
            loss += l
            dU[c] += g * W[o]
            dW[o] += g * U[c]
    return U + dU, W + dW, loss


def job_windows(ids, sent_starts, sent_lo, sent_hi, keep_thresh, alias_thresh, alias_index, window, negative, seed,
                epoch, neg_salt):
    """The (sentence, contexts, outputs) window steps of a shared-negative Hogwild job, in order.

    Each centre word of a sentence with at least two kept words draws ``negative``
    noise words (never itself) once, in centre order, for its whole reduced window.
    """
    key = epoch_key(seed, epoch)
    rng = XorShift(stream_seed(mix64(key ^ neg_salt), int(sent_starts[sent_lo])))
    steps = []
    for s in range(sent_lo, sent_hi):
        kept = kept_tokens(ids, sent_starts, s, key, keep_thresh, window)
        if len(kept) < 2:
            continue
        for k, (t, b) in enumerate(kept):
            contexts = [kept[j][0] for j in range(max(0, k - b), min(len(kept), k + b + 1)) if j != k]
            steps.append((s, contexts, [t] + noise_words(rng, t, negative, alias_thresh, alias_index)))
    return steps


def sgns_batch_gradients(W_in, W_out, targets, contexts):
    """Per-occurrence SGNS gradients of a batch in float64, all at the weights before it.

    Row ``b`` trains ``W_in[targets[b]]`` against ``W_out[contexts[b, 0]]`` (label 1) and
    ``W_out[contexts[b, 1:]]`` (label 0). Returns ``(in_grads, out_grads, mean loss
    per pair)``, the gradients as lists of ``(row, gradient)``.
    """
    import numpy as np

    U = np.asarray(W_in, dtype=np.float64)
    W = np.asarray(W_out, dtype=np.float64)
    in_grads, out_grads, losses = [], [], []
    for t, row in zip(targets, contexts):
        gu = np.zeros(U.shape[1])
        for n, o in enumerate(row):
            f = float(U[t] @ W[o])
            label = 1.0 if n == 0 else 0.0
            s = 1.0 / (1.0 + math.exp(-f))
            losses.append(-math.log(s) if label else -math.log(1.0 - s))
            gu += (s - label) * W[o]
            out_grads.append((int(o), (s - label) * U[t]))
        in_grads.append((int(t), gu))
    return in_grads, out_grads, sum(losses) / len(losses)


def sgns_shared_batch_gradients(W_in, W_out, targets, contexts, group):
    """:func:`sgns_batch_gradients` with negatives shared by groups of ``group`` rows.

    Row ``b`` meets its own positive ``contexts[b, 0]`` and the negatives of its group's
    first row, ``contexts[g, 1:]`` with ``g = b - b % group``, leaving out any that equal
    its positive. The loss is each row's mean over the pairs it met, averaged over the rows.
    """
    import numpy as np

    U = np.asarray(W_in, dtype=np.float64)
    W = np.asarray(W_out, dtype=np.float64)
    in_grads, out_grads, row_losses = [], [], []
    for b, t in enumerate(targets):
        positive = int(contexts[b][0])
        outputs = [(positive, 1.0)] + [(int(o), 0.0) for o in contexts[b - b % group][1:] if int(o) != positive]
        gu = np.zeros(U.shape[1])
        losses = []
        for o, label in outputs:
            s = 1.0 / (1.0 + math.exp(-float(U[t] @ W[o])))
            losses.append(-math.log(s) if label else -math.log(1.0 - s))
            gu += (s - label) * W[o]
            out_grads.append((o, (s - label) * U[t]))
        in_grads.append((int(t), gu))
        row_losses.append(sum(losses) / len(losses))
    return in_grads, out_grads, sum(row_losses) / len(row_losses)


def row_adagrad_apply(W, acc, grads, lr, eps=1e-10):
    """Row-wise Adagrad on ``(row, gradient)`` occurrences: each row's gradients are summed,
    its accumulator grows by ``mean(sum^2)``, and it steps once by ``lr * sum / (sqrt(acc) + eps)``."""
    import numpy as np

    W = np.asarray(W, dtype=np.float64).copy()
    acc = np.asarray(acc, dtype=np.float64).copy()
    sums = {}
    for row, g in grads:
        sums[row] = sums.get(row, 0.0) + g
    for row, g in sums.items():
        acc[row] += float(np.mean(g * g))
        W[row] -= lr * g / (math.sqrt(acc[row]) + eps)
    return W, acc


def unique_rows(ids):
    """``(sorted distinct ids, their counts, each id's index among them)``, by sorting in Python."""
    distinct = sorted(set(int(i) for i in ids))
    place = {r: j for j, r in enumerate(distinct)}
    counts = [0] * len(distinct)
    for i in ids:
        counts[place[int(i)]] += 1
    return distinct, counts, [place[int(i)] for i in ids]


ADAGRAD_EPS = 1e-10


def sgns_adagrad_step(w_in, W_out, acc_t, acc_out, outputs, lr, table=False):
    """Reference row-wise Adagrad SGNS step in float64: returns (new w_in, new W_out, new acc_t, new acc_out, loss).

    The logits are taken before the step, as in :func:`sgns_step`. Each output row in turn
    has the gradient ``g * w_in`` (``g = label - sigmoid``): its accumulator grows by that
    gradient's mean square and it steps by ``lr * gradient / (sqrt(accumulator) + eps)``.
    The input's gradient ``sum g * W_out[o]`` is summed as the rows step (a row listed twice
    contributes its stepped value the second time), then the input steps the same way.
    """
    import numpy as np

    u = np.asarray(w_in, dtype=np.float64).copy()
    W = np.asarray(W_out, dtype=np.float64).copy()
    A = np.asarray(acc_out, dtype=np.float64).copy()
    logits = [float(u @ W[o]) for o in outputs]
    e = np.zeros_like(u)
    loss = 0.0
    for n, (o, f) in enumerate(zip(outputs, logits)):
        g, l = logit_step(f, n == 0, 1.0, table)
        loss += l
        e += g * W[o]
        grad = g * u
        A[o] += float(np.mean(grad * grad))
        W[o] += lr * grad / (math.sqrt(A[o]) + ADAGRAD_EPS)
    acc_t = float(acc_t) + float(np.mean(e * e))
    return u + lr * e / (math.sqrt(acc_t) + ADAGRAD_EPS), W, acc_t, A, loss


def sgns_window_adagrad_step(W_in, W_out, acc_in, acc_out, contexts, outputs, lr, per_pair, table=False):
    """Reference row-wise Adagrad window step in float64: returns (W_in, W_out, acc_in, acc_out, loss).

    Every gradient is taken at the weights before the step, as in :func:`sgns_window_step`.
    Each context in order (a row listed twice steps twice) grows its accumulator by its
    gradient's mean square and steps by ``lr * gradient / (sqrt(accumulator) + eps)``; then
    each output in order steps by its gradient summed over the window. Its accumulator grows
    by that sum's mean square, or with ``per_pair`` by the sum of each (context, output)
    pair's own gradient's mean square.
    """
    import numpy as np

    U0 = np.asarray(W_in, dtype=np.float64)
    W0 = np.asarray(W_out, dtype=np.float64)
    U, W = U0.copy(), W0.copy()
    Ai = np.asarray(acc_in, dtype=np.float64).copy()
    Ao = np.asarray(acc_out, dtype=np.float64).copy()
    G = np.zeros((len(contexts), len(outputs)))
    loss = 0.0
    for i, c in enumerate(contexts):
        for n, o in enumerate(outputs):
            G[i, n], l = logit_step(float(U0[c] @ W0[o]), n == 0, 1.0, table)
            loss += l
    for i, c in enumerate(contexts):
        grad = sum(G[i, n] * W0[o] for n, o in enumerate(outputs))
        Ai[c] += float(np.mean(grad * grad))
        U[c] += lr * grad / (math.sqrt(Ai[c]) + ADAGRAD_EPS)
    for n, o in enumerate(outputs):
        grad = sum(G[i, n] * U0[c] for i, c in enumerate(contexts))
        if per_pair:
            Ao[o] += sum(float(np.mean((G[i, n] * U0[c]) ** 2)) for i, c in enumerate(contexts))
        else:
            Ao[o] += float(np.mean(grad * grad))
        W[o] += lr * grad / (math.sqrt(Ao[o]) + ADAGRAD_EPS)
    return U, W, Ai, Ao, loss


def encode_corpus(sentences, min_count, max_vocab=None):
    """The vocabulary and encoding of token lists, word by word: ``(words, counts, ids, starts)``.

    Ids by descending count, ties by first occurrence; rarer words than ``min_count``
    and words past ``max_vocab`` are dropped from the text, and so is a sentence left
    with no word (``starts``: each kept sentence's first id, then the total).
    """
    counts, first = {}, {}
    for sentence in sentences:
        for w in sentence:
            counts[w] = counts.get(w, 0) + 1
            first.setdefault(w, len(first))
    words = sorted((w for w in counts if counts[w] >= min_count), key=lambda w: (-counts[w], first[w]))
    words = words[:max_vocab] if max_vocab is not None else words
    index = {w: i for i, w in enumerate(words)}
    ids, starts = [], [0]
    for sentence in sentences:
        kept = [index[w] for w in sentence if w in index]
        if kept:
            ids.extend(kept)
            starts.append(len(ids))
    return words, [counts[w] for w in words], ids, starts
