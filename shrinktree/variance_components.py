"""Variance components of the one-way random-intercept model, by moments, ML, REML or Bayes.

The model, for group ``i`` and row ``j`` with weight ``w_ij > 0``:

    y_ij = mu + b_i + e_ij,    b_i ~ N(0, tau^2),    e_ij ~ N(0, sigma^2 / w_ij)

Everything the estimators need is in the per-group sufficient statistics: the group mass
``W_i = sum_j w_ij``, the group mean ``ybar_i = sum_j w_ij y_ij / W_i``, the row count ``n_i`` and
the within-group sum of squares ``S_w = sum_ij w_ij (y_ij - ybar_i)^2``.  For boosting, the
pseudo-observations ``y = -g/h`` with weights ``h`` give ``W_i = H_i`` (hessian sum) and
``ybar_i = -G_i / H_i`` (the Newton value).

With ``lambda = tau^2 / sigma^2`` and ``a_i = W_i / (1 + lambda W_i)``, the GLS mean is
``mu(lambda) = sum a_i ybar_i / sum a_i`` and ``Q(lambda) = S_w + sum a_i (ybar_i - mu)^2``.
Profiling ``sigma^2`` out of the likelihood (``N = sum n_i`` rows, ``m`` groups), up to constants:

    ML:    -2 l(lambda) = N log Q + sum log(1 + lambda W_i),                     sigma^2 = Q / N
    REML:  -2 l(lambda) = (N - 1) log Q + sum log(1 + lambda W_i) + log sum a_i,  sigma^2 = Q / (N - 1)

Both are minimised over ``log lambda`` (a grid to bracket the minimum, then Brent's root finder
on the analytic derivative); ``lambda = 0`` (``tau^2 = 0``) when the minimum is at the boundary.
``"moments"`` is the one-way ANOVA estimator with unequal masses (Searle, Casella & McCulloch
1992): ``sigma^2 = S_w / (N - m)`` and ``tau^2 = max(0, (B - (m - 1) sigma^2) / (W - sum W_i^2 / W))``
with ``B = sum W_i (ybar_i - ybar)^2`` and ``ybar`` the mass-weighted mean.

``"bayes"`` gives posterior means under a flat prior on ``mu``, the Jeffreys prior
``p(sigma^2) ~ 1 / sigma^2`` and the *uniform shrinkage prior* on the ratio (Daniels 1999,
Christiansen & Morris 1997): ``lambda W0 / (1 + lambda W0)`` -- the share of a typical group's
mean that is signal -- is uniform on ``(0, 1)``, ``W0`` the mean group mass; that is
``p(lambda) = W0 / (1 + lambda W0)^2``, proper, weakly informative and with positive density at
``tau^2 = 0``.  ``mu`` and ``sigma^2`` integrate out in closed form, leaving
``p(lambda | y) ~ p(lambda) exp(-REML(lambda) / 2)``; given ``lambda``, ``sigma^2`` is
inverse-gamma with mean ``Q / (N - 3)``.  So ``E[sigma^2] = E[Q / (N - 3)]`` and
``E[tau^2] = E[lambda Q / (N - 3)]``, computed by the trapezoid rule on a grid over
``log lambda`` (a 71-point grid over 70 units of ``log(lambda W0)``, then twice a 201-point
grid over the region holding the posterior mass).  No sampling: deterministic and fast.

All four return the BLUP shrinkage factors ``f_i = W_i / (W_i + k)``, ``k = sigma^2 / tau^2``
(for ``"bayes"`` at the posterior means), the BLUPs ``b_i = f_i (ybar_i - mu)`` and their
conditional variances ``sigma^2 / (W_i + k)``.

The moment estimators the booster runs inside its numba kernels are here too:
:func:`anova_between_variance` (the level pooling of categorical splits, with ``sigma^2`` given),
:func:`between_node_moments` / :func:`between_node_variance` (the same ANOVA pooled over the
two-group designs that a tree's splits are, with a null factor for split selection) and
:func:`within_variance` (``sigma^2`` per unit of hessian mass), and their ML, REML and Bayes
counterparts with ``sigma^2`` known (:func:`between_variance_known_sigma` over independent one-way
designs; :func:`tree_between_variance` and :func:`level_between_variance` choose by
``variance_estimator``), all in numba.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from ._numba import njit

VARIANCE_ESTIMATORS = ("moments", "ml", "reml", "bayes")

_COARSE_LOW, _COARSE_HIGH, _COARSE_POINTS = -30.0, 40.0, 141
_BAYES_COARSE_POINTS, _BAYES_FINE_POINTS, _BAYES_REFINEMENTS = 71, 201, 2


@dataclass(frozen=True)
class VarianceComponents:
    """Estimated variance components of a one-way random-intercept model.

    Attributes
    ----------
    method : str
    tau2 : float
        Between-group variance (``0`` when the groups do not differ beyond noise).
    sigma2 : float
        Residual variance per unit of weight.
    mean : float
        GLS estimate of ``mu`` at the estimated components.
    factors : ndarray of shape (n_groups,)
        BLUP shrinkage factors ``W_i / (W_i + k)``.
    blups : ndarray of shape (n_groups,)
        Predicted random intercepts ``factors * (ybar_i - mean)``.
    conditional_variance : ndarray of shape (n_groups,)
        ``Var(b_i | y) = sigma^2 / (W_i + k)`` (``0`` when ``tau2 == 0``).
    levels : ndarray or None
        Group labels in the order of the arrays, when built from rows.
    """

    method: str
    tau2: float
    sigma2: float
    mean: float
    factors: np.ndarray
    blups: np.ndarray
    conditional_variance: np.ndarray
    levels: np.ndarray | None = None

    @property
    def k(self) -> float:
        """Pooling strength ``sigma^2 / tau^2`` (``inf`` when ``tau2 == 0``)."""
        return np.inf if self.tau2 <= 0.0 else self.sigma2 / self.tau2

    @property
    def icc(self) -> float:
        """Intraclass correlation ``tau^2 / (tau^2 + sigma^2)`` (rows of unit weight)."""
        return self.tau2 / (self.tau2 + self.sigma2)


@njit(cache=True)
def _profile_terms(lam, mass, mean):
    """For each ``lambda``: ``sum a``, ``sum a (ybar - mu)^2``, ``sum log(1 + lambda W)``, ``sum a^2``,
    ``sum a^2 (ybar - mu)^2``."""
    n_lam = lam.shape[0]
    m = mass.shape[0]
    out = np.empty((n_lam, 5))
    for t in range(n_lam):
        lt = lam[t]
        sum_a = 0.0
        sum_ay = 0.0
        for i in range(m):
            a = mass[i] / (1.0 + lt * mass[i])
            sum_a += a
            sum_ay += a * mean[i]
        mu = sum_ay / sum_a
        q = 0.0
        logdet = 0.0
        sum_a2 = 0.0
        sum_a2d2 = 0.0
        for i in range(m):
            a = mass[i] / (1.0 + lt * mass[i])
            d = mean[i] - mu
            q += a * d * d
            logdet += np.log1p(lt * mass[i])
            sum_a2 += a * a
            sum_a2d2 += a * a * d * d
        out[t, 0] = sum_a
        out[t, 1] = q
        out[t, 2] = logdet
        out[t, 3] = sum_a2
        out[t, 4] = sum_a2d2
    return out


def _deviance(terms, within_ss, n_rows, reml):
    q = within_ss + terms[:, 1]
    if reml:
        return (n_rows - 1) * np.log(q) + terms[:, 2] + np.log(terms[:, 0])
    return n_rows * np.log(q) + terms[:, 2]


def _deviance_slope(lam, mass, mean, within_ss, n_rows, reml):
    """d(-2 l)/d lambda: ``dQ = -sum a^2 d^2``, ``d logdet = sum a``, ``d sum a = -sum a^2``."""
    terms = _profile_terms(np.array([lam]), mass, mean)[0]
    q = within_ss + terms[1]
    dq = -terms[4]
    if reml:
        return (n_rows - 1) * dq / q + terms[0] - terms[3] / terms[0]
    return n_rows * dq / q + terms[0]


def _optimise_ratio(mass, mean, within_ss, n_rows, reml, scale):
    """``lambda`` minimising the profiled (restricted) deviance; 0 at the boundary."""
    t_grid = np.linspace(_COARSE_LOW, _COARSE_HIGH, _COARSE_POINTS)
    lam_grid = np.exp(t_grid) / scale
    dev = _deviance(_profile_terms(lam_grid, mass, mean), within_ss, n_rows, reml)
    best = int(np.argmin(dev))
    if best == 0:
        return 0.0
    lo = lam_grid[best - 1]
    hi = lam_grid[min(best + 1, len(lam_grid) - 1)]

    def slope(log_lam):
        return _deviance_slope(np.exp(log_lam), mass, mean, within_ss, n_rows, reml)

    s_lo, s_hi = slope(np.log(lo)), slope(np.log(hi))
    if s_lo < 0.0 < s_hi:
        return float(np.exp(brentq(slope, np.log(lo), np.log(hi), xtol=1e-14, rtol=1e-14, maxiter=200)))
    return float(lam_grid[best])


def _posterior_means(mass, mean, within_ss, n_rows, scale):
    """Posterior means of ``sigma^2`` and ``tau^2`` (uniform shrinkage prior; see the module)."""

    def log_posterior(t):
        lam = np.exp(t) / scale
        terms = _profile_terms(lam, mass, mean)
        q = within_ss + terms[:, 1]
        # density in t = log(lambda W0): p(lambda) dlambda/dt = x / (1 + x)^2 with x = lambda W0
        log_prior = t - 2.0 * np.log1p(np.exp(t))
        return log_prior - 0.5 * _deviance(terms, within_ss, n_rows, True), lam, q

    t = np.linspace(_COARSE_LOW, _COARSE_HIGH, _BAYES_COARSE_POINTS)
    lp, lam, q = log_posterior(t)
    for _ in range(_BAYES_REFINEMENTS):
        # zoom in on the region holding the mass of both integrands (1 and lambda)
        keep = (lp > lp.max() - 40.0) | (lp + np.log(lam) > (lp + np.log(lam)).max() - 40.0)
        idx = np.flatnonzero(keep)
        t = np.linspace(t[max(idx[0] - 1, 0)], t[min(idx[-1] + 1, len(t) - 1)], _BAYES_FINE_POINTS)
        lp, lam, q = log_posterior(t)
    weight = np.exp(lp - lp.max())
    norm = np.trapezoid(weight, t)
    sigma2 = np.trapezoid(weight * q, t) / norm / (n_rows - 3)
    tau2 = np.trapezoid(weight * lam * q, t) / norm / (n_rows - 3)
    return float(sigma2), float(tau2)


def _moments(mass, mean, within_ss, n_rows):
    m = mass.shape[0]
    sigma2 = within_ss / (n_rows - m)
    total = float(mass.sum())
    tau2 = anova_between_variance(mass, mean, m, total, float(np.dot(mass, mean) / total), sigma2)
    return float(sigma2), float(tau2)


def _as_float_array(name, values):
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return arr


def estimate_variance_components(mass, mean, count, within_ss, method: str = "reml") -> VarianceComponents:
    """Estimate ``tau^2`` and ``sigma^2`` from per-group sufficient statistics.

    Parameters
    ----------
    mass : array of shape (n_groups,)
        Group masses ``W_i`` (sums of weights or of hessians), all positive.
    mean : array of shape (n_groups,)
        Mass-weighted group means ``ybar_i``.
    count : array of shape (n_groups,)
        Rows per group ``n_i`` (at least 1).
    within_ss : float or array of shape (n_groups,)
        Within-group weighted sum of squares ``S_w`` (total, or per group and summed here).
    method : {"moments", "ml", "reml", "bayes"}

    Raises
    ------
    ValueError
        Unknown ``method``; NaN or infinite inputs; fewer than two groups; every group of a single
        row (then ``tau^2`` and ``sigma^2`` are not separately identifiable: only their sum is);
        zero within-group variance; non-positive masses; ``"bayes"`` with fewer than 4 rows (the
        posterior mean of ``sigma^2`` does not exist).
    """
    if method not in VARIANCE_ESTIMATORS:
        raise ValueError(f"variance_estimator must be one of {VARIANCE_ESTIMATORS}, got {method!r}.")
    mass = _as_float_array("mass", mass)
    mean = _as_float_array("mean", mean)
    count = _as_float_array("count", count)
    within = np.asarray(within_ss, dtype=np.float64)
    if not np.all(np.isfinite(within)):
        raise ValueError("within_ss contains NaN or infinite values.")
    within_ss = float(within.sum())
    m = mass.shape[0]
    if mean.shape[0] != m or count.shape[0] != m:
        raise ValueError(f"mass, mean and count must have the same length, got {m}, {mean.shape[0]}, "
                         f"{count.shape[0]}.")
    if m < 2:
        raise ValueError(f"At least two groups are needed to estimate a between-group variance, got {m}.")
    if np.any(mass <= 0.0):
        raise ValueError("Every group needs a positive mass (sum of weights or hessians).")
    if np.any(count < 1.0):
        raise ValueError("Every group needs at least one row.")
    n_rows = float(count.sum())
    if n_rows <= m:
        raise ValueError("Every group has a single row: the between-group and residual variances are not "
                         "separately identifiable (only their sum is). Groups with repeated rows are needed.")
    if within_ss < 0.0:
        raise ValueError(f"within_ss must be non-negative, got {within_ss}.")
    scale = float(mass.mean())
    tiny = 1e-14 * (float(np.dot(mass, mean**2)) + 1e-300)
    if within_ss <= tiny:
        raise ValueError("The within-group variance is zero: every row equals its group mean, so the "
                         "residual variance (and with it the ratio tau^2/sigma^2) cannot be estimated.")
    # centre the means: the estimators are invariant to a shift and it avoids cancellation.
    centre = float(np.dot(mass, mean) / mass.sum())
    centred = mean - centre
    if method == "moments":
        sigma2, tau2 = _moments(mass, centred, within_ss, n_rows)
    elif method in ("ml", "reml"):
        reml = method == "reml"
        lam = _optimise_ratio(mass, centred, within_ss, n_rows, reml, scale)
        terms = _profile_terms(np.array([lam]), mass, centred)[0]
        sigma2 = (within_ss + terms[1]) / (n_rows - 1 if reml else n_rows)
        tau2 = lam * sigma2
    else:
        if n_rows < 4:
            raise ValueError("The 'bayes' estimator needs at least 4 rows (the posterior mean of sigma^2 "
                             "is infinite otherwise).")
        sigma2, tau2 = _posterior_means(mass, centred, within_ss, n_rows, scale)
    return _components(method, sigma2, tau2, mass, centred, centre)


def _components(method, sigma2, tau2, mass, centred, centre):
    if tau2 > 0.0:
        k = sigma2 / tau2
        factors = mass / (mass + k)
        a = mass / (1.0 + mass * tau2 / sigma2)
        mu = float(np.dot(a, centred) / a.sum())
        conditional = sigma2 / (mass + k)
    else:
        factors = np.zeros_like(mass)
        mu = float(np.dot(mass, centred) / mass.sum())
        conditional = np.zeros_like(mass)
    blups = factors * (centred - mu)
    return VarianceComponents(method=method, tau2=float(tau2), sigma2=float(sigma2), mean=mu + centre,
                              factors=factors, blups=blups, conditional_variance=conditional)


def group_statistics(y, groups, sample_weight=None):
    """Per-group sufficient statistics of rows: ``(levels, mass, mean, count, within_ss)``.

    ``levels`` are the sorted distinct group labels; ``within_ss`` is per group.
    """
    y = _as_float_array("y", y)
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.shape[0] != y.shape[0]:
        raise ValueError(f"groups must be one-dimensional with one label per row, got shape {groups.shape} "
                         f"for {y.shape[0]} rows.")
    if groups.dtype.kind == "f" and np.isnan(groups).any():
        raise ValueError("groups contains NaN: give missing group labels a level of their own.")
    if groups.dtype == object and any(g is None or (isinstance(g, float) and np.isnan(g)) for g in groups):
        raise ValueError("groups contains missing labels: give them a level of their own.")
    if sample_weight is None:
        w = np.ones_like(y)
    else:
        w = _as_float_array("sample_weight", sample_weight)
        if w.shape[0] != y.shape[0]:
            raise ValueError(f"sample_weight has {w.shape[0]} entries for {y.shape[0]} rows.")
        if np.any(w <= 0.0):
            raise ValueError("sample_weight must be positive.")
    levels, code = np.unique(groups, return_inverse=True)
    m = levels.shape[0]
    mass = np.bincount(code, weights=w, minlength=m)
    mean = np.bincount(code, weights=w * y, minlength=m) / mass
    count = np.bincount(code, minlength=m).astype(np.float64)
    resid = y - mean[code]
    within_ss = np.bincount(code, weights=w * resid * resid, minlength=m)
    return levels, mass, mean, count, within_ss


def fit_variance_components(y, groups, sample_weight=None, method: str = "reml") -> VarianceComponents:
    """Estimate the components of ``y = mu + b_group + e`` from rows (see :func:`estimate_variance_components`)."""
    levels, mass, mean, count, within_ss = group_statistics(y, groups, sample_weight)
    result = estimate_variance_components(mass, mean, count, within_ss, method=method)
    return VarianceComponents(method=result.method, tau2=result.tau2, sigma2=result.sigma2, mean=result.mean,
                              factors=result.factors, blups=result.blups,
                              conditional_variance=result.conditional_variance, levels=levels)


# --- moment estimators of the booster (node and level pooling) -------------------------------------------


@njit(cache=True)
def anova_between_variance(mass, mean, n_groups, total_mass, grand_mean, sigma2):
    """Method-of-moments ``tau^2`` of a one-way design with known ``sigma^2``, truncated at zero.

    ``B = sum_i W_i (ybar_i - ybar)^2`` over the first ``n_groups`` entries with ``W_i > 0`` has
    expectation ``(m - 1) sigma^2 + tau^2 (W - sum W_i^2 / W)`` (``W = total_mass``,
    ``ybar = grand_mean``, ``m`` the groups counted); ``0`` when ``m < 2``.
    """
    q = 0.0
    sum_h2 = 0.0
    m = 0
    for t in range(n_groups):
        h = mass[t]
        if h <= 0.0:
            continue
        d = mean[t] - grand_mean
        q += h * d * d
        sum_h2 += h * h
        m += 1
    denominator = total_mass - sum_h2 / total_mass
    if m < 2 or denominator <= 0.0:
        return 0.0
    tau2 = (q - (m - 1) * sigma2) / denominator
    return tau2 if tau2 > 0.0 else 0.0


@njit(cache=True)
def between_node_moments(left, right, weight, raw_value, sigma2, null_factor):
    """Method-of-moments estimate of tau^2, the spread of child values around their parent.

    For a split of ``p`` into ``L`` and ``R`` with information masses ``H``, the statistic
    ``D = H_L H_R / H_p * (raw_L - raw_R)^2`` has expectation ``sigma^2 + 2 tau^2 H_L H_R / H_p``
    for a split fixed in advance.  The split was instead chosen as the best of many candidates,
    which inflates the noise term to ``sigma^2 * null_factor`` (the expected best gain that
    noise alone gives for those candidates).  Summing over the splits of a tree pools the
    estimate so that it is stable even when each split is small.
    """
    numerator = 0.0
    denominator = 0.0
    for node in range(left.shape[0]):
        lo = left[node]
        if lo < 0:
            continue
        hi = right[node]
        h_left = weight[lo]
        h_right = weight[hi]
        if h_left <= 0.0 or h_right <= 0.0:
            continue
        information = h_left * h_right / (h_left + h_right)
        diff = raw_value[lo] - raw_value[hi]
        numerator += information * diff * diff - sigma2 * null_factor[node]
        denominator += 2.0 * information
    return numerator, denominator


@njit(cache=True)
def between_node_variance(left, right, weight, raw_value, sigma2, null_factor):
    """tau^2 from the moments of one tree, truncated at zero."""
    numerator, denominator = between_node_moments(left, right, weight, raw_value, sigma2, null_factor)
    if denominator <= 0.0 or numerator <= 0.0:
        return 0.0
    return numerator / denominator



@njit(cache=True)
def within_variance(sum_sq: float, mass: float, count: float, n_groups: int) -> float:
    """Pooled within-node variance per unit of information mass, with a degrees-of-freedom correction.

    ``sum_sq`` is the within-node sum of squares ``sum_i w_i (g~_i - h~_i m_node)^2`` added over the
    leaves, ``mass`` their total hessian mass and ``count`` their total (weighted) row count.  Compiled, so
    that the booster's compiled pooling of a tree (:func:`~shrinktree.boosting.pooling.honest_moment_pooling`)
    applies the same rule.
    """
    if mass <= 0.0:
        return 0.0
    dof = count / (count - n_groups) if count > n_groups + 1 else 1.0
    # Python's max(sum_sq, 0.0), written out: the first argument unless the second is larger (NaN and -0.0 kept).
    return (0.0 if 0.0 > sum_sq else sum_sq) / mass * dof


# --- between-group variance with sigma^2 known: the node and level pooling ----------------------------
#
# The booster knows sigma^2 (per unit of hessian mass) from the within-node (or within-level) residuals,
# thousands of degrees of freedom, so only tau^2 is estimated.  The groups come in independent one-way
# *designs*, each with a mean of its own: the levels present in a node are one design (mean: the node's
# value); the two children of every split of a tree are one design each (mean: the parent's value), and
# the designs of a tree share tau^2.  For group ``i`` of design ``d``, ``ybar_i ~ N(mu_d, tau^2 + sigma^2 /
# W_i)``; with ``lambda = tau^2 / sigma^2`` and ``a_i = W_i / (1 + lambda W_i)``, ``mu_d`` the GLS mean of its
# design and ``Q = sum_i a_i (ybar_i - mu_d)^2``, up to constants
#
#     ML:    -2 l(lambda) = sum_i log(1 + lambda W_i) + Q / sigma^2
#     REML:  -2 l(lambda) = ML + sum_d log sum_{i in d} a_i
#
# REML integrates each design's mean out: for a split it is the likelihood of the contrast ``raw_L - raw_R``
# alone, ``N(0, 2 tau^2 + sigma^2 / I)`` (``I = W_L W_R / (W_L + W_R)``), the statistic the moment estimator
# uses.  ML profiles the means instead and, with two groups per design, halves ``tau^2`` (the Neyman-Scott
# bias of one nuisance mean per pair).  ``"bayes"``: the posterior mean of ``tau^2 = lambda sigma^2`` under
# a flat prior on every ``mu_d`` and the uniform shrinkage prior on ``lambda`` (as above, ``W0`` the mean
# group mass), by the trapezoid rule on the grids of :func:`estimate_variance_components`.

ESTIMATOR_CODES = {"moments": 0, "ml": 1, "reml": 2, "bayes": 3}
VARIANCE_ESTIMATOR_CHOICES = ("auto",) + VARIANCE_ESTIMATORS
_KNOWN_LOW, _KNOWN_HIGH, _KNOWN_POINTS = -20.0, 25.0, 46
_KNOWN_ITERATIONS, _KNOWN_TOLERANCE = 100, 1e-10
_KNOWN_BAYES_COARSE, _KNOWN_BAYES_FINE, _KNOWN_BAYES_REFINEMENTS = 41, 81, 1


def resolve_variance_estimator(value, auto: str = "moments") -> str:
    """Validate a ``variance_estimator=`` value and resolve ``"auto"`` to ``auto``.

    Raises
    ------
    ValueError
        When ``value`` is not one of ``VARIANCE_ESTIMATOR_CHOICES``.
    """
    if not isinstance(value, str) or value not in VARIANCE_ESTIMATOR_CHOICES:
        raise ValueError(f"variance_estimator must be one of {VARIANCE_ESTIMATOR_CHOICES}, got {value!r}.")
    return auto if value == "auto" else value


@njit(cache=True)
def _design_deviance(lam, mass, mean, design, n_designs, sigma2, reml):
    """``(-2 l, d(-2 l)/d lambda)`` of the designs at ``lambda`` (ML or REML, ``sigma^2`` known)."""
    m = mass.shape[0]
    sum_a = np.zeros(n_designs)
    sum_ay = np.zeros(n_designs)
    sum_a2 = np.zeros(n_designs)
    logdet = 0.0
    trace = 0.0
    for i in range(m):
        a = mass[i] / (1.0 + lam * mass[i])
        d = design[i]
        sum_a[d] += a
        sum_ay[d] += a * mean[i]
        sum_a2[d] += a * a
        logdet += np.log1p(lam * mass[i])
        trace += a
    q = 0.0
    qa2 = 0.0
    for i in range(m):
        a = mass[i] / (1.0 + lam * mass[i])
        d = design[i]
        r = mean[i] - sum_ay[d] / sum_a[d]
        q += a * r * r
        qa2 += a * a * r * r
    deviance = logdet + q / sigma2
    slope = trace - qa2 / sigma2
    if reml:
        for d in range(n_designs):
            if sum_a[d] > 0.0:
                deviance += np.log(sum_a[d])
                slope -= sum_a2[d] / sum_a[d]
    return deviance, slope


@njit(cache=True)
def _slope_in_log(t, mass, mean, design, n_designs, sigma2, reml, scale):
    """d(-2 l)/d log(lambda W0) at ``t = log(lambda W0)``."""
    lam = np.exp(t) / scale
    _, slope = _design_deviance(lam, mass, mean, design, n_designs, sigma2, reml)
    return lam * slope


@njit(cache=True)
def _ratio_by_likelihood(mass, mean, design, n_designs, sigma2, reml, scale):
    """``lambda`` minimising the (restricted) deviance: a grid over ``log(lambda W0)`` brackets the minimum, then
    the Illinois variant of false position finds the root of the slope in the bracket."""
    step = (_KNOWN_HIGH - _KNOWN_LOW) / (_KNOWN_POINTS - 1)
    best = 0
    best_dev = np.inf
    for j in range(_KNOWN_POINTS):
        dev, _ = _design_deviance(np.exp(_KNOWN_LOW + j * step) / scale, mass, mean, design, n_designs, sigma2, reml)
        if dev < best_dev:
            best_dev = dev
            best = j
    if best == 0:
        return 0.0
    if best == _KNOWN_POINTS - 1:
        return np.exp(_KNOWN_HIGH) / scale
    lo = _KNOWN_LOW + (best - 1) * step
    hi = _KNOWN_LOW + (best + 1) * step
    f_lo = _slope_in_log(lo, mass, mean, design, n_designs, sigma2, reml, scale)
    f_hi = _slope_in_log(hi, mass, mean, design, n_designs, sigma2, reml, scale)
    if not (f_lo < 0.0 < f_hi):
        return np.exp(_KNOWN_LOW + best * step) / scale
    x = 0.5 * (lo + hi)
    side = 0
    for _ in range(_KNOWN_ITERATIONS):
        x = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        fx = _slope_in_log(x, mass, mean, design, n_designs, sigma2, reml, scale)
        if fx < 0.0:
            lo, f_lo = x, fx
            if side == -1:
                f_hi *= 0.5
            side = -1
        elif fx > 0.0:
            hi, f_hi = x, fx
            if side == 1:
                f_lo *= 0.5
            side = 1
        else:
            break
        if hi - lo < _KNOWN_TOLERANCE:
            break
    return np.exp(x) / scale


@njit(cache=True)
def _bayes_log_posterior(t, mass, mean, design, n_designs, sigma2, scale, log_post, log_lam):
    for j in range(t.shape[0]):
        lam = np.exp(t[j]) / scale
        # np.bool_: a literal True would compile a second specialization beside the one of reml's bool.
        dev, _ = _design_deviance(lam, mass, mean, design, n_designs, sigma2, np.bool_(True))
        # density of t = log(lambda W0) under the uniform shrinkage prior: x / (1 + x)^2, x = lambda W0
        log_post[j] = t[j] - 2.0 * np.log1p(np.exp(t[j])) - 0.5 * dev
        log_lam[j] = t[j] - np.log(scale)


@njit(cache=True)
def _ratio_posterior_mean(mass, mean, design, n_designs, sigma2, scale, coarse_points, fine_points, refinements):
    """Posterior mean of ``lambda`` (uniform shrinkage prior, flat priors on the design means): trapezoid sums on
    ``coarse_points`` over ``log(lambda W0)`` in ``[-30, 40]``, then ``refinements`` times on ``fine_points``
    over the region holding the mass of both integrands."""
    t = np.linspace(_COARSE_LOW, _COARSE_HIGH, coarse_points)
    log_post = np.empty(t.shape[0])
    log_lam = np.empty(t.shape[0])
    _bayes_log_posterior(t, mass, mean, design, n_designs, sigma2, scale, log_post, log_lam)
    for _ in range(refinements):
        top = np.max(log_post)
        top_lam = np.max(log_post + log_lam)
        first = -1
        last = -1
        for j in range(t.shape[0]):
            if log_post[j] > top - 40.0 or log_post[j] + log_lam[j] > top_lam - 40.0:
                if first < 0:
                    first = j
                last = j
        t = np.linspace(t[max(first - 1, 0)], t[min(last + 1, t.shape[0] - 1)], fine_points)
        log_post = np.empty(t.shape[0])
        log_lam = np.empty(t.shape[0])
        _bayes_log_posterior(t, mass, mean, design, n_designs, sigma2, scale, log_post, log_lam)
    top = np.max(log_post)
    norm = 0.0
    moment = 0.0
    for j in range(t.shape[0] - 1):
        width = 0.5 * (t[j + 1] - t[j])
        w0 = np.exp(log_post[j] - top)
        w1 = np.exp(log_post[j + 1] - top)
        norm += width * (w0 + w1)
        moment += width * (w0 * np.exp(log_lam[j]) + w1 * np.exp(log_lam[j + 1]))
    return moment / norm


@njit(cache=True)
def between_variance_known_sigma(mass, mean, design, n_designs, sigma2, method):
    """``tau^2`` of independent one-way designs sharing it, ``sigma^2`` known (see the section above).

    Parameters
    ----------
    mass, mean : ndarray of float64, shape (n_groups,)
        Group masses ``W_i > 0`` (per unit of ``sigma2``) and means.
    design : ndarray of int64, shape (n_groups,)
        The design of each group, ``0 .. n_designs - 1``; every design should hold two groups or more.
    sigma2 : float
        Noise variance per unit of mass.
    method : int
        ``ESTIMATOR_CODES`` of ``"ml"``, ``"reml"`` or ``"bayes"`` (``"moments"`` has its own kernels).

    Returns
    -------
    tau2 : float
        ``0`` when the groups do not differ beyond noise (ML/REML at the boundary), no group or no
        noise is given.
    """
    m = mass.shape[0]
    if m < 2 or n_designs < 1 or not sigma2 > 0.0:
        return 0.0
    scale = 0.0
    for i in range(m):
        scale += mass[i]
    scale /= m
    if not scale > 0.0:
        return 0.0
    if method == 3:
        return sigma2 * _ratio_posterior_mean(mass, mean, design, n_designs, sigma2, scale, _KNOWN_BAYES_COARSE,
                                              _KNOWN_BAYES_FINE, _KNOWN_BAYES_REFINEMENTS)
    return sigma2 * _ratio_by_likelihood(mass, mean, design, n_designs, sigma2, method == 2, scale)


@njit(cache=True)
def split_designs(left, right, weight, raw_value, null_factor):
    """The two children of every split as a design: ``(mass, mean, design, n_designs)``.

    A child's mass is its hessian mass divided by its split's null factor, so that the contrast of the
    two children has the noise variance ``sigma^2 * null_factor / I`` that :func:`between_node_moments`
    assumes; splits with a child of no mass, or a null factor of 0, are left out.
    """
    n_nodes = left.shape[0]
    mass = np.empty(n_nodes)
    mean = np.empty(n_nodes)
    design = np.empty(n_nodes, dtype=np.int64)
    m = 0
    n_designs = 0
    for node in range(n_nodes):
        lo = left[node]
        if lo < 0:
            continue
        hi = right[node]
        c = null_factor[node]
        if weight[lo] <= 0.0 or weight[hi] <= 0.0 or not c > 0.0:
            continue
        mass[m] = weight[lo] / c
        mean[m] = raw_value[lo]
        design[m] = n_designs
        mass[m + 1] = weight[hi] / c
        mean[m + 1] = raw_value[hi]
        design[m + 1] = n_designs
        m += 2
        n_designs += 1
    return mass[:m], mean[:m], design[:m], n_designs


@njit(cache=True)
def tree_between_variance(left, right, weight, raw_value, sigma2, null_factor, method):
    """``tau^2`` of one tree's splits by ``method`` (an ``ESTIMATOR_CODES`` value).

    ``0`` (moments) is :func:`between_node_variance`, bit for bit; the others fit the split designs of
    :func:`split_designs` with :func:`between_variance_known_sigma`.  Without noise (``sigma2 <= 0``, values
    that are exact) every method gives the moment estimate.
    """
    if method == 0 or not sigma2 > 0.0:
        return between_node_variance(left, right, weight, raw_value, sigma2, null_factor)
    mass, mean, design, n_designs = split_designs(left, right, weight, raw_value, null_factor)
    return between_variance_known_sigma(mass, mean, design, n_designs, sigma2, method)


@njit(cache=True)
def level_between_variance(level_mass, level_mean, n_levels, total_mass, grand_mean, sigma2, method):
    """``tau^2`` of the levels present in a node (one design) by ``method`` (an ``ESTIMATOR_CODES`` value).

    ``0`` (moments) is :func:`anova_between_variance`, bit for bit; levels without mass are left out.
    Without noise (``sigma2 <= 0``: the levels' values are exact, so ``k = 0``) every method gives the
    moment estimate.
    """
    if method == 0 or not sigma2 > 0.0:
        return anova_between_variance(level_mass, level_mean, n_levels, total_mass, grand_mean, sigma2)
    mass = np.empty(n_levels)
    mean = np.empty(n_levels)
    m = np.int64(0)  # not 0: a counter starting as a literal compiles a literal specialization of callees
    for t in range(n_levels):
        if level_mass[t] > 0.0:
            mass[m] = level_mass[t]
            mean[m] = level_mean[t]
            m += 1
    if m < 2:
        return 0.0
    return between_variance_known_sigma(mass[:m], mean[:m], np.zeros(m, dtype=np.int64), np.int64(1), sigma2,
                                        method)


def joint_tree_ratio(left, right, weight, raw_value, sigma2, null_factor, method: int) -> float:
    """``lambda = tau^2 / sigma^2`` shared by the outputs of one tree (ML, REML or Bayes).

    Output ``j`` has noise ``sigma2[j]`` and between-node variance ``lambda * sigma2[j]``: its split
    designs, each mean divided by ``sqrt(sigma2[j])``, are pooled with those of the other outputs at unit
    noise.  Outputs without noise are left out; ``0`` when none is left.
    """
    masses, means, designs = [], [], []
    offset = 0
    for j in range(raw_value.shape[1]):
        if not sigma2[j] > 0.0:
            continue
        mass, mean, design, n_designs = split_designs(left, right, weight,
                                                      np.ascontiguousarray(raw_value[:, j], dtype=np.float64),
                                                      null_factor)
        masses.append(mass)
        means.append(mean / np.sqrt(sigma2[j]))
        designs.append(design + offset)
        offset += n_designs
    if offset == 0:
        return 0.0
    return float(between_variance_known_sigma(np.concatenate(masses), np.concatenate(means),
                                              np.concatenate(designs), offset, 1.0, method))
