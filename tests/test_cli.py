"""The shrinktree command line: bench, fit and predict, including their error paths."""

import hashlib
import io
import json
import operator
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
from shrinktree.cli import MODEL_FORMAT, MODEL_FORMAT_VERSION, ProgressLine, load_model, main

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
    (["bench", "--models", "shrinktree", "catboost"], "Unknown model(s) 'catboost'"),
])
def test_bench_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_regression_csv(tmp_path / "data.csv", n=60)
    code, out, err = _run(argv, capsys)
    assert code == 1
    assert message in err and err.startswith("shrinktree bench: error:")
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
    train_path, model_path = tmp_path / "train.csv", tmp_path / "model.pkl"
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
    train, model = tmp_path / "train.csv", tmp_path / "m.pkl"
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
    train, model = tmp_path / "train.csv", tmp_path / "m.pkl"
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
    train, model = tmp_path / "train.csv", tmp_path / "m.pkl"
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
    train, model, new = tmp_path / "train.csv", tmp_path / "m.pkl", tmp_path / "new.csv"
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
    base = ["fit", "--csv", str(train), "--target", "y", "--out", str(tmp_path / "m.pkl")]
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
    path, model_path = tmp_path / "mail.csv", tmp_path / "m.pkl"
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
    code, out, err = _run(["fit", "--csv", str(path), "--target", "price", "--out", str(tmp_path / "m.pkl")],
                          capsys)
    assert code == 1, out
    assert "'price' is numeric except for 1 of 200 rows: '?' (1 row)" in err and "--task" in err
    _one_error_line(err, "fit")
    assert not (tmp_path / "m.pkl").exists()


