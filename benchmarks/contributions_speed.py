"""Speed of exact SHAP contributions: shrinktree's predict_contributions against LightGBM's pred_contrib.

Both libraries fit the same generated Higgs-like training rows (``benchmarks/speed.py``'s data, 28
features) with matching settings: 300 trees of 31 leaves, learning rate 0.1, 255 bins, at least 20
rows a leaf, no early stopping.  Then both explain the same 10,000 held-out rows with exact
path-dependent TreeSHAP, in this one process, interleaved and repeated (best of ``--repeats``), with
the same number of threads.  The target is shrinktree within 2x of LightGBM's time.

TreeSHAP costs about ``sum over leaves of depth^2`` per tree and row, so the table also gives each
model's mean leaf depth and that sum: two models with the same number of leaves can differ in it.

Run from the repository root::

    python benchmarks/contributions_speed.py                  # writes its block of docs/explain.md
    python benchmarks/contributions_speed.py --rows 2000 --output -
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, markdown_table, run_header, write_results  # noqa: E402
from speed import make_data  # noqa: E402

N_TREES = 300
N_LEAVES = 31
N_BINS = 255
LEARNING_RATE = 0.1
MIN_LEAF = 20

INTRO = """How fast are `predict_contributions` and the rest of `shrinktree.explain`? See the sections above for
the API; the block below is written by `benchmarks/contributions_speed.py`."""


def fit_models(task: str, n_train: int, n_threads: int):
    """shrinktree (defaults: empirical-Bayes pooling) and LightGBM with matching settings, on the same rows."""
    import lightgbm

    from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor

    X, y = make_data(n_train, task, seed=0)
    regression = task == "regression"
    ours = (ShrinkBoostRegressor if regression else ShrinkBoostClassifier)(
        n_estimators=N_TREES, max_leaf_nodes=N_LEAVES, max_bins=N_BINS, learning_rate=LEARNING_RATE,
        min_samples_leaf=MIN_LEAF, early_stopping=False, random_state=0).fit(X, y)
    theirs = (lightgbm.LGBMRegressor if regression else lightgbm.LGBMClassifier)(
        n_estimators=N_TREES, num_leaves=N_LEAVES, max_bin=N_BINS, learning_rate=LEARNING_RATE,
        min_child_samples=MIN_LEAF, n_jobs=n_threads, random_state=0, verbose=-1).fit(X, y)
    return ours, theirs


def _leaf_depths_shrinktree(model) -> list[np.ndarray]:
    out = []
    for iteration in model.trees_:
        for tree in iteration:
            out.append(tree.depth()[tree.left == -1])
    return out


def _leaf_depths_lightgbm(model) -> list[np.ndarray]:
    out = []
    for info in model.booster_.dump_model()["tree_info"]:
        depths, stack = [], [(info["tree_structure"], 0)]
        while stack:
            node, depth = stack.pop()
            if "leaf_index" in node or "left_child" not in node:
                depths.append(depth)
            else:
                stack += [(node["left_child"], depth + 1), (node["right_child"], depth + 1)]
        out.append(np.array(depths))
    return out


def shape_summary(depths: list[np.ndarray]) -> tuple[float, float, float]:
    """(mean leaves per tree, mean leaf depth, mean over trees of the sum of squared leaf depths)."""
    return (float(np.mean([len(d) for d in depths])), float(np.mean(np.concatenate(depths))),
            float(np.mean([np.sum(d.astype(float) ** 2) for d in depths])))


def time_contributions(ours, theirs, X: np.ndarray, n_threads: int, repeats: int):
    """Best times (s) of both libraries over ``repeats`` interleaved runs, and each one's additivity error."""
    import numba

    numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
    ours.predict_contributions(X[:50])  # compile (or load numba's cache) outside the timing
    best_ours = best_theirs = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        phi = ours.predict_contributions(X)
        best_ours = min(best_ours, time.perf_counter() - start)
        start = time.perf_counter()
        contrib = theirs.predict(X, pred_contrib=True, num_threads=n_threads)
        best_theirs = min(best_theirs, time.perf_counter() - start)
    raw_ours = ours.decision_function(X) if hasattr(ours, "decision_function") else ours.predict(X)
    raw_theirs = theirs.predict(X, raw_score=True, num_threads=n_threads)
    return (best_ours, best_theirs, float(np.max(np.abs(phi.sum(axis=1) - raw_ours))),
            float(np.max(np.abs(contrib.sum(axis=1) - raw_theirs))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows explained (default 10,000)")
    parser.add_argument("--train-rows", type=int, default=50_000, help="training rows (default 50,000)")
    parser.add_argument("--tasks", nargs="+", default=["regression", "binary"], choices=["regression", "binary"])
    parser.add_argument("--threads", type=int, default=2, help="threads of both libraries (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs; the best time is kept")
    parser.add_argument("--output", default=str(REPO_ROOT / "docs" / "explain.md"),
                        help="markdown file whose result block is replaced; '-' to print only")
    args = parser.parse_args(argv)
    rows = []
    for task in args.tasks:
        print(f"== {task}: fitting {N_TREES} trees of {N_LEAVES} leaves on {args.train_rows:,} rows", flush=True)
        ours, theirs = fit_models(task, args.train_rows, args.threads)
        X, _ = make_data(args.rows, task, seed=1)
        t_ours, t_theirs, err_ours, err_theirs = time_contributions(ours, theirs, X, args.threads, args.repeats)
        shape_ours = shape_summary(_leaf_depths_shrinktree(ours))
        shape_theirs = shape_summary(_leaf_depths_lightgbm(theirs))
        print(f"   shrinktree {t_ours:.2f}s, LightGBM {t_theirs:.2f}s: {t_ours / t_theirs:.2f}x", flush=True)
        for name, seconds, shape, error in (("shrinktree predict_contributions", t_ours, shape_ours, err_ours),
                                            ("LightGBM pred_contrib", t_theirs, shape_theirs, err_theirs)):
            rows.append([task, name, f"{seconds:.2f}", f"{seconds / t_theirs:.2f}x", f"{shape[0]:.1f}",
                         f"{shape[1]:.2f}", f"{shape[2]:.0f}", f"{error:.1e}"])
    block = "\n".join([
        f"### {args.rows:,} rows, {args.threads} thread{'s' if args.threads > 1 else ''}",
        "",
        *run_header("contributions_speed.py"),
        f"Models: {N_TREES} trees, {N_LEAVES} leaves, learning rate {LEARNING_RATE}, {N_BINS} bins, at least "
        f"{MIN_LEAF} rows a leaf, fitted on {args.train_rows:,} rows; {args.rows:,} other rows explained; best of "
        f"{args.repeats} interleaved runs.",
        "",
        markdown_table(["task", "contributions", "seconds", "/ LightGBM", "leaves per tree", "mean leaf depth",
                        "sum of leaf depth^2 per tree", "max additivity error"], rows,
                       align=["l", "l"] + ["r"] * 6),
    ])
    print(block)
    if args.output != "-":
        write_results(Path(args.output), "benchmarks/contributions_speed.py", "Explaining a model", INTRO, block,
                      key=f"threads={args.threads}")
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
