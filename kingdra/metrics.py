"""Clustering metrics: Hungarian-matched accuracy, NMI, ARI, pseudo-label quality.

Accuracy is owned here rather than borrowed: the released code used a scikit-learn routine that
was later removed, and its replacement silently gave 5-30 % accuracies.
"""
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def contingency(rows, cols, n_rows, n_cols):
    """(n_rows, n_cols) table of how many items have each (row id, column id) pair."""
    return np.bincount(rows * n_cols + cols, minlength=n_rows * n_cols).reshape(n_rows, n_cols)


def match_by_overlap(rows, cols, n_rows, n_cols):
    """One-to-one matching of row ids to column ids maximising their total overlap.

    `rows` and `cols` are paired int arrays of ids in [0, n_rows) and [0, n_cols). Returns
    (row_ind, col_ind, overlap): matched id pairs and the number of items they cover. With a
    rectangular table only min(n_rows, n_cols) pairs exist; unmatched ids cover nothing.
    This is the one contingency-table + Hungarian routine: accuracy, ensemble alignment and the
    mapping of mini-clusters to member label spaces all go through it.
    """
    table = contingency(rows, cols, n_rows, n_cols)
    row_ind, col_ind = linear_sum_assignment(table, maximize=True)
    return row_ind, col_ind, int(table[row_ind, col_ind].sum())


def accuracy(y_true, y_pred):
    """Fraction correct after the best one-to-one map of predicted clusters to classes."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    # Dense codes make arbitrary label values (negative, gaps, strings) index a small table.
    true_values, true_codes = np.unique(y_true, return_inverse=True)
    pred_values, pred_codes = np.unique(y_pred, return_inverse=True)
    _, _, correct = match_by_overlap(pred_codes, true_codes, len(pred_values), len(true_values))
    return correct / len(y_true)


def nmi(y_true, y_pred):
    """Normalised mutual information (arithmetic normalisation)."""
    return float(normalized_mutual_info_score(*_check_pair(y_true, y_pred)))


def ari(y_true, y_pred):
    """Adjusted Rand index."""
    return float(adjusted_rand_score(*_check_pair(y_true, y_pred)))


def alignment(reference, labels, n_clusters):
    """Permutation `perm` (length n_clusters) with `perm[labels]` in `reference`'s label space.

    Both label arrays hold ids in [0, n_clusters). The whole square table is matched, so ids that
    `labels` never uses still get a (leftover) target and `perm` is a true permutation.
    """
    reference, labels = _check_pair(reference, labels, names=("reference", "labels"))
    _check_integer("n_clusters", n_clusters, minimum=1)
    for name, arr in (("reference", reference), ("labels", labels)):
        _check_ids(name, arr, n_clusters)
    row_ind, col_ind, _ = match_by_overlap(labels, reference, n_clusters, n_clusters)
    perm = np.empty(n_clusters, dtype=np.int64)
    perm[row_ind] = col_ind
    return perm


def pseudo_label_quality(y_true, mini_clusters):
    """Precision, coverage and count of a set of mini-clusters against the true classes.

    precision: fraction of pseudo-labelled points that are correct when mini-clusters are mapped
    to classes one-to-one by maximum overlap (as accuracy does); NaN when there are none.
    """
    y_true = _check_labels("y_true", y_true)
    indices = [np.asarray(c) for c in mini_clusters]
    points = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
    if points.size and (not np.issubdtype(points.dtype, np.integer)
                        or points.min() < 0 or points.max() >= len(y_true)):
        raise ValueError(f"mini_clusters must hold integer point indices in [0, {len(y_true)})")
    count = len(points)
    if count == 0:
        return {"precision": float("nan"), "coverage": 0.0, "count": 0}
    cluster_codes = np.repeat(np.arange(len(indices)), [len(c) for c in indices])
    true_values, true_codes = np.unique(y_true[points], return_inverse=True)
    _, _, correct = match_by_overlap(cluster_codes, true_codes, len(indices), len(true_values))
    return {"precision": correct / count, "coverage": count / len(y_true), "count": count}


def _check_labels(name, labels):
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels, got shape {labels.shape}")
    if labels.size == 0:
        raise ValueError(f"{name} is empty; pass at least one label")
    return labels


def _check_pair(y_true, y_pred, names=("y_true", "y_pred")):
    y_true = _check_labels(names[0], y_true)
    y_pred = _check_labels(names[1], y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(f"{names[1]} has {len(y_pred)} labels but {names[0]} has "
                         f"{len(y_true)}; pass one label per point in both")
    return y_true, y_pred


def _check_integer(name, value, minimum=None, maximum=None, hint=None):
    """Integer settings are checked, never coerced: 9.0 or True for a count is a caller bug."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum):
        return
    bounds = [f">= {minimum}"] * (minimum is not None) + [f"<= {maximum}"] * (maximum is not None)
    raise ValueError(f"{name} must be an integer {' and '.join(bounds)}, got {value!r}"
                     + (f" ({hint})" if hint else ""))


def _check_ids(name, ids, n_clusters):
    """Cluster ids must be integers in [0, n_clusters): they index tables and permutations."""
    if not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= n_clusters:
        raise ValueError(f"{name} must hold integer cluster ids in [0, {n_clusters})")
