"""One-thread fit time of the default against another categorical level scan, with LightGBM beside them.

    python benchmarks/level_scan_speed.py                      # egsingle, wages, star, scotssec; best of 5
    python benchmarks/level_scan_speed.py --datasets wages --repeats 3

The variant is the default with the private measurement switch ``_level_mode`` set (today
``LEVELS_EB_BLOCK``: a node's levels of mass below its estimated ``k`` scanned as one block, the measured
form of LightGBM's bounded categorical search; docs/ablations.md). Each set is fitted by the default, the
variant and LightGBM with the suite's 300 trees (``benchmarks/_speed_grouped.py``), one thread each,
interleaved ``--repeats`` times after an untimed warm-up fit; the best time of each is kept. Accuracy is
``benchmarks/ablations.py``'s job (candidate "weak levels as one block").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _speed_grouped  # noqa: E402

DEFAULT, VARIANT, LIGHTGBM = "default", "weak levels as one block", "LightGBM"


def _model(kind: str, task: str):
    from shrinktree.boosting.splitting import LEVELS_EB_BLOCK

    library = _speed_grouped.LIGHTGBM if kind == LIGHTGBM else _speed_grouped.SHRINKTREE
    model = _speed_grouped.make_model(library, task, 1)
    if kind == VARIANT:
        model._level_mode = LEVELS_EB_BLOCK
    return model


def time_set(name: str, repeats: int) -> dict:
    """Best one-thread fit seconds of the default, the variant and LightGBM on one set."""
    from shrinktree.datasets import load_dataset

    data = load_dataset(name)
    X, y, task = data.X, data.y, data.task
    kinds = (DEFAULT, VARIANT, LIGHTGBM)
    for kind in kinds:  # load the kernels, untimed
        _model(kind, task).fit(X.iloc[:2000], y[:2000])
    times = {kind: [] for kind in kinds}
    for round_ in range(repeats):
        for kind in kinds[round_ % 3:] + kinds[:round_ % 3]:
            model = _model(kind, task)
            start = time.perf_counter()
            model.fit(X, y)
            times[kind].append(time.perf_counter() - start)
    return {kind: min(t) for kind, t in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="egsingle,wages,star,scotssec")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print("| data | default s | / LightGBM | weak levels as one block s | / LightGBM | / default | LightGBM s |")
    print("| :--- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.datasets.split(","):
        best = time_set(name, args.repeats)
        ours, variant, lgbm = best[DEFAULT], best[VARIANT], best[LIGHTGBM]
        print(f"| {name} | {ours:.3f} | {ours / lgbm:.2f}x | {variant:.3f} | {variant / lgbm:.2f}x | "
              f"{variant / ours:.2f}x | {lgbm:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
