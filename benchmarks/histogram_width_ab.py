"""Four features per histogram pass against two, in one process, on the nodes of real fits (one thread).

The serial histogram kernels sum four features per pass over a node's rows where two used to (docs/speed.md,
"Sorted rows: chains of adds through memory"). This script times both widths on the same inputs, interleaved,
best of ``--rounds``, and prints width 4 / width 2:

- *numeric*: ``histogram._accumulate_group`` with a constant hessian (the default regression) over the first
  tree's growing rows of a default fit of ``NAME`` and the two halves of those rows split at the median bin of
  each of the first six features (the sorted subsets a partition leaves);
- *level noise*: ``level_noise._unit_group`` over half of the rows, drawn at random and kept in order, of the
  set's categorical columns;
- ``sorted`` and ``random``: eight generated uint8 columns of 60 values, sorted or not, 12,000 rows.

    python benchmarks/histogram_width_ab.py egsingle wages star friedman1 diabetes insteval sorted random

``NAME`` is a set of ``benchmarks/fit_loop.py`` or a grouped set of :func:`shrinktree.datasets.load_dataset`.
Each sum adds the rows in the same order at either width, so the histograms are the same bit for bit (checked).
"""

from __future__ import annotations

import inspect
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shrinktree.boosting import grower, level_noise  # noqa: E402
from shrinktree.boosting import histogram as hist_module  # noqa: E402

REPEATS = 20


@numba.njit(cache=False)
def _numeric(binned, rows, g, active, n_bins, width, repeats):
    for _ in range(repeats):
        hist = np.zeros((binned.shape[0], n_bins, 3))
        for group in range((active.shape[0] + width - 1) // width):
            hist_module._accumulate_group(binned, rows, g, g, hist_module.NO_WEIGHTS, active, group, width, hist, 1.0)
    return hist


@numba.njit(cache=False)
def _level_noise(codes, offsets, rows, g, active, width, repeats):
    for _ in range(repeats):
        sums = np.zeros((offsets[-1], 4))
        for group in range((active.shape[0] + width - 1) // width):
            level_noise._unit_group(codes, offsets, rows, False, g, active, group, width, sums)
    return sums


def _ratio(run, rounds):
    # width 4 / width 2, best of ``rounds`` interleaved (the first round warms up), and whether both agree.
    times = {2: [], 4: []}
    for round_ in range(rounds + 1):
        for width in ((2, 4) if round_ % 2 else (4, 2)):
            start = time.perf_counter()
            run(width)
            if round_:
                times[width].append(time.perf_counter() - start)
    return min(times[4]) / min(times[2])


def _recorded_tree(name):
    from fit_loop import load

    estimator, X, y = load(name)
    names = list(inspect.signature(grower.grow_tree.py_func).parameters)
    captured = []
    grow_tree = grower.grow_tree

    def recording(*args):
        if not captured:
            captured.append(dict(zip(names, (a.copy() if isinstance(a, np.ndarray) else a for a in args))))
        return grow_tree(*args)

    grower.grow_tree = recording
    try:
        estimator(random_state=0, n_jobs=1, n_estimators=1).fit(X, y)
    finally:
        grower.grow_tree = grow_tree
    return captured[0]


def numeric_nodes(name):
    """``(binned, nodes, active, n_bins)`` of the first tree of a default fit of ``name``."""
    tree = _recorded_tree(name)
    binned, rows = tree["binned"], tree["sample_indices"]
    nodes = [rows]
    for f in tree["active_features"][:6]:
        column = binned[f, rows]
        nodes += [rows[column <= np.median(column)], rows[column > np.median(column)]]
    return binned, [n for n in nodes if len(n) > 50], tree["active_features"], int(tree["missing_bin"]) + 1


def compare_numeric(binned, nodes, active, n_bins, rounds):
    gradients = np.random.default_rng(0).normal(size=binned.shape[1])
    ordered = [gradients[rows] for rows in nodes]

    def run(width):
        return [_numeric(binned, rows, g, active, n_bins, width, REPEATS) for rows, g in zip(nodes, ordered)]

    same = all(a.tobytes() == b.tobytes() for a, b in zip(run(2), run(4)))
    return _ratio(run, rounds), same


def compare_level_noise(name, rounds):
    from shrinktree.datasets import load_dataset

    X = load_dataset(name).X
    columns = [c for c in X.columns if X[c].dtype.name == "category"]
    if len(columns) < 3:
        return None
    codes = np.stack([np.maximum(X[c].cat.codes.to_numpy(), 0).astype(np.int32) for c in columns])
    n_levels = np.array([X[c].cat.categories.size for c in columns])
    offsets = np.concatenate([[0], np.cumsum(n_levels + 1)]).astype(np.int64)
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(len(X), len(X) // 2, replace=False)).astype(np.int64)
    g = rng.normal(size=len(X))
    active = np.arange(len(columns), dtype=np.int64)

    def run(width):
        return _level_noise(codes, offsets, rows, g, active, width, REPEATS)

    return _ratio(run, rounds), run(2).tobytes() == run(4).tobytes(), len(columns)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    numba.set_num_threads(1)
    for name in args.names:
        if name in ("sorted", "random"):
            rng = np.random.default_rng(0)
            binned = rng.integers(0, 60, size=(8, 12_000)).astype(np.uint8)
            if name == "sorted":
                binned.sort(axis=1)
            nodes, active, n_bins = [np.arange(12_000, dtype=np.int64)], np.arange(8, dtype=np.int64), 60
        else:
            binned, nodes, active, n_bins = numeric_nodes(name)
        ratio, same = compare_numeric(binned, nodes, active, n_bins, args.rounds)
        print(f"{name}: numeric histograms ({len(active)} features, {n_bins} bins, {len(nodes)} nodes) "
              f"width 4 / width 2 = {ratio:.3f}{'' if same else ' (DIFFERENT SUMS)'}")
        if name not in ("sorted", "random", "friedman1", "diabetes", "breast_cancer", "digits", "wine"):
            level = compare_level_noise(name, args.rounds)
            if level is not None:
                print(f"{name}: unit level noise ({level[2]} categorical columns) width 4 / width 2 = {level[0]:.3f}"
                      f"{'' if level[1] else ' (DIFFERENT SUMS)'}")


if __name__ == "__main__":
    main()
