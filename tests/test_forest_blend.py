"""Prediction of rows that blend (a level absent from a categorical node's present set): the compiled walks
against the plain-Python reference walk of ``tests/blend_reference.py``."""

import pickle

import numba
import numpy as np
import pandas as pd
import pytest
from blend_reference import route, tree_values
from present_sets import add_present_sets, bits

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
from shrinktree._tree import LEAF, FlatForest, TreeArrays


def _present(levels, nan, n_words):
    """A present set: bit 0 NaN, bit ``c + 1`` level ``c``."""
    return bits(([0] if nan else []) + [c + 1 for c in levels], n_words)


def hand_tree(n_outputs=1, scale=1.0):
    """Categorical root on column 0 and a categorical node on column 2 below it, both with present sets.

    ::

        0: column 0 in {0, 1} left, NaN left; present {0, 1, 2, 3, 40} (no NaN), 30% of a blend left
        ├── 1: column 1 <= 0          -> 3 (-1) | 4 (2)
        └── 2: column 2 in {5} left, NaN right; present {0..6 but 3, NaN}, 80% of a blend left
            ├── 5 (10)
            └── 6: column 1 <= 1      -> 7 (20) | 8 (40)
    """
    parent = np.array([-1, 0, 0, 1, 1, 2, 2, 6, 6], dtype=np.int32)
    left = np.array([1, 3, 5, -1, -1, -1, 7, -1, -1], dtype=np.int32)
    right = np.array([2, 4, 6, -1, -1, -1, 8, -1, -1], dtype=np.int32)
    feature = np.array([0, 1, 2, -1, -1, -1, 1, -1, -1], dtype=np.int32)
    threshold = np.array([np.nan, 0.0, np.nan, np.nan, np.nan, np.nan, 1.0, np.nan, np.nan])
    is_categorical = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0], dtype=np.uint8)
    missing_left = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0], dtype=np.uint8)
    cat_offset = np.array([0, -1, 1, -1, -1, -1, -1, -1, -1], dtype=np.int64)
    cat_bitset = np.concatenate([bits([0, 1], 1), bits([5], 1)])
    # Each present set one word longer than the split's bitset (the rule of categorical_route).
    present_offset = np.array([0, -1, 2, -1, -1, -1, -1, -1, -1], dtype=np.int64)
    present_bitset = np.concatenate([_present([0, 1, 2, 3, 40], False, 2),
                                     _present([0, 1, 2, 4, 5, 6], True, 2)])
    share = np.full(9, 0.5)
    share[0], share[2] = 0.3, 0.8
    leaf_values = np.array([0.0, 0.0, 0.0, -1.0, 2.0, 10.0, 0.0, 20.0, 40.0]) * scale
    value = np.column_stack([leaf_values * (k + 1) for k in range(n_outputs)])
    n = len(parent)
    return TreeArrays(parent=parent, left=left, right=right, feature=feature, threshold=threshold,
                      missing_left=missing_left, raw_value=value.copy(), value=value, pooling_factor=np.ones(n),
                      weight=np.ones(n), count=np.ones(n), gain=np.zeros(n), is_categorical=is_categorical,
                      cat_offset=cat_offset, cat_bitset=cat_bitset, present_offset=present_offset,
                      present_bitset=present_bitset, absent_left_share=share)


def without_present_sets(tree):
    plain = tree.copy()
    plain.present_offset[:] = -1
    plain.present_bitset = np.zeros(0, dtype=np.uint32)
    plain.absent_left_share[:] = 0.5
    return plain


