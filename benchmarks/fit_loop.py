"""Fit the default one-thread model of one set N times (a load for profilers such as ``perf``).

    python benchmarks/fit_loop.py egsingle 40
    python benchmarks/fit_loop.py friedman1 20

``NAME`` is a grouped set of :func:`shrinktree.datasets.load_dataset` (regression), or one of the small-data
suite's sets (``benchmarks/_speed_small.py``): ``diabetes``, ``breast_cancer`` (a classifier) or ``friedman1``
(2,000 x 10), each fitted as that suite fits it; or ``digits`` or ``wine`` (scikit-learn's multiclass sets, a
classifier).
"""

from __future__ import annotations

import sys
import time

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor

_SMALL = {"diabetes": 0, "breast_cancer": 1, "friedman1": 2}  # positions in _speed_small.datasets()


def load(name: str):
    """``(estimator class, X, y)`` of the set ``name``."""
    if name in ("digits", "wine"):
        from sklearn import datasets

        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        return ShrinkBoostClassifier, X, y
    if name in _SMALL:
        import _speed_small

        _, task, X, y = _speed_small.datasets()[_SMALL[name]]
        return (ShrinkBoostRegressor if task == "regression" else ShrinkBoostClassifier), X, y
    from shrinktree.datasets import load_dataset

    data = load_dataset(name)
    return ShrinkBoostRegressor, data.X, data.y


def main() -> None:
    name, n_fits = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10
    estimator, X, y = load(name)
    estimator(n_estimators=5, n_jobs=1).fit(X, y)  # load the kernels
    start = time.perf_counter()
    for _ in range(n_fits):
        estimator(random_state=0, n_jobs=1).fit(X, y)
    print(f"{n_fits} fits of {name} in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
