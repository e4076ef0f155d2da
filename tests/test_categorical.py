"""Native categorical features: detection, encodings, level pooling, BLUP agreement, bad input."""

import pickle
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
from shrinktree.boosting.splitting import INSERTION_SORT_MAX, RADIX_SORT_MIN, level_pooling_k, stable_order


def grouped(n_groups=60, n=3000, tau=1.0, sigma=1.0, seed=0, lognormal_sd=1.0):
    """Rows in groups of very unequal size; y = group effect + noise."""
    rng = np.random.default_rng(seed)
    sizes = rng.lognormal(0.0, lognormal_sd, n_groups)
    group = np.concatenate([np.arange(n_groups), rng.choice(n_groups, n - n_groups, p=sizes / sizes.sum())])
    effect = rng.normal(0.0, tau, n_groups)
    y = effect[group] + rng.normal(0.0, sigma, n)
    return group, y, effect


def n_categorical_splits(model):
    return sum(int(t.is_categorical[t.left >= 0].sum()) for trees in model.trees_ for t in trees)


# -- detection ------------------------------------------------------------------------------------


def test_category_dtype_is_detected_and_numpy_is_not():
    group, y, _ = grouped()
    x = np.random.default_rng(1).normal(size=len(y))
    frame = pd.DataFrame({"x": x, "g": pd.Categorical(group)})
    model = ShrinkBoostRegressor(n_estimators=5, random_state=0).fit(frame, y)
    assert model.is_categorical_.tolist() == [False, True]
    assert n_categorical_splits(model) > 0
    assert list(model.feature_names_in_) == ["x", "g"] and model.n_features_in_ == 2
    numeric = ShrinkBoostRegressor(n_estimators=5, random_state=0).fit(np.column_stack([x, group]), y)
    assert not numeric.is_categorical_.any()
    assert n_categorical_splits(numeric) == 0


def test_text_columns_in_a_frame_are_categorical():
    group, y, _ = grouped()
    frame = pd.DataFrame({"g": np.array([f"s{g:03d}" for g in group], dtype=object)})
    model = ShrinkBoostRegressor(n_estimators=5, random_state=0).fit(frame, y)
    assert model.is_categorical_.tolist() == [True]


@pytest.mark.parametrize("selection", [[1], ["g"], [False, True], np.array([False, True])])
def test_categorical_features_by_index_name_or_mask(selection):
    group, y, _ = grouped()
    x = np.random.default_rng(1).normal(size=len(y))
    frame = pd.DataFrame({"x": x, "g": group})
    reference = ShrinkBoostRegressor(n_estimators=5, random_state=0, categorical_features=[1]).fit(frame, y)
    model = ShrinkBoostRegressor(n_estimators=5, random_state=0, categorical_features=selection).fit(frame, y)
    assert model.is_categorical_.tolist() == [False, True]
    np.testing.assert_array_equal(model.predict(frame), reference.predict(frame))


def test_categorical_features_none_keeps_numeric_codes():
    group, y, _ = grouped()
    frame = pd.DataFrame({"g": group})
    model = ShrinkBoostRegressor(n_estimators=5, random_state=0, categorical_features=None).fit(frame, y)
    assert n_categorical_splits(model) == 0


def test_strings_ints_and_pandas_categoricals_give_the_same_model():
    group, y, _ = grouped()
    as_int = pd.DataFrame({"g": group})
    as_text = pd.DataFrame({"g": np.array([f"s{g:03d}" for g in group], dtype=object)})
    as_category = pd.DataFrame({"g": pd.Categorical(group)})
    numpy_int = group.reshape(-1, 1)
    predictions = [
        ShrinkBoostRegressor(n_estimators=10, random_state=0, categorical_features=[0]).fit(as_int, y).predict(as_int),
        ShrinkBoostRegressor(n_estimators=10, random_state=0).fit(as_text, y).predict(as_text),
        ShrinkBoostRegressor(n_estimators=10, random_state=0).fit(as_category, y).predict(as_category),
        ShrinkBoostRegressor(n_estimators=10, random_state=0, categorical_features=[0]).fit(numpy_int, y)
        .predict(numpy_int),
    ]
    for p in predictions[1:]:
        np.testing.assert_array_equal(p, predictions[0])


