"""A damaged saved model gives a clear error: never a crash, never silently different predictions.

Every mutation flips one bit of a pickled model; loading and predicting run in a child process, so a
segmentation fault would show up as the child dying from a signal instead of killing the test run.
"""

import json
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor, TreeArrays, shrink
from shrinktree.exceptions import ModelIntegrityError

CHILD = textwrap.dedent("""
    import collections, json, pickle, sys, warnings
    import numpy as np

    warnings.simplefilter("ignore")
    with open(sys.argv[1], "rb") as handle:
        cases = pickle.load(handle)
    report = {}
    for name, (blob, X, reference, method, flips) in cases.items():
        outcomes, different = collections.Counter(), []
        for position, bit in flips:
            mutated = bytearray(blob)
            mutated[position] ^= 1 << bit
            try:
                model = pickle.loads(bytes(mutated))
                prediction = np.asarray(getattr(model, method)(X), dtype=np.float64)
            except Exception as exc:  # every error is fine here: the parent checks which
                outcomes[type(exc).__name__] += 1
                continue
            if prediction.shape == reference.shape and np.array_equal(prediction, reference, equal_nan=True):
                outcomes["same"] += 1
            else:
                outcomes["different"] += 1
                different.append([position, bit])
        report[name] = {"outcomes": dict(outcomes), "different": different[:10]}
    print(json.dumps(report))
""")


def models():
    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame({"x": rng.normal(size=n), "z": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
                      "c": pd.Categorical(rng.choice(list("abcde"), n))})
    y = X["x"].to_numpy() + (X["c"] == "b").to_numpy() + rng.normal(scale=0.3, size=n)
    small = {"n_estimators": 3, "max_leaf_nodes": 4, "random_state": 0}
    regressor = ShrinkBoostRegressor(**small).fit(X, y)
    classifier = ShrinkBoostClassifier(**small).fit(X, rng.choice(["u", "v", "w"], n))
    numeric = X[["x", "z"]].fillna(0.0).to_numpy()
    forest = RandomForestRegressor(n_estimators=2, max_depth=3, random_state=0).fit(numeric, y)
    shrunk = shrink(forest, numeric, y, method="eb")
    # A log-link booster shrunk post hoc: its loss (name and parameters) is part of the saved state.
    amounts = np.exp(0.3 * numeric[:, 0]) * rng.gamma(2.0, 1.0, size=n) * (rng.random(n) < 0.7)
    tweedie = ShrinkBoostRegressor(loss="tweedie", power=1.4, n_estimators=2, max_leaf_nodes=3,
                                   random_state=0).fit(numeric, amounts)
    shrunk_tweedie = shrink(tweedie, numeric, amounts, method="eb")
    return {"regressor": (regressor, X, "predict"), "classifier": (classifier, X, "predict_proba"),
            "shrunk_forest": (shrunk, numeric, "predict"), "shrunk_tweedie": (shrunk_tweedie, numeric, "predict")}


def flips_for(blob: bytes, limit: int | None, seed: int):
    everything = [(position, bit) for position in range(len(blob)) for bit in range(8)]
    if limit is None or limit >= len(everything):
        return everything
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(everything), size=limit, replace=False)
    return [everything[i] for i in np.sort(chosen)]


def run_mutations(tmp_path, limit):
    cases = {}
    for seed, (name, (model, X, method)) in enumerate(models().items()):
        blob = pickle.dumps(model)
        reference = np.asarray(getattr(model, method)(X), dtype=np.float64)
        cases[name] = (blob, X, reference, method, flips_for(blob, limit, seed))
    path = tmp_path / "cases.pkl"
    path.write_bytes(pickle.dumps(cases))
    result = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, (
        f"the child died (return code {result.returncode}: a negative code is the signal that killed it)\n"
        f"{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def check_report(report, expected_mutations):
    for name, entry in report.items():
        outcomes = entry["outcomes"]
        assert sum(outcomes.values()) == expected_mutations[name]
        assert outcomes.get("different", 0) == 0, f"{name}: silently different predictions at {entry['different']}"
        # The flips that reach array data are caught by the integrity check, not left unnoticed.
        assert outcomes.get("ModelIntegrityError", 0) > 0


def test_bit_flips_in_saved_models_never_crash_or_change_predictions(tmp_path):
    limit = 1500
    report = run_mutations(tmp_path, limit)
    check_report(report, {name: limit for name in report})


@pytest.mark.slow
def test_every_bit_flip_in_saved_models(tmp_path):
    report = run_mutations(tmp_path, None)
    sizes = {name: 8 * len(pickle.dumps(model)) for name, (model, _, _) in models().items()}
    check_report(report, sizes)


# -- the structural checks behind it, each on its own ------------------------------------------
def fitted_regressor():
    return models()["regressor"][0]


@pytest.mark.parametrize("corrupt, match", [
    (lambda t: t.left.__setitem__(0, 10_000), "out of range"),
    (lambda t: t.left.__setitem__(0, 0), "topological order"),
    (lambda t: t.feature.__setitem__(0, 99), "feature index out of range"),
    (lambda t: t.feature.__setitem__(0, -5), "feature index out of range"),
    (lambda t: setattr(t, "value", t.value[:-1]), "shape"),
    (lambda t: setattr(t, "left", t.left.astype(np.float64)), "dtype"),
])
def test_restored_trees_are_checked_without_a_digest(corrupt, match):
    # A state without a digest (an older file, or one edited on purpose) still gets every structural check.
    model = fitted_regressor()
    state = model.__getstate__()
    state.pop("_prediction_state_digest")
    corrupt(state["_trees"][0][0])
    clone = ShrinkBoostRegressor.__new__(ShrinkBoostRegressor)
    with pytest.raises(ModelIntegrityError, match=match):
        clone.__setstate__(state)


def test_a_changed_value_fails_the_digest():
    model = fitted_regressor()
    state = model.__getstate__()
    state["_trees"][1][0].value[2, 0] += 1e-9
    with pytest.raises(ModelIntegrityError, match="does not match the model that was saved"):
        ShrinkBoostRegressor.__new__(ShrinkBoostRegressor).__setstate__(state)


def test_restored_model_rebuilds_its_flat_forest():
    model = fitted_regressor()
    state = model.__getstate__()
    assert "_forest" not in state and "_tree_output" not in state
    clone = pickle.loads(pickle.dumps(model))
    X = models()["regressor"][1]
    np.testing.assert_array_equal(clone.predict(X), model.predict(X))


def test_tree_validate_accepts_every_fitted_tree():
    for model, _, _ in models().values():
        trees = model.trees_ if isinstance(model.trees_[0], TreeArrays) else [t for s in model.trees_ for t in s]
        for tree in trees:
            tree.validate(n_features=model.n_features_in_)
