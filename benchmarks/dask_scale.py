"""Fit time and peak memory per worker of ``shrinktree.dask`` next to ``lightgbm.dask`` and the single-machine fit.

For each size in ``--rows``: generated data (10 numeric features, 5% missing values, a nonlinear target)
made on the workers of a ``distributed.LocalCluster`` of this machine (``--workers`` processes of one
thread, ``--partitions`` per worker) and persisted there; then, one after the other, with the workers
restarted before each fit so that their peak memory is the fit's:

* ``DaskShrinkBoostRegressor`` (default pooling, honest empirical Bayes);
* ``lightgbm.dask.DaskLGBMRegressor`` on the same cluster and data (same trees, leaves, bins, learning rate);
* ``ShrinkBoostRegressor`` on the same rows in a child process (its peak resident memory, and its
  predictions on the first 20,000 rows, compared with the distributed model's).

All fit ``--trees`` trees of 31 leaves on 255 bins.  Reported: wall-clock fit time, peak resident memory
of the busiest worker (``ru_maxrss``) next to that of an idle worker with the libraries imported and to
the float64 size of the data it holds, and per tree the bytes of summed
histograms and node sums the client received and the number of rounds of tasks.  The machine is shared
(``uptime`` load in the header): timings are noisy.

Run from the repository root::

    python benchmarks/dask_scale.py                     # 1M and 10M rows, writes docs/dask.md
    python benchmarks/dask_scale.py --rows 200000 --trees 5 --output -
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, git_commit, markdown_table, run_header, write_results  # noqa: E402

N_FEATURES = 10
N_LEAVES = 31
LEARNING_RATE = 0.1
SEED = 0
PREDICTED_ROWS = 20_000


def make_data(n_rows: int, chunk: int):
    """The benchmark's data as dask arrays (deterministic: the same for any scheduler)."""
    import dask.array as da

    state = da.random.RandomState(SEED)
    X = state.normal(size=(n_rows, N_FEATURES), chunks=(chunk, N_FEATURES))
    missing = state.random_sample(size=(n_rows, N_FEATURES), chunks=(chunk, N_FEATURES)) < 0.05
    X = da.where(missing, np.nan, X)
    Z = da.nan_to_num(X)
    y = 2 * Z[:, 0] + da.sin(3 * Z[:, 1]) + Z[:, 2] * Z[:, 3] + state.normal(size=n_rows, chunks=chunk)
    return X, y


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _local_child(n_rows: int, chunk: int, trees: int, out: str) -> None:
    """The single-machine fit, in a child process (its own peak memory); writes a JSON record and predictions."""
    import dask

    from shrinktree import ShrinkBoostRegressor

    X, y = make_data(n_rows, chunk)
    with dask.config.set(scheduler="synchronous"):
        X, y = dask.compute(X, y)
    before = _peak_mb()
    start = time.perf_counter()
    model = ShrinkBoostRegressor(n_estimators=trees, max_leaf_nodes=N_LEAVES, learning_rate=LEARNING_RATE,
                                 random_state=SEED).fit(X, y)
    seconds = time.perf_counter() - start
    np.save(out + ".npy", model.predict(X[:PREDICTED_ROWS]))
    Path(out).write_text(json.dumps({"seconds": seconds, "peak_mb": _peak_mb(), "data_peak_mb": before}))


def _import_libraries() -> None:
    import lightgbm  # noqa: F401

    import shrinktree.dask  # noqa: F401


def _restart(client, n_workers: int) -> float:
    """Fresh worker processes with the libraries imported; returns their largest resident peak so far."""
    client.restart(timeout=300)
    client.wait_for_workers(n_workers, timeout=120)
    client.run(_import_libraries)
    return _worker_peaks(client)


def _persisted(client, n_rows: int, chunk: int):
    from distributed import wait

    X, y = make_data(n_rows, chunk)
    X, y = client.persist([X, y])
    wait([X, y])
    return X, y


def _worker_peaks(client) -> float:
    return max(client.run(_peak_mb).values())


