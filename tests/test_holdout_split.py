"""shrinktree.boosting.holdout_split: the held-out rows of early stopping and of the cross-feature race."""

import numpy as np
import pytest

from shrinktree.boosting.holdout_split import holdout_split


def test_parts_are_disjoint_and_cover_every_row():
    fit_rows, held_rows = holdout_split(50, 10, seed=3)
    assert len(held_rows) == 10 and len(fit_rows) == 40
    np.testing.assert_array_equal(np.sort(np.concatenate([fit_rows, held_rows])), np.arange(50))


def test_same_seed_same_split_and_another_seed_another():
    first = holdout_split(100, 20, seed=7)
    again = holdout_split(100, 20, seed=7)
    other = holdout_split(100, 20, seed=8)
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(np.sort(first[1]), np.sort(other[1]))


def test_labels_stratify_when_every_class_fits_both_parts():
    labels = np.array([0] * 90 + [1] * 10)
    for seed in range(20):
        fit_rows, held_rows = holdout_split(100, 20, seed, labels)
        # 10% of each part is class 1 under stratification; a plain split would wander.
        assert labels[held_rows].sum() == 2 and labels[fit_rows].sum() == 8


def test_string_labels_stratify_too():
    labels = np.array(["a"] * 30 + ["b"] * 30)
    _, held_rows = holdout_split(60, 10, seed=0, labels=labels)
    assert (labels[held_rows] == "a").sum() == 5


@pytest.mark.parametrize("labels, n_held", [
    (np.array([0] * 19 + [1]), 5),          # a class with one row cannot be on both sides
    (np.array([0, 1, 2, 3] * 5), 3),        # 3 held-out rows cannot hold 4 classes
])
def test_falls_back_to_a_plain_split_when_stratifying_is_impossible(labels, n_held):
    fit_rows, held_rows = holdout_split(len(labels), n_held, seed=1, labels=labels)
    np.testing.assert_array_equal(held_rows, holdout_split(len(labels), n_held, seed=1)[1])
    assert len(fit_rows) + len(held_rows) == len(labels)
