"""shrinktree command line: ``bench`` (stability comparison), ``fit`` and ``predict`` on CSV files.

``shrinktree bench`` with no arguments compares shrinktree with plain boosting and the other
installed boosters on a dataset bundled with scikit-learn: test accuracy, how much predictions
move when the model is refitted on random halves of the training rows, how well feature
importances agree between those refits, and fit time.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_DATASET = "diabetes"
TASK_HELP = ("default 'auto': classification for a true/false or two-valued target, or a non-numeric one with few "
             "distinct labels; regression for other numeric targets; an error (naming the values) for a target "
             "that is numbers except for a few tokens such as '?', or has too many labels to be classes")


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

    if args.output:
        _check_output_path(Path(args.output), "results")
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
@dataclass
class SavedModel:
    """What ``shrinktree fit`` saves: the fitted estimator and how to build its input from a CSV file.

    Attributes
    ----------
    model : ShrinkBoostRegressor or ShrinkBoostClassifier
    task : {"regression", "classification"}
    target : str
        The column the model predicts.
    schema : shrinktree.bench.tabular.FeatureSchema
        Feature columns and the fit-time levels of the categorical ones.
    """

    model: object
    task: str
    target: str
    schema: object


def _fit(args: argparse.Namespace) -> int:
    from .bench.tabular import FeatureSchema, infer_task, split_target

    out = Path(args.out)
    _check_output_path(out, "model")
    parameters = _model_parameters(args)
    frame = _read_training_csv(args.csv)
    X, y = split_target(frame, args.target, source=str(args.csv))
    if args.target in (args.categorical or ()):
        raise CliError(f"--categorical names the target {args.target!r}; list feature columns only.")
    task = infer_task(y, args.task)
    if len(X) < 2:
        raise CliError(f"{args.csv} has {len(X)} row(s) with a target value: too few to fit a model.")
    schema = FeatureSchema.learn(X, args.categorical or ())
    if args.random_effects:
        unknown = [c for c in args.random_effects if c not in schema.columns]
        if unknown:
            raise CliError(f"--random-effects names {', '.join(map(repr, unknown))}, not a feature column of "
                           f"{args.csv}.")
        if task == "classification" and y.nunique() > 2:
            raise CliError("--random-effects supports binary classification only; the target has "
                           f"{y.nunique()} classes.")
        parameters = {**parameters, "random_effects": list(args.random_effects)}
    model = _fit_model(task, schema.frame(X), y, parameters, args.threads)
    _save_model(SavedModel(model, task, args.target, schema), out)
    _report_fit(model, task, args.target, schema, n_rows=len(X), n_dropped=len(frame) - len(X))
    print(f"model saved to {out}")
    return 0


def _read_training_csv(path: str) -> pd.DataFrame:
    """Read the training CSV with its non-numeric columns as text exactly as written, as ``predict`` reads them."""
    from .bench.tabular import categorical_columns, read_csv

    frame = read_csv(path)
    text = categorical_columns(frame)
    return read_csv(path, text_columns=text) if text else frame


def _fit_model(task: str, features: pd.DataFrame, y: pd.Series, parameters: dict, threads: int):
    """Fit the booster for ``task`` on the prepared features (categories as pandas ``category`` columns)."""
    from .bench.stability import thread_limit
    from .bench.tabular import class_labels
    from .boosting import ShrinkBoostClassifier, ShrinkBoostRegressor

    if task == "classification":
        cls, target = ShrinkBoostClassifier, class_labels(y)
    else:
        cls, target = ShrinkBoostRegressor, pd.to_numeric(y).to_numpy(dtype=np.float64)
    with thread_limit(threads or None):
        return cls(categorical_features="from_dtype", **parameters).fit(features, target)


def _report_fit(model, task: str, target: str, schema, n_rows: int, n_dropped: int) -> None:
    """Print what was fitted: estimator, settings that differ from the defaults, rows dropped, categories."""
    defaults = {**type(model)().get_params(), **_CLI_DEFAULTS}
    changed = {name: value for name, value in model.get_params().items()
               if name in _MODEL_OPTION_NAMES and value != defaults[name]}
    print(f"fitted {type(model).__name__} (shrinkage={model.shrinkage!r}) on {n_rows:,} rows x "
          f"{model.n_features_in_:,} features to predict {target!r} ({task}; {model.n_iter_} iterations)")
    if changed:
        print("settings: " + ", ".join(f"{name}={value!r}" for name, value in changed.items()))
    if n_dropped:
        print(f"note: dropped {n_dropped:,} row(s) with a missing target")
    if getattr(model, "_random_effects_fit", None) is not None:
        components = model.variance_components_
        print("random intercepts (variance, sd): " + ", ".join(
            f"{name} {row['variance']:.4g}, {row['std']:.4g}" for name, row in components.iterrows()))
    described = [f"{column} ({len(levels):,} levels{', integer-coded' if column in schema.integer_coded else ''})"
                 for column, levels in schema.categories.items()]
    print("categorical columns (pooled categorical splits; levels unseen at fit follow each split's default "
          "side, like missing values): " + (", ".join(described) if described else "none"))


# A model file is shrinktree's model file (shrinktree.model_file, docs/model_file.md): a checksummed,
# versioned JSON document that loads without running code.  'shrinktree fit' saves in its metadata what
# 'predict' needs to read a CSV file: {"task", "target", "columns", "categories", "integer_coded"}, each
# checked on loading against the model it describes.
_METADATA_KEYS = {"task", "target", "columns", "categories", "integer_coded"}


class InvalidModelFile(ValueError):
    """Why a file is not a valid shrinktree model file (the reason completes the sentence "... file: ")."""


def _save_model(saved: SavedModel, path: Path) -> None:
    """Write ``saved`` as a model file, with the CSV schema in its metadata, to ``path``, atomically."""
    from .model_file import dumps

    metadata = {"task": saved.task, "target": saved.target, "columns": saved.schema.columns,
                "categories": saved.schema.categories, "integer_coded": saved.schema.integer_coded}
    _write_file_atomically(path, dumps(saved.model, metadata))


def load_model(path: str | Path) -> SavedModel:
    """Read a model file written by ``shrinktree fit``, checking every part of it.

    Raises
    ------
    CliError
        When the file is missing or a directory, cannot be read, or is not a valid shrinktree model
        file: damaged or truncated, another kind of file, another format version, a model that fails
        its checks, or metadata of the wrong keys or types.
    """
    from .model_file import ModelFileError, loads

    path = Path(path)
    if not path.exists():
        raise CliError(f"Model file not found: {path}")
    if path.is_dir():
        raise CliError(f"{path} is a directory, not a model file.")
    try:
        data = path.read_bytes()
    except (OSError, MemoryError) as exc:
        raise CliError(f"Could not read {path}: {getattr(exc, 'strerror', None) or 'too large'}") from exc
    try:
        loaded = loads(data, source=str(path))
        return _saved_model(loaded.model, loaded.metadata)
    except ModelFileError as exc:
        raise CliError(str(exc).replace("\n", " ")) from exc
    except InvalidModelFile as exc:
        raise CliError(f"{path} is not a valid shrinktree model file: {exc}") from exc


def _check_keys(mapping, expected: set, where: str) -> None:
    if not isinstance(mapping, dict):
        raise InvalidModelFile(f"{where} is of type {type(mapping).__name__}, not a dict")
    missing, extra = sorted(expected - set(mapping)), sorted(map(repr, set(mapping) - expected))
    problems = ([f"lacks {', '.join(missing)}"] if missing else []) + ([f"has unexpected keys {', '.join(extra)}"]
                                                                       if extra else [])
    if problems:
        raise InvalidModelFile(f"{where} {' and '.join(problems)}")


def _saved_model(model, metadata: dict) -> SavedModel:
    """Check a loaded model file's metadata key by key and type by type, and the model against it."""
    if not metadata:
        raise InvalidModelFile("it has no metadata of 'shrinktree fit' (task, target, columns): it was saved "
                               "with save_model() in Python; load it there with shrinktree.load_model")
    _check_keys(metadata, _METADATA_KEYS, "its metadata")
    task, target = metadata["task"], metadata["target"]
    if task not in ("regression", "classification"):
        raise InvalidModelFile(f"its task is {task!r}, not 'regression' or 'classification'")
    if not isinstance(target, str):
        raise InvalidModelFile(f"its target column name is of type {type(target).__name__}, not text")
    schema = _saved_schema(metadata["columns"], metadata["categories"], metadata["integer_coded"])
    _check_estimator(model, task, schema)
    return SavedModel(model, task, target, schema)


