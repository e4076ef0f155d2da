"""Boosted models fitted with count, amount, robust and quantile objectives: ``shrink`` reads them exactly,
replays their fit with the matching loss of ``shrinktree.losses``, pools them and saves them."""

import pickle

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor, HistGradientBoostingRegressor

from shrinktree import ShrinkBoostRegressor, shrink
from shrinktree.posthoc.pooling import replay_boosting
from shrinktree.posthoc.shrink import parse_model

N = 400
LOG_LINK = ("count", "amount", "tweedie")


def _features(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(N, 4))


def _compound(rng, mean: np.ndarray) -> np.ndarray:
    """Tweedie-like amounts: a Poisson number of gamma claims (many exact zeros)."""
    counts = rng.poisson(mean / 2.0)
    return np.array([rng.gamma(2.0, 1.0, size=c).sum() for c in counts])


def _target(kind: str, X: np.ndarray, signal: bool, seed: int) -> np.ndarray:
    """A target of ``kind`` that depends on ``X`` (``signal``) or is pure noise around a constant."""
    rng = np.random.default_rng(seed)
    eta = 0.6 * X[:, 0] + 0.4 * np.sin(2.0 * X[:, 1]) if signal else np.zeros(len(X))
    if kind == "count":
        return rng.poisson(2.0 * np.exp(eta)).astype(np.float64)
    if kind == "amount":
        return rng.gamma(2.0, np.exp(eta))
    if kind == "tweedie":
        return _compound(rng, 2.0 * np.exp(eta))
    return eta * 2.0 + rng.normal(size=len(X))


def _lgb(objective, **kw):
    return lambda: lgb.LGBMRegressor(objective=objective, n_estimators=20, num_leaves=15, verbose=-1, random_state=0,
                                     **kw)


def _xgb(objective, **kw):
    return lambda: xgb.XGBRegressor(objective=objective, n_estimators=20, max_depth=4, random_state=0, **kw)


def _hgb(loss, **kw):
    return lambda: HistGradientBoostingRegressor(loss=loss, max_iter=20, random_state=0, **kw)


def _gb(loss, **kw):
    return lambda: GradientBoostingRegressor(loss=loss, n_estimators=20, random_state=0, **kw)


def _st(loss, **kw):
    return lambda: ShrinkBoostRegressor(loss=loss, shrinkage="none", n_estimators=20, random_state=0, **kw)


# id: (model factory, target kind, the loss shrink replays it with, its parameters)
CASES = {
    "lightgbm-poisson": (_lgb("poisson"), "count", "poisson", {}),
    "lightgbm-gamma": (_lgb("gamma"), "amount", "gamma", {}),
    "lightgbm-tweedie": (_lgb("tweedie", tweedie_variance_power=1.3), "tweedie", "tweedie", {"power": 1.3}),
    "lightgbm-l1": (_lgb("regression_l1"), "real", "absolute_error", {}),
    "lightgbm-huber": (_lgb("huber", alpha=1.5), "real", "huber", {"huber_delta": 1.5, "huber_quantile": 0.9}),
    "lightgbm-quantile": (_lgb("quantile", alpha=0.8), "real", "quantile", {"quantile": 0.8}),
    "xgboost-poisson": (_xgb("count:poisson"), "count", "poisson", {}),
    "xgboost-gamma": (_xgb("reg:gamma"), "amount", "gamma", {}),
    "xgboost-tweedie": (_xgb("reg:tweedie", tweedie_variance_power=1.4), "tweedie", "tweedie",
                        {"power": float(np.float32(1.4))}),
    "xgboost-l1": (_xgb("reg:absoluteerror"), "real", "absolute_error", {}),
    "xgboost-quantile": (_xgb("reg:quantileerror", quantile_alpha=0.2), "real", "quantile",
                         {"quantile": float(np.float32(0.2))}),
    "hgb-poisson": (_hgb("poisson"), "count", "poisson", {}),
    "hgb-gamma": (_hgb("gamma"), "amount", "gamma", {}),
    "hgb-l1": (_hgb("absolute_error"), "real", "absolute_error", {}),
    "hgb-quantile": (_hgb("quantile", quantile=0.7), "real", "quantile", {"quantile": 0.7}),
    "gb-l1": (_gb("absolute_error"), "real", "absolute_error", {}),
    "gb-huber": (_gb("huber", alpha=0.8), "real", "huber", {"huber_delta": None, "huber_quantile": 0.8}),
    "gb-quantile": (_gb("quantile", alpha=0.3), "real", "quantile", {"quantile": 0.3}),
    "shrinktree-poisson": (_st("poisson"), "count", "poisson", {}),
    "shrinktree-gamma": (_st("gamma"), "amount", "gamma", {}),
    "shrinktree-tweedie": (_st("tweedie", power=1.6), "tweedie", "tweedie", {"power": 1.6}),
    "shrinktree-l1": (_st("absolute_error"), "real", "absolute_error", {}),
    "shrinktree-huber": (_st("huber"), "real", "huber", {"huber_delta": None, "huber_quantile": 0.9}),
    "shrinktree-quantile": (_st("quantile", quantile=0.3), "real", "quantile", {"quantile": 0.3}),
}


