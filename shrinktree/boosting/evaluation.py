"""Evaluation sets scored after every boosting iteration (early stopping, ``evals_result_``, callbacks)."""

from __future__ import annotations

import numpy as np

from .categorical import engine_codes
from .predictor import add_tree_binned


class EvalSet:
    """Rows that are predicted tree by tree on their bins while the booster grows.

    Parameters
    ----------
    name : str
        Key in ``evals_result_`` (``"valid_0"``, ... for the user's sets, ``"validation"`` for the
        internal early-stopping split).
    X : ndarray
        Float matrix as the trees see it (categorical codes already mapped).
    y, weight, offset : ndarray (``weight`` and ``offset`` may be ``None``)
        Target on the fitted scale (divided by ``2**e`` when the booster rescales it).
    baseline : ndarray
        The booster's constant raw score.
    bin_mapper, numeric_index, categorical_index, n_levels :
        The training fit's binning and categorical facts.
    """

    def __init__(self, name, X, y, weight, offset, baseline, bin_mapper, numeric_index, categorical_index, n_levels):
        self.name = name
        self.y = y
        self.weight = np.ones(X.shape[0]) if weight is None else weight
        self.binned = bin_mapper.transform(np.ascontiguousarray(X[:, numeric_index]))
        self.codes = engine_codes(X, categorical_index, n_levels)
        self.n_levels = n_levels
        self.missing_bin = bin_mapper.missing_bin_
        self.raw = np.tile(baseline, (X.shape[0], 1))
        if offset is not None:
            self.raw += offset[:, None]

    def add_tree(self, tree, local_feature, local_threshold, output: int) -> None:
        """Add one grown tree's pooled values to the raw scores of column ``output``; a row whose level is absent
        from a categorical node's growing rows blends there, as in prediction."""
        update = np.zeros(self.raw.shape[0])
        add_tree_binned(self.binned, self.codes, tree.left, tree.right, local_feature, tree.is_categorical,
                        local_threshold, tree.missing_left, self.missing_bin, self.n_levels, tree.cat_offset,
                        tree.cat_bitset, tree.present_offset, tree.present_bitset, tree.absent_left_share,
                        np.ascontiguousarray(tree.value[:, 0]), update)
        self.raw[:, output] += update

    def loss(self, loss) -> float:
        """The set's weighted mean loss (on the fitted scale)."""
        return loss.loss(self.y, self.raw, self.weight)
