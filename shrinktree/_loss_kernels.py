"""numba kernels of the losses: weighted gradients and hessians with respect to the raw score.

Each writes ``gradients[i] = w_i * dL/draw`` and ``hessians[i] = w_i * d2L/draw2`` (a surrogate
hessian for losses whose own is zero almost everywhere).  ``raw`` already includes any offset.
"""

from __future__ import annotations

import numpy as np

from ._numba import njit, prange


@njit(parallel=True, cache=True)
def squared_error_gradients(y, raw, weight, gradients, hessians):
    for i in prange(y.shape[0]):
        gradients[i] = weight[i] * (raw[i] - y[i])
        hessians[i] = weight[i]


@njit(parallel=True, cache=True)
def quantile_gradients(y, raw, weight, quantile, gradients, hessians):
    # Pinball loss: slope 1 - q below the target's side, -q above it; the hessian is the row mass.
    for i in prange(y.shape[0]):
        gradients[i] = weight[i] * ((1.0 if y[i] < raw[i] else 0.0) - quantile)
        hessians[i] = weight[i]


@njit(parallel=True, cache=True)
def huber_gradients(y, raw, weight, delta, gradients, hessians):
    for i in prange(y.shape[0]):
        r = raw[i] - y[i]
        if r > delta:
            r = delta
        elif r < -delta:
            r = -delta
        gradients[i] = weight[i] * r
        hessians[i] = weight[i]


@njit(parallel=True, cache=True)
def tweedie_gradients(y, raw, weight, power, gradients, hessians):
    """Half Tweedie deviance with a log link; ``power`` 1 is Poisson, 2 is gamma."""
    for i in prange(y.shape[0]):
        if power == 1.0:
            mu = np.exp(raw[i])
            gradients[i] = weight[i] * (mu - y[i])
            hessians[i] = weight[i] * mu
        elif power == 2.0:
            ratio = y[i] * np.exp(-raw[i])
            gradients[i] = weight[i] * (1.0 - ratio)
            hessians[i] = weight[i] * ratio
        else:
            a = y[i] * np.exp((1.0 - power) * raw[i])
            b = np.exp((2.0 - power) * raw[i])
            gradients[i] = weight[i] * (b - a)
            hessians[i] = weight[i] * ((2.0 - power) * b - (1.0 - power) * a)


@njit(parallel=True, cache=True)
def binary_gradients(y, raw, weight, gradients, hessians):
    for i in prange(y.shape[0]):
        p = 1.0 / (1.0 + np.exp(-raw[i]))
        gradients[i] = weight[i] * (p - y[i])
        hessians[i] = weight[i] * max(p * (1.0 - p), 1e-16)


@njit(parallel=True, cache=True)
def multinomial_gradients(y, raw, weight, gradients, hessians, hessian_scale):
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
