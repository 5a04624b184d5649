"""`KingdraCluster`: the Kingdra round loop as a scikit-learn style estimator.

Round 0 trains every ensemble member with the unsupervised losses alone. Each later round
builds pseudo-labels from where the members agree (`kingdra.pseudo_labels`) and trains every
member on all data (unsupervised) plus a class-balanced pseudo-labelled batch (supervised).
"""
import json
import os
import time
import warnings
import zipfile

import keras
import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.exceptions import NotFittedError

from kingdra import metrics, pseudo_labels
from kingdra.ladder import LOSS_TERMS, LadderNetwork
from kingdra.losses import check_loss_params

PREDICT_BATCH = 4096
PREDICT_CHUNK = 16 * PREDICT_BATCH  # member-rows per predict call; whole batches, so every batch stays as it was
# Training steps per call into the backend: Keras's per-step bookkeeping (callbacks, logs) cost
# ~4 ms of a ~30 ms step on a 2-core CPU; 8 steps per call measured 13 % faster, 32 no better.
STEPS_PER_EXECUTION = 16
# feed_order="permuted": one permutation of the rows for every run, seed and member, as a dataset's
# own file order would be; a constant, not the run's seed, so that seeds differ only as in the release.
FEED_PERMUTATION_SEED = 0
FEED_ORDERS = ("shuffle", "given", "permuted")


def _seeded_rng(*keys):
    """One numpy Generator per (seed, member, round, epoch, ...): every random choice is a pure
    function of the master seed and where it happens, so a resumed run repeats it exactly."""
    return np.random.default_rng([int(k) for k in keys])


class EpochBatches(keras.utils.PyDataset):
    """One epoch of training batches, each gathered from X when Keras asks for it.

    `order` is `(rows, members)`: row i of batch b for member m is X[order[b * batch + i, m]].
    `supervised`, once pseudo-labels exist, is `(indices, labels)` of the same shape: the
    pseudo-labelled batch that goes with each unsupervised one. Gathering per batch keeps
    memory at X plus one batch; gathering the epoch up front would hold `(rows, members,
    features)` arrays, 2.2 GB each for 10 members over MNIST.
    """

    def __init__(self, X, order, batch_size, supervised=None):
        super().__init__()
        self.X, self.order, self.batch_size, self.supervised = X, order, batch_size, supervised

    def __len__(self):
        return len(self.order) // self.batch_size  # whole batches only, as one step function serves all

    def __getitem__(self, b):
        rows = slice(b * self.batch_size, (b + 1) * self.batch_size)
        batch = {"x": self.X[self.order[rows]]}
        if self.supervised is not None:
            indices, labels = self.supervised
            batch["x_sup"], batch["y_sup"] = self.X[indices[rows]], labels[rows]
        return batch


class TrainingDiverged(FloatingPointError):
    """Training produced NaN or infinite losses or predictions; the message says where and what to try."""


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used as it is: truncated, corrupted, or of another model."""


class StopOnNonFinite(keras.callbacks.Callback):
    """Ends the epoch at the first non-finite loss instead of training on NaN weights."""

    def on_train_batch_end(self, batch, logs=None):
        if logs and not np.isfinite(logs.get("loss", 0.0)):
            self.model.stop_training = True


def fit_epoch(net, batches):
    """One epoch of `net` over `EpochBatches`; returns the epoch's mean of each logged loss."""
    history = net.fit(batches, epochs=1, shuffle=False, verbose=0, callbacks=[StopOnNonFinite()]).history
    return {k: v[-1] for k, v in history.items()}


def has_accelerator():
    return any(not d.lower().startswith("cpu") for d in keras.distribution.list_devices())


