"""PROTOTYPE (measurement only): rows whose level is absent from a categorical node's growing rows.

Today such a row follows the split's missing side.  The measured alternatives, chosen by the booster's
private switch ``_absent_mode``:

``"stop"``       a level absent from the node's growing rows stops at the node and takes its pooled value;
                 NaN (which includes levels unseen at fit) keeps the learned missing side.
``"stop-nan"``   as ``"stop"``, and NaN stops too at a node whose growing rows had no NaN.
``"blend"``      as ``"stop-nan"`` but instead of stopping the row goes down both children, weighted by their
                 growing-row counts (the expectation of the subtree over the node's levels).

``_absent_held`` (default True) applies the stop rule to the honest held-out rows during growth (their
statistics, values and training predictions); ``"blend"`` stops them (a fractional row has no leaf).
Everything here walks the trees in numpy: slow, for small measurement sets only.
"""

from __future__ import annotations

import numpy as np

MODES = ("side", "stop", "stop-nan", "blend")  # "side": today's rule through this path (a check)


def present_masks(grown, codes, n_levels, rows_of_leaf):
    """Per categorical internal node of ``grown``: boolean mask over codes ``0..n_levels`` (the last: NaN)
    of the levels among the node's growing rows."""
    n_nodes = len(grown.left)
    masks = {}
    # Growing rows of each node: their leaves' runs gathered bottom-up (children have larger ids).
    rows_of = [None] * n_nodes
    for node in range(n_nodes - 1, -1, -1):
        if grown.left[node] < 0:
            rows_of[node] = rows_of_leaf.get(node, np.zeros(0, dtype=np.int64))
        else:
            rows_of[node] = np.concatenate([rows_of[grown.left[node]], rows_of[grown.right[node]]])
            if grown.is_categorical[node]:
                f = grown.feature[node]
                mask = np.zeros(n_levels[f] + 1, dtype=bool)
                mask[np.minimum(codes[f][rows_of[node]], n_levels[f])] = True
                masks[node] = mask
    return masks


def route_binned(grown, binned, codes, n_levels, missing_bin, rows, masks, nan_stops, side=False):
    """Node where each of ``rows`` ends with the stop rule (a leaf, or a categorical node its level is
    absent from), walking the binned data."""
    node_of = np.zeros(len(rows), dtype=np.int64)
    active = np.ones(len(rows), dtype=bool)
    for node in range(len(grown.left)):
        if grown.left[node] < 0:
            continue
        here = np.flatnonzero(active & (node_of == node))
        if len(here) == 0:
            continue
        f = grown.feature[node]
        goes_left_missing = grown.missing_left[node] == 1
        if grown.is_categorical[node]:
            code = np.minimum(codes[f][rows[here]], n_levels[f])
            missing = code == n_levels[f]
            start = grown.cat_offset[node]
            bits = grown.cat_bitset[start + (code >> 5)]
            go_left = ((bits >> (code & 31).astype(np.uint32)) & 1) == 1
            go_left = np.where(missing, goes_left_missing, go_left)
            mask = masks[node]
            absent = ~mask[code] & (not side)
            if not nan_stops:
                absent &= ~missing
            stopped = here[absent]
            active[stopped] = False
            moving = ~absent
            here, go_left = here[moving], go_left[moving]
        else:
            b = binned[f][rows[here]]
            go_left = np.where(b == missing_bin, goes_left_missing, b <= grown.bin_threshold[node])
        node_of[here] = np.where(go_left, grown.left[node], grown.right[node])
    return node_of


MODES = ("side", "stop", "stop-nan", "blend")


def check_mode(mode, loss) -> None:
    """Refuse a ``_absent_mode`` this prototype does not implement, before any kernel runs.

    ``None`` (the default) is today's engine.  Losses that renew leaf values (absolute error, quantile)
    would need the renewal over stopped or blended held-out rows, which was never measured, so they are
    refused rather than fitted with Newton values.
    """
    if mode is None:
        return
    if mode not in MODES:
        raise ValueError(f"_absent_mode must be one of {MODES} or None, got {mode!r}.")
    if loss.renews_leaves:
        raise NotImplementedError("prototype: _absent_mode with a loss that renews leaf values "
                                  "(absolute_error, quantile) is not implemented.")


def _tree_raw(tree, masks, counts, X, mode):
    """One tree's value for every row of ``X`` (codes in categorical columns) under ``mode``."""
    n_rows = X.shape[0]
    n_nodes = tree.n_nodes
    value = tree.value[:, 0]
    # weight[r, node]: the share of row r that reaches the node (0/1 except under "blend").
    share = np.zeros((n_rows, n_nodes))
    share[:, 0] = 1.0
    out = np.zeros(n_rows)
    nan_stops = mode in ("stop-nan", "blend")
    for node in range(n_nodes):
        s = share[:, node]
        if tree.left[node] < 0:
            out += s * value[node]
            continue
        here = s > 0
        if not here.any():
            continue
        x = X[:, tree.feature[node]]
        missing = np.isnan(x)
        left_, right_ = tree.left[node], tree.right[node]
        if tree.is_categorical[node]:
            mask = masks[node]
            n_codes = len(mask) - 1
            code = np.where(missing, n_codes, np.nan_to_num(x, nan=0.0)).astype(np.int64)
            code = np.where((code < 0) | (code > n_codes), n_codes, code)
            missing = code == n_codes
            word = tree.cat_offset[node] + (np.minimum(code, n_codes - 1) >> 5)
            bits = tree.cat_bitset[np.minimum(word, len(tree.cat_bitset) - 1)]
            go_left = ((bits >> (np.minimum(code, n_codes - 1) & 31).astype(np.uint32)) & 1) == 1
            go_left = np.where(missing, tree.missing_left[node] == 1, go_left)
            absent = ~mask[code] & (mode != "side")
            if not nan_stops:
                absent &= ~missing
            if mode == "blend":
                total = counts[left_] + counts[right_]
                p_left = counts[left_] / total if total > 0 else 0.5
                fl = np.where(absent, p_left, go_left.astype(float))
            else:
                out += np.where(here & absent, s * value[node], 0.0)
                s = np.where(absent, 0.0, s)
                fl = go_left.astype(float)
        else:
            go_left = np.where(missing, tree.missing_left[node] == 1, x <= tree.threshold[node])
            fl = go_left.astype(float)
        share[:, left_] += s * fl
        share[:, right_] += s * (1.0 - fl)
    return out


def raw_predict(model, X, mode):
    """The booster's raw score of ``X`` (validated, codes in categorical columns) under ``mode``."""
    raw = np.tile(np.asarray(model._baseline, dtype=np.float64), (X.shape[0], 1))
    X = np.asarray(X, dtype=np.float64)
    for trees in model._trees:
        for k, tree in enumerate(trees):
            raw[:, k] += _tree_raw(tree, tree._absent_masks, tree._absent_counts, X, mode)
    return raw
