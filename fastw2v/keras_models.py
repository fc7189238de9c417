"""Keras models for skip-gram: the tutorial's network and standard SGNS, on any supported backend.

Keras is imported here (and in :mod:`fastw2v.keras_trainer` and the backend glue
modules) only; ``import fastw2v`` never imports it. :func:`build_sgns` and
:func:`build_tutorial` build and compile the two models; :func:`input_embeddings`
reads either one's vectors.

One source, every backend
-------------------------
The maths is written once, in ``keras.ops``: each model's gradients in closed form
(:func:`shared_negative_gradients`, :func:`sgns_gradients`,
:func:`tutorial_gradients`) and each optimizer's per-row step
(:meth:`fastw2v.keras_optimizers.RowOptimizer.row_update`; the optimizers and the
rate's schedule are in :mod:`fastw2v.keras_optimizers`). What Keras 3 needs per backend sits in
:mod:`fastw2v.keras_tf` or :mod:`fastw2v.keras_jax` (picked by
:func:`fastw2v.keras_glue.glue`): the training step's shell (TensorFlow's
stateful ``train_step(data)``, JAX's stateless ``train_step(state, data)``), and the
two row writes, ``scatter_add`` and ``scatter_set``.

Shared negatives in a batch
---------------------------
The step is bound by memory traffic, and with its own negatives per row most of it is
the ``(B, 1 + k, dim)`` block of gathered output rows and a gradient of the same size.
With ``negative_group`` G (32 by default), each run of G consecutive rows of a batch
trains against the ``k`` noise words of its first row: the rows are shuffled pairs, so a
group is G unrelated pairs sharing ``k`` draws from the same unigram^0.75
distribution, and each row still meets ``k`` negatives. A batch gathers G times fewer
noise rows, and the negative logits and their gradients become small batched matrix
products (``(G x dim) . (dim x k)`` a group) (:func:`shared_negative_gradients`). A
noise word equal to a row's own positive is left out for that row, as the generator
redraws it for the row that drew it. ``negative_group=1`` gives every row its own
draw, as word2vec.c.
"""

from __future__ import annotations

import numpy as np
import keras
from keras import ops

from .constants import PAD_ID
from .keras_glue import glue
from .keras_optimizers import SparseRMSprop, WordDecay, sgns_optimizer
from .segments import SGNSBatch

_glue = glue()


@keras.saving.register_keras_serializable(package="fastw2v")
class SeededUniform(keras.initializers.Initializer):
    """``U(-limit, limit)`` drawn by NumPy's generator seeded with ``seed``.

    Keras' own seeded initializers draw different numbers on each backend; these are
    the same everywhere, so one seed starts the same model on TensorFlow and on JAX.
    """

    def __init__(self, limit: float, seed: int = 1):
        self.limit = float(limit)
        self.seed = int(seed)

    def __call__(self, shape, dtype=None):
        values = np.random.default_rng(self.seed).uniform(-self.limit, self.limit, size=tuple(shape))
        return ops.convert_to_tensor(values.astype(np.float32), dtype=dtype or "float32")

    def get_config(self):
        return {"limit": self.limit, "seed": self.seed}


@keras.saving.register_keras_serializable(package="fastw2v")
class SGNSLoss(keras.losses.Loss):
    """Sigmoid cross-entropy over the 1 + k columns (column 0 positive, the rest negative),
    averaged over every (positive or negative) pair: Hogwild's loss scale.

    ``y_true`` is ignored (the labels are implied by the rows layout). :class:`SGNS`
    trains with analytic gradients and does not use this loss; it is here for users
    who compile the model their own way.
    """

    def __init__(self, reduction="sum_over_batch_size", name="sgns_loss"):
        super().__init__(reduction=reduction, name=name)

    def call(self, y_true, logits):
        return sgns_pair_loss(logits)


