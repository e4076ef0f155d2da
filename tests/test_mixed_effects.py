"""Mixed-effects boosting: several groupings, binary and Poisson random intercepts, reporting, bad input."""

import io
import json
import pickle

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
from shrinktree.boosting.random_effects import encode_grouping
from shrinktree.boosting.random_intercepts import RandomIntercepts, resolve_method
from shrinktree.exceptions import ModelIntegrityError
from shrinktree.model_file import ModelFileError, dumps, loads
from shrinktree.variance_components import fit_variance_components


def crossed(m_a, m_b, n, seed, tau_a=1.0, tau_b=0.5, sigma=1.0):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, m_a, n), rng.integers(0, m_b, n)
    y = rng.normal(0, tau_a, m_a)[a] + rng.normal(0, tau_b, m_b)[b] + rng.normal(0, sigma, n)
    return a, b, y


def intercepts(codes, n_groups, y, family="gaussian", method="reml", weight=None):
    weight = np.ones(len(y)) if weight is None else weight
    updater = RandomIntercepts(family, method, [f"g{i}" for i in range(len(codes))], codes, n_groups, y, weight)
    updater.update(np.zeros(len(y)), 200, 1e-8)
    return updater


def test_crossed_components_converge_to_the_truth_as_groups_grow():
    errors = []
    for m_a in (20, 80, 320):
        err = []
        for seed in range(4):
            a, b, y = crossed(m_a, m_a // 4, 15 * m_a, seed)
            fit = intercepts([a, b], [m_a, m_a // 4], y)
            assert fit.converged
            tau2 = [c.tau2 for c in fit.components]
            err.append([abs(tau2[0] - 1.0), abs(tau2[1] - 0.25) / 0.25, abs(fit.sigma2 - 1.0)])
        errors.append(np.mean(err, axis=0))
    errors = np.array(errors)
    assert np.all(np.diff(errors, axis=0) < 0), errors  # every component's error shrinks with the groups
    # Gauss-Seidel biases the crossed tau_b^2 down by about 7% here (docs/mixed_effects.md): within 15%
    assert np.all(errors[-1] < [0.08, 0.15, 0.03]), errors


def test_nested_groupings_are_combinations_of_labels():
    rng = np.random.default_rng(3)
    n_school, per_school, n = 150, 4, 9000
    school, klass = rng.integers(0, n_school, n), rng.integers(0, per_school, n)  # class labels repeat per school
    y = rng.normal(0, 1.0, n_school)[school] + rng.normal(0, 0.6, (n_school, per_school))[school, klass]
    y = y + rng.normal(0, 1.0, n)
    nested = encode_grouping("school:class", ["school", "class"], [school, klass])
    assert nested.n_groups == n_school * per_school
    outer = encode_grouping("school", ["school"], [school])
    fit = intercepts([outer.codes, nested.codes], [outer.n_groups, nested.n_groups], y)
    assert fit.components[0].tau2 == pytest.approx(1.0, rel=0.3)
    assert fit.components[1].tau2 == pytest.approx(0.36, rel=0.3)
    assert fit.sigma2 == pytest.approx(1.0, rel=0.1)
    # the estimator keeps the labels as given: "class" alone is one crossed grouping of 4 levels
    X = pd.DataFrame({"x": rng.normal(size=n), "school": school, "class": klass})
    model = ShrinkBoostRegressor(random_effects=["school", ("school", "class")], n_estimators=10, random_state=0)
    model.fit(X, y)
    table = model.random_effects_["school:class"]
    assert len(table) == n_school * per_school and isinstance(table["level"].iloc[0], tuple)
    assert list(model.variance_components_.index) == ["school", "school:class", "Residual"]
    crossed_model = ShrinkBoostRegressor(random_effects=["school", "class"], n_estimators=10, random_state=0)
    assert len(crossed_model.fit(X, y).random_effects_["class"]) == per_school
    # predictions: a (school, class) pair unseen in fit gets the school's intercept only
    row = X.iloc[:1].assign(**{"class": 99})
    school_effect = model.random_effects_["school"].set_index("level")["estimate"].loc[row["school"].iloc[0]]
    assert model.predict(row)[0] - model.predict(row, include_random_effects=False)[0] == pytest.approx(school_effect)


def test_groups_with_one_or_two_rows_sit_near_the_population_level():
    rng = np.random.default_rng(5)
    sizes = np.r_[np.full(200, 30), np.full(100, 1), np.full(100, 2)]
    codes = np.repeat(np.arange(len(sizes)), sizes)
    y = rng.normal(0, 1.0, len(sizes))[codes] + rng.normal(0, 1.0, len(codes))
    fit = intercepts([codes], [len(sizes)], y)
    one_way = fit_variance_components(y, codes)  # one grouping: the plain one-way REML fit
    assert fit.components[0].tau2 == pytest.approx(one_way.tau2, rel=1e-12)
    raw_mean = np.bincount(codes, y) / sizes
    factor = fit.components[0].estimate / raw_mean
    np.testing.assert_allclose(factor, one_way.factors, rtol=1e-10)
    # one- and two-row groups keep about half of their mean, 30-row groups nearly all of it
    assert factor[200:300].max() < 0.65 and factor[300:].max() < 0.8 and factor[:200].min() > 0.9
    assert np.abs(fit.components[0].estimate[200:]).mean() < 0.7 * np.abs(raw_mean[200:]).mean()


def laplace_logistic(y, g, m):
    """Reference: the Laplace approximation of a random-intercept logistic model, maximised directly."""
    def modes(mu, tau2):
        b = np.zeros(m)
        for _ in range(60):
            p = 1 / (1 + np.exp(-(mu + b[g])))
            hess = np.bincount(g, p * (1 - p), m) + 1 / tau2
            b += (np.bincount(g, y - p, m) - b / tau2) / hess
        return b, hess

    def deviance(t):
        mu, tau2 = t[0], np.exp(t[1])
        b, hess = modes(mu, tau2)
        eta = mu + b[g]
        return -(np.sum(y * eta - np.logaddexp(0, eta)) - np.sum(b**2) / (2 * tau2) - 0.5 * np.sum(np.log(tau2 * hess)))

    t = minimize(deviance, [0.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-7, "fatol": 1e-9}).x
    return t[0], np.exp(t[1]), modes(t[0], np.exp(t[1]))[0]


def test_binary_random_intercepts_agree_with_a_laplace_fit():
    rng = np.random.default_rng(1)
    m, per = 150, 40
    g = np.repeat(np.arange(m), per)
    y = (rng.random(len(g)) < 1 / (1 + np.exp(-(0.3 + rng.normal(0, 1.0, m)[g])))).astype(float)
    mu, tau2, modes = laplace_logistic(y, g, m)
    X = pd.DataFrame({"x": np.zeros(len(g)), "g": g})  # no useful feature: the fixed part is a constant
    model = ShrinkBoostClassifier(random_effects="g", n_estimators=30, random_state=0).fit(X, y)
    # PQL against Laplace: the variance within 2%, each group's log-odds within 0.03
    assert model.variance_components_.loc["g", "variance"] == pytest.approx(tau2, rel=0.02)
    ours = model.decision_function(X)[np.searchsorted(g, np.arange(m))]
    np.testing.assert_allclose(ours, mu + modes, atol=0.03)
    assert model.variance_components_.loc["g", "icc"] == pytest.approx(tau2 / (tau2 + np.pi**2 / 3), rel=0.03)
    proba = model.predict_proba(X)[:, 1]
    assert np.all((proba > 0) & (proba < 1))
    assert np.ptp(model.predict_proba(X, include_random_effects=False)[:, 1]) < 1e-12
    with pytest.raises(ValueError, match="binary classification only"):
        ShrinkBoostClassifier(random_effects="g", n_estimators=5).fit(X, g % 3)


def test_poisson_random_intercepts_recover_the_variance_and_use_the_offset():
    rng = np.random.default_rng(2)
    m, per = 300, 30
    g = np.repeat(np.arange(m), per)
    exposure = rng.uniform(0.5, 2.0, len(g))
    x = rng.normal(size=len(g))
    y = rng.poisson(exposure * np.exp(0.3 * x + rng.normal(0, 0.5, m)[g])).astype(float)
    X = pd.DataFrame({"x": x, "g": g})
    model = ShrinkBoostRegressor(loss="poisson", random_effects="g", n_estimators=40, random_state=0)
    model.fit(X, y, offset=np.log(exposure))
    assert model.variance_components_.loc["g", "variance"] == pytest.approx(0.25, rel=0.25)
    assert list(model.variance_components_.index) == ["g"]  # no residual variance for counts
    with pytest.raises(ValueError, match="pass the rows' offsets"):
        model.predict(X)
    doubled = model.predict(X, offset=np.log(2 * exposure))
    np.testing.assert_allclose(doubled, 2 * model.predict(X, offset=np.log(exposure)), rtol=1e-12)


def test_variance_estimator_is_passed_through():
    a, b, y = crossed(60, 15, 1500, 7)
    methods = ("moments", "ml", "reml", "bayes")
    by_method = {method: intercepts([a, b], [60, 15], y, method=method) for method in methods}
    tau2 = {method: fit.components[0].tau2 for method, fit in by_method.items()}
    assert len(set(tau2.values())) == 4  # four different estimates
    assert tau2["ml"] < tau2["reml"]  # ML does not correct for the estimated mean
    assert all(abs(v - 1.0) < 0.5 for v in tau2.values())

    class Estimator:
        pass

    est = Estimator()
    assert resolve_method(est) == "reml"
    est.variance_estimator = "auto"
    assert resolve_method(est) == "reml"
    est.variance_estimator = "bayes"
    assert resolve_method(est) == "bayes"
    est.variance_estimator = "mcmc"
    with pytest.raises(ValueError, match="variance_estimator must be"):
        resolve_method(est)
    X = pd.DataFrame({"x": np.zeros(1500), "a": a, "b": b})
    model = ShrinkBoostRegressor(random_effects=["a", "b"], n_estimators=5, random_state=0)
    model.variance_estimator = "moments"  # as the variance_estimator parameter sets it
    model.fit(X, y)
    assert model._random_effects_fit["method"] == "moments"


def grouped_frame(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    school, rater = rng.integers(0, 60, n), rng.integers(0, 12, n)
    x = rng.normal(size=(n, 2))
    y = np.sin(2 * x[:, 0]) + rng.normal(0, 1, 60)[school] + rng.normal(0, 0.5, 12)[rater] + rng.normal(0, 0.5, n)
    X = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "school": [f"s{i}" for i in school], "rater": rater})
    return X, y


@pytest.fixture(scope="module")
def two_groupings():
    X, y = grouped_frame()
    model = ShrinkBoostRegressor(random_effects=["school", "rater"], n_estimators=40, random_state=0).fit(X, y)
    return model, X, y


def test_missing_labels_are_at_the_population_level(two_groupings):
    model, X, y = two_groupings
    holes = X.assign(school=X["school"].where(np.arange(len(X)) % 10 != 0))
    fitted = ShrinkBoostRegressor(random_effects=["school", "rater"], n_estimators=40, random_state=0).fit(holes, y)
    assert fitted.random_effects_["school"]["rows"].sum() == int(holes["school"].notna().sum())
    assert fitted.random_effects_["rater"]["rows"].sum() == len(X)
    rater = fitted.random_effects_["rater"].set_index("level")["estimate"]
    rows = holes[holes["school"].isna()].head(20)
    np.testing.assert_allclose(fitted.predict(rows) - fitted.predict(rows, include_random_effects=False),
                               rater.loc[rows["rater"]].to_numpy())


def test_crossed_fit_beats_the_booster_with_native_categoricals(two_groupings):
    model, X, y = two_groupings
    X_test, y_test = grouped_frame(n=3000, seed=0)  # the same groups' effects (same seed), new rows below
    rng = np.random.default_rng(11)
    X_test = X_test.assign(x0=rng.normal(size=len(X_test)), x1=rng.normal(size=len(X_test)))
    truth = np.sin(2 * X_test["x0"].to_numpy()) + (y - np.sin(2 * X["x0"].to_numpy()))  # group parts + noise
    native = ShrinkBoostRegressor(n_estimators=40, random_state=0).fit(
        X.astype({"school": "category", "rater": "category"}), y)
    mixed_error = np.mean((model.predict(X_test) - truth) ** 2)
    native_error = np.mean((native.predict(X_test.astype({"school": "category", "rater": "category"})) - truth) ** 2)
    assert mixed_error < native_error
    vc = model.variance_components_
    # 40 trees: 20 for the trees alone (half of them), updates before iterations 20 and 30, and the final
    # one, which converges in a few sweeps
    assert model.n_mixed_iter_ == 3
    assert model._random_effects_fit["converged"] and model._random_effects_fit["final_sweeps"] <= 5
    assert vc.loc["Residual", "variance"] == pytest.approx(0.25, rel=0.3)
    assert vc["icc"].iloc[:2].sum() == pytest.approx(vc["variance"].iloc[:2].sum() / vc["variance"].sum())


def test_same_seed_same_model_for_any_thread_count(two_groupings):
    model, X, y = two_groupings
    other = ShrinkBoostRegressor(random_effects=["school", "rater"], n_estimators=40, random_state=0, n_jobs=1)
    np.testing.assert_array_equal(other.fit(X, y).predict(X), model.predict(X))


def test_pickle_and_model_file_round_trip(two_groupings):
    model, X, y = two_groupings
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X), model.predict(X))
    restored = loads(dumps(model)).model
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    pd.testing.assert_frame_equal(restored.variance_components_, model.variance_components_)
    document = json.loads(dumps(model))
    text = json.dumps(document["state"])
    assert "rater" in text
    state = model.__getstate__()
    state["_random_effects_fit"] = {**state["_random_effects_fit"], "family": "gamma"}
    with pytest.raises(ModelIntegrityError):
        ShrinkBoostRegressor().__setstate__(state)
    # a damaged file fails its checks instead of loading
    damaged = dumps(model).replace(b'"sigma2"', b'"sigmaX"')
    with pytest.raises(ModelFileError):
        loads(damaged)


