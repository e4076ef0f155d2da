"""The radix sort of float keys: numpy's stable order, both zeros as one key, empty input."""

import numpy as np

from shrinktree.boosting.radix import float_keys, key_floats, sort_keys_and_order, sorted_keys


def _keys(values):
    return float_keys(values, values.shape[0])


def test_the_order_is_numpys_stable_argsort():
    rng = np.random.default_rng(4)
    for values in (rng.normal(size=1_000), rng.integers(-3, 3, 1_000).astype(np.float64),
                   np.array([0.0, -0.0, 1.0, -0.0, 0.0, -1.0, np.inf, -np.inf, 5e-324, -5e-324])):
        order = np.empty(values.size, dtype=np.int64)
        sort_keys_and_order(_keys(values), values.size, order)
        # -0.0 == 0.0: a stable comparison sort keeps the zeros in their order, and so does the radix sort.
        np.testing.assert_array_equal(order, np.argsort(values, kind="stable"))


def test_sorted_keys_map_back_to_the_sorted_floats():
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.standard_cauchy(2_000) * 1e300, [-0.0, 0.0, 1e-310, -1e-310]])
    keys = sorted_keys(_keys(values))
    back = key_floats(keys, keys.size)
    np.testing.assert_array_equal(back, np.sort(values))
    assert not np.any(np.signbit(back) & (back == 0.0))


def test_empty_input():
    empty = np.zeros(0)
    assert sorted_keys(_keys(empty)).size == 0
    order = np.zeros(0, dtype=np.int64)
    sort_keys_and_order(_keys(empty), 0, order)  # reads no key
    assert key_floats(np.zeros(0, dtype=np.uint64), 0).size == 0
