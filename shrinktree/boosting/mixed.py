"""Mixed-effects boosting (``random_effects=``): a boosted fixed part plus random intercepts.

The model, on the raw (link) scale, for a row in group ``i`` of grouping ``g``:

    eta = f(x) + offset + sum_g b_g,i,    b_g,i ~ N(0, tau_g^2),

with squared error (Gaussian, ``y ~ N(eta, sigma^2 / w)``), Poisson (``loss="poisson"``, log link)
or binary classification (logit link).  ``f`` is the boosted, pooled ensemble on the columns that
are not grouping columns.

Algorithm (one boosting run, as GPBoost does): the booster's offset is the current sum of the
intercepts.  The trees first fit alone for :func:`warm_up_iterations` iterations (29 at the default
learning rate), so that features constant within a group go to the fixed part; then before that
iteration and every ``UPDATE_EVERY``-th one after it the intercepts are updated given the fixed
part so far (``RandomIntercepts.update``, at most ``IN_RUN_SWEEPS`` Gauss-Seidel sweeps over the
groupings, warm-started from the previous update, variances by the closed-form moment estimator
``IN_RUN_METHOD``), and the training rows' raw scores move by the change.  After the last tree, a
final update runs the sweeps to convergence (``TOLERANCE``, at most ``MAX_SWEEPS``) on the finished
fixed part, and those are the reported intercepts and variance components.  A fit therefore costs one booster fit plus
``n_estimators / UPDATE_EVERY`` cheap updates (each a few ``np.bincount`` passes over the rows per
grouping), and memory grows with the groups, not groups x rows.  ``benchmarks/mixed.py`` measures
the time and the accuracy of this against refitting the whole booster in rounds (the backfitting
of MERF): the private switch ``_mixed_refits`` runs that many boosting runs in a row, each warm
started from the previous intercepts; three runs were no more accurate than one, and the update
periods 5 and 20 equally accurate (the default 10 lies between; ``docs/mixed_effects.md``, "Iterations").
The final update converges in a few Gauss-Seidel sweeps (its count is kept as ``final_sweeps``).

Identifiability: the grouping columns are never given to the trees, so the trees cannot explain
the group means by the group labels; the intercepts take what the groups share beyond the
features, pooled toward zero by their variance components.  Early stopping is off with random
effects (its validation rows would need intercepts that move during the fit).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from .._integrity import ModelIntegrityError
from .._threads import threads
from . import random_effects as _re
from .categorical import check_columns
from .random_intercepts import FAMILIES, RandomIntercepts, resolve_method
from .validation import check_offset

UPDATE_EVERY = 10
# The trees alone fit the first iterations, until a constant effect would be left at this share
# ((1 - learning_rate)^t <= WARM_UP_REMAINDER); only then do the intercepts start (see warm_up_iterations).
WARM_UP_REMAINDER = 0.05
IN_RUN_SWEEPS = 2
IN_RUN_METHOD = "moments"  # closed form, one pass: the final update uses the chosen variance_estimator
MAX_SWEEPS = 100
TOLERANCE = 1e-4


def warm_up_iterations(learning_rate: float, n_estimators: int) -> int:
    """Iterations the trees fit alone before the first intercept update.

    Updating the intercepts before any tree lets them take every group mean, including what
    features constant within a group explain (a class's grade, a school's sector); the trees then
    only see the within-group residuals and learn those features at the rate ``1 - f`` (``f`` the
    groups' pooling factor), so for large groups hardly at all, and the variance components absorb
    the fixed effects.  The intercepts start once boosting would have left ``WARM_UP_REMAINDER`` of a
    constant effect unexplained, ``ceil(log(0.05) / log(1 - learning_rate))`` iterations (29 at the
    default 0.1), at most half of ``n_estimators``.
    """
    if learning_rate >= 1.0:
        return min(1, n_estimators // 2)
    needed = int(np.ceil(np.log(WARM_UP_REMAINDER) / np.log1p(-learning_rate)))
    return max(0, min(needed, n_estimators // 2))


class _InRunUpdates:
    """The ``_boost`` hook: every ``every`` iterations, new intercepts and the shift of the raw scores."""

    def __init__(self, make_updater, updater, every: int, first: int = 0):
        self.make_updater, self.updater, self.every, self.first = make_updater, updater, every, first
        self.n_updates = 0

    def __call__(self, iteration, y: np.ndarray, raw: np.ndarray, weight: np.ndarray, exponent: int):
        """Before iteration ``iteration``: the shift of the rows' raw scores (or ``None``); after the last
        iteration (``iteration=None``): keep the finished fixed part of the training rows."""
        if iteration is None:
            if self.updater is None:  # the run stopped before the warm-up ended: intercepts start at zero
                self.updater = self.make_updater(np.ldexp(y, exponent), weight)
            self.fixed = np.ldexp(raw, exponent) - self.updater.total
            return None
        if iteration < self.first or (iteration - self.first) % self.every:
            return None
        y0, raw0 = np.ldexp(y, exponent), np.ldexp(raw, exponent)
        if self.updater is None:
            self.updater = self.make_updater(y0, weight)
        before = self.updater.total.copy()
        self.updater.update(raw0 - before, IN_RUN_SWEEPS, TOLERANCE, IN_RUN_METHOD)
        self.n_updates += 1
        return np.ldexp(self.updater.total - before, -exponent)


class MixedEffectsMixin:
    """Random intercepts for :class:`ShrinkBoostRegressor` and :class:`ShrinkBoostClassifier`."""

    def _random_effects_family(self) -> str:
        if self._is_classifier:
            return "binomial"
        families = {"squared_error": "gaussian", "poisson": "poisson"}
        if not isinstance(self.loss, str) or self.loss not in families:
            raise ValueError(f"random_effects needs loss='squared_error' or loss='poisson', got loss={self.loss!r}.")
        return families[self.loss]

    def _fit_mixed(self, X, y, sample_weight, offset, eval_set, eval_sample_weight, callbacks, eval_metric,
                   spec=None):
        """Boosting with in-run intercept updates, then a final update (see the module docstring).

        ``spec``: the groupings (default ``random_effects``; the measurement switch ``_auto_random_effects``
        passes the ones it chose)."""
        family = self._random_effects_family()
        method = resolve_method(self)
        for what, value in (("eval_set", eval_set), ("eval_sample_weight", eval_sample_weight),
                            ("callbacks", callbacks), ("eval_metric", eval_metric)):
            if value is not None:
                raise ValueError(f"{what} cannot be combined with random_effects.")
        if self.early_stopping is True:
            raise ValueError("early_stopping=True cannot be combined with random_effects (the intercepts move "
                             "during the fit); set n_estimators instead.")
        selection = self.categorical_features
        if not (selection is None or isinstance(selection, str)
                or all(isinstance(c, str) for c in np.atleast_1d(np.asarray(selection, dtype=object)))):
            raise ValueError("With random_effects, give categorical_features by column name (indices and masks "
                             "would refer to the columns left after the grouping columns are removed).")
        self._validate_hyperparameters()
        check_columns(X)
        spec = _re.normalise_spec(self.random_effects if spec is None else spec)
        rest, label_arrays, names = _re.split_columns(X, spec)
        n_rows = len(label_arrays[0][0])
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != n_rows:
            raise ValueError(f"y must be one-dimensional with one value per row of X ({n_rows}), got shape {y.shape}.")
        if self._is_classifier:
            classes = pd.unique(pd.Series(y, dtype=object).dropna())
            if len(classes) > 2:
                raise ValueError(f"random_effects supports binary classification only; y has {len(classes)} "
                                 "classes.")
        else:
            try:
                y = np.asarray(y, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"y must be numbers ({exc}).") from exc
        offset = check_offset(offset, n_rows, "fit")
        weight = None
        if sample_weight is not None:
            weight = np.asarray(sample_weight, dtype=np.float64)
            if weight.shape != (n_rows,) or not np.all(np.isfinite(weight)) or np.any(weight < 0):
                raise ValueError("sample_weight must hold one finite, non-negative weight per row.")
            keep = weight > 0
            if not np.all(keep):
                index = np.flatnonzero(keep)
                rest = rest.iloc[index] if isinstance(rest, pd.DataFrame) else rest[index]
                label_arrays = [[labels[index] for labels in group] for group in label_arrays]
                y, weight = y[index], weight[index]
                offset = None if offset is None else offset[index]
        columns = [list(e) if isinstance(e, tuple) else [e] for e in spec]
        groupings = [_re.encode_grouping(name, cols, labels) for name, cols, labels in zip(names, columns,
                                                                                               label_arrays)]
        _re.check_distinct(groupings)

        def make_updater(y_encoded, fit_weight):
            return RandomIntercepts(family, method, names, [g.codes for g in groupings],
                                    [g.n_groups for g in groupings], y_encoded, fit_weight)

        updater = None
        rounds = max(1, int(getattr(self, "_mixed_refits", 1)))
        n_updates = 0
        for _ in range(rounds):
            first = warm_up_iterations(self.learning_rate, self.n_estimators) if updater is None else 0
            # Private measurement switch (benchmarks/ablations.py, "no warm-up"): intercepts from the first tree.
            first = 0 if getattr(self, "_random_effects_warm_up", True) is False else first
            hook = _InRunUpdates(make_updater, updater, UPDATE_EVERY, first)
            total = np.zeros(len(y)) if updater is None else updater.total
            start = (None if updater is None else total) if offset is None else total + offset
            self._offset_update = hook
            try:
                self._fit(rest, y, weight, start, None, None, None, None)
            finally:
                del self._offset_update
            updater = hook.updater
            updater.update(hook.fixed, MAX_SWEEPS, TOLERANCE)  # the fixed part includes the offset
            n_updates += hook.n_updates + 1
        self._random_effects_fit = {
            "spec": spec, "family": family, "method": method, "has_offset": offset is not None,
            "sigma2": float(updater.sigma2) if family == "gaussian" else 1.0,
            "n_updates": n_updates, "converged": bool(updater.converged), "final_sweeps": int(updater.sweeps),
            "groupings": [{"name": g.name, "levels": list(g.levels), "combos": g.combos,
                           "estimate": np.asarray(c.estimate, dtype=np.float64),
                           "conditional_variance": np.asarray(c.conditional_variance, dtype=np.float64),
                           "rows": np.bincount(g.codes[g.codes >= 0], minlength=g.n_groups).astype(np.float64),
                           "tau2": float(c.tau2)} for g, c in zip(groupings, updater.components)],
        }
        return self

    # -- prediction -----------------------------------------------------------------------------
    def _raw_predict(self, X, offset=None, include_random_effects=True):
        fitted = getattr(self, "_random_effects_fit", None)
        if fitted is None:
            return super()._raw_predict(X, offset)
        check_is_fitted(self, "_trees")
        rest, label_arrays, _ = _re.split_columns(X, fitted["spec"])
        features = self._encode_features(rest, keep_float32=True)
        offset = check_offset(offset, features.shape[0], "predict")
        if fitted["has_offset"] and offset is None:
            raise ValueError("The model was fitted with an offset: pass the rows' offsets to predict.")
        with threads(self.n_jobs, features.shape[0]):
            raw = self._baseline + self._forest.predict_sum(features, self._tree_output, len(self._baseline))
        if offset is not None:
            raw = raw + offset[:, None]
        if include_random_effects:
            for grouping, labels in zip(fitted["groupings"], label_arrays):
                codes = _re.row_codes(grouping["levels"], grouping["combos"], labels)
                raw[:, 0] += _re.lookup(grouping["estimate"], codes)
        return raw

    def _validate_predict_input(self, X, keep_float32=False):
        fitted = getattr(self, "_random_effects_fit", None)
        if fitted is not None:
            check_is_fitted(self, "_trees")
            X = _re.split_columns(X, fitted["spec"])[0]
        return super()._validate_predict_input(X, keep_float32)

    # -- saving and restoring -------------------------------------------------------------------
    def _prediction_state(self) -> list:
        state = super()._prediction_state()
        fitted = getattr(self, "_random_effects_fit", None)
        if fitted is not None:
            groupings = [[g[key] for key in sorted(g)] for g in fitted["groupings"]]
            state.append([[fitted[key] for key in sorted(fitted) if key != "groupings"], groupings])
        return state

    def _restore_prediction_state(self, expected_digest) -> None:
        super()._restore_prediction_state(expected_digest)
        fitted = self.__dict__.get("_random_effects_fit")
        if fitted is not None:
            check_fitted_random_effects(fitted)

    # -- reporting ------------------------------------------------------------------------------
    def _fitted_random_effects(self) -> dict:
        check_is_fitted(self, "_trees")
        fitted = getattr(self, "_random_effects_fit", None)
        if fitted is None:
            raise AttributeError("The model was fitted without random_effects.")
        return fitted

    @property
    def variance_components_(self) -> pd.DataFrame:
        """With ``random_effects``: per grouping the variance, standard deviation and intraclass correlation.

        Squared error adds the ``"Residual"`` row; the ICC of a grouping is its share of the total
        variance (for binary data on the latent logistic scale, residual ``pi^2 / 3``; not defined for
        Poisson, NaN).
        """
        fitted = self._fitted_random_effects()
        names = [g["name"] for g in fitted["groupings"]]
        tau2 = np.array([g["tau2"] for g in fitted["groupings"]])
        family = fitted["family"]
        residual = {"gaussian": fitted["sigma2"], "binomial": np.pi**2 / 3}.get(family, np.nan)
        icc = tau2 / (tau2.sum() + residual)
        variance, index = list(tau2), names
        if family == "gaussian":
            variance, index, icc = variance + [residual], names + ["Residual"], list(icc) + [np.nan]
        variance = np.asarray(variance, dtype=np.float64)
        return pd.DataFrame({"variance": variance, "std": np.sqrt(variance), "icc": icc},
                            index=pd.Index(index, name="grouping"))

    @property
    def random_effects_(self) -> dict:
        """With ``random_effects``: ``{grouping: DataFrame}`` of each level's intercept (its BLUP or conditional
        mode, on the raw scale), conditional standard deviation and number of training rows; the level of a
        combined grouping is a tuple."""
        fitted = self._fitted_random_effects()
        out = {}
        for g in fitted["groupings"]:
            values = [levels[g["combos"][:, c]] for c, levels in enumerate(g["levels"])]
            level = values[0] if len(values) == 1 else pd.Series(list(zip(*values)), dtype=object).to_numpy()
            out[g["name"]] = pd.DataFrame({"level": level, "estimate": g["estimate"],
                                           "conditional_sd": np.sqrt(g["conditional_variance"]),
                                           "rows": g["rows"].astype(np.int64)})
        return out

    @property
    def n_mixed_iter_(self) -> int:
        """With ``random_effects``: intercept updates that ran (during boosting and the final one)."""
        return self._fitted_random_effects()["n_updates"]


def check_fitted_random_effects(fitted) -> None:
    """Structure of a restored random-effects state; :class:`ModelIntegrityError` when it does not hold."""
    if not isinstance(fitted, dict):
        raise ModelIntegrityError("The random-effects state is not a dict.")
    expected = {"spec", "family", "method", "has_offset", "sigma2", "n_updates", "converged", "final_sweeps",
                "groupings"}
    if set(fitted) != expected:
        raise ModelIntegrityError(f"The random-effects state has the keys {sorted(fitted)}, not {sorted(expected)}.")
    if fitted["family"] not in FAMILIES:
        raise ModelIntegrityError(f"Unknown random-effects family {fitted['family']!r}.")
    try:
        spec = _re.normalise_spec(fitted["spec"])
    except ValueError as exc:
        raise ModelIntegrityError(f"The random-effects columns are invalid: {exc}") from exc
    groupings = fitted["groupings"]
    if not isinstance(groupings, list) or len(groupings) != len(spec):
        raise ModelIntegrityError("There must be one fitted grouping per random_effects entry.")
    for entry, g in zip(spec, groupings):
        n_columns = len(entry) if isinstance(entry, tuple) else 1
        if not isinstance(g, dict) or set(g) != {"name", "levels", "combos", "estimate", "conditional_variance",
                                                   "rows", "tau2"}:
            raise ModelIntegrityError("A fitted grouping has the wrong fields.")
        combos = g["combos"]
        if (not isinstance(combos, np.ndarray) or combos.dtype.kind not in "iu" or combos.ndim != 2
                or combos.shape[1] != n_columns or not isinstance(g["levels"], list) or len(g["levels"]) != n_columns):
            raise ModelIntegrityError(f"The groups of {g['name']!r} are malformed.")
        m = combos.shape[0]
        for c, levels in enumerate(g["levels"]):
            if not isinstance(levels, np.ndarray) or levels.ndim != 1 or (
                    m and (combos[:, c].min() < 0 or combos[:, c].max() >= len(levels))):
                raise ModelIntegrityError(f"The levels of {g['name']!r} are malformed.")
        for key in ("estimate", "conditional_variance", "rows"):
            value = g[key]
            if not (isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.shape == (m,)
                    and np.all(np.isfinite(value))):
                raise ModelIntegrityError(f"{key} of {g['name']!r} must be {m} finite floats.")
        if np.any(g["conditional_variance"] < 0) or np.any(g["rows"] < 0):
            raise ModelIntegrityError(f"Negative variances or row counts in {g['name']!r}.")
        if not (isinstance(g["tau2"], float) and np.isfinite(g["tau2"]) and g["tau2"] >= 0):
            raise ModelIntegrityError(f"The variance of {g['name']!r} must be a finite non-negative float.")
