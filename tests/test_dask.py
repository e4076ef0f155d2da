"""shrinktree.dask on a LocalCluster of two worker processes: the distributed fit gives the single-machine model."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")

from shrinktree.dask import DaskShrinkBoostClassifier, DaskShrinkBoostRegressor  # noqa: E402

# Predictions of the distributed and the single-machine fit agree to this (the sums over partitions are
# added in another order); with one partition they are bit-identical.
TOLERANCE = 1e-10
SMALL = {"n_estimators": 6, "max_leaf_nodes": 8, "min_samples_leaf": 10, "random_state": 0}


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=40)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _numeric(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[rng.random(X.shape) < 0.1] = np.nan
    y = 2 * np.nan_to_num(X[:, 0]) + np.sin(np.nan_to_num(X[:, 1])) + rng.normal(size=n)
    return X, y


def _frame(n=1500, seed=1):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.uniform(size=n),
                          "g": pd.Categorical(rng.choice(list("pqrstuvw"), size=n)),
                          "h": pd.Categorical(rng.choice(["x", "y", "z"], size=n))})
    frame.loc[rng.random(n) < 0.1, "a"] = np.nan
    frame.loc[rng.random(n) < 0.05, "g"] = np.nan
    effect = frame["g"].cat.codes.to_numpy() % 3 - 1.0
    signal = np.nan_to_num(frame["a"].to_numpy()) + effect
    return frame, signal + rng.normal(size=n) * 0.5, signal


def _assert_same_model(distributed_model, local_model, X, tolerance=TOLERANCE):
    """Same splits (features, shapes, and the leaf of every training row), node values within ``tolerance``.

    A threshold may differ where two thresholds send the node's rows the same way (no row of the node
    lies between them): their gains tie up to rounding, and the rounding of the sums differs.
    """
    assert distributed_model.n_iter_ == local_model.n_iter_
    for mine, theirs in zip(distributed_model.trees_, local_model.trees_):
        for a, b in zip(mine, theirs):
            np.testing.assert_array_equal(a.feature, b.feature)
            np.testing.assert_array_equal(a.left, b.left)
            np.testing.assert_allclose(a.value, b.value, rtol=0, atol=tolerance)
    np.testing.assert_array_equal(distributed_model.apply(X), local_model.apply(X))
    np.testing.assert_allclose(distributed_model.pooling_strength_, local_model.pooling_strength_, rtol=1e-9)


def test_regression_with_missing_values_equals_the_single_machine_fit(client):
    X, y = _numeric()
    model = DaskShrinkBoostRegressor(**SMALL).fit(da.from_array(X, chunks=(400, 4)), da.from_array(y, chunks=400))
    local = ShrinkBoostRegressor(**SMALL).fit(X, y)
    _assert_same_model(model, local, X)
    lazy = model.predict(da.from_array(X, chunks=(400, 4)))
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(), local.predict(X), rtol=0, atol=TOLERANCE)
    assert isinstance(model.to_local(), ShrinkBoostRegressor)
    np.testing.assert_array_equal(model.to_local().predict(X), model.predict(X))
    assert model.distributed_stats_["n_partitions"] == 4


def test_one_partition_is_bit_identical(client):
    X, y = _numeric(600)
    model = DaskShrinkBoostRegressor(**SMALL).fit(da.from_array(X, chunks=(600, 4)), da.from_array(y, chunks=600))
    local = ShrinkBoostRegressor(**SMALL).fit(X, y)
    np.testing.assert_array_equal(model.predict(X), local.predict(X))


def test_import_shrinktree_does_not_import_dask():
    code = "import sys, shrinktree; assert 'dask' not in sys.modules and 'distributed' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def _dask_frame(frame, n_partitions=3):
    return dd.from_pandas(frame, npartitions=n_partitions, sort=False)


def test_binary_classification_equals_the_single_machine_fit(client):
    X, y = _numeric(1200, seed=3)
    labels = np.where(y > 0.3, "yes", "no")
    model = DaskShrinkBoostClassifier(**SMALL).fit(da.from_array(X, chunks=(300, 4)),
                                                   da.from_array(labels, chunks=300))
    local = ShrinkBoostClassifier(**SMALL).fit(X, labels)
    _assert_same_model(model, local, X)
    proba = model.predict_proba(da.from_array(X, chunks=(300, 4)))
    np.testing.assert_allclose(proba.compute(), local.predict_proba(X), rtol=0, atol=TOLERANCE)
    np.testing.assert_array_equal(model.predict(da.from_array(X, chunks=(300, 4))).compute(), local.predict(X))


def test_multiclass_with_categoricals_equals_the_single_machine_fit(client):
    frame, noisy, _ = _frame(1500, seed=4)
    # Noisy labels: in a node whose rows all share one label every gradient of the first tree is equal, and the
    # best "split" has a gain of rounding noise, which the two fits round differently.
    labels = pd.Series(np.digitize(noisy, [-0.7, 0.0, 0.7]), name="label")
    model = DaskShrinkBoostClassifier(**SMALL).fit(_dask_frame(frame), dd.from_pandas(labels, npartitions=3,
                                                                                        sort=False))
    local = ShrinkBoostClassifier(**SMALL).fit(frame, labels)
    _assert_same_model(model, local, frame)
    assert model.n_classes_ == 4
    np.testing.assert_allclose(model.predict_proba(_dask_frame(frame)).compute(), local.predict_proba(frame),
                               rtol=0, atol=TOLERANCE)


def test_categorical_regression_from_dask_category_columns(client):
    frame, y, _ = _frame(1500)
    frame["s"] = np.random.default_rng(2).choice(["left", "right", "up"], size=len(frame)).astype(object)
    model = DaskShrinkBoostRegressor(**SMALL).fit(_dask_frame(frame), dd.from_pandas(pd.Series(y), npartitions=3,
                                                                                      sort=False))
    local = ShrinkBoostRegressor(**SMALL).fit(frame, y)
    assert any(t[0].is_categorical.any() for t in local.trees_)
    _assert_same_model(model, local, frame)
    assert [list(c) if c is not None else None for c in model.categories_] == \
        [list(c) if c is not None else None for c in local.categories_]
    np.testing.assert_allclose(model.predict(_dask_frame(frame)).compute(), local.predict(frame), rtol=0,
                               atol=TOLERANCE)


def _regression_data(loss, n=1200, seed=5):
    X, y = _numeric(n, seed)
    if loss in ("poisson", "tweedie"):
        y = np.random.default_rng(seed).poisson(np.exp(0.5 * np.tanh(y)))
    elif loss == "gamma":
        y = np.exp(0.3 * y)
    return X, y.astype(np.float64)


class _Squares:
    """A custom objective: half squared error."""

    def gradients(self, y, raw):
        return raw - y, np.ones_like(y)


@pytest.mark.parametrize("loss", ["absolute_error", "huber", "quantile", "poisson", "gamma", "tweedie", "custom"])
def test_every_regression_loss_equals_the_single_machine_fit(client, loss):
    X, y = _regression_data(loss)
    params = dict(SMALL, n_estimators=4, loss=_Squares() if loss == "custom" else loss)
    if loss == "quantile":
        params["quantile"] = 0.8
    model = DaskShrinkBoostRegressor(**params).fit(da.from_array(X, chunks=(500, 4)), da.from_array(y, chunks=500))
    local = ShrinkBoostRegressor(**params).fit(X, y)
    _assert_same_model(model, local, X)
    np.testing.assert_allclose(model.predict(X), local.predict(X), rtol=1e-12, atol=TOLERANCE)


def test_sample_weights_with_zeros_and_levels_only_in_dropped_rows(client):
    frame, y, _ = _frame(1200, seed=6)
    weight = np.random.default_rng(6).integers(0, 4, size=len(y)).astype(np.float64)
    frame["g"] = frame["g"].cat.add_categories(["only_dropped"])
    frame.loc[np.flatnonzero(weight == 0)[:5], "g"] = "only_dropped"
    parts = {"npartitions": 3, "sort": False}
    model = DaskShrinkBoostRegressor(**SMALL).fit(dd.from_pandas(frame, **parts), dd.from_pandas(pd.Series(y), **parts),
                                                  sample_weight=dd.from_pandas(pd.Series(weight), **parts))
    local = ShrinkBoostRegressor(**SMALL).fit(frame, y, sample_weight=weight)
    assert "only_dropped" not in list(local.categories_[2])
    assert list(model.categories_[2]) == list(local.categories_[2])
    _assert_same_model(model, local, frame)


def test_class_weight_subsampling_and_offset(client):
    X, y = _numeric(1200, seed=7)
    labels = (y > 0.5).astype(int)
    params = dict(SMALL, class_weight="balanced", subsample=0.7, colsample=0.75)
    model = DaskShrinkBoostClassifier(**params).fit(da.from_array(X, chunks=(300, 4)),
                                                    da.from_array(labels, chunks=300))
    local = ShrinkBoostClassifier(**params).fit(X, labels)
    _assert_same_model(model, local, X)
    counts, _ = _regression_data("poisson", seed=7)
    exposure = np.random.default_rng(7).uniform(0.5, 2.0, size=len(counts))
    Xp, yp = _regression_data("poisson", seed=7)
    params = dict(SMALL, loss="poisson")
    model = DaskShrinkBoostRegressor(**params).fit(da.from_array(Xp, chunks=(300, 4)), da.from_array(yp, chunks=300),
                                                   offset=da.from_array(np.log(exposure), chunks=300))
    local = ShrinkBoostRegressor(**params).fit(Xp, yp, offset=np.log(exposure))
    _assert_same_model(model, local, Xp)
    lazy = model.predict(da.from_array(Xp, chunks=(300, 4)), offset=da.from_array(np.log(exposure), chunks=300))
    np.testing.assert_allclose(lazy.compute(), local.predict(Xp, offset=np.log(exposure)), rtol=1e-12)


@pytest.mark.parametrize("params", [{"eb_method": "calibrated"}, {"shrinkage": "hs", "shrinkage_strength": 5.0},
                                    {"monotonic_cst": [1, 0, 0, 0], "interaction_cst": [[0, 1], [2, 3]]}])
def test_pooling_variants_and_constraints(client, params):
    X, y = _numeric(1200, seed=8)
    params = dict(SMALL, n_estimators=4, **params)
    model = DaskShrinkBoostRegressor(**params).fit(da.from_array(X, chunks=(400, 4)), da.from_array(y, chunks=400))
    local = ShrinkBoostRegressor(**params).fit(X, y)
    _assert_same_model(model, local, X)


def test_early_stopping_on_a_dask_eval_set(client):
    X, y = _numeric(1600, seed=9)
    X_train, y_train, X_valid, y_valid = X[:1200], y[:1200], X[1200:], y[1200:]
    params = dict(SMALL, n_estimators=40, learning_rate=0.5, early_stopping=True, n_iter_no_change=2)
    model = DaskShrinkBoostRegressor(**params).fit(
        da.from_array(X_train, chunks=(400, 4)), da.from_array(y_train, chunks=400),
        eval_set=[(da.from_array(X_valid, chunks=(150, 4)), da.from_array(y_valid, chunks=150))])
    local = ShrinkBoostRegressor(**params).fit(X_train, y_train, eval_set=[(X_valid, y_valid)])
    assert local.n_iter_ < 40
    assert model.best_iteration_ == local.best_iteration_
    np.testing.assert_allclose(model.validation_score_, local.validation_score_, rtol=1e-10)
    np.testing.assert_allclose(model.train_score_, local.train_score_, rtol=1e-10)
    _assert_same_model(model, local, X)


def test_an_empty_partition_and_an_all_missing_column(client):
    X, y = _numeric(1000, seed=10)
    X[:, 2] = np.nan
    chunks = ((300, 0, 700), (4,))
    model = DaskShrinkBoostRegressor(**SMALL).fit(da.from_array(X, chunks=chunks), da.from_array(y, chunks=chunks[0]))
    local = ShrinkBoostRegressor(**SMALL).fit(X, y)
    assert model.distributed_stats_["n_partitions"] == 3
    _assert_same_model(model, local, X)
    frame, y, _ = _frame(900, seed=10)
    frame["h"] = pd.Categorical([np.nan] * len(frame), categories=["x", "y"])
    parts = {"npartitions": 3, "sort": False}
    model = DaskShrinkBoostRegressor(**SMALL).fit(dd.from_pandas(frame, **parts), dd.from_pandas(pd.Series(y), **parts))
    local = ShrinkBoostRegressor(**SMALL).fit(frame, y)
    _assert_same_model(model, local, frame)


def test_bad_input_raises_before_training_and_keeps_the_fitted_state(client):
    X, y = _numeric(600, seed=11)
    Xd, yd = da.from_array(X, chunks=(200, 4)), da.from_array(y, chunks=200)
    model = DaskShrinkBoostRegressor(**SMALL).fit(Xd, yd)
    before = model.predict(X)
    with pytest.raises(ValueError, match="partitions"):
        model.fit(Xd, da.from_array(y, chunks=300))
    bad = X.copy()
    bad[5, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        model.fit(da.from_array(bad, chunks=(200, 4)), yd)
    with pytest.raises(ValueError, match="NaN or infinity"):
        model.fit(Xd, da.from_array(np.where(np.arange(600) == 7, np.nan, y), chunks=200))
    with pytest.raises(TypeError, match="dask collections"):
        model.fit(X, y)
    with pytest.raises(ValueError, match="eval_metric"):
        model.fit(Xd, yd, eval_metric=lambda a, b: 0.0)
    with pytest.raises(ValueError, match="eval_set"):
        DaskShrinkBoostRegressor(**dict(SMALL, early_stopping=True)).fit(Xd, yd)
    with pytest.raises(ValueError, match="Unknown label type"):
        DaskShrinkBoostClassifier(**SMALL).fit(Xd, yd)
    with pytest.raises(ValueError, match="2 classes"):
        DaskShrinkBoostClassifier(**SMALL).fit(Xd, da.zeros(600, chunks=200))
    np.testing.assert_array_equal(model.predict(X), before)


def test_the_worker_check_does_not_read_the_clients_cached_identity(client, monkeypatch):
    # The client's periodic update caches an identity without workers; read then, every worker seemed lost
    # (CI: PartitionLostError naming both live workers of a fit that was only compiling).
    from shrinktree.dask._cluster import Partitions

    futures = client.scatter([np.arange(3), np.arange(4)])
    partitions = Partitions(client, futures, timeout=30)
    monkeypatch.setattr(client, "scheduler_info", lambda *args, **kwargs: {"workers": {}})
    partitions._check_workers()  # the scheduler itself lists the workers: nothing lost
    assert set(partitions.workers) <= partitions._alive_workers()


def test_a_worker_killed_mid_fit_raises_a_clear_error_without_hanging(client):
    import os
    import signal
    import time

    from shrinktree.dask import PartitionLostError

    X, y = _numeric(1200, seed=12)
    Xd, yd = da.from_array(X, chunks=(300, 4)), da.from_array(y, chunks=300)
    model = DaskShrinkBoostRegressor(**SMALL).fit(Xd, yd)
    before = model.predict(X)

    def kill_at_the_second_iteration(env):
        if env.iteration == 2:
            # A worker that holds training partitions (dask may have put all of them on one worker).
            holders = {worker: sum(str(key).startswith("TrainPartition") for key in keys)
                       for worker, keys in client.has_what().items()}
            victim = max(sorted(holders), key=holders.get)
            assert holders[victim] > 0
            pid = client.run(os.getpid, workers=[victim])[victim]
            os.kill(pid, signal.SIGKILL)  # a worker process of the cluster this module started

    start = time.monotonic()
    with pytest.raises(PartitionLostError, match="fit again|Fit again"):
        DaskShrinkBoostRegressor(**dict(SMALL, n_estimators=50, timeout=60)).fit(
            Xd, yd, callbacks=[kill_at_the_second_iteration])
    assert time.monotonic() - start < 60
    with pytest.raises(PartitionLostError):
        model.set_params(n_estimators=50, timeout=60).fit(Xd, yd, callbacks=[kill_at_the_second_iteration])
    np.testing.assert_array_equal(model.predict(X), before)
    client.wait_for_workers(2, timeout=120)


def test_every_parameter_is_in_the_docstring():
    for Est in (DaskShrinkBoostRegressor, DaskShrinkBoostClassifier):
        assert Est.__doc__.splitlines()[0].endswith("trained on a dask.distributed cluster.")
        for name in Est().get_params():
            assert f"\n    {name} :" in Est.__doc__, (Est.__name__, name)


def test_parameters_clone_and_pickle(client):
    import pickle

    from sklearn.base import clone

    model = DaskShrinkBoostClassifier(n_estimators=3, timeout=30, class_weight="balanced")
    params = model.get_params()
    assert params["timeout"] == 30 and params["class_weight"] == "balanced"
    assert set(ShrinkBoostClassifier().get_params()) | {"timeout"} == set(params)
    assert clone(model).get_params() == params
    with pytest.raises(ValueError, match="timeout"):
        DaskShrinkBoostRegressor(timeout=0).fit(da.zeros((10, 2), chunks=5), da.zeros(10, chunks=5))
    X, y = _numeric(400, seed=13)
    fitted = DaskShrinkBoostRegressor(**SMALL).fit(da.from_array(X, chunks=(200, 4)), da.from_array(y, chunks=200))
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(X), fitted.predict(X))
    local = pickle.loads(pickle.dumps(fitted.to_local()))
    assert type(local) is ShrinkBoostRegressor and "timeout" not in local.get_params()
    np.testing.assert_array_equal(local.predict(X), fitted.predict(X))


def test_radix_selection_gives_the_exact_weighted_quantile():
    from shrinktree.dask._quantile import radix_histogram, select_quantiles, sortable_keys
    from shrinktree.losses import weighted_quantile

    rng = np.random.default_rng(14)
    for _ in range(200):
        n = int(rng.integers(1, 200))
        values = np.round(rng.normal(size=n) * rng.choice([1e-300, 1.0, 1e300]), int(rng.integers(0, 3)))
        weights = rng.integers(1, 4, size=n).astype(np.float64)
        quantile = float(rng.uniform(0.01, 0.99))
        keys = sortable_keys(values)
        parts = np.array_split(np.arange(n), 3)  # three "partitions", summed like the workers' buckets

        def histogram(prefix, shift, keys=keys, weights=weights, parts=parts):
            return sum(radix_histogram(keys[p], weights[p], np.zeros(len(p), dtype=np.int64),
                                       np.array([-1], dtype=np.int32), prefix, shift) for p in parts)

        assert select_quantiles(histogram, quantile, 1)[0] == weighted_quantile(values, weights, quantile)


def test_more_partitions_than_one_reduction_task_takes(client):
    from shrinktree.dask._cluster import FAN_IN

    X, y = _numeric(1100, seed=15)
    chunks = 1100 // (2 * FAN_IN + 3) + 1  # two levels of reduction tasks
    model = DaskShrinkBoostRegressor(**SMALL).fit(da.from_array(X, chunks=(chunks, 4)), da.from_array(y, chunks=chunks))
    assert model.distributed_stats_["n_partitions"] > 2 * FAN_IN
    _assert_same_model(model, ShrinkBoostRegressor(**SMALL).fit(X, y), X)


def test_classifier_early_stopping_on_a_categorical_dask_frame(client):
    frame, noisy, _ = _frame(1600, seed=16)
    labels = pd.Series(np.where(noisy > 0.2, "hi", "lo"))
    parts = {"npartitions": 2, "sort": False}
    train, valid = frame.iloc[:1200], frame.iloc[1200:].reset_index(drop=True)
    params = dict(SMALL, n_estimators=40, learning_rate=0.5, early_stopping=True, n_iter_no_change=2)
    model = DaskShrinkBoostClassifier(**params).fit(
        dd.from_pandas(train, **parts), dd.from_pandas(labels[:1200], **parts),
        eval_set=[(dd.from_pandas(valid, **parts), dd.from_pandas(labels[1200:].reset_index(drop=True), **parts))])
    local = ShrinkBoostClassifier(**params).fit(train, labels[:1200], eval_set=[(valid, labels[1200:])])
    assert local.n_iter_ < 40 and model.best_iteration_ == local.best_iteration_
    np.testing.assert_allclose(model.validation_score_, local.validation_score_, rtol=1e-10)
    _assert_same_model(model, local, train)


def test_a_tiny_weighted_fit_splits_as_on_one_machine(client):
    # 48 rows: each honest tree grows on about 24 (their weight here), fewer than 2 x min_samples_leaf, so the
    # distributed grower asks half of min_samples_leaf as the single-machine booster does, counted in weight.
    rng = np.random.default_rng(8)
    X = rng.uniform(-1, 1, size=(48, 2))
    exposure = rng.uniform(50, 150, size=48)
    y = rng.poisson(0.02 * np.exp(np.log(4.0) * (X[:, 0] > 0)) * exposure).astype(float)
    weight = rng.integers(1, 3, size=48).astype(float)
    params = {"loss": "poisson", "n_estimators": 8, "random_state": 0}
    model = DaskShrinkBoostRegressor(**params).fit(
        da.from_array(X, chunks=(16, 2)), da.from_array(y, chunks=16), sample_weight=da.from_array(weight, chunks=16),
        offset=da.from_array(np.log(exposure), chunks=16))
    local = ShrinkBoostRegressor(**params).fit(X, y, sample_weight=weight, offset=np.log(exposure))
    assert sum(int(np.any(tree.left >= 0)) for trees in local._trees for tree in trees) > 0
    _assert_same_model(model, local, X)


def _many_levels(n=700, n_levels=90, n_valid=240, seed=18):
    """A categorical column of many levels and few rows each (most nodes that split on it lack some of its levels,
    and some lack NaN), and an evaluation frame that also has levels never seen at fit (NaN to the trees)."""
    rng = np.random.default_rng(seed)
    names = np.array([f"site{i:02d}" for i in range(n_levels)], dtype=object)
    unseen = np.array([f"new{i}" for i in range(8)], dtype=object)
    effect = dict(zip(np.concatenate([names, unseen]), rng.normal(size=n_levels + len(unseen))))

    def frame_of(size, levels):
        frame = pd.DataFrame({"a": rng.normal(size=size), "b": rng.uniform(size=size),
                              "g": pd.Categorical(rng.choice(levels, size=size), categories=levels)})
        frame.loc[rng.random(size) < 0.03, "g"] = np.nan
        signal = frame["a"].to_numpy() + 2.0 * frame["g"].map(effect).astype(float).fillna(0.0).to_numpy()
        return frame, signal + 0.5 * rng.normal(size=size)

    train, y = frame_of(n, names)
    valid, y_valid = frame_of(n_valid, np.concatenate([names, unseen]))
    return train, y, valid, y_valid


def _assert_identical_trees(mine, theirs):
    """Every array of every tree bit for bit (present sets and blend shares included)."""
    from dataclasses import fields

    assert mine.n_iter_ == theirs.n_iter_
    for a, b in zip((t for ts in mine.trees_ for t in ts), (t for ts in theirs.trees_ for t in ts)):
        for f in fields(a):
            np.testing.assert_array_equal(getattr(a, f.name), getattr(b, f.name), err_msg=f.name)


def _fit_pair(params, train, y, valid, y_valid, n_partitions, absent_rule=None, weight=None, classifier=False,
              stopped_value=None):
    """The distributed and the single-machine fit of ``params`` (``absent_rule``, ``stopped_value``: the private
    switches, set on both)."""
    Local, Dask = (ShrinkBoostClassifier, DaskShrinkBoostClassifier) if classifier else (ShrinkBoostRegressor,
                                                                                        DaskShrinkBoostRegressor)
    local, model = Local(**params), Dask(**params)
    if absent_rule is not None:
        local._absent_rule = model._absent_rule = absent_rule
    if stopped_value is not None:
        local._stopped_value = model._stopped_value = stopped_value
    local.fit(train, y, sample_weight=weight, eval_set=[(valid, y_valid)])
    series = {"npartitions": n_partitions, "sort": False}
    model.fit(_dask_frame(train, n_partitions), dd.from_pandas(pd.Series(y), **series),
              sample_weight=None if weight is None else dd.from_pandas(pd.Series(weight), **series),
              eval_set=[(_dask_frame(valid, n_partitions), dd.from_pandas(pd.Series(y_valid), **series))])
    return model, local


def _assert_same_present_sets(mine, theirs):
    for a, b in zip((t for ts in mine.trees_ for t in ts), (t for ts in theirs.trees_ for t in ts)):
        np.testing.assert_array_equal(a.present_offset, b.present_offset)
        np.testing.assert_array_equal(a.present_bitset, b.present_bitset)
        np.testing.assert_allclose(a.absent_left_share, b.absent_left_share, rtol=1e-12)


@pytest.mark.parametrize("loss", ["squared_error", "absolute_error"])
def test_levels_absent_from_a_node_blend_as_on_one_machine(client, loss):
    from blend_reference import leaf_shares, tree_values

    train, y, valid, y_valid = _many_levels()
    # Row subsampling: rows outside the subsample get blended training predictions too.
    params = dict(SMALL, n_estimators=5, subsample=0.8, loss=loss)
    one, local = _fit_pair(params, train, y, valid, y_valid, 1)
    trees = [t for ts in local.trees_ for t in ts]
    assert sum(int(np.sum(t.present_offset >= 0)) for t in trees) >= 3
    X_valid = np.asarray(local._categorical.transform(valid), dtype=np.float64)
    assert sum(len(leaf_shares(t, x)) > 1 for t in trees for x in X_valid) >= 10  # validation rows that blend
    # The validation loss of every iteration is the loss of the plain-Python blended walk of the trees so far.
    raw = np.tile(local._baseline, (len(y_valid), 1))
    scores = [local._make_loss().loss(y_valid, raw, np.ones(len(y_valid)))]
    for tree in trees:
        raw = raw + tree_values(tree, X_valid)
        scores.append(local._make_loss().loss(y_valid, raw, np.ones(len(y_valid))))
    np.testing.assert_allclose(local.evals_result_["valid_0"][loss], scores, rtol=1e-12)
    # One partition: the very same trees and scores.
    _assert_identical_trees(one, local)
    assert one.evals_result_ == local.evals_result_
    # Three partitions: the same trees up to the order of the sums.
    three, _ = _fit_pair(params, train, y, valid, y_valid, 3)
    _assert_same_model(three, local, train)
    _assert_same_present_sets(three, local)
    np.testing.assert_allclose(three.evals_result_["valid_0"][loss], local.evals_result_["valid_0"][loss],
                               rtol=1e-10)


def test_the_absent_level_switches_reach_the_distributed_fit(client):
    train, y, valid, y_valid = _many_levels(seed=19)
    params = dict(SMALL, n_estimators=4)
    side, local_side = _fit_pair(params, train, y, valid, y_valid, 1, absent_rule="side")
    _assert_identical_trees(side, local_side)
    assert side.evals_result_ == local_side.evals_result_
    assert all(np.all(t.present_offset == -1) for ts in side.trees_ for t in ts)
    blend, _ = _fit_pair(params, train, y, valid, y_valid, 1)
    assert blend.evals_result_ != side.evals_result_  # the switch changed the fit
    subtree_value, local_subtree_value = _fit_pair(dict(params, n_estimators=2), train, y, valid, y_valid, 1,
                                                   stopped_value="blend")
    _assert_identical_trees(subtree_value, local_subtree_value)
    assert subtree_value.evals_result_ == local_subtree_value.evals_result_
    blend._absent_rule = "stop"
    with pytest.raises(ValueError, match="_absent_rule"):
        blend.fit(_dask_frame(train, 1), dd.from_pandas(pd.Series(y), npartitions=1))
    np.testing.assert_array_equal(blend.predict(train), ShrinkBoostRegressor(**params).fit(train, y).predict(train))


def test_weighted_multiclass_with_absent_levels_blends_as_on_one_machine(client):
    # Weighted: a node's present levels are those of positive weight in its summed (snapped) level histogram.
    train, y, valid, y_valid = _many_levels(seed=21)
    labels, valid_labels = np.digitize(y, [-1.0, 1.0]), np.digitize(y_valid, [-1.0, 1.0])
    weight = np.random.default_rng(21).integers(1, 4, size=len(y)).astype(np.float64)
    params = dict(SMALL, n_estimators=3)
    one, local = _fit_pair(params, train, labels, valid, valid_labels, 1, weight=weight, classifier=True)
    assert sum(int(np.sum(t.present_offset >= 0)) for ts in local.trees_ for t in ts) >= 10
    _assert_identical_trees(one, local)
    assert one.evals_result_ == local.evals_result_
    three, _ = _fit_pair(params, train, labels, valid, valid_labels, 3, weight=weight, classifier=True)
    _assert_same_model(three, local, train)
    _assert_same_present_sets(three, local)
    np.testing.assert_allclose(three.evals_result_["valid_0"]["log_loss"], local.evals_result_["valid_0"]["log_loss"],
                               rtol=1e-10)
