"""The shipped noise-only tables are the simulations' numbers, bit for bit."""

import shutil

import numpy as np
import pytest

from shrinktree import _null_tables
from shrinktree._shrinkage import _sorted_scan_null_table, null_calibration_tables


def test_shipped_tables_are_the_simulations():
    for name, values in _null_tables.simulated().items():
        shipped = getattr(_null_tables, name)
        assert shipped.dtype == np.float64 and shipped.shape == values.shape, name
        # Bit for bit: the pooling of every fit reads these numbers.
        assert np.array_equal(shipped.view(np.uint64), np.asarray(values, dtype=np.float64).view(np.uint64)), name


def test_the_estimate_reads_the_shipped_tables():
    assert all(a is b for a, b in zip(null_calibration_tables(), (_null_tables.M_GRID, _null_tables.N_EFF,
                                                                   _null_tables.N_GRID, _null_tables.EXPECTED_MAX)))
    assert all(a is b for a, b in zip(_sorted_scan_null_table(), (_null_tables.LEVEL_GRID,
                                                                  _null_tables.SORTED_SCAN_MAX)))
    with pytest.raises(ValueError):
        _null_tables.N_EFF[0] = 2.0  # shared by every fit: read-only


def test_regenerating_the_module_gives_the_same_file(tmp_path):
    copy = tmp_path / "_null_tables.py"
    shutil.copy(_null_tables.__file__, copy)
    text = copy.read_text(encoding="utf-8")
    # Damage one table: the generator must write it back as it was.
    damaged = text.replace("N_EFF = _table([\n    1.0,", "N_EFF = _table([\n    9.0,", 1)
    assert damaged != text
    copy.write_text(damaged, encoding="utf-8")
    _null_tables._write(str(copy))
    assert copy.read_text(encoding="utf-8") == text
