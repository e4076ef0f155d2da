"""High-cardinality categoricals: shrinktree's native pooled categoricals against the usual alternatives.

On real data whose categoricals have hundreds to thousands of levels (raters and lecturers in lme4's
InstEval, users and movies in MovieLens, teachers and schools in mlmRev's star), every model sees the
same repeated random train/test splits:

* shrinktree with native categoricals (levels pooled toward their node before the sorted scan), with
  ``shrinkage="eb"`` (default) and ``shrinkage="none"`` (levels sorted by their raw values);
* shrinktree with the categoricals as plain ordinal numbers;
* LightGBM with its native categoricals (pandas ``category`` columns, default ``cat_smooth`` etc.);
* scikit-learn's HistGradientBoosting with native categoricals where a feature has at most 255 levels
  and ordinal codes above that (its limit);
* target encoding (scikit-learn's cross-fitted ``TargetEncoder`` on every categorical) + HistGradientBoosting.

Scores are test RMSE (mean and standard error over the splits) and fit time (median over the splits).
Every model runs single-threaded (``BENCH_THREADS``) so fit times compare work, not thread counts.

Run from the repository root::

    python benchmarks/categorical.py                 # full run, writes docs/categorical.md
    python benchmarks/categorical.py --quick         # one split of InstEval, prints only
    python benchmarks/categorical.py --datasets insteval --repeats 5
"""

from __future__ import annotations

import os

THREADS = os.environ.get("BENCH_THREADS", "1")
for _variable in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_variable, THREADS)

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: E402
from sklearn.model_selection import ShuffleSplit  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import TargetEncoder  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, markdown_table, run_header, write_results  # noqa: E402

from shrinktree import ShrinkBoostRegressor  # noqa: E402
from shrinktree.datasets import load_dataset, ordinal_encode  # noqa: E402

DATASETS = ("insteval", "movielens", "star")
TEST_SIZE = 0.25
HGB_MAX_LEVELS = 255


def _shrinktree_native(shrinkage):
    def fit_predict(X_train, y_train, X_test, seed):
        model = ShrinkBoostRegressor(shrinkage=shrinkage, random_state=seed).fit(X_train, y_train)
        return model.predict(X_test)

    return fit_predict


def _shrinktree_ordinal(X_train, y_train, X_test, seed):
    model = ShrinkBoostRegressor(random_state=seed).fit(ordinal_encode(X_train), y_train)
    return model.predict(ordinal_encode(X_test))


def _lightgbm(X_train, y_train, X_test, seed):
    import lightgbm

    model = lightgbm.LGBMRegressor(random_state=seed, n_jobs=int(THREADS), verbose=-1)
    model.fit(X_train, y_train)  # pandas category columns are LightGBM categoricals
    return model.predict(X_test)


def _categorical_columns(X):
    return [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]


def _hgb(X_train, y_train, X_test, seed):
    categorical = _categorical_columns(X_train)
    native = [c in categorical and X_train[c].cat.categories.size <= HGB_MAX_LEVELS for c in X_train.columns]
    model = HistGradientBoostingRegressor(categorical_features=np.array(native), random_state=seed)
    model.fit(ordinal_encode(X_train), y_train)
    return model.predict(ordinal_encode(X_test))


def _target_encoding(X_train, y_train, X_test, seed):
    categorical = _categorical_columns(X_train)
    # target_type is explicit: integer ratings would otherwise be taken for class labels.
    encoder = TargetEncoder(target_type="continuous", random_state=seed)
    encode = ColumnTransformer([("target", encoder, categorical)], remainder="passthrough")
    model = make_pipeline(encode, HistGradientBoostingRegressor(random_state=seed))
    as_object = {c: X_train[c].astype(object) for c in categorical}
    model.fit(X_train.assign(**as_object), y_train)
    return model.predict(X_test.assign(**{c: X_test[c].astype(object) for c in categorical}))


MODELS = {
    "shrinktree native (eb)": _shrinktree_native("eb"),
    "shrinktree native (none)": _shrinktree_native("none"),
    "shrinktree ordinal codes": _shrinktree_ordinal,
    "LightGBM native": _lightgbm,
    "HGB native<=255 / ordinal": _hgb,
    "target encoding + HGB": _target_encoding,
}


def run(datasets, repeats, quick):
    rows = []
    for name in datasets:
        data = load_dataset(name)
        X, y = data.X, data.y.astype(np.float64)
        levels = ", ".join(f"{c} {X[c].nunique()}" for c in data.categorical_columns if X[c].nunique() > 20)
        splits = ShuffleSplit(n_splits=repeats, test_size=TEST_SIZE, random_state=0).split(X)
        scores = {m: [] for m in MODELS}
        times = {m: [] for m in MODELS}
        for seed, (train, test) in enumerate(splits):
            X_train, X_test = X.iloc[train].reset_index(drop=True), X.iloc[test].reset_index(drop=True)
            y_train, y_test = y[train], y[test]
            for model, fit_predict in MODELS.items():
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    prediction = fit_predict(X_train, y_train, X_test, seed)
                times[model].append(time.perf_counter() - start)
                scores[model].append(float(np.sqrt(np.mean((prediction - y_test) ** 2))))
                print(f"{name} split {seed}: {model}: RMSE {scores[model][-1]:.4f}, {times[model][-1]:.1f}s",
                      flush=True)
        for model in MODELS:
            s = np.array(scores[model])
            se = s.std(ddof=1) / np.sqrt(len(s)) if len(s) > 1 else float("nan")
            rows.append([f"{name} ({len(y):,} rows; {levels})", model, f"{s.mean():.4f} ± {se:.4f}",
                         f"{np.median(times[model]):.1f}"])
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one split of InstEval; print, do not write docs")
    args = parser.parse_args(argv)
    datasets = ("insteval",) if args.quick else tuple(args.datasets.split(","))
    repeats = 1 if args.quick else args.repeats
    # Compile the numba kernels (categorical and numeric paths) before anything is timed.
    warm = pd.DataFrame({"g": pd.Categorical(np.arange(200) % 7), "x": np.arange(200.0)})
    ShrinkBoostRegressor(n_estimators=2).fit(warm, np.arange(200.0) % 3)
    ShrinkBoostRegressor(n_estimators=2).fit(ordinal_encode(warm), np.arange(200.0) % 3)
    rows = run(datasets, repeats, args.quick)
    table = markdown_table(["data (levels of the large categoricals)", "model", "test RMSE", "fit s"], rows,
                           ["l", "l", "r", "r"])
    print(table)
    if not args.quick:
        block = "\n".join(run_header("categorical.py")) + f"{repeats} random 75/25 splits per dataset.\n\n" + table
        write_results(REPO_ROOT / "docs" / "categorical.md", "categorical.py", "Categorical features",
                      "See benchmarks/categorical.py.", block)


if __name__ == "__main__":
    main()
