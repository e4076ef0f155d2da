"""Every regression loss: pooling, weights, determinism, ranges, offsets, custom objectives, bad input."""

import numpy as np
import pytest

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
from shrinktree.losses import REGRESSION_LOSSES, regression_loss

LOSSES = sorted(REGRESSION_LOSSES)
LOG_LINK = ("poisson", "gamma", "tweedie")


def draw_target(loss, signal, rng):
    """A target of ``loss``'s kind whose mean (or location) follows ``signal``."""
    if loss == "poisson":
        return rng.poisson(np.exp(signal)).astype(float)
    if loss == "gamma":
        return rng.gamma(4.0, np.exp(signal) / 4.0)
    if loss == "tweedie":
        counts = rng.poisson(np.exp(signal))
        return np.array([rng.gamma(2.0, 0.5, c).sum() for c in counts])
    return signal + rng.normal(scale=1.0, size=len(signal))


def settings(loss, **extra):
    params = {"loss": loss, "random_state": 0, **extra}
    if loss == "quantile":
        params["quantile"] = 0.7
    return params


@pytest.mark.parametrize("loss", LOSSES)
def test_pure_noise_is_pooled_toward_the_root(loss):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 5))
    y = draw_target(loss, np.full(len(X), 0.5), rng)
    X_test = rng.normal(size=(1000, 5))
    pooled = ShrinkBoostRegressor(**settings(loss, n_estimators=60)).fit(X, y).predict(X_test)
    plain = ShrinkBoostRegressor(**settings(loss, n_estimators=60, shrinkage="none")).fit(X, y).predict(X_test)
    assert np.var(pooled) < 0.15 * np.var(plain), (np.var(pooled), np.var(plain))


@pytest.mark.parametrize("loss", LOSSES)
def test_strong_signal_is_kept(loss):
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(4000, 3))
    signal = 2.0 * X[:, 0] + np.where(X[:, 1] > 0, 1.0, -1.0)
    y = draw_target(loss, signal, rng) if loss in LOG_LINK else signal + rng.normal(scale=0.05, size=len(X))
    X_test = rng.uniform(-1, 1, size=(1000, 3))
    pooled = ShrinkBoostRegressor(**settings(loss, n_estimators=150)).fit(X, y).predict(X_test)
    plain = ShrinkBoostRegressor(**settings(loss, n_estimators=150, shrinkage="none")).fit(X, y).predict(X_test)
    assert np.corrcoef(pooled, plain)[0, 1] > 0.97


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("shrinkage", ["eb", "none"])
def test_integer_weights_equal_repeated_rows(loss, shrinkage):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 3))
    y = draw_target(loss, 0.5 * X[:, 0], rng)
    w = rng.integers(1, 4, len(X))
    # min_samples_leaf counts weight, so it may bind: repeated rows and integer weights give one model.
    params = settings(loss, n_estimators=20, shrinkage=shrinkage, max_leaf_nodes=8)
    weighted = ShrinkBoostRegressor(**params).fit(X, y, sample_weight=w.astype(float))
    repeated = ShrinkBoostRegressor(**params).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("loss", LOSSES)
def test_deterministic_and_in_range(loss):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(500, 3))
    y = draw_target(loss, X[:, 0], rng)
    params = settings(loss, n_estimators=30, subsample=0.8, colsample=0.7)
    first = ShrinkBoostRegressor(**params).fit(X, y).predict(X)
    second = ShrinkBoostRegressor(**params).fit(X, y).predict(X)
    np.testing.assert_array_equal(first, second)
    assert np.all(np.isfinite(first))
    if loss in LOG_LINK:
        assert np.all(first > 0)


@pytest.mark.parametrize("level", [0.1, 0.5, 0.9])
def test_quantile_covers_its_level_on_held_out_rows(level):
    rng = np.random.default_rng(4)
    X = rng.uniform(-2, 2, size=(6000, 2))
    y = np.sin(X[:, 0]) + (0.5 + 0.25 * X[:, 1] ** 2) * rng.normal(size=len(X))
    model = ShrinkBoostRegressor(loss="quantile", quantile=level, n_estimators=150, random_state=0)
    model.fit(X[:4000], y[:4000])
    coverage = np.mean(y[4000:] <= model.predict(X[4000:]))
    assert abs(coverage - level) < 0.04, coverage


