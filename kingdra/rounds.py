"""The Kingdra round loop: round 0 unsupervised, then pseudo-label rounds, each checkpointed.

    round 0:      every member trains `epochs_unsupervised` epochs on the unsupervised losses
    round r >= 1: mini-clusters from where the members agree (kingdra.pseudo_labels); a complete
                  set of K (or the best earlier one) trains every member `epochs` epochs, each
                  unsupervised batch with a class-balanced pseudo-labelled batch beside it; a round
                  with no set yet trains `epochs_unsupervised` epochs unsupervised, as the release does
    after each:   predict, combine the members into labels_, score (if y was given), checkpoint,
                  report, call the callbacks, yield the round's record
    inside one:   when the members train one network after another, a checkpoint after a network
                  (at most every 5 minutes), so a long round resumes at its next member
"""
import functools
import time

import numpy as np

from kingdra import metrics, pseudo_labels
from kingdra.checkpoint import CheckpointStore, kept_note
from kingdra.combine import alignment, combine
from kingdra.ensemble import LadderEnsemble

# Inside a round, save after a member only when the last save is this old: a checkpoint of 10 MNIST
# members is 580 MB and took 1.3 s to write, so a round of 10 one-epoch members (~50 s each) would
# spend 2-3 % of its time saving; this way a stop loses at most 5 minutes plus one member's epochs.
SAVE_INSIDE_A_ROUND_AFTER_S = 300


def run_rounds(est, X, y=None):
    """Fit `est` (a KingdraCluster, its input already checked) round by round, resuming from its
    checkpoint when there is one; a generator of the rounds' history records."""
    est.n_features_in_ = X.shape[1]
    est.ladders_ = ladders = LadderEnsemble(est, X.shape[1])
    est.networks_, est.ensemble_ = ladders.networks, ladders.mode
    store = None if est.checkpoint_dir is None else CheckpointStore(est.checkpoint_dir, est.fingerprint())
    est.history_, w_cluster, best, begun = resume(est, ladders, store)
    first_round = len(est.history_)
    probs = ladders.probabilities(X) if first_round > 0 and begun is None else None
    if first_round > est.pseudo_label_rounds:  # killed after the last round's checkpoint: only the labels are left
        _set_labels(est, probs)

    for round_index in range(first_round, est.pseudo_label_rounds + 1):
        started = last_saved = time.perf_counter()
        if begun is None:
            begun, best, w_cluster = begin_round(est, ladders, round_index, probs, best, w_cluster)
        used, earlier_seconds = begun["used"], begun["seconds"]
        targets = None if used is None else (used, np.asarray(begun["label_maps"]))
        n_epochs = est.epochs if targets is not None else est.epochs_unsupervised

        def save_round_in_progress(members_done, logs):
            nonlocal last_saved
            if time.perf_counter() - last_saved < SAVE_INSIDE_A_ROUND_AFTER_S:
                return
            last_saved = time.perf_counter()
            begun.update(members_done=members_done, logs=logs,
                         seconds=earlier_seconds + time.perf_counter() - started)
            in_progress = {k: v for k, v in begun.items() if k != "used"}
            store.save(ladders.networks, {"history": est.history_, "w_cluster": w_cluster,
                                          "round_in_progress": in_progress}, {"best": best, "used": used})

        note = functools.partial(kept_note, store)  # asked when needed: what is saved changes during the round
        losses = ladders.train_round(X, round_index, n_epochs, targets, kept_note=note,
                                     members_done=begun["members_done"], logs=begun["logs"],
                                     after_network=None if store is None else save_round_in_progress)
        probs = ladders.probabilities(X)
        ladders.check_predictions(probs, round_index, note)
        _set_labels(est, probs)

        record = {
            "round": round_index,
            "epochs": n_epochs,
            "pseudo_label_source": begun["source"],
            "mini_cluster_sizes": [] if used is None else [int(len(c)) for c in used],
            "pseudo_labels": 0 if used is None else int(sum(len(c) for c in used)),
            "w_cluster": float(w_cluster),
            "losses": losses,
        }
        if y is not None:
            record.update(scores(est, y, probs, used))
        record["seconds"] = round(earlier_seconds + time.perf_counter() - started, 3)
        est.history_.append(record)
        begun = None
        if store is not None:
            store.save(ladders.networks, {"history": est.history_, "w_cluster": w_cluster}, {"best": best})
        if est.verbose:
            print(progress_line(record, est.pseudo_label_rounds), flush=True)
        for callback in est.callbacks:
            callback(est, record)
        yield record


