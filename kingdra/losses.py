"""The loss terms of a ladder clustering network, as small pure functions of tensors.

Shapes follow one convention so the same function serves one member or a stack of them:
the class axis is last, the batch axis is second to last, and any leading axes (the
ensemble's member axis) are kept. A `(batch, classes)` input gives a scalar; a
`(members, batch, classes)` input gives one value per member.

`CLUSTERING_LOSSES` is the one registry of clustering losses: `KingdraCluster(loss=name,
loss_params={...})` and `LadderNetwork` look a loss and its own settings up there, so a new loss is
one function and one entry below.
"""
import dataclasses
import functools
import math
from typing import Callable

from keras import ops

# The release takes every logarithm of a probability as log(p + 1e-16) (its unsup_losses.py); so do
# we, so that one step of ours and of the release agree to float64 round-off (docs/paper.md §7).
EPS = 1e-16


def _entropy(p):
    return -ops.sum(p * ops.log(p + EPS), axis=-1)


def information_maximisation(logits, mu=4.0):
    """IM clustering loss: mean per-sample entropy minus `mu` times the entropy of the mean.

    Low per-sample entropy makes each prediction confident; high entropy of the batch's
    average prediction keeps the clusters balanced (Hu et al., IMSAT).
    """
    p = ops.softmax(logits, axis=-1)
    return ops.mean(_entropy(p), axis=-1) - mu * _entropy(ops.mean(p, axis=-2))


def pairwise_dot(logits):
    """Dot-product clustering loss: L2-normalised predictions of different samples pushed to
    orthogonality, mean over all ordered pairs of (q_i . q_j - [i == j])^2."""
    p = ops.softmax(logits, axis=-1)
    q = p / ops.sqrt(ops.sum(p * p, axis=-1, keepdims=True) + EPS)
    gram = ops.einsum("...ik,...jk->...ij", q, q)
    eye = ops.eye(ops.shape(logits)[-2], dtype=gram.dtype)
    return ops.mean(ops.square(gram - eye), axis=(-2, -1))


def consistency_kl(clean_logits, corrupted_logits):
    """KL(softmax(clean) || softmax(corrupted)), batch mean. The clean side is a target only:
    no gradient flows through it, so the noisy path learns to agree with the clean one."""
    p = ops.stop_gradient(ops.softmax(clean_logits, axis=-1))
    q = ops.softmax(corrupted_logits, axis=-1)
    return ops.mean(ops.sum(p * (ops.log(p + EPS) - ops.log(q + EPS)), axis=-1), axis=-1)


def denoising_cost(reconstruction, target):
    """Squared reconstruction error of one layer, summed over units, divided by the layer's
    width and averaged over the batch (so wide and narrow layers are on one scale)."""
    return ops.mean(ops.square(reconstruction - target), axis=(-2, -1))


def cross_entropy(logits, labels):
    """Cross-entropy of integer `labels` (shape = logits' shape without the class axis)."""
    log_p = ops.log_softmax(logits, axis=-1)
    onehot = ops.one_hot(labels, ops.shape(logits)[-1], dtype=log_p.dtype)
    return -ops.mean(ops.sum(onehot * log_p, axis=-1), axis=-1)


@dataclasses.dataclass(frozen=True)
class ClusteringLoss:
    """A clustering loss as the ladder trains it: `function(logits, **params)` gives one value per
    member; `params` maps each of its own settings to its default (the paper's value)."""

    function: Callable
    params: dict
    about: str


CLUSTERING_LOSSES = {
    "im": ClusteringLoss(information_maximisation, {"mu": 4.0}, "information maximisation (Ladder-IM)"),
    "dot": ClusteringLoss(pairwise_dot, {}, "pairwise dot product (Ladder-Dot)"),
}


def check_loss_params(loss, loss_params=None) -> dict:
    """The settings `loss` trains with: its defaults overridden by those of `loss_params` it declares.

    `loss_params` may also hold other registered losses' settings, which this loss ignores, so one
    profile can set IM's `mu` and still run its Ladder-Dot rows; a name no loss declares, or a value
    that is not a finite number, is an error."""
    if loss not in CLUSTERING_LOSSES:
        raise ValueError(f"loss must be one of {sorted(CLUSTERING_LOSSES)}, got {loss!r}")
    given = {} if loss_params is None else loss_params
    if not isinstance(given, dict):
        raise ValueError(f"loss_params must be a dict of loss settings, e.g. {{'mu': 4.0}}, got {given!r}")
    declared = {name: key for key, entry in CLUSTERING_LOSSES.items() for name in entry.params}
    for name, value in given.items():
        if name not in declared:
            known = ", ".join(f"{n!r} ({declared[n]})" for n in sorted(declared)) or "none"
            raise ValueError(f"loss_params: no clustering loss takes {name!r}; the settings are {known}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"loss_params[{name!r}] must be a finite number, got {value!r}")
    own = CLUSTERING_LOSSES[loss].params
    return {name: float(given.get(name, default)) for name, default in own.items()}


def clustering_loss(loss, loss_params=None) -> Callable:
    """The loss function `logits -> per-member value` of `loss` with its settings bound."""
    return functools.partial(CLUSTERING_LOSSES[loss].function, **check_loss_params(loss, loss_params))