class KingdraCluster(ClusterMixin, BaseEstimator):
    """Unsupervised clustering with an ensemble of ladder networks and pseudo-labels
    (Gupta et al., ICLR 2020). Defaults are the authors' released MNIST settings, except
    `feed_order` (see there).

    Parameters
    ----------
    n_clusters : number of clusters K (the top layer's width).
    members : ensemble size E; 1 gives the single Ladder-IM (or Ladder-Dot).
    rounds : pseudo-label rounds after the unsupervised round 0. The released code counts round 0
        in its round count: its MNIST protocol of 50 rounds is `rounds=49`.
    epochs_first, epochs : epochs per member in round 0, and in each later round that trains on
        pseudo-labels; a later round with no complete pseudo-label set yet trains `epochs_first`
        epochs, as round 0 does (the released behaviour).
    t_low, t_high : agreement thresholds out of `members` for strong negative (<= t_low) and
        strong positive (> t_high) edges of the pseudo-label graph.
    thresh : a point is eligible for a pseudo-label only if every member's top probability
        exceeds it.
    noise_std : standard deviation of the ladder's corruption noise.
    w_mi, w_mi_after : weight of the clustering loss (IM or dot) in round 0, and from round 1 on,
        whether or not pseudo-labels exist yet (the released behaviour; None keeps w_mi).
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
    checkpoint_dir : if set, the state after every finished round is saved there and `fit`
        resumes from it (same parameters required).
    callbacks : callables `f(estimator, record)` called after every round.
    verbose : 0 silent, 1 a line per round, 2 also a line per member and epoch.
    seed : master seed; members, rounds and epochs derive theirs from it.

    Attributes: `labels_`, `history_` (one dict per round), `networks_`, `n_features_in_`, `ensemble_`
    (how the members trained: "sequential" or "vectorized", with "auto" resolved).
    """

    def __init__(
        self,
        n_clusters=10,
        members=10,
        rounds=49,
        epochs_first=5,
        epochs=5,
        t_low=1,
        t_high=9,
        thresh=0.9,
        noise_std=0.3,
        w_mi=0.1,
        w_mi_after=None,
        w_ladder=1.0,
        w_kl=1.0,
        last_layer_bn=False,
        lr=0.002,
        batch_size=64,
        common_mapping=True,
        feed_order="shuffle",
        layer_sizes=(1200, 1200),
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
    ):
        self.n_clusters = n_clusters
        self.members = members
        self.rounds = rounds
        self.epochs_first = epochs_first
        self.epochs = epochs
        self.t_low = t_low
        self.t_high = t_high
        self.thresh = thresh
        self.noise_std = noise_std
        self.w_mi = w_mi
        self.w_mi_after = w_mi_after
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

    # ----------------------------------------------------------------- validation
    def check_params(self, n_samples=None):
        """Raise a ValueError naming the first setting that cannot work, its allowed range and
        the value given. `fit` calls this; replicate/ calls it when a profile is loaded, so a bad
        config fails before any training. With `n_samples`, also check K against the data."""

        def integer(name, minimum):
            value = getattr(self, name)
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
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")

        integer("n_clusters", 2)
        for name in ("members", "epochs_first", "epochs", "batch_size"):
            integer(name, 1)
        integer("rounds", 0)
        integer("t_low", 0)
        integer("t_high", 0)
        if self.members == 1 and self.rounds > 0:
            raise ValueError("members=1 leaves no ensemble to build pseudo-labels from: set rounds=0 for a single "
                             "Ladder-IM, or members >= 2")
        if self.rounds > 0 and not self.t_low < self.t_high < self.members:
            raise ValueError(
                f"need 0 <= t_low < t_high < members, got t_low={self.t_low}, t_high={self.t_high}, "
                f"members={self.members}; with members={self.members} try t_low=1, t_high={max(self.members - 1, 1)}"
            )
        real("thresh", self.thresh, 0.0, 1.0, high_open=True)
        real("lr", self.lr, 0.0, low_open=True)
        real("noise_std", self.noise_std, 0.0)
        for name in ("w_mi", "w_ladder", "w_kl"):
            real(name, getattr(self, name), 0.0)
        if self.w_mi_after is not None:
            real("w_mi_after", self.w_mi_after, 0.0)
        for name in ("last_layer_bn", "common_mapping", "renormalize_reconstruction"):
            boolean(name)
        sizes = self.layer_sizes
        if (isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__") or len(sizes) == 0
                or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in sizes)):
            raise ValueError(f"layer_sizes must be one or more positive integer widths, e.g. (1200, 1200), got {sizes!r}")
        if len(self.denoise_weights) != len(sizes) + 2:
            raise ValueError(
                f"denoise_weights needs {len(sizes) + 2} values for layer_sizes={tuple(sizes)!r} (input, each "
                f"hidden layer, top), got {len(self.denoise_weights)}"
            )
        for i, weight in enumerate(self.denoise_weights):
            real(f"denoise_weights[{i}]", weight, 0.0)
        check_loss_params(self.loss, self.loss_params)
        if self.feed_order not in FEED_ORDERS:
            raise ValueError(f"feed_order must be one of {', '.join(map(repr, FEED_ORDERS))}, got {self.feed_order!r}")
        if self.combine not in ("aligned", "released"):
            raise ValueError(f"combine must be 'aligned' or 'released', got {self.combine!r}")
        if self.ensemble not in ("auto", "sequential", "vectorized"):
            raise ValueError(f"ensemble must be 'auto', 'sequential' or 'vectorized', got {self.ensemble!r}")
        if n_samples is not None and n_samples < self.n_clusters:
            raise ValueError(
                f"X has {n_samples} samples, fewer than n_clusters={self.n_clusters}; lower n_clusters or add data"
            )

    @staticmethod
    def _check_X(X, n_features=None):
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
        X = X32
        if n_features is not None and X.shape[1] != n_features:
            raise ValueError(f"X has {X.shape[1]} features, but this model was fitted on {n_features}")
        return X

    def _warn_if_trivial(self, X):
        """Input with fewer distinct rows than clusters cannot be clustered into K groups; say so.
        Rows are compared through a random projection (one matrix-vector product, not a sort of X)."""
        if (X.max(axis=0) == X.min(axis=0)).all():
            warnings.warn(f"every column of X is constant (all {len(X)} rows are equal): there is nothing to "
                          "cluster, and the labels will be arbitrary", UserWarning, stacklevel=3)
            return
        projection = X.astype(np.float64) @ np.random.default_rng(0).standard_normal(X.shape[1])
        distinct = len(np.unique(projection))
        if distinct < self.n_clusters:
            warnings.warn(f"X has only {distinct} distinct rows, fewer than n_clusters={self.n_clusters}: at most "
                          f"{distinct} clusters can be told apart and the others will be empty or arbitrary",
                          UserWarning, stacklevel=3)

    # ----------------------------------------------------------------- the ensemble
    def _member_seeds(self):
        return [int(s) for s in np.random.SeedSequence(self.seed).generate_state(self.members)]

    def _build_networks(self, n_features):
        """Groups of members: one network per member (sequential) or one for all (vectorized).
        Each network is compiled once and kept for every round."""
        vectorized = self.ensemble == "vectorized" or (self.ensemble == "auto" and has_accelerator())
        self.ensemble_ = "vectorized" if vectorized else "sequential"
        seeds = self._member_seeds()
        groups = [seeds] if vectorized else [[s] for s in seeds]
        networks = []
        for group in groups:
            net = LadderNetwork(
                n_features,
                self.n_clusters,
                hidden_sizes=self.layer_sizes,
                seeds=group,
                noise_std=self.noise_std,
                last_layer_bn=self.last_layer_bn,
                loss=self.loss,
                loss_params=self.loss_params,
                denoise_weights=self.denoise_weights,
                renormalize_reconstruction=self.renormalize_reconstruction,
            )
            # TensorFlow's XLA is slower than its plain graph mode on CPUs; JAX always compiles.
            net.compile(optimizer=keras.optimizers.Adam(self.lr), jit_compile=keras.backend.backend() == "jax",
                        steps_per_execution=STEPS_PER_EXECUTION)
            net.set_loss_weights(w_ladder=self.w_ladder, w_cluster=self.w_mi, w_kl=self.w_kl, w_sup=1.0)
            networks.append(net)
        return networks

    def _member_groups(self):
        start = 0
        for net in self.networks_:
            yield list(range(start, start + net.members)), net
            start += net.members

    def _member_probabilities(self, X):
        """(members, n, K) softmax probabilities of the clean pass with population statistics.
        Rows go to `predict` a chunk at a time (PREDICT_CHUNK rows over all the network's members):
        the input pipelines copy the (rows, members, features) array they are given, which for
        700000 points x 10 members x 784 would be 22 GB; so memory stays at the output plus one
        chunk whatever n is."""
        out = np.empty((self.members, len(X), self.n_clusters), dtype=np.float32)
        for members, net in self._member_groups():
            rows = PREDICT_BATCH * max(1, PREDICT_CHUNK // (PREDICT_BATCH * len(members)))
            for start in range(0, len(X), rows):
                chunk = X[start:start + rows]
                stacked = np.broadcast_to(chunk[:, None, :], (len(chunk), len(members), X.shape[1]))
                probs = net.predict(stacked, batch_size=PREDICT_BATCH, verbose=0)
                out[members[0]:members[-1] + 1, start:start + len(chunk)] = np.moveaxis(probs, 1, 0)
        return out

    def _fixed_rows(self, n):
        """The one row order of rounds without pseudo-labels under `feed_order` "given" or "permuted"."""
        return np.arange(n) if self.feed_order == "given" else np.random.default_rng(FEED_PERMUTATION_SEED).permutation(n)

    def _train_round(self, X, round_index, n_epochs, targets, after_epoch=None):
        """Train every member for n_epochs; `targets` is None (unsupervised) or (mini-clusters,
        (E, k) labels per member). Returns the mean of each loss term. `after_epoch(members, net,
        epoch, log)` is called after each epoch of each network (replicate/ladder_study.py)."""
        n = len(X)
        batch = min(self.batch_size, n)
        # Whole batches only: a last partial batch would compile a second step function.
        n_used = (n // batch) * batch
        logs = []
        for members, net in self._member_groups():
            for epoch in range(n_epochs):
                rngs = [_seeded_rng(self.seed, m, round_index, epoch) for m in members]
                if targets is None and self.feed_order != "shuffle":
                    order = np.broadcast_to(self._fixed_rows(n)[:n_used, None], (n_used, len(members)))
                else:
                    order = np.stack([rng.permutation(n)[:n_used] for rng in rngs], axis=1)
                supervised = None
                if targets is not None:
                    clusters, label_maps = targets
                    picks = [pseudo_labels.balanced_sample(clusters, n_used, rng) for rng in rngs]
                    supervised = (np.stack([idx for idx, _ in picks], axis=1),
                                  np.stack([label_maps[m][cls] for m, (_, cls) in zip(members, picks)], axis=1))
                steps_before = int(keras.ops.convert_to_numpy(net.steps_trained))
                logs.append(fit_epoch(net, EpochBatches(X, order, batch, supervised)))
                diverged = net.non_finite_terms()
                if diverged:
                    self._raise_diverged(X, round_index, members, diverged, epoch, n_epochs, steps_before,
                                         n_used // batch)
                if after_epoch is not None:
                    after_epoch(members, net, epoch, logs[-1])
                if self.verbose >= 2:
                    print(f"    members {members[0]}-{members[-1]} epoch {epoch + 1}/{n_epochs} loss {logs[-1]['loss']:.4f}",
                          flush=True)
        terms = ["loss"] + [t for t in LOSS_TERMS if t != "supervised" or targets is not None]
        return {t: float(np.mean([log[t] for log in logs])) for t in terms}

    def _raise_diverged(self, X, round_index, members, diverged, epoch, n_epochs, steps_before, steps_per_epoch):
        """Name the round, member, epoch, step and loss term that went non-finite first, what was kept
        and what to try."""
        m, (step, terms) = min(diverged.items(), key=lambda item: item[1][0])
        others = sorted(members[i] for i in diverged if i != m)
        first = (f"the {terms[0]} term went first" if len(terms) == 1
                 else f"{', '.join(terms)} went at the same step")
        raise TrainingDiverged(
            f"training went non-finite in round {round_index}, member {members[m]}, epoch {epoch + 1}/{n_epochs}, "
            f"step {step - steps_before} of {steps_per_epoch}: {first}"
            + (f" (members {others} of the same network too)" if others else "") + ". "
            + self._kept_checkpoint_note(round_index)
            + f" Try a lower lr (now {self.lr:g}) or standardise X (its largest |value| is "
            f"{float(np.abs(X).max()):.3g}; e.g. sklearn.preprocessing.StandardScaler)."
        )

    def _kept_checkpoint_note(self, round_index):
        if self.checkpoint_dir is None:
            return "Nothing was saved (no checkpoint_dir)."
        if round_index == 0 or not os.path.exists(self._checkpoint_path()):
            return "No round had finished, so no checkpoint was written."
        return f"The checkpoint after round {round_index - 1} in {self._checkpoint_path()} is kept as it was."

    def _check_predictions(self, probs, round_index):
        bad = [m for m in range(self.members) if not np.isfinite(probs[m]).all()]
        if bad:
            raise TrainingDiverged(
                f"after round {round_index}, members {bad} predict NaN or infinite probabilities although their "
                f"training losses stayed finite (their population statistics overflowed). "
                + self._kept_checkpoint_note(round_index)
                + " Standardise X (e.g. sklearn.preprocessing.StandardScaler) or lower lr "
                f"(now {self.lr:g})."
            )

    # ----------------------------------------------------------------- combining members
    def _combine(self, probs, rule=None):
        """(n, K) combined probabilities under `rule` ("aligned" or "released"; default `combine`)."""
        if (rule or self.combine) == "released":
            return probs.mean(axis=0) if self.common_mapping else probs[0]
        aligned = np.empty_like(probs)
        for e, perm in enumerate(self.alignment_):
            aligned[e][:, perm] = probs[e]  # member e's cluster c is the reference's perm[c]
        return aligned.mean(axis=0)

    def _alignment(self, probs):
        reference = probs[0].argmax(axis=1)
        return np.stack([metrics.alignment(reference, p.argmax(axis=1), self.n_clusters) for p in probs])

    # ----------------------------------------------------------------- checkpoints
    def _checkpoint_path(self):
        return None if self.checkpoint_dir is None else os.path.join(self.checkpoint_dir, "kingdra_state.npz")

    def _fingerprint(self):
        ignored = {"checkpoint_dir", "callbacks", "verbose"}
        return json.dumps({k: v for k, v in self.get_params().items() if k not in ignored}, sort_keys=True, default=str)

    def _checkpoint_variables(self):
        """Every variable a checkpoint holds, by its key: weights, optimiser state, noise seeds and
        the divergence bookkeeping of each network."""
        found = {}
        for g, net in enumerate(self.networks_):
            net.optimizer.build(net.trainable_variables)
            for i, v in enumerate(net.variables + net.optimizer.variables):
                found[f"net{g}_{i}"] = v
        return found

    def _save_checkpoint(self, state):
        path = self._checkpoint_path()
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        arrays = {"meta": np.array(json.dumps({"fingerprint": self._fingerprint(), **state["meta"]}))}
        for key, v in self._checkpoint_variables().items():
            arrays[key] = keras.ops.convert_to_numpy(v)
            if np.issubdtype(arrays[key].dtype, np.floating) and not np.isfinite(arrays[key]).all():
                raise TrainingDiverged(f"{v.path} is NaN or infinite; the checkpoint in {path} was not overwritten")
        if state["best"] is not None:
            arrays["best_points"] = np.concatenate(state["best"])
            arrays["best_sizes"] = np.array([len(c) for c in state["best"]])
        tmp = path + ".tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, path)  # a crash mid-write never leaves a half checkpoint behind

    def _load_checkpoint(self):
        """The saved state, or None when there is none. Everything is read and checked before any
        variable is assigned, so a bad file is named and never half-loaded."""
        path = self._checkpoint_path()
        if path is None or not os.path.exists(path):
            return None
        try:  # the npz is a zip archive: a truncated file fails to open, a flipped byte its CRC-32
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
            meta = json.loads(str(arrays.pop("meta")))
        except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as err:
            raise CheckpointError(f"checkpoint {path} is truncated or corrupted ({type(err).__name__}: {err}); "
                                  "delete it to train from round 0") from err
        if meta.pop("fingerprint", None) != self._fingerprint():
            raise ValueError(
                f"checkpoint {path} was written with other parameters; use another checkpoint_dir or delete it"
            )
        variables = self._checkpoint_variables()
        for key, v in variables.items():
            if key not in arrays or arrays[key].shape != tuple(v.shape):
                found = "missing" if key not in arrays else f"of shape {arrays[key].shape}"
                raise CheckpointError(f"checkpoint {path} does not fit this model: {key} ({v.path}, shape "
                                      f"{tuple(v.shape)}) is {found}; delete it to train from round 0")
        for key, v in variables.items():
            v.assign(arrays[key])
        best = None
        if "best_points" in arrays:
            best = np.split(arrays["best_points"], np.cumsum(arrays["best_sizes"])[:-1])
        return {"meta": meta, "best": best}

    # ----------------------------------------------------------------- public API
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
        X = self._check_X(X)
        self.check_params(len(X))
        self._warn_if_trivial(X)
        if y is not None:
            y = np.asarray(y)
            if y.shape != (len(X),):
                raise ValueError(f"y must have one label per row of X ({len(X)}), got shape {y.shape}")
        self.n_features_in_ = X.shape[1]
        self.networks_ = self._build_networks(X.shape[1])
        self.history_ = []
        best, w_cluster, first_round = None, self.w_mi, 0
        resumed = self._load_checkpoint()
        if resumed is not None:
            self.history_ = resumed["meta"]["history"]
            w_cluster = resumed["meta"]["w_cluster"]
            best = resumed["best"]
            first_round = len(self.history_)
            for net in self.networks_:
                net.set_loss_weights(w_cluster=w_cluster)
            if self.verbose:
                print(f"resuming from {self._checkpoint_path()} after round {first_round - 1}", flush=True)
        probs = self._member_probabilities(X) if first_round > 0 else None
        if first_round > self.rounds:  # killed after the last round's checkpoint: only the labels are left to make
            self.alignment_ = self._alignment(probs)
            self.labels_ = self._combine(probs).argmax(axis=1)

        for round_index in range(first_round, self.rounds + 1):
            started = time.perf_counter()
            targets, source, used = None, "none", None
            if round_index > 0:
                assignments = probs.argmax(axis=2)
                found = pseudo_labels.mini_clusters(
                    assignments, probs.max(axis=2), self.n_clusters, self.t_low, self.t_high, self.thresh
                )
                used, best = pseudo_labels.select_pseudo_label_set(found, best, self.n_clusters)
                source = "none" if used is None else ("new" if used is found else "earlier")
                if used is not None:
                    label_maps = pseudo_labels.member_label_maps(used, assignments, self.n_clusters, self.common_mapping)
                    targets = (used, label_maps)
                if self.w_mi_after is not None and w_cluster != self.w_mi_after:
                    w_cluster = self.w_mi_after
                    for net in self.networks_:
                        net.set_loss_weights(w_cluster=w_cluster)
            # As in the release, a round without pseudo-labels trains as long as round 0.
            n_epochs = self.epochs if targets is not None else self.epochs_first
            losses = self._train_round(X, round_index, n_epochs, targets)
            probs = self._member_probabilities(X)
            self._check_predictions(probs, round_index)
            self.alignment_ = self._alignment(probs)
            self.labels_ = self._combine(probs).argmax(axis=1)

            record = {
                "round": round_index,
                "epochs": n_epochs,
                "pseudo_label_source": source,
                "mini_cluster_sizes": [] if used is None else [int(len(c)) for c in used],
                "pseudo_labels": 0 if used is None else int(sum(len(c) for c in used)),
                "w_cluster": float(w_cluster),
                "losses": losses,
            }
            if y is not None:
                record.update(self._scores(y, probs, used))
            record["seconds"] = round(time.perf_counter() - started, 3)
            self.history_.append(record)
            if self.checkpoint_dir is not None:
                self._save_checkpoint({"meta": {"history": self.history_, "w_cluster": w_cluster}, "best": best})
            if self.verbose:
                print(self._progress_line(record), flush=True)
            for callback in self.callbacks:
                callback(self, record)
            yield record

    def _scores(self, y, probs, used):
        released = self._combine(probs, "released").argmax(axis=1)
        aligned = self._combine(probs, "aligned").argmax(axis=1)
        scores = {
            "accuracy": metrics.accuracy(y, self.labels_),
            "nmi": metrics.nmi(y, self.labels_),
            "ari": metrics.ari(y, self.labels_),
            "accuracy_released": metrics.accuracy(y, released),
            "accuracy_aligned": metrics.accuracy(y, aligned),
            "member_accuracy": [metrics.accuracy(y, p.argmax(axis=1)) for p in probs],
        }
        if used is not None:
            quality = metrics.pseudo_label_quality(y, used)
            scores["pseudo_label_precision"] = quality["precision"]
            scores["pseudo_label_coverage"] = quality["coverage"]
        return {k: (float(v) if np.isscalar(v) else [float(a) for a in v]) for k, v in scores.items()}

    def _progress_line(self, r):
        line = (f"round {r['round']:>3}/{self.rounds}  pseudo-labels {r['pseudo_labels']:>6} ({r['pseudo_label_source']})"
                f"  loss {r['losses']['loss']:9.4f}")
        if "accuracy" in r:
            line += f"  acc {r['accuracy']:.4f}  nmi {r['nmi']:.4f}"
            if "pseudo_label_precision" in r:
                line += f"  pl-precision {r['pseudo_label_precision']:.4f}"
        return line + f"  {r['seconds']:.1f}s"

    def _check_fitted(self):
        if not hasattr(self, "networks_"):
            raise NotFittedError("this KingdraCluster is not fitted yet; call fit(X) first")

    def member_proba(self, X):
        """(members, n, n_clusters) probabilities of every member, each in its own cluster ids."""
        self._check_fitted()
        return self._member_probabilities(self._check_X(X, self.n_features_in_))

    def predict_proba(self, X):
        """(n, n_clusters) probabilities of the combined ensemble (see `combine`)."""
        self._check_fitted()
        X = self._check_X(X, self.n_features_in_)
        return self._combine(self._member_probabilities(X))

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)
