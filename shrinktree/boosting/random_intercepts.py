"""Random intercepts of one or more groupings given the fixed part: Gauss-Seidel over the groupings.

The model, on the raw (link) scale, is ``eta = f(x) + offset + sum_g b_g[group_g(row)]`` with
``b_g ~ N(0, tau_g^2)`` independently per grouping ``g``.  Given the fixed part ``f`` (the booster),
:meth:`RandomIntercepts.update` updates the groupings one at a time, each on the partial residuals
of the others (Gauss-Seidel, i.e. backfitting of the random part), with the one-way estimator of
:mod:`shrinktree.variance_components` (``"moments"``, ``"ml"``, ``"reml"`` or ``"bayes"``):

* **Gaussian** (squared error): the partial residual ``r = y - f - sum_{h != g} b_h`` of grouping ``g``
  gives ``tau_g^2``, ``sigma^2`` and the BLUPs ``b_g,i = W_i / (W_i + sigma^2 / tau_g^2) rbar_i`` (the
  fixed part's mean is taken as known: the booster's baseline carries the overall level).  At
  convergence the intercepts solve the joint mixed-model equations of all groupings at those
  variances.  The reported residual variance is ``RSS / (N - 1 - edf)`` over all groupings (``edf``
  the summed shrinkage factors), not the last one-way fit's, which counts the other groupings'
  BLUP errors as noise.
* **Binary and Poisson** (PQL, the GLM analogue): at the current linear predictor, the working
  response ``z = b_g + (y - mu) / v(mu)`` with working weights ``w v(mu)`` (``v = mu (1 - mu)`` for
  the logit link, ``mu`` for the log link) gives the ratio ``tau_g^2 / sigma^2`` from the one-way
  estimator; with the dispersion fixed at 1 that ratio is ``tau_g^2``.  The intercepts are then the
  conditional modes of the exact likelihood under ``N(0, tau_g^2)`` (Newton steps for all groups at
  once with ``np.bincount``), their conditional variances the inverse curvature at the mode.

Where this is approximate: each one-way fit treats the other groupings' intercepts as known, so the
uncertainty of the BLUPs of crossed groupings is not propagated into ``tau^2`` (the exact crossed
REML would add a trace term, as EM does); with a few rows per group of both groupings this biases
``tau^2`` down by a few percent, and the bias vanishes as the groups grow (tests/test_mixed_effects.py).
For nested groupings (``school`` and ``school:class``) Gauss-Seidel converges to the same fixed
point.  PQL is the usual first-order approximation of the GLMM likelihood: it underestimates
``tau^2`` for binary data with very few rows per group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..variance_components import VARIANCE_ESTIMATORS, estimate_variance_components

FAMILIES = ("gaussian", "binomial", "poisson")
NEWTON_STEPS = 25
MAX_NEWTON_STEP = 2.0  # on the link scale, so that a poor start cannot overshoot into overflow


def resolve_method(estimator) -> str:
    """The one-way estimator for random effects: ``variance_estimator`` ("auto" means REML)."""
    method = getattr(estimator, "variance_estimator", "auto")
    if method == "auto":
        return "reml"
    if method not in VARIANCE_ESTIMATORS:
        raise ValueError(f"variance_estimator must be 'auto' or one of {VARIANCE_ESTIMATORS}, got {method!r}.")
    return method


@dataclass
class Component:
    """The fitted random intercepts of one grouping."""

    tau2: float
    estimate: np.ndarray
    conditional_variance: np.ndarray


class _Rows:
    """The rows of one grouping that have a label, with the per-group constants."""

    def __init__(self, codes: np.ndarray, n_groups: int, weight: np.ndarray):
        self.n_groups = n_groups
        known = codes >= 0
        self.index = None if known.all() else np.flatnonzero(known)
        self.codes = codes if self.index is None else codes[self.index]
        self.weight = weight if self.index is None else weight[self.index]
        self.count = np.bincount(self.codes, minlength=n_groups).astype(np.float64)
        self.mass = np.bincount(self.codes, weights=self.weight, minlength=n_groups)
        self.full_codes = codes

    def take(self, values: np.ndarray) -> np.ndarray:
        return values if self.index is None else values[self.index]

    def spread(self, per_group: np.ndarray) -> np.ndarray:
        """Per row of all the rows: its group's value, 0 for a row without a label."""
        if self.index is None:
            return per_group[self.full_codes]
        out = np.zeros(self.full_codes.shape[0])
        out[self.index] = per_group[self.codes]
        return out