def test_absolute_error_leaves_are_pooled_medians():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(2000, 2))
    y = np.where(X[:, 0] > 0, 3.0, -3.0) + rng.standard_cauchy(len(X))
    model = ShrinkBoostRegressor(loss="absolute_error", n_estimators=100, random_state=0).fit(X, y)
    prediction = model.predict(np.array([[2.0, 0.0], [-2.0, 0.0]]))
    np.testing.assert_allclose(prediction, [3.0, -3.0], atol=0.3)
    # Heavy tails: the squared error's mean is dragged around, the medians are not.
    assert np.abs(model.predict(X) - np.where(X[:, 0] > 0, 3.0, -3.0)).mean() < 0.3


class SquaredErrorObjective:
    """Squared error as a user would write it."""

    def gradients(self, y, raw):
        return raw - y, np.ones_like(raw)

    def loss(self, y, raw):
        return 0.5 * (raw - y) ** 2


@pytest.mark.parametrize("shrinkage", ["eb", "none", "hs"])
@pytest.mark.parametrize("weighted", [False, True])
def test_custom_squared_error_equals_the_built_in_bit_for_bit(shrinkage, weighted):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(800, 4))
    y = np.tanh(X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.3, size=len(X))) * 0.9  # max |y| < 1: no rescaling
    w = rng.integers(1, 3, len(X)).astype(float) if weighted else None
    params = {"n_estimators": 40, "random_state": 0, "shrinkage": shrinkage, "verbose": 0}
    if shrinkage == "hs":
        params["shrinkage_strength"] = 3.0
    built_in = ShrinkBoostRegressor(**params).fit(X, y, sample_weight=w)
    custom = ShrinkBoostRegressor(loss=SquaredErrorObjective(), **params).fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(custom.predict(X), built_in.predict(X))
    np.testing.assert_array_equal(custom.pooling_strength_, built_in.pooling_strength_)


def test_custom_objective_loss_is_reported_and_early_stopping_uses_it():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(600, 3))
    y = X[:, 0] + rng.normal(scale=0.5, size=len(X))
    model = ShrinkBoostRegressor(loss=SquaredErrorObjective(), early_stopping=True, n_estimators=50,
                                 random_state=0).fit(X, y)
    assert np.all(np.isfinite(model.validation_score_)) and len(model.train_score_) == len(model.validation_score_)


def test_poisson_offset_recovers_a_known_rate():
    rng = np.random.default_rng(8)
    n = 20_000
    X = rng.uniform(0, 1, size=(n, 2))
    exposure = rng.uniform(0.5, 20.0, n)
    rate = np.where(X[:, 0] > 0.5, 0.2, 0.05)
    y = rng.poisson(rate * exposure).astype(float)
    model = ShrinkBoostRegressor(loss="poisson", n_estimators=100, random_state=0)
    model.fit(X, y, offset=np.log(exposure))
    grid = np.array([[0.75, 0.5], [0.25, 0.5]])
    np.testing.assert_allclose(model.predict(grid), [0.2, 0.05], rtol=0.08)
    # With the exposure as offset at predict time, the prediction is the expected count.
    np.testing.assert_allclose(model.predict(grid, offset=np.log([10.0, 10.0])), [2.0, 0.5], rtol=0.08)
    staged = list(model.staged_predict(grid, offset=np.log([10.0, 10.0])))
    np.testing.assert_allclose(staged[-1], model.predict(grid, offset=np.log([10.0, 10.0])))


def test_squared_error_offset_is_a_fixed_part_of_the_raw_score():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(1000, 2))
    offset = rng.normal(size=len(X)) * 5
    y = offset + X[:, 0] + rng.normal(scale=0.1, size=len(X))
    model = ShrinkBoostRegressor(n_estimators=100, random_state=0).fit(X, y, offset=offset)
    assert np.corrcoef(model.predict(X), X[:, 0])[0, 1] > 0.98  # the trees fit what the offset leaves
    assert np.mean(np.abs(model.predict(X, offset=offset) - y)) < 0.2