def test_bad_input_is_a_clear_error():
    X, y = grouped_frame(n=600, seed=4)
    model = ShrinkBoostRegressor(random_effects=["school", "rater"], n_estimators=5)
    with pytest.raises(ValueError, match="which X does not have"):
        ShrinkBoostRegressor(random_effects=["school", "class"]).fit(X, y)
    with pytest.raises(ValueError, match="at least two levels"):
        model.fit(X.assign(rater=1), y)
    with pytest.raises(ValueError, match="'school'.*not separately identifiable"):
        model.fit(X.assign(school=np.arange(len(y))), y)
    with pytest.raises(ValueError, match="same groups"):
        model.fit(X.assign(rater=X["school"]), y)
    with pytest.raises(ValueError, match="same grouping twice"):
        ShrinkBoostRegressor(random_effects=["school", "school"]).fit(X, y)
    with pytest.raises(ValueError, match="pass several groupings as a list"):
        ShrinkBoostRegressor(random_effects=("school", "rater")).fit(X, y)
    for loss in ("absolute_error", "quantile", "huber", "gamma"):
        with pytest.raises(ValueError, match="loss='squared_error' or loss='poisson'"):
            ShrinkBoostRegressor(random_effects="school", loss=loss).fit(X, y + 10)
    with pytest.raises(ValueError, match="early_stopping=True"):
        ShrinkBoostRegressor(random_effects="school", early_stopping=True).fit(X, y)
    with pytest.raises(ValueError, match="no column for the trees"):
        model.fit(X[["school", "rater"]], y)
    fitted = ShrinkBoostRegressor(random_effects="school", n_estimators=5).fit(X, y)
    with pytest.raises(ValueError, match="which X does not have"):
        fitted.predict(X.drop(columns="school"))
    before = fitted.predict(X)
    with pytest.raises(ValueError):
        fitted.fit(X.assign(school=1), y)
    np.testing.assert_array_equal(fitted.predict(X), before)  # a failed fit leaves the model as it was


