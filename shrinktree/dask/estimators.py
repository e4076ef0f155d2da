"""DaskShrinkBoostRegressor and DaskShrinkBoostClassifier: the estimators fitted on a dask.distributed cluster."""

from __future__ import annotations

import inspect

import numpy as np

from .._threads import check_n_jobs
from ..boosting.gradient_boosting import ShrinkBoostClassifier, ShrinkBoostRegressor
from ._booster import DistributedFit
from ._inputs import is_dask_collection

DEFAULT_TIMEOUT = 3600.0

_DASK_PARAMETERS = """\
    timeout : float, default=3600
        Seconds any one step of the distributed fit may wait for the workers before the fit is abandoned
        with ``TimeoutError``.  A worker that dies or leaves during the fit raises
        :class:`~shrinktree.dask.PartitionLostError` whatever the timeout (the client checks the workers every
        second while it waits).
"""

_DASK_NOTES = """\
    Fitting takes dask arrays or dask DataFrames (category, object and string columns are categorical
    as in the single-machine estimator) and a dask ``y`` partitioned alike, and trains on the cluster of
    the current ``distributed.Client``: the rows stay on the workers, only histograms and node sums
    reach the client.  The model equals the single-machine model fitted on the same rows with the same
    ``random_state`` up to the order of floating-point additions (predictions within 1e-10, see
    ``docs/dask.md``); :meth:`to_local` returns it as the single-machine estimator.  ``predict`` on a dask
    collection is lazy (a dask array); on in-memory data it predicts at once.

    Differences from the single-machine fit: early stopping watches the first ``eval_set`` (a dask
    collection); there is no internal ``validation_fraction`` split, and ``eval_metric``,
    ``random_effects`` and ``cross_features`` are not available.  Fitted attribute ``distributed_stats_``: the number of
    partitions and, per tree, the seconds, the bytes of sums the client received and the rounds of
    tasks (one per split, plus a few per tree).  ``n_jobs`` sets the threads of prediction on
    in-memory data; on the cluster each worker's kernels use that worker's threads.
"""


def _signature_with_timeout(base) -> inspect.Signature:
    signature = inspect.signature(base.__init__)
    timeout = inspect.Parameter("timeout", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_TIMEOUT)
    return signature.replace(parameters=[*signature.parameters.values(), timeout])


def _client():
    from distributed import default_client

    try:
        return default_client()
    except ValueError as exc:
        raise ValueError("No dask.distributed Client: start one (distributed.Client(...)) before fitting.") from exc


def _local_method(model, method: str, X, offset=None):
    if offset is None:
        return getattr(model, method)(X)
    return getattr(model, method)(X, offset=np.asarray(offset).ravel())


class _DaskMixin:
    """Fitting on dask collections, lazy prediction and :meth:`to_local` (mixed into the single-machine classes)."""

    _local_class = None

    def _dask_fit(self, X, y, sample_weight, offset, eval_set, eval_sample_weight, eval_metric, callbacks):
        if not is_dask_collection(X) or not is_dask_collection(y):
            raise TypeError(f"{type(self).__name__}.fit takes dask collections (X and y); for data in memory use "
                            f"{self._local_class.__name__}.")
        saved = dict(self.__dict__)
        try:
            if eval_metric is not None:
                raise ValueError("eval_metric needs every prediction at once and is not available on a cluster.")
            if getattr(self, "random_effects", None) is not None:
                raise ValueError("random_effects is not available on a cluster; use ShrinkBoostRegressor.")
            if getattr(self, "cross_features", False) is not False:
                raise ValueError("cross_features is not available on a cluster; use ShrinkBoostRegressor or "
                                 "ShrinkBoostClassifier, or cross_features=False.")
            if getattr(self, "_category_pairs", False) not in (False, None):
                raise ValueError("_category_pairs is not available on a cluster; use ShrinkBoostRegressor or "
                                 "ShrinkBoostClassifier.")
            if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or not self.timeout > 0:
                raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout!r}.")
            check_n_jobs(self.n_jobs)
            fit = DistributedFit(self, _client(), float(self.timeout))
            try:
                fit.prepare(X, y, sample_weight, offset)
                n_partitions = len(fit.train)
                fit.boost(eval_set, eval_sample_weight, callbacks)
            finally:
                fit.release()
            self.distributed_stats_ = {"n_partitions": n_partitions, "seconds_per_tree": np.array(fit.tree_seconds),
                                       "bytes_to_client_per_tree": np.array(fit.tree_bytes),
                                       "rounds_per_tree": np.array(fit.tree_rounds)}
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        return self

    def to_local(self):
        """The fitted model as the single-machine estimator (:class:`~shrinktree.ShrinkBoostRegressor` or
        :class:`~shrinktree.ShrinkBoostClassifier`), with the same parameters and fitted state."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "_trees")
        return self._local_copy()

    def _local_copy(self):
        """The single-machine estimator with this one's parameters and (if any) fitted state."""
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "timeout"}
        local = self._local_class(**params)
        local.__dict__.update({k: v for k, v in self.__dict__.items()
                               if k not in params and k not in ("timeout", "distributed_stats_")})
        return local

    def __reduce__(self):
        # Pickled as the single-machine estimator (through its checked plain-value state) and the timeout.
        return _from_local, (type(self).__name__, self._local_copy(), self.timeout)

    def save_model(self, path, metadata=None) -> None:
        """Save the fitted model as the single-machine estimator's model file (``load_model`` gives a
        :class:`~shrinktree.ShrinkBoostRegressor` or :class:`~shrinktree.ShrinkBoostClassifier`)."""
        self.to_local().save_model(path, metadata)

    def _lazy(self, method: str, X, offset=None, n_columns: int | None = None, dtype=np.float64):
        """``method`` of the local model on every partition of the dask collection ``X``, as a dask array."""
        import dask.array as da

        local = self.to_local()
        if isinstance(X, da.Array):
            if X.ndim != 2:
                raise ValueError(f"X must be a 2-D dask array, got {X.ndim} dimension(s).")
            if X.numblocks[1] != 1:
                X = X.rechunk({1: X.shape[1]})
            chunks = (X.chunks[0],) if n_columns is None else (X.chunks[0], (n_columns,))
            drop = 1 if n_columns is None else None
            args = (X,) if offset is None else (X, offset.reshape(-1, 1) if offset.ndim == 1 else offset)
            return da.map_blocks(_local_method_blocks, local, method, *args, chunks=chunks, dtype=dtype,
                                 drop_axis=drop, meta=np.empty((0,) * len(chunks), dtype=dtype))
        meta = np.empty((0,) if n_columns is None else (0, n_columns), dtype=dtype)
        extra = () if offset is None else (offset,)
        return X.map_partitions(_local_method_frames, local, method, *extra, meta=meta)