def test_classifier_with_categoricals():
    group, y, _ = grouped()
    frame = pd.DataFrame({"g": pd.Categorical(group)})
    model = ShrinkBoostClassifier(n_estimators=30, random_state=0).fit(frame, y > 0)
    proba = model.predict_proba(frame)
    assert proba.shape == (len(y), 2) and np.all(np.isfinite(proba))
    # The best possible accuracy here is about 0.75 (noise as large as the group effects).
    assert model.score(frame, y > 0) > 0.68
    labels = np.digitize(y, [-0.7, 0.7])
    multi = ShrinkBoostClassifier(n_estimators=5, random_state=0).fit(frame, labels)
    assert multi.predict_proba(frame).shape == (len(y), 3)


def test_deterministic():
    group, y, _ = grouped()
    frame = pd.DataFrame({"g": pd.Categorical(group), "x": np.random.default_rng(2).normal(size=len(y))})
    a = ShrinkBoostRegressor(n_estimators=10, random_state=3, subsample=0.8, colsample=0.5).fit(frame, y)
    b = ShrinkBoostRegressor(n_estimators=10, random_state=3, subsample=0.8, colsample=0.5).fit(frame, y)
    np.testing.assert_array_equal(a.predict(frame), b.predict(frame))
    for ta, tb in zip(a.trees_, b.trees_):
        np.testing.assert_array_equal(ta[0].cat_bitset, tb[0].cat_bitset)


# -- prediction: order, unseen, missing -------------------------------------------------------------


def test_pickled_model_predicts_the_same_with_another_category_order():
    group, y, _ = grouped()
    names = np.array([f"s{g:03d}" for g in group])
    frame = pd.DataFrame({"g": pd.Categorical(names), "x": np.random.default_rng(2).normal(size=len(y))})
    model = ShrinkBoostRegressor(n_estimators=20, random_state=0).fit(frame, y)
    expected = model.predict(frame)
    restored = pickle.loads(pickle.dumps(model))
    reordered = frame.assign(g=frame["g"].cat.reorder_categories(frame["g"].cat.categories[::-1]))
    assert not np.array_equal(reordered["g"].cat.codes, frame["g"].cat.codes)
    np.testing.assert_array_equal(restored.predict(reordered), expected)
    # Extra declared categories that were never seen and a subset of rows change nothing either.
    subset = frame.iloc[::7].assign(g=pd.Categorical(names[::7], categories=sorted(set(names)) + ["zzz"]))
    np.testing.assert_array_equal(restored.predict(subset), expected[::7])


def test_unseen_levels_and_missing_values_go_to_the_default_side():
    group, y, _ = grouped()
    frame = pd.DataFrame({"g": pd.Categorical(group)})
    model = ShrinkBoostRegressor(n_estimators=20, random_state=0).fit(frame, y)
    new = pd.DataFrame({"g": pd.Categorical([10_000, np.nan, 10_001, 0])})
    prediction = model.predict(new)
    assert np.all(np.isfinite(prediction))
    # An unseen level and a missing value take the same path: the learned default side.
    assert prediction[0] == prediction[1] == prediction[2]
    # With no data the prediction stays near the overall mean, not at some group's value.
    assert abs(prediction[0] - y.mean()) < 0.5 * np.std(model.predict(frame)) + 0.1


def test_missing_values_at_fit_time():
    group, y, _ = grouped()
    values = group.astype(float)
    values[::10] = np.nan
    y = np.where(np.isnan(values), 3.0, y)  # missing rows have their own, distinct effect
    frame = pd.DataFrame({"g": values})
    model = ShrinkBoostRegressor(n_estimators=30, random_state=0, categorical_features=[0]).fit(frame, y)
    prediction = model.predict(pd.DataFrame({"g": [np.nan]}))
    assert prediction[0] > 2.0


# -- what the pooling buys --------------------------------------------------------------------------


