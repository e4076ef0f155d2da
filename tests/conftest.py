import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def load_benchmark():
    """Import a script of benchmarks/ by name (``"accuracy"``, ``"_speed_grouped"``) as a module.

    Its directory is on ``sys.path`` while it loads (the scripts import ``_common``), it is registered in
    ``sys.modules`` (its dataclasses look their module up), and the environment is restored afterwards:
    some scripts pin NUMBA_NUM_THREADS/OMP_NUM_THREADS for their own runs, and this process's numba
    threads are already launched.
    """

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"{name}_benchmark", BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        sys.path.insert(0, str(BENCHMARKS))
        environment = dict(os.environ)
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(BENCHMARKS))
            os.environ.clear()
            os.environ.update(environment)
        return module

    return load


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def walk_leaves():
    """Leaf of each of ``rows`` found by walking the tree row by row: ``add_tree_binned`` with node ids as values.

    The arguments are those of :func:`shrinktree.boosting.routing.leaves_by_partition`.
    """
    from shrinktree.boosting.predictor import add_tree_binned

    def walk(binned, codes, rows, left, right, feature, is_categorical, bin_threshold, missing_left, missing_bin,
             n_levels, cat_offset, cat_bitset, present_offset=None, present_bitset=None):
        # Without present sets (no row blends, so each row's value is its leaf's id).
        assert present_offset is None or np.all(present_offset < 0)
        node_of_row = np.zeros(binned.shape[1])
        add_tree_binned(binned, codes, left, right, feature, is_categorical, bin_threshold, missing_left, missing_bin,
                        n_levels, cat_offset, cat_bitset, np.full(len(left), -1, dtype=np.int64),
                        np.zeros(0, dtype=np.uint32), np.full(len(left), 0.5), np.arange(len(left), dtype=np.float64),
                        node_of_row)
        return node_of_row[rows].astype(np.int64)

    return walk
