"""`KingdraCluster`: the Kingdra method as a scikit-learn style estimator.

This module is the estimator's face: its parameters, `fit`, `predict` and the sklearn conventions.
The work lives in rooms of its own: `kingdra.rounds` (the round loop), `kingdra.ensemble` (the
ladder networks: building, training, predicting), `kingdra.checkpoint` (the state after each round),
`kingdra.params` (the checks), `kingdra.combine` (members to one labelling).
"""
import json

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.exceptions import NotFittedError

from kingdra import params, renamed
from kingdra.combine import combine
from kingdra.errors import CheckpointError, TrainingDiverged  # noqa: F401 (raised by fit; caught by users by name)
from kingdra.rounds import run_rounds


class KingdraCluster(ClusterMixin, BaseEstimator):
    """Unsupervised clustering with an ensemble of ladder networks and pseudo-labels
    (Gupta et al., ICLR 2020).

    The defaults serve a user's data in minutes on a CPU and keep the method's premise: 5 members
    that must all agree (t_high 4, t_low 1), round 0 of 10 epochs, then 3 pseudo-label rounds of 2,
    500-500 layers, no confidence threshold; the rest are the authors' released MNIST settings.
    They were chosen on scikit-learn's digits, which the paper's table does not use, by signals that
    need no labels: with thresh 0 every round from 1 on found a complete set of 10 mini-clusters
    (with the released 0.9, round 1 found none). The paper's settings are one call away:
    `KingdraCluster(**replicate.config.paper_settings("mnist"))` (about a day on a CPU).

    Parameters
    ----------
    n_clusters : number of clusters K (the top layer's width).
    members : ensemble size E; 1 gives the single Ladder-IM (or Ladder-Dot).
    pseudo_label_rounds : rounds after the unsupervised round 0 (which it does not count). The
        released code counts round 0: its MNIST protocol of 50 rounds is `pseudo_label_rounds=49`.
    epochs_unsupervised : epochs per member of a round that trains without pseudo-labels: round 0,
        and any later round before a complete pseudo-label set exists (the released behaviour).
    epochs : epochs per member of a round that trains on pseudo-labels.
    t_low, t_high : agreement thresholds out of `members` for strong negative (<= t_low) and
        strong positive (> t_high) edges of the pseudo-label graph.
    thresh : a point is eligible for a pseudo-label only if every member's top probability
        exceeds it.
    noise_std : standard deviation of the ladder's corruption noise.
    w_cluster, w_cluster_after : weight of the clustering loss (IM or Dot) in round 0, and from
        round 1 on, whether or not pseudo-labels exist yet (the released behaviour; None keeps
        w_cluster).
    w_ladder, w_kl : weights of the denoising cost and of the clean/corrupted consistency KL.
    last_layer_bn : batch-normalise the top layer too.
    lr, batch_size : Adam learning rate and batch size.
    common_mapping : map the pseudo-labels into member 0's label space for every member (so
        their probabilities can be averaged) instead of each member's own.
    feed_order : the order in which rounds without pseudo-labels (round 0, and later rounds until a
        complete set is found) see the rows. "shuffle" (the default) draws a new permutation every
        epoch for every member; "given" feeds X in its row order every epoch, the same for every
        member, as the release does (its `shuffle=False`); "permuted" feeds one fixed permutation
        of the rows instead, for data whose row order is an artifact (sorted by class).
        Rounds with pseudo-labels always reshuffle (the release's `shuffle=True`). The release's
        MNIST numbers depend on its file order (docs/paper.md §7): batches of 64 consecutive
        MNIST images hold few writers, so IM's per-batch balance term can only be met by
        separating digits. The default shuffles because a user's rows may be sorted by class, and
        a batch of one class is what no ordered feed of the release ever held.
    layer_sizes : hidden widths; the top layer has n_clusters units.
    loss : the clustering loss, a name of `kingdra.losses.CLUSTERING_LOSSES`: "im" (information
        maximisation) or "dot" (pairwise dot product).
    loss_params : the clustering losses' own settings, e.g. {"mu": 4.0} (IM's weight of the
        marginal entropy); None or a missing setting takes the paper's value. A setting of another
        loss than `loss` is ignored, so one dict serves both losses.
    denoise_weights : denoising cost weight per layer, input first, top last.
    renormalize_reconstruction : normalise each decoder reconstruction with the clean pass's batch
        moments before the denoising cost (Rasmus et al.'s variant). Off: the released cost, which
        compares the combinator's output with the clean z directly.
    combine : how members' predictions become one labelling. "released": the released rule
        (average of the members' probabilities with common_mapping, else member 0's).
        "aligned": first map every member's cluster ids onto member 0's by maximum overlap
        (Hungarian), then average; a member that has not adopted the shared label space then
        no longer drags the average down.
    ensemble : "sequential" trains one member after another (fastest on small CPUs),
        "vectorized" all members in one compiled step over a member axis (fastest on a GPU),
        "auto" picks by device.
    checkpoint_dir : if set, the state after every finished round is saved there, and inside a
        long round after a member (at most every 5 min) when they train one after another
        ("sequential"); `fit` resumes from it (same parameters required).
    callbacks : callables `f(estimator, record)` called after every round.
    verbose : 0 silent, 1 a line per round, 2 also a line per member and epoch.
    seed : master seed; members, rounds and epochs derive theirs from it.

    Renamed parameters keep their old spelling for now, with a FutureWarning: `w_mi` and
    `w_mi_after` (they weigh the Dot loss too), `rounds` and `epochs_first` (kingdra.renamed.RENAMED).

    Attributes: `labels_`, `history_` (one dict per round), `ladders_` (the `LadderEnsemble`),
    `networks_` (its Keras models), `n_features_in_`, `ensemble_` (how the members trained:
    "sequential" or "vectorized", with "auto" resolved).
    """

    def __init__(
        self,
        n_clusters=10,
        members=5,
        pseudo_label_rounds=3,
        epochs_unsupervised=10,
        epochs=2,
        t_low=1,
        t_high=4,
        thresh=0.0,
        noise_std=0.3,
        w_cluster=0.1,
        w_cluster_after=None,
        w_ladder=1.0,
        w_kl=1.0,
        last_layer_bn=False,
        lr=0.002,
        batch_size=64,
        common_mapping=True,
        feed_order="shuffle",
        layer_sizes=(500, 500),
        loss="im",
        loss_params=None,
        denoise_weights=(1000.0, 10.0, 0.1, 0.1),
        renormalize_reconstruction=False,
        combine="aligned",
        ensemble="auto",
        checkpoint_dir=None,
        callbacks=(),
        verbose=1,
        seed=0,
        **old_names,
    ):
        self.n_clusters = n_clusters
        self.members = members
        self.pseudo_label_rounds = pseudo_label_rounds
        self.epochs_unsupervised = epochs_unsupervised
        self.epochs = epochs
        self.t_low = t_low
        self.t_high = t_high
        self.thresh = thresh
        self.noise_std = noise_std
        self.w_cluster = w_cluster
        self.w_cluster_after = w_cluster_after
        self.w_ladder = w_ladder
        self.w_kl = w_kl
        self.last_layer_bn = last_layer_bn
        self.lr = lr
        self.batch_size = batch_size
        self.common_mapping = common_mapping
        self.feed_order = feed_order
        self.layer_sizes = layer_sizes
        self.loss = loss
        self.loss_params = loss_params
        self.denoise_weights = denoise_weights
        self.renormalize_reconstruction = renormalize_reconstruction
        self.combine = combine
        self.ensemble = ensemble
        self.checkpoint_dir = checkpoint_dir
        self.callbacks = callbacks
        self.verbose = verbose
        self.seed = seed
        if old_names:
            self.set_params(**renamed.translate_renamed(old_names))

    def set_params(self, **values):
        unknown = set(values) - set(self.get_params()) - set(renamed.RENAMED)
        if unknown:
            raise TypeError(f"KingdraCluster got unknown parameters {sorted(unknown)}")
        return super().set_params(**renamed.translate_renamed(values))

    def check_params(self, n_samples=None):
        """Raise a ValueError naming the first setting that cannot work, its allowed range and the
        value given (kingdra.params). `fit` calls this; replicate/ calls it when a profile is loaded,
        so a bad config fails before any training. With `n_samples`, also check K against the data."""
        params.check_params(self, n_samples)

    def fingerprint(self):
        """The parameters that make a run what it is, as one string (a checkpoint belongs to one)."""
        ignored = {"checkpoint_dir", "callbacks", "verbose"}
        return json.dumps({k: v for k, v in self.get_params().items() if k not in ignored}, sort_keys=True, default=str)

    def fit(self, X, y=None):
        """Cluster X. `y` (optional ground-truth labels) is used only to score each round in
        `history_`; it never reaches training."""
        for _ in self.fit_rounds(X, y):
            pass
        return self

    def fit_rounds(self, X, y=None):
        """`fit`, one round at a time: a generator that yields each round's `history_` record once
        the round is trained, predicted and checkpointed. Between rounds the estimator is usable
        (`labels_`, `member_proba`), which is how the walkthrough notebook steps through a run.

            for record in model.fit_rounds(X):
                print(record["round"], record["pseudo_labels"])
        """
        X = params.check_X(X)
        self.check_params(len(X))
        params.warn_if_trivial(X, self.n_clusters)
        if y is not None:
            y = np.asarray(y)
            if y.shape != (len(X),):
                raise ValueError(f"y must have one label per row of X ({len(X)}), got shape {y.shape}")
        yield from run_rounds(self, X, y)

    def _check_fitted(self):
        if not hasattr(self, "networks_"):
            raise NotFittedError("this KingdraCluster is not fitted yet; call fit(X) first")

    def member_proba(self, X):
        """(members, n, n_clusters) probabilities of every member, each in its own cluster ids."""
        self._check_fitted()
        return self.ladders_.probabilities(params.check_X(X, self.n_features_in_))

    def predict_proba(self, X):
        """(n, n_clusters) probabilities of the combined ensemble (see `combine`)."""
        self._check_fitted()
        return combine(self.member_proba(X), self.combine, self.common_mapping, self.alignment_)

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)
