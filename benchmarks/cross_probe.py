"""What the probe fit of ``cross_features`` costs, and whether a longer probe would pick other pairs (issue 16).

For each dataset (the 75% training rows of the first split of ``benchmarks/ablations.py``, datasets above
50,000 rows subsampled as there, one thread): the seconds of the probe fit (25 trees, the default, and
longer ones) against the seconds of the default fit, best of ``--repeats`` interleaved runs in one
process, and the pairs each probe chooses (``shrinktree.boosting.cross_features.choose_pairs``).

Run from the repository root::

    python benchmarks/cross_probe.py --datasets diamonds,computers,star --repeats 3
"""

from __future__ import annotations

import os

from _bench_threads import pin_threads  # benchmarks/ is sys.path[0] when a script runs

pin_threads()

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ablations  # noqa: E402
from _common import markdown_table  # noqa: E402

from shrinktree.boosting.cross_features import DEFAULT_TOP_FEATURES, choose_pairs, probe_gains  # noqa: E402
from shrinktree.datasets import load_dataset  # noqa: E402

PROBES = (25, 50, 100)


def training_rows(name: str):
    """The first ablation split's training rows of dataset ``name`` and its task."""
    from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

    data = load_dataset(name)
    X, y = data.X, np.asarray(data.y)
    if len(y) > ablations.MAX_ROWS:
        keep = np.sort(np.random.default_rng(0).choice(len(y), ablations.MAX_ROWS, replace=False))
        X, y = X.iloc[keep].reset_index(drop=True), y[keep]
    splitter = (ShuffleSplit if data.task == "regression" else StratifiedShuffleSplit)(
        n_splits=1, test_size=ablations.TEST_SIZE, random_state=0)
    train, _ = next(splitter.split(X, y))
    return X.iloc[train], y[train], data.task


def measure(name: str, repeats: int) -> list[str]:
    """One table row: seconds of the default fit, each probe's share of it, and whether its pairs differ."""
    X, y, task = training_rows(name)
    model = ablations.make_model(ablations.DEFAULT, task, 0)
    best = {"default": np.inf, **{n: np.inf for n in PROBES}}
    pairs = {}
    model.fit(X.iloc[:200], y[:200])  # load the compiled kernels, untimed
    for _ in range(repeats):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            start = time.perf_counter()
            model.fit(X, y)
            best["default"] = min(best["default"], time.perf_counter() - start)
            for n_trees in PROBES:
                start = time.perf_counter()
                gain, categorical = probe_gains(model, X, y, None, None, n_trees)
                best[n_trees] = min(best[n_trees], time.perf_counter() - start)
                pairs[n_trees] = choose_pairs(gain, categorical, DEFAULT_TOP_FEATURES)
    same = ["same" if np.array_equal(pairs[n], pairs[PROBES[0]]) else "other" for n in PROBES[1:]]
    return [name, f"{len(y):,}", f"{best['default']:.2f}", *[f"{best[n] / best['default']:.3f}" for n in PROBES],
            *same]


def main(argv: list[str] | None = None) -> int:
    """Print the table; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="diamonds,computers,star")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rows = [measure(name, args.repeats) for name in args.datasets.split(",")]
    header = ["dataset", "training rows", "default fit (s)", *[f"{n}-tree probe / default fit" for n in PROBES],
              *[f"pairs of the {n}-tree probe" for n in PROBES[1:]]]
    print(f"Best of {args.repeats} interleaved runs, one thread; load: {os.getloadavg()[0]:.2f} (1 minute)\n")
    print(markdown_table(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