class RandomIntercepts:
    """The intercepts of several groupings of the same rows, updated given the fixed part.

    Parameters
    ----------
    family : {"gaussian", "binomial", "poisson"}
    method : {"moments", "ml", "reml", "bayes"}
    names : list of str
    codes : list of ndarray of shape (n_rows,)
        Each row's group per grouping (-1: no label, population level).
    n_groups : list of int
    y, weight : ndarray of shape (n_rows,)
        Target (0/1 for binomial) and the fit's row weights.
    """

    def __init__(self, family: str, method: str, names, codes, n_groups, y, weight):
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {family!r}.")
        if method not in VARIANCE_ESTIMATORS:
            raise ValueError(f"method must be one of {VARIANCE_ESTIMATORS}, got {method!r}.")
        self.family, self.method, self.names = family, method, list(names)
        self.y = np.asarray(y, dtype=np.float64)
        self.weight = np.asarray(weight, dtype=np.float64)
        self.rows = [_Rows(np.asarray(c, dtype=np.int64), int(m), self.weight) for c, m in zip(codes, n_groups)]
        self.components = [Component(0.0, np.zeros(r.n_groups), np.zeros(r.n_groups)) for r in self.rows]
        self.sigma2 = 1.0
        self.total = np.zeros(self.y.shape[0])  # sum of every grouping's intercept, per row
        self.scale = float(np.sqrt(np.average((self.y - np.average(self.y, weights=self.weight)) ** 2,
                                              weights=self.weight))) or 1.0
        if family != "gaussian":
            self.scale = 1.0

    # -- one grouping ---------------------------------------------------------------------------
    def _variance(self, g: int, response: np.ndarray, mass: np.ndarray, weight: np.ndarray):
        rows = self.rows[g]
        mean = np.bincount(rows.codes, weights=weight * response, minlength=rows.n_groups) / mass
        deviation = response - mean[rows.codes]
        within_ss = float(np.dot(weight * deviation, deviation))
        try:
            fit = estimate_variance_components(mass, mean, rows.count, within_ss, method=self._method)
        except ValueError as exc:
            raise ValueError(f"The random-effects grouping {self.names[g]!r}: {exc}") from exc
        return fit, mean

    def _gaussian(self, g: int, partial: np.ndarray) -> Component:
        rows = self.rows[g]
        fit, mean = self._variance(g, rows.take(partial), rows.mass, rows.weight)
        self.sigma2 = fit.sigma2
        if fit.tau2 <= 0.0:
            return Component(0.0, np.zeros(rows.n_groups), np.zeros(rows.n_groups))
        shrink = rows.mass / (rows.mass + fit.sigma2 / fit.tau2)
        return Component(fit.tau2, shrink * mean, fit.sigma2 / (rows.mass + fit.sigma2 / fit.tau2))

    def _mean_and_variance(self, eta: np.ndarray):
        if self.family == "binomial":
            mu = 0.5 * (1.0 + np.tanh(0.5 * eta))  # the logistic function, without overflow
            return mu, np.maximum(mu * (1.0 - mu), 1e-12)
        mu = np.exp(np.minimum(eta, 700.0))
        return mu, np.maximum(mu, 1e-12)

    def _glm(self, g: int, other: np.ndarray) -> Component:
        rows = self.rows[g]
        y, w, eta_other = rows.take(self.y), rows.weight, rows.take(other)
        b = self.components[g].estimate.copy()
        mu, v = self._mean_and_variance(eta_other + b[rows.codes])
        working_weight = w * v
        mass = np.bincount(rows.codes, weights=working_weight, minlength=rows.n_groups)
        fit, _ = self._variance(g, b[rows.codes] + (y - mu) / v, mass, working_weight)
        tau2 = fit.tau2 / fit.sigma2  # the dispersion of binomial and Poisson data is 1
        if tau2 <= 0.0:
            return Component(0.0, np.zeros(rows.n_groups), np.zeros(rows.n_groups))
        for _ in range(NEWTON_STEPS):
            mu, v = self._mean_and_variance(eta_other + b[rows.codes])
            gradient = np.bincount(rows.codes, weights=w * (y - mu), minlength=rows.n_groups) - b / tau2
            curvature = np.bincount(rows.codes, weights=w * v, minlength=rows.n_groups) + 1.0 / tau2
            step = np.clip(gradient / curvature, -MAX_NEWTON_STEP, MAX_NEWTON_STEP)
            b += step
            if float(np.max(np.abs(step))) < 1e-10:
                break
        mu, v = self._mean_and_variance(eta_other + b[rows.codes])
        curvature = np.bincount(rows.codes, weights=w * v, minlength=rows.n_groups) + 1.0 / tau2
        return Component(tau2, b, 1.0 / curvature)

    # -- all groupings ----------------------------------------------------------------------------
    def update(self, fixed: np.ndarray, max_sweeps: int, tolerance: float = 1e-4, method: str | None = None) -> int:
        """Gauss-Seidel sweeps over the groupings given the fixed part (raw scale, offset included).

        Stops when a sweep moves the rows' intercepts by less than ``tolerance`` (root mean square,
        in units of ``sd(y)`` for Gaussian data, of the link for the others) or after ``max_sweeps``.
        ``method`` overrides the estimator's ``method`` for this update.  Returns the sweeps run.
        """
        self._method = self.method if method is None else method
        for sweep in range(1, max_sweeps + 1):
            moved = 0.0
            for g, rows in enumerate(self.rows):
                own = rows.spread(self.components[g].estimate)
                other = fixed + self.total - own
                if self.family == "gaussian":
                    component = self._gaussian(g, self.y - other)
                else:
                    component = self._glm(g, other)
                new = rows.spread(component.estimate)
                self.total += new - own
                self.components[g] = component
                change = new - own
                moved = max(moved, float(np.sqrt(np.average(change * change, weights=self.weight))))
            self.sweeps = sweep
            if moved <= tolerance * self.scale:
                break
        self.converged = moved <= tolerance * self.scale
        if self.family == "gaussian":
            self.sigma2 = self._residual_variance(fixed)
        return self.sweeps

    def _residual_variance(self, fixed: np.ndarray) -> float:
        """``sigma^2 = RSS / (N - 1 - edf)``, ``edf`` the summed shrinkage factors of every grouping.

        The one-way fit of the last grouping sees the other groupings' BLUP errors as noise; the
        residuals of all of them with the degrees of freedom the intercepts used do not.
        """
        residual = self.y - fixed - self.total
        rss = float(np.dot(self.weight * residual, residual))
        edf = sum(float(np.sum(1.0 - c.conditional_variance / c.tau2)) for c in self.components if c.tau2 > 0.0)
        dof = self.y.shape[0] - 1.0 - edf
        return rss / dof if dof > 0 else self.sigma2