def _saved_schema(columns, categories, integer_coded):
    """A :class:`~shrinktree.bench.tabular.FeatureSchema` from saved parts, each checked."""
    from .bench.tabular import FeatureSchema

    if not _is_list_of(columns, str) or not columns or len(set(columns)) != len(columns):
        raise InvalidModelFile("its feature columns are not a non-empty list of distinct names")
    if not _is_list_of(integer_coded, str) or not set(integer_coded) <= set(columns):
        raise InvalidModelFile("its integer-coded columns are not a list of its feature columns")
    if not isinstance(categories, dict) or not set(categories) <= set(columns) \
            or not set(integer_coded) <= set(categories):
        raise InvalidModelFile("its categories are not a dict keyed by categorical feature columns")
    for column, levels in categories.items():
        kind = int if column in integer_coded else str
        if not _is_list_of(levels, kind) or len(set(levels)) != len(levels):
            raise InvalidModelFile(f"the levels of column {column!r} are not a list of distinct "
                                   f"{'integers' if kind is int else 'texts'}")
    return FeatureSchema(list(columns), dict(categories), list(integer_coded))


def _is_list_of(values, kind: type) -> bool:
    return isinstance(values, list) and all(type(value) is kind for value in values)


def _check_estimator(model, task: str, schema) -> None:
    """The saved estimator is a fitted shrinktree booster for ``task`` on the schema's columns."""
    from .boosting import ShrinkBoostClassifier, ShrinkBoostRegressor

    expected = ShrinkBoostClassifier if task == "classification" else ShrinkBoostRegressor
    if type(model) is not expected:
        raise InvalidModelFile(f"its model is a {type(model).__name__}, not a {expected.__name__}")
    if not hasattr(model, "_trees") or (task == "classification" and not hasattr(model, "classes_")):
        raise InvalidModelFile(f"its {expected.__name__} is not fitted")
    grouping = _grouping_columns(model)
    if not grouping <= set(schema.columns):
        raise InvalidModelFile("its model's random-effects columns are not among the columns it lists")
    columns = [c for c in schema.columns if c not in grouping]
    names = getattr(model, "feature_names_in_", None)
    if names is None or [str(name) for name in names] != columns:
        raise InvalidModelFile("its model was fitted on other columns than the ones it lists")
    categorical = np.asarray(getattr(model, "is_categorical_", ()), dtype=bool)
    if categorical.shape != (len(columns),) \
            or {c for c, flag in zip(columns, categorical) if flag} != set(schema.categories) - grouping:
        raise InvalidModelFile("its model's categorical features differ from the categories it lists")


