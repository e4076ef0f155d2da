"""The model file: save_model / load_model round trips, its layout, versions, and damaged or crafted files.

Damaged files are loaded in a child process, as in ``test_model_integrity.py``: a segmentation fault
shows up as the child dying from a signal instead of killing the test run.
"""

import base64
import hashlib
import json
import pickle
import pickletools
import subprocess
import sys
import textwrap

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from blend_reference import route, tree_values
from present_sets import add_present_sets
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import NotFittedError

import shrinktree
from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor, load_model, shrink
from shrinktree import model_file as mf
from shrinktree.exceptions import ModelFileError, ModelIntegrityError
from shrinktree.posthoc import ShrunkModelClassifier, ShrunkModelRegressor

# Rows beyond float32's range, for the models that route in float32 (scikit-learn's trees): numpy warns.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")

SMALL = {"n_estimators": 8, "max_leaf_nodes": 6, "min_samples_leaf": 5, "random_state": 0}


def frame(n=400, seed=0):
    """Numeric, categorical and missing values: a numeric column with NaN and a category column with NaN."""
    rng = np.random.default_rng(seed)
    city = pd.Categorical(rng.choice(["north", "south", "east", "west", "up"], n))
    X = pd.DataFrame({"x": rng.normal(size=n), "z": np.where(rng.random(n) < 0.15, np.nan, rng.normal(size=n)),
                      "city": city})
    X.loc[rng.random(n) < 0.1, "city"] = np.nan
    signal = X["x"].to_numpy() + np.nan_to_num(X["z"].to_numpy()) + (X["city"] == "north").to_numpy()
    return X, signal, rng


def new_rows(X):
    """Rows to predict: the training rows plus a level unseen at fit, all-missing rows and extreme values."""
    extra = pd.DataFrame({"x": [np.nan, 1e300, -0.0, 0.5], "z": [np.nan, np.nan, -1e-300, 2.0],
                          "city": pd.Categorical(["north", np.nan, "south", "east"])})
    rows = pd.concat([X, extra], ignore_index=True)
    rows["city"] = pd.Categorical(rows["city"].astype(object).where(rows.index != 3, "mars"))
    return rows


def regressors():
    X, signal, rng = frame()
    n = len(X)
    out = {}
    for loss, extra in [("squared_error", {}), ("absolute_error", {}), ("huber", {}),
                        ("quantile", {"quantile": 0.8}), ("gamma", {}), ("tweedie", {"power": 1.3})]:
        y = signal + rng.normal(size=n)
        if loss in ("gamma", "tweedie"):
            y = np.exp(0.3 * signal) * rng.gamma(2.0, size=n)
        out[loss] = ShrinkBoostRegressor(loss=loss, **extra, **SMALL).fit(X, y), None
    exposure = rng.uniform(0.5, 2.0, n)
    counts = rng.poisson(exposure * np.exp(0.4 * signal))
    poisson = ShrinkBoostRegressor(loss="poisson", **SMALL).fit(X, counts, offset=np.log(exposure))
    out["poisson with offset"] = poisson, np.log(rng.uniform(0.5, 2.0, len(new_rows(X))))
    return X, out


def outputs(model, X, offset=None):
    """Everything a fitted model predicts, as arrays."""
    if isinstance(model, (ShrinkBoostRegressor, ShrinkBoostClassifier)):
        kwargs = {} if offset is None else {"offset": offset}
        result = {"predict": model.predict(X, **kwargs), "apply": model.apply(X),
                  "importances": model.feature_importances_}
        if isinstance(model, ShrinkBoostClassifier):
            result["predict_proba"] = model.predict_proba(X)
            result["decision_function"] = model.decision_function(X)
        return result
    result = {"predict": model.predict(X)}
    if isinstance(model, ShrunkModelClassifier):
        result["predict_proba"] = model.predict_proba(X)
        if hasattr(model, "decision_function"):
            result["decision_function"] = model.decision_function(X)
    return result


def assert_bit_identical(before: dict, after: dict):
    assert before.keys() == after.keys()
    for key in before:
        a, b = np.asarray(before[key]), np.asarray(after[key])
        assert a.dtype == b.dtype and a.shape == b.shape, key
        if a.dtype.kind == "O":
            assert a.tolist() == b.tolist(), key
        else:
            assert a.tobytes() == b.tobytes(), key  # bit for bit: signed zeros and NaN payloads included


def round_trip(model, tmp_path, name="model.json"):
    path = tmp_path / name
    model.save_model(path)
    loaded = load_model(path)
    assert type(loaded) is type(model) and loaded is not model
    return loaded


