"""The Keras models' optimizers and learning-rate schedule, in ``keras.ops`` only.

:class:`RowOptimizer` is the base of fastw2v's sparse optimizers: each takes a step's
gradient as rows, sums them per row and steps only the batch's rows
(:meth:`RowOptimizer.row_update`, or :meth:`RowOptimizer.unique_row_update` given the
batch's unique rows). :class:`RowAdagrad` (row-wise Adagrad, the default),
:class:`SparseSGD` (word2vec's summed SGD) and :class:`SparseRMSprop` (the tutorial's)
are its three rules; :class:`WordDecay` is the rate's schedule in corpus words;
:func:`sgns_optimizer` picks the SGNS model's rule by name. The models themselves are in
:mod:`fastw2v.keras_models`.

Sparse updates
--------------
A step's gradient is a list of ``(table, rows, values)``: one value row per
occurrence of a row in the batch, never a ``V x dim`` gradient. The optimizers sum
them per row and step only the batch's rows: TensorFlow scatters into the variable
(``IndexedSlices``); JAX writes ``table.at[rows].add(...)`` inside the jitted step,
whose state Keras donates, so XLA updates the table in place.

On one device the trainer's feed also hands each batch its unique rows per table,
their counts and each occurrence's index among them (:mod:`fastw2v.segments`, a Numba
pass in the feed's thread). The step then sums into those rows alone, far fewer than
the table's, and steps only them
(:meth:`RowOptimizer.unique_row_update`); it also gathers each table's unique rows
once and each occurrence's row from those few megabytes rather than from the table
(:func:`shared_negative_gradients`). The maths is unchanged. Without them (a
batch fed as plain rows, or split over a strategy's replicas, which all-reduce
per-occurrence rows) the sums go through a ``V x dim`` segment sum, and when a
batch's occurrences outnumber a table's rows, row-wise Adagrad steps the whole table
in one dense pass, which is then cheaper than a gather and a scatter.

Learning rate
-------------
``sgns`` with summed SGD steps by ``alpha`` per (target, context) pair, word2vec's
meaning: the loss is summed over the batch, so each occurrence contributes its pair's
gradient. That bounds the batch (a frequent word takes hundreds of stale steps at
once), so the default is row-wise Adagrad (:class:`RowAdagrad`), stable at any batch.
:class:`WordDecay` holds a rate, then decays it linearly, in the corpus words processed.

Row-wise Adagrad (:class:`RowAdagrad`) is the sparse form PyTorch-BigGraph and DGL's
DeepWalk use: one accumulator per embedding row (a ``V``-float vector per table, not
``V x dim``). A row's gradients are summed over the batch first, the accumulator grows
by the mean square of that sum, and the row steps once by ``lr * sum / sqrt(acc)``, so
a frequent word's steps shrink as its accumulator grows. Summing first matters:
stepping each occurrence by its own normalised gradient moves a row that occurs ``n``
times in a batch by about ``sqrt(n)`` normalised steps at once. The accumulator already
shrinks a row's steps as it is trained, so word2vec's decay from the first word on top
of it stops large batches short. The default instead holds the rate for the first
``decay_start`` (three quarters) of the run's words and then decays it linearly to
nothing (:class:`WordDecay`): once the accumulators have grown, the decay settles the
rows. The tutorial's RMSprop
would decay its whole ``V x dim`` velocity every step, so :class:`SparseRMSprop` updates
only the looked-up rows, as TF1's sparse RMSProp did.
"""

from __future__ import annotations

import keras
from keras import ops

from .keras_glue import glue

_glue = glue()


