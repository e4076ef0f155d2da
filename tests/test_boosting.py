"""Behaviour of the booster: pooling properties, weights, determinism, missing values, API."""

import pickle

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_friedman1
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import train_test_split

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor


def rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


@pytest.fixture(scope="module")
def friedman():
    X, y = make_friedman1(n_samples=2000, noise=0.3, random_state=0)
    return train_test_split(X, y, test_size=0.5, random_state=0)


@pytest.mark.parametrize("eb_method", ["honest", "calibrated"])
def test_eb_pools_pure_noise_to_the_root(eb_method):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(2000, 8)), rng.normal(size=2000)
    X_test = rng.normal(size=(2000, 8))
    variance = {}
    for shrinkage in ("none", "eb"):
        model = ShrinkBoostRegressor(shrinkage=shrinkage, eb_method=eb_method, random_state=0).fit(X, y)
        variance[shrinkage] = np.var(model.predict(X_test))
    # Plain boosting fits the noise; pooled trees barely move off the mean.
    assert variance["none"] > 0.05
    assert variance["eb"] < 0.1 * variance["none"]


def test_naive_eb_pools_less_than_corrected(friedman):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(2000, 8)), rng.normal(size=2000)
    X_test = rng.normal(size=(1000, 8))
    spread = {m: np.var(ShrinkBoostRegressor(eb_method=m, random_state=0).fit(X, y).predict(X_test))
              for m in ("naive", "calibrated", "honest")}
    assert spread["naive"] > 3 * spread["honest"]
    assert spread["naive"] > 3 * spread["calibrated"]


def test_eb_agrees_with_none_on_strong_signal(friedman):
    X_train, X_test, y_train, y_test = friedman
    none = ShrinkBoostRegressor(shrinkage="none", random_state=0).fit(X_train, y_train)
    eb = ShrinkBoostRegressor(shrinkage="eb", random_state=0).fit(X_train, y_train)
    p_none, p_eb = none.predict(X_test), eb.predict(X_test)
    assert np.corrcoef(p_none, p_eb)[0, 1] > 0.99
    assert rmse(p_eb, y_test) < 1.05 * rmse(p_none, y_test)
    # Signal splits are barely pooled: the first tree's factors are close to one.
    assert np.median(eb.trees_[0][0].pooling_factor) > 0.9


def test_none_on_par_with_sklearn_hgb(friedman):
    X_train, X_test, y_train, y_test = friedman
    ours = ShrinkBoostRegressor(shrinkage="none", early_stopping=False).fit(X_train, y_train)
    hgb = HistGradientBoostingRegressor(max_iter=100, max_leaf_nodes=31, min_samples_leaf=20,
                                        early_stopping=False).fit(X_train, y_train)
    assert rmse(ours.predict(X_test), y_test) < 1.03 * rmse(hgb.predict(X_test), y_test)
    # Same algorithm, same settings: predictions nearly coincide.
    assert np.corrcoef(ours.predict(X_test), hgb.predict(X_test))[0, 1] > 0.995


def test_hs_zero_equals_none(friedman):
    X_train, X_test, y_train, _ = friedman
    none = ShrinkBoostRegressor(shrinkage="none", n_estimators=20).fit(X_train, y_train)
    hs = ShrinkBoostRegressor(shrinkage="hs", shrinkage_strength=0.0, n_estimators=20).fit(X_train, y_train)
    np.testing.assert_array_equal(none.predict(X_test), hs.predict(X_test))


def test_hs_shrinks_monotonically_toward_root(friedman):
    X_train, X_test, y_train, _ = friedman
    increments, distances = [], []
    for lam in (0.0, 10.0, 100.0, 1000.0, 1e6):
        model = ShrinkBoostRegressor(shrinkage="hs", shrinkage_strength=lam, n_estimators=1,
                                     learning_rate=1.0).fit(X_train, y_train)
        tree = model.trees_[0][0]
        # Every step from a parent to its child shrinks as lambda grows ...
        increments.append(np.abs(tree.value[1:, 0] - tree.value[tree.parent[1:], 0]))
        distances.append(np.abs(tree.value[tree.is_leaf, 0] - tree.value[0, 0]))
    increments = np.array(increments)
    assert np.all(np.diff(increments, axis=0) <= 1e-12)
    assert np.all(np.diff(increments.sum(axis=1)) < 0)
    # ... until every leaf sits on the root value.
    assert distances[-1].max() < 1e-2 * distances[0].max()


