"""Every parameter that names columns of X resolves them by one rule, with the same errors."""

import numpy as np
import pandas as pd
import pytest

from shrinktree import ShrinkBoostRegressor


def _frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x0": rng.normal(size=n), "x1": rng.normal(size=n),
                      "g": rng.integers(0, 20, n).astype(str)})
    y = X["x0"].to_numpy() + rng.normal(size=n)
    return X, y


PARAMETERS = {
    "categorical_features": lambda column: {"categorical_features": [column]},
    "interaction_cst": lambda column: {"interaction_cst": [[column]]},
    "random_effects": lambda column: {"random_effects": column},
}


@pytest.mark.parametrize("parameter", list(PARAMETERS))
@pytest.mark.parametrize("column,message", [
    ("nope", "names the column 'nope', which X does not have"),
    (7, "holds the column index 7, outside \\[0, 2\\]"),
    (-1, "holds the column index -1, outside \\[0, 2\\]"),
    (1.0, "holds 1.0: columns are given by integer position or by name"),
    (True, "holds True: columns are given by integer position or by name"),
])
def test_a_bad_column_gets_the_same_error_from_every_parameter(parameter, column, message):
    if parameter == "categorical_features" and column is True:
        message = "boolean mask"  # a list of bools is categorical_features' mask form
    X, y = _frame()
    model = ShrinkBoostRegressor(n_estimators=5, **PARAMETERS[parameter](column))
    with pytest.raises(ValueError, match=message):
        model.fit(X, y)
    assert not hasattr(model, "n_iter_")


@pytest.mark.parametrize("parameter", list(PARAMETERS))
def test_a_name_without_column_names_is_refused(parameter):
    X, y = _frame()
    model = ShrinkBoostRegressor(n_estimators=5, **PARAMETERS[parameter]("x0"))
    with pytest.raises(ValueError, match="X has no column names"):
        model.fit(X[["x0", "x1"]].to_numpy(), y)


def test_a_name_and_its_position_give_the_same_model():
    X, y = _frame()
    by_name = ShrinkBoostRegressor(n_estimators=10, random_effects="g", random_state=0).fit(X, y)
    by_position = ShrinkBoostRegressor(n_estimators=10, random_effects=2, random_state=0).fit(X, y)
    assert np.array_equal(by_name.predict(X), by_position.predict(X))
