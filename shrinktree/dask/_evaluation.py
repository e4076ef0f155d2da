"""One partition of an evaluation set on its worker: encoded and binned like the training rows, predicted tree
by tree, and scored with the loss for ``evals_result_`` and early stopping."""

from __future__ import annotations

import numpy as np

from ..boosting.categorical import engine_codes
from ..boosting.predictor import add_tree_binned
from ..boosting.validation import check_no_missing_labels
from ._partition import _check_frame, _float_matrix, _Spec, _vector


class EvalPartition:
    """The rows of one partition of an evaluation set, predicted tree by tree on their bins."""

    def __init__(self, X, y, weight, offset, spec: _Spec):
        self.X = _check_frame(X, spec, "eval_set")
        self.y_raw = _vector(y, "y")
        if self.y_raw is None or len(self.y_raw) != self.X.shape[0]:
            raise ValueError("eval_set: X and y must be partitioned alike.")
        self.weight = None if weight is None else np.asarray(_vector(weight, "eval_sample_weight"), dtype=np.float64)
        self.offset = None if offset is None else np.asarray(_vector(offset, "offset"), dtype=np.float64)
        for name, values in (("eval_sample_weight", self.weight), ("offset", self.offset)):
            if values is not None and len(values) != self.X.shape[0]:
                raise ValueError(f"eval_set: X and {name} must be partitioned alike.")
        self.spec = spec
        self.step = 0

    def prepare(self, encoder, classes, loss, bin_mapper, numeric_index, y_exponent, baseline) -> float:
        """Encode, bin and start the raw scores at the baseline; returns the partition's weight total."""
        X_float = _float_matrix(self.X if encoder is None else encoder.transform(self.X))
        if self.spec.is_classifier:
            check_no_missing_labels(self.y_raw)
            unseen = np.setdiff1d(np.unique(self.y_raw), classes)
            if len(unseen):
                raise ValueError(f"eval_set: y has labels not seen in training: {unseen[:5].tolist()}.")
            y = np.searchsorted(classes, self.y_raw).astype(np.float64)
        else:
            y = np.asarray(self.y_raw, dtype=np.float64)
            if len(y):
                loss.check_target(y)
        w = np.ones(len(y)) if self.weight is None else self.weight
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("eval_set: eval_sample_weight must be finite and non-negative.")
        n_levels = np.zeros(0, dtype=np.int64) if encoder is None else encoder.n_levels_
        categorical_index = np.zeros(0, dtype=np.int64) if encoder is None else encoder.categorical_index_
        self.binned = bin_mapper.transform(np.ascontiguousarray(X_float[:, numeric_index]))
        self.codes = engine_codes(X_float, categorical_index, n_levels)
        self.n_levels, self.missing_bin = n_levels, bin_mapper.missing_bin_
        with np.errstate(over="ignore", under="ignore"):
            self.y = np.ldexp(y, -y_exponent)
            offset = None if self.offset is None else np.ldexp(self.offset, -y_exponent)
        self.weight = w
        self.raw = np.tile(baseline, (len(y), 1))
        if offset is not None:
            self.raw += offset[:, None]
        self.X = self.y_raw = self.offset = None
        return float(np.sum(w))

    def add_tree(self, tree: dict, value: np.ndarray, k: int) -> None:
        update = np.zeros(self.raw.shape[0])
        add_tree_binned(self.binned, self.codes, tree["left"], tree["right"], tree["feature"], tree["is_categorical"],
                        tree["bin_threshold"], tree["missing_left"], self.missing_bin, self.n_levels,
                        tree["cat_offset"], tree["cat_bitset"], tree["present_offset"], tree["present_bitset"],
                        tree["absent_left_share"], value, update)
        self.raw[:, k] += update

    def loss_sums(self, loss) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return np.array([np.sum(self.weight * loss.pointwise_loss(self.y, self.raw)), np.sum(self.weight)])
