"""The default-settings peers of the benchmarks: registry entries, wrappers, and how failures are recorded."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shrinktree.bench import MODELS
from shrinktree.bench.peers import MIN_GROUP_LEVELS, PeerUnsupported, main_grouping

PEER_NAMES = ("catboost", "chimeraboost", "perpetual", "gpboost")
ROOT = Path(__file__).resolve().parents[1]


def _grouped_frame(n=400, n_groups=25, seed=0):
    rng = np.random.default_rng(seed)
    group = rng.integers(n_groups, size=n)
    effect = rng.normal(0, 1.0, n_groups)
    x = rng.normal(size=n)
    colour = rng.choice(["red", "blue", None], size=n)
    frame = pd.DataFrame({"x": x, "colour": pd.Categorical(colour), "school": pd.Categorical(group)})
    y = 2.0 * x + effect[group] + rng.normal(0, 0.3, n)
    return frame, y


def test_main_grouping_is_the_categorical_column_with_most_levels():
    frame, _ = _grouped_frame()
    assert main_grouping(frame) == "school"
    few = frame.assign(school=pd.Categorical(frame["school"].astype(int) % (MIN_GROUP_LEVELS - 1)))
    assert main_grouping(few) is None
    assert main_grouping(frame[["x"]]) is None
    with pytest.raises(TypeError, match="DataFrame"):
        main_grouping(frame.to_numpy())


def test_peers_are_registry_entries_on_native_categories():
    for name in PEER_NAMES:
        spec = MODELS[name]
        assert spec.inputs == "frame" and spec.requires == name
    assert MODELS["chimeraboost"].compiles


@pytest.mark.parametrize("name", PEER_NAMES)
def test_peer_regression_learns_the_signal(name):
    spec = MODELS[name]
    if not spec.available():
        pytest.skip(f"{name} not installed")
    frame, y = _grouped_frame()
    train, test = np.arange(300), np.arange(300, 400)
    model = spec.build("regression", 0, 1).fit(frame.iloc[train], y[train])
    prediction = model.predict(frame.iloc[test])
    assert prediction.shape == (100,)
    # The signal is 2x + a group effect of sd 1 against noise of sd 0.3: every peer gets most of it.
    assert np.sqrt(np.mean((prediction - y[test]) ** 2)) < 0.6 * np.std(y[test])


@pytest.mark.parametrize("name", ["catboost", "chimeraboost", "gpboost"])
def test_peer_binary_probabilities_follow_the_string_classes(name):
    spec = MODELS[name]
    if not spec.available():
        pytest.skip(f"{name} not installed")
    frame, y = _grouped_frame(seed=1)
    labels = np.where(y > np.median(y), "yes", "no")
    model = spec.build("binary", 0, 1).fit(frame.iloc[:300], labels[:300])
    proba = model.predict_proba(frame.iloc[300:])
    assert list(model.classes_) == ["no", "yes"]
    assert proba.shape == (100, 2) and np.allclose(proba.sum(axis=1), 1.0)
    accuracy = np.mean(model.predict(frame.iloc[300:]) == labels[300:])
    assert accuracy > 0.75


def test_gpboost_refuses_what_it_cannot_fit_before_fitting():
    spec = MODELS["gpboost"]
    if not spec.available():
        pytest.skip("gpboost not installed")
    frame, y = _grouped_frame()
    with pytest.raises(PeerUnsupported, match="multiclass"):
        spec.build("multiclass", 0, 1).fit(frame, np.arange(len(y)) % 3)
    model = spec.build("regression", 0, 1)
    with pytest.raises(PeerUnsupported, match="grouping"):
        model.fit(frame[["x", "colour"]], y)
    assert not hasattr(model, "booster_")


def test_gpboost_uses_the_grouping_and_restores_the_thread_setting():
    gpboost = pytest.importorskip("gpboost")
    before = gpboost.get_num_threads()
    frame, y = _grouped_frame()
    model = MODELS["gpboost"].build("regression", 0, 1).fit(frame, y)
    assert model.group_columns_ == ["school"]
    assert gpboost.get_num_threads() == before


def test_accuracy_page_counts_peers_and_names_failures(load_benchmark):
    acc = load_benchmark("accuracy")
    eb, catboost, gp = acc.SHRINKTREE_NATIVE, acc.CATBOOST, "GPBoost, main grouping as random effect, native categories"
    assert gp in acc.PEERS and set(acc.PEERS.values()) == set(PEER_NAMES)

    def result(name, own, rival, lgbm):
        r = acc.DatasetResult(name, "regression", 100, 100, 3, 1)
        r.path_smooth = [0, 0]
        for model, value in ((eb, own), (acc.SHRINKTREE_EB, own), (catboost, rival), (acc.LGBM_DEFAULT, lgbm),
                             (acc.LGBM_NATIVE, lgbm), (acc.LGBM_TUNED, lgbm)):
            r.scores[model] = {"RMSE/sd": [value, value]}
            r.seconds[model] = [1.0, 1.0] if model == eb else [4.0, 4.0]
        r.failures[gp] = "PeerUnsupported: no grouping"
        return r

    results = [result("a", 0.50, 0.52, 0.60), result("b", 0.90, 0.80, 0.85)]
    counts = {c["rival"]: c for c in acc.peer_counts(results)}
    assert counts[catboost]["wins"] == 1 and counts[catboost]["n"] == 2
    assert counts[catboost]["within_2pct"] == 1  # b is 12.5% worse
    assert counts[catboost]["mean_rel"] == pytest.approx(100 * ((0.50 / 0.52 - 1) + (0.90 / 0.80 - 1)) / 2)
    assert counts[catboost]["worst"][0] == "b"
    assert counts[catboost]["time_ratio"] == pytest.approx(0.25)
    assert counts[gp]["n"] == 0 and counts[gp]["failed"] == ["a", "b"]
    best = counts["best of LightGBM/CatBoost/ChimeraBoost"]
    assert best["wins"] == 1 and best["worst"] == ("b", pytest.approx(100 * (0.90 / 0.80 - 1)))
    text = acc.peer_section(results)
    assert "- a, " + gp + ": PeerUnsupported: no grouping" in text
    page = acc.render(results, 2, (0,))
    assert "| failed |" in page and gp in page


def test_gpboost_takes_several_groupings_and_a_number_of_rounds():
    pytest.importorskip("gpboost")
    from shrinktree.bench.peers import GPBoostGrouped

    frame, y = _grouped_frame()
    model = GPBoostGrouped(groupings=["school", "colour"], n_rounds=7).fit(frame.iloc[:300], y[:300])
    assert model.group_columns_ == ["school", "colour"] and model.booster_.current_iteration() == 7
    rmse = np.sqrt(np.mean((model.predict(frame.iloc[300:]) - y[300:]) ** 2))
    assert rmse < 0.8 * np.std(y[300:])
    with pytest.raises(ValueError, match="not in X"):
        GPBoostGrouped(groupings=["nope"]).fit(frame, y)


def test_chimeraboost_takes_a_random_effect_column_and_a_number_of_trees():
    pytest.importorskip("chimeraboost")
    from shrinktree.bench.peers import ChimeraBoostDefaults

    frame, y = _grouped_frame()
    model = ChimeraBoostDefaults(random_effect="school", n_estimators=40).fit(frame.iloc[:300], y[:300])
    assert model.model_.random_effects is True and model.model_.n_estimators == 40
    rmse = np.sqrt(np.mean((model.predict(frame.iloc[300:]) - y[300:]) ** 2))
    assert rmse < 0.8 * np.std(y[300:])
    assert ChimeraBoostDefaults().get_params()["random_effect"] is None
    with pytest.raises(ValueError, match="not in X"):
        ChimeraBoostDefaults(random_effect="nope").fit(frame, y)


def test_catboost_and_chimeraboost_take_library_options_but_not_the_wrappers_own():
    pytest.importorskip("catboost")
    pytest.importorskip("chimeraboost")
    from shrinktree.bench.peers import CatBoostDefaults, ChimeraBoostDefaults

    frame, y = _grouped_frame()
    catboost = CatBoostDefaults(options={"iterations": 7, "depth": 3}).fit(frame, y)
    assert catboost.model_.tree_count_ == 7 and catboost.model_.get_params()["depth"] == 3
    chimera = ChimeraBoostDefaults(n_estimators=9, options={"depth": 3, "early_stopping": False}).fit(frame, y)
    assert chimera.model_.depth == 3 and chimera.model_.n_estimators == 9
    for wrapper, key in ((CatBoostDefaults, "thread_count"), (ChimeraBoostDefaults, "n_estimators")):
        with pytest.raises(ValueError, match="may not set"):
            wrapper(options={key: 1}).fit(frame, y)
        with pytest.raises(TypeError, match="dict"):
            wrapper(options=[("depth", 3)]).fit(frame, y)
