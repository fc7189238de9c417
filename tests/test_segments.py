"""The batch's unique rows per table (fastw2v.segments) against the sorting reference."""

from __future__ import annotations

import numpy as np
import pytest

import naive
from fastw2v.segments import RowSets, out_occurrences, padded_size, sgns_segments


def check_against_reference(sets, ids, multiple_of=1):
    rows, counts, inverse = sets.unique_rows(ids, multiple_of)
    distinct, ref_counts, ref_inverse = naive.unique_rows(ids)
    u = len(distinct)
    assert rows.dtype == np.int32 and counts.dtype == np.float32 and inverse.dtype == np.int32
    assert rows[:u].tolist() == distinct and counts[:u].tolist() == ref_counts
    assert inverse.tolist() == ref_inverse
    # padding: row 0 and count 0, to a short list of sizes at most 25% (or 4 rows) over
    assert np.all(rows[u:] == 0) and np.all(counts[u:] == 0)
    assert rows.shape[0] == padded_size(u) + (-padded_size(u) % multiple_of)
    assert rows.shape[0] % multiple_of == 0
    return u


@pytest.mark.parametrize("n_rows, n, seed", [(1, 5, 0), (7, 1, 1), (50, 200, 2), (1000, 300, 3), (70_000, 65_536, 4)])
def test_unique_rows_match_the_reference(n_rows, n, seed):
    rng = np.random.default_rng(seed)
    sets = RowSets(n_rows)
    # a Zipf-like draw, so some rows repeat many times and most not at all
    ids = np.minimum(rng.zipf(1.3, n) - 1, n_rows - 1).astype(np.int32)
    check_against_reference(sets, ids)
    # the scratch is left clean: a second, different batch is as right as the first
    check_against_reference(sets, rng.integers(0, n_rows, n).astype(np.int32), multiple_of=3)


def test_the_edges_of_a_table_and_an_empty_batch():
    sets = RowSets(10)
    assert check_against_reference(sets, np.array([9, 0, 9, 0], np.int32)) == 2
    rows, counts, inverse = sets.unique_rows(np.zeros(0, np.int32))
    assert inverse.shape == (0,) and np.all(counts == 0)


def test_padded_sizes_are_few_and_tight():
    sizes = [padded_size(n) for n in range(1, 100_000)]
    assert all(s >= n for n, s in zip(range(1, 100_000), sizes))
    assert all(s <= max(4, 1.25 * n) for n, s in zip(range(1, 100_000), sizes))
    assert len(set(sizes)) <= 4 * 17 + 1  # four per octave


def test_bad_ids_are_refused_and_leave_the_scratch_clean():
    sets = RowSets(5)
    with pytest.raises(ValueError, match="row id 5 is outside the table's 5 rows"):
        sets.unique_rows(np.array([1, 2, 5], np.int32))
    with pytest.raises(ValueError, match="row id -1"):
        sets.unique_rows(np.array([3, -1], np.int64))
    with pytest.raises(ValueError, match="row id 4294967297 is outside"):  # not wrapped to row 1 by a cast
        sets.unique_rows(np.array([2, 2 ** 32 + 1], np.int64))
    with pytest.raises(ValueError, match="1-D integer"):
        sets.unique_rows(np.array([[1, 2]], np.int32))
    with pytest.raises(ValueError, match="1-D integer"):
        sets.unique_rows(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="at least one row"):
        RowSets(0)
    check_against_reference(sets, np.array([1, 2, 1, 4], np.int32))


@pytest.mark.parametrize("group", [1, 3])
def test_sgns_segments_cover_both_tables(group):
    rng = np.random.default_rng(5)
    t = rng.integers(0, 40, 10).astype(np.int32)
    c = rng.integers(0, 40, (10, 4)).astype(np.int32)
    x = sgns_segments(RowSets(40), t, c, group, 3)
    assert len(x) == 8 and x[0] is t and x[1] is c
    occ = out_occurrences(c, group, 3)
    expect = 10 + 4 * 3 if group == 3 else 40  # ceil(10 / 3) groups of 3 noise words
    assert occ.shape == (expect,)
    np.testing.assert_array_equal(x[2][x[4]], t)
    np.testing.assert_array_equal(x[5][x[7]], occ)
