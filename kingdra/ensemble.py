"""The ensemble of ladder networks: building it, training it for a round, and its members' predictions.

One `LadderEnsemble` holds E members, either one network per member (sequential, fastest on small
CPUs) or one network for all of them over a member axis (vectorized, fastest on a GPU). Every
random choice (feed order, pseudo-label batches) is a pure function of the master seed, the member,
the round and the epoch, so a resumed run repeats it exactly.
"""
import keras
import numpy as np

from kingdra import pseudo_labels
from kingdra.errors import TrainingDiverged
from kingdra.ladder import LOSS_TERMS, LadderNetwork

PREDICT_BATCH = 4096
PREDICT_CHUNK = 16 * PREDICT_BATCH  # member-rows per predict call; whole batches, so every batch stays as it was
# Training steps per call into the backend: Keras's per-step bookkeeping (callbacks, logs) cost
# ~4 ms of a ~30 ms step on a 2-core CPU; 8 steps per call measured 13 % faster, 32 no better.
STEPS_PER_EXECUTION = 16
# feed_order="permuted": one permutation of the rows for every run, seed and member, as a dataset's
# own file order would be; a constant, not the run's seed, so that seeds differ only as in the release.
FEED_PERMUTATION_SEED = 0
FEED_ORDERS = ("shuffle", "given", "permuted")


def seeded_rng(*keys):
    """One numpy Generator per (seed, member, round, epoch, ...)."""
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


