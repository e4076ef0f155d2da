"""Shrunk models pickled by earlier shrinktrees load, pass their digest check and predict as they did.

``tests/data/shrunk-*.pkl`` were written by ``tests/data/make_earlier_shrunk_models.py`` at d629149, the
last landed commit before trees had present sets.
"""

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest

from shrinktree.exceptions import ModelIntegrityError

DATA = Path(__file__).parent / "data"
COMMITS = ("d629149",)
KINDS = ("booster", "lightgbm")


def _inputs():
    spec = importlib.util.spec_from_file_location("make_earlier_models", DATA / "make_earlier_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frame = module.rows()[0]
    return {"booster": frame, "lightgbm": frame[["x", "z"]].to_numpy()}


@pytest.mark.parametrize("commit", COMMITS)
@pytest.mark.parametrize("kind", KINDS)
def test_an_earlier_shrunk_model_loads_and_predicts_as_it_did(commit, kind):
    saved = pickle.loads((DATA / f"shrunk-{kind}-{commit}.pkl").read_bytes())
    model = saved["model"]
    np.testing.assert_array_equal(model.predict(_inputs()[kind]), np.array(saved["predictions"]))
    assert all((t.present_offset == -1).all() and len(t.present_bitset) == 0 for t in model.trees_)
    again = pickle.loads(pickle.dumps(model))  # pickled again: the digest of a model without present sets
    np.testing.assert_array_equal(again.predict(_inputs()[kind]), model.predict(_inputs()[kind]))


@pytest.mark.parametrize("commit", COMMITS)
def test_a_changed_earlier_shrunk_pickle_still_fails_its_digest(commit):
    data = (DATA / f"shrunk-booster-{commit}.pkl").read_bytes()
    value = pickle.loads(data)["model"].trees_[2].value
    # The last copy of these bytes: the first may be in the booster that the input map keeps (to map X).
    position = data.rfind(value[1].tobytes())
    assert position > 0
    changed = bytearray(data)
    changed[position] ^= 1  # the lowest bit of one node's pooled value
    with pytest.raises(ModelIntegrityError, match="does not match the model that was saved"):
        pickle.loads(bytes(changed))
