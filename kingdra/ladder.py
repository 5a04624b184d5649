"""Ladder network (Rasmus et al. 2015) trained with a clustering loss, for one ensemble
member or for several at once.

Every weight carries a leading member axis: a kernel is `(members, in, out)`, so the same
code runs one member per model (fastest on small CPUs) or a whole ensemble in one compiled
step (what keeps a GPU busy). Members never share weights; summing their losses keeps each
member's gradient its own.

Inputs are laid out batch-first, `(batch, members, features)`, because Keras slices the
first axis when it batches data; inside, the member axis is moved to the front.

A training step runs the encoder two or three times over batches of one size: clean, corrupted,
and (once pseudo-labels exist) corrupted on the pseudo-labelled batch. The passes go through
the encoder stacked along the row axis, `(members, passes * batch, units)`, so each layer is one
matmul of 128 or 192 rows instead of two or three of 64 (the CPU's matmul is faster per row on
taller blocks). Batch statistics, noise and losses stay per pass: viewed as
`(members, passes, batch, units)`, pass 0 is the clean one.
"""
import keras
from keras import ops

from kingdra import losses

# The released code's batch-normalisation epsilon (docs/paper.md §3); Keras's default is 1e-5.
BN_EPS = 1e-10
LOSS_TERMS = ("denoise", "cluster_clean", "cluster_corrupted", "consistency", "supervised")


def _member_glorot(seeds):
    """The release's `glorot_normal` as Keras 2.1.4 drew it, per member: a normal of standard
    deviation sqrt(2 / (fan_in + fan_out)) cut at two standard deviations, without the later
    rescaling that restores the variance after the cut (Keras 2.2 and Keras 3 divide by 0.8796), so
    the kernels' spread is 0.88 of Glorot's. Per member, because a `(members, in, out)` kernel
    initialised as a whole would count the member axis into the fan and get the scale wrong."""

    def initializer(shape, dtype=None):
        _, fan_in, fan_out = shape
        stddev = (2.0 / (fan_in + fan_out)) ** 0.5
        return ops.stack([keras.initializers.TruncatedNormal(stddev=stddev, seed=int(s))((fan_in, fan_out), dtype=dtype)
                          for s in seeds])

    return initializer


def _standardize(t):
    """Batch normalisation without learned parameters, with the batch's own statistics."""
    mean, var = ops.moments(t, axes=[-2], keepdims=True)
    return (t - mean) * ops.rsqrt(var + BN_EPS)


def _by_pass(t, passes):
    """`(members, passes * batch, units)` viewed as `(members, passes, batch, units)`."""
    return ops.reshape(t, (t.shape[0], passes, -1, t.shape[-1]))


def _stacked(t):
    """The inverse of `_by_pass`."""
    return ops.reshape(t, (t.shape[0], -1, t.shape[-1]))


@keras.saving.register_keras_serializable(package="kingdra")
class MemberDense(keras.layers.Layer):
    """Bias-free dense layer with an independent kernel per member: `(members, batch, in)`
    to `(members, batch, units)`."""

    def __init__(self, in_units, units, seeds, **kwargs):
        super().__init__(**kwargs)
        self.in_units, self.units, self.seeds = int(in_units), int(units), [int(s) for s in seeds]
        self.kernel = self.add_weight(
            shape=(len(self.seeds), self.in_units, self.units), initializer=_member_glorot(self.seeds), name="kernel"
        )
        self.built = True

    def call(self, x):
        if len(self.seeds) == 1:  # a plain matmul is cheaper than a batch of one
            return ops.expand_dims(ops.matmul(x[0], self.kernel[0]), 0)
        return ops.matmul(x, self.kernel)

    def get_config(self):
        return {**super().get_config(), "in_units": self.in_units, "units": self.units, "seeds": self.seeds}