@pytest.mark.parametrize("shrinkage,extra", [("none", {}), ("hs", {"shrinkage_strength": 30.0}),
                                             ("eb", {"eb_method": "honest"}), ("eb", {"eb_method": "calibrated"})])
@pytest.mark.parametrize("task", ["regression", "binary"])
def test_integer_weights_equal_repeated_rows(shrinkage, extra, task):
    rng = np.random.default_rng(3)
    n = 300
    X = np.round(rng.normal(size=(n, 4)), 2)
    if task == "regression":
        y = X[:, 0] + np.sin(X[:, 1]) + rng.normal(scale=0.5, size=n)
        Est = ShrinkBoostRegressor
    else:
        y = (X[:, 0] + rng.normal(scale=0.8, size=n) > 0).astype(int)
        Est = ShrinkBoostClassifier
    w = rng.integers(0, 4, size=n)
    params = dict(shrinkage=shrinkage, n_estimators=15, min_samples_leaf=1, max_leaf_nodes=8,
                  early_stopping=False, random_state=0, **extra)
    weighted = Est(**params).fit(X, y, sample_weight=w)
    repeated = Est(**params).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    X_test = rng.normal(size=(200, 4))
    if task == "regression":
        np.testing.assert_allclose(weighted.predict(X_test), repeated.predict(X_test), rtol=1e-7, atol=1e-9)
    else:
        np.testing.assert_allclose(weighted.predict_proba(X_test), repeated.predict_proba(X_test), atol=1e-9)


def test_weights_change_the_model():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 3))
    y = X[:, 0] + rng.normal(size=400)
    w = np.where(X[:, 1] > 0, 10.0, 1.0)
    a = ShrinkBoostRegressor(random_state=0).fit(X, y).predict(X)
    b = ShrinkBoostRegressor(random_state=0).fit(X, y, sample_weight=w).predict(X)
    assert not np.allclose(a, b)


@pytest.mark.parametrize("Est", [ShrinkBoostRegressor, ShrinkBoostClassifier])
def test_same_random_state_is_bit_identical(Est):
    X, y = make_classification(n_samples=600, n_features=8, random_state=0)
    params = dict(subsample=0.7, colsample=0.6, n_estimators=20, random_state=42)
    first = Est(**params).fit(X, y)
    second = Est(**params).fit(X, y)
    predict = first.predict if Est is ShrinkBoostRegressor else first.predict_proba
    predict2 = second.predict if Est is ShrinkBoostRegressor else second.predict_proba
    assert np.array_equal(predict(X), predict2(X))
    other = Est(**{**params, "random_state": 7}).fit(X, y)
    predict3 = other.predict if Est is ShrinkBoostRegressor else other.predict_proba
    assert not np.array_equal(predict(X), predict3(X))


def test_pickle_round_trip_and_staged_predict(friedman):
    X_train, X_test, y_train, _ = friedman
    model = ShrinkBoostRegressor(n_estimators=30, random_state=0).fit(X_train, y_train)
    clone = pickle.loads(pickle.dumps(model))
    assert np.array_equal(model.predict(X_test), clone.predict(X_test))
    stages = list(model.staged_predict(X_test))
    assert len(stages) == model.n_iter_ == 30
    np.testing.assert_allclose(stages[-1], model.predict(X_test), rtol=1e-12, atol=1e-12)
    # Early stages are worse fits of the training data than later ones.
    train_stages = list(model.staged_predict(X_train))
    assert rmse(train_stages[0], y_train) > rmse(train_stages[-1], y_train)


def test_node_arrays_expose_raw_pooled_and_factor(friedman):
    X_train, _, y_train, _ = friedman
    model = ShrinkBoostRegressor(n_estimators=5, random_state=0).fit(X_train, y_train)
    for trees in model.trees_:
        tree = trees[0]
        tree.validate()
        f = tree.pooling_factor
        assert np.all((f >= 0) & (f <= 1))
        for node in range(1, tree.n_nodes):
            p = tree.parent[node]
            expected = tree.value[p, 0] + f[node] * (tree.raw_value[node, 0] - tree.raw_value[p, 0])
            assert tree.value[node, 0] == pytest.approx(expected, rel=1e-10, abs=1e-12)
        frame = tree.to_frame()
        assert {"raw_value", "value", "pooling_factor", "count", "weight"} <= set(frame.columns)
    assert model.pooling_strength_.shape == (5, 1)