def run_size(client, n_rows: int, args) -> dict:
    from lightgbm.dask import DaskLGBMRegressor

    from shrinktree.dask import DaskShrinkBoostRegressor

    n_partitions = args.workers * args.partitions
    chunk = -(-n_rows // n_partitions)
    record = {"rows": n_rows, "partitions": n_partitions,
              "data_mb_per_worker": n_rows * (N_FEATURES + 1) * 8 / args.workers / 2**20}
    record["idle_worker_mb"] = _restart(client, args.workers)
    X, y = _persisted(client, n_rows, chunk)
    start = time.perf_counter()
    model = DaskShrinkBoostRegressor(n_estimators=args.trees, max_leaf_nodes=N_LEAVES, learning_rate=LEARNING_RATE,
                                     random_state=SEED).fit(X, y)
    record["shrinktree_dask_seconds"] = time.perf_counter() - start
    record["shrinktree_dask_peak_mb"] = _worker_peaks(client)
    stats = model.distributed_stats_
    record["bytes_per_tree"] = float(np.mean(stats["bytes_to_client_per_tree"]))
    record["rounds_per_tree"] = float(np.mean(stats["rounds_per_tree"]))
    record["seconds_per_tree"] = float(np.mean(stats["seconds_per_tree"]))
    first = model.predict(X[:PREDICTED_ROWS]).compute()
    del X, y
    if not args.skip_lightgbm:
        _restart(client, args.workers)
        X, y = _persisted(client, n_rows, chunk)
        start = time.perf_counter()
        DaskLGBMRegressor(client=client, n_estimators=args.trees, num_leaves=N_LEAVES, learning_rate=LEARNING_RATE,
                          max_bin=255, min_child_samples=20, verbose=-1, random_state=SEED).fit(X, y)
        record["lightgbm_dask_seconds"] = time.perf_counter() - start
        record["lightgbm_dask_peak_mb"] = _worker_peaks(client)
        del X, y
    if not args.skip_local:
        _restart(client, args.workers)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "local.json")
            subprocess.run([sys.executable, __file__, "--local-child", str(n_rows), str(chunk), str(args.trees), out],
                           check=True, cwd=REPO_ROOT)
            local = json.loads(Path(out).read_text())
            record["local_seconds"] = local["seconds"]
            record["local_peak_mb"] = local["peak_mb"]
            record["max_abs_prediction_difference"] = float(np.max(np.abs(np.load(out + ".npy") - first)))
    return record


def render(records: list[dict], args, load: str) -> str:
    header = ["rows", "shrinktree.dask fit (s)", "lightgbm.dask fit (s)", "single machine fit (s)",
              "peak MB per worker: shrinktree.dask", "lightgbm.dask", "idle worker", "data MB per worker",
              "single machine peak MB", "client received per tree (KB)", "rounds per tree",
              "max abs prediction difference"]

    def cell(record, key, fmt="{:.1f}"):
        return fmt.format(record[key]) if key in record else "not run"

    rows = [[f"{r['rows']:,}", cell(r, "shrinktree_dask_seconds"), cell(r, "lightgbm_dask_seconds"),
             cell(r, "local_seconds"), cell(r, "shrinktree_dask_peak_mb", "{:.0f}"),
             cell(r, "lightgbm_dask_peak_mb", "{:.0f}"), cell(r, "idle_worker_mb", "{:.0f}"),
             cell(r, "data_mb_per_worker", "{:.0f}"),
             cell(r, "local_peak_mb", "{:.0f}"), f"{r['bytes_per_tree'] / 1024:.0f}", f"{r['rounds_per_tree']:.0f}",
             cell(r, "max_abs_prediction_difference", "{:.1e}")] for r in records]
    lines = run_header("dask_scale.py")
    lines += [f"LocalCluster of {args.workers} worker processes (1 thread each), {args.partitions} partitions per "
              f"worker; {args.trees} trees of {N_LEAVES} leaves, 255 bins, {N_FEATURES} numeric features with 5% "
              f"missing values. Load average before the run: {load}.", "", markdown_table(header, rows)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--trees", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=2, help="partitions per worker")
    parser.add_argument("--skip-lightgbm", action="store_true")
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--output", default="docs/dask.md", help="markdown page to write the results into, or -")
    parser.add_argument("--local-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.local_child:
        n_rows, chunk, trees, out = args.local_child
        _local_child(int(n_rows), int(chunk), int(trees), out)
        return
    from distributed import Client, LocalCluster

    git_commit()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           memory_limit=0, silence_logs=40)
    records = []
    with Client(cluster) as client:
        for n_rows in args.rows:
            records.append(run_size(client, n_rows, args))
            print(json.dumps(records[-1]), flush=True)
    cluster.close()
    block = render(records, args, load)
    if args.output == "-":
        print(block)
        return
    (REPO_ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
    (REPO_ROOT / "benchmarks" / "results" / "dask_scale.json").write_text(json.dumps(records, indent=1) + "\n")
    write_results(REPO_ROOT / args.output, "dask_scale.py", "Training on a Dask cluster", "", block)


if __name__ == "__main__":
    main()