def _assert_reproduces(name, shrunk_prediction, prediction):
    if name.startswith("xgboost"):
        # XGBoost sums its leaf values in float32.
        np.testing.assert_allclose(shrunk_prediction, prediction, rtol=2e-6, atol=2e-6 * np.std(prediction))
    else:
        np.testing.assert_allclose(shrunk_prediction, prediction, rtol=1e-10, atol=1e-12 * np.std(prediction))


@pytest.mark.parametrize("name", sorted(CASES))
def test_no_pooling_reproduces_the_model_and_the_loss_is_read(name):
    make, kind, loss, params = CASES[name]
    X = _features(0)
    y = _target(kind, X, signal=True, seed=1)
    model = make().fit(X, y)
    shrunk = shrink(model, method="none")
    _assert_reproduces(name, shrunk.predict(X), model.predict(X))
    X_new = _features(2)
    _assert_reproduces(name, shrunk.predict(X_new), model.predict(X_new))
    assert shrunk._parsed.loss == loss
    assert shrunk._parsed.loss_params == params
    assert shrunk._parsed.link == ("log" if kind in LOG_LINK else "identity")
    if kind in LOG_LINK:
        assert np.all(shrunk.predict(X_new) > 0)
    restored = pickle.loads(pickle.dumps(shrunk))
    np.testing.assert_array_equal(restored.predict(X_new), shrunk.predict(X_new))


@pytest.mark.parametrize("name", sorted(CASES))
def test_eb_pools_a_pure_noise_target_toward_the_root(name):
    make, kind, _, _ = CASES[name]
    X = _features(3)
    y = _target(kind, X, signal=False, seed=4)
    model = make().fit(X, y)
    X_new = _features(5)
    raw = shrink(model, method="none").predict(X_new)
    pooled = shrink(model, X, y, method="eb")
    prediction = pooled.predict(X_new)
    assert np.all(np.isfinite(prediction))
    # The unpooled model fits the noise; pooled, its trees are (nearly) constant.
    assert np.var(raw) > 0
    assert np.var(prediction) < 0.05 * np.var(raw)
    factors = np.concatenate([t.pooling_factor[1:] for t in pooled.trees_ if t.n_nodes > 1])
    assert np.median(factors) < 0.05
    if kind in LOG_LINK:
        assert np.all(prediction > 0)
        # A log-link model pooled to its roots predicts about the mean of its target.
        assert abs(np.mean(prediction) / np.mean(y) - 1.0) < 0.1
    restored = pickle.loads(pickle.dumps(pooled))
    np.testing.assert_array_equal(restored.predict(X_new), prediction)
    assert restored.method_ == "eb"


@pytest.mark.parametrize("name, level", [("lightgbm-quantile", 0.8), ("xgboost-quantile", 0.2), ("hgb-quantile", 0.7),
                                         ("gb-quantile", 0.3), ("shrinktree-quantile", 0.3)])
def test_pooled_quantile_model_keeps_its_level_on_noise(name, level):
    """Pooled to its roots, a quantile model predicts about its quantile of the training target (the
    renewed root values), and so covers about its level on fresh rows (up to the sampling error of a
    quantile of 400 rows)."""
    make, kind, _, _ = CASES[name]
    X = _features(6)
    y = _target(kind, X, signal=False, seed=7)
    pooled = shrink(make().fit(X, y), X, y, method="eb")
    assert abs(np.mean(y <= pooled.predict(X)) - level) < 0.03
    X_new = _features(8)
    y_new = _target(kind, X_new, signal=False, seed=9)
    assert abs(np.mean(y_new <= pooled.predict(X_new)) - level) < 0.1