def test_missing_values_learn_a_direction():
    rng = np.random.default_rng(5)
    n = 3000
    X = rng.normal(size=(n, 2))
    missing = rng.random(n) < 0.3
    y = np.where(missing, 5.0, X[:, 0]) + rng.normal(scale=0.1, size=n)
    X[missing, 0] = np.nan
    model = ShrinkBoostRegressor(random_state=0).fit(X, y)
    X_test = np.array([[np.nan, 0.0], [0.0, 0.0], [np.nan, 1.0]])
    pred = model.predict(X_test)
    assert pred[0] == pytest.approx(5.0, abs=0.3)
    assert pred[2] == pytest.approx(5.0, abs=0.3)
    assert pred[1] == pytest.approx(0.0, abs=0.3)


def test_missing_at_predict_only_goes_somewhere_sensible(friedman):
    X_train, X_test, y_train, _ = friedman
    model = ShrinkBoostRegressor(n_estimators=10).fit(X_train, y_train)
    X_nan = X_test.copy()
    X_nan[:, 0] = np.nan
    pred = model.predict(X_nan)
    assert np.all(np.isfinite(pred))


def test_feature_importances_find_informative_features(friedman):
    X_train, _, y_train, _ = friedman
    model = ShrinkBoostRegressor(random_state=0).fit(X_train, y_train)
    imp = model.feature_importances_
    assert imp.shape == (10,)
    assert imp.sum() == pytest.approx(1.0)
    # Friedman #1 uses only the first five features.
    assert imp[:5].sum() > 0.95


def test_early_stopping_stops_on_noise():
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(3000, 5)), rng.normal(size=3000)
    model = ShrinkBoostRegressor(shrinkage="none", early_stopping=True, n_estimators=500,
                                 n_iter_no_change=5, random_state=0).fit(X, y)
    assert model.n_iter_ < 100
    # The model is kept at the best validation loss; the scores cover every iteration that ran.
    assert model.n_iter_ == model.best_iteration_ == np.argmax(model.validation_score_)
    assert len(model.validation_score_) == model.best_iteration_ + model.n_iter_no_change + 1


def test_verbose_prints_progress(capsys, friedman):
    X_train, _, y_train, _ = friedman
    ShrinkBoostRegressor(n_estimators=3, verbose=1).fit(X_train, y_train)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert len(lines) == 3 and "pooling k" in lines[0]


@pytest.mark.parametrize("labels", [np.array(["cat", "dog"]), np.array([False, True]), np.array([3, 7])])
def test_binary_classifier_label_types(labels):
    X, y = make_classification(n_samples=500, n_features=6, random_state=1)
    y_labels = labels[y]
    model = ShrinkBoostClassifier(random_state=0).fit(X, y_labels)
    assert list(model.classes_) == sorted(labels.tolist())
    proba = model.predict_proba(X)
    assert proba.shape == (500, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(model.predict(X)) <= set(labels.tolist())
    assert np.mean(model.predict(X) == y_labels) > 0.9
    assert model.decision_function(X).shape == (500,)


def test_multiclass_classifier():
    X, y = make_classification(n_samples=900, n_features=8, n_informative=5, n_classes=4, random_state=2)
    labels = np.array(["a", "b", "c", "d"])[y]
    X_train, X_test, y_train, y_test = train_test_split(X, labels, random_state=0)
    model = ShrinkBoostClassifier(random_state=0).fit(X_train, y_train)
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.mean(model.predict(X_test) == y_test) > 0.6
    assert model.decision_function(X_test).shape == (len(X_test), 4)
    assert len(model.trees_[0]) == 4
    staged = list(model.staged_predict_proba(X_test))
    np.testing.assert_allclose(staged[-1], proba, atol=1e-12)


def test_classifier_eb_pools_noise_labels():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(2000, 6))
    y = rng.integers(0, 2, size=2000)
    X_test = rng.normal(size=(1000, 6))
    none = ShrinkBoostClassifier(shrinkage="none", random_state=0).fit(X, y).predict_proba(X_test)[:, 1]
    eb = ShrinkBoostClassifier(shrinkage="eb", random_state=0).fit(X, y).predict_proba(X_test)[:, 1]
    assert np.var(eb) < 0.1 * np.var(none)


