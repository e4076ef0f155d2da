"""The variance-component estimators of the one-way random-intercept model."""

import warnings

import numpy as np
import pandas as pd
import pytest

from shrinktree.variance_components import (
    VARIANCE_ESTIMATORS,
    estimate_variance_components,
    fit_variance_components,
    group_statistics,
)


def unequal_design(seed=0, tau=0.8, sigma=1.5):
    rng = np.random.default_rng(seed)
    sizes = np.r_[rng.integers(1, 4, 30), rng.integers(20, 200, 10), [1, 2, 500]]
    groups = np.repeat(np.arange(len(sizes)), sizes)
    y = 2.0 + rng.normal(0.0, tau, len(sizes))[groups] + rng.normal(0.0, sigma, len(groups))
    return y, groups


def design(n_groups, seed, tau2=0.5, sigma2=1.0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 30, n_groups)
    groups = np.repeat(np.arange(n_groups), sizes)
    y = rng.normal(0.0, np.sqrt(tau2), n_groups)[groups] + rng.normal(0.0, np.sqrt(sigma2), len(groups))
    return y, groups


def skewed_design(seed=12):
    # 150 groups, sizes from a heavy-tailed law (1 to several hundred rows), small tau^2
    rng = np.random.default_rng(seed)
    sizes = np.minimum(rng.zipf(1.6, 150), 400)
    groups = np.repeat(np.arange(len(sizes)), sizes)
    y = -1.0 + rng.normal(0.0, 0.3, len(sizes))[groups] + rng.normal(0.0, 1.0, len(groups))
    return y, groups


@pytest.mark.parametrize("make", [unequal_design, skewed_design])
@pytest.mark.parametrize("reml", [True, False])
def test_ml_and_reml_equal_statsmodels_mixedlm(reml, make):
    smf = pytest.importorskip("statsmodels.formula.api")
    y, groups = make()
    frame = pd.DataFrame({"y": y, "g": groups})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = smf.mixedlm("y ~ 1", frame, groups=frame["g"]).fit(reml=reml, method="bfgs", gtol=1e-12)
    vc = fit_variance_components(y, groups, method="reml" if reml else "ml")
    assert vc.tau2 == pytest.approx(float(ref.cov_re.iloc[0, 0]), rel=1e-4)
    assert vc.sigma2 == pytest.approx(float(ref.scale), rel=1e-4)
    assert vc.mean == pytest.approx(float(ref.fe_params.iloc[0]), rel=1e-4)
    ref_blups = np.array([ref.random_effects[level].iloc[0] for level in vc.levels])
    np.testing.assert_allclose(vc.blups, ref_blups, rtol=1e-4)
    # the sizes are very unequal: the factors span much of (0, 1)
    assert vc.factors.min() < 0.3 and vc.factors.max() > 0.95


def test_blups_are_factor_times_deviation_and_conditional_variance():
    y, groups = unequal_design(seed=3)
    levels, mass, mean, count, within = group_statistics(y, groups)
    vc = estimate_variance_components(mass, mean, count, within, method="reml")
    k = vc.sigma2 / vc.tau2
    np.testing.assert_allclose(vc.factors, mass / (mass + k))
    np.testing.assert_allclose(vc.blups, vc.factors * (mean - vc.mean), atol=1e-12)
    np.testing.assert_allclose(vc.conditional_variance, vc.tau2 * (1.0 - vc.factors))
    assert vc.k == pytest.approx(k)
    assert vc.icc == pytest.approx(vc.tau2 / (vc.tau2 + vc.sigma2))


def test_moments_is_the_one_way_anova_estimator():
    y, groups = unequal_design(seed=1)
    levels, mass, mean, count, within = group_statistics(y, groups)
    m, n = len(levels), len(y)
    sigma2 = within.sum() / (n - m)
    grand = y.mean()
    between = np.sum(count * (mean - grand) ** 2)
    tau2 = (between - (m - 1) * sigma2) / (n - np.sum(count**2) / n)
    vc = fit_variance_components(y, groups, method="moments")
    assert vc.sigma2 == pytest.approx(sigma2, rel=1e-12)
    assert vc.tau2 == pytest.approx(tau2, rel=1e-10)