def _replayed(model, X, y):
    """Each tree's replayed statistics and the starting score its values include (trees unchanged)."""
    parsed = parse_model(model)
    stored = [(t.weight.copy(), t.raw_value[:, 0].copy(), t.left < 0) for t in parsed.trees]
    out = []
    replay_boosting(parsed, X, y, np.ones(len(y)), lambda t, stats, leaf, raw, start: out.append((stats, start)))
    return parsed, stored, out


@pytest.mark.parametrize("objective, kind, hessian_scale", [
    ("regression", "real", 1.0), ("huber", "real", 1.0), ("poisson", "count", np.exp(0.7)),
    ("gamma", "amount", 1.0), ("tweedie", "tweedie", 1.0),
])
def test_replay_recomputes_lightgbms_own_statistics(objective, kind, hessian_scale):
    """Hessian sums and leaf values of every LightGBM tree follow from the replayed gradients: LightGBM's
    start score (boost_from_average) is in the first trees, its Poisson hessians are scaled by
    exp(poisson_max_delta_step), and leaves are -learning_rate * G / H."""
    X = _features(10)
    y = _target(kind, X, signal=True, seed=11)
    model = lgb.LGBMRegressor(objective=objective, n_estimators=10, num_leaves=7, learning_rate=0.2,
                              verbose=-1).fit(X, y)
    parsed, stored, replayed = _replayed(model, X, y)
    assert len(replayed) == len(parsed.trees)
    for t, ((weight, value, leaves), (stats, start)) in enumerate(zip(stored, replayed)):
        assert (start != 0.0) == (t == 0)
        np.testing.assert_allclose(stats.H * hessian_scale, weight, rtol=1e-5)
        newton = start + 0.2 * stats.raw[leaves, 0] / hessian_scale
        np.testing.assert_allclose(newton, value[leaves], rtol=1e-4, atol=1e-6 * np.max(np.abs(value)))


@pytest.mark.parametrize("objective, kind, hessian_scale", [
    ("count:poisson", "count", np.exp(np.float32(0.7))), ("reg:gamma", "amount", 1.0),
    ("reg:tweedie", "tweedie", 1.0),
])
def test_replay_recomputes_xgboosts_hessian_sums(objective, kind, hessian_scale):
    """XGBoost stores every node's hessian sum (cover): the replay at its base score gives them back
    (count:poisson's hessians are scaled by exp(max_delta_step) in training only)."""
    X = _features(12)
    y = _target(kind, X, signal=True, seed=13)
    model = xgb.XGBRegressor(objective=objective, n_estimators=10, max_depth=3).fit(X, y)
    _, stored, replayed = _replayed(model, X, y)
    for (weight, _, _), (stats, start) in zip(stored, replayed):
        assert start == 0.0
        np.testing.assert_allclose(stats.H * hessian_scale, weight, rtol=1e-4)


@pytest.mark.parametrize("loss, kind", [("poisson", "count"), ("gamma", "amount")])
def test_replay_recomputes_histgradientboostings_leaf_values(loss, kind):
    """HistGradientBoosting starts from its baseline on the raw scale; its leaves are -learning_rate * G / H."""
    X = _features(14)
    y = _target(kind, X, signal=True, seed=15)
    model = HistGradientBoostingRegressor(loss=loss, max_iter=10, max_leaf_nodes=7).fit(X, y)
    _, stored, replayed = _replayed(model, X, y)
    for (_, value, leaves), (stats, _) in zip(stored, replayed):
        np.testing.assert_allclose(0.1 * stats.raw[leaves, 0], value[leaves], rtol=1e-4,
                                   atol=1e-6 * np.max(np.abs(value)))


def test_lightgbm_tweedie_of_power_one_replays_as_poisson():
    X = _features(16)
    y = _target("count", X, signal=True, seed=17)
    model = _lgb("tweedie", tweedie_variance_power=1.0)().fit(X, y)
    shrunk = shrink(model, X, y, method="eb")
    assert shrunk._parsed.loss == "poisson" and shrunk._parsed.objective == "tweedie"
    assert np.all(shrunk.predict(X) > 0)