def sgns_pair_loss(logits):
    """Mean over the columns of ``-log sigmoid(logits[:, 0]) - log sigmoid(-logits[:, 1:])``, per row."""
    pos = ops.softplus(-logits[:, :1])
    neg = ops.softplus(logits[:, 1:])
    return ops.mean(ops.concatenate([pos, neg], axis=1), axis=1)


class _ClosedFormStep:
    """Mixin: a ``train_step`` whose gradients are written down in closed form.

    The model's :meth:`row_gradients` returns ``([(variable, rows, values, segments)],
    row_loss)`` from the variables' current values (``segments``: the batch's unique
    rows of that table, or None); :meth:`closed_form_step` hands the gradient to
    the optimizer and the loss to the loss tracker. ``train_step`` itself is the
    backend's shell around that (:func:`fastw2v.keras_tf.train_step` or
    :func:`fastw2v.keras_jax.train_step`).
    """

    def train_step(self, *args):
        return _glue.train_step(self, *args)

    def closed_form_step(self, x, y):
        updates, row_loss = self.row_gradients(x, y)
        _glue.apply_gradient(self.optimizer, updates)
        # per row: an empty batch adds nothing, nor does a padding row (weight 0)
        self.loss_tracker.update_state(row_loss, sample_weight=self.row_weights(x))
        return {"loss": self.loss_tracker.result()}

    def row_weights(self, x):
        """Each row's weight in the reported loss, or None (all 1)."""
        return None

    @property
    def metrics(self):
        return [self.loss_tracker]


@keras.saving.register_keras_serializable(package="fastw2v")
class SGNS(_ClosedFormStep, keras.Model):
    """Standard SGNS: input and output embeddings (layers ``w_in`` and ``w_out``).

    Called on ``(targets int32[B], contexts int32[B, 1 + k])`` (the pair generator's
    rows layout: the positive context first, then ``k`` negatives), it returns the
    logits ``float32[B, 1 + k]``. The training step also takes a
    :class:`~fastw2v.segments.SGNSBatch` with each table's unique rows, counts and inverse
    index (:func:`fastw2v.segments.sgns_segments`), as the tuple of its fields. ``W_in ~ U(-0.5/dim, 0.5/dim)`` and ``W_out = 0``, as
    word2vec.c; ``W_in`` is drawn from ``seed`` alike on every backend (:class:`SeededUniform`).

    The training step gathers the batch's rows, takes the logits, and writes the
    gradients down in closed form (``e = sigmoid(logits) - labels``; ``dW_in[t] = e @
    W_out[c]``; ``dW_out[c] = e * W_in[t]``), one row per occurrence, so no tape is
    recorded and no dense ``V x dim`` gradient is built. Each occurrence's gradient is
    its own pair's (summed over the batch, not averaged), which the optimizer turns
    into a step. The reported ``loss`` is the mean per (positive or negative) pair,
    averaged over the epoch so far.

    With ``negative_group`` G > 1, each run of G consecutive rows trains against the
    negatives of its first row (:func:`shared_negative_gradients`); the batch's rows
    are shuffled pairs, so a group is G unrelated pairs that share k noise draws.
    That step, given the unique rows, also takes padding rows (every id
    :data:`~fastw2v.constants.PAD_ID`, :func:`fastw2v.segments.pad_rows`), which fill an
    epoch's short last batch to the full shape: they train nothing and do not count
    in the loss.
    """

    def __init__(self, vocab_size: int, dim: int, negative: int, seed: int = 1, negative_group: int = 1,
                 name: str = "sgns", **kwargs):
        super().__init__(name=name, **kwargs)
        self.vocab_size, self.dim, self.negative, self.seed = int(vocab_size), int(dim), int(negative), int(seed)
        if int(negative_group) < 1:
            raise ValueError(f"negative_group must be at least 1, got {negative_group!r}")
        #: rows that share one row's negatives in the training step (1: each row its own)
        self.negative_group = int(negative_group)
        self.w_in = keras.layers.Embedding(vocab_size, dim, name="w_in",
                                           embeddings_initializer=SeededUniform(0.5 / dim, seed))
        self.w_out = keras.layers.Embedding(vocab_size, dim, name="w_out", embeddings_initializer="zeros")
        self.w_in.build((None,))
        self.w_out.build((None, negative + 1))
        self.built = True
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def call(self, inputs):
        targets, contexts = inputs[0], inputs[1]  # unique-row inputs after these are the step's only
        return ops.einsum("bd,bkd->bk", self.w_in(targets), self.w_out(contexts))

    def row_gradients(self, x, y=None):
        batch = SGNSBatch(*x)
        targets, contexts = batch.targets, batch.contexts
        # with the batch's unique rows (fastw2v.segments.sgns_segments): (rows, counts, inverse) per table
        in_sets, out_sets = batch.in_sets, batch.out_sets
        W_in, W_out = self.w_in.embeddings, self.w_out.embeddings
        if self.shares_negatives:
            unique = None if in_sets is None else (in_sets[0], in_sets[2], out_sets[0], out_sets[2])
            grad_u, grad_v, out_rows, row_loss = shared_negative_gradients(W_in.value, W_out.value, targets, contexts,
                                                                           self.negative_group, unique)
        else:
            grad_u, grad_v, out_rows, row_loss = sgns_gradients(W_in.value, W_out.value, targets, contexts)
        return [(W_in, targets, grad_u, in_sets), (W_out, out_rows, grad_v, out_sets)], row_loss

    @property
    def shares_negatives(self) -> bool:
        """Whether the step is :func:`shared_negative_gradients` (else :func:`sgns_gradients`)."""
        return self.negative_group > 1 and self.negative > 0

    def row_weights(self, x):
        batch = SGNSBatch(*x)
        if batch.has_unique_rows and self.shares_negatives:  # the step that takes padding rows
            return ops.cast(ops.not_equal(batch.contexts[:, 0], PAD_ID), "float32")
        return None

    def get_config(self):
        return {"vocab_size": self.vocab_size, "dim": self.dim, "negative": self.negative, "seed": self.seed,
                "negative_group": self.negative_group, "name": self.name}


