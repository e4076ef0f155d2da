"""Monotonic and interaction constraints (``monotonic_cst``, ``interaction_cst``).

The property tests draw data (NaN, ties, a categorical column, weights), constraints and
hyperparameters, and check exactly (no tolerance):

* the predictions of the fitted model, and of ``shrink(model, X, y, method="eb")`` and ``"hs"``, are
  monotone along every constrained feature on a grid through every distinct value of that feature,
  from base rows that keep their missing values in the other features;
* every tree is *separated* at each constrained split: no value below the low side exceeds a value
  below the high side (what makes the sum of the trees monotone, see ``docs/shrinkage.md``);
* no root-to-leaf path uses features of two groups that are not allowed together.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor, shrink
from shrinktree._shrinkage import eb_factors, monotone_factors, pool_values, propagate_bounds, separate
from shrinktree._tree import TreeArrays
from shrinktree.boosting.constraints import split_signs
from shrinktree.exceptions import SampleWeightScaleWarning

COMMON = {"deadline": None, "derandomize": True, "suppress_health_check": [HealthCheck.too_slow],
          "database": None}
LOSSES = ["squared_error", "absolute_error", "huber", "quantile", "poisson", "gamma", "tweedie"]
SHRINKAGE = ["eb", "hs", "none"]
EXAMPLES = 12


# -- helpers ---------------------------------------------------------------------------------------
def subtree_nodes(tree: TreeArrays, node: int) -> list[int]:
    nodes, stack = [], [node]
    while stack:
        n = stack.pop()
        nodes.append(n)
        if tree.left[n] >= 0:
            stack.extend((int(tree.left[n]), int(tree.right[n])))
    return nodes


def assert_separated(trees, cst):
    """At every split on a constrained feature, every node value below the low side is <= every one
    below the high side (internal nodes included: ``shrink`` pools on top of them).  And the values are
    the pooling formula ``v_p + f (raw_c - raw_p)`` of the tree's raw values and factors up to rounding:
    the final separation pass only absorbs rounding, it does not make the tree monotone by force."""
    n_checked = 0
    for tree in trees:
        value = tree.value[:, 0]
        formula = np.empty_like(tree.raw_value)
        pool_values(tree.parent, tree.raw_value, tree.pooling_factor.reshape(-1, 1), formula)
        scale = max(1.0, float(np.max(np.abs(tree.raw_value))))
        np.testing.assert_allclose(value, formula[:, 0], rtol=1e-12, atol=1e-12 * scale)
        for node in np.flatnonzero((tree.left >= 0) & (tree.is_categorical == 0)):
            sign = cst[tree.feature[node]]
            if sign == 0:
                continue
            low, high = (tree.left[node], tree.right[node]) if sign > 0 else (tree.right[node], tree.left[node])
            assert value[subtree_nodes(tree, low)].max() <= value[subtree_nodes(tree, high)].min()
            n_checked += 1
    return n_checked


def assert_bounded(trees, cst):
    """The raw values lie within the bounds the grower propagates (the midpoint of a constrained split's two
    values bounds its subtrees): bounding them once more changes nothing but the rounding of the learning
    rate, multiplied into the values after they were bounded."""
    for tree in trees:
        sign = split_signs(tree, cst)
        raw = tree.raw_value[:, 0].copy()
        propagate_bounds(tree.left, tree.right, sign, raw)
        scale = max(1.0, float(np.max(np.abs(raw))))
        np.testing.assert_allclose(raw, tree.raw_value[:, 0], rtol=1e-12, atol=1e-12 * scale)


def sweep(X: pd.DataFrame, j: int, n_base: int = 6) -> tuple[pd.DataFrame, int]:
    """Rows of ``X`` (missing values kept) with column ``j`` swept through a grid over all its distinct
    values, midpoints and far extremes, one base row after another; returns the rows and the grid size."""
    values = np.unique(X.iloc[:, j].dropna().to_numpy())
    middles = 0.5 * (values[1:] + values[:-1])
    grid = np.sort(np.concatenate([[-1e300, 1e300], values, middles]))
    base = X.iloc[np.linspace(0, len(X) - 1, min(n_base, len(X))).astype(int)]
    rows = base.loc[base.index.repeat(len(grid))].reset_index(drop=True)
    rows.iloc[:, j] = np.tile(grid, len(base))
    return rows, len(grid)


def assert_monotone(predict, X: pd.DataFrame, cst):
    for j in np.flatnonzero(cst):
        rows, size = sweep(X, j)
        prediction = np.asarray(predict(rows), dtype=np.float64).reshape(-1, size)
        steps = np.diff(prediction, axis=1) * cst[j]
        assert np.all(steps >= 0), (j, cst[j], steps.min())


def path_features(tree: TreeArrays) -> list[set[int]]:
    """The set of split features on every root-to-leaf path."""
    paths, stack = [], [(0, frozenset())]
    while stack:
        node, used = stack.pop()
        if tree.left[node] < 0:
            paths.append(set(used))
            continue
        used = used | {int(tree.feature[node])}
        stack.extend(((int(tree.left[node]), used), (int(tree.right[node]), used)))
    return paths


def violating_paths(model, groups) -> int:
    return sum(not any(path <= set(g) for g in groups)
               for trees in model.trees_ for tree in trees for path in path_features(tree))


def fit_quietly(model, X, y, weight=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SampleWeightScaleWarning)
        return model.fit(X, y, sample_weight=weight)


# -- data ------------------------------------------------------------------------------------------
@st.composite
def constrained_problems(draw, task: str):
    """A DataFrame with NaN (and sometimes ties and a categorical column), a target for ``task`` (a loss
    or "binary"), weights or None, and a monotonic constraint with at least one constrained feature."""
    n = draw(st.integers(30, 160))
    p = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    X = rng.normal(size=(n, p))
    if draw(st.booleans()):
        X = np.round(X * 2) / 2  # few distinct values, ties
    X[rng.random((n, p)) < draw(st.sampled_from([0.0, 0.1, 0.3]))] = np.nan
    cst = np.array([draw(st.sampled_from([-1, 0, 1])) for _ in range(p)], dtype=np.int8)
    if not np.any(cst):
        cst[draw(st.integers(0, p - 1))] = draw(st.sampled_from([-1, 1]))
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(p)])
    # A signal that is not monotone in any feature: the constraint must bend the fit.
    filled = np.nan_to_num(X)
    signal = np.sum(np.sin(2 * filled) * rng.normal(size=p) + filled * rng.normal(size=p), axis=1)
    if draw(st.booleans()):
        levels = rng.choice(list("abcd"), n).astype(object)
        levels[rng.random(n) < 0.1] = None
        frame["c"] = pd.Categorical(levels)
        signal = signal + pd.Series(levels).map({"a": 1.0, "b": -1.0, "c": 0.5, "d": 0.0}).fillna(0).to_numpy()
        cst = np.append(cst, 0)
    noise = rng.normal(size=n)
    if task == "binary":
        y = np.where(signal + noise > np.median(signal), "yes", "no")
        y[:2] = ["yes", "no"]
    elif task in ("poisson", "tweedie"):
        y = rng.poisson(np.exp(np.clip(signal / 2, -5, 5))).astype(float)
        y[0] = 1.0
    elif task == "gamma":
        y = np.exp(np.clip(signal / 2 + 0.3 * noise, -20, 20))
    else:
        y = signal + noise
    weight = draw(st.sampled_from([None, "uniform", "counts"]))
    weight = {None: None, "uniform": rng.uniform(0.5, 1.5, n), "counts": rng.integers(0, 3, n).astype(float)}[weight]
    if weight is not None:
        weight[:2] = 1.0
    return frame, y, weight, cst


@st.composite
def booster_parameters(draw, shrinkage: str):
    params = {
        "n_estimators": draw(st.sampled_from([2, 6])),
        "learning_rate": draw(st.sampled_from([0.3, 1.0])),
        "max_leaf_nodes": draw(st.sampled_from([2, 5, 16])),
        "min_samples_leaf": draw(st.sampled_from([1, 4])),
        "l2_regularization": draw(st.sampled_from([0.0, 1.0])),
        "max_bins": draw(st.sampled_from([4, 255])),
        "subsample": draw(st.sampled_from([0.7, 1.0])),
        "random_state": draw(st.integers(0, 3)),
        "shrinkage": shrinkage,
    }
    if shrinkage == "eb":
        params["eb_method"] = draw(st.sampled_from(["honest", "calibrated", "naive"]))
    if shrinkage == "hs":
        params["shrinkage_strength"] = draw(st.sampled_from([1.0, 30.0]))
    return params


# -- monotonic constraints: property tests ---------------------------------------------------------
def positive_class(model):
    return lambda rows: model.predict_proba(rows)[:, 1]


def check_monotone_fit(problem, params, task):
    X, y, weight, cst = problem
    if task == "binary":
        model = ShrinkBoostClassifier(monotonic_cst=cst.tolist(), **params)
    else:
        extra = {"quantile": {"quantile": 0.8}, "huber": {"huber_delta": 0.5}, "tweedie": {"power": 1.4}}.get(task, {})
        model = ShrinkBoostRegressor(loss=task, monotonic_cst=cst.tolist(), **extra, **params)
    fit_quietly(model, X, y, weight)
    trees = [t for trees in model.trees_ for t in trees]
    assert_separated(trees, cst)
    assert_bounded(trees, cst)
    if task == "binary":
        assert_monotone(model.decision_function, X, cst)
        assert_monotone(positive_class(model), X, cst)
    else:
        assert_monotone(model.predict, X, cst)
    # Post-hoc pooling of the constrained model keeps it monotone.
    kept = np.ones(len(y), dtype=bool) if weight is None else weight > 0
    X_kept, y_kept = X[kept].reset_index(drop=True), y[kept]
    for method, strength in (("eb", None), ("hs", 5.0)):
        shrunk = shrink(model, X_kept, y_kept, method=method, strength=strength)
        assert_separated(shrunk.trees_, cst)
        assert_monotone(positive_class(shrunk) if task == "binary" else shrunk.predict, X, cst)


@pytest.mark.parametrize("shrinkage", SHRINKAGE)
@pytest.mark.parametrize("task", LOSSES + ["binary"])
def test_predictions_are_monotone_along_constrained_features(task, shrinkage):
    @settings(max_examples=EXAMPLES, **COMMON)
    @given(problem=constrained_problems(task), params=booster_parameters(shrinkage))
    def run(problem, params):
        check_monotone_fit(problem, params, task)

    run()


# -- monotonic constraints: examples ---------------------------------------------------------------
def noisy_line(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    X[rng.random(n) < 0.1, 0] = np.nan
    y = np.nan_to_num(X[:, 0]) + np.sin(3 * X[:, 1]) + rng.normal(scale=0.5, size=n)
    return X, y


def test_a_constraint_against_the_signal_flattens_the_fit_and_one_along_it_keeps_it():
    X, y = noisy_line()
    grid = np.column_stack([np.linspace(-2, 2, 41), np.zeros(41)])
    along = ShrinkBoostRegressor(monotonic_cst=[1, 0], random_state=0).fit(X, y).predict(grid)
    against = ShrinkBoostRegressor(monotonic_cst=[-1, 0], random_state=0).fit(X, y).predict(grid)
    assert np.all(np.diff(along) >= 0) and along[-1] - along[0] > 2.5
    assert np.all(np.diff(against) <= 0) and against[0] - against[-1] < 0.3


def test_a_dict_by_name_equals_the_array_by_position():
    X, y = noisy_line()
    frame = pd.DataFrame(X, columns=["up", "wave"])
    by_name = ShrinkBoostRegressor(monotonic_cst={"up": 1}, n_estimators=20, random_state=0).fit(frame, y)
    by_position = ShrinkBoostRegressor(monotonic_cst=[1, 0], n_estimators=20, random_state=0).fit(frame, y)
    np.testing.assert_array_equal(by_name.predict(frame), by_position.predict(frame))


@pytest.mark.parametrize("Estimator", [ShrinkBoostRegressor, ShrinkBoostClassifier])
def test_vacuous_constraints_give_the_unconstrained_model_bit_for_bit(Estimator):
    X, y = noisy_line()
    frame = pd.DataFrame(X, columns=["a", "b"])
    frame["c"] = pd.Categorical(np.random.default_rng(1).choice(list("pqr"), len(y)))
    target = y if Estimator is ShrinkBoostRegressor else (y > 0).astype(int)

    def scores(model):
        return model.decision_function(frame) if Estimator is ShrinkBoostClassifier else model.predict(frame)

    reference = scores(Estimator(n_estimators=15, random_state=0).fit(frame, target))
    for constraints in ({"monotonic_cst": [0, 0, 0]}, {"monotonic_cst": {}}, {"interaction_cst": [[0, 1, 2]]},
                        {"interaction_cst": []}):
        model = Estimator(n_estimators=15, random_state=0, **constraints).fit(frame, target)
        np.testing.assert_array_equal(scores(model), reference)


def test_the_grower_never_leaves_a_constrained_split_in_the_wrong_order(monkeypatch):
    # The Newton values of the rows that grew the tree (all rows: no held-out rows with "calibrated"),
    # clipped into the bounds the grower propagated, are in order at every constrained split: the pooling's
    # own bounding then never has to give two children their parent's value.
    from shrinktree.boosting import gradient_boosting

    grown_raw, original = [], gradient_boosting.pool_tree

    def recording(tree, plan, grown, held, sign=None, memory=None):
        grown_raw.append((tree.raw_value[:, 0].copy(), tree.left.copy(), tree.right.copy(), sign.copy()))
        return original(tree, plan, grown, held, sign, memory)

    monkeypatch.setattr(gradient_boosting, "pool_tree", recording)
    X, y = noisy_line()
    ShrinkBoostRegressor(monotonic_cst=[-1, 0], eb_method="calibrated", n_estimators=30, random_state=0).fit(X, -y)
    n_checked = 0
    for raw, left, right, sign in grown_raw:
        lower, upper = np.full(len(raw), -np.inf), np.full(len(raw), np.inf)
        for node in np.flatnonzero(left >= 0):
            lo, hi = left[node], right[node]
            v_left = np.clip(raw[lo], lower[node], upper[node])
            v_right = np.clip(raw[hi], lower[node], upper[node])
            lower[[lo, hi]], upper[[lo, hi]] = lower[node], upper[node]
            if sign[node] != 0:
                assert sign[node] * (v_right - v_left) >= 0
                mid = 0.5 * (v_left + v_right)
                if sign[node] > 0:
                    upper[lo], lower[hi] = mid, mid
                else:
                    lower[lo], upper[hi] = mid, mid
                n_checked += 1
    assert n_checked > 30


def test_children_of_a_constrained_split_share_one_pooling_factor():
    X, y = noisy_line()
    model = ShrinkBoostRegressor(monotonic_cst=[1, 0], eb_method="calibrated", random_state=0).fit(X, y)
    n_shared = 0
    for (tree,) in model.trees_:
        for node in np.flatnonzero((tree.left >= 0) & (tree.feature == 0)):
            assert tree.pooling_factor[tree.left[node]] == tree.pooling_factor[tree.right[node]]
            n_shared += 1
        internal = tree.left >= 0
        for children in (tree.left[internal], tree.right[internal]):
            parents = np.flatnonzero(internal)
            not_root = parents > 0
            assert np.all(tree.pooling_factor[children][not_root] <= tree.pooling_factor[parents][not_root])
    assert n_shared > 0
    assert np.any(np.isfinite(model.pooling_strength_) & (model.pooling_strength_ > 0))


def test_constrained_models_survive_pickling_and_shrink():
    X, y = noisy_line()
    model = ShrinkBoostRegressor(monotonic_cst=[1, 0], n_estimators=20, random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    frame = pd.DataFrame(X)
    assert_monotone(shrink(restored, X, y, method="eb").predict, frame, np.array([1, 0]))
    np.testing.assert_allclose(shrink(restored, X, y, method="none").predict(X), model.predict(X), rtol=1e-12,
                               atol=1e-12)
    interacting = ShrinkBoostRegressor(interaction_cst="no_interactions", n_estimators=10, random_state=0).fit(X, y)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(interacting)).predict(X), interacting.predict(X))


# -- the pooling kernels on a hand-made tree -------------------------------------------------------
def doc_example_tree() -> TreeArrays:
    """docs/shrinkage.md's example: the root splits on an increasing feature into L (16 rows: A with 8
    rows at 2, B with 8 rows at -2) and R (1 row at 5)."""
    parent = np.array([-1, 0, 0, 1, 1], dtype=np.int32)
    left = np.array([1, 3, -1, -1, -1], dtype=np.int32)
    right = np.array([2, 4, -1, -1, -1], dtype=np.int32)
    raw = np.array([5 / 17, 0.0, 5.0, 2.0, -2.0])
    mass = np.array([17.0, 16.0, 1.0, 8.0, 8.0])
    return TreeArrays(parent=parent, left=left, right=right, feature=np.array([0, 1, -1, -1, -1], dtype=np.int32),
                      threshold=np.array([0.0, 0.0, np.nan, np.nan, np.nan]), missing_left=np.zeros(5, np.uint8),
                      raw_value=raw.copy(), value=raw.copy(), pooling_factor=np.ones(5), weight=mass.copy(),
                      count=mass.copy(), gain=np.zeros(5))


def test_per_child_factors_can_break_the_order_and_shared_factors_keep_it():
    tree = doc_example_tree()
    sign = np.array([1, 0, 0, 0, 0], dtype=np.int8)
    factor = eb_factors(tree.parent, tree.weight, 4.0, 1.0)  # k = 4: f = n / (n + 4)
    np.testing.assert_allclose(factor[1:, 0], [0.8, 0.2, 2 / 3, 2 / 3])
    per_child = np.empty_like(tree.raw_value)
    pool_values(tree.parent, tree.raw_value, factor, per_child)
    assert per_child[3, 0] > per_child[2, 0]  # leaf A (low side) above leaf R (high side): not monotone
    edge = factor[:, 0].copy()
    monotone_factors(tree.parent, tree.left, tree.right, sign, edge)
    assert edge[1] == edge[2] == 0.8 and edge[3] == edge[4] == 2 / 3
    shared = np.empty_like(tree.raw_value)
    pool_values(tree.parent, tree.raw_value, edge.reshape(-1, 1), shared)
    assert max(shared[1, 0], shared[3, 0], shared[4, 0]) <= shared[2, 0]


def test_bounds_propagate_from_the_root_and_flipped_children_take_the_parent_value():
    tree = doc_example_tree()
    sign = np.array([1, 0, 0, 0, 0], dtype=np.int8)
    raw = np.array([0.0, 0.0, 1.0, 0.8, -2.0])  # the cut between L and R is 0.5: A is clipped to it
    propagate_bounds(tree.left, tree.right, sign, raw)
    np.testing.assert_array_equal(raw, [0.0, 0.0, 1.0, 0.5, -2.0])
    flipped = np.array([0.3, 1.0, -1.0, 2.0, 0.0])
    propagate_bounds(tree.left, tree.right, sign, flipped)
    np.testing.assert_array_equal(flipped, [0.3, 0.3, 0.3, 0.3, 0.0])
    decreasing = np.array([0.0, 1.0, 0.0, 3.0, -1.0])
    propagate_bounds(tree.left, tree.right, -sign, decreasing)
    np.testing.assert_array_equal(decreasing, [0.0, 1.0, 0.0, 3.0, 0.5])


def test_separation_leaves_a_separated_tree_alone_and_repairs_an_overlap():
    tree = doc_example_tree()
    sign = np.array([1, 0, 0, 0, 0], dtype=np.int8)
    separated = np.array([0.0, 0.0, 3.0, 3.0, -2.0])  # A touches R: still separated
    before = separated.copy()
    separate(tree.parent, tree.left, tree.right, sign, separated)
    np.testing.assert_array_equal(separated, before)
    overlap = np.array([0.0, 0.0, 3.0, 4.0, -2.0])
    separate(tree.parent, tree.left, tree.right, sign, overlap)
    np.testing.assert_array_equal(overlap, [0.0, 0.0, 3.5, 3.5, -2.0])


# -- monotonic constraints: errors -----------------------------------------------------------------
def test_bad_monotonic_constraints_get_clear_errors():
    X, y = noisy_line(n=100)
    frame = pd.DataFrame(X, columns=["a", "b"])
    frame["c"] = pd.Categorical(np.random.default_rng(0).choice(list("pq"), len(y)))
    cases = [
        (X, [1], "has 1 values, but X has 2 features"),
        (X, [1, 0, 0], "has 3 values, but X has 2 features"),
        (X, [2, 0], r"monotonic_cst\[0\] must be -1 \(decreasing\), 0 \(no constraint\) or 1"),
        (X, [0.5, 0], r"monotonic_cst\[0\] must be -1"),
        (X, ["up", 0], r"monotonic_cst\[0\] must be -1"),
        (X, [True, 0], r"monotonic_cst\[0\] must be -1"),
        (X, [[1, 0]], "one-dimensional"),
        (X, "increasing", "array-like of -1, 0 or 1 per feature"),
        (X, {"a": 1}, "X has no column names"),
        (frame, {"a": 1, "z": -1, "y": 1}, r"names 2 feature\(s\) that X does not have: 'y', 'z'"),
        (frame, {"a": 3}, r"monotonic_cst\['a'\] must be -1"),
        (frame, [0, 0, 1], "categorical feature\\(s\\) 'c'"),
        (frame, {"c": -1}, "categorical feature\\(s\\) 'c'"),
    ]
    for data, cst, message in cases:
        with pytest.raises(ValueError, match=message):
            ShrinkBoostRegressor(monotonic_cst=cst, n_estimators=2).fit(data, y)


def test_multiclass_rejects_monotonic_constraints_and_binary_accepts_them():
    X, y = noisy_line(n=150)
    classes = np.digitize(y, [-0.5, 0.5])
    with pytest.raises(ValueError, match="not supported for multiclass"):
        ShrinkBoostClassifier(monotonic_cst=[1, 0], n_estimators=2).fit(X, classes)
    model = ShrinkBoostClassifier(monotonic_cst=[1, 0], n_estimators=10).fit(X, classes > 0)
    assert_monotone(model.decision_function, pd.DataFrame(X), np.array([1, 0]))


def test_a_failed_fit_keeps_the_previous_model():
    X, y = noisy_line(n=150)
    model = ShrinkBoostRegressor(n_estimators=5, random_state=0).fit(X, y)
    before = model.predict(X)
    with pytest.raises(ValueError):
        model.set_params(monotonic_cst=[1, 0, 1]).fit(X, y)
    np.testing.assert_array_equal(model.predict(X), before)


# -- interaction constraints -----------------------------------------------------------------------
def interacting_frame(n=800, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 4)), columns=["x0", "x1", "x2", "x3"])
    frame.loc[rng.random(n) < 0.1, "x1"] = np.nan
    frame["c"] = pd.Categorical(rng.choice(list("pqrs"), n))
    f = frame.fillna(0)
    level = frame["c"].map({"p": 1.0, "q": -1.0, "r": 0.5, "s": -0.5}).to_numpy(dtype=float)
    y = f.x0 * f.x1 + f.x2 * level + f.x3 * f.x0 + np.sign(f.x1) * level + level + rng.normal(scale=0.3, size=n)
    return frame, y.to_numpy()


def full_groups(groups, n_features):
    rest = set(range(n_features)).difference(*map(set, groups))
    return [set(g) for g in groups] + ([rest] if rest else [])


INTERACTIONS = [
    ("pairwise", [{i, j} for i in range(5) for j in range(i + 1, 5)]),
    ("no_interactions", [{j} for j in range(5)]),
    ([[0, 1], [2, 4]], [{0, 1}, {2, 4}, {3}]),
    ([("x0", "x1"), {"x2", "c"}, ["x3", "x0"]], [{0, 1}, {2, 4}, {0, 3}]),
    ([{0, 4}], [{0, 4}, {1, 2, 3}]),
]


@pytest.mark.parametrize("spec, groups", INTERACTIONS, ids=["pairwise", "none", "pairs", "names", "rest"])
@pytest.mark.parametrize("shrinkage", ["eb", "none"])
def test_no_path_mixes_features_of_groups_not_allowed_together(spec, groups, shrinkage):
    frame, y = interacting_frame()
    free = ShrinkBoostRegressor(n_estimators=20, shrinkage=shrinkage, random_state=0).fit(frame, y)
    assert violating_paths(free, groups) > 0  # without the constraint, paths do mix the groups
    model = ShrinkBoostRegressor(interaction_cst=spec, n_estimators=20, shrinkage=shrinkage, random_state=0)
    model.fit(frame, y)
    assert violating_paths(model, groups) == 0
    used = {int(f) for (tree,) in model.trees_ for f in tree.feature[tree.left >= 0]}
    assert len(used) >= 3 and 4 in used  # the trees still split, on the categorical feature too


@pytest.mark.parametrize("seed", range(2))
def test_interaction_constraints_in_the_classifier_with_colsample_and_monotonic_constraints(seed):
    frame, y = interacting_frame(seed=seed)
    spec = [["x0", "x1"], ["x2", "c"]]
    model = ShrinkBoostClassifier(interaction_cst=spec, monotonic_cst={"x0": 1}, colsample=0.6, n_estimators=20,
                                  random_state=seed).fit(frame, y > 0)
    assert violating_paths(model, full_groups([[0, 1], [2, 4]], 5)) == 0
    assert_monotone(model.decision_function, frame, np.array([1, 0, 0, 0, 0]))


@settings(max_examples=12, **COMMON)
@given(partition=st.lists(st.integers(0, 3), min_size=5, max_size=5), n_groups=st.integers(1, 3),
       seed=st.integers(0, 100), shrinkage=st.sampled_from(SHRINKAGE))
def test_random_groups_hold_on_every_path(partition, n_groups, seed, shrinkage):
    # Feature j goes to group partition[j] (group ids >= n_groups are left out: they form the rest group).
    frame, y = interacting_frame(n=300, seed=seed)
    groups = [[j for j in range(5) if partition[j] == g] for g in range(n_groups)]
    params = {"shrinkage_strength": 10.0} if shrinkage == "hs" else {}
    model = ShrinkBoostRegressor(interaction_cst=groups, n_estimators=5, max_leaf_nodes=8, min_samples_leaf=5,
                                 shrinkage=shrinkage, random_state=seed, **params).fit(frame, y)
    assert violating_paths(model, full_groups(groups, 5)) == 0


def test_bad_interaction_constraints_get_clear_errors():
    frame, y = interacting_frame(n=100)
    numeric = frame[["x0", "x1"]].to_numpy()
    cases = [
        (frame, "pairs", "must be 'pairwise', 'no_interactions' or a sequence"),
        (frame, 3, "must be 'pairwise', 'no_interactions' or a sequence"),
        (frame, [0, 1], r"interaction_cst\[0\] must be a list, tuple or set of features; got 0"),
        (frame, ["x0"], r"interaction_cst\[0\] must be a list, tuple or set"),
        (frame, [[0, 5]], r"interaction_cst\[0\] holds the column index 5, outside \[0, 4\]"),
        (frame, [[0], [-1]], r"interaction_cst\[1\] holds the column index -1"),
        (frame, [["x0", "nope"]], r"interaction_cst\[0\] names the column 'nope', which X does not have"),
        (frame, [[0, 1.5]], r"interaction_cst\[0\] holds 1.5"),
        (frame, [[True]], r"interaction_cst\[0\] holds True"),
        (frame, iter([[0, 1]]), "not an iterator"),
        (numeric, [["x0", "x1"]], "X has no column names"),
    ]
    for data, spec, message in cases:
        with pytest.raises(ValueError, match=message):
            ShrinkBoostRegressor(interaction_cst=spec, n_estimators=2).fit(data, y)