def test_shrinktree_poisson_model_with_an_offset():
    """A rate model fitted with offset = log(exposure): the shrunk model's predict takes the offset too."""
    rng = np.random.default_rng(18)
    X = _features(18)
    exposure = rng.uniform(0.5, 3.0, size=N)
    offset = np.log(exposure)
    y = rng.poisson(exposure * np.exp(0.5 * X[:, 0])).astype(np.float64)
    model = ShrinkBoostRegressor(loss="poisson", n_estimators=20, random_state=0).fit(X, y, offset=offset)
    X_new = _features(19)
    offset_new = np.log(rng.uniform(0.5, 3.0, size=N))
    same = shrink(model, method="none")
    np.testing.assert_allclose(same.predict(X_new), model.predict(X_new), rtol=1e-12)
    np.testing.assert_allclose(same.predict(X_new, offset=offset_new), model.predict(X_new, offset=offset_new),
                               rtol=1e-12)
    pooled = shrink(model, X, y, offset=offset, method="eb")
    prediction = pooled.predict(X_new, offset=offset_new)
    assert np.all(np.isfinite(prediction)) and np.all(prediction > 0)
    # The offset multiplies the rate: the same rows with exposure 1 predict prediction / exposure.
    np.testing.assert_allclose(pooled.predict(X_new) * np.exp(offset_new), prediction, rtol=1e-12)
    restored = pickle.loads(pickle.dumps(pooled))
    np.testing.assert_array_equal(restored.predict(X_new, offset=offset_new), prediction)
    with pytest.raises(ValueError, match="one value per row"):
        pooled.predict(X_new, offset=offset_new[:-1])
    with pytest.raises(ValueError, match="NaN or infinite"):
        shrink(model, X, y, offset=np.where(np.arange(N) == 3, np.nan, offset))
    with pytest.raises(ValueError, match="offset was given without X and y"):
        shrink(model, method="none", offset=offset)


def test_offset_is_refused_for_models_whose_predict_takes_none():
    X = _features(20)
    y = _target("count", X, signal=True, seed=21)
    model = _lgb("poisson")().fit(X, y)
    with pytest.raises(ValueError, match="offset is supported for shrinktree regressors.*LGBMRegressor"):
        shrink(model, X, y, offset=np.zeros(N))
    with pytest.raises(ValueError, match="offset is supported for shrinktree regressors.*LGBMRegressor"):
        shrink(model, method="none").predict(X, offset=np.zeros(N))


# (model, target kind, the objective as the message names it)
UNSUPPORTED_EB = [
    (_lgb("fair"), "real", "fair"),
    (_lgb("mape"), "amount", "mape"),
    (_xgb("reg:pseudohubererror"), "real", "reg:pseudohubererror"),
    (lambda: GradientBoostingClassifier(loss="exponential", n_estimators=5), "binary", "exponential"),
]


@pytest.mark.parametrize("index", range(len(UNSUPPORTED_EB)))
def test_eb_refuses_an_objective_without_a_loss_and_names_it(index):
    make, kind, objective = UNSUPPORTED_EB[index]
    X = _features(22)
    y = _target("real", X, signal=True, seed=23)
    y = (y > 0).astype(int) if kind == "binary" else np.abs(y) + 0.5 if kind == "amount" else y
    model = make().fit(X, y)
    with pytest.raises(ValueError, match=rf"loss '{objective}'.*'{objective}' has none.*method='hs' and "
                                         rf"method='none' support this model"):
        shrink(model, X, y, method="eb")
    shrunk = shrink(model, method="none")
    if kind == "binary":
        np.testing.assert_allclose(shrunk.predict_proba(X), model.predict_proba(X), rtol=1e-10)
    else:
        _assert_reproduces(type(model).__module__, shrunk.predict(X), model.predict(X))


class _SquaredErrorObjective:
    def gradients(self, y, raw):
        return raw - y, np.ones_like(y)


def test_shrinktree_model_with_a_custom_objective_is_a_clear_error():
    X = _features(24)
    y = _target("real", X, signal=True, seed=25)
    model = ShrinkBoostRegressor(loss=_SquaredErrorObjective(), n_estimators=3).fit(X, y)
    for method in ("none", "eb"):
        with pytest.raises(ValueError, match=r"custom objective \(_SquaredErrorObjective\).*Supported: the losses "
                                             r".*'poisson'"):
            shrink(model, X, y, method=method)


@pytest.mark.parametrize("make, objective", [
    (lambda: xgb.XGBRegressor(objective="reg:squaredlogerror", n_estimators=3), "reg:squaredlogerror"),
    (lambda: lgb.LGBMRegressor(objective="cross_entropy_lambda", n_estimators=3, verbose=-1), "cross_entropy_lambda"),
])
def test_unsupported_objective_names_it_for_every_method(make, objective):
    X = _features(26)
    y = np.random.default_rng(27).uniform(0.1, 0.9, size=N)
    model = make().fit(X, y)
    for method in ("none", "eb"):
        with pytest.raises(ValueError, match=rf"objective '{objective}'; supported: .*poisson"):
            shrink(model, X, y, method=method)
