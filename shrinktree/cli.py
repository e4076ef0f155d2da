"""Command-line interface: ``shrinktree bench`` compares shrinktree with plain boosting."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _bench(args: argparse.Namespace) -> int:
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    from .boosting import ShrinkBoostRegressor

    X, y = load_diabetes(return_X_y=True)
    print(f"dataset: diabetes (scikit-learn, {X.shape[0]} rows x {X.shape[1]} features); "
          f"{args.repeats} random 75/25 splits")
    rows = []
    for shrinkage in ("eb", "none"):
        errors, seconds = [], 0.0
        for seed in range(args.repeats):
            X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=seed)
            start = time.perf_counter()
            model = ShrinkBoostRegressor(shrinkage=shrinkage, random_state=seed).fit(X_train, y_train)
            seconds += time.perf_counter() - start
            errors.append(np.sqrt(np.mean((model.predict(X_test) - y_test) ** 2)) / np.std(y_test))
        rows.append((f"shrinktree shrinkage={shrinkage!r}", np.mean(errors), np.std(errors), seconds / args.repeats))
    print(f"{'model':32s} {'test RMSE / sd(y)':>18s} {'(sd)':>8s} {'fit s':>7s}")
    for name, mean, sd, sec in rows:
        print(f"{name:32s} {mean:18.4f} {sd:8.4f} {sec:7.2f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shrinktree", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="compare shrinktree with plain boosting on a bundled dataset")
    bench.add_argument("--repeats", type=int, default=5, help="number of random train/test splits")
    args = parser.parse_args(argv)
    if args.command == "bench":
        return _bench(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