def sgns_gradients(W_in, W_out, targets, contexts):
    """SGNS gradients of a batch in which every row meets its own ``k`` negatives.

    Parameters
    ----------
    W_in, W_out : float32[V, dim] tensors
    targets : int32[B]
    contexts : int32[B, 1 + k]
        The positive context first, then the row's negatives.

    Returns
    -------
    grad_u : float32[B, dim]
        Per occurrence of ``targets``.
    grad_v : float32[B * (1 + k), dim]
        Per occurrence of ``out_rows``.
    out_rows : int32[B * (1 + k)]
        ``contexts`` flattened.
    row_loss : float32[B]
        Each row's mean loss over its ``1 + k`` pairs.
    """
    dim = W_in.shape[1]
    u = ops.take(W_in, targets, axis=0)  # (B, dim)
    v = ops.take(W_out, contexts, axis=0)  # (B, 1 + k, dim)
    logits = ops.einsum("bd,bkd->bk", u, v)
    labels = np.eye(1, contexts.shape[1], dtype=np.float32)  # [[1, 0, ..., 0]]
    err = ops.sigmoid(logits) - labels  # d loss / d logit, per pair
    grad_u = ops.einsum("bk,bkd->bd", err, v)
    grad_v = ops.reshape(err[:, :, None] * u[:, None, :], (-1, dim))
    return grad_u, grad_v, ops.reshape(contexts, (-1,)), sgns_pair_loss(logits)


