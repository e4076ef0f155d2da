"""benchmarks/objectives_spread.py: its variants and its table (no dataset is loaded)."""

import pytest


def test_variants_and_table(load_benchmark):
    spread = load_benchmark("objectives_spread")
    assert spread.VARIANTS["BROOD dropped"]("epil") is None  # a grouseticks column
    assert callable(spread.VARIANTS["BROOD dropped"]("grouseticks"))
    scores = {"shrinktree": {"deviance": [1.0, 3.0], "spread": [0.3, 0.3]},
              "LightGBM": {"deviance": [2.0, 2.0], "spread": [0.2, 0.2]}}
    text = spread.table("epil", scores)
    assert "| shrinktree | 2.000 ± 1.000 | 0.300 ± 0.000 | 1.50 |" in text
    assert "| LightGBM | 2.000 ± 0.000 | 0.200 ± 0.000 | 1.00 |" in text
    text = spread.paired("epil", scores)
    assert "| LightGBM | 2 of 2 | 0.67, 0.67 | 1 of 2 | 2.000, 0.667 |" in text
    assert spread.VARIANTS["grouping columns dropped"]("quine") is None  # quine has no grouping columns
    assert callable(spread.VARIANTS["absent levels side"]("quine"))
    with pytest.raises(SystemExit):
        spread.main(["--datasets", "no_such_set"])

