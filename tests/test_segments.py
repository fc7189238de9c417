"""The batch's unique rows per table (fastw2v.segments) against the sorting reference."""

from __future__ import annotations

import numpy as np
import pytest

import naive
from fastw2v.constants import PAD_ID
from fastw2v.segments import RowSets, StepShapes, out_occurrences, pad_rows, padded_size, sgns_segments


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
    with pytest.raises(ValueError, match="row id -2"):  # padding takes PAD_ID alone
        sets.unique_rows(np.array([3, PAD_ID, -2], np.int32), padding=True)
    with pytest.raises(ValueError, match="row id 7"):
        sets.unique_rows(np.array([PAD_ID, 7], np.int64), padding=True)
    check_against_reference(sets, np.array([1, 2, 1, 4], np.int32))


@pytest.mark.parametrize("n_rows, seed", [(4, 0), (50, 1), (70_000, 2)])
def test_padding_occurrences_point_at_a_padding_row(n_rows, seed):
    """With padding, a PAD_ID occurrence is not counted and points at a padding row (row 0,
    count 0) past the unique rows, which are the reference's for the other occurrences;
    there is such a row even where the unique rows fill a padded size exactly."""
    rng = np.random.default_rng(seed)
    sets = RowSets(n_rows)
    for n in (1, 4, 37, 5000):
        ids = np.minimum(rng.zipf(1.3, n) - 1, n_rows - 1).astype(np.int32)
        pad = rng.random(n) < 0.3
        pad[0] = n > 1  # a padding occurrence first, and real ones after it
        ids[pad] = PAD_ID
        rows, counts, inverse = sets.unique_rows(ids, padding=True)
        real = ids[ids != PAD_ID]
        distinct, ref_counts, ref_inverse = naive.unique_rows(real)
        u = len(distinct)
        assert rows[:u].tolist() == distinct and counts[:u].tolist() == ref_counts
        assert inverse[ids != PAD_ID].tolist() == ref_inverse
        assert np.all(inverse[ids == PAD_ID] == u) and np.all(rows[u:] == 0) and np.all(counts[u:] == 0)
        assert rows.shape[0] == (padded_size(u + 1) if np.any(pad) else padded_size(u))
    # 4 unique rows fill padded_size(4) exactly: a padding occurrence makes room for one more
    rows, counts, inverse = sets.unique_rows(np.append(np.arange(4) % n_rows, PAD_ID).astype(np.int32), padding=True)
    u = len(set(np.arange(4) % n_rows))
    assert inverse[-1] == u and rows.shape[0] == padded_size(u + 1) > u and counts[u] == 0
    # without any padding occurrence, the sizes are padding=False's
    ids = rng.integers(0, n_rows, 64).astype(np.int32)
    for a, b in zip(sets.unique_rows(ids, padding=True), sets.unique_rows(ids)):
        np.testing.assert_array_equal(a, b)


def test_pad_rows_appends_padding_rows():
    t = np.array([3, 1], np.int32)
    c = np.array([[1, 2, 0], [0, 3, 3]], np.int32)
    pt, pc = pad_rows(t, c, 5)
    assert pt.dtype == t.dtype and pc.dtype == c.dtype and pt.shape == (5,) and pc.shape == (5, 3)
    np.testing.assert_array_equal(pt[:2], t)
    np.testing.assert_array_equal(pc[:2], c)
    assert np.all(pt[2:] == PAD_ID) and np.all(pc[2:] == PAD_ID)
    assert pad_rows(t, c, 2)[0] is t
    with pytest.raises(ValueError, match="2 rows cannot be padded to 1"):
        pad_rows(t, c, 1)


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
    # a batch padded to 16 rows: the real rows' occurrences as before, the padding's at a padding row
    pt, pc = pad_rows(t, c, 16)
    y = sgns_segments(RowSets(40), pt, pc, group, 3, padding=True)
    pocc = out_occurrences(pc, group, 3)
    for ids, rows, counts, inverse in ((pt, y[2], y[3], y[4]), (pocc, y[5], y[6], y[7])):
        real = ids != PAD_ID
        np.testing.assert_array_equal(rows[inverse[real]], ids[real])
        assert np.all(counts[inverse[~real]] == 0) and counts.sum() == real.sum()


def test_step_shapes_reuse_the_smallest_pair_made_that_holds_a_batch():
    """A batch whose unique-row sizes are new takes the smallest pair of sizes already made
    that holds both its tables (its arrays grown with padding rows: row 0, count 0, the
    inverse unchanged); one that no pair holds makes a new pair."""
    rng = np.random.default_rng(3)
    sets, shapes = RowSets(500), StepShapes()

    def batch(n_in, n_out):  # occurrences of n_in and n_out distinct rows
        return (sets.unique_rows(rng.permutation(500)[:n_in].astype(np.int32)),
                sets.unique_rows(rng.permutation(500)[:n_out].astype(np.int32)))

    def sizes(pair):
        return pair[0][0].shape[0], pair[1][0].shape[0]

    first = batch(40, 90)
    assert sizes(shapes.fit(*first)) == sizes(first) == (padded_size(40), padded_size(90))
    big = batch(100, 60)  # no pair made holds it: a new one
    assert sizes(shapes.fit(*big)) == (padded_size(100), padded_size(60))
    assert shapes.made == {(padded_size(40), padded_size(90)), (padded_size(100), padded_size(60))}
    small = batch(10, 20)  # both pairs hold it: the smaller, the first
    grown = shapes.fit(*small)
    assert sizes(grown) == sizes(first)
    for (rows, counts, inverse), (r0, c0, i0) in zip(grown, small):
        u = r0.shape[0]
        np.testing.assert_array_equal(rows[:u], r0)
        np.testing.assert_array_equal(counts[:u], c0)
        assert np.all(rows[u:] == 0) and np.all(counts[u:] == 0) and inverse is i0
    mixed = batch(90, 30)  # only the second pair holds its input table
    assert sizes(shapes.fit(*mixed)) == (padded_size(100), padded_size(60))
    assert len(shapes.made) == 2
    again = batch(40, 90)  # a pair made: as it is
    assert sizes(shapes.fit(*again)) == sizes(first) and len(shapes.made) == 2