def test_level_pooling_k_recovers_the_variance_ratio():
    rng = np.random.default_rng(0)
    n_levels, sigma2, tau2 = 400, 4.0, 0.5
    mass = rng.integers(1, 60, n_levels).astype(float)
    effect = rng.normal(0, np.sqrt(tau2), n_levels)
    # Level gradient sums of squared error around 0: G_l = -(sum of y) with y = effect + noise.
    level_g = -(mass * effect + rng.normal(0, np.sqrt(sigma2 * mass)))
    k = level_pooling_k(level_g, mass, n_levels, level_g.sum(), mass.sum(), sigma2)
    assert 0.6 * sigma2 / tau2 < k < 1.6 * sigma2 / tau2
    # Levels that differ by noise alone are pooled completely (no split on that feature).
    noise_g = -rng.normal(0, np.sqrt(sigma2 * mass))
    assert level_pooling_k(noise_g, mass, n_levels, noise_g.sum(), mass.sum(), sigma2) > 20 * sigma2 / tau2


def test_pure_noise_groups_are_pooled_to_the_mean():
    rng = np.random.default_rng(0)
    group = rng.integers(0, 500, 4000)
    y = rng.normal(size=4000)
    frame = pd.DataFrame({"g": pd.Categorical(group)})
    spread = {s: np.std(ShrinkBoostRegressor(shrinkage=s, random_state=0).fit(frame, y).predict(frame))
              for s in ("none", "eb")}
    assert spread["none"] > 0.3
    assert spread["eb"] < 0.25 * spread["none"]


def test_blup_agreement_with_mixedlm():
    """Per-group predictions are closer to a random-intercept model's BLUPs than the raw group means are."""
    group, y, _ = grouped(n_groups=200, n=4000, tau=0.5, sigma=1.0, seed=0, lognormal_sd=1.3)
    data = pd.DataFrame({"y": y, "g": group})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.mixedlm("y ~ 1", data, groups=data["g"]).fit(reml=True)
    levels = np.arange(200)
    blup = fit.fe_params["Intercept"] + np.array([fit.random_effects[k].iloc[0] for k in levels])
    means = data.groupby("g")["y"].mean().loc[levels].to_numpy()
    counts = np.bincount(group, minlength=200)
    model = ShrinkBoostRegressor(random_state=0).fit(pd.DataFrame({"g": pd.Categorical(group)}), y)
    predicted = model.predict(pd.DataFrame({"g": pd.Categorical(levels)}))

    def distance(a, b):
        return float(np.sqrt(np.mean((a - b) ** 2)))

    assert distance(predicted, blup) < 0.6 * distance(means, blup)
    assert np.corrcoef(predicted, blup)[0, 1] > 0.9
    # Like the BLUPs, small groups are pulled toward the overall mean, large ones much less.
    small, large = counts <= np.quantile(counts, 0.25), counts >= np.quantile(counts, 0.75)
    grand = y.mean()

    def pull(values, rows):
        return np.mean(np.abs(values[rows] - grand)) / np.mean(np.abs(means[rows] - grand))

    assert pull(predicted, small) < 0.6
    assert pull(blup, small) < 0.6
    assert pull(predicted, large) > pull(predicted, small) + 0.2


def test_categorical_splits_beat_ordinal_codes_on_unordered_effects():
    group, y, _ = grouped(n_groups=300, n=8000, tau=1.0, sigma=1.0, seed=4)
    test_group, test_y, _ = grouped(n_groups=300, n=8000, tau=1.0, sigma=1.0, seed=4)
    rng = np.random.default_rng(9)
    effect = rng.normal(0, 1, 300)
    y = effect[group] + rng.normal(0, 1, len(group))
    test_y = effect[test_group] + rng.normal(0, 1, len(test_group))
    native = ShrinkBoostRegressor(random_state=0, categorical_features=[0]).fit(group.reshape(-1, 1), y)
    ordinal = ShrinkBoostRegressor(random_state=0).fit(group.reshape(-1, 1).astype(float), y)

    def rmse(model):
        return float(np.sqrt(np.mean((model.predict(test_group.reshape(-1, 1).astype(float)) - test_y) ** 2)))

    assert rmse(native) < 0.97 * rmse(ordinal)


