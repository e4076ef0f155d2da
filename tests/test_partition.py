"""The chunked parallel row partition is the serial stable partition."""

import numpy as np
import pytest

from shrinktree.boosting import partition


@pytest.mark.parametrize("chunk_rows", [7, 64, 1000, 5000])
@pytest.mark.parametrize("missing_left", [False, True])
def test_parallel_partition_is_the_stable_partition(monkeypatch, chunk_rows, missing_left):
    monkeypatch.setattr(partition, "PARALLEL_PARTITION_MIN_ROWS", 1)
    monkeypatch.setattr(partition, "PARTITION_CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(partition, "_several_threads", lambda: True)
    rng = np.random.default_rng(chunk_rows)
    column = rng.integers(0, 256, size=5000).astype(np.uint8)
    column[rng.random(5000) < 0.1] = 255  # the missing bin
    indices = np.arange(5000, dtype=np.int64)
    rng.shuffle(indices)
    start, stop = 300, 4700
    original = indices.copy()
    n_left, weighted_left = partition.partition_rows(column, indices, start, stop, 100, missing_left, 255,
                                                     np.ones(0), np.empty(5000, dtype=np.int64), True)
    node = original[start:stop]
    bins = column[node]
    goes_left = np.where(bins == 255, missing_left, bins <= 100)
    assert n_left == goes_left.sum() and weighted_left == float(n_left)
    assert np.array_equal(indices[start:stop], np.concatenate([node[goes_left], node[~goes_left]]))
    assert np.array_equal(indices[:start], original[:start]) and np.array_equal(indices[stop:], original[stop:])


def test_weighted_nodes_stay_serial(monkeypatch):
    # The left weight is a sum in row order: chunked sums could round differently.
    monkeypatch.setattr(partition, "PARALLEL_PARTITION_MIN_ROWS", 1)
    monkeypatch.setattr(partition, "_several_threads", lambda: True)
    monkeypatch.setattr(partition, "_partition_rows_parallel", None)
    column = np.arange(100, dtype=np.uint8)
    indices = np.arange(100, dtype=np.int64)
    n_left, weighted_left = partition.partition_rows(column, indices, 0, 100, 49, False, 255, np.full(100, 0.1),
                                                     np.empty(100, dtype=np.int64), False)
    assert n_left == 50 and weighted_left == pytest.approx(5.0)


def test_one_thread_stays_serial(monkeypatch):
    monkeypatch.setattr(partition, "PARALLEL_PARTITION_MIN_ROWS", 1)
    monkeypatch.setattr(partition, "_several_threads", lambda: False)
    monkeypatch.setattr(partition, "_partition_rows_parallel", None)
    column = np.arange(100, dtype=np.uint8)
    indices = np.arange(100, dtype=np.int64)
    assert partition.partition_rows(column, indices, 0, 100, 9, False, 255, np.ones(0), np.empty(100, dtype=np.int64),
                                    True) == (10, 10.0)
