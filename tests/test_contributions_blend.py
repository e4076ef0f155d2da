"""TreeSHAP of rows that blend (a level absent from a node's present set): brute-force Shapley values, additivity.

The game is the path-dependent one of :mod:`shrinktree.explain.treeshap` with the blended walk of
``tests/blend_reference.py``: a feature in the coalition follows the row (both children, by
``absent_left_share``, where the row's value blends), a feature outside it follows the cover.
"""

from itertools import combinations
from math import factorial

import numpy as np
import pandas as pd
import pytest
from blend_reference import route, tree_values

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
from shrinktree._tree import FlatForest, TreeArrays
from shrinktree.explain.treeshap import forest_contributions

AGREEMENT = 1e-12


# -- hand-built trees ----------------------------------------------------------------------------------
def _words(levels, nan=False, n_words=1):
    """Bitset words with bit ``c`` set for every level ``c`` (shifted by one, bit 0 NaN, for present sets)."""
    words = np.zeros(n_words, dtype=np.uint32)
    for bit in ([0] if nan else []) + list(levels):
        words[bit >> 5] |= np.uint32(1) << np.uint32(bit & 31)
    return words


def build_tree(nodes, n_outputs=1):
    """TreeArrays from a list of node dicts in topological order.

    Internal nodes: ``feature``, ``left``, ``right`` and either ``threshold`` or ``levels`` (going left), with
    optional ``missing_left``, ``present`` (levels present), ``present_nan`` and ``share``.  Leaves: ``value``
    and ``count``.
    """
    n = len(nodes)
    parent = np.full(n, -1, np.int32)
    left = np.full(n, -1, np.int32)
    right = np.full(n, -1, np.int32)
    feature = np.full(n, -1, np.int32)
    threshold = np.zeros(n)
    missing_left = np.zeros(n, np.uint8)
    is_categorical = np.zeros(n, np.uint8)
    cat_offset = np.full(n, -1, np.int64)
    present_offset = np.full(n, -1, np.int64)
    share = np.full(n, 0.5)
    value = np.zeros((n, n_outputs))
    count = np.zeros(n)
    cat_words, present_words = [], []
    for i, node in enumerate(nodes):
        if "left" not in node:
            value[i] = node["value"]
            count[i] = node["count"]
            continue
        left[i], right[i] = node["left"], node["right"]
        parent[node["left"]] = parent[node["right"]] = i
        feature[i] = node["feature"]
        missing_left[i] = node.get("missing_left", 0)
        if "levels" in node:
            is_categorical[i] = 1
            cat_offset[i] = sum(len(w) for w in cat_words)
            cat_words.append(_words(node["levels"]))
            if "present" in node:
                present_offset[i] = sum(len(w) for w in present_words)
                present_words.append(_words([c + 1 for c in node["present"]], node.get("present_nan", False), 2))
                share[i] = node["share"]
        else:
            threshold[i] = node["threshold"]
    for i in range(n - 1, 0, -1):  # internal counts: their leaves'
        count[parent[i]] += count[i]
    tree = TreeArrays(parent=parent, left=left, right=right, feature=feature, threshold=threshold,
                      missing_left=missing_left, raw_value=value.copy(), value=value, pooling_factor=np.ones(n),
                      weight=count.copy(), count=count, gain=np.zeros(n), is_categorical=is_categorical,
                      cat_offset=cat_offset,
                      cat_bitset=np.concatenate(cat_words + [np.zeros(0, np.uint32)]).astype(np.uint32),
                      present_offset=present_offset,
                      present_bitset=np.concatenate(present_words + [np.zeros(0, np.uint32)]).astype(np.uint32),
                      absent_left_share=share)
    tree.validate()
    return tree


def two_blending_splits_on_one_feature():
    """Feature 0 (levels 0..5) splits at the root and again on the right; feature 2 (levels 0..2) below."""
    return build_tree([
        {"feature": 0, "levels": [0, 1], "present": [0, 1, 2, 3], "share": 0.3, "left": 1, "right": 2},
        {"feature": 1, "threshold": 0.5, "missing_left": 1, "left": 3, "right": 4},
        {"feature": 0, "levels": [2], "present": [2], "present_nan": True, "missing_left": 1, "share": 0.05,
         "left": 5, "right": 6},
        {"value": 1.0, "count": 30.0},
        {"value": -2.0, "count": 10.0},
        {"feature": 2, "levels": [1], "present": [0, 1], "share": 0.75, "left": 7, "right": 8},
        {"value": 4.0, "count": 25.0},
        {"value": 0.5, "count": 15.0},
        {"value": -1.5, "count": 20.0},
    ])


