"""One random split of the training rows into a fitting part and a held-out part.

Early stopping (``validation_fraction``) and the ``cross_features="auto"`` race both hold rows out this
way, so both stratify by class under the same rule.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split


def holdout_split(n_rows: int, n_held: int, seed: int, labels: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the fitting part and of the ``n_held`` held-out rows, drawn from ``seed``.

    Parameters
    ----------
    n_rows : int
        Number of rows to split.
    n_held : int
        Number of held-out rows, at least 1 and at most ``n_rows - 1``.
    seed : int
        Seed of the permutation.
    labels : ndarray of shape (n_rows,), optional
        Class labels of a classifier.  The split is stratified by them when every class can appear on
        both sides: each class has at least two rows and each part has at least one row per class.

    Returns
    -------
    fit_rows, held_rows : ndarray of int
        Disjoint row indices covering ``range(n_rows)``.
    """
    stratify = None
    if labels is not None:
        _, class_counts = np.unique(labels, return_counts=True)
        if class_counts.min() >= 2 and min(n_held, n_rows - n_held) >= len(class_counts):
            stratify = labels
    fit_rows, held_rows = train_test_split(np.arange(n_rows), test_size=n_held, random_state=seed,
                                           stratify=stratify)
    return fit_rows, held_rows
