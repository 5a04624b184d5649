"""Kingdra: unsupervised clustering with an ensemble of ladder networks and pseudo-labels."""

__all__ = ["KingdraCluster"]


def __getattr__(name):
    # Imported lazily: the numpy-only modules (metrics, pseudo_labels, datasets) should not
    # pay for loading Keras and its backend.
    if name == "KingdraCluster":
        from kingdra.cluster import KingdraCluster

        return KingdraCluster
    raise AttributeError(f"module 'kingdra' has no attribute {name!r}")