def _local_method_blocks(local, method, X, offset=None):
    return _local_method(local, method, X, offset)


def _local_method_frames(X, local, method, offset=None):
    return _local_method(local, method, X, offset)


class DaskShrinkBoostRegressor(_DaskMixin, ShrinkBoostRegressor):
    """Regressor docstring: composed below from the single-machine one."""

    _local_class = ShrinkBoostRegressor

    def __init__(self, *, timeout=DEFAULT_TIMEOUT, **params):
        super().__init__(**params)
        self.timeout = timeout

    __init__.__signature__ = _signature_with_timeout(ShrinkBoostRegressor)

    def fit(self, X, y, sample_weight=None, *, offset=None, eval_set=None, eval_sample_weight=None,
            eval_metric=None, callbacks=None) -> DaskShrinkBoostRegressor:
        """Fit on the cluster.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
        y : dask array or dask Series of shape (n_samples,), partitioned like ``X``
        sample_weight, offset : dask array or Series, default=None
            Partitioned like ``X``; see :meth:`shrinktree.ShrinkBoostRegressor.fit`.
        eval_set : list of (X, y) or (X, y, offset) tuples of dask collections, default=None
        eval_sample_weight : list of dask arrays or None, default=None
        eval_metric : None
            Not available on a cluster (``ValueError``).
        callbacks : list of callables, default=None

        Returns
        -------
        self
        """
        return self._dask_fit(X, y, sample_weight, offset, eval_set, eval_sample_weight, eval_metric, callbacks)

    def predict(self, X, offset=None, include_random_effects=True):
        """Predicted values: a lazy dask array for a dask ``X``, an ndarray otherwise."""
        if is_dask_collection(X):
            return self._lazy("predict", X, offset)
        return super().predict(X, offset=offset, include_random_effects=include_random_effects)


class DaskShrinkBoostClassifier(_DaskMixin, ShrinkBoostClassifier):
    """Classifier docstring: composed below from the single-machine one."""

    _local_class = ShrinkBoostClassifier

    def __init__(self, *, timeout=DEFAULT_TIMEOUT, **params):
        super().__init__(**params)
        self.timeout = timeout

    __init__.__signature__ = _signature_with_timeout(ShrinkBoostClassifier)

    def fit(self, X, y, sample_weight=None, *, eval_set=None, eval_sample_weight=None, eval_metric=None,
            callbacks=None) -> DaskShrinkBoostClassifier:
        """Fit on the cluster.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features)
        y : dask array or dask Series of shape (n_samples,), partitioned like ``X``
        sample_weight : dask array or Series, default=None
        eval_set : list of (X, y) tuples of dask collections, default=None
        eval_sample_weight : list of dask arrays or None, default=None
        eval_metric : None
            Not available on a cluster (``ValueError``).
        callbacks : list of callables, default=None

        Returns
        -------
        self
        """
        return self._dask_fit(X, y, sample_weight, None, eval_set, eval_sample_weight, eval_metric, callbacks)

    def predict(self, X):
        """Predicted labels: a lazy dask array for a dask ``X``, an ndarray otherwise."""
        if is_dask_collection(X):
            return self._lazy("predict", X, dtype=self.classes_.dtype)
        return super().predict(X)

    def predict_proba(self, X):
        """Class probabilities: a lazy dask array for a dask ``X``, an ndarray otherwise."""
        if is_dask_collection(X):
            return self._lazy("predict_proba", X, n_columns=self.n_classes_)
        return super().predict_proba(X)


def _from_local(name: str, local, timeout):
    cls = {c.__name__: c for c in (DaskShrinkBoostRegressor, DaskShrinkBoostClassifier)}[name]
    params = local.get_params(deep=False)
    model = cls(timeout=timeout, **params)
    model.__dict__.update({k: v for k, v in local.__dict__.items() if k not in params})
    return model


def _compose(doc: str) -> str:
    head, _, rest = doc.partition("    Parameters\n    ----------\n")
    first, _, head = head.partition("\n")
    head = first.rstrip(".") + ", trained on a dask.distributed cluster.\n" + head
    return head + _DASK_NOTES + "\n    Parameters\n    ----------\n" + _DASK_PARAMETERS + rest


DaskShrinkBoostRegressor.__doc__ = _compose(ShrinkBoostRegressor.__doc__)
DaskShrinkBoostClassifier.__doc__ = _compose(ShrinkBoostClassifier.__doc__)