def hand_rows():
    """Rows that take every route: present levels, absent ones, NaN where the set lacks it, codes out of range."""
    column0 = [0, 1, 2, 3, 40, 4, 5, 39, np.nan, -1, 1e6, 63, 64, 70, 2.0, 4]
    column2 = [5, 0, 3, np.nan, 7, 3, 5, 6, 3, -2, 1e9, np.nan, 2, 4, 3, 31]
    rng = np.random.default_rng(0)
    column1 = rng.normal(scale=1.5, size=len(column0))
    fixed = np.column_stack([column0, column1, column2])
    random = np.column_stack([rng.integers(-2, 70, 200).astype(float), rng.normal(scale=1.5, size=200),
                              rng.integers(-2, 40, 200).astype(float)])
    random[rng.random(200) < 0.1, 0] = np.nan
    random[rng.random(200) < 0.1, 2] = np.nan
    random[rng.random(200) < 0.1, 1] = np.nan
    return np.ascontiguousarray(np.vstack([fixed, random]))


def first_blend_or_leaf(tree, x):
    """The node where a row first blends, or its leaf (what ``apply`` returns)."""
    node = 0
    while tree.left[node] != LEAF:
        where = route(tree, node, float(x[tree.feature[node]]))
        if where == "blend":
            return node
        node = int(tree.left[node] if where == "left" else tree.right[node])
    return node


def test_the_hand_tree_takes_every_route():
    tree, X = hand_tree(), hand_rows()
    routes = {(node, route(tree, node, float(x[tree.feature[node]]))) for x in X for node in (0, 2)}
    assert {(0, "left"), (0, "right"), (0, "blend"), (2, "left"), (2, "right"), (2, "blend")} <= routes
    # a row blending twice: absent at the root (level 4) and at node 2 (level 3)
    twice = np.array([4.0, 0.5, 3.0])
    expected = 0.3 * 2.0 + 0.7 * (0.8 * 10.0 + 0.2 * 20.0)
    np.testing.assert_allclose(tree_values(tree, twice[None])[:, 0], expected)


def test_predict_sum_equals_the_reference_walk():
    X = hand_rows()
    trees = [hand_tree(), without_present_sets(hand_tree(scale=0.5)), hand_tree(scale=-2.0)]
    forest = FlatForest.from_trees(trees)
    expected = sum(tree_values(tree, X) for tree in trees)
    got = forest.predict_sum(X, np.zeros(len(trees), dtype=np.int64), 1)
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-13)
    # trees into different columns
    got = forest.predict_sum(X, np.array([0, 1, 0]), 2)
    np.testing.assert_allclose(got[:, 0], (tree_values(trees[0], X) + tree_values(trees[2], X))[:, 0], rtol=1e-14)
    np.testing.assert_allclose(got[:, 1], tree_values(trees[1], X)[:, 0], rtol=1e-14)


def test_a_row_absent_at_the_root_is_the_share_weighted_mean_of_the_two_subtrees():
    tree = hand_tree()
    rows = np.array([[4.0, -0.5, 5.0], [np.nan, 0.5, 0.0], [1e6, 2.0, np.nan], [-1.0, 2.0, 6.0]])
    left_value = np.where(rows[:, 1] <= 0, -1.0, 2.0)
    right_value = tree_values(tree, np.column_stack([np.full(4, 2.0), rows[:, 1:]]))[:, 0]  # level 2 goes right
    got = FlatForest.from_trees([tree]).predict_sum(rows, np.zeros(1, dtype=np.int64), 1)[:, 0]
    np.testing.assert_array_equal(got, 0.3 * left_value + 0.7 * right_value)


def test_multi_output_trees_blend_every_column():
    X = hand_rows()
    trees = [hand_tree(n_outputs=3), hand_tree(n_outputs=3, scale=0.25)]
    forest = FlatForest.from_trees(trees)
    got = forest.predict_sum(X, np.full(2, -1, dtype=np.int64), 3)
    np.testing.assert_allclose(got, tree_values(trees[0], X) + tree_values(trees[1], X), rtol=1e-14, atol=1e-13)


def test_float32_rows_blend_as_their_float64_copy():
    X = hand_rows()
    forest = FlatForest.from_trees([hand_tree(), hand_tree(scale=3.0)])
    outputs = np.zeros(2, dtype=np.int64)
    as32 = X.astype(np.float32)
    np.testing.assert_array_equal(forest.predict_sum(as32, outputs, 1),
                                  forest.predict_sum(as32.astype(np.float64), outputs, 1))
    np.testing.assert_array_equal(forest.apply(as32), forest.apply(as32.astype(np.float64)))


