"""The numeric split search's three-pass scan (issue 17, small data) against the one-loop scan it replaced.

``one_loop_scan`` transcribes the loop ``find_node_split`` ran for raw gains before the scan was split
into passes (prefix sums, gains, first maximum); every histogram here must give the same split bit for bit.
"""

import numpy as np
import pytest

from shrinktree.boosting.splitting import find_node_split

MISSING_BIN = 255


def one_loop_scan(hist, n_bins_non_missing, has_missing, feature_mask, sum_g, sum_h, count, l2, min_samples_leaf,
                  min_hessian, effective_tests):
    """The raw-gain search as one branchy loop over bins (the earlier kernel, in Python)."""
    def score(g, h):
        return g * g / (h + l2) if h + l2 > 0.0 else 0.0

    parent_score = score(sum_g, sum_h)
    best = (-np.inf, -1, 0, 0, 0.0, 0.0, 0.0)
    n_tests = 0.0
    for f in range(hist.shape[0]):
        if not feature_mask[f]:
            continue
        h = hist[f]
        n_directions = 2 if (has_missing[f] and h[MISSING_BIN, 2] > 0) else 1
        feature_best = (-np.inf, 0, 0, 0.0, 0.0, 0.0)
        admissible = 0
        for direction in range(n_directions):
            gl, hl, cl = (h[MISSING_BIN, 0], h[MISSING_BIN, 1], h[MISSING_BIN, 2]) if direction else (0.0, 0.0, 0.0)
            for b in range(n_bins_non_missing[f]):
                gl += h[b, 0]
                hl += h[b, 1]
                cl += h[b, 2]
                if b > 0 and h[b, 2] == 0.0 and h[b, 0] == 0.0 and h[b, 1] == 0.0:
                    continue
                cr = count - cl
                if cr < min_samples_leaf:
                    break
                hr = sum_h - hl
                if cl < min_samples_leaf or hl < min_hessian or hr < min_hessian:
                    continue
                if direction == 0 and h[b, 2] > 0:
                    admissible += 1
                gain = score(gl, hl) + score(sum_g - gl, hr) - parent_score
                if gain > feature_best[0]:
                    feature_best = (gain, b, direction, gl, hl, cl)
        if admissible > 0:
            n_tests += effective_tests[min(admissible, effective_tests.shape[0] - 1)]
        if feature_best[0] > best[0]:
            best = (feature_best[0], f, *feature_best[1:])
    if best[1] < 0:
        return (-np.inf, -1, 0, 0, 0.0, 0.0, 0.0, n_tests)
    return (*best, n_tests)


def random_histogram(rng, n_features, n_rows, constant_hessian, missing_share, ties):
    """A node's histogram from random rows: sparse or dense bins, missing rows, repeated gradients."""
    hist = np.zeros((n_features, MISSING_BIN + 1, 3))
    n_bins = rng.integers(2, MISSING_BIN + 1, n_features)
    gradients = rng.choice([-1.0, 1.0], n_rows) if ties else rng.normal(size=n_rows)
    hessians = np.ones(n_rows) if constant_hessian else rng.uniform(0.0, 0.25, n_rows)
    for f in range(n_features):
        bins = rng.integers(0, n_bins[f], n_rows)
        bins[rng.random(n_rows) < missing_share] = MISSING_BIN
        np.add.at(hist[f], (bins, 0), gradients * hessians)
        np.add.at(hist[f], (bins, 1), hessians)
        np.add.at(hist[f], (bins, 2), 1.0)
    return hist, n_bins.astype(np.int64), (gradients * hessians).sum(), hessians.sum()


@pytest.mark.parametrize("n_rows", [25, 60, 300, 3000])
@pytest.mark.parametrize("constant_hessian", [True, False])
@pytest.mark.parametrize("missing_share", [0.0, 0.1])
@pytest.mark.parametrize("ties", [False, True])
def test_scan_finds_the_one_loop_split_bit_for_bit(n_rows, constant_hessian, missing_share, ties):
    rng = np.random.default_rng(n_rows + 7 * constant_hessian + 11 * ties + int(100 * missing_share))
    effective_tests = np.linspace(0.0, 40.0, MISSING_BIN + 2)
    for _ in range(10):
        n_features = int(rng.integers(1, 8))
        hist, n_bins, sum_g, sum_h = random_histogram(rng, n_features, n_rows, constant_hessian, missing_share, ties)
        has_missing = hist[:, MISSING_BIN, 2] > 0
        feature_mask = rng.random(n_features) < 0.8
        min_samples_leaf = float(rng.choice([1, 5, 20]))
        min_hessian = float(rng.choice([0.0, 1e-3, 2.0]))
        l2 = float(rng.choice([0.0, 1.0]))
        args = (hist, n_bins, has_missing, feature_mask, MISSING_BIN, sum_g, sum_h, float(n_rows), l2,
                min_samples_leaf, min_hessian, effective_tests, -1.0, 0.0, 0.0, False,
                np.zeros(n_features, dtype=np.int8), -np.inf, np.inf, 0.0)  # tie_tolerance 0: the first maximum
        found = find_node_split(*args)
        expected = one_loop_scan(hist, n_bins, has_missing, feature_mask, sum_g, sum_h, float(n_rows), l2,
                                 min_samples_leaf, min_hessian, effective_tests)
        assert [float(v) for v in found] == [float(v) for v in expected]


def test_a_node_without_hessian_mass_scores_its_thresholds_zero():
    # Saturated rows (hessian 0, no l2) pass min_hessian=0: the guarded score, not a division by zero.
    hist = np.zeros((1, MISSING_BIN + 1, 3))
    hist[0, 0] = (0.5, 0.0, 30.0)
    hist[0, 1] = (-0.5, 0.0, 30.0)
    found = find_node_split(hist, np.array([2]), np.array([False]), np.array([True]), MISSING_BIN, 0.0, 0.0, 60.0,
                            0.0, 20.0, 0.0, np.ones(MISSING_BIN + 2), -1.0, 0.0, 0.0, False,
                            np.zeros(1, dtype=np.int8), -np.inf, np.inf, 0.0)
    assert found[:3] == (0.0, 0, 0)