@keras.saving.register_keras_serializable(package="fastw2v")
class WordDecay(keras.optimizers.schedules.LearningRateSchedule):
    """A rate driven by corpus words processed (``words = step * words_per_step``): ``alpha``
    for the first ``decay_start`` of ``total_words``, then linear down to ``min_alpha`` at
    ``total_words``.

    ``words_per_step`` is the corpus words one batch covers (the corpus words of an
    epoch divided by the batches of that epoch, counted exactly before training).
    ``decay_start`` 0 decays over all words (word2vec's schedule).
    """

    def __init__(self, alpha: float, min_alpha: float, words_per_step: float, total_words: float,
                 decay_start: float = 0.0):
        self.alpha = float(alpha)
        self.min_alpha = float(min_alpha)
        self.words_per_step = float(words_per_step)
        self.total_words = float(total_words)
        self.decay_start = float(decay_start)

    def __call__(self, step):
        words = ops.cast(step, "float32") * self.words_per_step
        frac = ops.minimum(1.0, words / self.total_words)
        if self.decay_start > 0:
            frac = ops.maximum(0.0, frac - self.decay_start) / (1.0 - self.decay_start)
        return ops.maximum(self.min_alpha, self.alpha - (self.alpha - self.min_alpha) * frac)

    def get_config(self):
        return {"alpha": self.alpha, "min_alpha": self.min_alpha, "words_per_step": self.words_per_step,
                "total_words": self.total_words, "decay_start": self.decay_start}




def _static_rows(indices):
    """The number of occurrences in ``indices`` if known when the step is traced, else None."""
    n = indices.shape[0]
    return None if n is None else int(n)


def _dense_or_sparse(indices, n_rows: int, dense, sparse) -> None:
    """Run ``dense()`` if the batch's occurrences outnumber the table's rows, else ``sparse()``.

    JAX traces with static shapes, so the choice is made once per shape; TensorFlow may
    trace with an unknown batch length, and then chooses at run time (``ops.cond``).
    """
    n = _static_rows(indices)
    if n is not None:
        (dense if n >= n_rows else sparse)()
    else:
        ops.cond(ops.size(indices) >= n_rows, dense, sparse)


def unique_row_sums(values, inverse, n_unique):
    """Each unique row's sum of its occurrences' gradient rows: ``float32[n_unique, dim]``.

    ``inverse`` gives each occurrence's unique row; ``values`` is one ``[n, dim]`` tensor,
    or a tuple of consecutive parts of it (the occurrences in ``inverse``'s order), which
    are summed part by part into the same rows, so that they are never joined: the join
    would copy every gradient row once more.
    """
    if not isinstance(values, (tuple, list)):
        return ops.segment_sum(values, inverse, num_segments=n_unique)
    sums, start = None, 0
    for part in values:
        end = start + ops.shape(part)[0]
        part_sums = ops.segment_sum(part, inverse[start:end], num_segments=n_unique)
        sums = part_sums if sums is None else sums + part_sums
        start = end
    return sums


class RowOptimizer(keras.optimizers.Optimizer):
    """Base of fastw2v's optimizers: a step that takes one gradient row per occurrence.

    Subclasses implement :meth:`row_update`, and may implement
    :meth:`unique_row_update`, the same step given the batch's unique rows
    (:mod:`fastw2v.segments`). :meth:`apply_rows` applies a model's
    ``[(variable, rows, values, segments)]`` gradient, as the JAX step does, and as
    the TensorFlow step does when the batch carries its unique rows; otherwise
    TensorFlow's step hands the gradient to ``apply`` as ``IndexedSlices`` (so that a
    ``tf.distribute`` strategy all-reduces it), which arrive at :meth:`update_step`.
    A dense gradient (``rows`` None) is every row looked up once.
    """

    def row_update(self, variable, indices, values, learning_rate) -> None:
        raise NotImplementedError

    def unique_row_update(self, variable, rows, counts, inverse, values, learning_rate) -> None:
        """The step given the batch's unique ``rows`` (padded), their ``counts`` (0 on padding) and
        each occurrence's ``inverse`` index into them; ``values`` is one tensor or a tuple of
        its consecutive parts (:func:`unique_row_sums`). By default :meth:`row_update` of the
        occurrences themselves."""
        if isinstance(values, (tuple, list)):
            values = ops.concatenate(values, axis=0)
        self.row_update(variable, ops.take(rows, inverse), values, learning_rate)

    def update_step(self, gradient, variable, learning_rate):
        indices, values = _glue.gradient_rows(gradient)
        self.row_update(variable, indices, ops.cast(values, variable.dtype), learning_rate)

    def apply_rows(self, updates) -> None:
        """Apply ``[(variable, rows int32[n] or None, values float32[n, ...][, segments])]`` and count the step.

        ``segments`` (optional) is None, or ``(unique_rows, counts, inverse)`` of ``rows``
        (:func:`fastw2v.segments.RowSets.unique_rows`), which :meth:`unique_row_update` takes;
        with segments, ``values`` may be a tuple of consecutive parts of the occurrences.
        """
        variables = [u[0] for u in updates]
        if not self.built:
            self.build(variables)
        learning_rate = self._get_current_learning_rate()
        for variable, indices, values, *segments in updates:
            segments = segments[0] if segments else None
            if isinstance(values, (tuple, list)):
                values = tuple(ops.cast(part, variable.dtype) for part in values)
            else:
                values = ops.cast(values, variable.dtype)
            if segments is None:
                self.row_update(variable, indices, values, learning_rate)
            else:
                self.unique_row_update(variable, *segments, values, learning_rate)
        self._iterations.assign_add(1)