class LadderEnsemble:
    """The members of one fit. `settings` is the estimator (any object with KingdraCluster's
    parameters as attributes); each network is compiled once and kept for every round. `networks`
    reuses networks already built for these settings (replicate/benchmarks) instead of building."""

    def __init__(self, settings, n_features, networks=None):
        self.settings = s = settings
        vectorized = s.ensemble == "vectorized" or (s.ensemble == "auto" and has_accelerator())
        self.mode = "vectorized" if vectorized else "sequential"
        if networks is not None:
            self.networks = list(networks)
            return
        seeds = [int(x) for x in np.random.SeedSequence(s.seed).generate_state(s.members)]
        self.networks = []
        for group in [seeds] if vectorized else [[x] for x in seeds]:
            net = LadderNetwork(n_features, s.n_clusters, hidden_sizes=s.layer_sizes, seeds=group,
                                noise_std=s.noise_std, last_layer_bn=s.last_layer_bn, loss=s.loss,
                                loss_params=s.loss_params, denoise_weights=s.denoise_weights,
                                renormalize_reconstruction=s.renormalize_reconstruction)
            # TensorFlow's XLA is slower than its plain graph mode on CPUs; JAX always compiles.
            net.compile(optimizer=keras.optimizers.Adam(s.lr), jit_compile=keras.backend.backend() == "jax",
                        steps_per_execution=STEPS_PER_EXECUTION)
            net.set_loss_weights(w_ladder=s.w_ladder, w_cluster=s.w_cluster, w_kl=s.w_kl, w_sup=1.0)
            self.networks.append(net)

    def groups(self):
        """(member ids, network) per network: [0..E-1] once when vectorized, [e] per member otherwise."""
        start = 0
        for net in self.networks:
            yield list(range(start, start + net.members)), net
            start += net.members

    def set_cluster_weight(self, weight):
        for net in self.networks:
            net.set_loss_weights(w_cluster=weight)

    def probabilities(self, X):
        """(members, n, K) softmax probabilities of the clean pass with population statistics.
        Rows go to `predict` a chunk at a time (PREDICT_CHUNK rows over all the network's members):
        the input pipelines copy the (rows, members, features) array they are given, which for
        700000 points x 10 members x 784 would be 22 GB; so memory stays at the output plus one
        chunk whatever n is."""
        out = np.empty((self.settings.members, len(X), self.settings.n_clusters), dtype=np.float32)
        for ids, net in self.groups():
            rows = PREDICT_BATCH * max(1, PREDICT_CHUNK // (PREDICT_BATCH * len(ids)))
            for start in range(0, len(X), rows):
                chunk = X[start:start + rows]
                stacked = np.broadcast_to(chunk[:, None, :], (len(chunk), len(ids), X.shape[1]))
                probs = net.predict(stacked, batch_size=PREDICT_BATCH, verbose=0)
                out[ids[0]:ids[-1] + 1, start:start + len(chunk)] = np.moveaxis(probs, 1, 0)
        return out

    def fixed_rows(self, n):
        """The one row order of rounds without pseudo-labels under `feed_order` "given" or "permuted"."""
        if self.settings.feed_order == "given":
            return np.arange(n)
        return np.random.default_rng(FEED_PERMUTATION_SEED).permutation(n)

    def train_round(self, X, round_index, n_epochs, targets, after_epoch=None, kept_note=lambda: "",
                    members_done=0, logs=(), after_network=None):
        """Train every member for n_epochs; `targets` is None (unsupervised) or (mini-clusters,
        (E, k) labels per member). Returns the mean of each loss term. `after_epoch(ids, net,
        epoch, log)` is called after each epoch of each network (replicate/studies). `kept_note()`
        says, if training diverges, what was saved. A round resumed after its first `members_done`
        members skips their networks and starts from their epochs' `logs`; `after_network(members_done,
        logs)` is called after each network but the last (kingdra.rounds saves the round there)."""
        s, n = self.settings, len(X)
        batch = min(s.batch_size, n)
        n_used = (n // batch) * batch  # whole batches only: a last partial batch would compile a second step
        logs = list(logs)
        for ids, net in self.groups():
            if ids[-1] < members_done:
                continue
            for epoch in range(n_epochs):
                rngs = [seeded_rng(s.seed, m, round_index, epoch) for m in ids]
                if targets is None and s.feed_order != "shuffle":
                    order = np.broadcast_to(self.fixed_rows(n)[:n_used, None], (n_used, len(ids)))
                else:
                    order = np.stack([rng.permutation(n)[:n_used] for rng in rngs], axis=1)
                supervised = None
                if targets is not None:
                    clusters, label_maps = targets
                    picks = [pseudo_labels.balanced_sample(clusters, n_used, rng) for rng in rngs]
                    supervised = (np.stack([idx for idx, _ in picks], axis=1),
                                  np.stack([label_maps[m][cls] for m, (_, cls) in zip(ids, picks)], axis=1))
                steps_before = int(keras.ops.convert_to_numpy(net.steps_trained))
                logs.append(fit_epoch(net, EpochBatches(X, order, batch, supervised)))
                diverged = net.non_finite_terms()
                if diverged:
                    self._raise_diverged(X, round_index, ids, diverged, epoch, n_epochs, steps_before,
                                         n_used // batch, kept_note)
                if after_epoch is not None:
                    after_epoch(ids, net, epoch, logs[-1])
                if s.verbose >= 2:
                    print(f"    members {ids[0]}-{ids[-1]} epoch {epoch + 1}/{n_epochs} loss {logs[-1]['loss']:.4f}",
                          flush=True)
            if after_network is not None and ids[-1] + 1 < s.members:
                after_network(ids[-1] + 1, logs)
        terms = ["loss"] + [t for t in LOSS_TERMS if t != "supervised" or targets is not None]
        return {t: float(np.mean([log[t] for log in logs])) for t in terms}

    def _raise_diverged(self, X, round_index, ids, diverged, epoch, n_epochs, steps_before, steps_per_epoch,
                        kept_note):
        """Name the round, member, epoch, step and loss term that went non-finite first, what was kept
        and what to try."""
        m, (step, terms) = min(diverged.items(), key=lambda item: item[1][0])
        others = sorted(ids[i] for i in diverged if i != m)
        first = (f"the {terms[0]} term went first" if len(terms) == 1
                 else f"{', '.join(terms)} went at the same step")
        raise TrainingDiverged(
            f"training went non-finite in round {round_index}, member {ids[m]}, epoch {epoch + 1}/{n_epochs}, "
            f"step {step - steps_before} of {steps_per_epoch}: {first}"
            + (f" (members {others} of the same network too)" if others else "") + ". " + kept_note()
            + f" Try a lower lr (now {self.settings.lr:g}) or standardise X (its largest |value| is "
            f"{float(np.abs(X).max()):.3g}; e.g. sklearn.preprocessing.StandardScaler)."
        )

    def check_predictions(self, probs, round_index, kept_note=lambda: ""):
        bad = [m for m in range(len(probs)) if not np.isfinite(probs[m]).all()]
        if bad:
            raise TrainingDiverged(
                f"after round {round_index}, members {bad} predict NaN or infinite probabilities although their "
                f"training losses stayed finite (their population statistics overflowed). " + kept_note()
                + f" Standardise X (e.g. sklearn.preprocessing.StandardScaler) or lower lr (now {self.settings.lr:g})."
            )