def shared_negative_gradients(W_in, W_out, targets, contexts, group: int, unique=None):
    """SGNS gradients of a batch whose rows share negatives in groups of ``group``.

    Each run of ``group`` consecutive rows is contrasted with the negatives of its first
    row (``contexts[::group, 1:]``). The maths per pair is :func:`sgns_gradients`'; only
    which noise words a row meets changes. Those are still independent draws from the
    noise distribution, but a batch gathers ``group`` times fewer output rows for them,
    and the negative logits and gradients become batched ``(group x dim) @ (dim x k)``
    products. The step is bound by memory traffic, and the per-row layout's
    ``(B, 1 + k, dim)`` gathered rows and their gradient dominate it. A noise word equal
    to a row's positive context is masked out for that row, as the generator redraws it
    for the row that drew it. With ``unique``, the batch may end in padding rows (every
    id :data:`~fastw2v.constants.PAD_ID`, :func:`fastw2v.segments.pad_rows`): their
    pairs are masked, so their gradients and loss are 0.

    Parameters
    ----------
    W_in, W_out : float32[V, dim] tensors
    targets : int32[B]
    contexts : int32[B, 1 + k]
        The positive context first, then the row's own negatives (only a group's first
        row's are read).
    group : int
    unique : tuple, optional
        ``(in_rows, in_inverse, out_rows, out_inverse)``: the batch's unique rows of each
        table and each occurrence's index among them (:func:`fastw2v.segments.sgns_segments`;
        ``out_inverse`` in ``out_rows``' order). The step then gathers each table's unique
        rows once, a few megabytes, and each occurrence from those rather than from the
        ``V``-row table, and ``grad_v`` comes in its two parts, which the optimizer sums
        per row part by part (:func:`fastw2v.keras_optimizers.unique_row_sums`) instead of joining them. The sums
        are the same; the step moves fewer bytes.

    Returns
    -------
    grad_u : float32[B, dim]
        Per occurrence of ``targets``.
    grad_v : float32[B + ceil(B / group) * k, dim], or its parts
        Per occurrence of ``out_rows``: with ``unique``, the tuple ``(float32[B, dim],
        float32[ceil(B / group) * k, dim])`` of the positives' rows and the noise words'.
    out_rows : int32[B + ceil(B / group) * k]
        The positives, then each group's noise words.
    row_loss : float32[B]
        Each row's mean loss over the pairs it met.
    """
    G, dim = group, W_in.shape[1]
    n = ops.shape(targets)[0]
    n_groups = (n + G - 1) // G
    pad = n_groups * G - n
    positives = contexts[:, 0]
    noise = contexts[::G, 1:]  # (n_groups, k)
    if unique is None:
        u = ops.take(W_in, targets, axis=0)  # (B, dim)
        v_pos = ops.take(W_out, positives, axis=0)  # (B, dim)
        v_neg = ops.take(W_out, noise, axis=0)  # (n_groups, k, dim)
    else:
        in_rows, in_inverse, out_rows, out_inverse = unique
        u = ops.take(ops.take(W_in, in_rows, axis=0), in_inverse, axis=0)
        out_table = ops.take(W_out, out_rows, axis=0)  # the batch's unique output rows
        v_pos = ops.take(out_table, out_inverse[:n], axis=0)
        v_neg = ops.take(out_table, ops.reshape(out_inverse[n:], ops.shape(noise)), axis=0)
    u_groups = ops.reshape(ops.pad(u, [[0, pad], [0, 0]]), (n_groups, G, dim))
    # a dot per row: written as a product and a sum, XLA on a CPU writes the (B, dim) product out
    logit_pos = ops.einsum("bd,bd->b", u, v_pos)  # (B,)
    logit_neg = ops.einsum("gid,gkd->gik", u_groups, v_neg)  # (n_groups, G, k)
    # a padding row (past the batch's end in its last group, or the batch's own), or a noise word
    # equal to the row's own positive, is no pair
    pos_groups = ops.reshape(ops.pad(positives, [[0, pad]], constant_values=PAD_ID), (n_groups, G, 1))
    mask = ops.cast(ops.logical_and(ops.not_equal(pos_groups, noise[:, None, :]), ops.not_equal(pos_groups, PAD_ID)),
                    u.dtype)
    real = ops.cast(ops.not_equal(positives, PAD_ID), u.dtype)  # (B,)
    err_pos = (ops.sigmoid(logit_pos) - 1.0) * real
    err_neg = ops.sigmoid(logit_neg) * mask
    # the noise words' part of each row's gradient as k broadcast products, not a batched matrix
    # product: XLA then makes the whole of grad_u in one pass, without a (B, dim) product in
    # between. A batch whose width is unknown when traced (a tf.data spec of [None, None])
    # takes the product.
    k = noise.shape[1]
    if k is None:
        grad_neg = ops.einsum("gik,gkd->gid", err_neg, v_neg)
    else:
        grad_neg = err_neg[:, :, 0:1] * v_neg[:, None, 0]
        for j in range(1, k):
            grad_neg = grad_neg + err_neg[:, :, j:j + 1] * v_neg[:, None, j]
    grad_u = err_pos[:, None] * v_pos + ops.reshape(grad_neg, (-1, dim))[:n]
    grad_v = (err_pos[:, None] * u, ops.reshape(ops.einsum("gik,gid->gkd", err_neg, u_groups), (-1, dim)))
    if unique is None:
        grad_v = ops.concatenate(grad_v, axis=0)
    out_rows = ops.concatenate([positives, ops.reshape(noise, (-1,))], axis=0)
    neg_loss = ops.reshape(ops.sum(ops.softplus(logit_neg) * mask, axis=2), (-1,))[:n]
    pairs = 1.0 + ops.reshape(ops.sum(mask, axis=2), (-1,))[:n]
    return grad_u, grad_v, out_rows, (ops.softplus(-logit_pos) * real + neg_loss) / pairs