def random_tree(rng, n_features, depth, n_levels=6):
    """A random tree of categorical (with random present sets) and numeric splits; leaves with random values."""
    nodes = []

    def grow(d):
        i = len(nodes)
        nodes.append(None)
        if d == depth or (d > 0 and rng.random() < 0.2):
            nodes[i] = {"value": float(rng.normal()), "count": float(rng.integers(1, 50))}
            return i
        f = int(rng.integers(n_features))
        if f % 2 == 0:
            node = {"feature": f, "levels": sorted(rng.choice(n_levels, int(rng.integers(1, n_levels)),
                                                              replace=False).tolist()),
                    "missing_left": int(rng.integers(2))}
            if rng.random() < 0.8:
                node["present"] = sorted(rng.choice(n_levels, int(rng.integers(1, n_levels + 1)),
                                                    replace=False).tolist())
                node["present_nan"] = bool(rng.random() < 0.5)
                node["share"] = float(rng.choice([0.0, 1.0, rng.uniform(0.01, 0.99), rng.uniform(0.01, 0.99)]))
        else:
            node = {"feature": f, "threshold": float(rng.normal()), "missing_left": int(rng.integers(2))}
        nodes[i] = node
        node["left"] = grow(d + 1)
        node["right"] = grow(d + 1)
        return i

    grow(0)
    # grow() numbers nodes depth first: children after their parent, as TreeArrays needs
    return build_tree(nodes)


def random_rows(rng, n_rows, n_features, n_levels=6):
    X = np.empty((n_rows, n_features))
    for f in range(n_features):
        if f % 2 == 0:
            X[:, f] = rng.integers(0, n_levels + 1, n_rows)  # level n_levels: beyond every bitset
        else:
            X[:, f] = rng.normal(size=n_rows)
    X[rng.random(X.shape) < 0.15] = np.nan
    return X


# -- the brute-force reference ---------------------------------------------------------------------------
def _cover(tree):
    cover = np.where(tree.left == -1, tree.count, 0.0)
    for node in range(tree.n_nodes - 1, -1, -1):
        if tree.left[node] != -1:
            cover[node] = cover[tree.left[node]] + cover[tree.right[node]]
    return cover


def _expectation(tree, cover, x, known, node=0):
    """v(known): the row's blended walk on known features, the cover's average on the others."""
    if tree.left[node] == -1:
        return tree.value[node]
    a, b = int(tree.left[node]), int(tree.right[node])
    if tree.feature[node] in known:
        where = route(tree, node, float(x[tree.feature[node]]))
        if where == "left":
            return _expectation(tree, cover, x, known, a)
        if where == "right":
            return _expectation(tree, cover, x, known, b)
        p = float(tree.absent_left_share[node])
        return p * _expectation(tree, cover, x, known, a) + (1 - p) * _expectation(tree, cover, x, known, b)
    return (cover[a] * _expectation(tree, cover, x, known, a)
            + cover[b] * _expectation(tree, cover, x, known, b)) / (cover[a] + cover[b])


def brute_force(trees, X):
    """Shapley values of the sum of the trees' games, every coalition enumerated; shape (n_rows, M + 1)."""
    n_rows, M = X.shape
    covers = [_cover(t) for t in trees]
    subsets = [frozenset(s) for size in range(M + 1) for s in combinations(range(M), size)]
    out = np.zeros((n_rows, M + 1))
    for row in range(n_rows):
        v = {S: sum(float(_expectation(t, c, X[row], S)[0]) for t, c in zip(trees, covers)) for S in subsets}
        for i in range(M):
            for S in subsets:
                if i not in S:
                    out[row, i] += factorial(len(S)) * factorial(M - len(S) - 1) / factorial(M) * (v[S | {i}] - v[S])
        out[row, M] = v[frozenset()]
    return out