# -- bit-identical round trips -------------------------------------------------------------------
def test_regressors_of_every_loss_round_trip_bit_for_bit(tmp_path):
    X, models = regressors()
    rows = new_rows(X)
    for name, (model, offset) in models.items():
        loaded = round_trip(model, tmp_path)
        assert_bit_identical(outputs(model, rows, offset), outputs(loaded, rows, offset))
        assert loaded.get_params() == model.get_params(), name
        assert loaded.n_iter_ == model.n_iter_ and loaded.categories_[2].tolist() == model.categories_[2].tolist()
        np.testing.assert_array_equal(loaded.pooling_strength_, model.pooling_strength_)
        for trees, loaded_trees in zip(model.trees_, loaded.trees_):
            for tree, loaded_tree in zip(trees, loaded_trees):
                assert tree.to_frame().equals(loaded_tree.to_frame())
    # The offset is part of the prediction, not of the file: the Poisson model's rates move with it.
    model, offset = models["poisson with offset"]
    loaded = round_trip(model, tmp_path)
    assert not np.array_equal(loaded.predict(rows, offset=offset), loaded.predict(rows))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_classifiers_round_trip_bit_for_bit(tmp_path, n_classes):
    X, signal, rng = frame(seed=n_classes)
    labels = np.array(["low", "mid", "high"])[:n_classes]
    y = labels[np.digitize(signal + rng.normal(size=len(X)), [-0.5, 0.8][: n_classes - 1])]
    model = ShrinkBoostClassifier(**SMALL).fit(X, y)
    loaded = round_trip(model, tmp_path)
    rows = new_rows(X)
    assert_bit_identical(outputs(model, rows), outputs(loaded, rows))
    assert loaded.classes_.tolist() == model.classes_.tolist() and loaded.n_classes_ == n_classes
    staged = zip(model.staged_predict_proba(rows), loaded.staged_predict_proba(rows))
    assert all(np.array_equal(a, b) for a, b in staged)


def test_numpy_input_and_early_stopping_models_round_trip(tmp_path):
    X, signal, rng = frame()
    numbers = X[["x", "z"]].to_numpy()
    y = signal + rng.normal(size=len(X))
    model = ShrinkBoostRegressor(n_estimators=200, early_stopping=True, n_iter_no_change=3, random_state=1,
                                 subsample=0.7).fit(numbers, y)
    assert model.n_iter_ < 200
    loaded = round_trip(model, tmp_path)
    assert not hasattr(loaded, "feature_names_in_")
    assert_bit_identical(outputs(model, numbers), outputs(loaded, numbers))
    assert loaded.validation_score_.tobytes() == model.validation_score_.tobytes()
    # A loaded model goes on as the original: refitting it gives the same model.
    assert np.array_equal(loaded.fit(numbers, y).predict(numbers), model.predict(numbers))


def shrunk_models():
    """Post-hoc shrunk models: scikit-learn forests (numeric, with NaN), LightGBM on category columns, shrinktree."""
    X, signal, rng = frame(n=300)
    n = len(X)
    y = signal + rng.normal(size=n)
    numbers = X[["x", "z"]].to_numpy()
    classes = np.digitize(y, [-0.5, 0.8])
    forest = RandomForestRegressor(n_estimators=4, max_depth=4, random_state=0).fit(numbers, y)
    forest_classes = RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0).fit(numbers, classes)
    light = dict(n_estimators=6, num_leaves=6, min_child_samples=5, verbose=-1, random_state=0)
    lgb_regressor = lgb.LGBMRegressor(**light).fit(X, y)
    lgb_classifier = lgb.LGBMClassifier(**light).fit(X, classes)
    booster = ShrinkBoostRegressor(**SMALL).fit(X, y)
    return {
        "forest regressor": (shrink(forest, numbers, y), numbers),
        "forest classifier": (shrink(forest_classes, numbers, classes, method="hs", strength=5.0), numbers),
        "lightgbm regressor": (shrink(lgb_regressor, X, y), new_rows(X)),
        "lightgbm multiclass": (shrink(lgb_classifier, X, classes), new_rows(X)),
        "shrinktree booster": (shrink(booster, X, y), new_rows(X)),
    }


def test_shrunk_models_round_trip_bit_for_bit(tmp_path):
    for name, (model, rows) in shrunk_models().items():
        loaded = round_trip(model, tmp_path)
        assert_bit_identical(outputs(model, rows), outputs(loaded, rows))
        assert loaded.method_ == model.method_ and loaded.source_ == model.source_, name
        np.testing.assert_array_equal(loaded.pooling_strength_, model.pooling_strength_)
        assert all(np.array_equal(a, b) for a, b in zip(model.pooling_factors_, loaded.pooling_factors_))


def test_a_pickled_estimator_still_round_trips_exactly():
    X, models = regressors()
    rows = new_rows(X)
    cases = [models["squared_error"][0], *[model for model, _ in shrunk_models().values()]]
    for model in cases:
        blob = pickle.dumps(model)
        loaded = pickle.loads(blob)
        X_pred = rows if getattr(model, "feature_names_in_", None) is not None else rows[["x", "z"]].to_numpy()
        assert_bit_identical(outputs(model, X_pred), outputs(loaded, X_pred))
        # The pickle names shrinktree's safe-state loader and the class only: no numpy object is rebuilt.
        names = [arg for op, arg, _ in pickletools.genops(blob) if op.name in ("SHORT_BINUNICODE", "BINUNICODE")]
        globals_ = {name for name in names if name.startswith(("shrinktree", "numpy", "builtins", "copyreg"))}
        assert globals_ <= {"shrinktree._safe_state", "shrinktree.boosting.gradient_boosting",
                            "shrinktree.posthoc.model"}, globals_


