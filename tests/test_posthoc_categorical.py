"""The post-hoc wrapper with categorical inputs: LightGBM fitted on 'category' columns and shrinktree's
own boosters (whose categorical levels map through ``tree_input``)."""

import pickle

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils.estimator_checks import parametrize_with_checks

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor, ShrunkClassifier, ShrunkRegressor, shrink

LEVELS = list("pqrstuvw")
EFFECT = dict(zip(LEVELS, [0.0, 3.0, -2.0, 1.0, 5.0, -4.0, 2.0, -1.0]))


def _frame(n=800, seed=0, text=False):
    """Numeric columns (one with NaN), a string category column (with missing) and an int category column."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    a[::17] = np.nan
    c = rng.choice(LEVELS, n).astype(object)
    c[5::23] = None
    d = rng.choice([10, 20, 30], n)
    X = pd.DataFrame({
        "a": a,
        "c": c if text else pd.Categorical(c, categories=LEVELS),
        "b": rng.normal(size=n),
        "d": pd.Categorical(d),
    })
    signal = np.nan_to_num(a) + pd.Series(c).map(EFFECT).fillna(0.5).to_numpy() + (d == 20) * 1.5
    y = signal + rng.normal(scale=1.0, size=n)
    return X, y


def _variants(X):
    """The same rows with the categories listed in another order, and with an unseen level."""
    reordered = X.copy()
    reordered["c"] = reordered["c"].cat.reorder_categories(LEVELS[::-1])
    reordered["d"] = reordered["d"].cat.reorder_categories([30, 10, 20])
    unseen = X.copy()
    values = np.array(unseen["c"].astype(object), dtype=object)
    values[::7] = "new-level"
    unseen["c"] = pd.Categorical(values)
    return {"same": X, "reordered": reordered, "unseen": unseen}


def _lgbm(task, X, y):
    params = dict(n_estimators=25, num_leaves=15, min_child_samples=5, verbose=-1, random_state=0)
    if task == "reg":
        return lgb.LGBMRegressor(**params).fit(X, y)
    if task == "bin":
        return lgb.LGBMClassifier(**params).fit(X, (y > 0.5).astype(int))
    return lgb.LGBMClassifier(**params).fit(X, np.digitize(y, [-1.0, 1.5]))


def _target(task, y):
    return y if task == "reg" else ((y > 0.5).astype(int) if task == "bin" else np.digitize(y, [-1.0, 1.5]))


def _output(model, X):
    return model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X)


# -- LightGBM --------------------------------------------------------------------------------------

@pytest.mark.parametrize("task", ["reg", "bin", "multi"])
def test_lightgbm_none_reproduces_category_frames(task):
    X, y = _frame()
    model = _lgbm(task, X, y)
    assert model.booster_.pandas_categorical  # LightGBM did detect the 'category' columns
    shrunk = shrink(model, X, _target(task, y), method="none")
    for name, Xv in _variants(X).items():
        np.testing.assert_allclose(_output(shrunk, Xv), _output(model, Xv), rtol=0, atol=1e-10, err_msg=name)
    # Categorical splits really are used, and an unseen level does change some predictions.
    assert any(t.is_categorical.any() for t in shrunk.trees_)
    v = _variants(X)
    assert not np.allclose(_output(shrunk, v["unseen"]), _output(shrunk, X))


def test_lightgbm_booster_and_numeric_codes():
    X, y = _frame()
    model = _lgbm("reg", X, y)
    shrunk_booster = shrink(model.booster_, method="none")
    with pytest.warns(UserWarning, match="feature names"):  # a Booster carries no feature_names_in_
        np.testing.assert_allclose(shrunk_booster.predict(X), model.predict(X), rtol=0, atol=1e-10)
    # A numeric matrix holds LightGBM's codes already (as LightGBM itself reads it).
    codes = X.copy()
    codes["c"] = codes["c"].cat.codes.replace(-1, np.nan).astype(float)
    codes["d"] = codes["d"].cat.codes.astype(float)
    np.testing.assert_allclose(shrunk_booster.predict(codes.to_numpy()), model.predict(X), rtol=0, atol=1e-10)


@pytest.mark.parametrize("task", ["reg", "bin"])
@pytest.mark.parametrize("method", ["hs", "eb"])
def test_lightgbm_hs_eb_pool_category_frames(task, method):
    X, y = _frame()
    model = _lgbm(task, X, y)
    kwargs = {"strength": 20.0} if method == "hs" else {}
    shrunk = shrink(model, X, _target(task, y), method=method, **kwargs)
    factors = np.concatenate(shrunk.pooling_factors_)
    assert np.all((factors >= 0) & (factors <= 1))
    assert np.mean(factors[1:] < 1 - 1e-6) > 0.5  # most nodes are pooled
    base, pooled = _output(model, X), _output(shrunk, X)
    assert np.all(np.isfinite(pooled))
    assert not np.allclose(base, pooled)
    # Pooling pulls predictions toward the root values: the spread does not grow.
    col = (lambda p: p) if task == "reg" else (lambda p: p[:, 1])
    assert np.std(col(pooled)) <= np.std(col(base)) + 1e-12
    # The reordered frame is mapped by value, so it predicts the same.
    np.testing.assert_allclose(_output(shrunk, _variants(X)["reordered"]), pooled, rtol=0, atol=1e-12)


def test_lightgbm_strength_cv_refits_on_frames():
    X, y = _frame(n=500)
    model = _lgbm("reg", X, y)
    shrunk = shrink(model, X, y, method="hs", strength="cv", cv=3, grid=[0.0, 10.0, 1000.0])
    assert shrunk.strength_ in (0.0, 10.0, 1000.0)
    assert np.isfinite(shrunk.predict(X)).all()


def test_lightgbm_category_input_errors():
    X, y = _frame()
    model = _lgbm("reg", X, y)
    shrunk = shrink(model, X, y, method="none")
    as_text = X.copy()
    as_text["c"] = as_text["c"].astype(object)
    with pytest.raises(ValueError, match="'category' columns"):
        shrunk.predict(as_text)
    with pytest.raises(ValueError, match="'category' columns"):
        shrink(model, as_text, y, method="eb")
    swapped = X.copy()
    swapped["a"], swapped["b"] = pd.Categorical(X["b"].round(1)), X["a"].to_numpy()
    swapped["c"] = X["c"].cat.codes.astype(float)
    with pytest.raises(ValueError, match="not a 'category' column"):
        shrunk.predict(swapped)
    renamed = X.rename(columns={"b": "bb"})
    with pytest.raises(ValueError, match="feature names"):
        shrunk.predict(renamed)
    with pytest.raises(ValueError, match="feature"):
        shrunk.predict(X[["a", "c", "b"]])
    inf = X.copy()
    inf.loc[0, "b"] = np.inf
    with pytest.raises(ValueError, match="(?i)infinity"):
        shrunk.predict(inf)


# -- shrinktree's own boosters -----------------------------------------------------------------------

@pytest.mark.parametrize("shrinkage", ["eb", "none", "hs"])
def test_shrinkboost_none_reproduces(shrinkage):
    X, y = _frame()
    kwargs = {"shrinkage_strength": 5.0} if shrinkage == "hs" else {}
    model = ShrinkBoostRegressor(n_estimators=20, shrinkage=shrinkage, random_state=0, **kwargs).fit(X, y)
    assert model.is_categorical_.tolist() == [False, True, False, True]
    shrunk = shrink(model, method="none")
    for name, Xv in _variants(X).items():
        np.testing.assert_allclose(shrunk.predict(Xv), model.predict(Xv), rtol=0, atol=1e-10, err_msg=name)
    # Numeric numpy input.
    Xn = X[["a", "b"]].to_numpy()
    numeric = ShrinkBoostRegressor(n_estimators=20, shrinkage=shrinkage, random_state=0, **kwargs).fit(Xn, y)
    np.testing.assert_allclose(shrink(numeric, method="none").predict(Xn), numeric.predict(Xn), rtol=0, atol=1e-10)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_shrinkboost_classifier_none_reproduces_text_columns(n_classes):
    X, y = _frame(text=True)
    target = (y > 0.5).astype(int) if n_classes == 2 else np.array(["lo", "mid", "hi"])[np.digitize(y, [-1, 1.5])]
    model = ShrinkBoostClassifier(n_estimators=15, random_state=0).fit(X, target)
    shrunk = shrink(model, X, target, method="none")
    unseen = X.copy()
    unseen.loc[::5, "c"] = "never-seen"
    for Xv in (X, unseen):
        np.testing.assert_allclose(shrunk.predict_proba(Xv), model.predict_proba(Xv), rtol=0, atol=1e-10)
        np.testing.assert_allclose(shrunk.decision_function(Xv), model.decision_function(Xv), rtol=0, atol=1e-10)
    assert list(shrunk.classes_) == list(model.classes_)
    eb = shrink(model, X, target, method="eb")
    assert np.isfinite(eb.predict_proba(X)).all()


def test_shrinkboost_hs_shrinks_monotonically():
    X, y = _frame()
    model = ShrinkBoostRegressor(n_estimators=30, shrinkage="none", random_state=0).fit(X, y)
    baseline = float(model._baseline[0])
    spreads, previous = [], None
    for lam in (0.0, 1.0, 10.0, 100.0, 1e4):
        shrunk = shrink(model, method="hs", strength=lam)
        factors = np.concatenate(shrunk.pooling_factors_)
        if previous is not None:
            assert np.all(factors <= previous + 1e-15)
        previous = factors
        spreads.append(float(np.mean((shrunk.predict(X) - baseline) ** 2)))
        if lam == 0.0:
            np.testing.assert_allclose(shrunk.predict(X), model.predict(X), rtol=0, atol=1e-10)
    assert all(b < a for a, b in zip(spreads, spreads[1:]))
    assert spreads[-1] < 0.05 * spreads[0]


def test_shrinkboost_source_untouched_and_pickles():
    X, y = _frame()
    model = ShrinkBoostRegressor(n_estimators=10, random_state=0).fit(X, y)
    before = model.predict(X)
    shrunk = shrink(model, method="hs", strength=10.0)
    np.testing.assert_array_equal(model.predict(X), before)
    assert all(np.all(t.pooling_factor <= 1) for stage in model.trees_ for t in stage)
    copy = pickle.loads(pickle.dumps(shrunk))
    np.testing.assert_array_equal(copy.predict(X), shrunk.predict(X))
    with pytest.raises(ValueError, match="feature"):
        shrunk.predict(X[["a", "c", "b"]])
    with pytest.raises(Exception, match="(?i)not fitted"):
        shrink(ShrinkBoostRegressor(), method="none")


# -- meta-estimators ------------------------------------------------------------------------------

@pytest.mark.parametrize("base", ["lightgbm", "shrinkboost"])
def test_shrunk_regressor_on_category_frame(base):
    X, y = _frame()
    est = (lgb.LGBMRegressor(n_estimators=20, verbose=-1, random_state=0) if base == "lightgbm"
           else ShrinkBoostRegressor(n_estimators=20, random_state=0))
    meta = ShrunkRegressor(est, method="none").fit(X, y)
    np.testing.assert_allclose(meta.predict(X), meta.estimator_.predict(X), rtol=0, atol=1e-10)
    assert list(meta.feature_names_in_) == list(X.columns)
    pooled = ShrunkRegressor(est, method="eb").fit(X, y)
    v = _variants(X)
    np.testing.assert_allclose(pooled.predict(v["reordered"]), pooled.predict(X), rtol=0, atol=1e-12)
    assert np.isfinite(pooled.predict(v["unseen"])).all()
    assert pooled.score(X, y) > 0.5


def test_shrunk_classifier_on_text_frame():
    X, y = _frame(text=True)
    target = (y > 0.5).astype(int)
    meta = ShrunkClassifier(ShrinkBoostClassifier(n_estimators=15, random_state=0), method="hs",
                            strength=5.0).fit(X, target)
    assert meta.predict_proba(X).shape == (len(X), 2)
    assert meta.score(X, target) > 0.6


def test_unsupported_categorical_paths_raise_clearly():
    X, y = _frame()
    with pytest.raises(ValueError, match="LightGBM and shrinktree"):
        ShrunkRegressor().fit(X, y)
    X_text, _ = _frame(text=True)
    with pytest.raises(ValueError, match="astype\\('category'\\)"):
        ShrunkRegressor(lgb.LGBMRegressor(verbose=-1)).fit(X_text, y)
    hgb = HistGradientBoostingRegressor(max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="HistGradientBoosting models with categorical features"):
        shrink(hgb, X, y)
    tree = DecisionTreeRegressor(max_depth=3).fit(X[["a", "b"]].fillna(0), y)
    with pytest.raises(ValueError, match="categorical"):
        shrink(tree, X[["a", "c"]], y)


@parametrize_with_checks([
    ShrunkRegressor(ShrinkBoostRegressor(n_estimators=10, learning_rate=0.5, random_state=0), method="hs",
                    strength=5.0),
    ShrunkClassifier(ShrinkBoostClassifier(n_estimators=5, random_state=0), method="none"),
])
def test_shrinkboost_meta_sklearn_compatible(estimator, check):
    check(estimator)