def test_one_hundred_thousand_levels_memory_grows_with_levels_not_rows():
    rng = np.random.default_rng(0)
    n_levels, n = 100_000, 200_000
    group = np.concatenate([np.arange(n_levels), rng.integers(0, n_levels, n - n_levels)])
    effect = rng.normal(0, 1, n_levels)
    y = effect[group] + rng.normal(0, 1, n)
    frame = pd.DataFrame({"g": group})
    ShrinkBoostRegressor(n_estimators=1, categorical_features=[0]).fit(frame.iloc[:500], y[:500])  # compile
    tracemalloc.start()
    model = ShrinkBoostRegressor(n_estimators=5, categorical_features=[0], random_state=0,
                                 early_stopping=False).fit(frame, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert model._categorical.n_levels_[0] == n_levels
    assert n_categorical_splits(model) >= 5
    # levels x rows float64 would be 160 GB; a few dozen node histograms of 100,001 x 3 are ~75 MB.
    assert peak < 400e6
    prediction = model.predict(pd.DataFrame({"g": [0, 1, n_levels + 5, -3]}))
    assert np.all(np.isfinite(prediction))
    assert np.corrcoef(model.predict(frame.iloc[:n_levels]), effect)[0, 1] > 0.3


def test_calibrated_and_hs_modes_run_with_categoricals():
    group, y, _ = grouped()
    frame = pd.DataFrame({"g": pd.Categorical(group), "x": np.random.default_rng(2).normal(size=len(y))})
    for params in ({"eb_method": "calibrated"}, {"eb_method": "naive"}, {"shrinkage": "hs", "shrinkage_strength": 5.0},
                   {"shrinkage": "none"}):
        model = ShrinkBoostRegressor(n_estimators=10, random_state=0, **params).fit(frame, y)
        assert np.corrcoef(model.predict(frame), y)[0, 1] > 0.5


# -- bad input ------------------------------------------------------------------------------------


def test_categorical_at_fit_numeric_at_predict_is_an_error():
    group, y, _ = grouped()
    frame = pd.DataFrame({"g": pd.Categorical(group)})
    model = ShrinkBoostRegressor(n_estimators=3).fit(frame, y)
    with pytest.raises(ValueError, match="categorical .* at fit time but is numeric"):
        model.predict(pd.DataFrame({"g": group.astype(float)}))


@pytest.mark.parametrize("stage", ["fit", "predict"])
def test_non_integer_floats_as_categorical_are_an_error(stage):
    group, y, _ = grouped()
    values = group.astype(float)
    if stage == "fit":
        values[5] = 2.5
        with pytest.raises(ValueError, match="non-integer value 2.5"):
            ShrinkBoostRegressor(n_estimators=3, categorical_features=[0]).fit(values.reshape(-1, 1), y)
    else:
        model = ShrinkBoostRegressor(n_estimators=3, categorical_features=[0]).fit(values.reshape(-1, 1), y)
        with pytest.raises(ValueError, match="non-integer value 0.5"):
            model.predict(np.array([[0.5]]))


def test_infinite_categorical_value_is_an_error():
    group, y, _ = grouped()
    values = group.astype(float)
    values[3] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        ShrinkBoostRegressor(n_estimators=3, categorical_features=[0]).fit(values.reshape(-1, 1), y)


@pytest.mark.parametrize("selection,match", [
    (["nope"], "does not have"),
    ([5], "outside \\[0, 1\\]"),
    ([True], "boolean mask"),
    ("auto", "from_dtype"),
    ([0.5], "integer position or by name"),
])
def test_bad_categorical_features(selection, match):
    group, y, _ = grouped()
    frame = pd.DataFrame({"g": group, "x": y})
    with pytest.raises(ValueError, match=match):
        ShrinkBoostRegressor(n_estimators=3, categorical_features=selection).fit(frame, y)


def test_names_need_a_frame_and_text_needs_categorical():
    group, y, _ = grouped()
    with pytest.raises(ValueError, match="no column names"):
        ShrinkBoostRegressor(categorical_features=["g"]).fit(group.reshape(-1, 1), y)
    text = pd.DataFrame({"g": [f"s{g}" for g in group]})
    with pytest.raises(ValueError):
        ShrinkBoostRegressor(categorical_features=None).fit(text, y)


def test_predict_with_wrong_columns():
    group, y, _ = grouped()
    frame = pd.DataFrame({"g": pd.Categorical(group), "x": y})
    model = ShrinkBoostRegressor(n_estimators=3).fit(frame, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(frame[["g"]])
    with pytest.raises(ValueError, match="feature names"):
        model.predict(frame[["x", "g"]])


def test_tree_input_routes_the_trees_like_predict():
    from shrinktree._tree import FlatForest

    group, y, _ = grouped()
    frame = pd.DataFrame({"g": pd.Categorical([f"s{g}" for g in group]), "x": y})
    model = ShrinkBoostRegressor(n_estimators=5, random_state=0).fit(frame, y)
    encoded = model.tree_input(frame.iloc[::-1])
    assert encoded.dtype == np.float64 and np.isnan(model.tree_input(frame.assign(g="new"))[:, 0]).all()
    forest = FlatForest.from_trees([t for trees in model.trees_ for t in trees])
    raw = model._baseline + forest.predict_sum(encoded, np.zeros(model.n_iter_, dtype=np.int64), 1)[:, 0]
    np.testing.assert_allclose(raw, model.predict(frame.iloc[::-1]))


@pytest.mark.parametrize("params", [{}, {"eb_method": "calibrated"}])
def test_integer_weights_equal_repeated_rows(params):
    rng = np.random.default_rng(3)
    n = 400
    group = rng.integers(0, 40, n)
    x = np.round(rng.normal(size=n), 2)
    y = rng.normal(0, 1, 40)[group] + x + rng.normal(scale=0.5, size=n)
    w = rng.integers(0, 4, size=n)
    w[group == 7] = 0  # a level seen only in zero-weight rows must not change the model
    frame = pd.DataFrame({"g": pd.Categorical([f"s{g:02d}" for g in group]), "x": x})
    settings = dict(n_estimators=15, min_samples_leaf=1, max_leaf_nodes=8, early_stopping=False, random_state=0,
                    **params)
    weighted = ShrinkBoostRegressor(**settings).fit(frame, y, sample_weight=w)
    rows = np.repeat(np.arange(n), w)
    repeated = ShrinkBoostRegressor(**settings).fit(frame.iloc[rows].reset_index(drop=True), y[rows])
    assert n_categorical_splits(weighted) > 0
    np.testing.assert_allclose(weighted.predict(frame), repeated.predict(frame), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("m", [0, 1, 2, 5, INSERTION_SORT_MAX, INSERTION_SORT_MAX + 1, 200, RADIX_SORT_MIN - 1,
                               RADIX_SORT_MIN, 1500])
def test_stable_order_is_numpys_stable_argsort(m):
    # Ties (rounded keys), signed zeros, infinities, keys of many magnitudes and NaN: the levels' order must be
    # np.argsort's, mergesort, exactly (the radix sort of many levels included).
    rng = np.random.default_rng(m)
    for trial in range(20):
        key = np.round(rng.normal(size=m + 3), 1)
        if trial % 4 == 1:
            key = key * 10.0 ** rng.integers(-300, 300, size=key.size)
        if m and trial % 3 == 0:
            key[rng.integers(0, m, size=max(1, m // 10))] = -0.0
            key[rng.integers(0, m, size=max(1, m // 10))] = 0.0
        if m and trial % 4 == 2:
            key[rng.integers(0, m, size=max(1, m // 20))] = np.inf
            key[rng.integers(0, m, size=max(1, m // 20))] = -np.inf
        if m and trial % 5 == 0:
            key[rng.integers(0, m)] = np.nan
        order = np.full(m + 3, -7, dtype=np.int64)
        stable_order(key, m, order)
        np.testing.assert_array_equal(order[:m], np.argsort(key[:m], kind="mergesort"))
        assert np.all(order[m:] == -7)
