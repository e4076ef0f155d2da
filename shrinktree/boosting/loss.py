"""Losses: baseline prediction, gradients and hessians (weighted), and the loss value."""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from scipy.special import expit, logsumexp, softmax


@njit(parallel=True, cache=True)
def _squared_error_gradients(y, raw, weight, gradients, hessians):
    for i in prange(y.shape[0]):
        gradients[i] = weight[i] * (raw[i] - y[i])
        hessians[i] = weight[i]


@njit(parallel=True, cache=True)
def _binary_gradients(y, raw, weight, gradients, hessians):
    for i in prange(y.shape[0]):
        p = 1.0 / (1.0 + np.exp(-raw[i]))
        gradients[i] = weight[i] * (p - y[i])
        hessians[i] = weight[i] * max(p * (1.0 - p), 1e-16)


@njit(parallel=True, cache=True)
def _multinomial_gradients(y, raw, weight, gradients, hessians, hessian_scale):
    n, n_classes = raw.shape
    for i in prange(n):
        top = raw[i, 0]
        for k in range(1, n_classes):
            top = max(top, raw[i, k])
        total = 0.0
        for k in range(n_classes):
            total += np.exp(raw[i, k] - top)
        for k in range(n_classes):
            p = np.exp(raw[i, k] - top) / total
            gradients[k, i] = weight[i] * (p - (1.0 if y[i] == k else 0.0))
            hessians[k, i] = hessian_scale * weight[i] * max(p * (1.0 - p), 1e-16)


class SquaredError:
    """Half squared error; one tree per iteration."""

    n_trees_per_iteration = 1

    def baseline(self, y, weight):
        return np.array([np.average(y, weights=weight)])

    def gradients(self, y, raw, weight, gradients, hessians):
        _squared_error_gradients(y, raw[:, 0], weight, gradients[0], hessians[0])

    def loss(self, y, raw, weight):
        return 0.5 * np.average((raw[:, 0] - y) ** 2, weights=weight)


class BinaryLogLoss:
    """Binary cross-entropy on the log-odds scale; one tree per iteration."""

    n_trees_per_iteration = 1

    def baseline(self, y, weight):
        p = np.clip(np.average(y, weights=weight), 1e-12, 1 - 1e-12)
        return np.array([np.log(p / (1 - p))])

    def gradients(self, y, raw, weight, gradients, hessians):
        _binary_gradients(y, raw[:, 0], weight, gradients[0], hessians[0])

    def loss(self, y, raw, weight):
        z = raw[:, 0]
        # log(1 + exp(z)) - y z, computed stably.
        return np.average(np.logaddexp(0.0, z) - y * z, weights=weight)

    @staticmethod
    def proba(raw):
        p = expit(raw[:, 0])
        return np.column_stack([1 - p, p])


class MultinomialLogLoss:
    """Softmax cross-entropy; one tree per class and iteration.

    The hessians are the diagonal ``p (1 - p)`` scaled by ``K / (K - 1)``.  The diagonal alone
    ignores that the K scores are only identified up to a constant: with K = 2 the two trees'
    Newton steps add up to twice the binary Newton step on the log-odds.  The scaled step is
    Friedman, Hastie and Tibshirani's multiclass step (Additive logistic regression, 2000) and
    LightGBM's multiclass hessian.
    """

    def __init__(self, n_classes: int):
        self.n_trees_per_iteration = n_classes
        self.hessian_scale = n_classes / (n_classes - 1.0)

    def baseline(self, y, weight):
        prior = np.bincount(y.astype(np.int64), weights=weight, minlength=self.n_trees_per_iteration)
        prior = np.clip(prior / prior.sum(), 1e-12, None)
        log_prior = np.log(prior)
        return log_prior - log_prior.mean()

    def gradients(self, y, raw, weight, gradients, hessians):
        _multinomial_gradients(y, raw, weight, gradients, hessians, self.hessian_scale)

    def loss(self, y, raw, weight):
        log_norm = logsumexp(raw, axis=1)
        picked = raw[np.arange(raw.shape[0]), y.astype(np.int64)]
        return np.average(log_norm - picked, weights=weight)

    @staticmethod
    def proba(raw):
        return softmax(raw, axis=1)
