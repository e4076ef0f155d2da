"""Every dataset of shrinktree.datasets loads offline with a usable target and typed columns."""

import numpy as np
import pandas as pd
import pytest

from shrinktree.datasets import BUNDLED, HOLDOUT, MULTICLASS, available_datasets, load_dataset, ordinal_encode


@pytest.mark.parametrize("name", available_datasets())
def test_dataset_loads(name):
    data = load_dataset(name)
    X, y = data.X, np.asarray(data.y)
    assert isinstance(X, pd.DataFrame) and len(X) == len(y) > 100
    assert data.task in ("regression", "binary", "multiclass")
    assert name not in MULTICLASS or data.task == "multiclass"
    if data.task == "regression":
        assert np.all(np.isfinite(y.astype(np.float64)))
    else:
        n_classes = len(np.unique(y))
        assert n_classes == 2 if data.task == "binary" else n_classes >= 3
    assert not any(X[c].dtype == object for c in X.columns)  # strings became categories
    encoded = ordinal_encode(X)
    assert encoded.shape == X.shape and encoded.dtype == np.float64


def test_groups_are_disjoint_and_known():
    names = set(available_datasets())
    assert set(BUNDLED) | set(MULTICLASS) | set(HOLDOUT) <= names
    assert not set(HOLDOUT) & (set(MULTICLASS) | set(BUNDLED))


def test_unknown_dataset():
    with pytest.raises(ValueError, match="Unknown dataset"):
        load_dataset("no_such_data")