def _grouping_columns(model) -> set:
    """The columns a model fitted with ``random_effects`` uses as groupings (empty without)."""
    fitted = model.__dict__.get("_random_effects_fit")
    if fitted is None:
        return set()
    return {str(c) for entry in fitted["spec"] for c in (entry if isinstance(entry, tuple) else (entry,))}


def _predict(args: argparse.Namespace) -> int:
    from .bench.tabular import read_csv

    if args.out:
        _check_output_path(Path(args.out), "predictions")
    saved = load_model(args.model)
    features = saved.schema.frame(read_csv(args.csv, text_columns=saved.schema.text_columns))
    out = _predictions(saved, features)
    if args.out:
        _write_csv(out, args.out)
        print(f"wrote {len(out):,} predictions to {args.out}", file=sys.stderr)
    else:
        out.to_csv(sys.stdout, index=False)
    return 0


def _predictions(saved: SavedModel, features: pd.DataFrame) -> pd.DataFrame:
    """A ``prediction`` column, plus ``proba_<class>`` columns for classification."""
    out = pd.DataFrame({"prediction": saved.model.predict(features)})
    if saved.task == "classification":
        proba = saved.model.predict_proba(features)
        for j, label in enumerate(saved.model.classes_):
            out[f"proba_{label}"] = proba[:, j]
    return out


