"""The block-wise prediction kernels route every row as the scalar ``_find_leaf`` does."""

import numba
import numpy as np
import pandas as pd
import pytest

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
from shrinktree._tree import FlatForest, _find_leaf


def _data(n_rows, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 4))
    X[rng.random(n_rows) < 0.15, 1] = np.nan
    levels = rng.integers(0, 40, size=n_rows)
    y = X[:, 0] + np.nan_to_num(X[:, 1]) * 0.5 + rng.normal(size=40)[levels] + rng.normal(size=n_rows)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["g"] = pd.Categorical(levels)
    return frame, y


def _reference_leaves(forest, X):
    """Leaf (global node id) of every row and tree, one scalar walk at a time."""
    out = np.empty((X.shape[0], len(forest.tree_start)), dtype=np.int64)
    for row in range(X.shape[0]):
        for t, root in enumerate(forest.tree_start):
            out[row, t] = _find_leaf(X, row, root, forest.left, forest.right, forest.feature, forest.threshold,
                                     forest.missing_left, forest.is_categorical, forest.cat_offset, forest.cat_bitset)
    return out


@pytest.fixture(scope="module")
def fitted():
    frame, y = _data(3_000)
    model = ShrinkBoostRegressor(n_estimators=20, min_samples_leaf=5, random_state=0)
    model._absent_rule = "side"  # no present sets: the rule _find_leaf walks (blends: tests/test_forest_blend.py)
    return model.fit(frame, y), frame


def test_leaves_and_sums_match_the_scalar_walk(fitted):
    model, frame = fitted
    X = model.tree_input(frame)
    # unseen levels, negative and out-of-range codes, and NaN in every column reach the missing branches
    X[:50, 4] = np.array([-1.0, 1e6, np.nan, 39.0, 0.0] * 10)
    X[50:60] = np.nan
    forest = model._forest
    leaves = _reference_leaves(forest, X)
    assert forest.is_categorical.any() and (forest.missing_left[forest.left >= 0] == 1).any()
    np.testing.assert_array_equal(forest.apply(X), leaves - forest.tree_start)
    expected = np.zeros((X.shape[0], 1))
    for t in range(leaves.shape[1]):  # tree order, as the kernel adds them
        expected[:, 0] += forest.value[leaves[:, t], 0]
    np.testing.assert_array_equal(forest.predict_sum(X, model._tree_output, 1), expected)


def test_multi_column_trees_add_every_column(fitted):
    model, frame = fitted
    X = model.tree_input(frame)
    trees = [t.copy() for trees in model.trees_ for t in trees]
    for k, tree in enumerate(trees):
        tree.value = np.column_stack([tree.value[:, 0], (k + 1) * tree.value[:, 0]])
    forest = FlatForest.from_trees(trees)
    single = model._forest.predict_sum(X, np.zeros(len(trees), dtype=np.int64), 1)[:, 0]
    both = forest.predict_sum(X, np.full(len(trees), -1, dtype=np.int64), 2)
    np.testing.assert_array_equal(both[:, 0], single)
    assert not np.array_equal(both[:, 1], single)


def test_float32_input_predicts_as_its_float64_copy(fitted):
    model, frame = fitted
    numeric = frame[["a", "b", "c", "d"]].to_numpy()
    plain = ShrinkBoostRegressor(n_estimators=20, min_samples_leaf=5, random_state=0).fit(numeric, numeric[:, 0])
    as32 = numeric.astype(np.float32)
    np.testing.assert_array_equal(plain.predict(as32), plain.predict(as32.astype(np.float64)))
    np.testing.assert_array_equal(plain.apply(as32), plain.apply(as32.astype(np.float64)))
    labels = numeric[:, 0] > 0
    classifier = ShrinkBoostClassifier(n_estimators=10, random_state=0).fit(numeric, labels)
    np.testing.assert_array_equal(classifier.predict_proba(as32), classifier.predict_proba(as32.astype(np.float64)))


def test_predictions_do_not_depend_on_the_thread_count():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has a single thread")
    frame, y = _data(30_000, seed=1)  # above the row count where prediction runs in parallel
    model = ShrinkBoostRegressor(n_estimators=10, random_state=0, n_jobs=1).fit(frame, y)
    one = model.predict(frame)
    model.set_params(n_jobs=2)
    np.testing.assert_array_equal(model.predict(frame), one)


def test_the_block_walk_stays_inlined_into_the_forest_loops():
    # Not a timing test: a guard on a compile option.  Called (not inlined) once per block per tree, the walk
    # made 1,000,000-row prediction 2.2x slower (python benchmarks/speed.py --predict: 1.25x LightGBM, 0.57x inlined).
    from shrinktree import _tree

    assert _tree._walk_block.targetoptions.get("inline") == "always"
