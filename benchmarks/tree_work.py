"""How much work a default fit's trees do, and where the time outside the compiled node loop goes.

    python benchmarks/tree_work.py
    python benchmarks/tree_work.py --datasets diabetes,digits --repeats 7

For each set (the small-data suite's, ``benchmarks/_speed_small.py``, and the grouped suite's,
``benchmarks/_speed_grouped.py``), one thread per library, it prints:

- splits per tree of the default shrinktree fit and of LightGBM with the suite's settings (mean over all trees,
  and over the second half of the trees, where LightGBM's shrink as its training loss nears zero);
- fit time per split of each (best of ``--repeats`` fits, divided by the fit's splits);
- the time outside the compiled node loop (``best_first.grow_tree``, timed by a wrapper around it) per tree:
  the Python and the smaller compiled calls of each tree;
- the share of shrinktree's trees pooled to their root (``np.isinf(model.pooling_strength_)``: the estimate found
  no spread between the tree's leaves, so the tree predicts one value) and the share of all splits those trees
  hold: the node loop's work that ends as one value.

Nothing is asserted; the figures back ``docs/speed.md`` ("Measured beside it and not changed").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _speed_grouped  # noqa: E402
import _speed_small  # noqa: E402

SMALL = {"diabetes": 0, "breast_cancer": 1, "friedman1": 2, "binary5k": 3, "digits": 4}
GROUPED = ("egsingle", "wages", "star")
DEFAULT = ("diabetes", "breast_cancer", "friedman1", "digits", *GROUPED)


def load(name: str):
    """``(task, X, y, make_model)``: ``make_model(library)`` returns that suite's one-thread estimator."""
    if name in SMALL:
        _, task, X, y = _speed_small.datasets()[SMALL[name]]
        return task, X, y, lambda library: _speed_small.make_model(library, task)
    from shrinktree.datasets import load_dataset

    data = load_dataset(name)
    return data.task, data.X, data.y, lambda library: _speed_grouped.make_model(library, data.task, 1)


class NodeLoopTimer:
    """Wraps ``grower.grow_tree`` (the compiled node loop as the grower calls it) and adds up its time."""

    def __init__(self):
        from shrinktree.boosting import grower

        self._module = grower
        self._inner = grower.grow_tree
        self.seconds = 0.0
        self.calls = 0

    def __enter__(self) -> NodeLoopTimer:
        inner = self._inner

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        self._module.grow_tree = timed
        return self

    def __exit__(self, *exc) -> None:
        self._module.grow_tree = self._inner


def shrinktree_splits(model) -> np.ndarray:
    """Splits of every tree, in fitting order (iterations, then outputs)."""
    return np.array([int((tree.left != -1).sum()) for trees in model._trees for tree in trees])


def lightgbm_splits(model) -> np.ndarray:
    """Splits of every tree of a fitted LightGBM estimator."""
    return np.array([info["num_leaves"] - 1 for info in model.booster_.dump_model()["tree_info"]])


def measure(name: str, repeats: int) -> dict:
    """The figures of one set (see the module docstring)."""
    task, X, y, make_model = load(name)
    for library in (_speed_small.SHRINKTREE, _speed_small.LIGHTGBM):  # load kernels, warm code paths
        make_model(library).fit(X, y)
    best = {"shrinktree": np.inf, "lightgbm": np.inf, "outside": np.inf}
    for _ in range(repeats):
        ours = make_model(_speed_small.SHRINKTREE)
        with NodeLoopTimer() as timer:
            start = time.perf_counter()
            ours.fit(X, y)
            seconds = time.perf_counter() - start
        best["shrinktree"] = min(best["shrinktree"], seconds)
        best["outside"] = min(best["outside"], (seconds - timer.seconds) / timer.calls)
        theirs = make_model(_speed_small.LIGHTGBM)
        start = time.perf_counter()
        theirs.fit(X, y)
        best["lightgbm"] = min(best["lightgbm"], time.perf_counter() - start)
    ours_splits, their_splits = shrinktree_splits(ours), lightgbm_splits(theirs)
    at_root = np.isinf(np.asarray(ours.pooling_strength_, dtype=np.float64)).ravel()
    return {
        "name": name, "task": task, "rows": X.shape[0],
        "ours_trees": ours_splits.size, "their_trees": their_splits.size,
        "ours_splits": ours_splits.mean(), "their_splits": their_splits.mean(),
        "ours_late": ours_splits[ours_splits.size // 2:].mean(),
        "their_late": their_splits[their_splits.size // 2:].mean(),
        "ours_us_split": 1e6 * best["shrinktree"] / max(ours_splits.sum(), 1),
        "their_us_split": 1e6 * best["lightgbm"] / max(their_splits.sum(), 1),
        "ours_s": best["shrinktree"], "their_s": best["lightgbm"],
        "outside_us_tree": 1e6 * best["outside"],
        "root_share": at_root.mean(),
        "root_split_share": ours_splits[at_root].sum() / max(ours_splits.sum(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DEFAULT),
                        help=f"comma-separated: {', '.join(SMALL)}, or a grouped set such as {', '.join(GROUPED)}")
    parser.add_argument("--repeats", type=int, default=5, help="fits of each library per set; the best is kept")
    args = parser.parse_args()
    header = ("set", "trees ours/LGBM", "splits/tree ours", "LGBM", "2nd half ours", "LGBM", "fit s ours", "LGBM",
              "us/split ours", "LGBM", "outside node loop us/tree", "trees pooled to root", "their share of splits")
    print("| " + " | ".join(header) + " |")
    print("|" + " :--- |" + " ---: |" * (len(header) - 1))
    for name in args.datasets.split(","):
        r = measure(name, args.repeats)
        cells = (r["name"], f"{r['ours_trees']}/{r['their_trees']}", f"{r['ours_splits']:.1f}",
                 f"{r['their_splits']:.1f}", f"{r['ours_late']:.1f}", f"{r['their_late']:.1f}",
                 f"{r['ours_s']:.3f}", f"{r['their_s']:.3f}",
                 f"{r['ours_us_split']:.1f}", f"{r['their_us_split']:.1f}", f"{r['outside_us_tree']:.0f}",
                 f"{100 * r['root_share']:.0f}%", f"{100 * r['root_split_share']:.0f}%")
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