# -- class weights ---------------------------------------------------------------------------------
def test_balanced_class_weight_equals_explicit_weights():
    rng = np.random.default_rng(10)
    X = rng.normal(size=(900, 3))
    y = np.where(X[:, 0] > 1.0, "rare", "common")
    n_classes, counts = 2, {label: np.sum(y == label) for label in ("rare", "common")}
    explicit = np.array([len(y) / (n_classes * counts[label]) for label in y])
    balanced = ShrinkBoostClassifier(class_weight="balanced", n_estimators=20, random_state=0).fit(X, y)
    weighted = ShrinkBoostClassifier(n_estimators=20, random_state=0).fit(X, y, sample_weight=explicit)
    np.testing.assert_allclose(balanced.predict_proba(X), weighted.predict_proba(X), rtol=1e-12)
    as_dict = ShrinkBoostClassifier(class_weight={"rare": 3.0}, n_estimators=20, random_state=0).fit(X, y)
    dict_weights = np.where(y == "rare", 3.0, 1.0)
    expected = ShrinkBoostClassifier(n_estimators=20, random_state=0).fit(X, y, sample_weight=dict_weights)
    np.testing.assert_allclose(as_dict.predict_proba(X), expected.predict_proba(X), rtol=1e-12)
    unweighted = ShrinkBoostClassifier(n_estimators=20, random_state=0).fit(X, y)
    assert balanced.predict_proba(X)[:, 1].mean() > unweighted.predict_proba(X)[:, 1].mean()


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss, y, match", [
    ("poisson", [1.0, -1.0, 2.0], "non-negative"),
    ("tweedie", [1.0, -0.5, 2.0], "non-negative"),
    ("gamma", [1.0, 0.0, 2.0], "positive targets"),
    ("poisson", [0.0, 0.0, 0.0], "positive"),
    ("squared_error", [1.0, np.inf, 2.0], "finite|infinity"),
])
def test_targets_outside_the_domain(loss, y, match):
    X = np.arange(len(y) * 10, dtype=float).reshape(-1, 1)
    with pytest.raises(ValueError, match=match):
        ShrinkBoostRegressor(loss=loss, n_estimators=2).fit(X, np.repeat(y, 10))


@pytest.mark.parametrize("params, match", [
    ({"loss": "tweedie", "power": 2.0}, "strictly between 1 and 2"),
    ({"loss": "tweedie", "power": 0.5}, "strictly between 1 and 2"),
    ({"loss": "quantile", "quantile": 1.0}, "strictly between 0 and 1"),
    ({"loss": "quantile", "quantile": 0.0}, "strictly between 0 and 1"),
    ({"loss": "quantile", "quantile": "high"}, "strictly between 0 and 1"),
    ({"loss": "squared_error", "quantile": 0.5}, "only used with loss='quantile'"),
    ({"loss": "huber", "huber_delta": -1.0}, "positive number"),
    ({"loss": "hinge"}, "loss must be one of"),
    ({"loss": object()}, "gradients"),
])
def test_bad_loss_parameters(params, match):
    X, y = np.arange(40, dtype=float).reshape(-1, 1), np.linspace(1, 2, 40)
    with pytest.raises((ValueError, TypeError), match=match):
        ShrinkBoostRegressor(n_estimators=2, **params).fit(X, y)


@pytest.mark.parametrize("offset, match", [
    (np.zeros(39), "one value per row"),
    (np.zeros((40, 1)), "one value per row"),
    (np.r_[np.zeros(39), np.nan], "NaN or infinite"),
    (["a"] * 40, "numbers"),
])
def test_bad_offsets(offset, match):
    X, y = np.arange(40, dtype=float).reshape(-1, 1), np.linspace(1, 2, 40)
    with pytest.raises(ValueError, match=match):
        ShrinkBoostRegressor(loss="poisson", n_estimators=2).fit(X, y, offset=offset)
    model = ShrinkBoostRegressor(loss="poisson", n_estimators=2).fit(X, y)
    with pytest.raises(ValueError, match=match):
        model.predict(X, offset=offset)