def test_metadata_is_saved_and_read_back(tmp_path):
    X, models = regressors()
    model = models["squared_error"][0]
    metadata = {"owner": "risk team", "levels": [1, 2.5, None, True], "nested": {"é": ["ü"]}}
    model.save_model(tmp_path / "m.json", metadata=metadata)
    read = mf.read_model_file(tmp_path / "m.json")
    assert read.metadata == metadata and read.format_version == mf.FORMAT_VERSION
    assert read.library_version == shrinktree.__version__
    assert np.array_equal(read.model.predict(X), model.predict(X))
    for bad in ({"x": np.float64(1.0)}, {"x": float("nan")}, {1: "x"}, {"x": (1, 2)}, ["not a dict"]):
        with pytest.raises(TypeError, match="metadata"):
            model.save_model(tmp_path / "bad.json", metadata=bad)
    assert not (tmp_path / "bad.json").exists()


def test_save_model_errors(tmp_path):
    with pytest.raises(NotFittedError):
        ShrinkBoostRegressor().save_model(tmp_path / "m.json")
    with pytest.raises(NotFittedError):
        ShrunkModelRegressor().save_model(tmp_path / "m.json")
    with pytest.raises(TypeError, match="RandomForestRegressor"):
        mf.save_model(RandomForestRegressor(), tmp_path / "m.json")

    class Squared:
        def gradients(self, y, raw):
            return raw - y, np.ones_like(y)

    X, signal, _ = frame(n=100)
    custom = ShrinkBoostRegressor(loss=Squared(), n_estimators=2).fit(X, signal)
    with pytest.raises(TypeError, match="ShrinkBoostRegressor cannot be saved: Cannot save a value of type Squared"):
        custom.save_model(tmp_path / "m.json")
    with pytest.raises(FileNotFoundError):
        ShrinkBoostRegressor(n_estimators=2).fit(X, signal).save_model(tmp_path / "no folder" / "m.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no file, and no temporary left behind


# -- the layout ----------------------------------------------------------------------------------
def canonical_checksum(document: dict) -> str:
    """The checksum as docs/model_file.md defines it (written here from the documentation, not the code)."""
    body = {key: value for key, value in document.items() if key != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()


def resigned(document: dict) -> bytes:
    document = dict(document)
    document["checksum"] = canonical_checksum(document)
    return json.dumps(document).encode()


def arrays_in(value):
    """Every array entry of a saved state (dicts with "__array__"), depth first."""
    if isinstance(value, dict):
        if "__array__" in value:
            yield value
            return
        for item in value.values():
            yield from arrays_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from arrays_in(item)


def test_the_file_is_strict_json_with_the_documented_header(tmp_path):
    X, models = regressors()
    model = models["huber"][0]
    model.save_model(tmp_path / "m.json")
    text = (tmp_path / "m.json").read_text(encoding="ascii")
    assert text.startswith('{"format":"shrinktree-model","format_version":2,')
    document = json.loads(text, parse_constant=lambda name: pytest.fail(f"non-strict JSON constant {name}"))
    assert list(document) == list(mf.HEADER_KEYS)
    assert document["model_class"] == "ShrinkBoostRegressor" and document["library_version"] == shrinktree.__version__
    assert document["checksum"] == canonical_checksum(document)
    state = document["state"]["__dict__"]
    assert state["loss"] == "huber" and state["learning_rate"] == 0.1 and state["max_depth"] is None
    first_tree = state["_trees"][0][0]
    assert first_tree["__object__"] == "TreeArrays"
    parent = first_tree["attributes"]["__dict__"]["parent"]
    decoded = np.frombuffer(base64.b64decode(parent["data"]), dtype=parent["__array__"]).reshape(parent["shape"])
    np.testing.assert_array_equal(decoded, model.trees_[0][0].parent)
    assert {entry["__array__"] for entry in arrays_in(state)} <= mf_dtypes()
    # Non-finite floats are spelled out: strict JSON has no NaN or infinity.
    model.tol = float("nan")
    model.validation_score_ = [float("inf"), -float("inf")]
    model.save_model(tmp_path / "nan.json")
    state = json.loads((tmp_path / "nan.json").read_text())["state"]["__dict__"]
    assert state["tol"] == {"__float__": "nan"}
    assert state["validation_score_"] == [{"__float__": "inf"}, {"__float__": "-inf"}]
    loaded = load_model(tmp_path / "nan.json")
    assert np.isnan(loaded.tol) and loaded.validation_score_ == [np.inf, -np.inf]


def mf_dtypes():
    from shrinktree._safe_state import ALLOWED_DTYPES

    return ALLOWED_DTYPES


def test_loading_runs_no_pickle(tmp_path, monkeypatch):
    X, models = regressors()
    model = models["quantile"][0]
    model.save_model(tmp_path / "m.json")
    reference = model.predict(X)

    def refuse(*args, **kwargs):
        raise AssertionError("loading a model file used pickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(np, "load", refuse)
    assert np.array_equal(load_model(tmp_path / "m.json").predict(X), reference)


def test_a_file_written_on_a_big_endian_machine_loads_bit_for_bit(tmp_path):
    # Every array of the file as a big-endian machine writes it: byte order '>' in the dtype, bytes swapped.
    X, models = regressors()
    rows = new_rows(X)
    cases = [("regressor", models["poisson with offset"][0], rows),
             *[(name, model, X_) for name, (model, X_) in shrunk_models().items() if name.startswith("lightgbm")]]
    for name, model, X_ in cases:
        model.save_model(tmp_path / "m.json")
        document = json.loads((tmp_path / "m.json").read_text())
        swapped = 0
        for entry in arrays_in(document["state"]):
            dtype = np.dtype(entry["__array__"])
            if dtype.byteorder == "|":
                continue
            values = np.frombuffer(base64.b64decode(entry["data"]), dtype=dtype)
            entry["__array__"] = dtype.newbyteorder(">").str
            entry["data"] = base64.b64encode(values.astype(dtype.newbyteorder(">")).tobytes()).decode()
            swapped += 1
        assert swapped > 10
        (tmp_path / "big.json").write_bytes(resigned(document))
        loaded = load_model(tmp_path / "big.json")
        assert_bit_identical(outputs(model, X_), outputs(loaded, X_))
        trees = loaded.trees_ if isinstance(loaded.trees_[0], shrinktree.TreeArrays) else loaded.trees_[0]
        assert trees[0].value.dtype.isnative and trees[0].left.dtype.isnative, name


# -- versions ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    X, models = regressors()
    model = models["squared_error"][0]
    path = tmp_path_factory.mktemp("saved") / "model.json"
    model.save_model(path)
    return path, json.loads(path.read_text()), X, model.predict(X)


def load_bytes(data: bytes, tmp_path, name="x.json"):
    path = tmp_path / name
    path.write_bytes(data)
    return load_model(path)


def test_a_newer_format_version_is_a_clear_error(saved, tmp_path):
    _, document, _, _ = saved
    newer = dict(document, format_version=mf.FORMAT_VERSION + 1, library_version="9.0")
    with pytest.raises(ModelFileError, match=rf"model file format {mf.FORMAT_VERSION + 1}, newer than format "
                                             rf"{mf.FORMAT_VERSION} that this shrinktree 0\.1\.0 reads \(it was "
                                             r"written by shrinktree 9\.0\): upgrade"):
        load_bytes(resigned(newer), tmp_path)
    # A newer file's layout is not checked before its version: a future header still gets this message.
    future = {"format": "shrinktree-model", "format_version": 7, "whatever": []}
    with pytest.raises(ModelFileError, match=f"newer than format {mf.FORMAT_VERSION}"):
        load_bytes(json.dumps(future).encode(), tmp_path)
    with pytest.raises(ModelFileError, match="its format version is '1', not a whole number"):
        load_bytes(resigned(dict(document, format_version="1")), tmp_path)


def test_an_older_format_version_loads_or_says_why_not(saved, tmp_path, monkeypatch):
    _, document, X, reference = saved
    with pytest.raises(ModelFileError, match="format 0, which this shrinktree 0.1.0 cannot read: format 1 is the "
                                             "first model file format"):
        load_bytes(resigned(dict(document, format_version=0)), tmp_path)
    # A retired version says why.
    monkeypatch.setitem(mf.RETIRED, 0, "its trees stored no pooling factors (refit the model)")
    with pytest.raises(ModelFileError, match="cannot read: its trees stored no pooling factors"):
        load_bytes(resigned(dict(document, format_version=0)), tmp_path)
    # A readable older version goes through its upgrade step: here a format 0 whose state had another key.
    old_state = json.loads(json.dumps(document["state"]))
    old_state["__dict__"]["leaf_size"] = old_state["__dict__"].pop("min_samples_leaf")

    def upgrade(old):
        state = old["state"]["__dict__"]
        state["min_samples_leaf"] = state.pop("leaf_size")
        return dict(old, format_version=1)

    monkeypatch.setitem(mf.UPGRADES, 0, upgrade)
    loaded = load_bytes(resigned(dict(document, format_version=0, state=old_state)), tmp_path)
    assert np.array_equal(loaded.predict(X), reference) and loaded.min_samples_leaf == SMALL["min_samples_leaf"]
    assert mf.read_model_file(tmp_path / "x.json").format_version == 0


PRESENT_SET_ATTRIBUTES = ("present_offset", "present_bitset", "absent_left_share")


@pytest.fixture(scope="module")
def saved_blending(tmp_path_factory):
    """A saved model whose categorical nodes have present sets (added by hand), and rows some of which blend."""
    X, signal, rng = frame()
    by_city = 2.0 * X["city"].cat.codes.to_numpy() % 3  # enough for splits on city in most trees
    model = ShrinkBoostRegressor(**SMALL).fit(X, signal + by_city + rng.normal(size=len(X)))
    add_present_sets(model, rng, kept=0.5)
    path = tmp_path_factory.mktemp("saved") / "blending.json"
    model.save_model(path)
    rows = new_rows(X)
    return path, json.loads(path.read_text()), rows, model


def format_1(document, drop_present_sets=True):
    """``document`` as format 1 wrote it: no present-set attributes in its trees (as before they existed)."""
    document = json.loads(json.dumps(document))
    for trees in document["state"]["__dict__"]["_trees"]:
        for tree in trees:
            attributes = tree["attributes"]["__dict__"]
            for name in PRESENT_SET_ATTRIBUTES if drop_present_sets else ():
                del attributes[name]
    return dict(document, format_version=1)


def test_a_round_trip_keeps_the_present_sets_and_blended_predictions(saved_blending):
    path, document, rows, model = saved_blending
    loaded = load_model(path)
    X = model.tree_input(rows)
    blended = [t for trees in model._trees for t in trees]
    assert any(route(t, n, float(x[t.feature[n]])) == "blend" for t in blended
               for n in np.flatnonzero(t.present_offset >= 0) for x in X)
    for name in ("predict", "apply"):
        np.testing.assert_array_equal(getattr(loaded, name)(rows), getattr(model, name)(rows))
    for tree, original in zip((t for trees in loaded._trees for t in trees), blended):
        for name in PRESENT_SET_ATTRIBUTES:
            np.testing.assert_array_equal(getattr(tree, name), getattr(original, name))
    assert mf.read_model_file(path).format_version == 2


def test_a_format_1_file_loads_with_no_present_sets(saved, saved_blending, tmp_path):
    _, document, X, reference = saved
    # As files were written before present sets existed, and with present-set attributes holding their defaults
    # (format 1 never had them: they are dropped).
    for drop in (True, False):
        loaded = load_bytes(resigned(format_1(document, drop_present_sets=drop)), tmp_path)
        np.testing.assert_array_equal(loaded.predict(X), reference)
        assert mf.read_model_file(tmp_path / "x.json").format_version == 1
    # Format 1 had no present sets: a tree's present sets in such a file are dropped, so a file made that way
    # fails the digest, and without its digest predicts by the rule without present sets.
    _, blending, rows, model = saved_blending
    with pytest.raises(ModelFileError, match="does not match the model that was saved"):
        load_bytes(resigned(format_1(blending, drop_present_sets=False)), tmp_path)
    undigested = json.loads(json.dumps(blending))
    del undigested["state"]["__dict__"]["_prediction_state_digest"]
    loaded = load_bytes(resigned(format_1(undigested, drop_present_sets=False)), tmp_path)
    assert not any((t.present_offset >= 0).any() for trees in loaded._trees for t in trees)
    plain = [t.copy() for trees in model._trees for t in trees]
    for tree in plain:
        tree.present_offset[:] = -1
    expected = model._baseline[0] + sum(tree_values(t, model.tree_input(rows))[:, 0] for t in plain)
    np.testing.assert_allclose(loaded.predict(rows), expected, rtol=1e-12, atol=1e-12)


def present_offset_out_of_range(document, state):
    offsets = get_array(tree_array(state, "present_offset"))
    offsets[offsets >= 0] = 1 << 40
    set_array(tree_array(state, "present_offset"), offsets)


def present_set_at_a_numeric_node(document, state):
    offsets = get_array(tree_array(state, "present_offset"))
    numeric = get_array(tree_array(state, "is_categorical")) == 0
    offsets[np.flatnonzero(numeric)[0]] = 0
    set_array(tree_array(state, "present_offset"), offsets)


def share_outside_0_1(document, state, value=1.5):
    offsets = get_array(tree_array(state, "present_offset"))
    share = get_array(tree_array(state, "absent_left_share"))
    share[offsets >= 0] = value
    set_array(tree_array(state, "absent_left_share"), share)


def present_bitset_as_floats(document, state):
    entry = tree_array(state, "present_bitset")
    words = get_array(entry)
    entry["__array__"] = "<f8"
    set_array(entry, words.astype(np.float64))


@pytest.mark.parametrize("edit, reason", [
    (present_offset_out_of_range, "Present set offset out of range"),
    (lambda d, s: set_array(tree_array(s, "present_offset"), get_array(tree_array(s, "present_offset")) - 2),
     "Present set offset out of range"),
    (present_set_at_a_numeric_node, "Only categorical splits can have a present set"),
    (share_outside_0_1, "absent_left_share must lie in [0, 1]"),
    (lambda d, s: share_outside_0_1(d, s, np.nan), "absent_left_share must lie in [0, 1]"),
    (present_bitset_as_floats, "Tree array 'present_bitset' has dtype float64"),
    (lambda d, s: set_array(tree_array(s, "absent_left_share"), [0.5]), "'absent_left_share' has shape (1,)"),
    (lambda d, s: tree_array(s, "present_bitset").update({"shape": [1, 1]}), "holds"),
])
def test_a_corrupted_present_set_is_a_clear_error(saved_blending, tmp_path, edit, reason):
    _, document, rows, _ = saved_blending
    assert (get_array(tree_array(document["state"]["__dict__"], "present_offset")) >= 0).any()
    with pytest.raises(ModelFileError, match="x.json is not a valid shrinktree model file: ") as info:
        load_bytes(edited(document, edit), tmp_path).predict(rows)
    assert reason in str(info.value), str(info.value)


def test_former_pickle_files_and_other_files_say_why_not(saved, tmp_path):
    path, document, _, _ = saved
    model = load_model(path)
    # The envelope 'shrinktree fit' wrote before this format (model format 2), and a pickled estimator.
    content = pickle.dumps({"model": model, "task": "regression"})
    envelope = pickle.dumps({"format": "shrinktree-cli-model", "version": 2, "sha256": "0" * 64, "content": content})
    cases = [
        (envelope, "former pickle format of 'shrinktree fit'"),
        (pickle.dumps(model), "it is a Python pickle"),
        (b"", "it is empty"),
        (path.read_bytes()[:-1], "it is not a complete JSON document"),
        (b"\xff\xfe\x00garbage", "it is not JSON text"),
        (b"[" * 100_000, "nested deeper"),
        (b'{"format": "x"}', 'it is not a shrinktree model file (it lacks "format": "shrinktree-model")'),
        (b"[1, 2]", "it is not a shrinktree model file"),
        (b'{"format": "shrinktree-model", "format": "shrinktree-model"}', "repeats the JSON key 'format'"),
        (b'{"format": "shrinktree-model", "format_version": NaN}', "holds NaN, which strict JSON"),
        (b'{"format": "shrinktree-model", "format_version": 1' + b"1" * 5000 + b"}", "not a valid JSON document"),
    ]
    for data, reason in cases:
        with pytest.raises(ModelFileError, match="x.json is not a valid shrinktree model file: ") as info:
            load_bytes(data, tmp_path)
        assert reason in str(info.value) and "\n" not in str(info.value), (reason, str(info.value))
        assert isinstance(info.value, ValueError) and isinstance(info.value, ModelIntegrityError)
        assert info.value.reason in str(info.value) and info.value.source.endswith("x.json")
        assert str(pickle.loads(pickle.dumps(info.value))) == str(info.value)


# -- crafted files: a valid checksum over a bad state ----------------------------------------------
def edited(document, edit, keep_digest=False) -> bytes:
    document = json.loads(json.dumps(document))
    state = document["state"]["__dict__"]
    if not keep_digest:
        del state["_prediction_state_digest"]
    edit(document, state)
    return resigned(document)


def tree_array(state, name, iteration=0):
    return state["_trees"][iteration][0]["attributes"]["__dict__"][name]


def set_array(entry, values):
    values = np.asarray(values, dtype=entry["__array__"])
    entry["data"], entry["shape"] = base64.b64encode(values.tobytes()).decode(), list(values.shape)


def get_array(entry):
    return np.frombuffer(base64.b64decode(entry["data"]), dtype=entry["__array__"]).reshape(entry["shape"]).copy()


def child_out_of_range(document, state):
    left = get_array(tree_array(state, "left"))
    left[0] = 10_000
    set_array(tree_array(state, "left"), left)


def feature_out_of_range(document, state):
    feature = get_array(tree_array(state, "feature"))
    feature[0] = 3
    set_array(tree_array(state, "feature"), feature)


def short_values(document, state):
    set_array(tree_array(state, "value"), get_array(tree_array(state, "value"))[:-1])


def bitset_offset(document, state):
    entry = tree_array(state, "cat_offset")
    offset = get_array(entry)
    categorical = get_array(tree_array(state, "is_categorical"))
    categorical[0] = 1
    set_array(tree_array(state, "is_categorical"), categorical)
    offset[0] = 1 << 40
    set_array(entry, offset)


def wrong_byte_count(document, state):
    tree_array(state, "threshold")["data"] = base64.b64encode(b"\x00" * 7).decode()


def nan_threshold(document, state):
    threshold = get_array(tree_array(state, "threshold"))
    threshold[0] = np.nan
    set_array(tree_array(state, "threshold"), threshold)


def text_as_numbers(document, state):
    encoder = state["_categorical"]["attributes"]["__dict__"]
    set_array(encoder["from_text_"], ~get_array(encoder["from_text_"]))


def left_as_floats(document, state):
    entry = tree_array(state, "left")
    left = get_array(entry)
    entry["__array__"] = "<f8"
    set_array(entry, left.astype(np.float64))


def level_count(document, state):
    encoder = state["_categorical"]["attributes"]["__dict__"]
    set_array(encoder["n_levels_"], get_array(encoder["n_levels_"]) + 1)


@pytest.mark.parametrize("edit, reason", [
    (child_out_of_range, "Child index out of range"),
    (feature_out_of_range, "Split feature index out of range (the model has 3 features)"),
    (short_values, "'value' has shape"),
    (bitset_offset, "bitset offset out of range"),
    (nan_threshold, "NaN threshold"),
    (wrong_byte_count, "holds 7 bytes"),
    (level_count, "level lists and level counts disagree"),
    (text_as_numbers, "levels do not match the kinds of their columns"),
    (lambda d, s: tree_array(s, "left").update({"__array__": "<m8"}), "dtype '<m8'"),
    (left_as_floats, "Tree array 'left' has dtype float64"),
    (lambda d, s: tree_array(s, "left").update({"data": "not base64!"}), "not base64"),
    (lambda d, s: s["_trees"][0][0].update({"__object__": "Popen"}), "names the class 'Popen'"),
    (lambda d, s: s.update({"_trees": []}), "The model has no trees"),
    (lambda d, s: s.update({"n_features_in_": 1}), "The feature index arrays are out of range"),
    (lambda d, s: s.update({"_baseline": {"__float__": "zero"}}), "spells a float as 'zero'"),
    (lambda d, s: s.update({"x": {"__eval__": "1"}}), "an entry with the keys ['__eval__']"),
    (lambda d, s: d.update({"model_class": "LinearRegression"}), "its model class is 'LinearRegression'"),
    (lambda d, s: d.update({"model_class": "ShrinkBoostClassifier"}), "ShrinkBoostClassifier is damaged"),
    (lambda d, s: d.update({"metadata": []}), "its metadata is a list"),
    (lambda d, s: d.update({"extra": 1}), "its header has unexpected keys 'extra'"),
    (lambda d, s: d.pop("library_version"), "its header lacks library_version"),
    (lambda d, s: d.update({"state": {"__dict__": {"shrinkage": "eb"}}}), "its ShrinkBoostRegressor is not fitted"),
])
def test_crafted_files_fail_their_checks(saved, tmp_path, edit, reason):
    _, document, X, _ = saved
    with pytest.raises(ModelFileError, match="x.json is not a valid shrinktree model file: ") as info:
        model = load_bytes(edited(document, edit), tmp_path)
        model.predict(X)
    assert reason in str(info.value), str(info.value)


def test_an_edited_value_fails_the_digest_and_a_stale_checksum_fails_first(saved, tmp_path):
    _, document, X, _ = saved

    def nudge(document, state):
        value = get_array(tree_array(state, "value", iteration=3))
        value[1, 0] += 1e-12
        set_array(tree_array(state, "value", iteration=3), value)

    with pytest.raises(ModelFileError, match="does not match the model that was saved"):
        load_bytes(edited(document, nudge, keep_digest=True), tmp_path)
    stale = json.loads(edited(document, nudge, keep_digest=True))
    stale["checksum"] = document["checksum"]
    with pytest.raises(ModelFileError, match="its content does not match its checksum"):
        load_bytes(json.dumps(stale).encode(), tmp_path)


# -- mutations in a child process -----------------------------------------------------------------
CHILD = textwrap.dedent("""
    import base64, collections, hashlib, json, pickle, sys, warnings
    import numpy as np
    from shrinktree import model_file

    warnings.simplefilter("ignore")
    with open(sys.argv[1], "rb") as handle:
        cases = pickle.load(handle)
    folder = sys.argv[2]

    def resign(document):
        body = {key: value for key, value in document.items() if key != "checksum"}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        document["checksum"] = "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()
        return json.dumps(document).encode()

    def arrays(value):
        if isinstance(value, dict):
            if "__array__" in value:
                yield value
            else:
                for item in value.values():
                    yield from arrays(item)
        elif isinstance(value, list):
            for item in value:
                yield from arrays(item)

    def crafted(blob, seed):
        # A bit flipped in one array's data, the digest dropped and the checksum recomputed: a file made on
        # purpose to pass every check but the structural ones.
        rng = np.random.default_rng(seed)
        document = json.loads(blob)
        document["state"]["__dict__"].pop("_prediction_state_digest", None)
        entries = [e for e in arrays(document["state"]) if e["data"]]
        entry = entries[rng.integers(len(entries))]
        data = bytearray(base64.b64decode(entry["data"]))
        data[rng.integers(len(data))] ^= 1 << int(rng.integers(8))
        entry["data"] = base64.b64encode(bytes(data)).decode()
        return resign(document)

    report = {}
    for name, (blob, X, reference, method, mutations) in cases.items():
        outcomes, different, errors = collections.Counter(), [], []
        for kind, where, bit in mutations:
            if kind == "flip":
                data = bytearray(blob)
                data[where] ^= 1 << bit
                data = bytes(data)
            elif kind == "truncate":
                data = blob[:where]
            else:
                data = crafted(blob, where)
            try:
                model = model_file.loads(data, source="m.json").model
                prediction = np.asarray(getattr(model, method)(X), dtype=np.float64)
            except Exception as exc:  # every error is fine here: the parent checks which
                outcomes[f"{kind}:{type(exc).__name__}"] += 1
                if not isinstance(exc, ValueError):
                    errors.append(f"{kind} {where}: {type(exc).__name__}: {exc}"[:300])
                continue
            if prediction.shape == reference.shape and np.array_equal(prediction, reference, equal_nan=True):
                outcomes[f"{kind}:same"] += 1
            else:
                outcomes[f"{kind}:different"] += 1
                different.append([kind, where, bit])
        report[name] = {"outcomes": dict(outcomes), "different": different[:10], "errors": errors[:10]}
    print(json.dumps(report))
""")


def mutation_models():
    X, signal, rng = frame(n=300)
    y = signal + rng.normal(size=len(X))
    tiny = {"n_estimators": 3, "max_leaf_nodes": 4, "random_state": 0}
    numbers = X[["x", "z"]].to_numpy()
    light = lgb.LGBMClassifier(n_estimators=2, num_leaves=4, min_child_samples=5, verbose=-1, random_state=0)
    blending = ShrinkBoostRegressor(**tiny).fit(X, y)
    add_present_sets(blending, rng, kept=0.5)  # flips in present sets and shares too
    return {
        "regressor": (ShrinkBoostRegressor(**tiny).fit(X, y), X, "predict"),
        "regressor with present sets": (blending, X, "predict"),
        "multiclass": (ShrinkBoostClassifier(**tiny).fit(X, np.digitize(y, [-0.5, 0.8])), X, "predict_proba"),
        "shrunk forest": (shrink(RandomForestRegressor(n_estimators=2, max_depth=3, random_state=0).fit(numbers, y),
                                 numbers, y), numbers, "predict"),
        "shrunk lightgbm": (shrink(light.fit(X, np.digitize(y, [-0.5, 0.8])), X, np.digitize(y, [-0.5, 0.8])), X,
                            "predict_proba"),
    }


def run_mutations(tmp_path, n_flips, n_cuts, n_crafted):
    cases, sizes = {}, {}
    for seed, (name, (model, X, method)) in enumerate(mutation_models().items()):
        blob = mf.dumps(model)
        rng = np.random.default_rng(seed)
        positions = rng.choice(len(blob) * 8, size=min(n_flips, len(blob) * 8), replace=False)
        mutations = [("flip", int(p // 8), int(p % 8)) for p in np.sort(positions)]
        cuts = sorted({*range(0, 40), *rng.integers(0, len(blob), n_cuts).tolist(), len(blob) - 1})
        mutations += [("truncate", int(n), 0) for n in cuts]
        mutations += [("crafted", seed * 100_000 + i, 0) for i in range(n_crafted)]
        reference = np.asarray(getattr(model, method)(X), dtype=np.float64)
        cases[name] = (blob, X, reference, method, mutations)
        sizes[name] = len(mutations)
    path = tmp_path / "cases.pkl"
    path.write_bytes(pickle.dumps(cases))  # the test's own data for the child, not a model file
    result = subprocess.run([sys.executable, "-c", CHILD, str(path), str(tmp_path)], capture_output=True, text=True,
                            timeout=1500)
    assert result.returncode == 0, (
        f"the child died (return code {result.returncode}: a negative code is the signal that killed it)\n"
        f"{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1]), sizes


def check_report(report, sizes):
    for name, entry in report.items():
        outcomes = entry["outcomes"]
        assert sum(outcomes.values()) == sizes[name], name
        assert not entry["errors"], f"{name}: errors that are not ValueError: {entry['errors']}"
        # A flipped or truncated file: the model file error, or (a flip JSON reads the same) the same model.
        for key, count in outcomes.items():
            kind, outcome = key.split(":")
            if kind != "crafted":
                assert outcome in ("ModelFileError", "same"), f"{name}: {count} x {key} {entry['different']}"
        assert outcomes.get("flip:ModelFileError", 0) >= 0.99 * sum(v for k, v in outcomes.items()
                                                                   if k.startswith("flip:"))
        assert outcomes.get("truncate:ModelFileError", 0) == sum(v for k, v in outcomes.items()
                                                                if k.startswith("truncate:"))
        # Crafted files (checksum made to match): the structural checks catch some, the rest load and predict.
        crafted_errors = {k: v for k, v in outcomes.items() if k.startswith("crafted:") and
                          k.split(":")[1] not in ("same", "different")}
        assert set(crafted_errors) <= {"crafted:ModelFileError"}, crafted_errors


def test_flipped_truncated_and_crafted_files_never_crash_or_silently_change(tmp_path):
    report, sizes = run_mutations(tmp_path, n_flips=1200, n_cuts=150, n_crafted=150)
    check_report(report, sizes)
    assert all(entry["outcomes"].get("crafted:ModelFileError", 0) > 0 for entry in report.values())


@pytest.mark.slow
def test_many_flipped_truncated_and_crafted_files(tmp_path):
    report, sizes = run_mutations(tmp_path, n_flips=20_000, n_cuts=2_000, n_crafted=3_000)
    check_report(report, sizes)
