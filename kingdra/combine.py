"""How the members' predictions become one labelling."""
import numpy as np

from kingdra import metrics

COMBINE_RULES = ("aligned", "released")


def alignment(probs, n_clusters):
    """(E, K) permutations: member e's cluster c is member 0's alignment[e][c], by maximum overlap."""
    reference = probs[0].argmax(axis=1)
    return np.stack([metrics.alignment(reference, p.argmax(axis=1), n_clusters) for p in probs])


def combine(probs, rule, common_mapping, permutations=None):
    """(n, K) combined probabilities of (E, n, K) member probabilities.

    "released": the released rule, the members' mean with common_mapping (all members were trained
    into member 0's label space), else member 0 alone. "aligned": each member's cluster ids first
    mapped onto member 0's (`permutations`, from `alignment`), then the mean; a member that has not
    adopted the shared label space then no longer drags the average down."""
    if rule == "released":
        return probs.mean(axis=0) if common_mapping else probs[0]
    aligned = np.empty_like(probs)
    for e, perm in enumerate(permutations):
        aligned[e][:, perm] = probs[e]
    return aligned.mean(axis=0)