def test_unit_weights_give_the_identical_model(friedman):
    # Without weights the regressor's histograms count rows instead of summing unit hessians;
    # both paths must give the same model bit for bit.
    X_train, X_test, y_train, _ = friedman
    plain = ShrinkBoostRegressor(n_estimators=20, random_state=0).fit(X_train, y_train)
    unit = ShrinkBoostRegressor(n_estimators=20, random_state=0).fit(X_train, y_train,
                                                                    sample_weight=np.ones(len(y_train)))
    assert np.array_equal(plain.predict(X_test), unit.predict(X_test))


def test_partition_is_stable_and_counts_weights():
    from shrinktree.boosting.partition import partition_rows, partition_rows_categorical

    rng = np.random.default_rng(8)
    n = 20_017
    column = rng.integers(0, 256, size=n).astype(np.uint8)  # 255 plays the missing bin
    codes = rng.integers(0, 41, size=n).astype(np.int32)  # 40 levels, code 40 = missing
    bitset = np.zeros(2, dtype=np.uint32)
    for level in rng.choice(40, size=17, replace=False):
        bitset[level >> 5] |= np.uint32(1) << np.uint32(level & 31)
    weights = rng.random(n)
    rows = np.sort(rng.choice(n, size=n - 1000, replace=False)).astype(np.int64)
    start, stop = 500, len(rows) - 300
    inside = rows[start:stop]
    for missing_left in (True, False):
        numeric_left = (column[inside] <= 100) & (column[inside] != 255) | ((column[inside] == 255) & missing_left)
        code_bits = (bitset[np.minimum(codes[inside], 39) >> 5] >> (np.minimum(codes[inside], 39) & 31)) & 1
        categorical_left = np.where(codes[inside] >= 40, missing_left, code_bits == 1)
        for kind, goes_left in (("numeric", numeric_left), ("categorical", categorical_left)):

            def run(r, w, unit, kind=kind, missing_left=missing_left):
                if kind == "numeric":
                    return partition_rows(column, r, start, stop, 100, missing_left, 255, w, np.empty_like(r), unit)
                return partition_rows_categorical(codes, r, start, stop, bitset, missing_left, 40, w,
                                                  np.empty_like(r), unit)

            expected = np.concatenate([rows[:start], inside[goes_left], inside[~goes_left], rows[stop:]])
            weighted, unit = rows.copy(), rows.copy()
            n_left, w_left = run(weighted, weights, False)
            n_left_unit, w_left_unit = run(unit, weights, True)
            # Stable on both sides, rows outside [start, stop) untouched.
            assert np.array_equal(weighted, expected) and np.array_equal(unit, expected)
            assert n_left == n_left_unit == goes_left.sum()
            assert w_left == pytest.approx(weights[inside[goes_left]].sum(), rel=1e-12)
            assert w_left_unit == n_left


def test_two_class_softmax_step_equals_the_binary_newton_step():
    # With K = 2 the two softmax trees move the log-odds by the sum of their Newton steps; the
    # K / (K - 1) hessian scale makes that sum the binary Newton step instead of twice it.
    from shrinktree.losses import BinaryLogLoss, MultinomialLogLoss

    rng = np.random.default_rng(3)
    n = 500
    raw = rng.normal(size=(n, 2))
    y = (rng.random(n) < 0.4).astype(np.float64)  # class 1 is the positive class
    weight = rng.uniform(0.5, 2.0, size=n)
    g, h = np.empty((2, n)), np.empty((2, n))
    MultinomialLogLoss(2).gradients(y, raw, weight, g, h)
    softmax_steps = -g.sum(axis=1) / h.sum(axis=1)
    gb, hb = np.empty((1, n)), np.empty((1, n))
    BinaryLogLoss().gradients(y, (raw[:, 1] - raw[:, 0])[:, None], weight, gb, hb)
    binary_step = -gb.sum() / hb.sum()
    assert softmax_steps[1] - softmax_steps[0] == pytest.approx(binary_step, rel=1e-10)


@pytest.mark.parametrize("kwargs", [dict(shrinkage="none"), dict(eb_method="naive"),
                                    dict(shrinkage="hs", shrinkage_strength=5.0)])
