"""Models saved by earlier shrinktrees load, pass their digest check and predict as they did.

``tests/data`` holds model files (format 1) and pickles written by ``tests/data/make_earlier_models.py``
at d629149, the last landed commit before trees had present sets.
"""

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest

from shrinktree import model_file

DATA = Path(__file__).parent / "data"
COMMITS = ("d629149",)


def _maker():
    spec = importlib.util.spec_from_file_location("make_earlier_models", DATA / "make_earlier_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("commit", COMMITS)
@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_an_earlier_model_file_and_pickle_predict_as_they_did(commit, kind):
    maker = _maker()
    frame = maker.rows()[0].iloc[:maker.PREDICTED_ROWS]
    saved = model_file.read_model_file(DATA / f"{kind}-{commit}.json")
    assert saved.format_version == 1
    pickled = pickle.loads((DATA / f"{kind}-{commit}.pkl").read_bytes())
    for model in (saved.model, pickled):
        predicted = model.predict(frame) if kind == "regressor" else model.predict_proba(frame)
        if kind == "regressor":
            np.testing.assert_array_equal(predicted, np.array(saved.metadata["predictions"]))
        else:
            # The raw scores are sums of the saved trees' values, the same bits everywhere; the probabilities
            # also go through np.exp, whose last bit depends on numpy's build and the CPU's vector unit.
            np.testing.assert_array_max_ulp(predicted, np.array(saved.metadata["predictions"]), maxulp=2)
        np.testing.assert_array_equal(model.apply(frame), np.array(saved.metadata["leaves"]))
        trees = [t for trees in model.trees_ for t in trees]
        assert all((t.present_offset == -1).all() and len(t.present_bitset) == 0 for t in trees)
        # Saved again, it is a format-2 file that loads to the same model.
        again = model_file.loads(model_file.dumps(model)).model
        np.testing.assert_array_equal(again.predict(frame), model.predict(frame))


@pytest.mark.parametrize("commit", COMMITS)
def test_a_changed_earlier_pickle_still_fails_its_digest(commit):
    from shrinktree.exceptions import ModelIntegrityError

    data = (DATA / f"regressor-{commit}.pkl").read_bytes()
    model = pickle.loads(data)
    value = model.trees_[2][0].value
    position = data.find(value[1].tobytes())
    assert position > 0
    changed = bytearray(data)
    changed[position] ^= 1  # the lowest bit of one node's value
    with pytest.raises(ModelIntegrityError, match="does not match the model that was saved"):
        pickle.loads(bytes(changed))