def test_cli_fits_and_predicts_with_random_effects(tmp_path, capsys):
    from shrinktree.cli import main

    X, y = grouped_frame(n=800, seed=6)
    csv = tmp_path / "train.csv"
    X.assign(y=y).to_csv(csv, index=False)
    out = tmp_path / "model.json"
    assert main(["fit", "--csv", str(csv), "--target", "y", "--out", str(out), "--random-effects", "school",
                 "--random-effects", "rater", "--n-estimators", "10"]) == 0
    printed = capsys.readouterr().out
    assert "random intercepts" in printed and "school" in printed and "rater" in printed
    assert main(["predict", "--model", str(out), "--csv", str(csv)]) == 0
    predictions = pd.read_csv(io.StringIO(capsys.readouterr().out))["prediction"].to_numpy()
    model = loads(out.read_bytes()).model
    assert list(model.random_effects_) == ["school", "rater"]
    np.testing.assert_allclose(predictions, model.predict(X.astype({"school": "category"})), rtol=1e-6)
    assert main(["fit", "--csv", str(csv), "--target", "y", "--out", str(tmp_path / "m2.json"),
                 "--random-effects", "nope"]) != 0


def test_weights_are_precisions_in_the_updates():
    a, b, y = crossed(40, 10, 800, 9)
    plain = intercepts([a, b], [40, 10], y)
    doubled = intercepts([a, b], [40, 10], y, weight=np.full(len(y), 2.0))
    # weight 2 on every row: the same intercepts and tau^2, sigma^2 per unit of weight doubles
    for one, two in zip(plain.components, doubled.components):
        assert two.tau2 == pytest.approx(one.tau2, rel=1e-9)
        np.testing.assert_allclose(two.estimate, one.estimate, rtol=1e-8, atol=1e-12)
    assert doubled.sigma2 == pytest.approx(2 * plain.sigma2, rel=1e-9)
    # a heavier group counts more: its BLUP keeps more of its mean
    weight = np.where(a == 0, 10.0, 1.0)
    heavy = intercepts([a, b], [40, 10], y, weight=weight)
    mean0 = np.mean((y - plain.total + plain.components[0].estimate[a])[a == 0])
    assert abs(heavy.components[0].estimate[0] - mean0) < abs(plain.components[0].estimate[0] - mean0)


