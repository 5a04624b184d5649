"""The table's rows: which estimator each method is, and with which parameters.

The ladder rows are KingdraCluster with parts switched off, so every row shares the profile's
network, losses and optimiser and differs only where the method does. A row without pseudo-label
rounds (pseudo_label_rounds=0) trains each member as many epochs as one Kingdra member gets in total
when every round trains on pseudo-labels (a round without them trains epochs_unsupervised), so the
rows compare methods, not training lengths.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.metrics import pairwise_distances_argmin


@dataclasses.dataclass(frozen=True)
class Method:
    label: str  # the row name, as in the paper's table
    overrides: dict | None  # KingdraCluster parameters over the profile's; None: a baseline


METHODS = {
    "kmeans": Method("K-means", None),
    "ac": Method("AC", None),
    "ladder-im": Method("Ladder-IM", {"members": 1, "pseudo_label_rounds": 0, "loss": "im"}),
    "ladder-im-ensemble": Method("Ladder-IM-ensemble", {"pseudo_label_rounds": 0, "loss": "im"}),
    "ladder-dot": Method("Ladder-Dot", {"members": 1, "pseudo_label_rounds": 0, "loss": "dot"}),
    "kingdra-ladder-dot": Method("Kingdra-Ladder-Dot", {"loss": "dot"}),
    "kingdra-ladder-im": Method("Kingdra-Ladder-IM", {"loss": "im"}),
}


def check_method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {list(METHODS)} or 'all'")
    return METHODS[name]


def estimator_params(method: str, profile_params: dict) -> dict:
    """KingdraCluster parameters of a ladder method under a profile."""
    overrides = check_method(method).overrides
    if overrides is None:
        raise ValueError(f"{method!r} is a baseline, not a KingdraCluster method")
    params = {**profile_params, **overrides}
    if params["pseudo_label_rounds"] == 0:
        params["epochs_unsupervised"] = (profile_params["epochs_unsupervised"]
                                         + profile_params["pseudo_label_rounds"] * profile_params["epochs"])
    return params


def kmeans(X, n_clusters, seed, n_init):
    labels = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed).fit_predict(X)
    return labels, {"n_init": n_init}


def agglomerative(X, n_clusters, seed, max_points):
    """Ward agglomerative clustering. Its distance matrix needs O(n^2) memory (70000 points: ~20 GB),
    so above `max_points` it is fitted on a seeded random subsample and every point then takes the
    cluster of the nearest subsample-cluster centroid; the run file and the table say so."""
    n = len(X)
    if max_points is None or n <= max_points:
        return AgglomerativeClustering(n_clusters=n_clusters).fit_predict(X), {"fitted_on": n}
    subset = np.random.default_rng(seed).choice(n, size=max_points, replace=False)
    sub_labels = AgglomerativeClustering(n_clusters=n_clusters).fit_predict(X[subset])
    centroids = np.stack([X[subset][sub_labels == k].mean(axis=0) for k in range(n_clusters)])
    return pairwise_distances_argmin(X, centroids), {
        "fitted_on": int(max_points),
        "note": f"fitted on a random subsample of {max_points} of {n} points; the rest assigned to the "
                "nearest cluster centroid",
    }