def kernel(trees, X):
    forest = FlatForest.from_trees(trees)
    count = np.concatenate([t.count for t in trees])
    phi, expected = forest_contributions(forest, count, np.zeros(len(trees), np.int64), 1, X, X.shape[1])
    phi[:, :, -1] = expected
    return phi[:, 0, :]


# -- tests ------------------------------------------------------------------------------------------------
def test_rows_that_blend_get_the_brute_force_shapley_values():
    tree = two_blending_splits_on_one_feature()
    # level 4: absent at the root; 3: present at the root, absent below; NaN: absent at the root, present below;
    # level 2 with feature 2 at 2 (absent at node 5) and NaN there; level 6: outside every split bitset.
    X = np.array([[4, 0.2, 1], [3, 0.9, 0], [np.nan, np.nan, 2], [2, 0.1, 2], [2, 0.1, np.nan], [6, 1.0, 0],
                  [0, 0.3, 1], [1, 0.7, 0], [5, np.nan, np.nan]], dtype=np.float64)
    got = kernel([tree], X)
    assert np.abs(got - brute_force([tree], X)).max() < AGREEMENT
    assert np.abs(got.sum(axis=1) - tree_values(tree, X)[:, 0]).max() < AGREEMENT
    # a row at a level absent from the root takes the share-weighted mean of both subtrees (level 4 of row 0)
    left_value = 1.0  # feature 1 = 0.2 <= 0.5
    right_value = 0.05 * 0.5 + 0.95 * 4.0  # level 4 blends below too; then feature 2 = 1 goes left (0.5)
    assert got[0].sum() == pytest.approx(0.3 * left_value + 0.7 * right_value, abs=1e-14)


@pytest.mark.parametrize("seed", range(12))
def test_random_trees_with_present_sets_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_features = 4
    trees = [random_tree(rng, n_features, depth=int(rng.integers(2, 6))) for _ in range(3)]
    X = random_rows(rng, 40, n_features)
    got = kernel(trees, X)
    assert np.abs(got - brute_force(trees, X)).max() < 1e-10
    blended = sum(tree_values(t, X)[:, 0] for t in trees)
    assert np.abs(got.sum(axis=1) - blended).max() < 1e-10


def test_present_sets_that_hold_every_level_change_nothing_bit_for_bit():
    rng = np.random.default_rng(5)
    trees = [random_tree(rng, 4, depth=5) for _ in range(4)]
    X = random_rows(rng, 60, 4)
    plain, full = [t.copy() for t in trees], [t.copy() for t in trees]
    for p, f in zip(plain, full):
        p.present_offset[:] = -1
        p.present_bitset = np.zeros(0, np.uint32)
        f.present_bitset[:] = np.uint32(0xFFFFFFFF)  # every level and NaN present: nothing blends
    assert any(np.any(t.present_offset >= 0) for t in full)
    assert np.array_equal(kernel(plain, X), kernel(full, X))
    assert np.abs(kernel(plain, X) - brute_force(plain, X)).max() < 1e-10


def trees_whose_words_follow_each_other():
    """Two trees and rows for which a walk reading past the first tree's words would route differently.

    Level 40 lies past the first tree's split word (so it is missing there, and NaN is absent from its present
    set: it blends), though the second tree's word follows in a forest, where bit 8 (level 40) is set.
    """
    first = build_tree([
        {"feature": 0, "levels": [1], "present": [1, 2, 40], "share": 0.4, "left": 1, "right": 2},
        {"value": 3.0, "count": 10.0},
        {"value": -1.0, "count": 30.0},
    ])
    second = build_tree([
        {"feature": 0, "levels": [0, 8], "present": list(range(63)), "present_nan": True, "missing_left": 1,
         "share": 0.5, "left": 1, "right": 2},
        {"value": 2.0, "count": 5.0},
        {"value": 0.0, "count": 5.0},
    ])
    return first, second, np.array([[40.0, 0.0], [70.0, 0.0], [1.0, 0.0], [np.nan, 1.0]])


