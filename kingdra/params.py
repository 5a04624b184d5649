"""Checks of KingdraCluster's parameters and input.

Every check raises a ValueError naming the setting, its allowed range and the value given, so a bad
setting fails before any training.
"""
import warnings

import numpy as np

from kingdra.combine import COMBINE_RULES
from kingdra.ensemble import FEED_ORDERS
from kingdra.losses import check_loss_params

def check_params(est, n_samples=None):
    """Raise a ValueError naming the first setting of `est` that cannot work. With `n_samples`, also
    check K against the data."""

    def integer(name, minimum):
        value = getattr(est, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")

    def real(name, value, low, high=np.inf, low_open=False, high_open=False):
        """A finite real number in the interval; the brackets of the message say which ends are open."""
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open or high == np.inf else ']'}"
        ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
              and np.isfinite(value) and (value > low if low_open else value >= low)
              and (value < high if high_open else value <= high))
        if not ok:
            raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")

    def boolean(name):
        if not isinstance(getattr(est, name), (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {getattr(est, name)!r}")

    def one_of(name, allowed):
        if getattr(est, name) not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {getattr(est, name)!r}")

    integer("n_clusters", 2)
    for name in ("members", "epochs_unsupervised", "epochs", "batch_size"):
        integer(name, 1)
    for name in ("pseudo_label_rounds", "t_low", "t_high"):
        integer(name, 0)
    if est.members == 1 and est.pseudo_label_rounds > 0:
        raise ValueError("members=1 leaves no ensemble to build pseudo-labels from: set pseudo_label_rounds=0 for a "
                         "single Ladder-IM, or members >= 2")
    if est.pseudo_label_rounds > 0 and not est.t_low < est.t_high < est.members:
        raise ValueError(
            f"need 0 <= t_low < t_high < members, got t_low={est.t_low}, t_high={est.t_high}, "
            f"members={est.members}; with members={est.members} try t_low=1, t_high={max(est.members - 1, 1)}"
        )
    real("thresh", est.thresh, 0.0, 1.0, high_open=True)
    real("lr", est.lr, 0.0, low_open=True)
    real("noise_std", est.noise_std, 0.0)
    for name in ("w_cluster", "w_ladder", "w_kl"):
        real(name, getattr(est, name), 0.0)
    if est.w_cluster_after is not None:
        real("w_cluster_after", est.w_cluster_after, 0.0)
    for name in ("last_layer_bn", "common_mapping", "renormalize_reconstruction"):
        boolean(name)
    sizes = est.layer_sizes
    if (isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__") or len(sizes) == 0
            or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in sizes)):
        raise ValueError(f"layer_sizes must be one or more positive integer widths, e.g. (1200, 1200), got {sizes!r}")
    if len(est.denoise_weights) != len(sizes) + 2:
        raise ValueError(f"denoise_weights needs {len(sizes) + 2} values for layer_sizes={tuple(sizes)!r} (input, "
                         f"each hidden layer, top), got {len(est.denoise_weights)}")
    for i, weight in enumerate(est.denoise_weights):
        real(f"denoise_weights[{i}]", weight, 0.0)
    check_loss_params(est.loss, est.loss_params)
    one_of("feed_order", FEED_ORDERS)
    one_of("combine", COMBINE_RULES)
    one_of("ensemble", ("auto", "sequential", "vectorized"))
    if n_samples is not None and n_samples < est.n_clusters:
        raise ValueError(f"X has {n_samples} samples, fewer than n_clusters={est.n_clusters}; lower n_clusters or "
                         "add data")


def check_X(X, n_features=None):
    """X as a finite float32 (n_samples, n_features) array, or a ValueError that says what to do."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (n_samples, n_features), got shape {X.shape}; "
                         "flatten images first, e.g. X.reshape(len(X), -1)")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"X must be real-valued, got dtype {X.dtype}")
    with np.errstate(over="ignore"):  # overflow becomes inf, reported below with its fix
        X32 = X.astype(np.float32, copy=False)
    if not np.isfinite(X32).all():  # one pass over the data; the cause is looked for only on failure
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinity; impute or drop those rows first")
        raise ValueError("X has values beyond float32's range (|x| > 3.4e38), which the networks compute in; "
                         "standardise X first (e.g. sklearn.preprocessing.StandardScaler)")
    if n_features is not None and X32.shape[1] != n_features:
        raise ValueError(f"X has {X32.shape[1]} features, but this model was fitted on {n_features}")
    return X32


def warn_if_trivial(X, n_clusters):
    """Input with fewer distinct rows than clusters cannot be clustered into K groups; say so.
    Rows are compared through a random projection (one matrix-vector product, not a sort of X)."""
    if (X.max(axis=0) == X.min(axis=0)).all():
        warnings.warn(f"every column of X is constant (all {len(X)} rows are equal): there is nothing to "
                      "cluster, and the labels will be arbitrary", UserWarning, stacklevel=4)
        return
    projection = X.astype(np.float64) @ np.random.default_rng(0).standard_normal(X.shape[1])
    distinct = len(np.unique(projection))
    if distinct < n_clusters:
        warnings.warn(f"X has only {distinct} distinct rows, fewer than n_clusters={n_clusters}: at most "
                      f"{distinct} clusters can be told apart and the others will be empty or arbitrary",
                      UserWarning, stacklevel=4)