def test_weights_are_equivalent_to_repeated_rows():
    rng = np.random.default_rng(5)
    y, groups = design(40, seed=5)
    weight = rng.integers(1, 4, len(y)).astype(float)
    for method in VARIANCE_ESTIMATORS:
        weighted = fit_variance_components(y, groups, sample_weight=weight, method=method)
        rep = np.repeat(np.arange(len(y)), weight.astype(int))
        # repeated rows add rows (N); weighted rows do not, so compare with the counts set to match
        levels, mass, mean, count, within = group_statistics(y[rep], groups[rep])
        repeated = estimate_variance_components(mass, mean, count, within, method=method)
        lv, wmass, wmean, wcount, wwithin = group_statistics(y, groups, weight)
        np.testing.assert_allclose(wmass, mass)
        np.testing.assert_allclose(wmean, mean)
        np.testing.assert_allclose(wwithin, within, rtol=1e-10, atol=1e-12)
        same = estimate_variance_components(wmass, wmean, count, wwithin, method=method)
        assert same.tau2 == pytest.approx(repeated.tau2, rel=1e-8)
        assert same.sigma2 == pytest.approx(repeated.sigma2, rel=1e-8)
        assert weighted.tau2 > 0.0


@pytest.mark.parametrize("method", VARIANCE_ESTIMATORS)
def test_estimates_converge_to_the_truth_as_groups_grow(method):
    errors = []
    for n_groups in (30, 300, 3000):
        tau2 = np.array([fit_variance_components(*design(n_groups, seed), method=method).tau2
                         for seed in range(8)])
        errors.append(np.sqrt(np.mean((tau2 - 0.5) ** 2)))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.05
    vc = fit_variance_components(*design(3000, 99), method=method)
    assert vc.sigma2 == pytest.approx(1.0, abs=0.03)
    assert vc.tau2 == pytest.approx(0.5, abs=0.06)


def test_few_tiny_groups_the_estimators_differ_and_bayes_stays_positive():
    rng = np.random.default_rng(11)
    groups = np.array([0, 0, 1, 1, 2, 2, 3])
    found_zero = False
    for _ in range(40):
        y = rng.normal(0.0, 0.3, 4)[groups] + rng.normal(0.0, 1.0, len(groups))
        fits = {m: fit_variance_components(y, groups, method=m) for m in VARIANCE_ESTIMATORS}
        bayes = fits["bayes"]
        assert np.isfinite(bayes.tau2) and bayes.tau2 > 0.0
        assert np.isfinite(bayes.sigma2) and bayes.sigma2 > 0.0
        assert np.all((bayes.factors > 0.0) & (bayes.factors < 1.0))
        # ML profiles out mu without the degree of freedom REML gives back: it never estimates more
        assert fits["ml"].tau2 <= fits["reml"].tau2 + 1e-9
        assert len({round(f.tau2, 6) for f in fits.values()}) > 1
        if fits["reml"].tau2 == 0.0:
            found_zero = True
            assert np.all(fits["reml"].factors == 0.0)
            assert np.all(fits["reml"].blups == 0.0)
    assert found_zero


def test_tau2_zero_at_the_boundary_pools_everything():
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(50), 20)
    y = rng.normal(size=len(groups))
    y -= np.bincount(groups, y)[groups] / 20.0  # group means exactly equal
    for method in ("moments", "ml", "reml"):
        vc = fit_variance_components(y + 3.0, groups, method=method)
        assert vc.tau2 == 0.0 and vc.k == np.inf
        assert vc.mean == pytest.approx(3.0)
    assert 0.0 < fit_variance_components(y, groups, method="bayes").tau2 < 0.01


def test_bayes_matches_reml_with_many_groups():
    y, groups = design(3000, seed=4)
    reml = fit_variance_components(y, groups, method="reml")
    bayes = fit_variance_components(y, groups, method="bayes")
    assert bayes.tau2 == pytest.approx(reml.tau2, rel=0.02)
    assert bayes.sigma2 == pytest.approx(reml.sigma2, rel=0.01)


def test_bayes_posterior_mean_matches_direct_quadrature():
    # a brute-force 2-D quadrature over (log tau^2, log sigma^2) of the same posterior
    y = np.array([0.3, -0.4, 1.2, 1.9, -0.7, 0.1, 0.8, 2.5, 1.1])
    groups = np.array([0, 0, 1, 1, 2, 2, 2, 3, 3])
    vc = fit_variance_components(y, groups, method="bayes")
    levels, mass, mean, count, within = group_statistics(y, groups)
    w0 = mass.mean()
    ls = np.linspace(-8, 6, 700)
    lt = np.linspace(-25, 12, 1400)
    S, T = np.meshgrid(np.exp(ls), np.exp(lt), indexing="ij")
    lam = T / S
    a = mass[None, None, :] / (1.0 + lam[..., None] * mass[None, None, :])
    mu = (a * mean).sum(-1) / a.sum(-1)
    q = within.sum() + (a * (mean - mu[..., None]) ** 2).sum(-1)
    n = len(y)
    log_lik = (-0.5 * (n - 1) * np.log(S) - 0.5 * np.log1p(lam[..., None] * mass).sum(-1)
               - 0.5 * np.log(a.sum(-1)) - q / (2 * S))
    # p(sigma^2) ~ 1/sigma^2; p(tau^2 | sigma^2) = (sigma^2/W0) / (sigma^2/W0 + tau^2)^2 (uniform shrinkage)
    s0 = S / w0
    log_prior = -np.log(S) + np.log(s0) - 2 * np.log(s0 + T)
    log_post = log_lik + log_prior + np.log(S) + np.log(T)  # densities in (log sigma^2, log tau^2)
    p = np.exp(log_post - log_post.max())
    z = p.sum()
    assert vc.sigma2 == pytest.approx((p * S).sum() / z, rel=2e-3)
    assert vc.tau2 == pytest.approx((p * T).sum() / z, rel=2e-3)