def test_each_tree_reads_its_own_words_only():
    first, second, X = trees_whose_words_follow_each_other()
    together = kernel([first, second], X)
    assert np.abs(together - (kernel([first], X) + kernel([second], X))).max() < AGREEMENT
    assert np.abs(together - brute_force([first, second], X)).max() < AGREEMENT
    assert together[0].sum() == pytest.approx(0.4 * 3.0 + 0.6 * -1.0 + 2.0, abs=1e-14)


def test_a_share_of_zero_or_one_is_routing_to_one_side():
    tree = two_blending_splits_on_one_feature()
    X = np.array([[4, 0.2, 1], [3, 0.9, 0], [np.nan, 0.8, 2]])
    for share, side in ((1.0, 1), (0.0, 2)):
        pinned = tree.copy()
        pinned.absent_left_share[0] = share
        # the same tree whose root sends levels 4, 5 and NaN to one side: the present set covers them
        routed = pinned.copy()
        routed.present_bitset[0] |= np.uint32(1 | (1 << 5) | (1 << 6))
        routed.missing_left[0] = 1 if side == 1 else 0
        routed.cat_bitset[0] = np.uint32(0b110011 if side == 1 else 0b000011)
        assert np.abs(kernel([pinned], X) - kernel([routed], X)).max() < AGREEMENT


# -- fitted models -----------------------------------------------------------------------------------------
def grouped_frame(n=600, n_levels=60, seed=0):
    """Many small levels, some missing, and a numeric column: deep nodes miss many levels of their parents."""
    rng = np.random.default_rng(seed)
    level = rng.integers(0, n_levels, n)
    x = rng.normal(size=n)
    y = rng.normal(0, 1.5, n_levels)[level] + x + rng.normal(0, 0.5, n)
    names = np.array([f"l{v:02d}" for v in level], dtype=object)
    names[rng.random(n) < 0.05] = None
    frame = pd.DataFrame({"g": pd.Categorical(names, categories=[f"l{v:02d}" for v in range(n_levels)]),
                          "x": x, "h": pd.Categorical(rng.choice(list("abcd"), n))})
    return frame, y


def with_unseen_levels(frame, seed=1):
    """``frame`` with a level unseen at fit in every fifth row (it arrives as NaN)."""
    out = frame.copy()
    values = np.array(out["g"].astype(object), dtype=object)
    values[np.random.default_rng(seed).random(len(values)) < 0.2] = "never-seen"
    out["g"] = pd.Categorical(values)
    return out


def reference_raw_score(model, X):
    """Baseline plus every tree's blended value (``tests/blend_reference.py``), per output column."""
    codes = model._validate_predict_input(X)
    raw = np.tile(np.asarray(model._baseline, dtype=np.float64).ravel(), (len(codes), 1))
    for iteration in model._trees:
        for k, tree in enumerate(iteration):
            raw[:, k] += tree_values(tree, codes)[:, 0]
    return raw, codes


def blending_rows(trees, codes):
    """Mask of the rows that blend in at least one of ``trees``."""
    def blends(tree, x, node=0):
        if tree.left[node] < 0:
            return False
        where = route(tree, node, float(x[tree.feature[node]]))
        if where == "blend":
            return True
        return blends(tree, x, int(tree.left[node] if where == "left" else tree.right[node]))

    return np.array([any(blends(t, x) for t in trees) for x in codes])


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_fitted_model_contributions_add_up_to_the_blended_raw_score(task):
    frame, y = grouped_frame()
    if task == "regression":
        model = ShrinkBoostRegressor(n_estimators=30, random_state=0).fit(frame, y)
    else:
        model = ShrinkBoostClassifier(n_estimators=15, random_state=0).fit(frame, np.digitize(y, [-1.0, 1.0]))
    trees = [t for iteration in model._trees for t in iteration]
    assert sum(int(np.sum(t.present_offset >= 0)) for t in trees) > 0
    test = with_unseen_levels(grouped_frame(n=300, seed=3)[0])
    raw, codes = reference_raw_score(model, test)
    blends = blending_rows(trees, codes)
    assert blends.mean() > 0.3  # most rows meet an absent level or NaN somewhere
    phi = model.predict_contributions(test)
    phi = phi[:, None, :] if phi.ndim == 2 else phi
    assert np.abs(phi.sum(axis=2) - raw).max() < 1e-9
