"""The shrinktree command line: bench, fit and predict, including their error paths."""

import base64
import collections
import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shrinktree
from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
from shrinktree._compile_notice import PREFIX
from shrinktree.cli import ProgressLine, load_model, main
from shrinktree.model_file import FORMAT_VERSION

REPO = Path(shrinktree.__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_numba_thread():
    # Tests run two to a 2-core machine: one numba thread each avoids oversubscription.
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(previous)


FAST_BENCH = ["--models", "shrinktree", "sklearn-hgb", "--halves", "2", "--threads", "1", "--no-progress"]


def _write_regression_csv(path, n=400, seed=0):
    rng = np.random.default_rng(seed)
    city = rng.choice(["north", "south", "east", "west"], n)
    effect = pd.Series(city).map({"north": 2.0, "south": -2.0, "east": 0.5, "west": 0.0}).to_numpy()
    size = rng.normal(size=n)
    frame = pd.DataFrame({"city": city, "size": size, "noise": rng.normal(size=n),
                          "price": effect + size + 0.3 * rng.normal(size=n)})
    frame.to_csv(path, index=False)
    return frame


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _cli(argv, **kwargs):
    """Run ``python -m shrinktree`` in a fresh process on this checkout."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "shrinktree", *argv], capture_output=True, text=True, env=env,
                          timeout=300, **kwargs)


def _one_error_line(err, command):
    """The error output is exactly one line, prefixed with the command."""
    assert "Traceback" not in err
    # The compile notice of a cold numba cache ("shrinktree: ...") is not part of the error.
    err = "".join(line for line in err.splitlines(keepends=True) if not line.startswith(PREFIX))
    assert err.count("\n") == 1 and err.startswith(f"shrinktree {command}: error: "), err


# -- bench --------------------------------------------------------------------------------------
def test_bench_on_a_bundled_dataset(capsys, tmp_path):
    out_csv = tmp_path / "results.csv"
    code, out, err = _run(["bench", "--dataset", "diabetes", *FAST_BENCH, "--output", str(out_csv)], capsys)
    assert code == 0, err
    assert "dataset: diabetes" in out and "442 rows x 10 features" in out
    rows = out.split("model ", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    lines = {line.split()[0]: line.split() for line in rows}
    assert set(lines) == {"shrinktree", "sklearn-hgb"}
    for model in ("shrinktree", "sklearn-hgb"):
        error, spread, corr = map(float, lines[model][1:4])
        seconds = float(lines[model][5])
        assert 0.5 < error < 1.0 and 0 < spread < 1 and -1 <= corr <= 1 and seconds > 0
    # SHAP agreement: exact TreeSHAP for shrinktree, none for HistGradientBoosting.
    assert 0 < float(lines["shrinktree"][4]) <= 1 and lines["sklearn-hgb"][4] == "-"
    headline = next(line for line in out.splitlines() if line.startswith("shrinktree vs sklearn-hgb:"))
    assert f"prediction spread {float(lines['shrinktree'][2]):.4f} vs {float(lines['sklearn-hgb'][2]):.4f}" in headline
    table = pd.read_csv(out_csv)
    assert table["model"].tolist() == ["shrinktree", "sklearn-hgb"]
    assert table["dataset"].eq("diabetes").all() and not table["failed"].any()


def test_bench_on_a_csv_with_categories(capsys, tmp_path):
    path = tmp_path / "houses.csv"
    _write_regression_csv(path)
    code, out, err = _run(["bench", "--csv", str(path), "--target", "price", *FAST_BENCH], capsys)
    assert code == 0, err
    assert "dataset: houses" in out and "regression, 400 rows x 3 features" in out
    shrinktree_line = next(line for line in out.splitlines() if line.startswith("shrinktree "))
    assert float(shrinktree_line.split()[1]) < 0.5  # the city effect and size are learned


def test_bench_shows_progress_and_quick_settings(capsys):
    code, out, err = _run(["bench", "--quick", "--models", "shrinktree", "--threads", "1"], capsys)
    assert code == 0
    assert "2 random-half refits" in out
    assert "[1/3]" in err and "[3/3]" in err and "shrinktree on random half 2/2" in err


@pytest.mark.parametrize("argv, message", [
    (["bench", "--dataset", "no_such_data"], "Unknown dataset 'no_such_data'"),
    (["bench", "--csv", "missing.csv", "--target", "y"], "CSV file not found"),
    (["bench", "--csv", "data.csv"], "--csv needs --target"),
    (["bench", "--target", "y"], "--target is only used with --csv"),
    (["bench", "--csv", "data.csv", "--target", "nope"], "Target column 'nope' is not in"),
    (["bench", "--models", "shrinktree", "no-such-model"], "Unknown model(s) 'no-such-model'"),
])
def test_bench_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_regression_csv(tmp_path / "data.csv", n=60)
    code, out, err = _run(argv, capsys)
    assert code == 1
    # On a cold numba cache the compile notice ("shrinktree: compiling ...") may come first.
    lines = [line for line in err.splitlines() if not line.startswith(PREFIX)]
    assert message in err and lines[0].startswith("shrinktree bench: error:")
    assert "Traceback" not in err


def test_bench_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--halves", "0"])
    assert exit_info.value.code == 2
    assert "positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "--dataset", "diabetes", "--csv", "x.csv"])
    assert "not allowed with" in capsys.readouterr().err


# -- fit / predict ------------------------------------------------------------------------------
def test_fit_predict_round_trip_regression(capsys, tmp_path):
    train_path, model_path = tmp_path / "train.csv", tmp_path / "model.json"
    train = _write_regression_csv(train_path)
    code, out, err = _run(["fit", "--csv", str(train_path), "--target", "price", "--out", str(model_path)], capsys)
    assert code == 0, err
    assert "ShrinkBoostRegressor" in out and "400 rows x 3 features" in out and "(regression;" in out
    assert "categorical columns (pooled categorical splits; levels unseen at fit follow each split's default side, " \
           "like missing values): city (4 levels)" in out
    new = pd.DataFrame({"noise": [0.0, 0.0, 0.0], "size": [0.0, 0.0, 0.0], "city": ["north", "south", "mars"],
                        "unused": [1, 2, 3]})
    new_path, pred_path = tmp_path / "new.csv", tmp_path / "pred.csv"
    new.to_csv(new_path, index=False)
    code, out, err = _run(["predict", "--model", str(model_path), "--csv", str(new_path), "--out", str(pred_path)],
                          capsys)
    assert code == 0, err
    predictions = pd.read_csv(pred_path)["prediction"].to_numpy()
    assert predictions.shape == (3,) and np.all(np.isfinite(predictions))
    assert predictions[0] > 1.0 and predictions[1] < -1.0  # north +2, south -2
    assert abs(predictions[2]) < 2.0  # an unseen city follows each split's default side
    # Predicting the training file itself (target column ignored) agrees with the saved model.
    code, out, _ = _run(["predict", "--model", str(model_path), "--csv", str(train_path)], capsys)
    assert code == 0
    from_stdout = pd.read_csv(io.StringIO(out))["prediction"].to_numpy()
    saved = load_model(model_path)
    direct = saved.model.predict(saved.schema.frame(train))
    np.testing.assert_allclose(from_stdout, direct, rtol=1e-6)
    assert np.corrcoef(from_stdout, train["price"])[0, 1] > 0.9


SMALL_FIT = ["--n-estimators", "40", "--learning-rate", "0.2", "--max-leaf-nodes", "8", "--min-samples-leaf", "5",
             "--random-state", "3"]
SMALL_FIT_PARAMETERS = {"n_estimators": 40, "learning_rate": 0.2, "max_leaf_nodes": 8, "min_samples_leaf": 5,
                        "random_state": 3}


def _write_grouped_csv(path, n=1500, seed=0):
    """A text id (``city``, 40 levels, some missing) and an integer id (``shop``, 60 levels) with real effects."""
    rng = np.random.default_rng(seed)
    city = rng.choice([f"c{i}" for i in range(40)], n).astype(object)
    shop = rng.integers(0, 60, n)
    city_effect = dict(zip([f"c{i}" for i in range(40)], rng.normal(size=40)))
    x = rng.normal(size=n)
    y = pd.Series(city).map(city_effect).to_numpy() + (shop % 7) * 0.3 + x + 0.5 * rng.normal(size=n)
    city[::37] = np.nan
    frame = pd.DataFrame({"city": city, "shop": shop, "x": x, "y": y})
    frame.to_csv(path, index=False)
    return frame


def _with_categories(frame, columns=("city", "shop")):
    frame = frame.copy()
    for column in columns:
        frame[column] = frame[column].astype("category")
    return frame


def test_cli_model_equals_the_python_estimator_on_category_columns(capsys, tmp_path):
    train, model = tmp_path / "train.csv", tmp_path / "m.json"
    _write_grouped_csv(train)
    code, out, err = _run(["fit", "--csv", str(train), "--target", "y", "--out", str(model), "--categorical", "shop",
                           *SMALL_FIT], capsys)
    assert code == 0, err
    assert "city (40 levels), shop (60 levels, integer-coded)" in out
    assert "settings: learning_rate=0.2, max_leaf_nodes=8, min_samples_leaf=5, n_estimators=40, random_state=3" in out
    frame = pd.read_csv(train)
    reference = ShrinkBoostRegressor(**SMALL_FIT_PARAMETERS).fit(_with_categories(frame.drop(columns="y")),
                                                                 frame["y"])
    saved = load_model(model)
    assert saved.model.is_categorical_.tolist() == [True, True, False]
    assert saved.model.n_iter_ == reference.n_iter_ == 40
    new = pd.DataFrame({"city": ["c1", "mars", None, "c2", "c3"], "shop": [1, 999, 3, 4, None],
                        "x": [0.1, 0.2, 0.3, 0.4, 0.5]})
    for path, rows in ((train, frame.drop(columns="y")), (tmp_path / "new.csv", new)):
        rows.to_csv(path, index=False)
        code, out, err = _run(["predict", "--model", str(model), "--csv", str(path)], capsys)
        assert code == 0, err
        from_cli = pd.read_csv(io.StringIO(out))["prediction"].to_numpy()
        np.testing.assert_allclose(from_cli, reference.predict(_with_categories(rows)), rtol=0, atol=1e-12)


def test_cli_classifier_equals_the_python_estimator_on_category_columns(capsys, tmp_path):
    train, model = tmp_path / "train.csv", tmp_path / "m.json"
    frame = _write_grouped_csv(train, n=600, seed=1)
    frame["label"] = np.where(frame.pop("y") > 0.5, "high", "low")
    frame.to_csv(train, index=False)
    code, _, err = _run(["fit", "--csv", str(train), "--target", "label", "--out", str(model), "--categorical",
                         "shop", *SMALL_FIT], capsys)
    assert code == 0, err
    frame = pd.read_csv(train)
    reference = ShrinkBoostClassifier(**SMALL_FIT_PARAMETERS).fit(_with_categories(frame.drop(columns="label")),
                                                                  frame["label"])
    code, out, err = _run(["predict", "--model", str(model), "--csv", str(train)], capsys)
    assert code == 0, err
    from_cli = pd.read_csv(io.StringIO(out))
    features = _with_categories(frame.drop(columns="label"))
    np.testing.assert_allclose(from_cli[["proba_high", "proba_low"]], reference.predict_proba(features), atol=1e-12)
    assert (from_cli["prediction"] == reference.predict(features)).all()


def test_unseen_levels_follow_the_default_side_like_missing_values(capsys, tmp_path):
    train, model = tmp_path / "train.csv", tmp_path / "m.json"
    _write_grouped_csv(train)
    assert main(["fit", "--csv", str(train), "--target", "y", "--out", str(model), "--categorical", "shop",
                 *SMALL_FIT]) == 0
    new = tmp_path / "new.csv"
    pd.DataFrame({"city": ["mars", None, "c1", "c1"], "shop": [5, 5, 999, None], "x": 0.3}).to_csv(new, index=False)
    capsys.readouterr()
    code, out, err = _run(["predict", "--model", str(model), "--csv", str(new)], capsys)
    assert code == 0, err
    predictions = pd.read_csv(io.StringIO(out))["prediction"].to_numpy()
    assert predictions[0] == predictions[1] and predictions[2] == predictions[3]


def test_text_columns_are_read_as_written_at_fit_and_predict(capsys, tmp_path):
    # "007" must stay the level "007" even when the file to predict has only number-like codes
    # (read as numbers, it would become 7 and an unseen level).
    rng = np.random.default_rng(5)
    codes = rng.choice(["007", "012", "A1"], 300)
    y = pd.Series(codes).map({"007": 3.0, "012": -3.0, "A1": 0.0}).to_numpy() + 0.1 * rng.normal(size=300)
    train, model, new = tmp_path / "train.csv", tmp_path / "m.json", tmp_path / "new.csv"
    pd.DataFrame({"code": codes, "x": rng.normal(size=300), "y": y}).to_csv(train, index=False)
    assert main(["fit", "--csv", str(train), "--target", "y", "--out", str(model), *SMALL_FIT]) == 0
    new.write_text("code,x\n007,0\n012,0\n,0\n")
    capsys.readouterr()
    code, out, err = _run(["predict", "--model", str(model), "--csv", str(new)], capsys)
    assert code == 0, err
    predictions = pd.read_csv(io.StringIO(out))["prediction"].to_numpy()
    assert predictions[0] > 2.0 and predictions[1] < -2.0


@pytest.mark.parametrize("option, value, message", [
    ("--n-estimators", "0", "argument --n-estimators: expected an integer >= 1, got '0'"),
    ("--n-estimators", "2.5", "argument --n-estimators: expected an integer >= 1, got '2.5'"),
    ("--learning-rate", "0", "argument --learning-rate: expected a number > 0, got '0'"),
    ("--learning-rate", "nan", "argument --learning-rate: expected a number > 0, got 'nan'"),
    ("--max-leaf-nodes", "1", "argument --max-leaf-nodes: expected an integer >= 2, got '1'"),
    ("--min-samples-leaf", "0", "argument --min-samples-leaf: expected an integer >= 1, got '0'"),
    ("--max-bins", "256", "argument --max-bins: expected an integer from 2 to 255, got '256'"),
    ("--subsample", "1.5", "argument --subsample: expected a number in (0, 1], got '1.5'"),
    ("--validation-fraction", "1", "argument --validation-fraction: expected a number in (0, 1), got '1'"),
    ("--random-state", "-1", "argument --random-state/--seed: expected an integer from 0 to 4294967295, got '-1'"),
    ("--shrinkage", "lasso", "argument --shrinkage: invalid choice: 'lasso'"),
])
def test_fit_rejects_bad_settings_in_one_line(option, value, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--csv", "x.csv", "--target", "y", "--out", str(tmp_path / "m"), option, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    _one_error_line(err, "fit")


def test_fit_setting_and_categorical_errors(capsys, tmp_path):
    train = tmp_path / "train.csv"
    _write_grouped_csv(train, n=200)
    base = ["fit", "--csv", str(train), "--target", "y", "--out", str(tmp_path / "m.json")]
    cases = [
        (["--shrinkage", "hs"], "--shrinkage hs needs --shrinkage-strength"),
        (["--shrinkage-strength", "5"], "--shrinkage-strength is only used with --shrinkage hs"),
        (["--categorical", "nope"], "--categorical names column(s) that are not features: nope"),
        (["--categorical", "y"], "--categorical names the target 'y'"),
        (["--categorical", "x"], "Column 'x' is categorical with integer codes (--categorical) but holds"),
    ]
    for extra, message in cases:
        code, _, err = _run([*base, *extra], capsys)
        assert code == 1 and message in err, (extra, err)
        _one_error_line(err, "fit")
    code, out, err = _run([*base, "--shrinkage", "hs", "--shrinkage-strength", "5", "--categorical", "city",
                           "--n-estimators", "5"], capsys)
    assert code == 0, err
    assert "shrinkage='hs'" in out and "city (" in out and "integer-coded" not in out


def test_fit_help_describes_every_setting_with_the_estimator_default(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    defaults = ShrinkBoostRegressor().get_params()
    for flag, name, lightgbm in [("--n-estimators", "n_estimators", "num_iterations"),
                                 ("--learning-rate", "learning_rate", "learning_rate"),
                                 ("--max-leaf-nodes", "max_leaf_nodes", "num_leaves"),
                                 ("--min-samples-leaf", "min_samples_leaf", "min_data_in_leaf"),
                                 ("--l2-regularization", "l2_regularization", "lambda_l2"),
                                 ("--max-bins", "max_bins", "max_bin"),
                                 ("--subsample", "subsample", "bagging_fraction"),
                                 ("--colsample", "colsample", "feature_fraction"),
                                 ("--n-iter-no-change", "n_iter_no_change", "early_stopping_round")]:
        assert flag in text
        assert f"(default {defaults[name]}) [{lightgbm}]" in text, flag
    for flag in ("--categorical COL", "--shrinkage {eb,hs,none}", "--shrinkage-strength LAMBDA", "--max-depth",
                 "--early-stopping {auto,on,off}", "--validation-fraction", "--random-state SEED, --seed SEED",
                 "--threads N"):
        assert flag in text


def test_fit_predict_classification_with_text_labels(capsys, tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=300)
    frame = pd.DataFrame({"x": x, "group": rng.choice(["a", "b"], 300),
                          "label": np.where(x + 0.3 * rng.normal(size=300) > 0, "spam", "ham")})
    frame.loc[::50, "label"] = np.nan
    path, model_path = tmp_path / "mail.csv", tmp_path / "m.json"
    frame.to_csv(path, index=False)
    code, out, err = _run(["fit", "--csv", str(path), "--target", "label", "--out", str(model_path)], capsys)
    assert code == 0, err
    assert "ShrinkBoostClassifier" in out and "dropped 6 row(s) with a missing target" in out
    code, out, err = _run(["predict", "--model", str(model_path), "--csv", str(path)], capsys)
    assert code == 0, err
    predictions = pd.read_csv(io.StringIO(out))
    assert list(predictions.columns) == ["prediction", "proba_ham", "proba_spam"]
    np.testing.assert_allclose(predictions[["proba_ham", "proba_spam"]].sum(axis=1), 1.0)
    labelled = frame["label"].notna()
    accuracy = np.mean(predictions["prediction"][labelled] == frame["label"][labelled])
    assert accuracy > 0.85


def test_infer_task_only_infers_classification_from_a_categorical_target():
    from shrinktree.bench.tabular import DataError, infer_task, max_inferred_classes

    numbers = [f"{v:.3f}" for v in np.linspace(0, 10, 600)]
    stray = pd.Series([*numbers[:300], "?", *numbers[300:]], name="score")
    with pytest.raises(DataError, match=r"'score' is numeric except for 1 of 601 rows: '\?' \(1 row\).*--task"):
        infer_task(stray)
    with pytest.raises(DataError, match=r"'\?' \(1 row\)"):
        infer_task(stray, "regression")
    assert infer_task(stray, "classification") == "classification"  # asked for explicitly
    ids = pd.Series([f"user{i}" for i in range(500)], name="user")
    with pytest.raises(DataError, match=r"500 distinct non-numeric values in 500 rows.*--task classification"):
        infer_task(ids)
    assert infer_task(pd.Series(["a", "b", "c"] * 10)) == "classification"
    assert infer_task(pd.Series([0.5, 1.5, 0.5])) == "classification"
    assert infer_task(pd.Series([True, False])) == "classification"
    assert infer_task(pd.Series([1, 2, 3, 4])) == "regression"
    assert max_inferred_classes(3) == 2 and max_inferred_classes(100) == 20 and max_inferred_classes(10**6) == 100


@pytest.mark.parametrize("y, labels", [
    (pd.Series([0.5, 1.5, 0.5]), ["0.5", "1.5", "0.5"]),
    (pd.Series([0.0, 1.0, 1.0]), [0, 1, 1]),
    (pd.Series([True, False, True]), [True, False, True]),
    (pd.Series(["ham", "spam", "ham"], dtype="str"), ["ham", "spam", "ham"]),
])
def test_class_labels_are_kept_as_given_and_accepted_by_the_classifier(y, labels):
    from shrinktree.bench.tabular import class_labels

    converted = class_labels(y)
    assert converted.tolist() == labels
    model = ShrinkBoostClassifier(n_estimators=2, min_samples_leaf=1).fit(np.arange(3.0).reshape(-1, 1), converted)
    assert sorted(model.classes_.tolist()) == sorted(set(labels))


def test_fit_on_a_numeric_target_with_a_stray_token_names_the_token(capsys, tmp_path):
    path = tmp_path / "scores.csv"
    frame = _write_regression_csv(path, n=200)
    frame["price"] = frame["price"].round(4).astype(str)
    frame.loc[17, "price"] = "?"
    frame.to_csv(path, index=False)
    code, out, err = _run(["fit", "--csv", str(path), "--target", "price", "--out", str(tmp_path / "m.json")],
                          capsys)
    assert code == 1, out
    assert "'price' is numeric except for 1 of 200 rows: '?' (1 row)" in err and "--task" in err
    _one_error_line(err, "fit")
    assert not (tmp_path / "m.json").exists()


def test_fit_predict_two_valued_float_target_is_binary_with_labels_kept(capsys, tmp_path):
    rng = np.random.default_rng(4)
    x = rng.normal(size=200)
    frame = pd.DataFrame({"x": x, "dose": np.where(x > 0, 1.5, 0.5)})
    path, model = tmp_path / "dose.csv", tmp_path / "m.json"
    frame.to_csv(path, index=False)
    code, out, err = _run(["fit", "--csv", str(path), "--target", "dose", "--out", str(model)], capsys)
    assert code == 0, err
    assert "ShrinkBoostClassifier" in out and "(classification;" in out
    code, out, err = _run(["predict", "--model", str(model), "--csv", str(path)], capsys)
    assert code == 0, err
    predictions = pd.read_csv(io.StringIO(out))
    assert list(predictions.columns) == ["prediction", "proba_0.5", "proba_1.5"]
    assert set(predictions["prediction"]) == {0.5, 1.5}
    assert np.mean(predictions["prediction"] == frame["dose"]) > 0.95


def test_fit_errors(capsys, tmp_path):
    good = tmp_path / "good.csv"
    _write_regression_csv(good, n=50)
    model = str(tmp_path / "m.json")
    cases = {
        "missing": (["--csv", str(tmp_path / "nope.csv"), "--target", "price"], "CSV file not found"),
        "target": (["--csv", str(good), "--target", "cost"], "Target column 'cost' is not in"),
    }
    malformed = tmp_path / "bad.csv"
    malformed.write_text('a,b,price\n1,2,3\n4,5,6,7,8\n"unclosed,1,2\n')
    cases["malformed"] = (["--csv", str(malformed), "--target", "price"], "is not a well-formed CSV")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    cases["empty"] = (["--csv", str(empty), "--target", "price"], "is empty")
    text_target = tmp_path / "text.csv"
    pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]}).to_csv(text_target, index=False)
    cases["regression on text"] = (["--csv", str(text_target), "--target", "y", "--task", "regression"],
                                   "must be numeric")
    cases["no folder"] = (["--csv", str(good), "--target", "price", "--out", str(tmp_path / "no" / "m.json")],
                          "does not exist")
    for name, (argv, message) in cases.items():
        if "--out" not in argv:
            argv = [*argv, "--out", model]
        code, _, err = _run(["fit", *argv], capsys)
        assert code == 1, name
        assert message in err, (name, err)
        assert "Traceback" not in err


def test_predict_errors(capsys, tmp_path):
    train = tmp_path / "train.csv"
    _write_regression_csv(train, n=80)
    model = tmp_path / "m.json"
    assert main(["fit", "--csv", str(train), "--target", "price", "--out", str(model)]) == 0
    capsys.readouterr()
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"this is not a model")
    foreign = tmp_path / "foreign.json"
    foreign.write_bytes(json.dumps({"something": 1}).encode())
    lacking = tmp_path / "lacking.csv"
    pd.DataFrame({"city": ["north"], "size": [1.0]}).to_csv(lacking, index=False)
    malformed = tmp_path / "bad.csv"
    malformed.write_text("city,size,noise\nnorth,1,2\nsouth,1,2,3,4\n")
    cases = [
        (["--model", str(tmp_path / "none.json"), "--csv", str(train)], "Model file not found"),
        (["--model", str(garbage), "--csv", str(train)],
         "is not a valid shrinktree model file: it is not a complete JSON document"),
        (["--model", str(foreign), "--csv", str(train)],
         "is not a valid shrinktree model file: it is not a shrinktree model file"),
        (["--model", str(model), "--csv", str(tmp_path / "none.csv")], "CSV file not found"),
        (["--model", str(model), "--csv", str(lacking)], "lacks column(s) the model was fitted on: noise"),
        (["--model", str(model), "--csv", str(malformed)], "is not a well-formed CSV"),
    ]
    for argv, message in cases:
        code, _, err = _run(["predict", *argv], capsys)
        assert code == 1 and message in err, (argv, err)


# -- damaged and wrong model files ---------------------------------------------------------------
@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A small real model file (text and integer-coded categories) and a CSV to predict with it."""
    folder = tmp_path_factory.mktemp("model")
    train, model = folder / "train.csv", folder / "model.json"
    _write_grouped_csv(train, n=400)
    assert main(["fit", "--csv", str(train), "--target", "y", "--out", str(model), "--categorical", "shop",
                 "--n-estimators", "5"]) == 0
    return model, train


def _document_of(model_path) -> dict:
    return json.loads(Path(model_path).read_text())


def _resigned(document: dict) -> bytes:
    """A model file of ``document`` with its checksum recomputed (the rule of docs/model_file.md)."""
    body = {key: value for key, value in document.items() if key != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return json.dumps({**body, "checksum": "sha256:" + hashlib.sha256(text.encode()).hexdigest()}).encode()


def _with_header(model_path, **changes) -> bytes:
    """The real model's file with header keys changed (None drops a key), checksum recomputed."""
    document = {**_document_of(model_path), **changes}
    return _resigned({key: value for key, value in document.items() if value is not None})


def _with_metadata(model_path, **changes) -> bytes:
    """The real model's file with metadata keys changed (None drops a key), checksum recomputed."""
    document = _document_of(model_path)
    metadata = {**document["metadata"], **changes}
    return _with_header(model_path, metadata={key: value for key, value in metadata.items() if value is not None})


def _with_model(model_path, model) -> bytes:
    """The real model's file (its metadata) around another model, checksum recomputed."""
    from shrinktree.model_file import dumps

    other = json.loads(dumps(model))
    return _with_header(model_path, model_class=other["model_class"], state=other["state"])


def _with_tree(model_path, edit, keep_digest=False) -> bytes:
    """The real model's file with its first tree's attributes edited by ``edit``, checksum recomputed."""
    document = _document_of(model_path)
    state = document["state"]["__dict__"]
    if not keep_digest:
        del state["_prediction_state_digest"]
    edit(state["_trees"][0][0])
    return _resigned(document)


def _set_left(tree, values):
    entry = tree["attributes"]["__dict__"]["left"]
    entry["data"] = base64.b64encode(np.asarray(values, dtype=entry["__array__"]).tobytes()).decode()


def _first_left(tree):
    entry = tree["attributes"]["__dict__"]["left"]
    return np.frombuffer(base64.b64decode(entry["data"]), dtype=entry["__array__"]).copy()


def _nudge_value(tree):
    entry = tree["attributes"]["__dict__"]["value"]
    value = np.frombuffer(base64.b64decode(entry["data"]), dtype=entry["__array__"]) + 1e-12
    entry["data"] = base64.b64encode(value.tobytes()).decode()


def _bad_model_files(model_path):
    """(name, file bytes, expected reason) for files that are not valid shrinktree model files."""
    real = model_path.read_bytes()
    document = _document_of(model_path)
    saved = load_model(model_path)
    metadata = document["metadata"]
    middle = len(real) // 2
    flipped, bit_flipped = bytearray(real), bytearray(real)
    flipped[middle] ^= 0xFF
    # A bit of a letter or digit (inside a string, as the JSON stays valid): only the checksum can notice it.
    letter = next(i for i in range(middle, len(real)) if chr(real[i]).isascii() and chr(real[i]).isalnum())
    bit_flipped[letter] ^= 0x01
    levels = dict(metadata["categories"], city=list(range(len(metadata["categories"]["city"]))))
    old_content = pickle.dumps({"model": saved.model, "task": "regression"})
    old_envelope = {"format": "shrinktree-cli-model", "version": 2, "sha256": hashlib.sha256(old_content).hexdigest(),
                    "content": old_content}
    out_of_range = lambda tree: _set_left(tree, np.where(_first_left(tree) >= 0, 10_000, -1))  # noqa: E731
    rng = np.random.default_rng(0)
    y = rng.normal(size=60)
    X = pd.DataFrame({"city": pd.Categorical(rng.choice(["c1", "c2"], 60)),
                      "shop": pd.Categorical(rng.integers(0, 3, 60)), "x": rng.normal(size=60)})
    yield "empty file", b"", "it is empty"
    yield "random bytes", bytes(rng.integers(0, 256, 5000, dtype=np.uint8)), "it is not"
    yield "truncated", real[:middle], "it is not a complete JSON document (the file is truncated or damaged"
    yield "one byte flipped", bytes(flipped), "it is not JSON text (the file is damaged"
    yield "one bit flipped", bytes(bit_flipped), "its content does not match its checksum"
    yield "a pickled dict", pickle.dumps({"something": 1}), "it is a Python pickle, which shrinktree does not load"
    yield "a pickled estimator", pickle.dumps(saved.model), "it is a Python pickle"
    yield "model format 2", pickle.dumps(old_envelope), "former pickle format of 'shrinktree fit'"
    yield "model format 1", pickle.dumps({"format": "shrinktree-cli-model", "version": 1, "model": saved.model}), \
        "former pickle format of 'shrinktree fit'"
    yield "a JSON dict", b'{"something": 1}', 'it is not a shrinktree model file (it lacks "format"'
    yield "version as text", _with_header(model_path, format_version="1"), "its format version is '1', not a whole"
    yield "a later version", _with_header(model_path, format_version=FORMAT_VERSION + 1), \
        f"it is in model file format {FORMAT_VERSION + 1}, newer than format {FORMAT_VERSION}"
    yield "an earlier version", _with_header(model_path, format_version=0), "format 0, which this shrinktree"
    yield "no checksum", json.dumps({k: v for k, v in document.items() if k != "checksum"}).encode(), \
        "its header lacks checksum"
    yield "stale checksum", json.dumps({**document, "library_version": "0.0.1"}).encode(), \
        "its content does not match its checksum"
    yield "extra header key", _with_header(model_path, extra=1), "its header has unexpected keys 'extra'"
    yield "checksum as a number", json.dumps({**document, "checksum": 5}).encode(), "its checksum is not text"
    yield "metadata as a list", _with_header(model_path, metadata=[1]), "its metadata is a list, not a JSON object"
    yield "saved from Python", _with_header(model_path, metadata={}), "it has no metadata of 'shrinktree fit'"
    yield "metadata lacks columns", _with_metadata(model_path, columns=None), "its metadata lacks columns"
    yield "extra metadata", _with_metadata(model_path, owner="me"), "its metadata has unexpected keys 'owner'"
    yield "unknown task", _with_metadata(model_path, task="ranking"), "its task is 'ranking'"
    yield "target not text", _with_metadata(model_path, target=5), "its target column name is of type int, not text"
    yield "columns as text", _with_metadata(model_path, columns="city"), "feature columns are not a non-empty list"
    yield "categories as list", _with_metadata(model_path, categories=["city"]), "its categories are not a dict"
    yield "levels of the wrong type", _with_metadata(model_path, categories=levels), \
        "the levels of column 'city' are not a list of distinct texts"
    yield "integer-coded not listed", _with_metadata(model_path, integer_coded="shop"), "integer-coded columns"
    yield "other columns", _with_metadata(model_path, columns=["city", "shop", "weight"]), "fitted on other columns"
    yield "categories differ", _with_metadata(model_path, categories={"shop": metadata["categories"]["shop"]}), \
        "categorical features differ"
    yield "another model class", _with_header(model_path, model_class="LinearRegression"), \
        "its model class is 'LinearRegression', not one of"
    yield "classifier for regression", _with_model(model_path, ShrinkBoostClassifier(n_estimators=2).fit(X, y > 0)), \
        "its model is a ShrinkBoostClassifier, not a ShrinkBoostRegressor"
    yield "shrunk model", _with_model(model_path, shrinktree.shrink(saved.model, method="none")), \
        "its model is a ShrunkModelRegressor, not a ShrinkBoostRegressor"
    yield "unfitted", _with_header(model_path, state={"__dict__": {"shrinkage": "eb"}}), \
        "its ShrinkBoostRegressor is not fitted"
    yield "tree links out of range", _with_tree(model_path, out_of_range), \
        "its model state is damaged (The restored ShrinkBoostRegressor is damaged: Child index out of range.)"
    yield "a changed value", _with_tree(model_path, _nudge_value, keep_digest=True), \
        "does not match the model that was saved"
    yield "unknown class", _with_tree(model_path, lambda tree: tree.update(__object__="Popen")), \
        "names the class 'Popen'"
    yield "time deltas", _with_tree(model_path, lambda tree: tree["attributes"]["__dict__"]["left"].update(
        __array__="<m8")), "An array has the dtype '<m8'"
    yield "array bytes missing", _with_tree(model_path, lambda tree: _set_left(tree, [1])), "holds 4 bytes"
    yield "deeply nested", b"[" * 100_000 + b"]" * 100_000, "nested deeper than any model file"


def test_predict_refuses_text_in_numeric_and_integer_coded_columns(model_file, capsys, tmp_path):
    model, _ = model_file
    for row, message in [("c1,abc,1", "Column 'shop' is categorical with integer codes (--categorical) but holds "
                                      "'abc', which is not an integer."),
                         ("c1,2.5,1", "Column 'shop' is categorical with integer codes (--categorical) but holds "
                                      "2.5, which is not an integer."),
                         ("c1,3,big", "Column 'x' was numeric in training but holds 'big'.")]:
        path = tmp_path / "rows.csv"
        path.write_text(f"city,shop,x\n{row}\n")
        code, out, err = _run(["predict", "--model", str(model), "--csv", str(path)], capsys)
        assert code == 1 and out == "" and message in err, (row, err)
        _one_error_line(err, "predict")


def test_invalid_model_files_are_one_line_errors(model_file, capsys, tmp_path):
    model, csv = model_file
    bad = tmp_path / "bad.json"
    for name, data, reason in _bad_model_files(model):
        bad.write_bytes(data)
        code, out, err = _run(["predict", "--model", str(bad), "--csv", str(csv)], capsys)
        assert code == 1 and out == "", name
        assert f"{bad} is not a valid shrinktree model file: " in err and reason in err, (name, err)
        _one_error_line(err, "predict")


_CORRUPTION_DRIVER = """
import contextlib, io, json, sys
from shrinktree.cli import main
model, csv, damaged = sys.argv[1:4]
data = open(model, "rb").read()
cuts = sorted({*range(64), *range(0, len(data), 61), len(data) - 1})
flips = sorted({*range(64), *range(0, len(data), 7), *range(len(data) - 64, len(data))})
cases = [("truncated to", n, data[:n]) for n in cuts]
cases += [("byte flipped at", i, data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]) for i in flips[::4]]
cases += [("bit flipped at", i, data[:i] + bytes([data[i] ^ (1 << (i % 7))]) + data[i + 1:]) for i in flips]
cases.insert(0, ("intact", 0, data))
results = []
for kind, where, damaged_data in cases:
    with open(damaged, "wb") as handle:
        handle.write(damaged_data)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["predict", "--model", damaged, "--csv", csv])
    except BaseException as exc:  # an escaped exception is a failure of the test
        status = f"{type(exc).__name__}: {exc}"
    results.append([kind, where, status, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


def test_truncated_and_flipped_model_files_in_a_fresh_process(model_file, tmp_path):
    model, csv = model_file
    done = subprocess.run([sys.executable, "-c", _CORRUPTION_DRIVER, str(model), str(csv), str(tmp_path / "d.json")],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=600)
    assert done.returncode == 0, f"the loader crashed (status {done.returncode}): {done.stderr[-2000:]}"
    (_, _, status, intact, _), *results = json.loads(done.stdout)
    assert status == 0 and intact.startswith("prediction\n")
    unharmed, reasons = 0, collections.Counter()
    for kind, where, status, out, err in results:
        # A cold numba cache's compile notice may land in any case's captured stderr (its last line is written
        # a second after compiling stops, by its own thread): not the loader's output.
        err = "".join(line for line in err.splitlines(keepends=True) if not line.startswith(PREFIX))
        if status == 0:  # a flip that JSON reads as the same document (e.g. the case of a hex escape)
            assert out == intact and err == "", (kind, where)
            unharmed += 1
            continue
        assert status == 1, (kind, where, status)
        assert "is not a valid shrinktree model file: " in err, (kind, where, err)
        _one_error_line(err, "predict")
        reasons[kind, err.split("model file: ", 1)[1].split(" (")[0].split(":")[0].strip()] += 1
    assert len(results) > 2000 and unharmed <= 8
    # Each kind of damage is caught where it should be: cuts by the JSON parser, bit flips that leave valid
    # JSON by the checksum, byte flips (never UTF-8) by the text decoder.
    assert all(r.startswith(("it is not a complete JSON", "it is empty")) for k, r in reasons if k == "truncated to")
    assert reasons["bit flipped at", "its content does not match its checksum"] > 1000, reasons
    assert all(r.startswith("it is not JSON text") for k, r in reasons if k == "byte flipped at"), reasons
    for data in (model.read_bytes()[:1000], model.read_bytes()[:-1], b"\x80\x05garbage"):
        damaged = tmp_path / "cli.json"
        damaged.write_bytes(data)
        done = _cli(["predict", "--model", str(damaged), "--csv", str(csv)])
        assert done.returncode == 1 and done.stdout == ""
        _one_error_line(done.stderr, "predict")


def test_directories_and_non_folders_as_paths_are_one_line_errors(capsys, tmp_path):
    train = tmp_path / "train.csv"
    _write_regression_csv(train, n=60)
    model = tmp_path / "m.json"
    assert main(["fit", "--csv", str(train), "--target", "price", "--out", str(model)]) == 0
    capsys.readouterr()
    folder = tmp_path / "folder"
    folder.mkdir()
    a_file = tmp_path / "plain.txt"
    a_file.write_text("not a folder")
    cases = [
        (["fit", "--csv", str(train), "--target", "price", "--out", str(folder)], "is a directory"),
        (["fit", "--csv", str(train), "--target", "price", "--out", str(a_file / "m.json")], "is not a folder"),
        (["predict", "--model", str(folder), "--csv", str(train)], "is a directory"),
        (["predict", "--model", str(model), "--csv", str(train), "--out", str(folder)], "is a directory"),
        (["predict", "--model", str(model), "--csv", str(train), "--out", str(a_file / "p.csv")],
         "is not a folder"),
        (["bench", "--output", str(folder), *FAST_BENCH], "is a directory"),  # refused before the bench runs
    ]
    for argv, message in cases:
        code, _, err = _run(argv, capsys)
        assert code == 1 and message in err, (argv, err)
        _one_error_line(err, argv[0])
    assert list(folder.iterdir()) == []


def test_directory_as_out_in_a_fresh_process(tmp_path):
    train = tmp_path / "train.csv"
    _write_regression_csv(train, n=60)
    done = _cli(["fit", "--csv", str(train), "--target", "price", "--out", str(tmp_path)])
    assert done.returncode == 1
    _one_error_line(done.stderr, "fit")


def test_predict_into_a_pipe_closed_early_exits_quietly_with_status_1(capsys, tmp_path):
    train = tmp_path / "train.csv"
    _write_regression_csv(train, n=60)
    model = tmp_path / "m.json"
    assert main(["fit", "--csv", str(train), "--target", "price", "--out", str(model)]) == 0
    many = tmp_path / "many.csv"
    _write_regression_csv(many, n=40_000)  # far more output than a pipe buffers
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    reader = subprocess.Popen([sys.executable, "-m", "shrinktree", "predict", "--model", str(model), "--csv",
                               str(many)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    first = reader.stdout.readline()  # like `| head -n 1`
    reader.stdout.close()
    err = reader.stderr.read()
    reader.stderr.close()
    assert reader.wait(timeout=300) == 1
    assert first == b"prediction\n"
    # a cold numba cache may compile the large-batch predict kernel in the child: its notice is not noise
    err = b"".join(line for line in err.splitlines(keepends=True) if not line.startswith(PREFIX.encode()))
    assert err == b""


# -- plumbing -----------------------------------------------------------------------------------
def test_progress_line_streams():
    plain = io.StringIO()
    progress = ProgressLine(stream=plain)
    progress(1, 10, "first")
    progress(10, 10, "last")
    lines = plain.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("[ 1/10]") and lines[1].endswith("last")

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    progress = ProgressLine(stream=terminal)
    progress(1, 2, "a long first message")
    progress(2, 2, "short")
    progress.close()
    assert "\n" not in terminal.getvalue() and terminal.getvalue().count("\r") == 4
    silent = io.StringIO()
    ProgressLine(stream=silent, enabled=False)(1, 1, "x")
    assert silent.getvalue() == ""


def test_python_dash_m_entry_point():
    done = subprocess.run([sys.executable, "-m", "shrinktree", "bench", "--dataset", "unknown"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Unknown dataset 'unknown'" in done.stderr


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(command in out for command in ("bench", "fit", "predict"))


def test_readme_command_line_examples_parse():
    from shrinktree.cli import build_parser

    section = (REPO / "README.md").read_text().split("## Command line", 1)[1]
    examples = [line.split("#")[0].split()[1:] for line in section.splitlines() if line.startswith("shrinktree ")]
    assert len(examples) >= 5
    for argv in examples:
        build_parser().parse_args(argv)  # exits (fails the test) on an option the parser does not know


@pytest.mark.slow
def test_bench_without_arguments_runs_every_installed_model(capsys):
    code, out, err = _run(["bench"], capsys)
    assert code == 0, err
    assert "dataset: diabetes" in out and "shrinktree-none" in out and "sklearn-hgb" in out
