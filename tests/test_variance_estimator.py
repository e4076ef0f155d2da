"""``variance_estimator=``: ML, REML and Bayes estimates of the tree and level pooling (sigma^2 known)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor, load_model, shrink
from shrinktree.boosting.splitting import level_pooling_k
from shrinktree.posthoc import ShrunkRegressor
from shrinktree.variance_components import (
    ESTIMATOR_CODES,
    VARIANCE_ESTIMATOR_CHOICES,
    between_node_variance,
    between_variance_known_sigma,
    joint_tree_ratio,
    resolve_variance_estimator,
    tree_between_variance,
)

ESTIMATORS = ("moments", "ml", "reml", "bayes")


def pairs(n_pairs, tau2, seed, sigma2=1.0):
    """``n_pairs`` two-group designs with means of their own: masses, means, design labels."""
    rng = np.random.default_rng(seed)
    mass = rng.integers(5, 60, 2 * n_pairs).astype(float)
    design = np.repeat(np.arange(n_pairs), 2)
    centre = rng.normal(0.0, 3.0, n_pairs)[design]
    mean = centre + rng.normal(0.0, np.sqrt(tau2), 2 * n_pairs) + rng.normal(size=2 * n_pairs) * np.sqrt(sigma2 / mass)
    return mass, mean, design


def levels(n_levels, tau2, seed, sigma2=1.0):
    """One design of ``n_levels`` groups of very unequal masses."""
    rng = np.random.default_rng(seed)
    mass = np.r_[rng.integers(1, 4, n_levels - n_levels // 5), rng.integers(20, 200, n_levels // 5)].astype(float)
    mean = 1.5 + rng.normal(0.0, np.sqrt(tau2), n_levels) + rng.normal(size=n_levels) * np.sqrt(sigma2 / mass)
    return mass, mean, np.zeros(n_levels, dtype=np.int64)


def direct_deviance(tau2, mass, mean, design, sigma2, reml):
    """-2 log (restricted) likelihood written from the model: ybar_i ~ N(mu_d, tau^2 + sigma^2 / W_i).

    ``tau2`` may be an array: one deviance per value.
    """
    tau2 = np.atleast_1d(np.asarray(tau2, dtype=np.float64))[:, None]
    v = tau2 + sigma2 / mass
    out = np.sum(np.log(v), axis=1)
    for d in np.unique(design):
        sel = design == d
        precision = 1.0 / v[:, sel]
        mu = np.sum(precision * mean[sel], axis=1, keepdims=True) / precision.sum(axis=1, keepdims=True)
        out += np.sum(precision * (mean[sel] - mu) ** 2, axis=1)
        if reml:
            out += np.log(precision.sum(axis=1))
    return out if out.shape[0] > 1 else float(out[0])


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize("data", [pairs(40, 0.4, 1), levels(60, 0.3, 2)], ids=["split designs", "one design"])
def test_ml_and_reml_maximise_the_likelihood_written_from_the_model(data, reml):
    mass, mean, design = data
    sigma2 = 1.3
    n_designs = int(design.max()) + 1
    method = ESTIMATOR_CODES["reml" if reml else "ml"]
    tau2 = between_variance_known_sigma(mass, mean, design, n_designs, sigma2, method)
    best = minimize_scalar(direct_deviance, bounds=(0.0, 20.0), args=(mass, mean, design, sigma2, reml),
                           method="bounded", options={"xatol": 1e-12})
    assert tau2 > 0.0
    assert tau2 == pytest.approx(best.x, rel=1e-5)


def test_bayes_is_the_posterior_mean_under_the_uniform_shrinkage_prior():
    mass, mean, design = pairs(6, 0.5, 3)
    sigma2 = 0.8
    tau2 = between_variance_known_sigma(mass, mean, design, 6, sigma2, ESTIMATOR_CODES["bayes"])
    # Brute force on tau^2 itself: p(tau^2) = (s/W0) / (s/W0 + tau^2)^2 with s = sigma^2, W0 the mean mass,
    # times the restricted likelihood (flat priors on the design means integrated out).
    w0 = mass.mean()
    grid = np.concatenate([np.linspace(0.0, 5.0, 100_001), np.geomspace(5.0, 1e7, 100_001)[1:]])
    deviance = direct_deviance(grid, mass, mean, design, sigma2, True)
    log_post = np.log((sigma2 / w0) / (sigma2 / w0 + grid) ** 2) - 0.5 * (deviance - deviance.min())
    weight = np.exp(log_post - log_post.max())
    expected = np.trapezoid(weight * grid, grid) / np.trapezoid(weight, grid)
    assert tau2 == pytest.approx(expected, rel=2e-3)


def test_estimates_approach_the_truth_as_designs_grow():
    tau2 = 0.5
    for make in (pairs, levels):
        errors = {}
        for size in (50, 2000):
            estimates = {m: [] for m in ("ml", "reml", "bayes")}
            for seed in range(20):
                mass, mean, design = make(size, tau2, seed)
                for m in estimates:
                    estimates[m].append(between_variance_known_sigma(mass, mean, design, int(design.max()) + 1, 1.0,
                                                                     ESTIMATOR_CODES[m]))
            errors[size] = {m: np.asarray(v) for m, v in estimates.items()}
        for m in ("reml", "bayes") if make is pairs else ("ml", "reml", "bayes"):
            large = errors[2000][m]
            assert abs(large.mean() - tau2) < 0.05 * tau2, (make.__name__, m, large.mean())
            rmse = {size: np.sqrt(np.mean((errors[size][m] - tau2) ** 2)) for size in errors}
            assert rmse[2000] < 0.4 * rmse[50], (make.__name__, m, rmse)
    # ML profiles one nuisance mean per two-group design: it (a little more than) halves tau^2 (Neyman-Scott:
    # with equal masses W, E[tau^2_ML] = tau^2 / 2 - sigma^2 / (2 W)), as documented.
    ml_pairs = [between_variance_known_sigma(*pairs(2000, tau2, seed), 2000, 1.0, ESTIMATOR_CODES["ml"])
                for seed in range(5)]
    assert 0.35 * tau2 < np.mean(ml_pairs) < 0.5 * tau2


def test_groups_that_differ_by_noise_alone_often_give_tau2_zero_by_ml_and_reml_but_never_by_bayes():
    estimates = {m: np.array([between_variance_known_sigma(*levels(400, 0.0, seed), 1, 1.0, ESTIMATOR_CODES[m])
                              for seed in range(20)]) for m in ("ml", "reml", "bayes")}
    for m in ("ml", "reml"):
        assert np.mean(estimates[m] == 0.0) >= 0.3, m
        assert np.all(estimates[m] < 0.05), m
    # A posterior mean is never exactly 0, but it stays small next to the noise of a typical level.
    assert np.all(estimates["bayes"] > 0.0) and np.all(estimates["bayes"] < 0.05)


def test_level_pooling_k_of_every_estimator_recovers_the_variance_ratio():
    rng = np.random.default_rng(0)
    n_levels, sigma2, tau2 = 400, 4.0, 0.5
    mass = rng.integers(1, 60, n_levels).astype(float)
    level_g = -(mass * rng.normal(0, np.sqrt(tau2), n_levels) + rng.normal(0, np.sqrt(sigma2 * mass)))
    moments = level_pooling_k(level_g, mass, n_levels, level_g.sum(), mass.sum(), sigma2)
    assert level_pooling_k(level_g, mass, n_levels, level_g.sum(), mass.sum(), sigma2, 0) == moments
    for m in ("ml", "reml", "bayes"):
        k = level_pooling_k(level_g, mass, n_levels, level_g.sum(), mass.sum(), sigma2, ESTIMATOR_CODES[m])
        assert 0.7 * sigma2 / tau2 < k < 1.4 * sigma2 / tau2, m


def test_exact_levels_are_not_pooled_by_any_estimator():
    # No within-level noise: the level values are exact, so k = 0 (no pooling) whatever the estimator.
    mass = np.array([3.0, 5.0, 2.0, 8.0])
    level_g = -mass * np.array([0.1, -0.4, 0.9, 0.2])
    for m in ESTIMATORS:
        assert level_pooling_k(level_g, mass, 4, level_g.sum(), mass.sum(), 0.0, ESTIMATOR_CODES[m]) == 0.0, m


def test_moments_is_the_moment_kernel_bit_for_bit():
    rng = np.random.default_rng(5)
    left = np.array([1, 3, -1, -1, -1], dtype=np.int32)
    right = np.array([2, 4, -1, -1, -1], dtype=np.int32)
    weight = rng.uniform(5, 50, 5)
    raw = rng.normal(size=5)
    null = np.array([2.5, 1.7, 0.0, 0.0, 0.0])
    expected = between_node_variance(left, right, weight, raw, 0.3, null)
    assert tree_between_variance(left, right, weight, raw, 0.3, null, 0) == expected
    # The likelihood estimators see the same two contrasts, each with the noise sigma^2 * null / information.
    for m in ("ml", "reml", "bayes"):
        assert tree_between_variance(left, right, weight, raw, 0.3, null, ESTIMATOR_CODES[m]) >= 0.0


def test_joint_ratio_of_identical_outputs_is_their_ratio():
    rng = np.random.default_rng(6)
    n = 63
    left = np.full(n, -1, dtype=np.int32)
    right = np.full(n, -1, dtype=np.int32)
    left[:31], right[:31] = 2 * np.arange(31) + 1, 2 * np.arange(31) + 2
    weight = rng.uniform(5, 50, n)
    raw = rng.normal(size=n)
    null = np.where(left >= 0, 1.0, 0.0)
    single = tree_between_variance(left, right, weight, raw, 2.0, null, ESTIMATOR_CODES["reml"]) / 2.0
    # The same output twice, the second in another unit (scaled by 3, its noise by 9): the same ratio.
    both = joint_tree_ratio(left, right, weight, np.c_[raw, 3 * raw], np.array([2.0, 18.0]), null,
                            ESTIMATOR_CODES["reml"])
    assert single > 0 and both == pytest.approx(single, rel=1e-6)


# -- the booster ---------------------------------------------------------------------------------------


def data(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=list("abcd"))
    level = rng.integers(0, 30, n)
    X["g"] = pd.Categorical([f"l{v}" for v in level])
    y = X["a"] + np.sin(2 * X["b"]) + rng.normal(0, 0.7, 30)[level] + rng.normal(size=n)
    return X, y.to_numpy()


def test_auto_and_moments_are_the_default_model_bit_for_bit():
    X, y = data()
    for eb in ("honest", "calibrated"):
        default = ShrinkBoostRegressor(n_estimators=20, eb_method=eb, random_state=0).fit(X, y)
        for value in ("auto", "moments"):
            model = ShrinkBoostRegressor(n_estimators=20, eb_method=eb, random_state=0, variance_estimator=value)
            model.fit(X, y)
            assert np.array_equal(model.predict(X), default.predict(X))
            assert np.array_equal(model.pooling_strength_, default.pooling_strength_)


@pytest.mark.parametrize("estimator", ["ml", "reml", "bayes"])
def test_every_estimator_gives_a_valid_model(estimator):
    X, y = data()
    reference = ShrinkBoostRegressor(n_estimators=30, random_state=0).fit(X, y)
    model = ShrinkBoostRegressor(n_estimators=30, random_state=0, variance_estimator=estimator).fit(X, y)
    prediction = model.predict(X)
    assert np.all(np.isfinite(prediction))
    # It learns the signal about as well as the moment estimators, but is another model.
    assert np.corrcoef(prediction, reference.predict(X))[0, 1] > 0.9
    assert not np.array_equal(model.pooling_strength_, reference.pooling_strength_)
    assert np.all(model.pooling_strength_ > 0)
    for trees in model._trees:
        for tree in trees:
            assert np.all((tree.pooling_factor >= 0) & (tree.pooling_factor <= 1))
    calibrated = ShrinkBoostRegressor(n_estimators=10, random_state=0, eb_method="calibrated",
                                      variance_estimator=estimator).fit(X, y)
    assert np.all(np.isfinite(calibrated.predict(X)))
    y_class = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    classifier = ShrinkBoostClassifier(n_estimators=10, random_state=0, variance_estimator=estimator).fit(X, y_class)
    proba = classifier.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1.0) and np.all(np.isfinite(proba))


def test_an_unknown_estimator_is_a_clear_error_and_leaves_the_model_as_it_was():
    X, y = data(300)
    model = ShrinkBoostRegressor(n_estimators=5, random_state=0).fit(X, y)
    before = model.predict(X)
    for bad in ("REML", "lme4", None, 1):
        model.set_params(variance_estimator=bad)
        with pytest.raises(ValueError, match="variance_estimator must be one of"):
            model.fit(X, y)
        assert np.array_equal(model.predict(X), before)
    with pytest.raises(ValueError, match="variance_estimator must be one of"):
        resolve_variance_estimator("anova")
    assert VARIANCE_ESTIMATOR_CHOICES == ("auto", *ESTIMATORS)
    assert resolve_variance_estimator("auto") == "moments" and resolve_variance_estimator("auto", "reml") == "reml"


@pytest.mark.parametrize("estimator", ["reml", "bayes"])
def test_the_same_seed_gives_the_same_model_for_any_thread_count(estimator):
    rng = np.random.default_rng(1)
    n = 21_000
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=list("abc"))
    X["g"] = pd.Categorical(rng.integers(0, 50, n))
    y = X["a"].to_numpy() + rng.normal(size=n)
    fits = [ShrinkBoostRegressor(n_estimators=8, random_state=3, variance_estimator=estimator, n_jobs=jobs).fit(X, y)
            for jobs in (1, 2, 1)]
    predictions = [fit.predict(X) for fit in fits]
    assert np.array_equal(predictions[0], predictions[1]) and np.array_equal(predictions[0], predictions[2])


def test_the_model_file_keeps_the_estimator_and_older_files_load(tmp_path):
    X, y = data(400)
    model = ShrinkBoostRegressor(n_estimators=5, random_state=0, variance_estimator="reml").fit(X, y)
    model.save_model(tmp_path / "m.json")
    loaded = load_model(tmp_path / "m.json")
    assert loaded.variance_estimator == "reml" and np.array_equal(loaded.predict(X), model.predict(X))
    # A file written before the parameter existed: its state has no such key.
    default = ShrinkBoostRegressor(n_estimators=5, random_state=0).fit(X, y)
    default.save_model(tmp_path / "d.json")
    document = json.loads((tmp_path / "d.json").read_text())
    del document["state"]["__dict__"]["variance_estimator"]
    del document["state"]["__dict__"]["random_effects"]
    body = {key: value for key, value in document.items() if key != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    document["checksum"] = "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()
    (tmp_path / "old.json").write_text(json.dumps(document))
    old = load_model(tmp_path / "old.json")
    assert old.get_params()["variance_estimator"] == "auto" and old.get_params()["random_effects"] is None
    assert np.array_equal(old.predict(X), default.predict(X))


# -- the post-hoc wrapper ------------------------------------------------------------------------------


def test_shrink_takes_every_estimator():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(600, 4))
    y = X[:, 0] + rng.normal(size=600)
    forest = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    default = shrink(forest, X, y)
    assert np.array_equal(shrink(forest, X, y, variance_estimator="moments").predict(X), default.predict(X))
    for estimator in ("ml", "reml", "bayes"):
        shrunk = shrink(forest, X, y, variance_estimator=estimator)
        assert np.all(np.isfinite(shrunk.predict(X)))
        assert not np.array_equal(shrunk.predict(X), default.predict(X))
    booster = ShrinkBoostRegressor(n_estimators=10, random_state=0).fit(X, y)
    assert np.all(np.isfinite(shrink(booster, X, y, variance_estimator="reml").predict(X)))
    labels = (y > 0).astype(int) + (y > 1)
    classes = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, labels)
    proba = shrink(classes, X, labels, variance_estimator="reml").predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1.0) and np.all(proba >= 0)
    wrapped = ShrunkRegressor(RandomForestRegressor(n_estimators=5, random_state=0), variance_estimator="bayes")
    assert np.array_equal(wrapped.fit(X, y).predict(X), shrink(forest, X, y, variance_estimator="bayes").predict(X))


def test_shrink_rejects_a_bad_estimator_and_one_without_eb():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 3))
    y = X[:, 0] + rng.normal(size=200)
    forest = RandomForestRegressor(n_estimators=3, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="variance_estimator must be one of"):
        shrink(forest, X, y, variance_estimator="mle")
    with pytest.raises(ValueError, match="applies to method='eb' only"):
        shrink(forest, X, y, method="hs", strength=1.0, variance_estimator="reml")
