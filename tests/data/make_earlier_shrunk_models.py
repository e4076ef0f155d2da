"""Write the pickled shrunk models of an earlier shrinktree that ``tests/test_earlier_shrunk_models.py`` loads.

Run from a checkout of the commit to record (its shrinktree on ``sys.path``), naming the commit::

    git archive d629149 | tar -x -C /tmp/d629149
    cd /tmp/d629149 && PYTHONPATH=$PWD python /path/to/tests/data/make_earlier_shrunk_models.py d629149 \
        /path/to/tests/data

It shrinks a small booster fitted on the rows of ``make_earlier_models.rows`` (``method="eb"``) and a LightGBM
regressor on its numeric columns (``method="hs"``), and pickles each with its predictions of those rows
(``shrunk-<kind>-<commit>.pkl``: a dict with ``model`` and ``predictions``).
"""

from __future__ import annotations

import importlib.util
import pickle
import sys
from pathlib import Path


def _rows():
    maker = Path(__file__).parent / "make_earlier_models.py"
    spec = importlib.util.spec_from_file_location("make_earlier_models", maker)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.rows()


def models():
    """The shrunk models, by kind, and the matrix each one predicts."""
    import lightgbm as lgb

    from shrinktree import ShrinkBoostRegressor, shrink

    frame, y = _rows()
    booster = ShrinkBoostRegressor(n_estimators=6, max_leaf_nodes=6, min_samples_leaf=5, random_state=0).fit(frame, y)
    numeric = frame[["x", "z"]].to_numpy()
    light = lgb.LGBMRegressor(n_estimators=5, num_leaves=6, verbose=-1, random_state=0).fit(numeric, y)
    return {"booster": (shrink(booster, frame, y, method="eb"), frame),
            "lightgbm": (shrink(light, numeric, y, method="hs", strength=2.0), numeric)}


def main(commit: str, out: Path) -> None:
    for kind, (model, X) in models().items():
        (out / f"shrunk-{kind}-{commit}.pkl").write_bytes(
            pickle.dumps({"model": model, "predictions": model.predict(X).tolist()}))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
