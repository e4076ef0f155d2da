"""The compiled best-first grower and the per-tree kernels around it (issue 17, small data).

The grower now routes the honest held-out rows with its partition and sums in compiled code; these
tests pin each replacement to what it replaced: numpy's sums, the mask-then-split of the held-out rows,
and the node statistics of rows walked down the finished tree.
"""

import heapq

import numpy as np
import pytest

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
from shrinktree._shrinkage import effective_tests_table
from shrinktree.boosting.best_first import next_candidate
from shrinktree.boosting.binning import BinMapper
from shrinktree.boosting.grower import TreeGrower, threshold_table
from shrinktree.boosting.honest import held_node_statistics, held_out_mask, honest_split, row_hashes, split_rows
from shrinktree.boosting.numpy_sum import pairwise_sum, pairwise_sum_of
from shrinktree.boosting.partition import row_index_dtype
from shrinktree.boosting.predictor import node_statistics


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 127, 128, 129, 255, 256, 1000, 4099, 70_001])
def test_pairwise_sum_is_numpy_sum_bit_for_bit(n):
    rng = np.random.default_rng(n)
    values = rng.normal(size=n) * 10.0 ** rng.integers(-6, 7, size=n)
    assert pairwise_sum(values) == np.sum(values)
    rows = np.sort(rng.choice(max(n, 1), size=n // 3, replace=False)).astype(np.int64) if n else np.zeros(0, np.int64)
    assert pairwise_sum_of(values, rows) == np.sum(values[rows])


def test_pairwise_sum_of_cancelling_values_differs_from_a_plain_loop():
    # The order matters: a left-to-right sum of these gives another float than numpy's pairwise order.
    values = np.array([1e16, 1.0, -1e16, 1.0] * 40)
    plain = 0.0
    for v in values:
        plain += v
    assert plain != np.sum(values)
    assert pairwise_sum(values) == np.sum(values)


@pytest.mark.parametrize("alternate", [False, True])
@pytest.mark.parametrize("subsample", [False, True])
def test_honest_split_matches_mask_then_split(alternate, subsample):
    rng = np.random.default_rng(3)
    binned = rng.integers(0, 20, size=(4, 3_000)).astype(np.uint8)
    hashes = row_hashes(binned, np.zeros((0, 3_000), dtype=np.int32), rng.normal(size=3_000), 255)
    rows = np.sort(rng.choice(3_000, 2_000, replace=False)).astype(np.int64) if subsample else None
    for iteration in range(4):
        flip = alternate and iteration % 2 == 1
        mask = held_out_mask(hashes, iteration - 1 if flip else iteration, 11, 0.4)
        expected = split_rows(~mask if flip else mask, rows)
        got = honest_split(hashes, rows, iteration, 11, 0.4, alternate)
        assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
        assert got[0].dtype == np.int32 and got[1].dtype == np.int32  # 3,000 rows: int32 indices


def _grown_with_held_rows(n_rows=1_500, max_leaf_nodes=15, partition_held_in_place=False):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(n_rows, 5))
    X[rng.random(X.shape) < 0.05] = np.nan
    mapper = BinMapper(255, random_state=0).fit(X)
    binned = mapper.transform(X)
    gradients = rng.normal(size=n_rows) + X[:, 0].clip(-2, 2)
    gradients[np.isnan(gradients)] = 0.0
    hessians = rng.uniform(0.5, 1.5, size=n_rows)
    weight = np.ones(n_rows)
    held = rng.random(n_rows) < 0.5
    # int32, as honest_split gives them (partition.row_index_dtype): the grower partitions them without a copy.
    grow_rows, held_rows = np.flatnonzero(~held).astype(np.int32), np.flatnonzero(held).astype(np.int32)
    has_missing = np.array([bool((row == mapper.missing_bin_).any()) for row in binned])
    grown = TreeGrower(binned, gradients, hessians, weight, grow_rows, mapper.n_bins_non_missing_, has_missing,
                       mapper.missing_bin_, np.ones(5, dtype=bool), effective_tests_table(256),
                       max_leaf_nodes=max_leaf_nodes, held_indices=held_rows,
                       partition_held_in_place=partition_held_in_place).grow()
    return grown, binned, mapper, gradients, hessians, weight, held_rows


def test_held_out_rows_land_in_the_leaf_a_walk_down_the_tree_finds(walk_leaves):
    grown, binned, mapper, gradients, hessians, weight, held_rows = _grown_with_held_rows()
    walked = walk_leaves(binned, np.zeros((0, binned.shape[1]), dtype=np.int32), held_rows, grown.left,
                           grown.right, grown.feature, grown.is_categorical, grown.bin_threshold, grown.missing_left,
                           mapper.missing_bin_, np.zeros(0, dtype=np.int64), grown.cat_offset, grown.cat_bitset)
    leaf_of = dict(zip(held_rows.tolist(), walked.tolist()))
    for leaf, start, stop in zip(grown.leaf_nodes, grown.held_leaf_start, grown.held_leaf_stop):
        run = grown.held_indices[start:stop]
        assert all(leaf_of[row] == leaf for row in run.tolist())
        assert np.all(np.diff(run) > 0)  # the partition is stable: each leaf's rows in their original order
    assert sorted(grown.held_indices.tolist()) == held_rows.tolist()
    expected = node_statistics(held_rows, walked, grown.parent, gradients, hessians, weight)
    got = held_node_statistics(grown.held_indices, grown.leaf_nodes, grown.held_leaf_start, grown.held_leaf_stop,
                               grown.parent, gradients, hessians, weight)
    assert np.array_equal(got, expected)


def test_the_grower_leaves_the_callers_held_out_rows_alone():
    grown, *_, held_rows = _grown_with_held_rows()
    assert np.all(np.diff(held_rows) > 0)
    assert grown.held_indices is not held_rows


def test_held_out_rows_partitioned_in_place_give_the_same_tree():
    copied, *_ = _grown_with_held_rows()
    in_place, *_, held_rows = _grown_with_held_rows(partition_held_in_place=True)
    assert in_place.held_indices is held_rows  # no copy: the caller's array is the partition
    assert np.array_equal(in_place.held_indices, copied.held_indices)
    for name in ("left", "feature", "bin_threshold", "held_leaf_start", "held_leaf_stop", "sum_gradients"):
        assert np.array_equal(getattr(in_place, name), getattr(copied, name))


def test_row_indices_are_int32_while_every_row_fits():
    assert row_index_dtype(2**31 - 1) is np.int32
    assert row_index_dtype(2**31) is np.int64
    grown, *_ = _grown_with_held_rows()
    assert grown.sample_indices.dtype == np.int32 and grown.held_indices.dtype == np.int32


def test_a_tree_stops_at_max_leaf_nodes():
    grown, *_ = _grown_with_held_rows(max_leaf_nodes=9)
    assert len(grown.leaf_nodes) == 9
    assert len(grown.left) == 17


def test_threshold_table_is_bin_thresholds():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=300), rng.integers(0, 4, size=300).astype(float)])
    mapper = BinMapper(255, random_state=0).fit(X)
    table = threshold_table(mapper)
    for f in range(2):
        for b in range(int(mapper.n_bins_non_missing_[f])):
            assert table[f, b] == mapper.bin_thresholds(f, b)