def _check_output_path(path: Path, what: str) -> None:
    """Fail early, in one line, when ``path`` cannot name a file to write.

    Parameters
    ----------
    path : Path
        The file to be written.
    what : str
        What the file holds, for the message ("model", "predictions", ...).

    Raises
    ------
    CliError
        When ``path`` is a directory, or its parent is missing or not a directory.
    """
    if path.is_dir():
        raise CliError(f"{path} is a directory; give the name of the {what} file to write in it.")
    if not path.parent.exists():
        raise CliError(f"The output folder {path.parent} does not exist.")
    if not path.parent.is_dir():
        raise CliError(f"{path.parent} is not a folder, so {path} cannot be written.")


def _write_file_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file next to ``path``, then rename it to ``path``.

    An interrupted or failed write never leaves a truncated file under the final name.

    Raises
    ------
    CliError
        When ``path`` cannot name a file (see :func:`_check_output_path`) or the file cannot be
        written (no permission, disk full, ...).
    """
    from .model_file import write_atomically

    _check_output_path(path, "output")
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise CliError(f"Could not write {path}: {exc.strerror or exc}") from exc


def _write_csv(frame: pd.DataFrame, path: str) -> None:
    """Write ``frame`` as CSV (no index) to ``path`` via :func:`_write_file_atomically`."""
    _write_file_atomically(Path(path), frame.to_csv(index=False).encode("utf-8"))


# -- argument parsing --------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (with a pointer to ``--help``) and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _integer_in(low: int, high: int | None = None, kind: str | None = None):
    """An argparse type: an integer in ``[low, high]``."""
    wanted = kind or (f"an integer >= {low}" if high is None else f"an integer from {low} to {high}")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
        return value

    return parse


def _number_in(low: float, high: float | None = None, low_open: bool = False, high_open: bool = False):
    """An argparse type: a finite number in the interval from ``low`` to ``high`` (open or closed ends)."""
    if high is None:
        wanted = f"a number {'>' if low_open else '>='} {low:g}"
    else:
        wanted = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        outside = (not math.isfinite(value) or value < low or (low_open and value == low)
                   or (high is not None and (value > high or (high_open and value == high))))
        if outside:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
        return value

    return parse


_positive_int = _integer_in(1, kind="a positive integer")
_non_negative_int = _integer_in(0, kind="a non-negative integer")

# The estimator settings ``shrinktree fit`` exposes: flag, estimator parameter, argparse keywords, help, and
# LightGBM's name for the same setting (None: none).  Defaults are the estimator's, except as in _CLI_DEFAULTS.
_MODEL_OPTIONS = (
    ("--shrinkage", "shrinkage", {"choices": ("eb", "hs", "none")},
     "node pooling: 'eb' estimates the pooling strength of every tree from the data, 'hs' uses the fixed "
     "--shrinkage-strength, 'none' is plain boosting", None),
    ("--shrinkage-strength", "shrinkage_strength", {"type": _number_in(0), "metavar": "LAMBDA"},
     "pooling strength for --shrinkage hs (required with it)", None),
    ("--n-estimators", "n_estimators", {"type": _integer_in(1), "metavar": "N"},
     "boosting iterations", "num_iterations"),
    ("--learning-rate", "learning_rate", {"type": _number_in(0, low_open=True), "metavar": "RATE"},
     "step size", "learning_rate"),
    ("--max-leaf-nodes", "max_leaf_nodes", {"type": _integer_in(2), "metavar": "N"},
     "leaves per tree", "num_leaves"),
    ("--max-depth", "max_depth", {"type": _integer_in(1), "metavar": "N"},
     "depth limit of a tree; no limit by default", "max_depth"),
    ("--min-samples-leaf", "min_samples_leaf", {"type": _integer_in(1), "metavar": "N"},
     "fewest rows in a leaf", "min_data_in_leaf"),
    ("--l2-regularization", "l2_regularization", {"type": _number_in(0), "metavar": "L2"},
     "L2 penalty on leaf values", "lambda_l2"),
    ("--max-bins", "max_bins", {"type": _integer_in(2, 255), "metavar": "N"},
     "histogram bins per numeric feature, at most 255", "max_bin"),
    ("--subsample", "subsample", {"type": _number_in(0, 1, low_open=True), "metavar": "FRACTION"},
     "fraction of rows drawn for each iteration", "bagging_fraction"),
    ("--colsample", "colsample", {"type": _number_in(0, 1, low_open=True), "metavar": "FRACTION"},
     "fraction of features each iteration may split on", "feature_fraction"),
    ("--early-stopping", "early_stopping", {"choices": ("auto", "on", "off")},
     "stop when the loss on held-out rows stops improving; 'auto' is on above 10,000 rows unless "
     "--shrinkage is eb", None),
    ("--validation-fraction", "validation_fraction",
     {"type": _number_in(0, 1, low_open=True, high_open=True), "metavar": "FRACTION"},
     "rows held out for early stopping", None),
    ("--n-iter-no-change", "n_iter_no_change", {"type": _integer_in(1), "metavar": "N"},
     "iterations without improvement before early stopping stops", "early_stopping_round"),
    ("--random-state", "random_state", {"type": _integer_in(0, 2**32 - 1), "metavar": "SEED"},
     "random seed", "seed"),
)
_MODEL_OPTION_NAMES = tuple(option[1] for option in _MODEL_OPTIONS)
_CLI_DEFAULTS = {"random_state": 0}  # reproducible by default
_EARLY_STOPPING = {"auto": "auto", "on": True, "off": False}


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    """Add the estimator settings of :data:`_MODEL_OPTIONS` to the ``fit`` parser, defaults from the estimator."""
    from .boosting import ShrinkBoostRegressor

    defaults = {**ShrinkBoostRegressor().get_params(), **_CLI_DEFAULTS}
    group = parser.add_argument_group("model settings (LightGBM's name in brackets)")
    for flag, name, keywords, text, lightgbm in _MODEL_OPTIONS:
        default = defaults[name]
        if name == "early_stopping":
            default = next(key for key, value in _EARLY_STOPPING.items() if value is default)
        flags = (flag, "--seed") if name == "random_state" else (flag,)
        text += "" if default is None else f" (default {default})"
        text += "" if lightgbm is None else f" [{lightgbm}]"
        group.add_argument(*flags, dest=name, default=default, help=text, **keywords)


def _model_parameters(args: argparse.Namespace) -> dict:
    """The estimator keyword arguments given by the ``fit`` options.

    Raises
    ------
    CliError
        When --shrinkage and --shrinkage-strength do not go together.
    """
    parameters = {name: getattr(args, name) for name in _MODEL_OPTION_NAMES}
    parameters["early_stopping"] = _EARLY_STOPPING[parameters["early_stopping"]]
    hs = parameters["shrinkage"] == "hs"
    if hs and parameters["shrinkage_strength"] is None:
        raise CliError("--shrinkage hs needs --shrinkage-strength LAMBDA (its fixed pooling strength).")
    if not hs and parameters["shrinkage_strength"] is not None:
        raise CliError("--shrinkage-strength is only used with --shrinkage hs.")
    return parameters


def build_parser() -> argparse.ArgumentParser:
    """The ``shrinktree`` argument parser."""
    from .bench.models import MODELS
    from .bench.tabular import TASK_CHOICES

    parser = _Parser(prog="shrinktree", description=__doc__,
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
    bench.add_argument("--task", choices=TASK_CHOICES, default="auto", help="task of --csv; " + TASK_HELP)
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

    fit = sub.add_parser("fit", help="fit a shrinktree model on a CSV file",
                         description="Fit ShrinkBoostRegressor or ShrinkBoostClassifier on a CSV file and save it "
                                     "for 'shrinktree predict'. Text and true/false columns (and the --categorical "
                                     "ones) are categorical: each level is pooled toward its node, and levels "
                                     "unseen at fit follow each split's learned default side, like missing values.")
    fit.add_argument("--csv", metavar="FILE", required=True, help="training data")
    fit.add_argument("--target", metavar="COL", required=True, help="column to predict (rows missing it are dropped)")
    fit.add_argument("--out", metavar="MODEL", required=True, help="where to save the model")
    fit.add_argument("--task", choices=TASK_CHOICES, default="auto", help=TASK_HELP)
    fit.add_argument("--categorical", nargs="+", metavar="COL",
                     help="numeric columns holding integer category codes (ids) to treat as categorical; text and "
                          "true/false columns are categorical already [categorical_feature]")
    fit.add_argument("--threads", type=_non_negative_int, default=0, metavar="N",
                     help="threads for fitting (default 0: all cores) [num_threads]")
    fit.add_argument("--random-effects", action="append", metavar="COL",
                     help="a grouping column fitted as random intercepts instead of a tree feature; repeat it "
                          "for several crossed groupings (regression, Poisson or binary; docs/mixed_effects.md)")
    _add_model_options(fit)

    predict = sub.add_parser("predict", help="apply a model saved by 'shrinktree fit' to a CSV file",
                             description="Predict the rows of a CSV file with a model saved by 'shrinktree fit'. "
                                         "Text columns are read as written; a categorical level unseen at fit "
                                         "follows each split's learned default side, like a missing value. When "
                                         "standard output is closed early (e.g. '| head'), the command stops "
                                         "quietly with exit status 1.")
    predict.add_argument("--model", metavar="MODEL", required=True, help="file written by 'shrinktree fit'")
    predict.add_argument("--csv", metavar="FILE", required=True, help="rows to predict (extra columns are ignored)")
    predict.add_argument("--out", metavar="FILE", help="write predictions here instead of standard output")

    warm = sub.add_parser("warmup", help="compile every numba kernel now (once per environment)",
                          description="Compile every shrinktree kernel, or load it from numba's on-disk cache when it "
                                      "is already compiled, so that no later fit waits for compilation. Run it once "
                                      "after installing or upgrading (NUMBA_CACHE_DIR moves the cache).")
    warm.add_argument("--quiet", action="store_true", help="do not list the steps")
    return parser


def _warmup(args: argparse.Namespace) -> int:
    from ._warmup import warmup

    print("shrinktree warmup: compiling every kernel, or loading it from numba's cache...", file=sys.stderr,
          flush=True)
    result = warmup(verbose=not args.quiet)
    compiled = result["kernels_compiled"]
    what = f"compiled {compiled} kernel specializations" if compiled else "every kernel was already in the cache"
    print(f"shrinktree warmup: done in {result['seconds']:.1f} s ({what}); later fits start without compiling.")
    return 0


COMMANDS = {"bench": _bench, "fit": _fit, "predict": _predict, "warmup": _warmup}


def _silence_stdout() -> None:
    """Point standard output at the null device, so that flushing it at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout has no file descriptor (e.g. captured in tests)
        pass


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Returns
    -------
    int
        The exit status: 0 success; 1 bad input, or standard output closed early (e.g. piped into
        ``head``: the command stops quietly); 2 bad usage.
    """
    from .bench.tabular import DataError

    args = build_parser().parse_args(argv)
    try:
        status = COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows up here rather than at interpreter exit
        return status
    except BrokenPipeError:
        _silence_stdout()
        return 1
    except (CliError, DataError) as exc:
        print(f"shrinktree {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # invalid settings reported by the library, e.g. an unknown model name
        print(f"shrinktree {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
