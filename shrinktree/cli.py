"""shrinktree command line: ``bench`` (stability comparison), ``fit`` and ``predict`` on CSV files.

``shrinktree bench`` with no arguments compares shrinktree with plain boosting and the other
installed boosters on a dataset bundled with scikit-learn: test accuracy, how much predictions
move when the model is refitted on random halves of the training rows, how well feature
importances agree between those refits, and fit time.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

import pandas as pd

DEFAULT_DATASET = "diabetes"
MODEL_FORMAT = "shrinktree-cli-model"
MODEL_FORMAT_VERSION = 1


class CliError(Exception):
    """An error reported to the user as one line, with exit status 1."""


class ProgressLine:
    """A one-line progress display on a stream (redrawn in place on a terminal, one line per step otherwise)."""

    def __init__(self, stream=None, enabled: bool = True):
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled
        self.start = time.perf_counter()
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._width = 0

    def __call__(self, done: int, total: int, message: str) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        line = f"[{done:>{len(str(total))}}/{total}] {elapsed:6.1f}s  {message}"
        if self.interactive:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.interactive and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()


# -- bench -------------------------------------------------------------------------------------
def _bench_data(args: argparse.Namespace):
    from .bench.tabular import as_categories, infer_task, read_csv, split_target
    from .datasets import BUNDLED, available_datasets, load_dataset

    if args.csv is not None:
        if args.target is None:
            raise CliError("--csv needs --target COL, the column to predict.")
        X, y = split_target(read_csv(args.csv), args.target, source=str(args.csv))
        task = infer_task(y, args.task)
        return Path(args.csv).stem, as_categories(X), y.to_numpy(), task, f"{args.csv} (target {args.target!r})"
    if args.target is not None:
        raise CliError("--target is only used with --csv.")
    name = args.dataset or DEFAULT_DATASET
    if name not in available_datasets():
        raise CliError(f"Unknown dataset {name!r}; choose one of {', '.join(available_datasets())}.")
    try:
        data = load_dataset(name)
    except ImportError as exc:
        raise CliError(f"{exc} (bundled without extras: {', '.join(BUNDLED)})") from exc
    return data.name, data.X, data.y, data.task, data.source


def _bench(args: argparse.Namespace) -> int:
    from .bench import run_stability
    from .bench.models import MODELS
    from .bench.report import error_name, format_result

    models = None
    if args.models:
        models = [name.strip() for item in args.models for name in item.split(",") if name.strip()]
    name, X, y, task, source = _bench_data(args)
    halves = args.halves if args.halves is not None else (2 if args.quick else 4)
    max_rows = args.max_rows if args.max_rows is not None else (5_000 if args.quick else 50_000)
    progress = ProgressLine(enabled=not args.no_progress)
    try:
        result = run_stability(X, y, task, models, dataset=name, n_halves=halves, n_repeats=args.repeats,
                               max_rows=max_rows, importance_rows=500 if args.quick else 2000,
                               random_state=args.seed, n_threads=args.threads or None, progress=progress)
    finally:
        progress.close()
    table = result.table
    task = table["task"].iloc[0]
    print(f"dataset: {name} - {source}; {task}, {int(table['n_rows'].iloc[0]):,} rows x "
          f"{int(table['n_features'].iloc[0])} features; {args.repeats} train/test split(s) (75/25), "
          f"{halves} random-half refits per model")
    print(format_result(table))
    print()
    for line in _headline(table):
        print(line)
    print(f"test error: {error_name(task)} on the test rows (lower is better).")
    print("spread: mean over test rows of the sd of predictions across the random-half refits"
          + (" / sd(y)" if task == "regression" else " (class probabilities)") + " (lower is more stable).")
    print("importance rank corr: Spearman correlation of permutation importances between refits (higher is "
          "more stable). SHAP corr: correlation of each test row's exact SHAP values between refits, averaged "
          "(higher is more stable; '-' for models without TreeSHAP). fit s: seconds to fit on the training rows.")
    for note in result.notes:
        print(f"note: {note}")
    if result.skipped:
        missing = sorted({MODELS[m].requires for m in result.skipped})
        print(f"note: skipped {', '.join(result.skipped)} (not installed: {', '.join(missing)}; "
              "pip install 'shrinktree[bench]')")
    if args.output:
        _write_csv(table, args.output)
        print(f"results written to {args.output}")
    return 0


def _headline(table: pd.DataFrame) -> list[str]:
    """Sentences comparing shrinktree's defaults with plain boosting and with the most stable other model."""
    ok = table[~table["failed"]].set_index("model")
    if "shrinktree" not in ok.index or len(ok) < 2:
        return []
    ours = ok.loc["shrinktree"]
    lines = []
    for other in dict.fromkeys(["shrinktree-none", ok.drop(index="shrinktree")["spread"].idxmin()]):
        if other not in ok.index:
            continue
        theirs = ok.loc[other]
        lines.append(f"shrinktree vs {other}: prediction spread {ours['spread']:.4f} vs {theirs['spread']:.4f} "
                     f"({_change(ours['spread'], theirs['spread'])}), test error {ours['error']:.4f} vs "
                     f"{theirs['error']:.4f} ({_change(ours['error'], theirs['error'])})")
    return lines