def test_fit_predict_two_valued_float_target_is_binary_with_labels_kept(capsys, tmp_path):
    rng = np.random.default_rng(4)
    x = rng.normal(size=200)
    frame = pd.DataFrame({"x": x, "dose": np.where(x > 0, 1.5, 0.5)})
    path, model = tmp_path / "dose.csv", tmp_path / "m.pkl"
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
    model = str(tmp_path / "m.pkl")
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
    cases["no folder"] = (["--csv", str(good), "--target", "price", "--out", str(tmp_path / "no" / "m.pkl")],
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
    model = tmp_path / "m.pkl"
    assert main(["fit", "--csv", str(train), "--target", "price", "--out", str(model)]) == 0
    capsys.readouterr()
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"this is not a model")
    foreign = tmp_path / "foreign.pkl"
    foreign.write_bytes(pickle.dumps({"something": 1}))
    lacking = tmp_path / "lacking.csv"
    pd.DataFrame({"city": ["north"], "size": [1.0]}).to_csv(lacking, index=False)
    malformed = tmp_path / "bad.csv"
    malformed.write_text("city,size,noise\nnorth,1,2\nsouth,1,2,3,4\n")
    cases = [
        (["--model", str(tmp_path / "none.pkl"), "--csv", str(train)], "Model file not found"),
        (["--model", str(garbage), "--csv", str(train)], "is not a valid shrinktree model file: it cannot be"),
        (["--model", str(foreign), "--csv", str(train)],
         "is not a valid shrinktree model file: it is not a model saved by 'shrinktree fit'"),
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
    train, model = folder / "train.csv", folder / "model.pkl"
    _write_grouped_csv(train, n=400)
    assert main(["fit", "--csv", str(train), "--target", "y", "--out", str(model), "--categorical", "shop",
                 "--n-estimators", "5"]) == 0
    return model, train


class _RaisesWhenUnpickled:
    """Unpickling calls ``function(*args)``: stands for an object whose loading fails (e.g. corrupted arrays)."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _envelope(payload: bytes, **changes) -> bytes:
    """A model file around ``payload`` with the right checksum; ``changes`` override (None drops) header keys."""
    header = {"format": MODEL_FORMAT, "version": MODEL_FORMAT_VERSION, "sha256": hashlib.sha256(payload).hexdigest(),
              "content": payload}
    header.update(changes)
    return pickle.dumps({key: value for key, value in header.items() if value is not None})


def _content_of(model_path) -> dict:
    with open(model_path, "rb") as handle:
        return pickle.loads(pickle.load(handle)["content"])


def _with_content(model_path, **changes) -> bytes:
    """The real model's file with content keys changed (None drops a key), checksum recomputed."""
    content = _content_of(model_path)
    content.update(changes)
    return _envelope(pickle.dumps({key: value for key, value in content.items() if value is not None}))


def _bad_model_files(model_path):
    """(name, file bytes, expected reason) for files that are not valid shrinktree model files."""
    from sklearn.linear_model import LinearRegression

    real = model_path.read_bytes()
    saved = _content_of(model_path)
    flipped = bytearray(real)
    flipped[len(real) // 2] ^= 0xFF
    levels = dict(saved["categories"], city=list(range(len(saved["categories"]["city"]))))
    yield "empty file", b"", "it cannot be unpickled (EOFError"
    yield "random bytes", bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)), "it cannot be"
    yield "truncated", real[: len(real) // 2], "it cannot be unpickled (UnpicklingError: pickle data was truncated)"
    yield "one byte flipped", bytes(flipped), "its content does not match its checksum"
    yield "a pickled dict", pickle.dumps({"something": 1}), "it is not a model saved by 'shrinktree fit'"
    yield "a pickled estimator", pickle.dumps(saved["model"]), "it refers to shrinktree."
    yield "model format 1", pickle.dumps({"format": MODEL_FORMAT, "version": 1, "model": saved["model"]}), \
        "it refers to shrinktree."
    yield "version as text", _envelope(b"x", version="2"), "its model format version is '2', not a number"
    yield "a later version", _envelope(b"x", version=MODEL_FORMAT_VERSION + 1), "it declares model format"
    yield "no checksum", _envelope(b"x", sha256=None), "its header lacks sha256"
    yield "extra header key", _envelope(b"x", extra=1), "its header has unexpected keys 'extra'"
    yield "content as text", _envelope(b"x", content="text"), "its header has a checksum or content of the wrong type"
    yield "content not a dict", _envelope(pickle.dumps([1, 2])), "its content is of type list, not a dict"
    yield "content lacks columns", _with_content(model_path, columns=None), "its content lacks columns"
    yield "unknown task", _with_content(model_path, task="ranking"), "its task is 'ranking'"
    yield "target not text", _with_content(model_path, target=5), "its target column name is of type int, not text"
    yield "columns as text", _with_content(model_path, columns="city"), "feature columns are not a non-empty list"
    yield "categories as list", _with_content(model_path, categories=["city"]), "its categories are not a dict"
    yield "levels of the wrong type", _with_content(model_path, categories=levels), \
        "the levels of column 'city' are not a list of distinct texts"
    yield "integer-coded not listed", _with_content(model_path, integer_coded="shop"), "integer-coded columns"
    yield "another estimator", _with_content(model_path, model=LinearRegression()), \
        "its model is a LinearRegression, not a ShrinkBoostRegressor"
    yield "classifier for regression", _with_content(model_path, model=ShrinkBoostClassifier()), \
        "its model is a ShrinkBoostClassifier, not a ShrinkBoostRegressor"
    yield "unfitted", _with_content(model_path, model=ShrinkBoostRegressor()), "its ShrinkBoostRegressor is not fitted"
    yield "other columns", _with_content(model_path, columns=["city", "shop", "weight"]), "fitted on other columns"
    yield "categories differ", _with_content(model_path, categories={"shop": saved["categories"]["shop"]}), \
        "categorical features differ"
    for error, function, args in [("ValueError", int, ("corrupted tree arrays",)),
                                  ("TypeError", int, (None,)),
                                  ("KeyError", operator.getitem, ({}, "trees")),
                                  ("IndexError", operator.getitem, ([], 0)),
                                  ("AttributeError", getattr, (object(), "_trees")),
                                  ("OverflowError", bytearray, (10**30,)),
                                  ("MemoryError", bytearray, (2**62,))]:
        yield f"{error} while unpickling", _with_content(model_path, model=_RaisesWhenUnpickled(function, *args)), \
            f"it cannot be unpickled ({error}"
    yield "missing module", _envelope(b"cno_such_module\nthing\n."), "it cannot be unpickled (ModuleNotFoundError"


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
    bad = tmp_path / "bad.pkl"
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
cases += [("byte flipped at", i, data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]) for i in flips]
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
    done = subprocess.run([sys.executable, "-c", _CORRUPTION_DRIVER, str(model), str(csv), str(tmp_path / "d.pkl")],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=600)
    assert done.returncode == 0, f"the loader crashed (status {done.returncode}): {done.stderr[-2000:]}"
    (_, _, status, intact, _), *results = json.loads(done.stdout)
    assert status == 0 and intact.startswith("prediction\n")
    unharmed = 0
    for kind, where, status, out, err in results:
        if status == 0:  # a byte pickle does not read (e.g. the frame length): the model is intact
            assert out == intact and err == "", (kind, where)
            unharmed += 1
            continue
        assert status == 1, (kind, where, status)
        assert "is not a valid shrinktree model file: " in err, (kind, where, err)
        _one_error_line(err, "predict")
    assert len(results) > 2000 and unharmed <= 8
    for data in (model.read_bytes()[:1000], model.read_bytes()[:-1], b"\x80\x05garbage"):
        damaged = tmp_path / "cli.pkl"
        damaged.write_bytes(data)
        done = _cli(["predict", "--model", str(damaged), "--csv", str(csv)])
        assert done.returncode == 1 and done.stdout == ""
        _one_error_line(done.stderr, "predict")


def test_directories_and_non_folders_as_paths_are_one_line_errors(capsys, tmp_path):
    train = tmp_path / "train.csv"
    _write_regression_csv(train, n=60)
    model = tmp_path / "m.pkl"
    assert main(["fit", "--csv", str(train), "--target", "price", "--out", str(model)]) == 0
    capsys.readouterr()
    folder = tmp_path / "folder"
    folder.mkdir()
    a_file = tmp_path / "plain.txt"
    a_file.write_text("not a folder")
    cases = [
        (["fit", "--csv", str(train), "--target", "price", "--out", str(folder)], "is a directory"),
        (["fit", "--csv", str(train), "--target", "price", "--out", str(a_file / "m.pkl")], "is not a folder"),
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
    model = tmp_path / "m.pkl"
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