def test_invariant_to_shift_and_scale():
    y, groups = unequal_design(seed=7)
    for method in VARIANCE_ESTIMATORS:
        base = fit_variance_components(y, groups, method=method)
        moved = fit_variance_components(10.0 * y + 1000.0, groups, method=method)
        assert moved.tau2 == pytest.approx(100.0 * base.tau2, rel=1e-6)
        assert moved.sigma2 == pytest.approx(100.0 * base.sigma2, rel=1e-6)
        np.testing.assert_allclose(moved.factors, base.factors, rtol=1e-6)


def test_string_labels_and_level_order():
    y, groups = unequal_design(seed=8)
    names = np.array([f"school-{g:03d}" for g in groups], dtype=object)
    a = fit_variance_components(y, groups, method="reml")
    b = fit_variance_components(y, names, method="reml")
    assert list(b.levels[:2]) == ["school-000", "school-001"]
    np.testing.assert_allclose(b.blups, a.blups)


def test_100k_groups_is_fast():
    import time

    rng = np.random.default_rng(0)
    m = 100_000
    groups = np.repeat(np.arange(m), rng.integers(1, 8, m))
    y = rng.normal(0.0, 0.5, m)[groups] + rng.normal(size=len(groups))
    stats = group_statistics(y, groups)[1:]
    estimate_variance_components(*[s[:10] for s in stats[:3]], stats[3][:10], method="reml")  # compile
    start = time.perf_counter()
    vc = estimate_variance_components(*stats, method="reml")
    assert time.perf_counter() - start < 5.0
    assert vc.tau2 == pytest.approx(0.25, rel=0.05)


def test_errors():
    y, groups = unequal_design()
    with pytest.raises(ValueError, match="variance_estimator must be one of"):
        fit_variance_components(y, groups, method="mcmc")
    with pytest.raises(ValueError, match="At least two groups"):
        fit_variance_components(y, np.zeros(len(y)), method="reml")
    with pytest.raises(ValueError, match="not separately identifiable"):
        fit_variance_components(y[:10], np.arange(10), method="ml")
    bad = y.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_variance_components(bad, groups)
    with pytest.raises(ValueError, match="NaN"):
        fit_variance_components(y, np.where(groups == 2, np.nan, groups.astype(float)))
    with pytest.raises(ValueError, match="NaN"):
        estimate_variance_components([1.0, 2.0], [0.0, np.nan], [1, 2], 1.0)
    with pytest.raises(ValueError, match="within-group variance is zero"):
        fit_variance_components(np.repeat([1.0, 2.0, 4.0], 3), np.repeat([0, 1, 2], 3))
    with pytest.raises(ValueError, match="positive mass"):
        estimate_variance_components([1.0, 0.0], [0.0, 1.0], [2, 2], 1.0)
    with pytest.raises(ValueError, match="positive"):
        fit_variance_components(y, groups, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="at least 4 rows"):
        fit_variance_components(np.array([0.0, 1.0, 3.0]), np.array([0, 0, 1]), method="bayes")


def test_level_pooling_of_categorical_splits_is_the_moments_estimator():
    from shrinktree.boosting.splitting import level_pooling_k

    y, groups = unequal_design(seed=9)
    levels, mass, mean, count, within = group_statistics(y, groups)
    vc = estimate_variance_components(mass, mean, count, within, method="moments")
    # squared error: g = -y, h = 1 per row, so G_l = -mass_l * mean_l and H_l = mass_l
    level_g = -mass * mean
    k = level_pooling_k(level_g, mass, len(mass), level_g.sum(), mass.sum(), vc.sigma2)
    assert k == pytest.approx(vc.k, rel=1e-10)
    noise = np.zeros_like(mass)
    assert level_pooling_k(noise, mass, len(mass), 0.0, mass.sum(), vc.sigma2) == np.inf
