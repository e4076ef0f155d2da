"""Write the saved models of an earlier shrinktree that ``tests/test_earlier_models.py`` loads.

Run from a checkout of the commit to record (its shrinktree on ``sys.path``), naming the commit::

    git archive d629149 | tar -x -C /tmp/d629149
    cd /tmp/d629149 && PYTHONPATH=$PWD python /path/to/tests/data/make_earlier_models.py d629149 /path/to/tests/data

It fits a small regressor and a three-class classifier on :func:`rows` (numeric, NaN and categorical
columns) and writes each as a model file (``<kind>-<commit>.json``, the predictions and leaves of the
first ``PREDICTED_ROWS`` rows of ``rows()`` in its metadata) and as a pickle (``<kind>-<commit>.pkl``).
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd

PREDICTED_ROWS = 100

def rows(n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    """The training rows (also the rows predicted) and a target."""
    rng = np.random.default_rng(20261202)
    frame = pd.DataFrame({"x": rng.normal(size=n), "z": np.where(rng.random(n) < 0.15, np.nan, rng.normal(size=n)),
                          "g": pd.Categorical(rng.choice([f"g{i}" for i in range(12)], n))})
    frame.loc[rng.random(n) < 0.1, "g"] = np.nan
    y = frame["x"].to_numpy() + frame["g"].cat.codes.to_numpy() % 3 + rng.normal(size=n)
    return frame, y


def main(commit: str, out: Path) -> None:
    from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor

    frame, y = rows()
    small = {"n_estimators": 6, "max_leaf_nodes": 6, "min_samples_leaf": 5, "random_state": 0}
    models = {"regressor": ShrinkBoostRegressor(**small).fit(frame, y),
              "classifier": ShrinkBoostClassifier(**small).fit(frame, np.digitize(y, [0.5, 1.5]))}
    shown = frame.iloc[:PREDICTED_ROWS]
    for kind, model in models.items():
        predicted = model.predict(shown) if kind == "regressor" else model.predict_proba(shown)
        model.save_model(out / f"{kind}-{commit}.json", metadata={"predictions": predicted.tolist(),
                                                                  "leaves": model.apply(shown).tolist()})
        (out / f"{kind}-{commit}.pkl").write_bytes(pickle.dumps(model))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