class BrokenObjective:
    def __init__(self, kind):
        self.kind = kind

    def gradients(self, y, raw):
        g, h = raw - y, np.ones_like(raw)
        if self.kind == "shape":
            return g[:-1], h
        if self.kind == "nan":
            return g, np.where(np.arange(len(h)) == 3, np.nan, h)
        if self.kind == "negative":
            return g, -h
        return g


@pytest.mark.parametrize("kind, match", [("shape", "shape"), ("nan", "NaN"), ("negative", "negative hessians"),
                                         ("single", "pair")])
def test_broken_custom_objectives_get_a_clear_error(kind, match):
    X, y = np.arange(40, dtype=float).reshape(-1, 1), np.linspace(1, 2, 40)
    model = ShrinkBoostRegressor(loss=BrokenObjective(kind), n_estimators=2)
    with pytest.raises(ValueError, match=match):
        model.fit(X, y)
    assert not hasattr(model, "n_features_in_")


def test_loss_objects_know_their_facts():
    assert regression_loss("squared_error").constant_hessian and regression_loss("squared_error").scale_equivariant
    assert regression_loss("quantile", quantile=0.3).renews_leaves
    assert regression_loss("poisson").link.name == "log" and not regression_loss("poisson").scale_equivariant
    assert regression_loss("huber", huber_delta=2.0).rescaled(1).delta == 1.0


@pytest.mark.parametrize("loss, degree", [("squared_error", 2), ("huber", 2), ("absolute_error", 1), ("quantile", 1)])
def test_reported_loss_is_in_the_targets_units(loss, degree):
    # The booster fits y / 2^e; the loss it reports must be scaled back with the loss's own degree.
    rng = np.random.default_rng(11)
    X = rng.normal(size=(400, 2))
    y = X[:, 0] + rng.normal(size=len(X))
    params = {"loss": loss, "n_estimators": 5, "verbose": 0, "early_stopping": True, "random_state": 0,
              "shrinkage": "none", **({"huber_delta": 0.7} if loss == "huber" else {})}
    small = ShrinkBoostRegressor(**params).fit(X, y)
    scaled_params = {**params, **({"huber_delta": 0.7 * 1024} if loss == "huber" else {})}
    large = ShrinkBoostRegressor(**scaled_params).fit(X, 1024 * y)
    np.testing.assert_allclose(large.validation_score_, 1024**degree * small.validation_score_, rtol=1e-12)
    np.testing.assert_allclose(large.predict(X), 1024 * small.predict(X), rtol=1e-12)
    if loss in ("absolute_error", "quantile"):
        np.testing.assert_allclose(large.feature_importances_, small.feature_importances_, rtol=1e-12)


def test_a_model_with_a_custom_objective_says_why_it_cannot_be_pickled():
    import pickle

    X, y = np.arange(40, dtype=float).reshape(-1, 1), np.linspace(1, 2, 40)
    model = ShrinkBoostRegressor(loss=SquaredErrorObjective(), n_estimators=2).fit(X, y)
    with pytest.raises(TypeError, match="custom loss object"):
        pickle.dumps(model)


@pytest.mark.parametrize("loss", [name for name in LOSSES if regression_loss(name).constant_hessian])
def test_a_constant_hessian_loss_writes_each_rows_weight_as_its_hessian(loss):
    # The booster lets these losses write their hessians into the unit weights' array (no array of its own):
    # that holds only while every hessian written is exactly the row's weight.
    rng = np.random.default_rng(2)
    y = draw_target(loss, rng.normal(size=500), rng)
    raw = rng.normal(size=(500, 1))
    weight = rng.integers(1, 4, size=500).astype(np.float64)
    gradients, hessians = np.empty((1, 500)), np.full((1, 500), np.nan)
    model = regression_loss(loss, quantile=0.7)
    model.start_iteration(y, raw, weight)
    model.gradients(y, raw, weight, gradients, hessians)
    assert np.array_equal(hessians[0], weight)
