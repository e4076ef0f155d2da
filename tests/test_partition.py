"""The chunked parallel row partition is the serial stable partition."""

import numba
import numpy as np
import pytest

from shrinktree.boosting import partition


def _node(seed):
    rng = np.random.default_rng(seed)
    column = rng.integers(0, 256, size=5000).astype(np.uint8)
    column[rng.random(5000) < 0.1] = 255  # the missing bin
    indices = np.arange(5000, dtype=np.int64)
    rng.shuffle(indices)
    return column, indices


def _check_stable_partition(column, original, indices, start, stop, n_left, missing_left):
    node = original[start:stop]
    bins = column[node]
    goes_left = np.where(bins == 255, missing_left, bins <= 100)
    assert n_left == goes_left.sum()
    assert np.array_equal(indices[start:stop], np.concatenate([node[goes_left], node[~goes_left]]))
    assert np.array_equal(indices[:start], original[:start]) and np.array_equal(indices[stop:], original[stop:])


@pytest.mark.parametrize("chunk_rows", [7, 64, 1000, 5000])
@pytest.mark.parametrize("missing_left", [False, True])
def test_parallel_partition_is_the_stable_partition(chunk_rows, missing_left):
    column, indices = _node(chunk_rows)
    original = indices.copy()
    start, stop = 300, 4700
    n_left, weighted_left = partition._partition_rows_parallel(column, indices, start, stop, 100, missing_left, 255,
                                                               np.empty(5000, dtype=np.int64), chunk_rows)
    assert weighted_left == float(n_left)
    _check_stable_partition(column, original, indices, start, stop, n_left, missing_left)


@pytest.mark.parametrize("parallel_min_rows", [1, partition.NEVER_PARALLEL])
def test_partition_rows_is_the_stable_partition_either_way(parallel_min_rows):
    column, indices = _node(1)
    original = indices.copy()
    n_left, weighted_left = partition.partition_rows(column, indices, 10, 4990, 100, True, 255, np.ones(0),
                                                     np.empty(5000, dtype=np.int64), True, parallel_min_rows)
    assert weighted_left == float(n_left)
    _check_stable_partition(column, original, indices, 10, 4990, n_left, True)


def test_weighted_nodes_stay_serial():
    # The left weight is a sum in row order (chunked sums could round differently); the chunked kernel
    # would return the row count, 50.
    column = np.arange(100, dtype=np.uint8)
    indices = np.arange(100, dtype=np.int64)
    n_left, weighted_left = partition.partition_rows(column, indices, 0, 100, 49, False, 255, np.full(100, 0.1),
                                                     np.empty(100, dtype=np.int64), False, 1)
    assert n_left == 50 and weighted_left == pytest.approx(5.0)


def test_one_thread_stays_serial():
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert partition.parallel_partition_min_rows() == partition.NEVER_PARALLEL
        if numba.config.NUMBA_NUM_THREADS > 1:
            numba.set_num_threads(2)
            assert partition.parallel_partition_min_rows() == partition.PARALLEL_PARTITION_MIN_ROWS
    finally:
        numba.set_num_threads(threads)
