"""The loss layer: every fact about a loss that boosting, pooling and prediction need.

A loss gives the weighted gradients and hessians of each row with respect to the raw score (the
sum of the trees plus the baseline and any offset), the baseline (the best constant raw score),
the link between raw score and prediction, the per-row loss used for reporting and early stopping,
and three facts the booster acts on:

``constant_hessian``
    Every unweighted hessian is 1 (histograms can count rows instead of summing hessians).
``scale_equivariant``
    Fitting ``y / c`` gives the model of ``y`` scaled by ``1 / c``, so the booster may fit a rescaled
    target to keep every sum of squares inside float64's range; the reported loss then scales with
    ``c ** loss_degree`` and the split gains with ``c ** gain_degree``.
``renews_leaves``
    The Newton step of the (surrogate) hessian is not the right leaf value: leaf values are
    recomputed from the rows (a weighted quantile of the residuals) and pooled with the factors
    that the surrogate's statistics give (see docs/shrinkage.md, "Pooling under every loss").

Nobody else knows loss facts: adding a loss is one class here plus one entry in ``REGRESSION_LOSSES``.
"""

from __future__ import annotations

import copy
import numbers
from abc import ABC, abstractmethod

import numpy as np
from scipy.special import expit, logsumexp, softmax, xlogy

from . import _loss_kernels as kernels


# -- links --------------------------------------------------------------------------------------
class IdentityLink:
    """Raw score = prediction."""

    name = "identity"

    @staticmethod
    def inverse(raw: np.ndarray) -> np.ndarray:
        return raw

    @staticmethod
    def __call__(prediction: np.ndarray) -> np.ndarray:
        return prediction


class LogLink:
    """Raw score = log(mean): predictions are positive and offsets multiply them (exposures)."""

    name = "log"

    @staticmethod
    def inverse(raw: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.exp(raw)

    @staticmethod
    def __call__(prediction: np.ndarray) -> np.ndarray:
        return np.log(prediction)


class LogitLink:
    """Raw score = log-odds of the positive class; the inverse gives both classes' probabilities."""

    name = "logit"

    @staticmethod
    def inverse(raw: np.ndarray) -> np.ndarray:
        p = expit(raw[:, 0])
        return np.column_stack([1 - p, p])


class SoftmaxLink:
    """Raw scores = per-class logits (identified up to a constant)."""

    name = "softmax"

    @staticmethod
    def inverse(raw: np.ndarray) -> np.ndarray:
        return softmax(raw, axis=1)


#: Every link by its ``name`` (what a saved post-hoc model stores instead of the object).
LINKS = {link.name: link for link in (IdentityLink(), LogLink(), LogitLink(), SoftmaxLink())}


# -- the base class -------------------------------------------------------------------------------
def weighted_quantile(values: np.ndarray, weights: np.ndarray, quantile: float) -> float:
    """The lower weighted ``quantile`` of ``values`` (the smallest value whose weight share reaches it)."""
    if len(values) == 0:
        return 0.0
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, quantile * cumulative[-1], side="left"))
    return float(values[order][min(index, len(values) - 1)])


