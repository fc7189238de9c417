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
class SGNSLoss(keras.losses.Loss):
    """Sigmoid cross-entropy summed over the 1 + k columns: column 0 positive, the rest negative.

    ``y_true`` is ignored (the labels are implied by the rows layout).
    """

    def __init__(self, reduction="sum", name="sgns_loss"):
        super().__init__(reduction=reduction, name=name)

    def call(self, y_true, logits):
        pos = tf.nn.softplus(-logits[:, 0])
        neg = tf.reduce_sum(tf.nn.softplus(logits[:, 1:]), axis=1)
        return pos + neg


def build_sgns(vocab_size: int, dim: int, negative: int, alpha: float = 0.025, min_alpha: float = 2.5e-6,
               words_per_step: float = 1.0, total_words: float = 1.0, seed: int = 1,
               jit_compile: bool = True) -> keras.Model:
    """Standard SGNS: input and output embeddings, logits from a batched dot product.

    Inputs ``targets int32[B]`` and ``contexts int32[B, 1 + negative]`` (the pair
    generator's rows layout); output ``logits float32[B, 1 + negative]``.
    ``W_in ~ U(-0.5/dim, 0.5/dim)`` and ``W_out = 0``, as word2vec.c.

    The logits are an ``einsum`` and the step is XLA-compiled (``jit_compile``).
    """
    targets = keras.Input((), dtype="int32", name="targets")
    contexts = keras.Input((negative + 1,), dtype="int32", name="contexts")
    w_in = keras.layers.Embedding(vocab_size, dim, name="w_in",
                                  embeddings_initializer=keras.initializers.RandomUniform(-0.5 / dim, 0.5 / dim,
                                                                                           seed=seed))
    w_out = keras.layers.Embedding(vocab_size, dim, name="w_out", embeddings_initializer="zeros")
    u = w_in(targets)  # (B, dim)
    v = w_out(contexts)  # (B, 1 + k, dim)
    logits = keras.ops.einsum("bd,bkd->bk", u, v)  # (B, 1 + k)
    model = keras.Model([targets, contexts], logits, name="sgns")
    schedule = WordDecay(alpha, min_alpha, words_per_step, total_words)
    model.compile(optimizer=SparseSGD(learning_rate=schedule), loss=SGNSLoss(), jit_compile=jit_compile)
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