@keras.saving.register_keras_serializable(package="fastw2v")
class SparseSGD(RowOptimizer):
    """Sparse SGD with a choice of how a row's repeated gradients in one batch combine.

    ``duplicates="sum"`` is plain SGD (each occurrence a full per-pair step);
    ``"sqrt"`` and ``"mean"`` divide a row's summed gradient by ``sqrt(n)`` or ``n``
    for a row looked up ``n`` times, for batches so large that summing diverges.
    """

    def __init__(self, learning_rate=0.01, duplicates: str = "sum", name="sparse_sgd", **kwargs):
        if duplicates not in ("sum", "sqrt", "mean"):
            raise ValueError(f"duplicates must be 'sum', 'sqrt' or 'mean', got {duplicates!r}")
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        #: how a row's n per-pair gradients in one batch combine: "sum" (plain SGD, word2vec's
        #: per-pair steps), "sqrt" divides the sum by sqrt(n), "mean" by n
        self.duplicates = duplicates

    def get_config(self):
        return dict(super().get_config(), duplicates=self.duplicates)

    def row_update(self, variable, indices, values, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        if indices is None:
            self.assign_sub(variable, lr * values)
            return
        if self.duplicates != "sum":
            counts = ops.segment_sum(ops.ones_like(indices, variable.dtype), indices, num_segments=variable.shape[0])
            n = ops.take(counts, indices)
            values = values / (ops.sqrt(n) if self.duplicates == "sqrt" else n)[:, None]
        _glue.scatter_add(self, variable, indices, -lr * values)

    def unique_row_update(self, variable, rows, counts, inverse, values, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        sums = unique_row_sums(values, inverse, ops.shape(rows)[0])  # padding rows: 0
        if self.duplicates != "sum":
            n = ops.maximum(counts, 1.0)
            sums = sums / (ops.sqrt(n) if self.duplicates == "sqrt" else n)[:, None]
        _glue.scatter_add(self, variable, rows, -lr * sums)


@keras.saving.register_keras_serializable(package="fastw2v")
class SparseRMSprop(RowOptimizer):
    """RMSprop (Keras' rule) whose step for a row gradient touches only the batch's rows.

    A row's occurrences are summed first; its velocity and its weights then step once,
    as TF1's sparse RMSProp did. A dense gradient (the tutorial's ``Dense`` layer) is
    Keras' plain RMSprop step.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, name="sparse_rmsprop", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho = float(rho)
        self.epsilon = float(epsilon)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._velocities = [self.add_variable_from_reference(v, "velocity") for v in variables]

    def row_update(self, variable, indices, values, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        velocity = self._velocities[self._get_variable_index(variable)]
        if indices is None:
            v_new = self.rho * velocity + (1.0 - self.rho) * ops.square(values)
            self.assign(velocity, v_new)
            self.assign_sub(variable, lr * values / ops.sqrt(v_new + self.epsilon))
            return
        sums = ops.segment_sum(values, indices, num_segments=variable.shape[0])
        g = ops.take(sums, indices, axis=0)  # each occurrence carries its row's sum: duplicates write alike
        v_new = self.rho * ops.take(velocity, indices, axis=0) + (1.0 - self.rho) * ops.square(g)
        _glue.scatter_set(self, velocity, indices, v_new)
        _glue.scatter_set(self, variable, indices,
                          ops.take(variable, indices, axis=0) - lr * g / ops.sqrt(v_new + self.epsilon))

    def get_config(self):
        return dict(super().get_config(), rho=self.rho, epsilon=self.epsilon)


@keras.saving.register_keras_serializable(package="fastw2v")
class RowAdagrad(RowOptimizer):
    """Row-wise sparse Adagrad: one accumulator per embedding row, not per weight.

    A batch's gradient is first summed per row (as PyTorch's sparse Adagrad coalesces
    it); the row's accumulator grows by the mean square of that sum over the
    dimensions, and the row steps once, by ``lr * sum / (sqrt(accumulator) +
    epsilon)`` (the row-wise form of DGL's DeepWalk and PyTorch-BigGraph). The
    accumulator is a ``V``-float vector per table, ``1 / dim`` of full Adagrad's state.

    Summing first matters for large batches: a frequent word occurs many times in one
    batch, and stepping each occurrence by its own normalised gradient would move its
    row by about ``sqrt(n)`` normalised steps at once, far more than one step of
    Adagrad should. Only the batch's rows change. When a batch's
    occurrences outnumber the table's rows, the step is one dense pass over the table
    (rows not in the batch have a zero sum); otherwise each occurrence applies ``1 / n``
    of its row's step through a scatter. Given the batch's unique rows, the sums go into
    those rows and each steps once (:meth:`unique_row_update`).
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

    def row_update(self, variable, indices, values, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        acc = self._accumulators[self._get_variable_index(variable)]
        n_rows = variable.shape[0]
        if indices is None:
            indices = ops.arange(n_rows, dtype="int32")
        row_sums = ops.segment_sum(values, indices, num_segments=n_rows)  # (V, dim); rows not in the batch: 0
        acc_new = acc + ops.mean(ops.square(row_sums), axis=1)
        self.assign(acc, acc_new)
        scale = lr / (ops.sqrt(acc_new) + self.epsilon)

        def dense():
            # one pass over the table: rows not in the batch have a zero sum and do not move
            self.assign_sub(variable, row_sums * scale[:, None])

        def sparse():
            counts = ops.segment_sum(ops.ones_like(indices, variable.dtype), indices, num_segments=n_rows)
            per_occurrence = ops.take(scale, indices) / ops.take(counts, indices)
            _glue.scatter_add(self, variable, indices, -ops.take(row_sums, indices, axis=0) * per_occurrence[:, None])

        # touching every row costs less than gathering and scattering the occurrences once
        # they outnumber the rows
        _dense_or_sparse(indices, n_rows, dense, sparse)

    def unique_row_update(self, variable, rows, counts, inverse, values, learning_rate):
        # the same step, summed into the batch's unique rows instead of V rows; padding rows
        # (count 0, row 0) have a zero sum, so adding their zero step changes nothing
        lr = ops.cast(learning_rate, variable.dtype)
        acc = self._accumulators[self._get_variable_index(variable)]
        row_sums = unique_row_sums(values, inverse, ops.shape(rows)[0])  # (P, dim)
        grown = ops.mean(ops.square(row_sums), axis=1)
        scale = lr / (ops.sqrt(ops.take(acc, rows) + grown) + self.epsilon)
        _glue.scatter_add(self, acc, rows, grown)
        _glue.scatter_add(self, variable, rows, -row_sums * scale[:, None])

    def get_config(self):
        return dict(super().get_config(), epsilon=self.epsilon,
                    initial_accumulator_value=self.initial_accumulator_value)




def sgns_optimizer(name: str, learning_rate) -> keras.optimizers.Optimizer:
    """The optimizer :func:`build_sgns` compiles with: ``"adagrad"`` (:class:`RowAdagrad`) or
    ``"sgd"`` (summed sparse SGD, word2vec's per-pair steps added up over a batch)."""
    if name == "adagrad":
        return RowAdagrad(learning_rate=learning_rate)
    if name == "sgd":
        return SparseSGD(learning_rate=learning_rate)
    raise ValueError(f"optimizer must be 'adagrad' or 'sgd', got {name!r}")