@pytest.mark.parametrize("estimator", [ShrinkBoostRegressor, ShrinkBoostClassifier])
def test_multiclass_and_plain_fits_are_repeatable(estimator):
    # The grower partitions row arrays in place: fitting twice must give the same model.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 4))
    y = X[:, 0] + rng.normal(size=600) if estimator is ShrinkBoostRegressor else rng.integers(0, 3, size=600)
    first = estimator(n_estimators=15, random_state=0).fit(X, y)
    second = estimator(n_estimators=15, random_state=0).fit(X, y)
    assert np.array_equal(first.predict(X), second.predict(X))


def test_next_candidate_pops_in_the_order_of_a_heap_on_minus_gain_and_node_id():
    rng = np.random.default_rng(3)
    for _ in range(200):
        n_nodes = int(rng.integers(1, 40))
        gains = rng.integers(1, 4, size=n_nodes).astype(np.float64)  # few values: many ties
        candidates = rng.permutation(n_nodes).astype(np.int64)
        heap = [(-gains[node], int(node)) for node in candidates]
        heapq.heapify(heap)
        n = n_nodes
        while n:
            best = next_candidate(candidates, n, gains)
            assert candidates[best] == heapq.heappop(heap)[1]
            n -= 1
            candidates[best] = candidates[n]


