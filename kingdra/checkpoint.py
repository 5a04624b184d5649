"""The state of a fit after each finished round, in one file: write, verify, load.

A checkpoint holds every variable of every network (weights, optimiser state, noise seeds, the
divergence bookkeeping), the round history, the clustering weight in force and the best complete
pseudo-label set so far. When the members train one network after another, a long round is also
saved after a network it finishes (kingdra.rounds says how often), with what the rest of the round
needs (its pseudo-label set and label maps, the finished networks' losses), so it resumes at its
next network. It is stamped with the estimator's parameters, so a fit resumes only the run it
belongs to.
"""
import json
import os
import zipfile

import keras
import numpy as np

from kingdra.errors import CheckpointError, TrainingDiverged
from kingdra.renamed import upgrade_names

FILENAME = "kingdra_state.npz"


class CheckpointStore:
    """One run's checkpoint file in `directory`; `fingerprint` names the parameters it belongs to."""

    def __init__(self, directory, fingerprint):
        self.directory, self.fingerprint = directory, fingerprint
        self.path = os.path.join(directory, FILENAME)
        self.holds = None  # what the file on disk holds, in words, once this store has saved or loaded it

    def exists(self):
        return os.path.exists(self.path)

    def save(self, networks, meta, point_sets):
        """Write atomically: a crash mid-write never leaves a half checkpoint behind, and a
        non-finite variable leaves the previous checkpoint as it was. `point_sets` maps a name
        ("best", "used") to a list of index arrays, or None."""
        os.makedirs(self.directory, exist_ok=True)
        arrays = {"meta": np.array(json.dumps({"fingerprint": self.fingerprint, **meta}))}
        for key, v in variables(networks).items():
            arrays[key] = keras.ops.convert_to_numpy(v)
            if np.issubdtype(arrays[key].dtype, np.floating) and not np.isfinite(arrays[key]).all():
                raise TrainingDiverged(f"{v.path} is NaN or infinite; the checkpoint in {self.path} was not "
                                       "overwritten")
        for name, sets in point_sets.items():
            if sets is not None:
                arrays[f"{name}_points"] = np.concatenate(sets)
                arrays[f"{name}_sizes"] = np.array([len(c) for c in sets])
        tmp = self.path + ".tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, self.path)
        self.holds = describe(meta)

    def load(self, networks):
        """Assign the saved variables to `networks` and return the meta with each saved point set
        under its name ({"history", ..., "best", "used"}), or None when there is no checkpoint.
        Everything is read and checked before any variable is assigned, so a bad file is named and
        never half-loaded."""
        if not self.exists():
            return None
        try:  # the npz is a zip archive: a truncated file fails to open, a flipped byte its CRC-32
            with np.load(self.path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
            meta = json.loads(str(arrays.pop("meta")))
        except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as err:
            raise CheckpointError(f"checkpoint {self.path} is truncated or corrupted ({type(err).__name__}: {err}); "
                                  "delete it to train from round 0") from err
        if not same_parameters(meta.pop("fingerprint", None), self.fingerprint):
            raise ValueError(f"checkpoint {self.path} was written with other parameters; use another checkpoint_dir "
                             "or delete it")
        found = variables(networks)
        for key, v in found.items():
            if key not in arrays or arrays[key].shape != tuple(v.shape):
                what = "missing" if key not in arrays else f"of shape {arrays[key].shape}"
                raise CheckpointError(f"checkpoint {self.path} does not fit this model: {key} ({v.path}, shape "
                                      f"{tuple(v.shape)}) is {what}; delete it to train from round 0")
        for key, v in found.items():
            v.assign(arrays[key])
        for name in ("best", "used"):
            meta[name] = None
            if f"{name}_points" in arrays:
                meta[name] = np.split(arrays[f"{name}_points"], np.cumsum(arrays[f"{name}_sizes"])[:-1])
        self.holds = describe(meta)
        return meta


def variables(networks):
    """Every variable a checkpoint holds, by its key."""
    found = {}
    for g, net in enumerate(networks):
        net.optimizer.build(net.trainable_variables)
        for i, v in enumerate(net.variables + net.optimizer.variables):
            found[f"net{g}_{i}"] = v
    return found


def same_parameters(stamp, fingerprint):
    """Whether a checkpoint's stamp names these parameters; one written before a parameter was
    renamed (kingdra.renamed) still belongs to its run."""
    if stamp is None:
        return False
    return upgrade_names(json.loads(stamp)) == json.loads(fingerprint)


def describe(meta):
    """What a checkpoint with this meta holds: "after round r" or "in round r, after members a-b"."""
    partial = meta.get("round_in_progress")
    if partial is None:
        return f"after round {len(meta['history']) - 1}"
    return f"in round {partial['round']}, after members 0-{partial['members_done'] - 1}"


def kept_note(store):
    """What a failure leaves behind, for its error message."""
    if store is None:
        return "Nothing was saved (no checkpoint_dir)."
    if store.holds is None:
        return "No round had finished, so no checkpoint was written."
    return f"The checkpoint {store.holds} in {store.path} is kept as it was."