class Loss(ABC):
    """One loss: see the module docstring for what each attribute means."""

    name = "loss"
    link = IdentityLink()
    n_trees_per_iteration = 1
    constant_hessian = False
    scale_equivariant = False
    loss_degree = 2
    gain_degree = 2
    renews_leaves = False

    def check_target(self, y: np.ndarray) -> None:  # noqa: B027 (most losses accept every target)
        """Raise ``ValueError`` for targets outside the loss's domain."""

    @abstractmethod
    def baseline(self, y: np.ndarray, weight: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
        """Best constant raw score, shape ``(n_trees_per_iteration,)`` (given the offsets, if any)."""

    @abstractmethod
    def gradients(self, y, raw, weight, gradients, hessians) -> None:
        """Fill ``gradients``/``hessians`` (shape ``(n_trees_per_iteration, n)``) at ``raw`` (shape ``(n, K)``)."""

    @abstractmethod
    def pointwise_loss(self, y: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Loss of each row (0 for a perfect prediction where the loss allows it)."""

    def loss(self, y: np.ndarray, raw: np.ndarray, weight: np.ndarray) -> float:
        """Weighted mean loss: what ``train_score_`` and early stopping report (negated)."""
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.average(self.pointwise_loss(y, raw), weights=weight))

    def rescaled(self, exponent: int) -> Loss:
        """The loss for the target ``y / 2**exponent`` (only scale-equivariant losses are rescaled)."""
        return self

    def start_iteration(self, y: np.ndarray, raw: np.ndarray, weight: np.ndarray) -> None:  # noqa: B027
        """Hook called before each iteration's gradients (the adaptive Huber threshold uses it)."""

    def renew_value(self, residuals: np.ndarray, weights: np.ndarray) -> float:
        """A node's value from the residuals ``y - raw`` of its rows (only when ``renews_leaves``)."""
        raise TypeError(f"loss {self.name!r} keeps its Newton leaf values.")

    def parameters(self) -> dict:
        """The keyword arguments that give this loss back from :func:`loss_for_name` under its ``name``."""
        return {}


class _Regression(Loss):
    def check_target(self, y):
        if not np.all(np.isfinite(y)):
            raise ValueError("The target must be finite.")


def _newton_baseline(loss: Loss, y, weight, offset, steps: int = 20) -> np.ndarray:
    """Constant raw score by Newton steps from 0 (losses without a closed form, or with offsets)."""
    n = len(y)
    value = 0.0
    g, h = np.empty((1, n)), np.empty((1, n))
    base = np.zeros(n) if offset is None else offset
    for _ in range(steps):
        loss.gradients(y, (base + value).reshape(-1, 1), weight, g, h)
        total_h = float(np.sum(h))
        if not total_h > 0:
            break
        step = -float(np.sum(g)) / total_h
        if value != 0.0 and abs(step) < 1e-12 * max(1.0, abs(value)):
            break  # converged: a last step of rounding noise is not taken
        value += step
    return np.array([value])


# -- regression losses ---------------------------------------------------------------------------
class SquaredError(_Regression):
    """Half squared error ``(raw - y)^2 / 2``."""

    name = "squared_error"
    constant_hessian = True
    scale_equivariant = True

    def baseline(self, y, weight, offset=None):
        return np.array([np.average(y if offset is None else y - offset, weights=weight)])

    def gradients(self, y, raw, weight, gradients, hessians):
        kernels.squared_error_gradients(y, raw[:, 0], weight, gradients[0], hessians[0])

    def pointwise_loss(self, y, raw):
        return 0.5 * (raw[:, 0] - y) ** 2

    def loss(self, y, raw, weight):
        return 0.5 * np.average((raw[:, 0] - y) ** 2, weights=weight)


class QuantileLoss(_Regression):
    """Pinball loss of the ``quantile``: leaf values are weighted quantiles of the residuals."""

    name = "quantile"
    constant_hessian = True
    scale_equivariant = True
    loss_degree = 1
    gain_degree = 0  # the surrogate's gradients are signs: unitless
    renews_leaves = True

    def __init__(self, quantile: float = 0.5):
        if isinstance(quantile, bool) or not isinstance(quantile, numbers.Real) or not 0 < quantile < 1:
            raise ValueError(f"quantile must be a number strictly between 0 and 1, got {quantile!r}.")
        self.quantile = float(quantile)

    def baseline(self, y, weight, offset=None):
        return np.array([weighted_quantile(y if offset is None else y - offset, weight, self.quantile)])

    def gradients(self, y, raw, weight, gradients, hessians):
        kernels.quantile_gradients(y, raw[:, 0], weight, self.quantile, gradients[0], hessians[0])

    def pointwise_loss(self, y, raw):
        r = y - raw[:, 0]
        return np.where(r >= 0, self.quantile * r, (self.quantile - 1.0) * r)

    def renew_value(self, residuals, weights):
        return weighted_quantile(residuals, weights, self.quantile)

    def parameters(self):
        return {"quantile": self.quantile}


class AbsoluteError(QuantileLoss):
    """Absolute error ``|raw - y|`` (the 0.5 quantile; leaf values are weighted medians)."""

    name = "absolute_error"

    def __init__(self):
        super().__init__(0.5)

    def pointwise_loss(self, y, raw):
        return np.abs(y - raw[:, 0])

    def parameters(self):
        return {}


class HuberLoss(_Regression):
    """Huber loss: squared within ``delta`` of the target, linear beyond.

    ``delta=None`` sets the threshold before each iteration to the weighted ``adaptive_quantile``
    (0.9) quantile of the absolute residuals (as scikit-learn's ``GradientBoostingRegressor(loss="huber")``
    with its ``alpha``), which adapts to the target's units; a number fixes it, in the target's units.
    """

    name = "huber"
    constant_hessian = True
    scale_equivariant = True
    ADAPTIVE_QUANTILE = 0.9

    def __init__(self, delta: float | None = None, adaptive_quantile: float = ADAPTIVE_QUANTILE):
        if delta is not None and (isinstance(delta, bool) or not isinstance(delta, numbers.Real)
                                  or not np.isfinite(delta) or delta <= 0):
            raise ValueError(f"huber_delta must be a positive number or None (adaptive), got {delta!r}.")
        if isinstance(adaptive_quantile, bool) or not isinstance(adaptive_quantile, numbers.Real) \
                or not 0 < adaptive_quantile < 1:
            raise ValueError(f"huber_quantile must be strictly between 0 and 1, got {adaptive_quantile!r}.")
        self.fixed_delta = None if delta is None else float(delta)
        self.delta = 1.0 if delta is None else float(delta)
        self.adaptive_quantile = float(adaptive_quantile)

    def rescaled(self, exponent):
        if self.fixed_delta is None or exponent == 0:
            return self
        out = copy.copy(self)
        out.fixed_delta = out.delta = float(np.ldexp(self.fixed_delta, -exponent))
        return out

    def baseline(self, y, weight, offset=None):
        return np.array([weighted_quantile(y if offset is None else y - offset, weight, 0.5)])

    def start_iteration(self, y, raw, weight):
        if self.fixed_delta is None:
            self.delta = max(weighted_quantile(np.abs(y - raw[:, 0]), weight, self.adaptive_quantile), 1e-300)

    def gradients(self, y, raw, weight, gradients, hessians):
        kernels.huber_gradients(y, raw[:, 0], weight, self.delta, gradients[0], hessians[0])

    def pointwise_loss(self, y, raw):
        r = np.abs(y - raw[:, 0])
        return np.where(r <= self.delta, 0.5 * r**2, self.delta * (r - 0.5 * self.delta))

    def parameters(self):
        return {"huber_delta": self.fixed_delta, "huber_quantile": self.adaptive_quantile}


class TweedieLoss(_Regression):
    """Half Tweedie deviance with a log link, ``1 < power < 2`` (compound Poisson-gamma amounts)."""

    name = "tweedie"
    link = LogLink()

    def __init__(self, power: float = 1.5):
        self._check_power(power)
        self.power = float(power)

    @staticmethod
    def _check_power(power):
        if isinstance(power, bool) or not isinstance(power, numbers.Real) or not 1 < power < 2:
            raise ValueError(f"power must be strictly between 1 and 2 for loss='tweedie' (use loss='poisson' "
                             f"for 1 and loss='gamma' for 2), got {power!r}.")

    def check_target(self, y):
        super().check_target(y)
        if np.any(y < 0):
            raise ValueError(f"loss={self.name!r} needs non-negative targets; y has {int(np.sum(y < 0))} "
                             f"negative value(s) (smallest {float(np.min(y))!r}).")
        if np.max(y) > 1e100:
            raise ValueError(f"loss={self.name!r} supports targets up to 1e100; rescale y (and offset) first.")

    def baseline(self, y, weight, offset=None):
        if offset is None:
            mean = float(np.average(y, weights=weight))
            if not mean > 0:
                raise ValueError(f"loss={self.name!r} needs a positive (weighted) mean target; every y is 0.")
            return np.array([np.log(mean)])
        # log(sum w y / sum w exp(offset)): the exact constant for every power with the log link.
        total = float(np.sum(weight * y))
        if not total > 0:
            raise ValueError(f"loss={self.name!r} needs a positive (weighted) mean target; every y is 0.")
        top = float(np.max(offset))
        return np.array([np.log(total) - top - np.log(float(np.sum(weight * np.exp(offset - top))))])

    def gradients(self, y, raw, weight, gradients, hessians):
        kernels.tweedie_gradients(y, raw[:, 0], weight, self.power, gradients[0], hessians[0])

    def pointwise_loss(self, y, raw):
        p, r = self.power, raw[:, 0]
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            first = np.where(y > 0, np.power(y, 2 - p) / ((1 - p) * (2 - p)), 0.0)
            return first - y * np.exp((1 - p) * r) / (1 - p) + np.exp((2 - p) * r) / (2 - p)

    def parameters(self):
        return {"power": self.power}


class PoissonLoss(TweedieLoss):
    """Half Poisson deviance with a log link: counts, and rates with ``offset = log(exposure)``.

    The hessian of a row is its fitted mean, so a node's information mass is its expected count.
    """

    name = "poisson"

    def __init__(self):
        self.power = 1.0

    def parameters(self):
        return {}

    def pointwise_loss(self, y, raw):
        r = raw[:, 0]
        with np.errstate(over="ignore"):
            mu = np.exp(r)
        return mu - y + xlogy(y, y) - y * r


class GammaLoss(TweedieLoss):
    """Half gamma deviance with a log link: positive, right-skewed amounts."""

    name = "gamma"

    def __init__(self):
        self.power = 2.0

    def parameters(self):
        return {}

    def check_target(self, y):
        _Regression.check_target(self, y)
        if np.any(y <= 0):
            raise ValueError(f"loss='gamma' needs positive targets; y has {int(np.sum(y <= 0))} value(s) <= 0 "
                             f"(smallest {float(np.min(y))!r}).")
        if np.max(y) > 1e100:
            raise ValueError("loss='gamma' supports targets up to 1e100; rescale y (and offset) first.")

    def pointwise_loss(self, y, raw):
        r = raw[:, 0]
        with np.errstate(over="ignore"):
            return y * np.exp(-r) + r - np.log(y) - 1.0


class CustomLoss(_Regression):
    """A user's objective: any object with ``gradients(y, raw) -> (gradient, hessian)``.

    ``gradients`` receives the target and the raw scores (both float64 arrays of shape ``(n,)``) and
    returns the unweighted first and second derivatives of the loss with respect to the raw score;
    shrinktree multiplies them by the sample weights.  Hessians must be finite and non-negative.
    Optional methods: ``loss(y, raw)`` (per-row loss, for ``train_score_``, ``verbose`` and early
    stopping), ``baseline(y, sample_weight)`` (the constant raw score to start from; default: Newton
    steps from 0), and ``inverse_link(raw)`` (raw score to prediction; default: identity).
    """

    name = "custom"

    def __init__(self, objective):
        if not callable(getattr(objective, "gradients", None)):
            raise TypeError("A custom loss must be an object with a method gradients(y, raw) -> (gradient, hessian); "
                            f"got {type(objective).__name__}.")
        self.objective = objective
        inverse = getattr(objective, "inverse_link", None)
        if inverse is not None:
            link = IdentityLink()
            link.inverse = inverse
            self.link = link

    def check_target(self, y):
        super().check_target(y)

    def _derivatives(self, y, raw):
        out = self.objective.gradients(y, raw)
        if not isinstance(out, tuple) or len(out) != 2:
            raise ValueError("A custom loss's gradients(y, raw) must return a pair (gradient, hessian).")
        g, h = (np.asarray(a, dtype=np.float64) for a in out)
        for name, a in (("gradient", g), ("hessian", h)):
            if a.shape != y.shape:
                raise ValueError(f"A custom loss returned a {name} of shape {a.shape}; expected {y.shape}.")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"A custom loss returned a {name} with NaN or infinite values.")
        if np.any(h < 0):
            raise ValueError("A custom loss returned negative hessians; they must be >= 0.")
        return g, h

    def baseline(self, y, weight, offset=None):
        own = getattr(self.objective, "baseline", None)
        if own is not None and offset is None:
            value = np.asarray(own(y, weight), dtype=np.float64).reshape(-1)
            if value.shape != (1,) or not np.isfinite(value[0]):
                raise ValueError("A custom loss's baseline(y, sample_weight) must return one finite number.")
            return value
        return _newton_baseline(self, y, weight, offset)

    def gradients(self, y, raw, weight, gradients, hessians):
        g, h = self._derivatives(y, np.ascontiguousarray(raw[:, 0]))
        np.multiply(weight, g, out=gradients[0])
        np.multiply(weight, h, out=hessians[0])

    def parameters(self):
        raise TypeError("A custom loss has no name to be looked up by: it holds the user's objective object.")

    @property
    def has_loss(self) -> bool:
        return callable(getattr(self.objective, "loss", None))

    def pointwise_loss(self, y, raw):
        if not self.has_loss:
            return np.full(len(y), np.nan)
        values = np.asarray(self.objective.loss(y, np.ascontiguousarray(raw[:, 0])), dtype=np.float64)
        if values.shape != y.shape:
            raise ValueError(f"A custom loss's loss(y, raw) returned shape {values.shape}; expected {y.shape}.")
        return values


# -- classification losses -------------------------------------------------------------------------
class BinaryLogLoss(Loss):
    """Binary cross-entropy on the log-odds scale; one tree per iteration."""

    name = "log_loss"
    link = LogitLink()

    def baseline(self, y, weight, offset=None):
        if offset is not None:
            return _newton_baseline(self, y, weight, offset)
        p = np.clip(np.average(y, weights=weight), 1e-12, 1 - 1e-12)
        return np.array([np.log(p / (1 - p))])

    def gradients(self, y, raw, weight, gradients, hessians):
        kernels.binary_gradients(y, raw[:, 0], weight, gradients[0], hessians[0])

    def pointwise_loss(self, y, raw):
        z = raw[:, 0]
        return np.logaddexp(0.0, z) - y * z  # log(1 + exp(z)) - y z, computed stably

    @staticmethod
    def proba(raw):
        return LogitLink.inverse(raw)

    def parameters(self):
        return {"n_classes": 2}


class MultinomialLogLoss(Loss):
    """Softmax cross-entropy; one tree per class and iteration.

    The hessians are the diagonal ``p (1 - p)`` scaled by ``K / (K - 1)``.  The diagonal alone
    ignores that the K scores are only identified up to a constant: with K = 2 the two trees'
    Newton steps add up to twice the binary Newton step on the log-odds.  The scaled step is
    Friedman, Hastie and Tibshirani's multiclass step (Additive logistic regression, 2000) and
    LightGBM's multiclass hessian.
    """

    name = "log_loss"
    link = SoftmaxLink()

    def __init__(self, n_classes: int):
        self.n_trees_per_iteration = n_classes
        self.hessian_scale = n_classes / (n_classes - 1.0)

    def baseline(self, y, weight, offset=None):
        prior = np.bincount(y.astype(np.int64), weights=weight, minlength=self.n_trees_per_iteration)
        prior = np.clip(prior / prior.sum(), 1e-12, None)
        log_prior = np.log(prior)
        return log_prior - log_prior.mean()

    def gradients(self, y, raw, weight, gradients, hessians):
        kernels.multinomial_gradients(y.astype(np.int64), raw, weight, gradients, hessians, self.hessian_scale)

    def pointwise_loss(self, y, raw):
        return logsumexp(raw, axis=1) - raw[np.arange(raw.shape[0]), y.astype(np.int64)]

    @staticmethod
    def proba(raw):
        return SoftmaxLink.inverse(raw)

    def parameters(self):
        return {"n_classes": self.n_trees_per_iteration}


# -- the registry ----------------------------------------------------------------------------------
REGRESSION_LOSSES = {
    "squared_error": lambda params: SquaredError(),
    "absolute_error": lambda params: AbsoluteError(),
    "huber": lambda params: HuberLoss(params.get("huber_delta"),
                                      params.get("huber_quantile", HuberLoss.ADAPTIVE_QUANTILE)),
    "quantile": lambda params: QuantileLoss(0.5 if params.get("quantile") is None else params["quantile"]),
    "poisson": lambda params: PoissonLoss(),
    "gamma": lambda params: GammaLoss(),
    "tweedie": lambda params: TweedieLoss(params.get("power", 1.5)),
}


def regression_loss(loss, **params) -> Loss:
    """The :class:`Loss` for ``ShrinkBoostRegressor(loss=...)``: a name of ``REGRESSION_LOSSES`` or an objective."""
    if isinstance(loss, str):
        if loss not in REGRESSION_LOSSES:
            raise ValueError(f"loss must be one of {sorted(REGRESSION_LOSSES)} or an object with a gradients(y, raw) "
                             f"method; got {loss!r}.")
        return REGRESSION_LOSSES[loss](params)
    return CustomLoss(loss)


def classification_loss(n_classes: int) -> Loss:
    """Log loss: binary for two classes, softmax beyond."""
    return BinaryLogLoss() if n_classes == 2 else MultinomialLogLoss(n_classes)


def loss_for_name(name: str, **params) -> Loss:
    """The loss registered as ``name`` with its parameters: a name of ``REGRESSION_LOSSES`` (``quantile=``,
    ``huber_delta=``, ``huber_quantile=``, ``power=``) or ``"log_loss"`` (``n_classes=``).

    ``loss_for_name(loss.name, **loss.parameters())`` gives ``loss`` back for every loss but a custom one
    (the post-hoc wrapper stores a loss this way).
    """
    if name == "log_loss":
        n_classes = params.get("n_classes")
        if isinstance(n_classes, bool) or not isinstance(n_classes, numbers.Integral) or n_classes < 2:
            raise ValueError(f"loss 'log_loss' needs n_classes, an integer >= 2; got {n_classes!r}.")
        return classification_loss(int(n_classes))
    if not isinstance(name, str) or name not in REGRESSION_LOSSES:
        raise ValueError(f"Unknown loss {name!r}; the losses are {sorted(REGRESSION_LOSSES) + ['log_loss']}.")
    return REGRESSION_LOSSES[name](params)
