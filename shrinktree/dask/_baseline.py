"""The booster's constant start (the baseline) and the adaptive Huber threshold, from partition sums.

Each loss's baseline is a function of a few sums over the rows, or of a weighted quantile of them:
computed here from the partitions' sums (:meth:`~shrinktree.dask._partition.TrainPartition.baseline_sums`)
and exact quantiles (:mod:`._quantile`), as :meth:`shrinktree.losses.Loss.baseline` computes it on one
machine.
"""

from __future__ import annotations

import numpy as np

from ..losses import (
    BinaryLogLoss,
    CustomLoss,
    HuberLoss,
    Loss,
    MultinomialLogLoss,
    QuantileLoss,
    SquaredError,
    TweedieLoss,
)
from ._quantile import select_quantiles


def _quantile(partitions, what: str, quantile: float) -> float:
    return float(select_quantiles(lambda prefix, shift: partitions.total("quantile_buckets", what, prefix, shift),
                                  quantile, 1)[0])


def _newton(partitions, loss: Loss, steps: int = 20) -> np.ndarray:
    """Newton steps from 0, as :func:`shrinktree.losses._newton_baseline`, with the sums from the partitions."""
    value = 0.0
    for _ in range(steps):
        total_h, total_g = partitions.total("newton_sums", loss, value)
        if not total_h > 0:
            break
        step = -float(total_g) / float(total_h)
        if value != 0.0 and abs(step) < 1e-12 * max(1.0, abs(value)):
            break
        value += step
    return np.array([value])


def baseline(partitions, loss: Loss, has_offset: bool) -> np.ndarray:
    """The loss's baseline over every training row of the partitions."""
    if isinstance(loss, SquaredError):
        total, weight = partitions.total("baseline_sums", "mean")
        return np.array([total / weight])
    if isinstance(loss, (QuantileLoss, HuberLoss)):
        level = loss.quantile if isinstance(loss, QuantileLoss) else 0.5
        return np.array([_quantile(partitions, "target", level)])
    if isinstance(loss, TweedieLoss):
        if not has_offset:
            total, weight = partitions.total("baseline_sums", "mean")
            mean = float(total / weight)
            if not mean > 0:
                raise ValueError(f"loss={loss.name!r} needs a positive (weighted) mean target; every y is 0.")
            return np.array([np.log(mean)])
        top = float(np.max(partitions.run("baseline_sums", "offset_max")))
        total, exposure = partitions.total("baseline_sums", "exposure", 0, top)
        if not total > 0:
            raise ValueError(f"loss={loss.name!r} needs a positive (weighted) mean target; every y is 0.")
        return np.array([np.log(float(total)) - top - np.log(float(exposure))])
    if isinstance(loss, BinaryLogLoss):
        if has_offset:
            return _newton(partitions, loss)
        total, weight = partitions.total("baseline_sums", "mean")
        p = np.clip(total / weight, 1e-12, 1 - 1e-12)
        return np.array([np.log(p / (1 - p))])
    if isinstance(loss, MultinomialLogLoss):
        prior = partitions.total("baseline_sums", "classes", loss.n_trees_per_iteration)
        prior = np.clip(prior / prior.sum(), 1e-12, None)
        log_prior = np.log(prior)
        return log_prior - log_prior.mean()
    if isinstance(loss, CustomLoss):
        if getattr(loss.objective, "baseline", None) is not None and not has_offset:
            raise ValueError("A custom loss with its own baseline(y, sample_weight) needs every row at once; on a "
                             "cluster the baseline is found by Newton steps: drop the baseline method (or fit "
                             "with ShrinkBoostRegressor).")
        return _newton(partitions, loss)
    raise TypeError(f"The distributed fit does not know the baseline of loss {loss.name!r}.")


def start_iteration(partitions, loss: Loss) -> None:
    """:meth:`HuberLoss.start_iteration`: the adaptive threshold as an exact quantile over the partitions."""
    if isinstance(loss, HuberLoss) and loss.fixed_delta is None:
        loss.delta = max(_quantile(partitions, "residual", loss.adaptive_quantile), 1e-300)
