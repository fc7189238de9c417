"""Keras models for skip-gram: the tutorial's network and standard SGNS.

TensorFlow and Keras are imported here (and in :mod:`fastw2v.keras_trainer`) only;
``import fastw2v`` never imports them. :func:`build_sgns` and :func:`build_tutorial`
build and compile the two models; :func:`input_embeddings` reads either one's vectors.

Sparse updates
--------------
Embedding lookups are ``tf.gather``, whose gradient is a ``tf.IndexedSlices``
holding only the rows a batch looked up. Keras 3's TensorFlow optimizers apply
an ``IndexedSlices`` with ``scatter_sub``, so plain SGD (the ``sgns`` model)
touches only those rows. RMSprop (the tutorial's optimizer) would still decay
its V x dim velocity densely every step, so :class:`SparseRMSprop` updates the
velocity and the weights of the looked-up rows only, as TF1's sparse RMSProp did.

Learning rate for ``sgns``, scaled to the batch
-----------------------------------------------
The loss is *summed* over the rows of a batch (not averaged), so each
occurrence of a word in the batch contributes exactly word2vec's per-pair
gradient, and ``alpha`` keeps its word2vec meaning and default (0.025): the step
per (target, context) pair. word2vec.c applies those steps one after another; a
batch computes them from the same weights and adds them. That is faithful only
while a word repeats little within a batch, so summed SGD bounds the batch size:
in a large batch a frequent word takes hundreds of stale steps at once.
``SparseSGD(duplicates="mean")`` divides a row's summed gradient by its repeat
count instead (stable at any size, but slower to learn). The README's Keras
section gives the measurements behind the default batch size.
:class:`WordDecay` decays the rate linearly in the corpus words processed, from
``alpha`` to ``min_alpha`` over all epochs.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import keras


@keras.saving.register_keras_serializable(package="fastw2v")
class WordDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear decay driven by corpus words processed: ``words = step * words_per_step``.

    ``words_per_step`` is the corpus words one batch covers (the corpus words of an
    epoch divided by the batches of that epoch, counted exactly before training).
    """

    def __init__(self, alpha: float, min_alpha: float, words_per_step: float, total_words: float):
        self.alpha = float(alpha)
        self.min_alpha = float(min_alpha)
        self.words_per_step = float(words_per_step)
        self.total_words = float(total_words)

    def __call__(self, step):
        words = tf.cast(step, tf.float32) * self.words_per_step
        frac = tf.minimum(1.0, words / self.total_words)
        return tf.maximum(self.min_alpha, self.alpha - (self.alpha - self.min_alpha) * frac)

    def get_config(self):
        return {"alpha": self.alpha, "min_alpha": self.min_alpha, "words_per_step": self.words_per_step,
                "total_words": self.total_words}


@keras.saving.register_keras_serializable(package="fastw2v")
class SparseSGD(keras.optimizers.SGD):
    """Sparse SGD with a choice of how a row's repeated gradients in one batch combine.

    ``duplicates="sum"`` is plain SGD (each occurrence a full per-pair step);
    ``"sqrt"`` and ``"mean"`` divide a row's summed gradient by ``sqrt(n)`` or ``n``
    for a row looked up ``n`` times, for batches so large that summing diverges.
    Occurrence counts come from a scatter into a length-V vector (V floats, not
    V x dim), which XLA compiles; rows are updated with ``scatter_sub``.
    """

    def __init__(self, learning_rate=0.01, duplicates: str = "sum", **kwargs):
        if duplicates not in ("sum", "sqrt", "mean"):
            raise ValueError(f"duplicates must be 'sum', 'sqrt' or 'mean', got {duplicates!r}")
        super().__init__(learning_rate=learning_rate, **kwargs)
        #: how a row's n per-pair gradients in one batch combine: "sum" (plain SGD, word2vec's
        #: per-pair steps), "sqrt" divides the sum by sqrt(n), "mean" by n
        self.duplicates = duplicates

    def get_config(self):
        return dict(super().get_config(), duplicates=self.duplicates)

    def update_step(self, gradient, variable, learning_rate):
        if not isinstance(gradient, tf.IndexedSlices) or self.momentum != 0 or self.duplicates == "sum":
            return super().update_step(gradient, variable, learning_rate)
        lr = tf.cast(learning_rate, variable.dtype)
        indices = gradient.indices
        values = tf.cast(gradient.values, variable.dtype)
        n_rows = tf.shape(variable)[0]
        counts = tf.tensor_scatter_nd_add(tf.zeros([n_rows], variable.dtype), indices[:, None],
                                          tf.ones(tf.shape(indices), variable.dtype))
        scale = tf.gather(counts, indices)
        if self.duplicates == "sqrt":
            scale = scale * tf.math.rsqrt(scale)  # n / sqrt(n): the sum over occurrences becomes sum / sqrt(n)
        per_occurrence = values / scale[:, None]
        self.assign_sub(variable, tf.IndexedSlices(lr * per_occurrence, indices, gradient.dense_shape))


