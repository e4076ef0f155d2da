"""Multiclass accuracy, and the multiclass Newton step measured.

On every multiclass dataset of ``shrinktree.datasets.MULTICLASS`` (repeated stratified 75/25
splits, the same for all models, features ordinal-encoded), test log loss of:

* shrinktree defaults (``shrinkage="eb"``) and ``shrinkage="none"``, each with the scaled softmax
  hessian ``K / (K - 1) p (1 - p)`` (the default) and with the plain diagonal ``p (1 - p)``
  (private switch ``_diagonal_multiclass_hessian``);
* LightGBM and scikit-learn HistGradientBoosting with defaults;
* with ``--peers``, the default-settings peers of the shared registry ``shrinktree.bench.models``
  (CatBoost, ChimeraBoost, Perpetual; GPBoost has no multiclass likelihood and is recorded as failed),
  each on the DataFrame with its category columns, which it takes natively.

Fit times (one thread per model) are tabulated beside the losses.

The last columns give the paired difference (scaled minus diagonal, mean ± standard error over
the splits) for eb and for none: negative means the scaled step is better.

Run from the repository root::

    python benchmarks/multiclass.py                  # writes docs/multiclass.md
    python benchmarks/multiclass.py --repeats 2 --datasets wine,iris --output -
    python benchmarks/multiclass.py --peers --repeats 3 --output docs/multiclass.md   # block "peers"
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.metrics import log_loss  # noqa: E402
from sklearn.model_selection import StratifiedShuffleSplit  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, markdown_table, run_header, write_results  # noqa: E402

from shrinktree import ShrinkBoostClassifier  # noqa: E402
from shrinktree.bench.models import MODELS as REGISTRY  # noqa: E402
from shrinktree.datasets import MULTICLASS, load_dataset, ordinal_encode  # noqa: E402

MIN_CLASS_ROWS = 5  # classes with fewer rows cannot appear in every stratified split
MODELS = ("eb (default)", "eb, diagonal hessian", "none", "none, diagonal hessian", "LightGBM default",
          "sklearn HGB default")
# --peers: column -> registry name; these get the DataFrame (native categories), every other column ordinal codes.
PEERS = {"CatBoost default": "catboost", "ChimeraBoost default": "chimeraboost", "Perpetual default": "perpetual",
         "GPBoost": "gpboost"}


def make_model(name: str, seed: int):
    """A fresh model for one column of the table."""
    if name in PEERS:
        return REGISTRY[PEERS[name]].build("multiclass", seed, 1)
    if name == "LightGBM default":
        import lightgbm

        return lightgbm.LGBMClassifier(random_state=seed, n_jobs=1, verbose=-1)
    if name == "sklearn HGB default":
        return HistGradientBoostingClassifier(random_state=seed)
    model = ShrinkBoostClassifier(shrinkage="none" if name.startswith("none") else "eb", random_state=seed)
    if "diagonal" in name:
        model._diagonal_multiclass_hessian = True
    return model


def evaluate(name: str, repeats: int, models: tuple[str, ...]) -> dict:
    """Test log loss and fit seconds of every model on every split of one dataset.

    A peer (``PEERS``) that raises is recorded in ``failures`` with its error and fitted no further.
    """
    data = load_dataset(name)
    y = np.asarray(data.y).astype(str)
    labels, counts = np.unique(y, return_counts=True)
    keep = np.isin(y, labels[counts >= MIN_CLASS_ROWS])
    frame = data.X[keep].reset_index(drop=True)
    X, y = ordinal_encode(frame), y[keep]
    losses = {model: [] for model in models}
    seconds = {model: [] for model in models}
    failures = {}
    for model_name in models:  # compile the numba kernels of shrinktree and ChimeraBoost, untimed
        if model_name in MODELS[:4] or (model_name in PEERS and REGISTRY[PEERS[model_name]].compiles):
            try:
                make_model(model_name, 0).fit(frame if model_name in PEERS else X, y)
            except Exception:  # noqa: BLE001 - recorded by the timed fits
                pass
    splitter = StratifiedShuffleSplit(n_splits=repeats, test_size=0.25, random_state=0)
    for seed, (train, test) in enumerate(splitter.split(X, y)):
        for model_name in models:
            if model_name in failures:
                continue
            inputs = frame if model_name in PEERS else X
            X_train = inputs.iloc[train] if model_name in PEERS else inputs[train]
            X_test = inputs.iloc[test] if model_name in PEERS else inputs[test]
            start = time.perf_counter()
            try:
                model = make_model(model_name, seed).fit(X_train, y[train])
                elapsed = time.perf_counter() - start
                proba = model.predict_proba(X_test)
            except Exception as exc:
                if model_name not in PEERS:
                    raise
                failures[model_name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
                continue
            seconds[model_name].append(elapsed)
            losses[model_name].append(log_loss(y[test], proba, labels=model.classes_))
    return {"rows": len(y), "classes": len(np.unique(y)), "failures": failures,
            "losses": {m: np.array(v) for m, v in losses.items() if m not in failures},
            "seconds": {m: np.array(v) for m, v in seconds.items() if m not in failures}}


def paired(a: np.ndarray, b: np.ndarray) -> str:
    diff = a - b
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
    return f"{diff.mean():+.4f} ± {se:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="stratified 75/25 splits per dataset")
    parser.add_argument("--datasets", default=",".join(MULTICLASS), help="comma-separated names")
    parser.add_argument("--output", default=str(REPO_ROOT / "docs" / "multiclass.md"),
                        help="markdown file for the results ('-' for none)")
    parser.add_argument("--peers", action="store_true",
                        help="also fit " + ", ".join(PEERS) + " (written as the result block 'peers')")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    try:
        import lightgbm  # noqa: F401

        models = MODELS
    except ImportError:
        models = tuple(m for m in MODELS if m != "LightGBM default")
    if args.peers:
        missing = [name for name in PEERS.values() if not REGISTRY[name].available()]
        if missing:
            parser.error(f"--peers needs the packages of {', '.join(missing)}")
        models = (*models, *PEERS)
    start = time.perf_counter()
    rows, time_rows, failures = [], [], []
    peer_wins = {m: 0 for m in PEERS} if args.peers else {}
    peer_n = dict.fromkeys(peer_wins, 0)
    for name in [d for d in args.datasets.split(",") if d]:
        result = evaluate(name, args.repeats, models)
        losses, seconds = result["losses"], result["seconds"]
        best = min(losses[m].mean() for m in losses)
        cells = [("failed" if m not in losses else f"**{losses[m].mean():.4f}**" if losses[m].mean() == best
                  else f"{losses[m].mean():.4f}") for m in models]
        rows.append([name, f"{result['rows']:,}", str(result["classes"]), *cells,
                     paired(losses["eb (default)"], losses["eb, diagonal hessian"]),
                     paired(losses["none"], losses["none, diagonal hessian"])])
        time_rows.append([name, *[f"{seconds[m].mean():.2f}" if m in seconds else "failed" for m in models]])
        failures += [f"- {name}, {m}: {why}" for m, why in result["failures"].items()]
        for m in peer_wins:
            if m in losses:
                peer_n[m] += 1
                peer_wins[m] += bool(losses["eb (default)"].mean() < losses[m].mean())
        print(f"{name}: " + ", ".join(f"{m} {losses[m].mean():.4f}" for m in losses), flush=True)
    header = ["dataset", "rows", "classes", *models, "eb: scaled - diagonal", "none: scaled - diagonal"]
    peer_lines = []
    if peer_wins:
        peer_lines = ["", "shrinktree's default (ordinal codes) has a lower mean test log loss than "
                      + "; ".join(f"{m} on {peer_wins[m]} of {peer_n[m]}" for m in peer_wins) + " datasets "
                      "(the peers on native categories)."]
        if failures:
            peer_lines += ["", "Peers without a result (the error each raised):", "", *failures]
    block = "\n".join([
        *run_header("benchmarks/multiclass.py"),
        "",
        "Every model on ordinal codes (`ordinal_encode`: categorical columns as integer codes, treated as "
        "ordered numbers), including shrinktree's, whose default would split a DataFrame's category columns "
        "natively.",
        "",
        f"Test log loss (lower is better), mean over {args.repeats} stratified 75/25 splits; the last two "
        "columns are paired differences (mean ± standard error), negative where the scaled hessian is better.",
        "",
        markdown_table(header, rows),
        *peer_lines,
        "",
        "Mean fit time per split (seconds, one thread per model; shrinktree's and ChimeraBoost's kernels "
        "compiled before timing):",
        "",
        markdown_table(["dataset", *models], time_rows),
        "",
        f"Run time: {time.perf_counter() - start:.0f} s (one thread per model).",
    ])
    print(block)
    if args.output != "-":
        write_results(Path(args.output), "benchmarks/multiclass.py", "Multiclass benchmark", __doc__, block,
                      key="peers" if args.peers else None)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
