"""The shrinkage kernel: partial pooling of node values toward their parents.

For a child ``c`` of ``p`` the pooled value is

    value[c] = value[p] + f[c] * (raw[c] - raw[p])

with a pooling factor ``f`` in ``[0, 1]``.  The modes differ only in ``f``:

* ``"none"``: ``f = 1`` (the raw tree).
* ``"hs"``:   ``f = N(p) / (N(p) + lambda)``, Hierarchical Shrinkage (Agarwal et al. 2022),
  ``N`` the parent's (weighted) sample count.
* ``"eb"``:   ``f = n(c) / (n(c) + k)``, ``n`` the child's information mass (hessian sum) and
  ``k = sigma^2 / tau^2`` estimated from the data (empirical Bayes, method of moments; the
  estimators of ``sigma^2`` and ``tau^2`` live in :mod:`shrinktree.variance_components`).

The same functions serve the booster (pooling Newton values while it grows) and the
post-hoc wrapper (pooling fitted trees read from other libraries).
"""

from __future__ import annotations

import numpy as np

from . import _null_tables
from ._numba import njit
from .variance_components import (  # noqa: F401
    ESTIMATOR_CODES,
    between_node_moments,
    between_node_variance,
    tree_between_variance,
    within_variance,
)

SHRINKAGE_MODES = ("eb", "hs", "none")


@njit(cache=True)
def pool_values(parent, raw_value, factor, out):
    """Top-down pooling over topologically ordered nodes (``parent[i] < i``).

    ``raw_value`` and ``out`` have shape ``(n_nodes, n_outputs)``; ``factor`` has
    shape ``(n_nodes, 1)`` (one factor for all outputs) or ``(n_nodes, n_outputs)``.
    """
    n_nodes, n_outputs = raw_value.shape
    per_output = factor.shape[1] > 1
    for node in range(n_nodes):
        p = parent[node]
        for k in range(n_outputs):
            if p < 0:
                out[node, k] = raw_value[node, k]
            else:
                f = factor[node, k] if per_output else factor[node, 0]
                out[node, k] = out[p, k] + f * (raw_value[node, k] - raw_value[p, k])


@njit(cache=True)
def hs_factors(parent, count, strength):
    """Hierarchical Shrinkage factors ``N(parent) / (N(parent) + lambda)``."""
    n_nodes = parent.shape[0]
    factor = np.ones((n_nodes, 1))
    for node in range(1, n_nodes):
        n_parent = count[parent[node]]
        if n_parent + strength > 0.0:
            factor[node, 0] = n_parent / (n_parent + strength)
    return factor


@njit(cache=True)
def pooling_strength(sigma2, tau2):
    """``k = sigma^2 / tau^2`` of the empirical-Bayes factors; ``inf`` when ``tau^2 <= 0`` (pooled to the root)."""
    return np.inf if tau2 <= 0 else sigma2 / tau2


@njit(cache=True)
def eb_factors(parent, weight, sigma2, tau2):
    """Empirical-Bayes factors ``n / (n + k)`` with ``k = sigma^2 / tau^2`` and ``n`` = child mass."""
    n_nodes = parent.shape[0]
    factor = np.ones((n_nodes, 1))
    if sigma2 <= 0.0:
        return factor
    for node in range(1, n_nodes):
        n = weight[node]
        # tau2 == 0 means the splits explain nothing beyond selection noise: pool fully.
        factor[node, 0] = n * tau2 / (n * tau2 + sigma2) if n > 0.0 else 0.0
    return factor