def build_sgns(vocab_size: int, dim: int, negative: int, alpha: float = 0.2, min_alpha: float = 2e-5,
               words_per_step: float = 1.0, total_words: float = 1.0, seed: int = 1, optimizer: str = "adagrad",
               jit_compile: bool = True, negative_group: int = 1, steps_per_execution: int = 1,
               decay_start: float = 0.0) -> SGNS:
    """An :class:`SGNS` model compiled with ``optimizer`` at a rate of ``alpha`` that decays
    linearly to ``min_alpha`` at ``total_words`` corpus words, from the ``decay_start``
    share of them on (:class:`WordDecay`).

    The step is XLA-compiled when ``jit_compile``; ``steps_per_execution`` steps run per
    call from Python (Keras' ``compile`` option).
    """
    model = SGNS(vocab_size, dim, negative, seed=seed, negative_group=negative_group)
    schedule = WordDecay(alpha, min_alpha, words_per_step, total_words, decay_start)
    model.compile(optimizer=sgns_optimizer(optimizer, schedule), jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution)
    return model


@keras.saving.register_keras_serializable(package="fastw2v")
class Tutorial(_ClosedFormStep, keras.Model):
    """The Keras word2vec tutorial's network, faithfully.

    One ``Embedding`` (layer ``embedding``) shared by target and context, their dot
    product, then ``Dense(1, activation="sigmoid")`` (layer ``output``); binary
    cross-entropy, averaged over the batch, and RMSprop (here its row-sparse form).
    Inputs ``target int32[B]`` and ``context int32[B]``, output ``p(label = 1)
    float32[B, 1]``. The tutorial's cosine "validation model" is not built: neighbours
    come from :func:`input_embeddings` and :meth:`fastw2v.Vectors.most_similar_batch`.

    The step's gradients are the cross-entropy's, written down in closed form
    (:func:`tutorial_gradients`), so they are rows of the embedding on every backend.
    """

    def __init__(self, vocab_size: int, dim: int, seed: int = 1, name: str = "tutorial", **kwargs):
        super().__init__(name=name, **kwargs)
        self.vocab_size, self.dim, self.seed = int(vocab_size), int(dim), int(seed)
        self.embedding = keras.layers.Embedding(vocab_size, dim, name="embedding",
                                                embeddings_initializer=SeededUniform(0.05, seed))
        self.dot = keras.layers.Dot(axes=1, name="dot")
        # The tutorial leaves the output weight at Keras' random default. With one shared
        # embedding, a negative weight makes co-occurring words point *away* from each
        # other, which cosine similarity (the validation model) cannot show, and a random
        # start can land there. Starting the weight at +1 avoids it.
        self.dense = keras.layers.Dense(1, activation="sigmoid", name="output",
                                        kernel_initializer=keras.initializers.Constant(1.0))
        self.embedding.build((None,))
        self.dense.build((None, 1))
        self.built = True
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def call(self, inputs):
        target, context = inputs
        return self.dense(self.dot([self.embedding(target), self.embedding(context)]))

    def row_gradients(self, x, y):
        target, context = x
        E, kernel, bias = self.embedding.embeddings, self.dense.kernel, self.dense.bias
        rows, grads, d_kernel, d_bias, row_loss = tutorial_gradients(E.value, kernel.value, bias.value, target,
                                                                     context, y, _glue.replicas_in_sync())
        return [(E, rows, grads, None), (kernel, None, d_kernel, None), (bias, None, d_bias, None)], row_loss

    def get_config(self):
        return {"vocab_size": self.vocab_size, "dim": self.dim, "seed": self.seed, "name": self.name}