def _change(ours: float, theirs: float) -> str:
    if not theirs or pd.isna(theirs) or pd.isna(ours):
        return "n/a"
    return f"{(ours / theirs - 1) * 100:+.0f}%"


# -- fit / predict -----------------------------------------------------------------------------
def _fit(args: argparse.Namespace) -> int:
    from .bench.tabular import CategoryEncoder, categorical_columns, infer_task, read_csv, split_target
    from .boosting import ShrinkBoostClassifier, ShrinkBoostRegressor

    frame = read_csv(args.csv)
    n_read = len(frame)
    X, y = split_target(frame, args.target, source=str(args.csv))
    task = infer_task(y, args.task)
    encoder = CategoryEncoder()
    matrix = encoder.fit_transform(X)
    if len(X) < 2:
        raise CliError(f"{args.csv} has {len(X)} row(s) with a target value: too few to fit a model.")
    out = Path(args.out)
    if out.parent and not out.parent.exists():
        raise CliError(f"The output folder {out.parent} does not exist.")
    cls = ShrinkBoostClassifier if task == "classification" else ShrinkBoostRegressor
    target = y.astype(str).to_numpy() if task == "classification" and y.dtype == object else y.to_numpy()
    model = cls(shrinkage=args.shrinkage, random_state=args.seed).fit(matrix, target)
    payload = {"format": MODEL_FORMAT, "version": MODEL_FORMAT_VERSION, "model": model, "encoder": encoder,
               "target": args.target, "task": task}
    with open(out, "wb") as handle:
        pickle.dump(payload, handle)
    categorical = categorical_columns(X)
    print(f"fitted {cls.__name__} (shrinkage={args.shrinkage!r}) on {len(X):,} rows x {X.shape[1]} features "
          f"to predict {args.target!r} ({task}; {model.n_iter_} iterations)")
    if n_read > len(X):
        print(f"note: dropped {n_read - len(X):,} row(s) with a missing target")
    print("categorical columns (ordinal-encoded, unseen levels -> missing): "
          + (", ".join(map(str, categorical)) if categorical else "none"))
    print(f"model saved to {out}")
    return 0


def _load_model(path: str) -> dict:
    path = Path(path)
    if not path.exists():
        raise CliError(f"Model file not found: {path}")
    try:
        with open(path, "rb") as handle:
            payload = pickle.load(handle)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError,
            ValueError) as exc:
        raise CliError(f"{path} is not a model saved by 'shrinktree fit' ({type(exc).__name__}).") from exc
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise CliError(f"{path} is not a model saved by 'shrinktree fit'.")
    if payload.get("version") != MODEL_FORMAT_VERSION:
        raise CliError(f"{path} was saved in model format {payload.get('version')}; this shrinktree reads "
                       f"format {MODEL_FORMAT_VERSION}. Refit it with 'shrinktree fit'.")
    return payload