def shrink_tree_values(tree, mode: str, strength: float | None = None, sigma2: float | None = None,
                       null_factor: np.ndarray | None = None, estimation_weight: np.ndarray | None = None,
                       estimation_raw: np.ndarray | None = None, split_sign: np.ndarray | None = None,
                       variance_estimator: str = "moments", memory=None) -> float:
    """Pool ``tree.raw_value`` into ``tree.value`` in place and set ``tree.pooling_factor``.

    Parameters
    ----------
    tree : TreeArrays
    mode : {"eb", "hs", "none"}
    strength : float
        ``lambda`` for ``"hs"``.
    sigma2 : float
        Within-node noise variance per unit of ``weight`` (``"eb"`` only).
    null_factor : ndarray
        Per internal node, the expected split statistic under noise in units of ``sigma2``
        (``"eb"`` only); ones when the splits were not selected from the same data.
    estimation_weight, estimation_raw : ndarray
        Node masses and raw values used to estimate ``tau^2`` (``"eb"`` only), when they come
        from other rows than the values (honest estimation on held-out rows).  Default: the
        tree's own ``weight`` and ``raw_value``.
    split_sign : ndarray of int8, optional
        Per node, the monotonic constraint of its split (``1`` increasing, ``-1`` decreasing, ``0``
        none or a leaf).  When given, the pooled tree keeps every such split ordered: see
        :func:`keep_monotone` (single-output trees only).
    variance_estimator : {"moments", "ml", "reml", "bayes"}, default="moments"
        How ``"eb"`` estimates ``tau^2`` from the splits
        (:func:`~shrinktree.variance_components.tree_between_variance`; ``sigma2`` is given).
    memory : MomentMemory, optional
        Measurement switch (``benchmarks/ablations.py``, candidates "tau memory"): single-output ``"eb"``
        with the moment estimator takes ``tau^2`` from the moment sums of this tree and the discounted sums
        of the trees before it (:class:`~shrinktree.boosting.pooling.MomentMemory`) instead of this tree's
        own.

    Returns
    -------
    k : float
        The pooling strength used (``lambda`` for ``"hs"``, ``sigma^2/tau^2`` for ``"eb"``,
        0 for ``"none"``; ``inf`` means pooled to the root).
    """
    n_nodes = tree.n_nodes
    if mode == "none":
        factor = np.ones((n_nodes, 1))
        k = 0.0
    elif mode == "hs":
        factor = hs_factors(tree.parent, tree.count, float(strength))
        k = float(strength)
    elif mode == "eb":
        if null_factor is None:
            null_factor = np.ones(n_nodes)
        est_weight = tree.weight if estimation_weight is None else estimation_weight
        est_raw = tree.raw_value if estimation_raw is None else estimation_raw.reshape(n_nodes, -1)
        n_outputs = tree.raw_value.shape[1]
        factor = np.empty((n_nodes, n_outputs))
        ks = []
        method = ESTIMATOR_CODES[variance_estimator]
        weights = np.ascontiguousarray(est_weight, dtype=np.float64)
        nulls = np.ascontiguousarray(null_factor, dtype=np.float64)
        for j in range(n_outputs):
            raw_j = np.ascontiguousarray(est_raw[:, j], dtype=np.float64)
            if memory is not None and method == 0 and n_outputs == 1 and float(sigma2) > 0.0:
                tau2 = memory.update(*between_node_moments(tree.left, tree.right, weights, raw_j, float(sigma2),
                                                           nulls))
            else:
                tau2 = tree_between_variance(tree.left, tree.right, weights, raw_j, float(sigma2), nulls, method)
            factor[:, j] = eb_factors(tree.parent, tree.weight, float(sigma2), tau2)[:, 0]
            ks.append(pooling_strength(float(sigma2), float(tau2)))
        k = float(np.mean(ks)) if n_outputs > 1 else ks[0]
    else:
        raise ValueError(f"shrinkage must be one of {SHRINKAGE_MODES}, got {mode!r}.")
    if split_sign is not None:
        keep_monotone(tree, split_sign, factor)
        return k
    out = np.empty_like(tree.raw_value)
    pool_values(tree.parent, tree.raw_value, factor, out)
    tree.value = out
    tree.pooling_factor = factor[:, 0].copy() if factor.shape[1] == 1 else factor.mean(axis=1)
    return k


# --- monotonic constraints --------------------------------------------------------------------
# A tree is monotone along a feature when every split on it is *separated*: every node below the
# child on the low side has a value no larger than every node below the child on the high side.
# docs/shrinkage.md, "Pooling keeps monotone constraints", shows why the pooled values of a tree
# whose raw values are separated are separated too, once the factors follow the two rules of
# :func:`monotone_factors`.


