import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def walk_leaves():
    """Leaf of each of ``rows`` found by walking the tree row by row: ``add_tree_binned`` with node ids as values.

    The arguments are those of :func:`shrinktree.boosting.routing.leaves_by_partition`.
    """
    from shrinktree.boosting.predictor import add_tree_binned

    def walk(binned, codes, rows, left, right, feature, is_categorical, bin_threshold, missing_left, missing_bin,
             n_levels, cat_offset, cat_bitset):
        node_of_row = np.zeros(binned.shape[1])
        add_tree_binned(binned, codes, left, right, feature, is_categorical, bin_threshold, missing_left, missing_bin,
                        n_levels, cat_offset, cat_bitset, np.arange(len(left), dtype=np.float64), node_of_row)
        return node_of_row[rows].astype(np.int64)

    return walk