def tutorial_gradients(E, kernel, bias, target, context, labels, replicas: int = 1):
    """Gradients of the tutorial's mean binary cross-entropy, in closed form.

    ``p = sigmoid(w * (E[t] . E[c]) + b)``; the loss is the batch mean of
    ``-y log p - (1 - y) log(1 - p)``, so ``d loss / d z = (p - y) / B``. Under a
    strategy of ``replicas`` replicas, whose gradients are summed, ``B`` is the global
    batch.

    Parameters
    ----------
    E : float32[V, dim]
    kernel : float32[1, 1]
    bias : float32[1]
    target, context : int32[B]
    labels : float32 or int8 [B]
    replicas : int

    Returns
    -------
    rows : int32[2B]
        ``target``, then ``context``.
    grads : float32[2B, dim]
        Per occurrence of ``rows``.
    d_kernel : float32[1, 1]
    d_bias : float32[1]
    row_loss : float32[B]
    """
    e = ops.take(E, target, axis=0)
    f = ops.take(E, context, axis=0)
    dot = ops.sum(e * f, axis=1)  # (B,)
    w = kernel[0, 0]
    z = dot * w + bias[0]
    y = ops.cast(ops.reshape(labels, (-1,)), z.dtype)
    batch = ops.cast(ops.shape(target)[0], z.dtype) * replicas
    dz = (ops.sigmoid(z) - y) / batch
    grads = ops.concatenate([(dz * w)[:, None] * f, (dz * w)[:, None] * e], axis=0)
    rows = ops.concatenate([target, context], axis=0)
    d_kernel = ops.reshape(ops.sum(dz * dot), (1, 1))
    d_bias = ops.reshape(ops.sum(dz), (1,))
    return rows, grads, d_kernel, d_bias, ops.softplus(z) - y * z  # the cross-entropy, stably


def build_tutorial(vocab_size: int, dim: int, learning_rate: float = 0.001, seed: int = 1,
                   jit_compile: bool = True, steps_per_execution: int = 1) -> Tutorial:
    """A :class:`Tutorial` model compiled with :class:`SparseRMSprop` at ``learning_rate``."""
    model = Tutorial(vocab_size, dim, seed=seed)
    model.compile(optimizer=SparseRMSprop(learning_rate=learning_rate), jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution)
    return model


def input_embeddings(model: keras.Model) -> np.ndarray:
    """The input embedding matrix of either model, float32[V, dim]."""
    name = "w_in" if model.name == "sgns" else "embedding"
    return np.asarray(keras.ops.convert_to_numpy(model.get_layer(name).embeddings), dtype=np.float32)