@njit(cache=True, inline="always")
def _clip(value, lower, upper):
    return lower if value < lower else (upper if value > upper else value)


@njit(cache=True)
def propagate_bounds(left, right, split_sign, value):
    """Clip ``value`` (one per node, in place) into bounds propagated from the root, as the grower does.

    Every node starts with the bounds of its parent; the two children of a constrained split are
    first clipped into them, and when they are in the wrong order both take the parent's (clipped)
    value (the rows do not support the split's direction).  Then the child on the low side gets
    the upper bound and the one on the high side the lower bound ``(value_L + value_R) / 2``.  The
    result is separated at every constrained split; values already within their bounds are kept.
    """
    n_nodes = left.shape[0]
    lower = np.full(n_nodes, -np.inf)
    upper = np.full(n_nodes, np.inf)
    for node in range(n_nodes):
        v = _clip(value[node], lower[node], upper[node])
        value[node] = v
        lo = left[node]
        if lo < 0:
            continue
        hi = right[node]
        sign = split_sign[node]
        if sign == 0:
            lower[lo], upper[lo] = lower[node], upper[node]
            lower[hi], upper[hi] = lower[node], upper[node]
            continue
        v_left = _clip(value[lo], lower[node], upper[node])
        v_right = _clip(value[hi], lower[node], upper[node])
        if sign * (v_right - v_left) < 0.0:
            v_left = v_right = v
        value[lo], value[hi] = v_left, v_right
        mid = 0.5 * (v_left + v_right)
        if sign > 0:
            lower[lo], upper[lo], lower[hi], upper[hi] = lower[node], mid, mid, upper[node]
        else:
            lower[lo], upper[lo], lower[hi], upper[hi] = mid, upper[node], lower[node], mid


@njit(cache=True)
def monotone_factors(parent, left, right, split_sign, factor):
    """Make the pooling factors (one per node, in place) keep constrained splits ordered.

    1. The two children of a constrained split share one factor, the larger of their two.
    2. Factors do not increase from a node to its children (empirical-Bayes and Hierarchical
       Shrinkage factors already do not, up to rounding, since a child holds part of its parent's
       rows; rule 1 keeps that).
    """
    n_nodes = parent.shape[0]
    for node in range(n_nodes):
        lo = left[node]
        if lo >= 0 and split_sign[node] != 0:
            hi = right[node]
            shared = max(factor[lo], factor[hi])
            factor[lo] = shared
            factor[hi] = shared
    for node in range(1, n_nodes):
        p = parent[node]
        if p > 0 and factor[node] > factor[p]:
            factor[node] = factor[p]


@njit(cache=True)
def separate(parent, left, right, split_sign, value):
    """Clip ``value`` (one per node, in place) so that every constrained split is separated.

    A split already separated keeps all its values (the cut is the extreme value of its low side),
    so this changes nothing on a separated tree: it only absorbs rounding, where exact arithmetic
    would give a separated tree (see :func:`keep_monotone`).  Where a split is not separated, the
    two sides are clipped at the midpoint of their overlap.
    """
    n_nodes = parent.shape[0]
    low = value.copy()  # extremes of every subtree, children before parents
    high = value.copy()
    for node in range(n_nodes - 1, 0, -1):
        p = parent[node]
        low[p] = min(low[p], low[node])
        high[p] = max(high[p], high[node])
    lower = np.full(n_nodes, -np.inf)
    upper = np.full(n_nodes, np.inf)
    for node in range(n_nodes):
        value[node] = _clip(value[node], lower[node], upper[node])
        lo = left[node]
        if lo < 0:
            continue
        hi = right[node]
        sign = split_sign[node]
        lower[lo], upper[lo] = lower[node], upper[node]
        lower[hi], upper[hi] = lower[node], upper[node]
        if sign == 0:
            continue
        small, large = (lo, hi) if sign > 0 else (hi, lo)
        cut = high[small] if high[small] <= low[large] else 0.5 * (high[small] + low[large])
        cut = _clip(cut, lower[node], upper[node])
        upper[small] = cut
        lower[large] = cut


