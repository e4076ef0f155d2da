"""Choosing lambda: K-fold cross-validation (one fit per fold) and generalised cross-validation."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import make_scorer, mean_absolute_error
from sklearn.model_selection import KFold
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from shrinktree import shrink
from shrinktree.posthoc.parsed import ParsedModel
from shrinktree.posthoc.selection import hs_trace
from shrinktree.posthoc.shrink import parse_model

GRID = [0.0, 1.0, 10.0, 100.0, 1000.0]


@pytest.fixture(scope="module")
def noisy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = 0.5 * X[:, 0] + rng.normal(size=300)
    return X, y


def test_cv_matches_a_brute_force_search(noisy):
    X, y = noisy
    model = DecisionTreeRegressor(random_state=0).fit(X, y)
    shrunk = shrink(model, X, y, method="hs", strength="cv", grid=GRID, cv=3, random_state=5)
    scores = np.zeros(len(GRID))
    for train, test in KFold(3, shuffle=True, random_state=5).split(X):
        fold = clone(model).fit(X[train], y[train])
        for j, lam in enumerate(GRID):
            pred = shrink(fold, method="hs", strength=lam).predict(X[test])
            scores[j] += -np.mean((pred - y[test]) ** 2)
    assert shrunk.strength_ == GRID[int(np.argmax(scores))]
    assert shrunk.strength_ > 0  # a fully grown tree on noisy data needs shrinking


def test_cv_honours_scoring_and_sample_weight(noisy):
    X, y = noisy
    model = DecisionTreeRegressor(random_state=0).fit(X, y)
    # A scorer that rewards constant predictions picks the strongest shrinkage.
    flat = make_scorer(lambda yt, yp: -np.std(yp))
    assert shrink(model, X, y, method="hs", strength="cv", grid=GRID, scoring=flat).strength_ == 1000.0
    mae = shrink(model, X, y, method="hs", strength="cv", grid=GRID, scoring="neg_mean_absolute_error")
    assert mae.strength_ in GRID
    # Weights that zero out half of the rows: the same choice as dropping those rows
    # (folds are drawn over all rows, so compare against a search with the same folds).
    w = (np.arange(300) % 2).astype(float)
    weighted = shrink(model, X, y, method="hs", strength="cv", grid=GRID, cv=3, sample_weight=w,
                      scoring=make_scorer(mean_absolute_error, greater_is_better=False))
    scores = np.zeros(len(GRID))
    for train, test in KFold(3, shuffle=True, random_state=0).split(X):
        keep_tr, keep_te = train[w[train] > 0], test[w[test] > 0]
        fold = clone(model).fit(X[keep_tr], y[keep_tr])
        for j, lam in enumerate(GRID):
            scores[j] -= mean_absolute_error(y[keep_te], shrink(fold, method="hs", strength=lam).predict(X[keep_te]))
    assert weighted.strength_ == GRID[int(np.argmax(scores))]


def test_cv_for_classifiers_uses_stratified_folds():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 3))
    y = np.where(X[:, 0] + rng.normal(size=240) > 0, "pos", "neg")
    model = DecisionTreeClassifier(random_state=0).fit(X, y)
    shrunk = shrink(model, X, y, method="hs", strength="cv", grid=GRID)
    assert shrunk.strength_ > 0
    assert set(shrunk.predict(X)) <= {"pos", "neg"}


def test_trace_of_the_smoother():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X[:, 0] + rng.normal(size=200)
    model = DecisionTreeRegressor(max_leaf_nodes=12, random_state=0).fit(X, y)
    parsed: ParsedModel = parse_model(model)
    assert hs_trace(parsed, 0.0) == pytest.approx(12.0)  # one mean per leaf
    assert hs_trace(parsed, 1e12) == pytest.approx(1.0, abs=1e-6)  # the root mean
    traces = [hs_trace(parsed, lam) for lam in GRID]
    assert np.all(np.diff(traces) < 0)
    # Numerical derivative of the shrunk fit with respect to each y_i (the fit is linear in y).
    lam = 5.0
    base = shrink(model, X, y, method="hs", strength=lam)
    eps, total = 1e-3, 0.0
    for i in range(200):
        y2 = y.copy()
        y2[i] += eps
        refit = DecisionTreeRegressor(max_leaf_nodes=12, random_state=0).fit(X, y)  # same structure
        tree = refit.tree_
        leaves = refit.apply(X)
        # Recompute node means with y2 by passing rows through the fixed structure.
        means = np.zeros(tree.node_count)
        path = refit.decision_path(X).toarray().astype(bool)
        for node in range(tree.node_count):
            means[node] = y2[path[:, node]].mean()
        tree.value[:, 0, 0] = means
        total += (shrink(refit, method="hs", strength=lam).predict(X[i:i + 1])[0] - base.predict(X[i:i + 1])[0]) / eps
        assert leaves is not None
    assert total == pytest.approx(hs_trace(parse_model(model), lam), rel=1e-6)


def test_gcv_prefers_shrinking_noise_and_not_signal():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    noise = rng.normal(size=400)
    X_test, noise_test = rng.normal(size=(400, 4)), rng.normal(size=400)
    tree = DecisionTreeRegressor(min_samples_leaf=10, random_state=0).fit(X, noise)
    chosen = shrink(tree, X, noise, method="hs", strength="gcv")
    assert chosen.strength_ >= 30
    assert np.mean((chosen.predict(X_test) - noise_test) ** 2) < np.mean((tree.predict(X_test) - noise_test) ** 2)
    signal = 5 * (X[:, 0] > 0) + 0.3 * noise
    chosen = shrink(DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, signal), X, signal,
                    method="hs", strength="gcv").strength_
    assert chosen <= 10
    forest = RandomForestRegressor(10, min_samples_leaf=5, random_state=0).fit(X, signal)
    assert shrink(forest, X, signal, method="hs", strength="gcv").strength_ in (0.0, 0.1, 0.3, 1.0, 3.0)