def test_features_constant_within_groups_go_to_the_fixed_part():
    # A group-level feature (a school's sector, a class's grade) explains part of the group means: the
    # trees must learn it, leaving the intercepts and their variance the rest, as a mixed model's fixed
    # effects do. Intercepts updated before any tree take the whole group mean (tau^2 0.87 for 0.25 here,
    # new groups predicted with RMSE 0.74). A feature with one value per group also lets the trees fit
    # part of the group effects (tau^2 about 0.12: docs/mixed_effects.md, "Features constant within groups").
    rng = np.random.default_rng(3)
    n_groups, size, tau2 = 200, 30, 0.25
    level = rng.uniform(size=n_groups)
    effect = rng.normal(0.0, np.sqrt(tau2), n_groups)
    groups = np.repeat(np.arange(n_groups), size)
    y = 3.0 * level[groups] + effect[groups] + rng.normal(size=groups.size)
    X = pd.DataFrame({"level": level[groups], "noise": rng.normal(size=groups.size), "g": groups})
    model = ShrinkBoostRegressor(random_effects="g", n_estimators=100, random_state=0).fit(X, y)
    estimated = model.variance_components_.loc["g", "variance"]
    assert 0.3 * tau2 < estimated < 2.0 * tau2
    new_groups = pd.DataFrame({"level": np.linspace(0.05, 0.95, 50), "noise": 0.0, "g": -1})
    population = model.predict(new_groups)  # unseen groups: the fixed part
    truth = 3.0 * new_groups["level"].to_numpy() + (y - 3.0 * level[groups]).mean()
    assert np.sqrt(np.mean((population - truth) ** 2)) < 0.35


def test_warm_up_lets_the_trees_fit_first():
    from shrinktree.boosting.mixed import warm_up_iterations

    assert warm_up_iterations(0.1, 300) == 29  # (1 - 0.1)^29 < 0.05 <= (1 - 0.1)^28
    assert warm_up_iterations(0.1, 20) == 10  # at most half of the trees
    assert warm_up_iterations(1.0, 300) == 1
    assert warm_up_iterations(0.5, 1) == 0
