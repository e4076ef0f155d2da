"""What a LightGBM or scikit-learn user reaches for: eval sets, callbacks, threads, apply, importances."""

import io

import numpy as np
import pandas as pd
import pytest

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor
from shrinktree.callbacks import PrintProgress


def frame(n=1200, seed=0, levels=("a", "b", "c", "d")):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.normal(size=n), "z": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
                      "c": pd.Categorical(rng.choice(list(levels), n), categories=list(levels))})
    y = X["x"].to_numpy() + (X["c"] == "b").to_numpy() + rng.normal(scale=0.5, size=n)
    return X, y


def test_eval_sets_are_scored_every_iteration_with_the_models_loss():
    X, y = frame()
    X_a, y_a = frame(400, seed=1)
    X_b, y_b = frame(300, seed=2)
    model = ShrinkBoostRegressor(n_estimators=15, random_state=0).fit(X, y, eval_set=[(X_a, y_a), (X_b, y_b)])
    assert set(model.evals_result_) == {"valid_0", "valid_1"}
    for name, (X_eval, y_eval) in {"valid_0": (X_a, y_a), "valid_1": (X_b, y_b)}.items():
        scores = model.evals_result_[name]["squared_error"]
        assert len(scores) == model.n_iter_ + 1
        staged = [0.5 * np.mean((p - y_eval) ** 2) for p in model.staged_predict(X_eval)]
        np.testing.assert_allclose(scores[1:], staged, rtol=1e-10)
    # Without early stopping the eval sets are only watched: the model is the model fitted without them.
    plain = ShrinkBoostRegressor(n_estimators=15, random_state=0).fit(X, y)
    np.testing.assert_array_equal(model.predict(X_a), plain.predict(X_a))


def test_early_stopping_uses_the_first_eval_set_and_keeps_the_best_iteration():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(2000, 5)), rng.normal(size=2000)
    X_val, y_val = rng.normal(size=(500, 5)), rng.normal(size=500)
    model = ShrinkBoostRegressor(shrinkage="none", early_stopping=True, n_estimators=300, n_iter_no_change=5,
                                 random_state=0).fit(X, y, eval_set=[(X_val, y_val)])
    assert "validation" not in model.evals_result_  # no internal split when an eval set is given
    np.testing.assert_array_equal(model.validation_score_, -np.array(model.evals_result_["valid_0"]["squared_error"]))
    assert model.best_iteration_ == model.n_iter_ < 100
    assert len(model.validation_score_) == model.best_iteration_ + 5 + 1
    assert model.validation_score_[model.best_iteration_] == model.validation_score_.max()
    assert len(model.trees_) == model.best_iteration_
    last_staged = list(model.staged_predict(X_val))[-1]
    np.testing.assert_allclose(model.predict(X_val), last_staged, rtol=1e-12, atol=1e-15)


def test_eval_set_levels_unseen_in_training_are_fine_and_wrong_inputs_are_clear_errors():
    X, y = frame(levels=("a", "b", "c"))
    X_new, y_new = frame(300, seed=4, levels=("b", "c", "zzz"))
    model = ShrinkBoostRegressor(n_estimators=5).fit(X, y, eval_set=[(X_new, y_new)])
    assert np.all(np.isfinite(model.evals_result_["valid_0"]["squared_error"]))
    with pytest.raises(ValueError, match=r"eval_set\[0\]: .*features"):
        ShrinkBoostRegressor(n_estimators=5).fit(X, y, eval_set=[(X_new.iloc[:, :2], y_new)])
    with pytest.raises(ValueError, match=r"eval_set\[0\]: X has 300 rows and y has 299"):
        ShrinkBoostRegressor(n_estimators=5).fit(X, y, eval_set=[(X_new, y_new[:-1])])
    with pytest.raises(ValueError, match="list of"):
        ShrinkBoostRegressor(n_estimators=5).fit(X, y, eval_set=[X_new])
    with pytest.raises(ValueError, match="without eval_set"):
        ShrinkBoostRegressor(n_estimators=5).fit(X, y, eval_sample_weight=[None])
    labels = np.where(y > 0, "up", "down")
    with pytest.raises(ValueError, match="labels not seen in training"):
        ShrinkBoostClassifier(n_estimators=5).fit(X, labels, eval_set=[(X_new, np.full(300, "sideways"))])


