"""Where the default fit's time goes on the small grouped sets (egsingle, wages, STAR), one thread.

For each set: the fit's time; the time inside the compiled tree grower (``grow_tree``) and outside it
(Python per-tree work: gradients, honest split, pooling, predictions); the same fit with the categorical
columns given as plain numbers (what the categorical machinery costs in all); and, per tree, the compiled
categorical pieces timed alone in compiled loops over the nodes of recorded trees, in the grower's mix
(one level histogram per histogrammed node, one subtraction per split, one split search per searched
node), and the per-tree level noise.  In these unweighted squared-error fits the grower's pieces are those of
unit rows: a split subtracts at the parent's present levels and filters the lists
(:mod:`shrinktree.boosting.present_levels`), and the level noise pass also gives the root's level histogram
(:func:`~shrinktree.boosting.level_noise.unit_level_moments`), which is then not built again.  Timings are
best of ``--repeats``; print ``uptime`` beside them.

Run from the repository root::

    python benchmarks/grouped_profile.py --repeats 3
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np
from numba import njit
from numba.typed import List

import shrinktree.boosting.grower as grower_module
from shrinktree import ShrinkBoostRegressor
from shrinktree.boosting.histogram import NO_WEIGHTS, _gather_serial, build_categorical_histogram, subtract_in_place
from shrinktree.boosting.level_noise import level_moments, unit_level_moments
from shrinktree.boosting.present_levels import empty_levels, list_present_levels, split_present_levels
from shrinktree.boosting.splitting import find_categorical_split
from shrinktree.datasets import load_dataset

DATASETS = ("egsingle", "wages", "star")
TREES_RECORDED = 10  # every 30th tree of the 300


def _best(run, repeats: int) -> float:
    run()
    return min(_timed(run) for _ in range(repeats))


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


@njit
def _histogram_loop(codes, offsets, rows, row_offsets, gradients, hessians, feature_mask, nodes, constant_hessian):
    total = 0.0
    for node in nodes:
        a, b = row_offsets[node], row_offsets[node + 1]
        total += build_categorical_histogram(codes, offsets, rows[a:b], False, gradients[a:b], hessians[a:b],
                                             np.empty(0), feature_mask, constant_hessian)[0, 0]  # counts rows
    return total


@njit
def _subtraction_loop(parent, child, n_splits):
    for _ in range(n_splits):
        subtract_in_place(parent.reshape(-1), child.reshape(-1), -np.inf)  # unweighted: no snap


@njit
def _split_levels_loop(parents, smalls, parent_levels, small_levels, offsets):
    for i in range(len(parents)):
        split_present_levels(parents[i], smalls[i], offsets, parent_levels[i], small_levels)


def _best_split_levels(parents, smalls, parent_levels, offsets, repeats: int) -> float:
    # The splits work in place: each run gets fresh copies of the parents' histograms and lists, made untimed.
    times = []
    for _ in range(repeats + 1):
        fresh = List([p.copy() for p in parents]), List([p.copy() for p in parent_levels])
        small_levels = empty_levels(offsets)
        start = time.perf_counter()
        _split_levels_loop(fresh[0], smalls, fresh[1], small_levels, offsets)
        times.append(time.perf_counter() - start)
    return min(times[1:])


@njit
def _search_loop(histograms, presents, sum_g, sum_h, count, offsets, feature_mask, l2, min_samples_leaf,
                 min_hessian, sigma2, level_mode, level_k, pooled_gain, level_method):
    total = 0.0
    for i in range(len(histograms)):
        result = find_categorical_split(histograms[i], offsets, feature_mask, sum_g[i], sum_h[i], count[i], l2,
                                        min_samples_leaf, min_hessian, sigma2, level_mode, level_k, pooled_gain,
                                        False, -np.inf, np.inf, level_method, 0.0,  # no tie rule: not tiny trees
                                        presents[i])
        total += result[0] if result[1] >= 0 else 0.0
    return total


def _node_runs(structure, leaves):
    """Each node's run of the final partitioned rows (a node's rows are one run)."""
    parent = structure[0]
    n_nodes = structure.shape[1]
    start, stop = np.full(n_nodes, np.iinfo(np.int64).max), np.full(n_nodes, -1)
    for k in range(leaves.shape[1]):
        node = leaves[0, k]
        while node >= 0:
            start[node], stop[node] = min(start[node], leaves[1, k]), max(stop[node], leaves[2, k])
            node = parent[node]
    return start, stop


def _tree_pieces(args, names, repeats: int) -> dict:
    """Seconds of each categorical piece of one recorded tree, and of the whole grow_tree call."""
    a = dict(zip(names, args))

    def grow():
        fresh = list(args)
        for name in ("sample_indices", "held_indices"):
            fresh[names.index(name)] = a[name].copy()
        return fresh, grower_module.grow_tree(*fresh)

    out = {"grow_tree": _best(grow, repeats)}
    fresh, (structure, _, indices, statistics, _, _, _, leaves, _) = grow()
    rows = fresh[names.index("sample_indices")]
    start, stop = _node_runs(structure, leaves)
    left, right, parent = structure[1], structure[2], structure[0]
    last_split = parent[structure.shape[1] - 1]
    built, searched = [0], [0]
    for node in np.flatnonzero(left >= 0):
        if node == last_split:  # its children are leaves: no histograms, no searches
            continue
        small = left[node] if stop[left[node]] - start[left[node]] <= stop[right[node]] - start[right[node]] \
            else right[node]
        built.append(small)
        searched += [left[node], right[node]]
    searched = [n for n in searched if stop[n] - start[n] >= 2 * a["min_samples_leaf"]]
    node_rows = [np.ascontiguousarray(rows[start[n]:stop[n]]) for n in range(structure.shape[1])]
    g = [_gather_serial(a["gradients"], r) for r in node_rows]
    h = [_gather_serial(a["hessians"], r) for r in node_rows]
    flat_rows, flat_g, flat_h = np.concatenate(node_rows), np.concatenate(g), np.concatenate(h)
    row_offsets = np.concatenate([[0], np.cumsum([len(r) for r in node_rows])]).astype(np.int64)
    codes, offsets, mask = a["codes"], a["cat_offsets"], a["cat_feature_mask"]
    # Unit rows: the root's level histogram comes with the level noise (unit_level_moments), not built again.
    unit = a["constant_hessian"] == 1.0 and a["unit_weights"]
    histogrammed = np.array(built[1:] if unit else built, dtype=np.int64)
    out["level histograms"] = _best(lambda: _histogram_loop(codes, offsets, flat_rows, row_offsets, flat_g, flat_h,
                                                            mask, histogrammed,
                                                            a["constant_hessian"]), repeats)
    root = build_categorical_histogram(codes, offsets, node_rows[0], False, g[0], h[0], NO_WEIGHTS, mask,
                                       a["constant_hessian"])
    if unit:
        # The grower subtracts at the parent's present levels and filters the lists
        # (shrinktree.boosting.present_levels.split_present_levels).
        split_nodes = [parent[n] for n in built[1:]]
        parents = List([build_categorical_histogram(codes, offsets, node_rows[n], False, g[n], h[n], NO_WEIGHTS, mask,
                                                    1.0) for n in split_nodes])
        smalls = List([build_categorical_histogram(codes, offsets, node_rows[n], False, g[n], h[n], NO_WEIGHTS, mask,
                                                   1.0) for n in built[1:]])
        parent_levels = List()
        for hist in parents:
            parent_levels.append(empty_levels(offsets))
            list_present_levels(hist, offsets, mask, parent_levels[-1])
        out["histogram subtraction"] = _best_split_levels(parents, smalls, parent_levels, offsets, repeats)
    else:
        out["histogram subtraction"] = _best(lambda: _subtraction_loop(root, root, len(built) - 1), repeats)
    histograms = List([build_categorical_histogram(codes, offsets, node_rows[n], False, g[n], h[n], NO_WEIGHTS, mask,
                                                   a["constant_hessian"]) for n in searched])
    # The present levels the grower keeps for unweighted fits (shrinktree.boosting.present_levels).
    presents = List()
    for hist in histograms:
        presents.append(empty_levels(offsets))
        list_present_levels(hist, offsets, mask, presents[-1])
    sums = [np.array([v[n] for n in searched], dtype=np.float64) for v in (statistics[0], statistics[1], indices[3])]
    out["split search"] = _best(lambda: _search_loop(
        histograms, presents, *sums, offsets, mask, a["l2"], float(a["min_samples_leaf"]), a["min_hessian"],
        a["level_sigma2"], a["level_mode"], a["level_k"], a["pooled_level_gain"], a["level_method"]), repeats)
    if unit:  # the grower's choice (TreeGrower._level_noise)
        out["level noise"] = _best(lambda: unit_level_moments(codes, offsets, a["sample_indices"], a["all_rows"],
                                                              a["gradients"], mask), repeats)
    else:
        out["level noise"] = _best(lambda: level_moments(codes, a["sample_indices"], a["all_rows"], a["gradients"],
                                                         a["hessians"], a["sample_weight"], a["n_levels"], mask),
                                   repeats)
    return out


def profile(name: str, repeats: int) -> str:
    data = load_dataset(name)
    X, y = data.X, data.y
    as_numbers = X.copy()
    for column in X.columns:
        if X[column].dtype.name == "category":
            as_numbers[column] = X[column].cat.codes.astype(np.float64)
    ShrinkBoostRegressor(n_estimators=5, n_jobs=1).fit(X, y)
    ShrinkBoostRegressor(n_estimators=5, n_jobs=1).fit(as_numbers, y)
    grow_tree = grower_module.grow_tree
    grow_seconds, recorded = [], []

    def timed_grow(*args):
        start = time.perf_counter()
        result = grow_tree(*args)
        grow_seconds.append(time.perf_counter() - start)
        if len(grow_seconds) % 30 == 1 and len(recorded) < TREES_RECORDED:
            recorded.append([v.copy() if isinstance(v, np.ndarray) else v for v in args])
        return result

    fits, grows = [], []
    grower_module.grow_tree = timed_grow
    try:
        for _ in range(repeats):
            grow_seconds.clear()
            fits.append(_timed(lambda: ShrinkBoostRegressor(random_state=0, n_jobs=1).fit(X, y)))
            grows.append(sum(grow_seconds))
    finally:
        grower_module.grow_tree = grow_tree
    numbers = _best(lambda: ShrinkBoostRegressor(random_state=0, n_jobs=1).fit(as_numbers, y), repeats)
    names = grow_tree.py_func.__code__.co_varnames[:grow_tree.py_func.__code__.co_argcount]
    pieces = [_tree_pieces(args, names, repeats) for args in recorded[:TREES_RECORDED]]
    mean = {key: 1e3 * np.mean([p[key] for p in pieces]) for key in pieces[0]}
    best = int(np.argmin(fits))
    return (f"| {name} | {fits[best]:.3f} | {grows[best]:.3f} | {fits[best] - grows[best]:.3f} | {numbers:.3f} | "
            + " | ".join(f"{mean[key]:.3f}" for key in ("grow_tree", "level histograms", "histogram subtraction",
                                                        "split search", "level noise")) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    numba.set_num_threads(1)  # the pieces alone run on one thread, as in the one-thread fit
    print("| data | fit s | in grow_tree s | outside s | categoricals as numbers: fit s | per tree: grow_tree ms | "
          "level histograms ms | subtraction ms | split search ms | level noise ms |")
    print("| :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in DATASETS:
        print(profile(name, args.repeats), flush=True)


if __name__ == "__main__":
    main()