def test_apply_gives_the_node_where_a_row_first_blends():
    X = hand_rows()
    trees = [hand_tree(), without_present_sets(hand_tree())]
    leaves = FlatForest.from_trees(trees).apply(X)
    for t, tree in enumerate(trees):
        np.testing.assert_array_equal(leaves[:, t], [first_blend_or_leaf(tree, x) for x in X])
    assert set(leaves[:, 0]) >= {0, 2} and not set(leaves[:, 1]) & {0, 2}


def test_without_present_sets_the_walk_is_the_rule_of_earlier_models():
    from shrinktree._tree import _find_leaf

    X = hand_rows()
    plain = without_present_sets(hand_tree())
    forest = FlatForest.from_trees([plain])
    expected = [_find_leaf(X, r, 0, forest.left, forest.right, forest.feature, forest.threshold, forest.missing_left,
                           forest.is_categorical, forest.cat_offset, forest.cat_bitset) for r in range(len(X))]
    np.testing.assert_array_equal(forest.apply(X)[:, 0], expected)
    np.testing.assert_array_equal(forest.predict_sum(X, np.zeros(1, dtype=np.int64), 1)[:, 0],
                                  plain.value[expected, 0])
    assert forest.blend_stack_size == 0


def test_many_rows_blend_the_same_with_one_or_two_threads():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has a single thread")
    from shrinktree._threads import threads

    rng = np.random.default_rng(3)
    X = hand_rows()[rng.integers(0, 216, size=40_000)]  # above the row count where prediction runs in parallel
    forest = FlatForest.from_trees([hand_tree(scale=s) for s in (1.0, 0.1, -0.7, 1e-3)])
    outputs = np.zeros(4, dtype=np.int64)
    with threads(1, len(X)):
        one = forest.predict_sum(X, outputs, 1)
        one_leaves = forest.apply(X)
    with threads(2, len(X)):
        np.testing.assert_array_equal(forest.predict_sum(X, outputs, 1), one)
        np.testing.assert_array_equal(forest.apply(X), one_leaves)


# -- fitted models with present sets added by hand (the grower writes them in helper blendgrow's branch) -------------
def _frame(n, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(size=n), "z": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
                          "g": pd.Categorical(rng.integers(0, 40, size=n)),
                          "h": pd.Categorical(rng.choice(list("abcde"), size=n))})
    frame.loc[rng.random(n) < 0.05, "g"] = np.nan
    signal = frame["x"].to_numpy() + rng.normal(size=40)[np.nan_to_num(frame["g"].cat.codes.to_numpy(), nan=0)]
    return frame, signal + rng.normal(size=n), rng


@pytest.fixture(scope="module")
def blended_regressor():
    frame, y, rng = _frame(3_000)
    model = ShrinkBoostRegressor(n_estimators=15, min_samples_leaf=5, random_state=0).fit(frame, y)
    add_present_sets(model, rng)
    rows = pd.concat([frame.iloc[:300], pd.DataFrame({"x": [0.1, np.nan], "z": [np.nan, 1.0],
                                                      "g": pd.Categorical([np.nan, 7]), "h": ["zz", "a"]})],
                     ignore_index=True)
    rows["g"] = pd.Categorical(rows["g"], categories=frame["g"].cat.categories)
    rows["h"] = rows["h"].astype(object)  # "zz": a level unseen at fit, NaN to the trees
    return model, rows


def reference_raw(model, rows):
    X = model.tree_input(rows)
    raw = np.tile(model._baseline, (len(X), 1))
    for trees in model._trees:
        for k, tree in enumerate(trees):
            raw[:, k] += tree_values(tree, X)[:, 0]
    return raw