@keras.saving.register_keras_serializable(package="kingdra")
class LadderNorm(keras.layers.Layer):
    """Encoder normalisation of one layer: standardise the pre-activation (batch statistics
    in training, population statistics at inference, no learned scale), then shift by beta.

    Not a `keras.layers.BatchNormalization`: the ladder adds noise between the
    standardisation and the shift, and the decoder needs the clean pass's batch moments.
    With `normalize=False` (the top layer without `last_layer_bn`) only the shift is applied.
    """

    def __init__(self, members, units, normalize=True, momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self.members, self.units, self.normalize, self.momentum = int(members), int(units), bool(normalize), momentum
        shape = (self.members, 1, self.units)
        self.beta = self.add_weight(shape=shape, initializer="zeros", name="beta")
        if self.normalize:
            self.moving_mean = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="moving_mean")
            self.moving_var = self.add_weight(shape=shape, initializer="ones", trainable=False, name="moving_var")
        self.built = True

    def standardize(self, z, population):
        """z is `(members, passes, batch, units)`. Returns (standardised z, batch mean, batch var),
        each pass with its own moments `(members, passes, 1, units)`; the moments are None when
        the layer does not normalise or when population statistics are used."""
        if not self.normalize:
            return z, None, None
        if population:
            mean, var = ops.expand_dims(self.moving_mean, 1), ops.expand_dims(self.moving_var, 1)
            return (z - mean) * ops.rsqrt(var + BN_EPS), None, None
        mean, var = ops.moments(z, axes=[-2], keepdims=True)
        return (z - mean) * ops.rsqrt(var + BN_EPS), mean, var

    def update_population(self, mean, var):
        m = self.momentum
        self.moving_mean.assign(m * self.moving_mean + (1.0 - m) * mean)
        self.moving_var.assign(m * self.moving_var + (1.0 - m) * var)

    def call(self, z):
        return z + ops.expand_dims(self.beta, 1)

    def get_config(self):
        return {
            **super().get_config(),
            "members": self.members,
            "units": self.units,
            "normalize": self.normalize,
            "momentum": self.momentum,
        }


@keras.saving.register_keras_serializable(package="kingdra")
class VanillaCombinator(keras.layers.Layer):
    """The ladder's per-unit denoising function g(z_corrupted, u) (Rasmus et al. 2015):
    mu = a1*sigmoid(a2*u + a3) + a4*u + a5,  v = a6*sigmoid(a7*u + a8) + a9*u + a10,
    zhat = (z_corrupted - mu) * v + mu.  Initialised with a2 = a7 = 1, all others 0."""

    def __init__(self, members, units, **kwargs):
        super().__init__(**kwargs)
        self.members, self.units = int(members), int(units)
        initial = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]

        def initializer(shape, dtype=None):
            return ops.broadcast_to(ops.reshape(ops.convert_to_tensor(initial, dtype=dtype), (1, 10, 1, 1)), shape)

        self.a = self.add_weight(shape=(self.members, 10, 1, self.units), initializer=initializer, name="a")
        self.built = True

    def call(self, z_corrupted, u):
        a = [self.a[:, i] for i in range(10)]
        mu = a[0] * ops.sigmoid(a[1] * u + a[2]) + a[3] * u + a[4]
        v = a[5] * ops.sigmoid(a[6] * u + a[7]) + a[8] * u + a[9]
        return (z_corrupted - mu) * v + mu

    def get_config(self):
        return {**super().get_config(), "members": self.members, "units": self.units}


