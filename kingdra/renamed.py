"""The old spellings of KingdraCluster's renamed parameters, kept working for now.

The old names misled: `w_mi` weighs the Dot loss too, `rounds` does not count round 0,
`epochs_first` also governs later rounds that find no pseudo-labels. Free of Keras, so reading a
run file's settings does not load a backend.
"""
import warnings

# Old parameter name -> today's.
RENAMED = {"w_mi": "w_cluster", "w_mi_after": "w_cluster_after", "rounds": "pseudo_label_rounds",
           "epochs_first": "epochs_unsupervised"}


def translate_renamed(params, where="KingdraCluster", stacklevel=3):
    """`params` with every old name replaced by its new one, warning once per old name used (the
    warning points `stacklevel` frames up: at the caller's line)."""
    out = {}
    for name, value in params.items():
        if name in RENAMED:
            new = RENAMED[name]
            if new in params:
                raise TypeError(f"{where}: got both {name!r} and its new name {new!r}; pass only {new!r}")
            warnings.warn(f"{where}: {name!r} is renamed {new!r}; the old name will be removed", FutureWarning,
                          stacklevel=stacklevel)
            name = new
        out[name] = value
    return out


def upgrade_names(params):
    """A recorded parameter dict (a run file, a checkpoint) in today's names, silently."""
    return {RENAMED.get(k, k): v for k, v in params.items()}