def test_a_fitted_model_with_present_sets_predicts_as_the_reference(blended_regressor):
    model, rows = blended_regressor
    X = model.tree_input(rows)
    assert any(route(t, n, float(X[r, t.feature[n]])) == "blend" for t in (model._trees[0][0],)
               for n in np.flatnonzero(t.present_offset >= 0) for r in range(len(X)))
    np.testing.assert_allclose(model.predict(rows), reference_raw(model, rows)[:, 0], rtol=1e-12, atol=1e-12)
    staged = list(model.staged_predict(rows))
    np.testing.assert_allclose(staged[-1], model.predict(rows), rtol=1e-13, atol=1e-13)  # baseline added first
    leaves = model.apply(rows)
    for i, trees in enumerate(model._trees):
        np.testing.assert_array_equal(leaves[:, i], [first_blend_or_leaf(trees[0], x) for x in X])


def test_a_classifier_with_present_sets_predicts_as_the_reference():
    frame, y, rng = _frame(2_000, seed=1)
    labels = np.digitize(y, [-0.5, 0.5])
    model = ShrinkBoostClassifier(n_estimators=6, min_samples_leaf=5, random_state=0).fit(frame, labels)
    add_present_sets(model, rng)
    np.testing.assert_allclose(model.decision_function(frame), reference_raw(model, frame), rtol=1e-12, atol=1e-12)
    assert model.apply(frame).shape == (len(frame), 6, 3)


def test_pickling_keeps_present_sets_and_the_digest_covers_them(blended_regressor):
    from shrinktree._integrity import DIGEST_KEY
    from shrinktree._safe_state import encode, restore
    from shrinktree.exceptions import ModelIntegrityError

    model, rows = blended_regressor
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(rows), model.predict(rows))
    np.testing.assert_array_equal(restored._trees[2][0].present_bitset, model._trees[2][0].present_bitset)
    # A changed share or present set, under the digest of the model that was saved, fails the check.
    digest = model.__getstate__()[DIGEST_KEY]
    for name in ("absent_left_share", "present_bitset"):
        changed = pickle.loads(pickle.dumps(model))
        array = getattr(changed._trees[0][0], name)
        array[np.flatnonzero(array != 0)[0]] //= 2
        state = dict(changed.__getstate__(), **{DIGEST_KEY: digest})
        with pytest.raises(ModelIntegrityError, match="does not match the model that was saved"):
            restore(type(model), encode(state))
        restore(type(model), encode(changed.__getstate__()))  # its own digest passes


def test_the_digest_of_a_model_without_present_sets_leaves_their_arrays_out():
    from shrinktree._integrity import state_digest
    from shrinktree._tree import PRESENT_SET_FIELDS

    frame, y, _ = _frame(500)
    model = ShrinkBoostRegressor(n_estimators=3, random_state=0).fit(frame[["x", "z"]], y)  # no categorical node
    assert not any((t.present_offset >= 0).any() for trees in model._trees for t in trees)
    parts = model._prediction_state()
    tree_parts = parts[5][0][0]
    assert len(tree_parts) == len(model._trees[0][0].__dataclass_fields__) - len(PRESENT_SET_FIELDS)
    # With the present-set arrays counted the digest would differ: it is the one models saved before kept.
    everything = [[[getattr(t, name) for name in t.__dataclass_fields__] for t in trees] for trees in model._trees]
    assert state_digest(parts) != state_digest(parts[:5] + [everything] + parts[6:])


def test_to_frame_lists_each_present_set():
    frame = hand_tree().to_frame()
    assert frame.loc[0, "present_levels"] == (0, 1, 2, 3, 40) and frame.loc[0, "present_missing"] is False
    assert frame.loc[2, "present_levels"] == (0, 1, 2, 4, 5, 6) and frame.loc[2, "present_missing"] is True
    assert frame["present_levels"].drop([0, 2]).isna().all()
    np.testing.assert_array_equal(frame["absent_left_share"], [0.3, np.nan, 0.8] + [np.nan] * 6)
