"""A batch's unique rows per embedding table, computed by the feed for the Keras step.

A large ``sgns`` batch looks up far fewer distinct rows of each table than it has
occurrences (the README gives the counts on wiki8). Row-wise Adagrad sums each row's
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

Kernels here import NumPy and Numba only.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def padded_size(n: int) -> int:
    """The smallest ``m * 2**e >= n`` with ``m`` in 4..7 (four sizes per octave), at least 4."""
    n = max(int(n), 4)
    e = max(0, n.bit_length() - 3)
    return ((n + (1 << e) - 1) >> e) << e


@njit(nogil=True, cache=True)
def _unique_rows(ids, n_rows, mark, rows, counts, inverse):
    """Fill ``rows`` (sorted unique ids), ``counts`` and ``inverse``; return the unique count, or -1
    if an id lies outside ``[0, n_rows)``.

    ``ids`` int32[n]; ``mark`` int32[n_rows], all zero on entry and on return;
    ``rows`` int32[P] and ``counts`` float32[P] (P at least the unique count), zero on
    entry; ``inverse`` int32[n].
    """
    n = ids.shape[0]
    for i in range(n):
        r = ids[i]
        if r < 0 or r >= n_rows:
            for j in range(i):  # leave the scratch clean
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
        inverse[i] = mark[ids[i]] - 1
    for j in range(u):
        mark[rows[j]] = 0
    return u


class RowSets:
    """Reusable scratch for :func:`unique_rows` on tables of ``n_rows`` rows (one per thread)."""

    def __init__(self, n_rows: int) -> None:
        if int(n_rows) < 1:
            raise ValueError(f"a table needs at least one row, got {n_rows!r}")
        self.n_rows = int(n_rows)
        self._mark = np.zeros(self.n_rows, np.int32)

    def unique_rows(self, ids, multiple_of: int = 1):
        """``(rows int32[P], counts float32[P], inverse int32[n])`` of the occurrences ``ids``.

        ``rows[:u]`` are the distinct ids in ascending order and ``counts[:u]`` how often
        each occurs; ``rows[inverse] == ids``. ``P = padded_size(n)`` rounded up to a
        multiple of ``multiple_of``; the padding has row 0 and count 0.

        Raises
        ------
        ValueError
            ``ids`` is not one-dimensional integer, or holds an id outside ``[0, n_rows)``.
        """
        ids = np.asarray(ids)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"ids must be a 1-D integer array, got {ids.dtype} of shape {ids.shape}")
        ids = np.ascontiguousarray(ids, dtype=np.int32) if ids.dtype != np.int32 else np.ascontiguousarray(ids)
        # the unique count is at most min(n, n_rows); size the padding for the worst case first
        bound = min(ids.shape[0], self.n_rows)
        rows = np.zeros(max(bound, 1), np.int32)
        counts = np.zeros(max(bound, 1), np.float32)
        inverse = np.empty(ids.shape[0], np.int32)
        u = _unique_rows(ids, self.n_rows, self._mark, rows, counts, inverse)
        if u < 0:
            bad = ids[(ids < 0) | (ids >= self.n_rows)][0]
            raise ValueError(f"row id {int(bad)} is outside the table's {self.n_rows} rows")
        size = padded_size(u)
        size += -size % int(multiple_of)
        out_rows = np.zeros(size, np.int32)
        out_counts = np.zeros(size, np.float32)
        out_rows[:u] = rows[:u]
        out_counts[:u] = counts[:u]
        return out_rows, out_counts, inverse


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


def sgns_segments(sets: RowSets, targets: np.ndarray, contexts: np.ndarray, group: int, negative: int,
                  multiple_of: int = 1) -> tuple:
    """The ``sgns`` step's input with unique rows: ``(targets, contexts, in_rows, in_counts,
    in_inverse, out_rows, out_counts, out_inverse)``."""
    in_sets = sets.unique_rows(targets, multiple_of)
    out_sets = sets.unique_rows(out_occurrences(contexts, group, negative), multiple_of)
    return (targets, contexts) + in_sets + out_sets
