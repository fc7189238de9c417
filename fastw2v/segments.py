"""A batch's unique rows per embedding table, computed by the feed for the Keras step.

A large ``sgns`` batch looks up far fewer distinct rows of each table than it has
occurrences, because frequent words repeat across its rows. Row-wise Adagrad sums each row's
gradients over the batch before it steps, so the step only needs those sums: summing
into the batch's own unique rows, and stepping only them, moves a fraction of the
memory that summing into a ``V x dim`` buffer and passing over the table does.

:meth:`RowSets.unique_rows` gives, for one table's occurrences, the sorted unique
rows, each row's count and each occurrence's index into them (an inverse index), in
one ``O(n + V)`` Numba pass. The unique rows are padded to a size from a short list
(:func:`padded_size`, at most 25% over), so that a compiled step (XLA's static
shapes) meets few distinct shapes; padding rows have count 0, carry a zero sum and
point at row 0. :func:`sgns_segments` does it for both tables of an ``sgns`` batch,
in the order the model's step lists its output-row occurrences
(:func:`out_occurrences`).

A batch may also be padded with whole rows, so that an epoch's short last batch has
the shape of the others and the step is not compiled again for it (:func:`pad_rows`);
those rows' occurrences point at a padding row, and the step masks their pairs. Such a
batch has fewer unique rows than a full one, so :class:`StepShapes` gives it the
smallest unique-row sizes of a step already made that hold them, rather than sizes of
its own, which would be compiled anew.

Kernels here import NumPy and Numba only.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import numpy as np
from numba import njit

from .constants import PAD_ID


def pad_rows(targets: np.ndarray, contexts: np.ndarray, n_rows: int) -> tuple:
    """``(targets, contexts)`` with padding rows appended up to ``n_rows`` rows: rows whose every
    id is :data:`~fastw2v.constants.PAD_ID`.

    A padding row trains nothing: :func:`fastw2v.keras_models.shared_negative_gradients`
    masks a row whose positive context is :data:`~fastw2v.constants.PAD_ID`, and
    :meth:`RowSets.unique_rows` (with ``padding=True``) counts none of its occurrences.
    """
    n = targets.shape[0]
    if n > n_rows:
        raise ValueError(f"a batch of {n} rows cannot be padded to {n_rows}")
    if n == n_rows:
        return targets, contexts
    pad = n_rows - n
    targets = np.concatenate([targets, np.full(pad, PAD_ID, targets.dtype)])
    contexts = np.concatenate([contexts, np.full((pad,) + contexts.shape[1:], PAD_ID, contexts.dtype)])
    return targets, contexts


def padded_size(n: int) -> int:
    """The smallest ``m * 2**e >= n`` with ``m`` in 4..7 (four sizes per octave), at least 4."""
    n = max(int(n), 4)
    e = max(0, n.bit_length() - 3)
    return ((n + (1 << e) - 1) >> e) << e


@njit(nogil=True, cache=True)
def _unique_rows(ids, n_rows, mark, rows, counts, inverse, padding):
    """Fill ``rows`` (sorted unique ids), ``counts`` and ``inverse``; return the unique count, or -1
    if an id lies outside ``[0, n_rows)`` (and is not :data:`~fastw2v.constants.PAD_ID` where ``padding``).

    ``ids`` int32[n]; ``mark`` int32[n_rows], all zero on entry and on return;
    ``rows`` int32[P] and ``counts`` float32[P] (P more than the unique count where a
    padding id occurs, else at least it), zero on entry; ``inverse`` int32[n]. A padding
    id is not counted, and its inverse is the unique count: the first padding row.
    """
    n = ids.shape[0]
    for i in range(n):
        r = ids[i]
        if padding and r == PAD_ID:
            continue
        if r < 0 or r >= n_rows:
            for j in range(i):  # leave the scratch clean
                if ids[j] >= 0:
                    mark[ids[j]] = 0
            return -1
        mark[r] += 1
    u = 0
    for r in range(n_rows):  # ascending: the unique rows come out sorted
        c = mark[r]
        if c:
            rows[u] = r
            counts[u] = c
            mark[r] = u + 1  # now the row's place, plus one
            u += 1
    for i in range(n):
        r = ids[i]
        inverse[i] = u if r == PAD_ID else mark[r] - 1
    for j in range(u):
        mark[rows[j]] = 0
    return u


class RowSets:
    """Reusable scratch for :meth:`unique_rows` on tables of ``n_rows`` rows (one per thread)."""

    def __init__(self, n_rows: int) -> None:
        if int(n_rows) < 1:
            raise ValueError(f"a table needs at least one row, got {n_rows!r}")
        self.n_rows = int(n_rows)
        self._mark = np.zeros(self.n_rows, np.int32)

    def unique_rows(self, ids, multiple_of: int = 1, padding: bool = False):
        """``(rows int32[P], counts float32[P], inverse int32[n])`` of the occurrences ``ids``.

        ``rows[:u]`` are the distinct ids in ascending order and ``counts[:u]`` how often
        each occurs; ``rows[inverse] == ids``. ``P = padded_size(u)`` rounded up to a
        multiple of ``multiple_of``; the padding has row 0 and count 0. With ``padding``,
        an id :data:`~fastw2v.constants.PAD_ID` is a padding occurrence: it is not counted, and
        its inverse is ``u``, a padding row (``P`` is sized for ``u + 1`` rows where one occurs).

        Raises
        ------
        ValueError
            ``ids`` is not one-dimensional integer, or holds an id outside ``[0, n_rows)``
            (other than a padding id, with ``padding``).
        """
        ids = np.asarray(ids)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"ids must be a 1-D integer array, got {ids.dtype} of shape {ids.shape}")
        low = PAD_ID if padding else 0
        if ids.dtype != np.int32 and ids.size and (ids.min() < low or ids.max() >= self.n_rows):
            self._refuse(ids, padding)  # before the cast to int32, which would wrap a large id into range
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        # sized for the most rows the batch can have; the result is its first P entries
        multiple_of = int(multiple_of)
        capacity = self._padded(min(ids.shape[0], self.n_rows + 1), multiple_of)
        rows = np.zeros(capacity, np.int32)
        counts = np.zeros(capacity, np.float32)
        inverse = np.empty(ids.shape[0], np.int32)
        u = _unique_rows(ids, self.n_rows, self._mark, rows, counts, inverse, bool(padding))
        if u < 0:
            self._refuse(ids, padding)
        # a padding occurrence needs a padding row to point at
        padded = bool(padding) and ids.size > 0 and bool(np.any(ids == PAD_ID))
        size = self._padded(u + 1 if padded else u, multiple_of)
        return rows[:size], counts[:size], inverse

    @staticmethod
    def _padded(n: int, multiple_of: int) -> int:
        size = padded_size(n)
        return size + -size % multiple_of

    def _refuse(self, ids, padding: bool = False):
        bad = ids[((ids < 0) & ~((ids == PAD_ID) & padding)) | (ids >= self.n_rows)][0]
        raise ValueError(f"row id {int(bad)} is outside the table's {self.n_rows} rows")


def out_occurrences(contexts: np.ndarray, group: int, negative: int) -> np.ndarray:
    """The output-table rows an ``sgns`` step looks up, in the order its gradient lists them.

    With shared negatives (``group`` > 1 and ``negative`` > 0): every row's positive,
    then each group's first row's noise words (``contexts[::group, 1:]``, row-major), as
    :func:`fastw2v.keras_models.shared_negative_gradients` returns them; otherwise
    ``contexts`` flattened, as :func:`fastw2v.keras_models.sgns_gradients` does.
    """
    if group > 1 and negative > 0:
        return np.concatenate([contexts[:, 0], contexts[::group, 1:].ravel()])
    return contexts.ravel()


class StepShapes:
    """The unique-row sizes ``(input table's, output table's)`` of the steps made so far.

    XLA compiles a step for each pair of sizes it meets. :meth:`fit` gives a batch whose
    own pair is new the smallest pair already made that holds both its tables' unique
    rows (more padding rows, which cost little), and makes a new pair only where none
    does. Keep one for a run's batches (one feed thread at a time).
    """

    def __init__(self) -> None:
        self.made = set()

    def fit(self, in_sets: tuple, out_sets: tuple) -> tuple:
        """``(in_sets, out_sets)`` (each :meth:`RowSets.unique_rows`' triple), with more
        padding rows (row 0, count 0) where a pair already made holds them."""
        need = (in_sets[0].shape[0], out_sets[0].shape[0])
        if need in self.made:
            return in_sets, out_sets
        holding = [p for p in self.made if p[0] >= need[0] and p[1] >= need[1]]
        if not holding:
            self.made.add(need)
            return in_sets, out_sets
        size_in, size_out = min(holding, key=sum)
        return _grown(in_sets, size_in), _grown(out_sets, size_out)


def _grown(sets: tuple, size: int) -> tuple:
    rows, counts, inverse = sets
    pad = size - rows.shape[0]
    return (np.concatenate([rows, np.zeros(pad, rows.dtype)]), np.concatenate([counts, np.zeros(pad, counts.dtype)]),
            inverse)


class SGNSBatch(NamedTuple):
    """One batch of the Keras ``sgns`` step, by name.

    The backends' data pipelines carry it as the plain tuple of its fields (``tuple(batch)``:
    the first two alone for a batch without unique rows), and the step reads it back with
    ``SGNSBatch(*x)``. Arrays of ``B`` rows, ``k`` negatives, and ``U_in`` / ``U_out``
    unique rows of the input and output tables.
    """

    #: int32[B]: each row's centre word (``PAD_ID`` for a padding row)
    targets: Any
    #: int32[B, 1 + k]: its positive context, then its negatives (or its group's)
    contexts: Any
    #: int32[U_in]: the input table's unique rows in this batch, padded with row 0
    in_rows: Any = None
    #: float32[U_in]: how often each occurs (0 for the padding rows)
    in_counts: Any = None
    #: int32[B]: each target's index in ``in_rows``
    in_inverse: Any = None
    #: int32[U_out]: the output table's unique rows in this batch
    out_rows: Any = None
    #: float32[U_out]: how often each occurs
    out_counts: Any = None
    #: int32[occurrences]: each output occurrence's index in ``out_rows``
    #: (:func:`out_occurrences` gives the occurrences' order)
    out_inverse: Any = None

    @property
    def has_unique_rows(self) -> bool:
        """Whether the batch carries each table's unique rows (:func:`sgns_segments`)."""
        return self.in_rows is not None

    @property
    def in_sets(self) -> Optional[tuple]:
        """``(rows, counts, inverse)`` of the input table, or None."""
        return (self.in_rows, self.in_counts, self.in_inverse) if self.has_unique_rows else None

    @property
    def out_sets(self) -> Optional[tuple]:
        """``(rows, counts, inverse)`` of the output table, or None."""
        return (self.out_rows, self.out_counts, self.out_inverse) if self.has_unique_rows else None

    def fields(self) -> tuple:
        """The plain tuple a backend's pipeline carries: every field, or the first two."""
        return tuple(self) if self.has_unique_rows else (self.targets, self.contexts)


def sgns_segments(sets: RowSets, targets: np.ndarray, contexts: np.ndarray, group: int, negative: int,
                  multiple_of: int = 1, padding: bool = False, shapes: Optional[StepShapes] = None) -> SGNSBatch:
    """The ``sgns`` step's input with each table's unique rows (:class:`SGNSBatch`); with
    ``padding``, the batch may end in padding rows (:func:`pad_rows`); with ``shapes``, the
    unique rows are sized by :meth:`StepShapes.fit`."""
    in_sets = sets.unique_rows(targets, multiple_of, padding)
    out_sets = sets.unique_rows(out_occurrences(contexts, group, negative), multiple_of, padding)
    if shapes is not None:
        in_sets, out_sets = shapes.fit(in_sets, out_sets)
    return SGNSBatch(targets, contexts, *in_sets, *out_sets)
