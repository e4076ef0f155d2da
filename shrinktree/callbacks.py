"""Callbacks: code that runs after every boosting iteration.

A callback is any callable ``callback(env) -> bool | None`` passed to ``fit(..., callbacks=[...])``.
It is called after every iteration with a :class:`CallbackEnv`; returning ``True`` stops training
cleanly: the model is then a valid model made of the iterations so far.  ``verbose=1`` is the
:class:`PrintProgress` callback.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field


@dataclass
class CallbackEnv:
    """What a callback sees after an iteration.

    Attributes
    ----------
    model : ShrinkBoostRegressor or ShrinkBoostClassifier
        The estimator being fitted (its fitted attributes are not final yet).
    iteration : int
        The iteration just finished, counting from 1.
    n_estimators : int
        The most iterations the fit will run.
    evals_result : dict
        ``{set name: {metric: [value per iteration]}}`` so far, in the target's units: ``"training"``
        (when tracked), the internal ``"validation"`` split, and ``"valid_0"``, ... for ``eval_set``.
    trees : list of list of TreeArrays
        The trees so far, one list per iteration (one tree per class for multiclass).
    pooling_strength : list of float
        ``k`` of each tree of this iteration (``inf``: pooled to the root).
    elapsed : float
        Seconds since the fit started.
    """

    model: object
    iteration: int
    n_estimators: int
    evals_result: dict
    trees: list
    pooling_strength: list
    elapsed: float


@dataclass
class PrintProgress:
    """Print one line per iteration (what ``verbose=1`` does).

    The line shows the iteration, the loss of every tracked set, and ``pooling k``: each tree's
    estimated ``k = sigma^2 / tau^2``, the information mass at which a node keeps half of its own
    deviation from its parent (``inf``: every split of that tree was pooled back to its root).

    Parameters
    ----------
    period : int, default=1
        Print every ``period`` iterations (and the last).
    stream : file, default=sys.stdout
    """

    period: int = 1
    stream: object = None
    _start: float = field(default_factory=time.perf_counter, repr=False)

    def __call__(self, env: CallbackEnv) -> None:
        if env.iteration % self.period and env.iteration != env.n_estimators:
            return
        parts = [f"[{env.iteration}/{env.n_estimators}]"]
        for name, metrics in env.evals_result.items():
            for metric, values in metrics.items():
                parts.append(f"{name} {metric} {values[-1]:.5g}")
        ks = ", ".join(f"{k:.3g}" for k in env.pooling_strength)
        parts.append(f"pooling k [{ks}]")
        parts.append(f"{env.elapsed:.2f}s")
        print(parts[0], ", ".join(parts[1:]), file=self.stream or sys.stdout)


__all__ = ["CallbackEnv", "PrintProgress"]
