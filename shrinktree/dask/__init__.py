"""Training on a dask.distributed cluster (``pip install shrinktree[dask]``).

:class:`DaskShrinkBoostRegressor` and :class:`DaskShrinkBoostClassifier` take dask arrays or DataFrames,
keep the rows on the workers and give the single-machine model (``to_local()``); see ``docs/dask.md``.
"""

try:
    import dask  # noqa: F401
    import distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("shrinktree.dask needs dask and distributed: pip install 'shrinktree[dask]'.") from exc

from ._cluster import PartitionLostError
from .estimators import DaskShrinkBoostClassifier, DaskShrinkBoostRegressor

__all__ = ["DaskShrinkBoostClassifier", "DaskShrinkBoostRegressor", "PartitionLostError"]