def begin_round(est, ladders, round_index, probs, best, w_cluster):
    """What round `round_index` trains on, from the members' predictions `probs` after the last
    round: (the round's state, the best complete set so far, the clustering weight in force). The
    state is what a checkpoint inside the round keeps: its pseudo-label set and source, each
    member's label for each mini-cluster, and (none yet) its finished members, their epochs' losses
    and its seconds."""
    used, source = None, "none"
    if round_index > 0:
        used, source, best = choose_pseudo_labels(est, probs, best)
        # From round 1 on, found pseudo-labels or not (the release's switch).
        if est.w_cluster_after is not None and w_cluster != est.w_cluster_after:
            w_cluster = est.w_cluster_after
            ladders.set_cluster_weight(w_cluster)
    label_maps = None
    if used is not None:
        label_maps = pseudo_labels.member_label_maps(used, probs.argmax(axis=2), est.n_clusters,
                                                     est.common_mapping).tolist()
    state = {"round": round_index, "source": source, "used": used, "label_maps": label_maps,
             "members_done": 0, "logs": [], "seconds": 0.0}
    return state, best, w_cluster


def resume(est, ladders, store):
    """(history, clustering weight in force, best complete set so far, the round in progress or None)
    of the work already saved, with the networks restored; a fresh start when there is no checkpoint."""
    meta = None if store is None else store.load(ladders.networks)
    if meta is None:
        return [], est.w_cluster, None, None
    ladders.set_cluster_weight(meta["w_cluster"])
    begun = meta.get("round_in_progress")
    if begun is not None:
        begun["used"] = meta["used"]
    if est.verbose:
        print(f"resuming from {store.path} {store.holds}", flush=True)
    return meta["history"], meta["w_cluster"], meta["best"], begun


def choose_pseudo_labels(est, probs, best):
    """This round's pseudo-label set from the members' predictions `probs` (E, n, K): the new
    mini-clusters when they are a complete set of K, else the best earlier complete set, else none.
    Returns (the set or None, its source "new"|"earlier"|"none", the best set so far)."""
    found = pseudo_labels.mini_clusters(probs.argmax(axis=2), probs.max(axis=2), est.n_clusters, est.t_low,
                                        est.t_high, est.thresh)
    used, best = pseudo_labels.select_pseudo_label_set(found, best, est.n_clusters)
    source = "none" if used is None else ("new" if used is found else "earlier")
    return used, source, best


def _set_labels(est, probs):
    est.alignment_ = alignment(probs, est.n_clusters)
    est.labels_ = combine(probs, est.combine, est.common_mapping, est.alignment_).argmax(axis=1)


def scores(est, y, probs, used):
    """A round's scores against the ground truth `y` (never seen by training)."""
    released = combine(probs, "released", est.common_mapping).argmax(axis=1)
    aligned = combine(probs, "aligned", est.common_mapping, est.alignment_).argmax(axis=1)
    found = {
        "accuracy": metrics.accuracy(y, est.labels_),
        "nmi": metrics.nmi(y, est.labels_),
        "ari": metrics.ari(y, est.labels_),
        "accuracy_released": metrics.accuracy(y, released),
        "accuracy_aligned": metrics.accuracy(y, aligned),
        "member_accuracy": [metrics.accuracy(y, p.argmax(axis=1)) for p in probs],
    }
    if used is not None:
        quality = metrics.pseudo_label_quality(y, used)
        found["pseudo_label_precision"] = quality["precision"]
        found["pseudo_label_coverage"] = quality["coverage"]
    return {k: (float(v) if np.isscalar(v) else [float(a) for a in v]) for k, v in found.items()}


def progress_line(r, rounds):
    line = (f"round {r['round']:>3}/{rounds}  pseudo-labels {r['pseudo_labels']:>6} ({r['pseudo_label_source']})"
            f"  loss {r['losses']['loss']:9.4f}")
    if "accuracy" in r:
        line += f"  acc {r['accuracy']:.4f}  nmi {r['nmi']:.4f}"
        if "pseudo_label_precision" in r:
            line += f"  pl-precision {r['pseudo_label_precision']:.4f}"
    return line + f"  {r['seconds']:.1f}s"