def test_regressor_is_equivariant_to_the_target_scale(kwargs):
    # The target is fitted in units of a power of two near max |y|: any finite scale, however
    # extreme, gives the same model up to that scale (squared gradients would overflow or
    # underflow float64 beyond about 1e150 and 1e-150).
    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 3))
    y = X[:, 0] + np.sin(2 * X[:, 1]) + 0.3 * rng.normal(size=400)
    base = ShrinkBoostRegressor(n_estimators=15, random_state=0, **kwargs).fit(X, y).predict(X)
    for scale in (1e-250, 1e-120, 3.0, 1e120, 1e250):
        model = ShrinkBoostRegressor(n_estimators=15, random_state=0, **kwargs).fit(X, y * scale)
        np.testing.assert_allclose(model.predict(X) / scale, base, rtol=1e-12, atol=1e-12)


def test_default_regressor_on_an_extreme_target_scale():
    # The honest held-out half depends on the target's bits, so a rescaled target draws other
    # halves: the model differs by that randomness only, never by overflow.
    rng = np.random.default_rng(5)
    X = rng.normal(size=(600, 3))
    y = 2 * X[:, 0] + 0.3 * rng.normal(size=600)
    base = ShrinkBoostRegressor(random_state=0).fit(X, y).predict(X)
    for scale in (1e-250, 1e250):
        predicted = ShrinkBoostRegressor(random_state=0).fit(X, y * scale).predict(X) / scale
        assert np.all(np.isfinite(predicted))
        assert np.corrcoef(predicted, base)[0, 1] > 0.99


def test_auto_early_stopping_is_for_plain_boosting_only():
    # Above 10,000 rows "auto" holds out a validation split for shrinkage="none" (and "hs"), not for
    # the pooled default, whose trees that fit noise are pooled back to their root.
    rng = np.random.default_rng(6)
    X = rng.normal(size=(10_500, 3))
    y = X[:, 0] + rng.normal(size=10_500)
    pooled = ShrinkBoostRegressor(n_estimators=5, random_state=0).fit(X, y)
    plain = ShrinkBoostRegressor(n_estimators=5, shrinkage="none", random_state=0).fit(X, y)
    assert not hasattr(pooled, "validation_score_") and pooled.n_iter_ == 5
    assert len(plain.validation_score_) == plain.n_iter_ + 1
    forced = ShrinkBoostRegressor(n_estimators=5, early_stopping=True, random_state=0).fit(X, y)
    assert len(forced.validation_score_) == forced.n_iter_ + 1


def test_refit_without_early_stopping_drops_the_old_validation_score(friedman):
    X_train, _, y_train, _ = friedman
    model = ShrinkBoostRegressor(n_estimators=5, early_stopping=True, random_state=0).fit(X_train, y_train)
    assert len(model.validation_score_) == model.n_iter_ + 1
    model.set_params(early_stopping=False).fit(X_train, y_train)
    assert not hasattr(model, "validation_score_")


@pytest.mark.parametrize("n_classes", [2, 3])
def test_classifier_staged_outputs_end_at_the_final_model(n_classes):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(400, 4))
    y = np.digitize(X[:, 0] + 0.5 * rng.normal(size=400), [-0.5, 0.5][:n_classes - 1])
    model = ShrinkBoostClassifier(n_estimators=12, random_state=0).fit(X, y)
    scores = list(model.staged_decision_function(X))
    probas = list(model.staged_predict_proba(X))
    assert len(scores) == len(probas) == model.n_iter_ == 12
    np.testing.assert_allclose(scores[-1], model.decision_function(X), rtol=0, atol=1e-12)
    np.testing.assert_allclose(probas[-1], model.predict_proba(X), rtol=0, atol=1e-12)
    assert not np.allclose(scores[0], scores[-1])


def test_a_target_that_needs_no_scaling_is_not_copied(monkeypatch):
    # max |y| below 1: its binary exponent is 0, so the loop reads the caller's target itself (no 8 bytes a row).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 3))
    y = rng.uniform(0.5, 0.99, size=500)
    model = ShrinkBoostRegressor(n_estimators=2, random_state=0)
    loss_type = type(model._make_loss())
    seen = []
    original = loss_type.gradients

    def recording(self, y_seen, *args):
        seen.append(y_seen)
        return original(self, y_seen, *args)

    monkeypatch.setattr(loss_type, "gradients", recording)
    model.fit(X, y)
    assert seen and all(np.shares_memory(y_seen, y) for y_seen in seen)
    seen.clear()
    y_large = 4.0 * y
    model.fit(X, y_large)  # scaled by 2**-2 into a copy
    assert seen and not any(np.shares_memory(y_seen, y_large) for y_seen in seen)