def keep_monotone(tree, split_sign: np.ndarray, factor: np.ndarray) -> None:
    """Pool a single-output tree with ``factor`` so that every constrained split stays separated.

    The raw values are separated first (a no-op for the booster's raw values, already bounded by
    :func:`propagate_bounds`, and for a model's own pooled values read back by ``shrink``), the
    factors follow :func:`monotone_factors`, and the pooled values are separated once more, which
    only absorbs rounding.
    """
    if tree.raw_value.shape[1] != 1 or factor.shape[1] != 1:
        raise ValueError("Monotonic constraints apply to single-output trees only.")
    sign = np.ascontiguousarray(split_sign, dtype=np.int8)
    parent, left, right = tree.parent, tree.left, tree.right
    raw = np.ascontiguousarray(tree.raw_value[:, 0], dtype=np.float64).copy()
    separate(parent, left, right, sign, raw)
    edge = np.ascontiguousarray(factor[:, 0], dtype=np.float64).copy()
    monotone_factors(parent, left, right, sign, edge)
    tree.raw_value = raw.reshape(-1, 1)
    out = np.empty_like(tree.raw_value)
    pool_values(parent, tree.raw_value, edge.reshape(-1, 1), out)
    value = out[:, 0].copy()
    separate(parent, left, right, sign, value)
    tree.value = value.reshape(-1, 1)
    tree.pooling_factor = edge


# --- calibration of the split-selection bias -------------------------------------------------

_THRESHOLD_GRID = np.array([1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96,
                            128, 160, 192, 256, 384, 512, 1024])


def _expected_max_chi2(n_tests: np.ndarray) -> np.ndarray:
    """E[max of n iid chi^2_1] by numerical integration of the survival function."""
    from scipy.special import erf

    x = np.linspace(0.0, 80.0, 8001)
    cdf = erf(np.sqrt(x / 2.0))
    n_tests = np.atleast_1d(np.asarray(n_tests, dtype=np.float64))
    out = np.empty(len(n_tests))
    with np.errstate(divide="ignore"):
        log_cdf = np.log(cdf)
    for i, n in enumerate(n_tests):
        survival = -np.expm1(n * log_cdf)
        out[i] = np.trapezoid(survival, x)
    return out


# Replications simulated at a time by null_calibration_tables.
_NULL_BLOCK_ROWS = 250


def null_calibration_tables():
    """Tables that turn a split's candidate count into the gain noise alone would give.

    The tables of :func:`simulate_null_calibration_tables`, as shipped in :mod:`shrinktree._null_tables`
    (simulating them took a fifth of a second of every process's first fit).

    Returns
    -------
    m_grid, n_eff, n_grid, expected_max : ndarrays (read-only)
    """
    return _null_tables.M_GRID, _null_tables.N_EFF, _null_tables.N_GRID, _null_tables.EXPECTED_MAX


def simulate_null_calibration_tables():
    """Simulate the tables of :func:`null_calibration_tables`.

    A feature scanned at ``m`` thresholds behaves, under noise, like the squared
    standardized Brownian bridge at ``m`` points.  Its expected maximum is simulated
    once (fixed seed, so fits stay deterministic) and expressed as an *effective*
    number of independent chi^2_1 tests.  Effective counts add over features, and the
    expected maximum of that many tests is the null factor.

    Returns
    -------
    m_grid, n_eff, n_grid, expected_max : ndarrays
        ``n_eff[i]`` for ``m_grid[i]`` thresholds; ``expected_max[j]`` for ``n_grid[j]`` tests.
    """
    rng = np.random.default_rng(20221114)
    n_rep = 2000
    n_grid = np.unique(np.round(np.logspace(0, 6, 121)))
    expected_max = _expected_max_chi2(n_grid)
    n_eff = np.empty(len(_THRESHOLD_GRID))
    for i, m in enumerate(_THRESHOLD_GRID):
        t = np.arange(1, m + 1)
        frac = t / (m + 1.0)
        # Replications in blocks: the same draws and row maxima as one (n_rep, m + 1) matrix, without its
        # ~80 MB of temporaries at m = 1024 (the peak of a large fit's memory otherwise).
        row_max = np.empty(n_rep)
        for first in range(0, n_rep, _NULL_BLOCK_ROWS):
            cells = rng.standard_normal((min(_NULL_BLOCK_ROWS, n_rep - first), m + 1))
            partial = np.cumsum(cells, axis=1)[:, :-1]
            total = partial[:, -1:] + cells[:, -1:]
            z2 = (partial - frac * total) ** 2 / (t * (1.0 - frac))
            row_max[first:first + len(cells)] = z2.max(axis=1)
        mean_max = row_max.mean()
        n_eff[i] = np.interp(mean_max, expected_max, n_grid) if m > 1 else 1.0
    n_eff = np.maximum.accumulate(n_eff)
    return _THRESHOLD_GRID.astype(np.float64), n_eff, n_grid, expected_max