@keras.saving.register_keras_serializable(package="fastw2v")
class SparseRMSprop(keras.optimizers.RMSprop):
    """RMSprop whose update for an ``IndexedSlices`` gradient touches only its rows."""

    def update_step(self, gradient, variable, learning_rate):
        if not isinstance(gradient, tf.IndexedSlices) or self.momentum > 0 or self.centered:
            return super().update_step(gradient, variable, learning_rate)
        lr = tf.cast(learning_rate, variable.dtype)
        unique, pos = tf.unique(gradient.indices)
        values = tf.math.unsorted_segment_sum(tf.cast(gradient.values, variable.dtype), pos, tf.shape(unique)[0])
        velocity = self._velocities[self._get_variable_index(variable)]
        v_rows = tf.gather(velocity.value if hasattr(velocity, "value") else velocity, unique)
        v_new = self.rho * v_rows + (1.0 - self.rho) * tf.square(values)
        self.assign(velocity, tf.IndexedSlices(v_new, unique, gradient.dense_shape))
        step = lr * values / (tf.sqrt(v_new) + self.epsilon)
        self.assign_sub(variable, tf.IndexedSlices(step, unique, gradient.dense_shape))


@keras.saving.register_keras_serializable(package="fastw2v")
class RowAdagrad(keras.optimizers.Optimizer):
    """Row-wise sparse Adagrad: one accumulator per embedding row, not per weight.

    A batch's ``IndexedSlices`` gradient is first summed per row (as PyTorch's sparse
    Adagrad coalesces it); the row's accumulator grows by the mean square of that sum
    over the dimensions, and the row steps once, by ``lr * sum / (sqrt(accumulator) +
    epsilon)`` (the row-wise form of DGL's DeepWalk and PyTorch-BigGraph). The
    accumulator is a ``V``-float vector per table, ``1 / dim`` of full Adagrad's state.

    Summing first matters for large batches: a frequent word occurs thousands of times
    in a batch of 65,536 rows, and stepping each occurrence by its own normalised
    gradient moves its row by about ``sqrt(n)`` normalised steps at once (measured on
    wiki8 at 65,536 rows, 2 epochs: the loss spiked tenfold early, and the analogy
    score fell from 26.1% to 23.4%). Only the batch's rows change. When a batch's
    occurrences outnumber the table's rows, the step is one dense pass over the table
    (rows not in the batch have a zero sum); otherwise each occurrence applies ``1 / n``
    of its row's step through a scatter. A dense gradient is treated as every row
    looked up once.
    """

    def __init__(self, learning_rate=0.2, epsilon=1e-10, initial_accumulator_value=0.0, name="row_adagrad",
                 **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.epsilon = float(epsilon)
        self.initial_accumulator_value = float(initial_accumulator_value)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._accumulators = [
            self.add_variable(shape=(v.shape[0],), dtype=v.dtype, name="row_accumulator",
                              initializer=keras.initializers.Constant(self.initial_accumulator_value))
            for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        lr = tf.cast(learning_rate, variable.dtype)
        acc = self._accumulators[self._get_variable_index(variable)]
        if isinstance(gradient, tf.IndexedSlices):
            indices, values = gradient.indices, tf.cast(gradient.values, variable.dtype)
        else:
            indices, values = tf.range(tf.shape(gradient)[0]), tf.cast(gradient, variable.dtype)
        n_rows = tf.shape(acc)[0]
        row_sums = tf.math.unsorted_segment_sum(values, indices, n_rows)  # (V, dim); rows not in the batch: 0
        self.assign_add(acc, tf.reduce_mean(tf.square(row_sums), axis=1))
        acc_now = acc.value if hasattr(acc, "value") else acc

        def dense():
            # one pass over the table: rows not in the batch have a zero sum and do not move
            return self.assign_sub(variable, row_sums * (lr / (tf.sqrt(acc_now) + self.epsilon))[:, None])

        def sparse():
            counts = tf.math.unsorted_segment_sum(tf.ones_like(indices, variable.dtype), indices, n_rows)
            scale = lr / ((tf.sqrt(tf.gather(acc_now, indices)) + self.epsilon) * tf.gather(counts, indices))
            return self.assign_sub(variable, tf.IndexedSlices(tf.gather(row_sums, indices) * scale[:, None],
                                                              indices, tf.shape(variable)))

        # touching every row costs less than gathering and scattering the occurrences once
        # they outnumber the rows
        tf.cond(tf.size(indices) >= n_rows, dense, sparse)

    def get_config(self):
        return dict(super().get_config(), epsilon=self.epsilon,
                    initial_accumulator_value=self.initial_accumulator_value)


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
    pos = tf.nn.softplus(-logits[:, :1])
    neg = tf.nn.softplus(logits[:, 1:])
    return tf.reduce_mean(tf.concat([pos, neg], axis=1), axis=1)


@keras.saving.register_keras_serializable(package="fastw2v")
class SGNS(keras.Model):
    """Standard SGNS: input and output embeddings (layers ``w_in`` and ``w_out``).

    Called on ``(targets int32[B], contexts int32[B, 1 + k])`` (the pair generator's
    rows layout: the positive context first, then ``k`` negatives), it returns the
    logits ``float32[B, 1 + k]``. ``W_in ~ U(-0.5/dim, 0.5/dim)`` and ``W_out = 0``, as
    word2vec.c.

    :meth:`train_step` is the lean step: it gathers the batch's rows, takes the
    logits, and writes the gradients down in closed form (``e = sigmoid(logits) -
    labels``; ``dW_in[t] = e @ W_out[c]``; ``dW_out[c] = e * W_in[t]``) as
    ``IndexedSlices``, so no tape is recorded and no dense ``V x dim`` tensor is ever
    built. Each occurrence's gradient is its own pair's (summed over the batch, not
    averaged), which the optimizer turns into a step. The reported ``loss`` is the
    mean per (positive or negative) pair, averaged over the epoch so far. Under a ``tf.distribute`` strategy the
    optimizer all-reduces the slices across replicas, as for any Keras model.

    With ``negative_group`` G > 1, each run of G consecutive rows trains against the
    negatives of its first row (:meth:`_shared_step`); the batch's rows are shuffled
    pairs, so a group is G unrelated pairs that share k noise draws.
    """

    def __init__(self, vocab_size: int, dim: int, negative: int, seed: int = 1, negative_group: int = 1,
                 name: str = "sgns", **kwargs):
        super().__init__(name=name, **kwargs)
        self.vocab_size, self.dim, self.negative, self.seed = int(vocab_size), int(dim), int(negative), int(seed)
        if int(negative_group) < 1:
            raise ValueError(f"negative_group must be at least 1, got {negative_group!r}")
        #: rows that share one row's negatives in :meth:`train_step` (1: each row its own)
        self.negative_group = int(negative_group)
        init = keras.initializers.RandomUniform(-0.5 / dim, 0.5 / dim, seed=seed)
        self.w_in = keras.layers.Embedding(vocab_size, dim, name="w_in", embeddings_initializer=init)
        self.w_out = keras.layers.Embedding(vocab_size, dim, name="w_out", embeddings_initializer="zeros")
        self.w_in.build((None,))
        self.w_out.build((None, negative + 1))
        self.built = True
        self._labels = np.eye(1, negative + 1, dtype=np.float32)  # [[1, 0, ..., 0]]
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, inputs):
        targets, contexts = inputs
        return keras.ops.einsum("bd,bkd->bk", self.w_in(targets), self.w_out(contexts))

    def train_step(self, data):
        (targets, contexts), _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.negative_group > 1 and self.negative > 0:
            return self._shared_step(targets, contexts)
        W_in, W_out = self.w_in.embeddings, self.w_out.embeddings
        u = tf.gather(W_in.value, targets)  # (B, dim)
        v = tf.gather(W_out.value, contexts)  # (B, 1 + k, dim)
        logits = tf.einsum("bd,bkd->bk", u, v)
        err = tf.sigmoid(logits) - self._labels  # d loss / d logit, per pair
        grad_u = tf.einsum("bk,bkd->bd", err, v)
        grad_v = tf.reshape(err[:, :, None] * u[:, None, :], [-1, self.dim])
        shape = tf.constant([self.vocab_size, self.dim])
        self.optimizer.apply([tf.IndexedSlices(grad_u, targets, shape),
                              tf.IndexedSlices(grad_v, tf.reshape(contexts, [-1]), shape)], [W_in, W_out])
        self.loss_tracker.update_state(sgns_pair_loss(logits))  # per row: an empty batch adds nothing
        return {"loss": self.loss_tracker.result()}

    def _shared_step(self, targets, contexts):
        """The step with each group of ``negative_group`` consecutive rows contrasted with
        the negatives of the group's first row (:func:`shared_negative_gradients`)."""
        W_in, W_out = self.w_in.embeddings, self.w_out.embeddings
        grad_u, grad_v, out_rows, row_loss = shared_negative_gradients(W_in.value, W_out.value, targets, contexts,
                                                                       self.negative_group)
        shape = tf.constant([self.vocab_size, self.dim])
        self.optimizer.apply([tf.IndexedSlices(grad_u, targets, shape), tf.IndexedSlices(grad_v, out_rows, shape)],
                             [W_in, W_out])
        self.loss_tracker.update_state(row_loss)
        return {"loss": self.loss_tracker.result()}

    def get_config(self):
        return {"vocab_size": self.vocab_size, "dim": self.dim, "negative": self.negative, "seed": self.seed,
                "negative_group": self.negative_group, "name": self.name}


def shared_negative_gradients(W_in, W_out, targets, contexts, group: int):
    """SGNS gradients of a batch whose rows share negatives in groups of ``group``.

    Each run of ``group`` consecutive rows is contrasted with the negatives of its first
    row (``contexts[::group, 1:]``). The maths per pair is :meth:`SGNS.train_step`'s; only
    which noise words a row meets changes. Those are still independent draws from the
    noise distribution, but a batch gathers ``group`` times fewer output rows for them,
    and the negative logits and gradients become batched ``(group x dim) @ (dim x k)``
    products. The step is bound by memory traffic, and the per-row layout's
    ``(B, 1 + k, dim)`` gathered rows and their gradient dominate it. A noise word equal
    to a row's positive context is masked out for that row, as the generator redraws it
    for the row that drew it.

    Parameters
    ----------
    W_in, W_out : float32[V, dim] tensors
    targets : int32[B]
    contexts : int32[B, 1 + k]
        The positive context first, then the row's own negatives (only a group's first
        row's are read).
    group : int

    Returns
    -------
    grad_u : float32[B, dim]
        Per occurrence of ``targets``.
    grad_v : float32[B + ceil(B / group) * k, dim]
        Per occurrence of ``out_rows``.
    out_rows : int32[B + ceil(B / group) * k]
        The positives, then each group's noise words.
    row_loss : float32[B]
        Each row's mean loss over the pairs it met.
    """
    G, dim = group, W_in.shape[1]
    n = tf.shape(targets)[0]
    n_groups = (n + G - 1) // G
    pad = n_groups * G - n
    positives = contexts[:, 0]
    noise = contexts[::G, 1:]  # (n_groups, k)
    u = tf.gather(W_in, targets)  # (B, dim)
    v_pos = tf.gather(W_out, positives)  # (B, dim)
    v_neg = tf.gather(W_out, noise)  # (n_groups, k, dim)
    u_groups = tf.reshape(tf.pad(u, [[0, pad], [0, 0]]), [n_groups, G, dim])
    logit_pos = tf.reduce_sum(u * v_pos, axis=1)  # (B,)
    logit_neg = tf.einsum("gid,gkd->gik", u_groups, v_neg)  # (n_groups, G, k)
    # a padding row, or a noise word equal to the row's own positive, is no pair
    pos_groups = tf.reshape(tf.pad(positives, [[0, pad]], constant_values=-1), [n_groups, G, 1])
    mask = tf.cast(tf.not_equal(pos_groups, noise[:, None, :]) & tf.not_equal(pos_groups, -1), u.dtype)
    err_pos = tf.sigmoid(logit_pos) - 1.0
    err_neg = tf.sigmoid(logit_neg) * mask
    grad_u = err_pos[:, None] * v_pos + tf.reshape(tf.einsum("gik,gkd->gid", err_neg, v_neg), [-1, dim])[:n]
    grad_v = tf.concat([err_pos[:, None] * u, tf.reshape(tf.einsum("gik,gid->gkd", err_neg, u_groups), [-1, dim])],
                       axis=0)
    out_rows = tf.concat([positives, tf.reshape(noise, [-1])], axis=0)
    neg_loss = tf.reshape(tf.reduce_sum(tf.nn.softplus(logit_neg) * mask, axis=2), [-1])[:n]
    pairs = 1.0 + tf.reshape(tf.reduce_sum(mask, axis=2), [-1])[:n]
    return grad_u, grad_v, out_rows, (tf.nn.softplus(-logit_pos) + neg_loss) / pairs


def sgns_optimizer(name: str, learning_rate) -> keras.optimizers.Optimizer:
    """The optimizer :func:`build_sgns` compiles with: ``"adagrad"`` (:class:`RowAdagrad`) or
    ``"sgd"`` (summed sparse SGD, word2vec's per-pair steps added up over a batch)."""
    if name == "adagrad":
        return RowAdagrad(learning_rate=learning_rate)
    if name == "sgd":
        return SparseSGD(learning_rate=learning_rate)
    raise ValueError(f"optimizer must be 'adagrad' or 'sgd', got {name!r}")


def build_sgns(vocab_size: int, dim: int, negative: int, alpha: float = 0.2, min_alpha: float = 2e-5,
               words_per_step: float = 1.0, total_words: float = 1.0, seed: int = 1, optimizer: str = "adagrad",
               jit_compile: bool = True, negative_group: int = 1) -> SGNS:
    """An :class:`SGNS` model compiled with ``optimizer`` at a rate decaying linearly
    from ``alpha`` to ``min_alpha`` over ``total_words`` corpus words (:class:`WordDecay`).

    The step is XLA-compiled when ``jit_compile``.
    """
    model = SGNS(vocab_size, dim, negative, seed=seed, negative_group=negative_group)
    schedule = WordDecay(alpha, min_alpha, words_per_step, total_words)
    model.compile(optimizer=sgns_optimizer(optimizer, schedule), jit_compile=jit_compile)
    return model


def build_tutorial(vocab_size: int, dim: int, learning_rate: float = 0.001, seed: int = 1) -> keras.Model:
    """The Keras word2vec tutorial's network, faithfully.

    One ``Embedding`` shared by target and context, their dot product, then
    ``Dense(1, activation="sigmoid")``; binary cross-entropy and RMSprop (here its
    row-sparse form). Inputs ``target int32[B]`` and ``context int32[B]``, output
    ``p(label = 1) float32[B, 1]``. The tutorial's cosine "validation model" is
    not built: neighbours come from :func:`input_embeddings` and
    :meth:`fastw2v.Vectors.most_similar_batch`.
    """
    target = keras.Input((), dtype="int32", name="target")
    context = keras.Input((), dtype="int32", name="context")
    embedding = keras.layers.Embedding(vocab_size, dim, name="embedding",
                                       embeddings_initializer=keras.initializers.RandomUniform(-0.05, 0.05, seed=seed))
    t = embedding(target)
    c = embedding(context)
    dot = keras.layers.Dot(axes=1, name="dot")([t, c])
    # The tutorial leaves the output weight at Keras' random default. With one shared
    # embedding, a negative weight makes co-occurring words point *away* from each
    # other, which cosine similarity (the validation model) cannot show; about half
    # of random starts fell into it in our tests. Starting the weight at +1 avoids it.
    output = keras.layers.Dense(1, activation="sigmoid", name="output",
                                kernel_initializer=keras.initializers.Constant(1.0))(dot)
    model = keras.Model([target, context], output, name="tutorial")
    model.compile(optimizer=SparseRMSprop(learning_rate=learning_rate), loss="binary_crossentropy")
    return model


def input_embeddings(model: keras.Model) -> np.ndarray:
    """The input embedding matrix of either model, float32[V, dim]."""
    name = "w_in" if model.name == "sgns" else "embedding"
    return np.asarray(model.get_layer(name).embeddings.numpy(), dtype=np.float32)