def test_eval_sample_weight_weights_the_eval_loss():
    X, y = frame()
    X_val, y_val = frame(400, seed=5)
    w = np.random.default_rng(6).integers(1, 4, 400).astype(float)
    model = ShrinkBoostRegressor(n_estimators=5, random_state=0).fit(X, y, eval_set=[(X_val, y_val)],
                                                                     eval_sample_weight=[w])
    expected = 0.5 * np.average((model.predict(X_val) - y_val) ** 2, weights=w)
    assert model.evals_result_["valid_0"]["squared_error"][-1] == pytest.approx(expected, rel=1e-10)


def test_classifier_eval_set_reports_log_loss():
    X, y = frame()
    labels = np.where(y > 0.5, "up", "down")
    X_val, y_val = frame(300, seed=7)
    labels_val = np.where(y_val > 0.5, "up", "down")
    model = ShrinkBoostClassifier(n_estimators=10, random_state=0).fit(X, labels, eval_set=[(X_val, labels_val)])
    proba = model.predict_proba(X_val)[np.arange(300), np.searchsorted(model.classes_, labels_val)]
    assert model.evals_result_["valid_0"]["log_loss"][-1] == pytest.approx(-np.mean(np.log(proba)), rel=1e-9)


def test_a_callback_sees_every_iteration_and_can_stop_training():
    X, y = frame()
    seen = []

    def stop_at_four(env):
        seen.append((env.iteration, len(env.trees), env.n_estimators))
        return env.iteration == 4

    model = ShrinkBoostRegressor(n_estimators=50, random_state=0).fit(X, y, callbacks=[stop_at_four])
    assert seen == [(i, i, 50) for i in range(1, 5)]
    assert model.n_iter_ == 4 and len(model.trees_) == 4
    full = ShrinkBoostRegressor(n_estimators=4, random_state=0).fit(X, y)
    np.testing.assert_array_equal(model.predict(X), full.predict(X))
    assert "training" in model.evals_result_ and len(model.evals_result_["training"]["squared_error"]) == 5
    with pytest.raises(TypeError, match="callables"):
        ShrinkBoostRegressor(n_estimators=2).fit(X, y, callbacks=["not callable"])


def test_print_progress_explains_the_pooling_strength():
    X, y = frame()
    out = io.StringIO()
    ShrinkBoostRegressor(n_estimators=4).fit(X, y, callbacks=[PrintProgress(period=2, stream=out)])
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["[2/4]", "[4/4]"]
    assert "training squared_error" in lines[0] and "pooling k [" in lines[0]
    assert "sigma^2 / tau^2" in PrintProgress.__doc__


@pytest.mark.parametrize("Est", [ShrinkBoostRegressor, ShrinkBoostClassifier])
def test_models_are_bit_identical_for_any_n_jobs(Est):
    # 40,000 rows: above the size from which the parallel kernels run on every thread.
    X, y = frame(40_000, seed=8)
    target = y if Est is ShrinkBoostRegressor else np.digitize(y, [-0.5, 0.5])
    params = {"n_estimators": 8, "random_state": 0, "subsample": 0.8}
    one = Est(n_jobs=1, **params).fit(X, target)
    two = Est(n_jobs=2, **params).fit(X, target)
    every = Est(n_jobs=-1, **params).fit(X, target)
    predict = "predict" if Est is ShrinkBoostRegressor else "predict_proba"
    reference = getattr(one, predict)(X)
    np.testing.assert_array_equal(getattr(two, predict)(X), reference)
    np.testing.assert_array_equal(getattr(every, predict)(X), reference)
    for a, b in zip(one.trees_, two.trees_):
        for ta, tb in zip(a, b):
            np.testing.assert_array_equal(ta.value, tb.value)
    with pytest.raises(ValueError, match="n_jobs"):
        Est(n_jobs=0).fit(X.iloc[:50], target[:50])


def test_apply_gives_the_leaf_of_every_row_in_every_tree():
    X, y = frame()
    model = ShrinkBoostRegressor(n_estimators=6, random_state=0).fit(X, y)
    leaves = model.apply(X)
    assert leaves.shape == (len(X), 6)
    values = np.column_stack([model.trees_[i][0].value[leaves[:, i], 0] for i in range(6)])
    assert np.all([model.trees_[i][0].is_leaf[leaves[:, i]].all() for i in range(6)])
    np.testing.assert_allclose(model._baseline[0] + values.sum(axis=1), model.predict(X), rtol=1e-12)
    labels = np.digitize(y, [-0.5, 0.5])
    classifier = ShrinkBoostClassifier(n_estimators=3, random_state=0).fit(X, labels)
    assert classifier.apply(X).shape == (len(X), 3, 3)
    binary = ShrinkBoostClassifier(n_estimators=3, random_state=0).fit(X, labels > 0)
    assert binary.apply(X).shape == (len(X), 3, 1)