def effective_tests_table(max_candidates: int) -> np.ndarray:
    """``table[m]`` = effective number of independent tests of a feature with ``m`` thresholds."""
    m_grid, n_eff, _, _ = null_calibration_tables()
    m = np.arange(max_candidates + 1, dtype=np.float64)
    table = np.interp(np.log(np.maximum(m, 1.0)), np.log(m_grid), n_eff)
    table[0] = 0.0
    return table


def null_gain_factor(n_effective_tests: np.ndarray) -> np.ndarray:
    """Expected best split statistic under noise, in units of sigma^2."""
    _, _, n_grid, expected_max = null_calibration_tables()
    n = np.maximum(np.asarray(n_effective_tests, dtype=np.float64), 1.0)
    return np.interp(np.log(n), np.log(n_grid), expected_max)


# --- categorical splits ------------------------------------------------------------------------

_LEVEL_GRID = np.array([2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024])


def _sorted_scan_null_table():
    """The table of :func:`simulate_sorted_scan_null_table`, as shipped in :mod:`shrinktree._null_tables`."""
    return _null_tables.LEVEL_GRID, _null_tables.SORTED_SCAN_MAX


def simulate_sorted_scan_null_table():
    """E[best split statistic] of a categorical feature whose ``m`` levels are sorted by their means.

    Under noise the level means are independent; sorting them and scanning the ``m - 1`` prefixes
    picks the best of far more than ``m - 1`` partitions: the expected best statistic grows like
    ``2 m / pi`` (the split by sign) rather than like ``log m``.  Simulated once, fixed seed.
    """
    rng = np.random.default_rng(20261127)
    n_rep = 400
    out = np.empty(len(_LEVEL_GRID))
    for i, m in enumerate(_LEVEL_GRID):
        z = -np.sort(-rng.standard_normal((n_rep, m)), axis=1)
        total = z.sum(axis=1, keepdims=True)
        j = np.arange(1, m)
        prefix = np.cumsum(z, axis=1)[:, :-1]
        stat = (prefix - j / m * total) ** 2 / (j * (m - j) / m)
        out[i] = stat.max(axis=1).mean()
    return _LEVEL_GRID.astype(np.float64), out


def categorical_null_gain(levels_scanned: np.ndarray) -> np.ndarray:
    """Expected best split statistic under noise, in units of sigma^2, of a sorted scan over ``m`` levels.

    This is the categorical counterpart of :func:`null_gain_factor`: a feature whose ``m`` levels were
    sorted and scanned counts as the number of independent tests whose expected maximum equals this
    value (for ``m`` levels far more than ``m``).  Beyond the simulated grid it grows linearly in ``m``.
    ``m < 2`` gives 0 (nothing was scanned).
    """
    grid, table = _sorted_scan_null_table()
    m = np.asarray(levels_scanned, dtype=np.float64)
    inside = np.interp(np.log(np.maximum(m, 2.0)), np.log(grid), table)
    beyond = table[-1] * m / grid[-1]
    return np.where(m < 2, 0.0, np.where(m > grid[-1], beyond, inside))