@keras.saving.register_keras_serializable(package="kingdra")
class LadderNetwork(keras.Model):
    """Fully connected ladder network with a clustering head, for `len(seeds)` members.

    Training call: inputs `{"x": (batch, members, features)}`, plus `"x_sup"` and `"y_sup"`
    (batch, members) once pseudo-labels exist; returns the per-member loss terms, which
    `compute_loss` weights with the non-trainable weight variables (changeable between
    rounds with `set_loss_weights`, no recompilation). The supervised branch is traced only
    when its inputs are given. Inference call: the clean pass with population statistics,
    returning softmax probabilities `(batch, members, n_clusters)`.
    """

    def __init__(
        self,
        input_dim,
        n_clusters,
        hidden_sizes=(1200, 1200),
        seeds=(0,),
        noise_std=0.3,
        last_layer_bn=False,
        loss="im",
        loss_params=None,
        denoise_weights=(1000.0, 10.0, 0.1, 0.1),
        bn_momentum=0.99,
        renormalize_reconstruction=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.loss_name, self.loss_params = loss, losses.check_loss_params(loss, loss_params)
        self._cluster_loss = losses.clustering_loss(loss, self.loss_params)
        widths = [int(input_dim), *[int(h) for h in hidden_sizes], int(n_clusters)]
        if len(denoise_weights) != len(widths):
            raise ValueError(
                f"denoise_weights needs one weight per layer including input and top ({len(widths)}), "
                f"got {len(denoise_weights)}"
            )
        self.input_dim, self.n_clusters = widths[0], widths[-1]
        self.hidden_sizes = widths[1:-1]
        self.seeds = [int(s) for s in seeds]
        self.members = len(self.seeds)
        self.noise_std, self.last_layer_bn = float(noise_std), bool(last_layer_bn)
        self.denoise_weights = [float(w) for w in denoise_weights]
        self.bn_momentum = bn_momentum
        self.renormalize_reconstruction = bool(renormalize_reconstruction)
        n_layers = len(widths) - 1

        def member_seeds(offset):  # distinct, reproducible initialisation for every kernel
            return [(s * 1009 + offset) % 2**31 for s in self.seeds]

        self.encoder = [MemberDense(widths[l], widths[l + 1], member_seeds(l), name=f"W{l + 1}") for l in range(n_layers)]
        self.norms = [
            LadderNorm(self.members, widths[l + 1], normalize=(l < n_layers - 1 or self.last_layer_bn),
                       momentum=bn_momentum, name=f"norm{l + 1}")
            for l in range(n_layers)
        ]
        self.decoder = [MemberDense(widths[l + 1], widths[l], member_seeds(100 + l), name=f"V{l}") for l in range(n_layers)]
        self.combinators = [VanillaCombinator(self.members, widths[l], name=f"g{l}") for l in range(n_layers + 1)]
        self.noise_seed = keras.random.SeedGenerator((self.seeds[0] * 7919 + 1) % 2**31)
        self.weight_vars = {
            name: self.add_weight(shape=(), initializer=keras.initializers.Constant(1.0), trainable=False, name=name)
            for name in ("w_ladder", "w_cluster", "w_kl", "w_sup")
        }
        self.trackers = [keras.metrics.Mean(name=name) for name in LOSS_TERMS]
        # Divergence bookkeeping, updated inside the compiled step so that no step is missed:
        # the training steps taken, and per loss term and member the first step (1-based; 0 =
        # never) at which the term was NaN or infinite. Which term went first is what tells a
        # user whether the input scale, the learning rate or a weight is to blame.
        self.steps_trained = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False,
                                             name="steps_trained")
        self.first_non_finite = {
            name: self.add_weight(shape=(self.members,), dtype="int32", initializer="zeros", trainable=False,
                                  name=f"first_non_finite_{name}")
            for name in LOSS_TERMS
        }
        self.built = True

    def set_loss_weights(self, **weights):
        for name, value in weights.items():
            if name not in self.weight_vars:
                raise ValueError(f"unknown loss weight {name!r}; known: {sorted(self.weight_vars)}")
            self.weight_vars[name].assign(float(value))

    def _noise(self, shape):
        """One draw of the corruption noise; the whole-loss test replaces it with fixed arrays."""
        return keras.random.normal(shape, stddev=self.noise_std, seed=self.noise_seed)

    def _corrupt(self, t):
        """Adds noise to every pass but pass 0, the clean one, of a `(members, passes, batch,
        units)` tensor."""
        noisy = t[:, 1:]
        return ops.concatenate([t[:, :1], noisy + self._noise(ops.shape(noisy))], axis=1)

    def _encode(self, x, passes, population=False):
        """The encoder over `passes` stacked batches, `x` of shape `(members, passes * batch,
        features)`; pass 0 is clean and every later pass corrupted. Returns per layer (layer 0
        is the input) z and the batch moments of normalised layers (None elsewhere), each
        `(members, passes, ...)`, and the logits `(members, passes, batch, n_clusters)`."""
        corrupt = self._corrupt if passes > 1 else (lambda t: t)
        h = corrupt(_by_pass(x, passes))
        zs, moments = [h], [None]
        for l, (dense, norm) in enumerate(zip(self.encoder, self.norms)):
            z, mean, var = norm.standardize(_by_pass(dense(_stacked(h)), passes), population)
            z = corrupt(z)
            zs.append(z)
            moments.append(None if mean is None else (mean, var))
            h = norm(z)
            if l < len(self.encoder) - 1:
                h = ops.relu(h)
        return zs, moments, h

    def _denoising_cost(self, zs_corrupted, logits_corrupted, zs_clean, clean_moments):
        """Decoder from the top down; each layer's reconstruction zhat, as the combinator gives it,
        is compared with the clean (normalised) z, as in the released code. With
        `renormalize_reconstruction` zhat is first normalised with the clean pass's batch moments
        (the Rasmus et al. variant; off by default)."""
        cost, zhat = 0.0, None
        for l in reversed(range(len(zs_clean))):
            u = _standardize(logits_corrupted if zhat is None else self.decoder[l](zhat))
            zhat = self.combinators[l](zs_corrupted[l], u)
            reconstruction = zhat
            if self.renormalize_reconstruction and clean_moments[l] is not None:
                mean, var = clean_moments[l]
                reconstruction = (zhat - mean) * ops.rsqrt(var + BN_EPS)
            cost = cost + self.denoise_weights[l] * losses.denoising_cost(reconstruction, zs_clean[l])
        return cost

    def call(self, inputs, training=False):
        def member_first(t):
            return ops.transpose(ops.cast(t, self.compute_dtype), (1, 0, 2))

        x = member_first(inputs["x"] if isinstance(inputs, dict) else inputs)
        if not training:
            _, _, logits = self._encode(x, passes=1, population=True)
            return ops.transpose(ops.softmax(logits[:, 0], axis=-1), (1, 0, 2))

        supervised = isinstance(inputs, dict) and "x_sup" in inputs
        stack = [x, x, member_first(inputs["x_sup"])] if supervised else [x, x]
        zs, moments, logits = self._encode(ops.concatenate(stack, axis=1), passes=len(stack))
        clean_moments = [None if m is None else (m[0][:, 0], m[1][:, 0]) for m in moments]
        for norm, m in zip(self.norms, clean_moments[1:]):
            if m is not None:
                norm.update_population(*m)
        zs_clean, zs_corrupted = [z[:, 0] for z in zs], [z[:, 1] for z in zs]
        logits_clean, logits_corrupted = logits[:, 0], logits[:, 1]
        terms = {
            "denoise": self._denoising_cost(zs_corrupted, logits_corrupted, zs_clean, clean_moments),
            "cluster_clean": self._cluster_loss(logits_clean),
            "cluster_corrupted": self._cluster_loss(logits_corrupted),
            "consistency": losses.consistency_kl(logits_clean, logits_corrupted),
        }
        if supervised:
            terms["supervised"] = losses.cross_entropy(logits[:, 2], ops.transpose(inputs["y_sup"], (1, 0)))
        self._note_non_finite(terms)
        return terms

    def _note_non_finite(self, terms):
        step = ops.convert_to_tensor(self.steps_trained) + 1
        self.steps_trained.assign(step)
        for name, value in terms.items():
            first = ops.convert_to_tensor(self.first_non_finite[name])
            went = ops.logical_and(ops.equal(first, 0), ops.logical_not(ops.isfinite(value)))
            self.first_non_finite[name].assign(ops.where(went, step, first))

    def non_finite_terms(self):
        """{member index in this network: (first step, [terms non-finite at that step])} for every
        member whose loss went NaN or infinite, from the bookkeeping of `_note_non_finite`."""
        steps = {name: keras.ops.convert_to_numpy(v) for name, v in self.first_non_finite.items()}
        found = {}
        for m in range(self.members):
            went = {name: int(s[m]) for name, s in steps.items() if s[m] > 0}
            if went:
                first = min(went.values())
                found[m] = (first, [name for name in LOSS_TERMS if went.get(name) == first])
        return found

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        w = self.weight_vars
        per_member = (
            w["w_ladder"] * y_pred["denoise"]
            + w["w_cluster"] * (y_pred["cluster_clean"] + y_pred["cluster_corrupted"])
            + w["w_kl"] * y_pred["consistency"]
        )
        if "supervised" in y_pred:
            per_member = per_member + w["w_sup"] * y_pred["supervised"]
        for tracker in self.trackers:
            if tracker.name in y_pred:
                tracker.update_state(ops.mean(y_pred[tracker.name]))
        return ops.sum(per_member)

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "n_clusters": self.n_clusters,
            "hidden_sizes": self.hidden_sizes,
            "seeds": self.seeds,
            "noise_std": self.noise_std,
            "last_layer_bn": self.last_layer_bn,
            "loss": self.loss_name,
            "loss_params": dict(self.loss_params),
            "denoise_weights": self.denoise_weights,
            "bn_momentum": self.bn_momentum,
            "renormalize_reconstruction": self.renormalize_reconstruction,
        }
