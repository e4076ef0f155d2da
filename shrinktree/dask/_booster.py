"""The distributed fit: the single-machine ``_fit`` / ``_boost`` / ``_grow_and_pool`` with the rows on the workers.

Everything the single-machine booster decides from data is decided here from the same quantities,
computed as sums (or exact quantiles) over the partitions: the level lists and classes (unions), the bin
edges (the same row sample, drawn by global row index and gathered once), the baseline, every node's
histogram, the held-out sums and within-node variances of the pooling, the renewed leaf values, and
the losses early stopping watches.  The random draws (row and column subsampling) are made on the
client with the single-machine generator; the honest split is a hash of each row's content, computed
where the row lives.  So the model is the single-machine model up to the order of floating-point
additions (``docs/dask.md``).
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state

from .._shrinkage import effective_tests_table
from .._tree import FlatForest
from ..boosting.binning import SUBSAMPLE_FOR_BINNING, BinMapper
from ..boosting.constraints import InteractionSets, split_signs
from ..boosting.gradient_boosting import (
    DEFAULT_STOPPED_VALUE,
    MIN_HESSIAN,
    _check_callbacks,
    _ldexp,
    check_absent_switches,
)
from ..boosting.grower import threshold_table
from ..boosting.honest import DEFAULT_MIN_LEAF_RULE
from ..boosting.pooling import pool_tree, set_renewed_values
from ..boosting.validation import eval_set_entries
from ..callbacks import CallbackEnv, PrintProgress
from . import _baseline
from ._cluster import Partitions
from ._evaluation import EvalPartition
from ._facts import check_weights, level_encoder
from ._grower import DistributedGrower, tree_dict
from ._inputs import aligned_partitions, column_facts, meta_of
from ._partition import TrainPartition, _Spec
from ._quantile import select_quantiles


class DistributedFit:
    """One distributed fit of ``estimator`` (a :class:`DaskShrinkBoostRegressor` or ``...Classifier``)."""

    def __init__(self, estimator, client, timeout: float):
        self.est, self.client, self.timeout = estimator, client, timeout

    # -- preparation ---------------------------------------------------------------------------------
    def prepare(self, X, y, sample_weight, offset):
        import dask

        est = self.est
        self.plan = est._validate_hyperparameters()
        # The private switches of the single-machine booster (levels absent from a node's growing rows blend;
        # a held-out row that stopped where it blends takes the blended value of the node's subtree).
        stopped_value = getattr(est, "_stopped_value", DEFAULT_STOPPED_VALUE)
        check_absent_switches(getattr(est, "_absent_rule", "blend"), stopped_value)
        self.blend_absent = getattr(est, "_absent_rule", "blend") == "blend"
        self.stopped_node_value = stopped_value == "node"
        meta = meta_of(X)
        n_features, columns, names, mask, text = column_facts(meta, est.categorical_features)
        self.spec = _Spec(n_features, columns, mask, text, est._is_classifier)
        parts = aligned_partitions(X, (y, "y"), (sample_weight, "sample_weight"), (offset, "offset"))
        make = dask.delayed(TrainPartition, pure=False)
        futures = self.client.compute([make(*row, self.spec) for row in zip(*parts)])
        self.train = Partitions(self.client, futures, self.timeout)
        check_loss = None if est._is_classifier else est._make_loss()
        facts = self.train.run("inspect", check_loss)
        n_rows = sum(f["n_rows"] for f in facts)
        if n_rows == 0:
            raise ValueError(f"Found array with 0 sample(s) (shape=(0, {n_features})) while a minimum of 1 is "
                             "required.")
        est.n_features_in_ = n_features
        if names is not None:
            est.feature_names_in_ = names
        else:
            est.__dict__.pop("feature_names_in_", None)
        if sample_weight is not None:
            check_weights([f["weight"] for f in facts])
        est._categorical = level_encoder(mask, text, [f["levels"] for f in facts])
        class_weight = self._classes(facts)
        self.loss = est._make_loss()
        est._resolve_constraints(n_features, self.loss.n_trees_per_iteration)
        for stale in ("validation_score_", "best_iteration_"):
            est.__dict__.pop(stale, None)
        self.seeds = check_random_state(est.random_state).randint(0, 2**31 - 1, size=3)
        kept = np.array([f["n_kept"] for f in facts], dtype=np.int64)
        self.n_samples = int(kept.sum())
        self.unit_weights = sample_weight is None and class_weight is None
        self._bin(kept, class_weight)
        exponent = 0
        if self.loss.scale_equivariant and not est._is_classifier:
            largest = max(f["target"][0] for f in facts)
            exponent = int(np.frexp(largest)[1]) if largest > 0 else 0
        self.y_exponent = exponent
        self.train.run("rescale", exponent)
        self.has_offset = offset is not None

    def _classes(self, facts):
        """Classes (the union of the partitions' labels) and per-class weights; ``None`` for a regressor."""
        est = self.est
        if not est._is_classifier:
            return None
        from sklearn.utils.multiclass import check_classification_targets

        labels = np.concatenate([f["labels"][0] for f in facts])
        classes = np.unique(labels)
        check_classification_targets(classes)
        counts = np.zeros(len(classes))
        for f in facts:
            counts[np.searchsorted(classes, f["labels"][0])] += f["labels"][1]
        est._label_encoder = LabelEncoder()
        est._label_encoder.classes_ = classes
        est.classes_ = classes
        if len(classes) < 2:
            raise ValueError(f"The classifier needs at least 2 classes in y; got only one class: {classes.tolist()}.")
        est.n_classes_ = len(classes)
        self.classes = classes
        if est.class_weight is None:
            return None
        if est.class_weight == "balanced":
            per_class = counts.sum() / (len(classes) * counts)
        else:
            from sklearn.utils.class_weight import compute_class_weight

            try:
                per_class = compute_class_weight(est.class_weight, classes=classes, y=classes)
            except (ValueError, KeyError) as exc:
                raise ValueError(f"class_weight {est.class_weight!r} does not fit the classes {classes.tolist()}: "
                                 f"{exc}") from exc
        if np.any(~np.isfinite(per_class)) or np.any(per_class < 0):
            raise ValueError("class_weight values must be finite and non-negative.")
        return per_class

    def _bin(self, kept: np.ndarray, class_weight) -> None:
        """Encode every partition, then the bin edges from the single-machine row sample, then the bins."""
        est = self.est
        encoder = est._categorical
        n_features = self.spec.n_features
        if encoder is None:
            est._numeric_index = np.arange(n_features, dtype=np.int64)
            est._categorical_index = np.zeros(0, dtype=np.int64)
        else:
            est._numeric_index = np.flatnonzero(~encoder.mask_).astype(np.int64)
            est._categorical_index = encoder.categorical_index_
        est.is_categorical_ = np.zeros(n_features, dtype=bool)
        est.is_categorical_[est._categorical_index] = True
        n = self.n_samples
        if n > SUBSAMPLE_FOR_BINNING:
            rng = np.random.default_rng(int(self.seeds[2]))
            sample = np.sort(rng.choice(n, SUBSAMPLE_FOR_BINNING, replace=False))
        else:
            sample = np.arange(n)
        starts = np.concatenate([[0], np.cumsum(kept)])
        local = [sample[np.searchsorted(sample, a):np.searchsorted(sample, b)] - a for a, b in zip(starts, starts[1:])]
        classes = getattr(self, "classes", None)
        results = self.train.run("encode", encoder, classes, class_weight, per_partition=[
            (rows, est._numeric_index) for rows in local])
        self.has_missing = np.any([r[0] for r in results], axis=0) if results else np.zeros(0, bool)
        sample_X = np.concatenate([r[1] for r in results])
        sample_w = np.concatenate([r[2] for r in results])
        bin_mapper = BinMapper(est.max_bins, subsample=None).fit(sample_X, sample_w)
        bin_mapper.subsample, bin_mapper.random_state = SUBSAMPLE_FOR_BINNING, int(self.seeds[2])
        est._bin_mapper = bin_mapper
        self.train.run("bin", bin_mapper, self.plan.honest)
        self.n_levels = np.zeros(0, dtype=np.int64) if encoder is None else encoder.n_levels_

    def eval_sets(self, eval_set, eval_sample_weight) -> list:
        """The user's dask eval sets as prepared partitions on the workers."""
        import dask

        eval_set = eval_set_entries(eval_set, eval_sample_weight,
                                    "(X, y) tuples of dask collections (or (X, y, offset))")
        out = []
        est = self.est
        make = dask.delayed(EvalPartition, pure=False)
        for i, entry in enumerate(eval_set):
            offset = entry[2] if len(entry) == 3 else None
            if self.has_offset and offset is None:
                raise ValueError(f"eval_set[{i}] needs an offset: the model is fitted with one; pass (X, y, offset).")
            weight = None if eval_sample_weight is None else eval_sample_weight[i]
            meta = meta_of(entry[0])
            if meta.shape[1] != self.spec.n_features:
                raise ValueError(f"eval_set[{i}]: X has {meta.shape[1]} features, but the training X has "
                                 f"{self.spec.n_features}.")
            parts = aligned_partitions(entry[0], (entry[1], "y"), (weight, "eval_sample_weight"), (offset, "offset"))
            futures = self.client.compute([make(*row, self.spec) for row in zip(*parts)])
            partitions = Partitions(self.client, futures, self.timeout)
            try:
                partitions.run("prepare", est._categorical, getattr(self, "classes", None), self.loss,
                               est._bin_mapper, est._numeric_index, self.y_exponent, self.baseline)
            except (ValueError, TypeError) as exc:
                raise type(exc)(f"eval_set[{i}]: {exc}") from exc
            out.append(partitions)
        return out

    # -- boosting ------------------------------------------------------------------------------------
    def boost(self, eval_set, eval_sample_weight, callbacks) -> None:
        """The boosting iterations of :meth:`_BaseShrinkBoost._boost`, on the partitions."""
        est, plan, train = self.est, self.plan, self.train
        start_time = time.perf_counter()
        callbacks = _check_callbacks(callbacks)
        self.baseline = _baseline.baseline(train, self.loss, self.has_offset)
        user_sets = self.eval_sets(eval_set, eval_sample_weight)
        use_early_stopping = est.early_stopping is True or (
            est.early_stopping == "auto" and self.n_samples > 10_000 and plan.early_stops_by_default)
        if use_early_stopping and not user_sets:
            raise ValueError("Early stopping on a cluster watches the first eval_set (a held-out dask collection); "
                             "pass eval_set, or early_stopping=False.")
        monitor = "valid_0" if use_early_stopping else None
        rng = np.random.default_rng(self.seeds[0])
        loss = self.loss.rescaled(self.y_exponent)
        loss_exponent, gain_exponent = loss.loss_degree * self.y_exponent, loss.gain_degree * self.y_exponent
        est._baseline = self.baseline
        train.run("start_raw", self.baseline)
        n_samples, n_features = self.n_samples, len(est.is_categorical_)
        K = loss.n_trees_per_iteration
        names = [f"valid_{i}" for i in range(len(user_sets))]
        if est.verbose:
            callbacks = [PrintProgress(), *callbacks]
        track_train_loss = bool(callbacks) or monitor is not None
        metric = loss.name

        def in_target_units(value):
            return float(_ldexp(value, loss_exponent))

        def mean_loss(partitions):
            total, weight = partitions.total("loss_sums", loss)
            return total / weight

        est.evals_result_ = {name: {metric: [in_target_units(mean_loss(s))]} for name, s in zip(names, user_sets)}
        if track_train_loss:
            est.evals_result_ = {"training": {metric: [in_target_units(mean_loss(train))]}, **est.evals_result_}
        tol = _ldexp(est.tol, -loss_exponent)
        est._trees, est.pooling_strength_ = [], []
        importances = []
        n_features_per_tree = max(1, int(np.ceil(est.colsample * n_features)))
        n_rows_per_tree = max(1, int(np.ceil(est.subsample * n_samples)))
        pooled_gain_k = [getattr(est, "_pooled_split_gain_k", -1.0)] * K
        best_score, best_iteration, no_improvement = -np.inf, 0, 0
        starts = np.concatenate([[0], np.cumsum(train.run("n_training_rows"))])
        self.tree_seconds, self.tree_bytes, self.tree_rounds = [], [], []
        for iteration in range(est.n_estimators):
            _baseline.start_iteration(train, loss)
            rows = None
            if n_rows_per_tree < n_samples:
                rows = np.sort(rng.choice(n_samples, n_rows_per_tree, replace=False))
            if n_features_per_tree < n_features:
                feature_mask = np.zeros(n_features, dtype=np.bool_)
                feature_mask[rng.choice(n_features, n_features_per_tree, replace=False)] = True
            else:
                feature_mask = np.ones(n_features, dtype=np.bool_)
            cat_feature_mask = np.ascontiguousarray(feature_mask[est._categorical_index])
            feature_mask = np.ascontiguousarray(feature_mask[est._numeric_index])
            local_rows = [None] * len(train) if rows is None else [
                rows[np.searchsorted(rows, a):np.searchsorted(rows, b)] - a for a, b in zip(starts, starts[1:])]
            n_grow, n_held = train.total("begin_iteration", loss, per_partition=[
                (r, iteration, int(self.seeds[0]), plan.honest) for r in local_rows])
            use_split = plan.honest and n_grow > 0 and n_held > 0
            iteration_trees, iteration_k = [], []
            iteration_importance = np.zeros((2, n_features))
            for k in range(K):
                tic, received, rounds = time.perf_counter(), train.bytes_received, train.step
                tree, pooling_k, grown = self._grow_and_pool(loss, k, use_split, feature_mask, cat_feature_mask,
                                                             pooled_gain_k[k], iteration_importance)
                self.tree_seconds.append(time.perf_counter() - tic)
                self.tree_bytes.append(train.bytes_received - received)
                self.tree_rounds.append(train.step - rounds)
                if pooled_gain_k[k] >= 0:
                    pooled_gain_k[k] = pooling_k if np.isfinite(pooling_k) else 1e12
                value = np.ascontiguousarray(tree.value[:, 0])
                for partitions in user_sets:
                    partitions.run("add_tree", tree_dict(grown), value, k)
                iteration_trees.append(tree)
                iteration_k.append(pooling_k)
            est._trees.append(iteration_trees)
            est.pooling_strength_.append(iteration_k)
            importances.append(iteration_importance)
            if track_train_loss:
                est.evals_result_["training"][metric].append(in_target_units(mean_loss(train)))
            for name, partitions in zip(names, user_sets):
                score = -mean_loss(partitions)
                est.evals_result_[name][metric].append(in_target_units(-score))
                if name == monitor:
                    if best_score == -np.inf or score > best_score + tol:
                        best_score, best_iteration, no_improvement = score, iteration + 1, 0
                    else:
                        no_improvement += 1
            stop = monitor is not None and no_improvement >= est.n_iter_no_change
            if callbacks:
                env = CallbackEnv(est, iteration + 1, est.n_estimators, est.evals_result_, est._trees, iteration_k,
                                  time.perf_counter() - start_time)
                stop = any([bool(callback(env)) for callback in callbacks]) or stop
            if stop:
                break
        for partitions in user_sets:
            partitions.release()
        self._finish(monitor, best_iteration, importances, track_train_loss, metric, gain_exponent, K, n_features)

    def _finish(self, monitor, best_iteration, importances, track_train_loss, metric, gain_exponent, K, n_features):
        est = self.est
        if monitor is not None and best_iteration > 0:
            est.best_iteration_ = best_iteration
            del est._trees[best_iteration:], est.pooling_strength_[best_iteration:], importances[best_iteration:]
        est.n_iter_ = len(est._trees)
        if self.y_exponent != 0:
            est._baseline = np.ldexp(est._baseline, self.y_exponent)
            for tree in (t for trees in est._trees for t in trees):
                tree.value = np.ldexp(tree.value, self.y_exponent)
                tree.raw_value = np.ldexp(tree.raw_value, self.y_exponent)
                tree.gain = _ldexp(tree.gain, gain_exponent)
        est.pooling_strength_ = np.array(est.pooling_strength_)
        est.train_score_ = -np.array(est.evals_result_["training"][metric]) if track_train_loss else np.array([])
        if monitor is not None:
            est.validation_score_ = -np.array(est.evals_result_[monitor][metric])
        est._importances = np.sum(importances, axis=0) if importances else np.zeros((2, n_features))
        est._forest = FlatForest.from_trees([t for trees in est._trees for t in trees])
        est._tree_output = np.tile(np.arange(K), est.n_iter_)

    def _grow_and_pool(self, loss, k, use_split, feature_mask, cat_feature_mask, pooled_gain_k, importances):
        """:meth:`_BaseShrinkBoost._grow_and_pool` for tree ``k``: grow, pool, renew, add to the raw scores."""
        est, plan, train = self.est, self.plan, self.train
        grown = DistributedGrower(
            train, k, use_split, est._bin_mapper.n_bins_non_missing_, self.has_missing, est._bin_mapper.missing_bin_,
            feature_mask, effective_tests_table(est.max_bins + 1), max_leaf_nodes=est.max_leaf_nodes,
            max_depth=est.max_depth, min_samples_leaf=est.min_samples_leaf,
            l2_regularization=float(est.l2_regularization), min_hessian=MIN_HESSIAN, pooling_k=pooled_gain_k,
            n_levels=self.n_levels, cat_feature_mask=cat_feature_mask, level_mode=plan.level_mode,
            level_k=plan.strength, pooled_level_gain=getattr(est, "_pooled_level_gain", plan.pooled_level_gain),
            constant_hessian=1.0 if (self.unit_weights and loss.constant_hessian) else 0.0,
            compute_within_ss=plan.in_sample_eb, level_method=plan.level_method, unit_weights=self.unit_weights,
            min_leaf_rule=getattr(est, "_min_leaf_of_all_rows", DEFAULT_MIN_LEAF_RULE),
            blend_absent=self.blend_absent,
            monotonic_cst=None if est._monotonic_cst is None else est._monotonic_cst[est._numeric_index],
            interaction_cst=None if est._interaction_cst is None else InteractionSets(
                est._interaction_cst, est._numeric_index, est._categorical_index),
        ).grow()
        leaf_ratio = None
        if plan.in_sample_eb:
            leaf_ratio = {int(leaf): grown.sum_gradients[leaf] / grown.sum_hessians[leaf]
                          for leaf in grown.leaf_nodes if grown.sum_hessians[leaf] > 0}
        within, held = train.total("tree_statistics", tree_dict(grown), leaf_ratio)
        grown.within_ss = float(within)
        held = held if use_split else None
        l2 = float(est.l2_regularization)
        tree = grown.node_arrays(est._numeric_index, est._categorical_index, threshold_table(est._bin_mapper), l2,
                                 held)
        sign = split_signs(tree, est._monotonic_cst)
        pooling_k = pool_tree(tree, plan, grown, held, sign)
        sum_g, sum_h, _ = grown.sums(held)
        pooled = tree.value[:, 0]
        node_loss = sum_g * pooled + 0.5 * (sum_h + l2) * pooled**2
        for node in np.flatnonzero(grown.left >= 0):
            reduction = node_loss[node] - node_loss[grown.left[node]] - node_loss[grown.right[node]]
            importances[0, tree.feature[node]] += max(reduction, 0.0)
            importances[1, tree.feature[node]] += 1
        if loss.renews_leaves and getattr(est, "_renew_leaf_values", True):
            self._renew(tree, loss, sign)
        tree.raw_value *= est.learning_rate
        tree.value *= est.learning_rate
        train.run("apply_tree", np.ascontiguousarray(tree.value[:, 0]), self.stopped_node_value)
        return tree, pooling_k, grown

    def _renew(self, tree, loss, sign) -> None:
        """:func:`~shrinktree.boosting.pooling.renew_leaf_values` with each node's quantile found exactly over the
        partitions (:mod:`._quantile`)."""
        renewed = select_quantiles(lambda prefix, shift: self.train.total("renew_buckets", prefix, shift),
                                   loss.quantile, tree.n_nodes)
        set_renewed_values(tree, renewed, sign)

    def release(self) -> None:
        """Free the partitions on the workers."""
        train = getattr(self, "train", None)
        if train is not None:
            train.release()