def test_importance_type_split_counts_the_splits():
    X, y = frame()
    model = ShrinkBoostRegressor(n_estimators=10, random_state=0, importance_type="split").fit(X, y)
    counts = np.zeros(3, dtype=np.int64)
    for (tree,) in model.trees_:
        np.add.at(counts, tree.feature[~tree.is_leaf], 1)
    np.testing.assert_array_equal(model.feature_importances_, counts)
    gain = model.set_params(importance_type="gain").feature_importances_
    assert gain.sum() == pytest.approx(1.0) and gain[0] > gain[1]
    with pytest.raises(ValueError, match="importance_type"):
        ShrinkBoostRegressor(importance_type="cover").fit(X, y)


def test_classifier_help_lists_its_own_parameters():
    import inspect

    for Est in (ShrinkBoostRegressor, ShrinkBoostClassifier):
        for name in inspect.signature(Est).parameters:
            assert f"\n    {name} :" in Est.__doc__, (Est.__name__, name)
    doc = ShrinkBoostClassifier.__doc__
    for name in ("class_weight", "shrinkage", "learning_rate", "n_jobs", "importance_type", "early_stopping"):
        assert f"{name} :" in doc, name
    for name in ("evals_result_", "best_iteration_", "n_iter_", "classes_", "feature_importances_"):
        assert name in doc, name
    for name in ("loss", "quantile", "offset"):
        assert f"\n    {name} :" in ShrinkBoostRegressor.__doc__ or name == "offset"


def test_eval_metrics_are_recorded_for_every_eval_set():
    from sklearn.metrics import log_loss, mean_absolute_error

    X, y = frame()
    X_val, y_val = frame(300, seed=9)
    model = ShrinkBoostRegressor(n_estimators=6, random_state=0).fit(
        X, y, eval_set=[(X_val, y_val)], eval_metric=[mean_absolute_error])
    maes = model.evals_result_["valid_0"]["mean_absolute_error"]
    assert len(maes) == 7
    staged = [mean_absolute_error(y_val, p) for p in model.staged_predict(X_val)]
    np.testing.assert_allclose(maes[1:], staged, rtol=1e-10)
    labels = np.where(y > 0.5, "up", "down")
    labels_val = np.where(y_val > 0.5, "up", "down")
    classifier = ShrinkBoostClassifier(n_estimators=4, random_state=0).fit(
        X, labels, eval_set=[(X_val, labels_val)], eval_metric={"logloss": log_loss})
    assert classifier.evals_result_["valid_0"]["logloss"][-1] == pytest.approx(
        log_loss(labels_val, classifier.predict_proba(X_val)), rel=1e-9)
    with pytest.raises(TypeError, match="eval_metric"):
        ShrinkBoostRegressor(n_estimators=2).fit(X, y, eval_set=[(X_val, y_val)], eval_metric="mae")


@pytest.mark.parametrize("estimator", [ShrinkBoostRegressor, ShrinkBoostClassifier])
def test_fit_docstring_documents_every_parameter(estimator):
    import inspect
    import re

    doc = estimator.fit.__doc__
    documented = re.findall(r"^\s{8}(\w+) : ", doc, flags=re.M)
    parameters = [p for p in inspect.signature(estimator.fit).parameters if p != "self"]
    assert documented == parameters


@pytest.mark.parametrize("eval_set,eval_sample_weight,match", [
    (None, [None], "eval_sample_weight was given without eval_set"),
    ("not a list", None, "eval_set must be a list of"),
    ([(1, 2, 3, 4)], None, "eval_set must be a list of"),
    ("pair", [None, None], "one entry \\(array or None\\) per eval_set entry"),
])
def test_bad_eval_set_shapes_are_clear_errors(eval_set, eval_sample_weight, match):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(100, 2)), rng.normal(size=100)
    if eval_set == "pair":
        eval_set = [(X, y)]
    model = ShrinkBoostRegressor(n_estimators=3)
    with pytest.raises(ValueError, match=match):
        model.fit(X, y, eval_set=eval_set, eval_sample_weight=eval_sample_weight)
    assert not hasattr(model, "n_iter_")
