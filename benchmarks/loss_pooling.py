"""How leaves are pooled under losses whose hessian is degenerate (absolute error, quantiles).

The pinball loss has no curvature: its Newton step with the row mass as hessian (the surrogate) is a
mean of signs, not a quantile.  Three variants of ``ShrinkBoostRegressor`` are compared on test data:

* ``renewed + pooled`` (the default): trees grown and pooling factors estimated in the surrogate's
  Newton space; node values renewed to weighted quantiles of the residuals, pooled with those factors.
* ``surrogate values + pooled``: the surrogate's pooled Newton values kept (private switch).
* ``renewed, no pooling``: ``shrinkage="none"`` with renewed leaves (plain boosting, as LightGBM and
  scikit-learn's HistGradientBoosting do).

Scores are the test pinball loss relative to that of the training quantile (lower is better), mean
over splits.  Run: ``python benchmarks/loss_pooling.py`` (``--quick`` for fewer splits).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, markdown_table, run_header, write_results  # noqa: E402

from shrinktree import ShrinkBoostRegressor  # noqa: E402
from shrinktree.datasets import load_dataset  # noqa: E402
from shrinktree.losses import weighted_quantile  # noqa: E402

DESIGN_SETS = ("diabetes", "hsb82", "scotssec", "egsingle", "wages")
LEVELS = (0.1, 0.5, 0.9)
VARIANTS = {
    "renewed + pooled (default)": ({}, True),
    "surrogate values + pooled": ({}, False),
    "renewed, no pooling": ({"shrinkage": "none"}, True),
}


def generated(name: str, rng):
    n = 3000
    X = rng.uniform(-2, 2, size=(n, 5))
    signal = np.sin(X[:, 0]) + 0.5 * X[:, 1]
    if name == "generated t(2) noise":
        return X, signal + rng.standard_t(2, size=n)
    return X, signal + (0.3 + 0.4 * np.abs(X[:, 2])) * rng.normal(size=n)  # heteroscedastic


def pinball(y, prediction, level):
    r = y - prediction
    return float(np.mean(np.where(r >= 0, level * r, (level - 1.0) * r)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one split, generated data and two real sets")
    parser.add_argument("--output", default=str(REPO_ROOT / "docs" / "shrinkage.md"))
    args = parser.parse_args(argv)
    header = run_header("loss_pooling.py")
    splits = 1 if args.quick else args.splits
    names = ["generated t(2) noise", "generated heteroscedastic", *DESIGN_SETS[: 2 if args.quick else None]]
    rows, wins = [], {v: 0 for v in VARIANTS}
    for name in names:
        rng = np.random.default_rng(0)
        if name.startswith("generated"):
            X, y = generated(name, rng)
        else:
            data = load_dataset(name)
            X, y = data.X, np.asarray(data.y, dtype=np.float64)
        for level in LEVELS:
            scores = {v: [] for v in VARIANTS}
            for split in range(splits):
                X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=split)
                reference = pinball(y_test, weighted_quantile(y_train, np.ones(len(y_train)), level), level)
                for variant, (extra, renew) in VARIANTS.items():
                    model = ShrinkBoostRegressor(loss="quantile", quantile=level, random_state=split, **extra)
                    model._renew_leaf_values = renew
                    model.fit(X_train, y_train)
                    scores[variant].append(pinball(y_test, model.predict(X_test), level) / reference)
            means = {v: float(np.mean(s)) for v, s in scores.items()}
            best = min(means, key=means.get)
            wins[best] += 1
            rows.append([name, f"{level:g}", *[f"**{m:.4f}**" if v == best else f"{m:.4f}"
                                               for v, m in means.items()]])
            print(name, level, means, flush=True)
    table = markdown_table(["data", "quantile", *VARIANTS], rows)
    summary = ", ".join(f"{v}: best on {w}" for v, w in wins.items())
    block = "\n".join([*header, f"Test pinball loss relative to the training quantile's, mean over {splits} "
                       "split(s) of 70/30; bold = lowest.", "", table, "", f"Of {len(rows)} cases: {summary}."])
    write_results(Path(args.output), "loss_pooling.py", "Pooling under every loss", "", block, key="loss-pooling")
    print(block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