def _predict(args: argparse.Namespace) -> int:
    from .bench.tabular import read_csv

    payload = _load_model(args.model)
    frame = read_csv(args.csv)
    matrix = payload["encoder"].transform(frame)
    model = payload["model"]
    out = pd.DataFrame({"prediction": model.predict(matrix)})
    if payload["task"] == "classification":
        proba = model.predict_proba(matrix)
        for j, label in enumerate(model.classes_):
            out[f"proba_{label}"] = proba[:, j]
    if args.out:
        _write_csv(out, args.out)
        print(f"wrote {len(out):,} predictions to {args.out}", file=sys.stderr)
    else:
        out.to_csv(sys.stdout, index=False)
    return 0


def _write_csv(frame: pd.DataFrame, path: str) -> None:
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise CliError(f"The output folder {path.parent} does not exist.")
    frame.to_csv(path, index=False)


# -- argument parsing --------------------------------------------------------------------------
def _integer_at_least(low: int, kind: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind} integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected a {kind} integer, got {text!r}")
        return value

    return parse


_positive_int = _integer_at_least(1, "positive")
_non_negative_int = _integer_at_least(0, "non-negative")


def build_parser() -> argparse.ArgumentParser:
    """The ``shrinktree`` argument parser."""
    from .bench.models import MODELS
    from .bench.tabular import TASK_CHOICES

    parser = argparse.ArgumentParser(prog="shrinktree", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="stability comparison of shrinktree and other boosters on one dataset",
                           description="Fit every model on the same splits and report test accuracy, the spread of "
                                       "predictions across refits on random halves of the training rows, the rank "
                                       "correlation of feature importances across those refits, and fit time.")
    source = bench.add_mutually_exclusive_group()
    source.add_argument("--dataset", metavar="NAME",
                        help=f"a dataset from shrinktree.datasets (default {DEFAULT_DATASET!r}, bundled with "
                             "scikit-learn; the R datasets need the 'bench' extra)")
    source.add_argument("--csv", metavar="FILE", help="your own CSV file (use with --target)")
    bench.add_argument("--target", metavar="COL", help="column of --csv to predict")
    bench.add_argument("--task", choices=TASK_CHOICES, default="auto", help="task of --csv (default: inferred)")
    bench.add_argument("--models", nargs="+", metavar="NAME",
                       help=f"models to compare (default: all installed): {', '.join(MODELS)}")
    bench.add_argument("--quick", action="store_true",
                       help="2 half refits, at most 5,000 rows, 500 rows for importances")
    bench.add_argument("--halves", type=_positive_int, help="random-half refits per model (default 4)")
    bench.add_argument("--repeats", type=_positive_int, default=1, help="train/test splits averaged (default 1)")
    bench.add_argument("--max-rows", type=_positive_int, help="subsample larger data to this many rows "
                                                              "(default 50,000)")
    bench.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    bench.add_argument("--threads", type=_non_negative_int, default=1,
                       help="threads per model (default 1, for like-for-like timings; 0 = each library's default)")
    bench.add_argument("--output", metavar="FILE", help="also write the result table to this CSV file")
    bench.add_argument("--no-progress", action="store_true", help="do not show the progress line")

    fit = sub.add_parser("fit", help="fit a shrinktree model on a CSV file")
    fit.add_argument("--csv", metavar="FILE", required=True, help="training data")
    fit.add_argument("--target", metavar="COL", required=True, help="column to predict")
    fit.add_argument("--out", metavar="MODEL", required=True, help="where to save the model")
    fit.add_argument("--task", choices=TASK_CHOICES, default="auto",
                     help="default: classification for a non-numeric or two-valued target, else regression")
    fit.add_argument("--shrinkage", choices=("eb", "none"), default="eb", help="node pooling (default 'eb')")
    fit.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    predict = sub.add_parser("predict", help="apply a model saved by 'shrinktree fit' to a CSV file")
    predict.add_argument("--model", metavar="MODEL", required=True, help="file written by 'shrinktree fit'")
    predict.add_argument("--csv", metavar="FILE", required=True, help="rows to predict (extra columns are ignored)")
    predict.add_argument("--out", metavar="FILE", help="write predictions here instead of standard output")
    return parser


COMMANDS = {"bench": _bench, "fit": _fit, "predict": _predict}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 1 bad input, 2 bad usage)."""
    from .bench.tabular import DataError

    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (CliError, DataError) as exc:
        print(f"shrinktree {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # invalid settings reported by the library, e.g. an unknown model name
        print(f"shrinktree {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