def _sums_run_by_run(held_indices, leaf_nodes, leaf_start, leaf_stop, parent, gradients, hessians, weight):
    # The definition: each leaf adds its run's rows in the run's order, then children are added to parents.
    out = np.zeros((len(parent), 6))
    for node, start, stop in zip(leaf_nodes, leaf_start, leaf_stop):
        for i in held_indices[start:stop]:
            g, h, w = gradients[i], hessians[i], weight[i]
            inv_w = 1.0 / w if w > 0 else 0.0
            for c, term in enumerate((g, h, w, g * g * inv_w, g * h * inv_w, h * h * inv_w)):
                out[node, c] += term
    for node in range(len(parent) - 1, 0, -1):
        out[parent[node]] += out[node]
    return out


@pytest.mark.parametrize("increasing", [True, False])
def test_held_node_statistics_add_each_leafs_rows_in_their_order(increasing):
    grown, _, _, gradients, hessians, _, _ = _grown_with_held_rows()
    weight = np.random.default_rng(1).integers(0, 3, size=len(gradients)).astype(np.float64)
    held = grown.held_indices.copy()
    if not increasing:  # the row-order pass does not apply: every run is summed in its own order
        for start, stop in zip(grown.held_leaf_start, grown.held_leaf_stop):
            held[start:stop] = held[start:stop][::-1]
    args = (held, grown.leaf_nodes, grown.held_leaf_start, grown.held_leaf_stop, grown.parent, gradients, hessians,
            weight)
    assert np.array_equal(held_node_statistics(*args), _sums_run_by_run(*args))


@pytest.mark.parametrize("increasing", [True, False])
def test_held_node_statistics_of_many_rows_sum_as_the_runs_do(increasing):
    # From ROW_ORDER_MIN_ROWS rows on, increasing runs are summed by one pass in row order: the same sums.
    from shrinktree.boosting.honest import ROW_ORDER_MIN_ROWS

    rng = np.random.default_rng(3)
    n = ROW_ORDER_MIN_ROWS + 1000
    gradients, hessians = rng.normal(size=n), rng.random(n)
    weight = rng.integers(0, 3, size=n).astype(np.float64)
    held = np.flatnonzero(rng.random(n) < 0.3).astype(np.int32)
    parent = np.array([-1, 0, 0, 1, 1], dtype=np.int32)
    leaf_nodes = np.array([3, 4, 2], dtype=np.int64)
    cuts = np.sort(rng.choice(np.arange(1, len(held)), 2, replace=False))
    # Rows dealt to the leaves as runs of the sorted rows: each run increases.
    runs = np.split(held, cuts)
    held = np.concatenate(runs if increasing else [run[::-1] for run in runs])
    leaf_start = np.array([0, cuts[0], cuts[1]], dtype=np.int64)
    leaf_stop = np.array([cuts[0], cuts[1], len(held)], dtype=np.int64)
    args = (held, leaf_nodes, leaf_start, leaf_stop, parent, gradients, hessians, weight)
    assert np.array_equal(held_node_statistics(*args), _sums_run_by_run(*args))


def test_the_missing_bin_hashes_alike_wherever_the_binning_puts_it():
    # The binning puts NaN in the bin after the widest feature's last, which depends on the other columns;
    # a row's side of the honest split must not.
    rng = np.random.default_rng(3)
    binned = rng.integers(0, 6, size=(3, 500)).astype(np.uint8)
    nan_rows = rng.random((3, 500)) < 0.2
    compact, wide = binned.copy(), binned.copy()
    compact[nan_rows], wide[nan_rows] = 6, 255
    y = rng.normal(size=500)
    no_codes = np.zeros((0, 500), dtype=np.int32)
    assert np.array_equal(row_hashes(compact, no_codes, y, 6), row_hashes(wide, no_codes, y, 255))
    assert not np.array_equal(row_hashes(compact, no_codes, y, 6), row_hashes(compact, no_codes, y, 255))


def test_the_missing_bin_follows_the_widest_feature():
    X = np.column_stack([np.arange(200) % 3, np.arange(200) % 7, np.where(np.arange(200) % 5 == 0, np.nan, 1.0)])
    mapper = BinMapper(255).fit(X.astype(np.float64))
    assert mapper.n_bins_non_missing_.tolist() == [3, 7, 1]
    assert mapper.missing_bin_ == 7
    binned = mapper.transform(X.astype(np.float64))
    assert binned[2, 0] == 7 and binned[2, 1] == 0 and binned.max() == 7
