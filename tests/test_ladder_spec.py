"""The whole training loss of a tiny ladder, fixed weights and fixed noise, against a NumPy
forward pass written from the model's description (docs/paper.md §3): the assembled cost, not
only each loss term, is held to the spec."""
import keras
import numpy as np
import pytest

from kingdra import ladder
from kingdra.ladder import LadderNetwork

WIDTHS = (6, 8, 5, 3)  # input, two hidden layers, K
LAMBDAS = (1000.0, 10.0, 0.1, 0.1)
WEIGHTS = {"w_ladder": 0.7, "w_cluster": 0.3, "w_kl": 1.3, "w_sup": 0.9}
MU = 4.0


class FixedNoiseLadder(LadderNetwork):
    """Draws its corruption noise from a list of arrays, in call order, instead of the generator;
    one forward pass takes the whole list, so every trace of the step (Keras may trace it more than
    once) sees the same draws."""

    def __init__(self, noise, **kwargs):
        super().__init__(**kwargs)
        self.fixed_noise, self.draws = list(noise), 0

    def _noise(self, shape):
        draw = self.fixed_noise[self.draws % len(self.fixed_noise)]
        self.draws += 1
        assert tuple(draw.shape) == tuple(shape)
        return keras.ops.convert_to_tensor(draw)


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


LOG_EPS = 1e-16  # the release takes every log of a probability as log(p + 1e-16)


def entropy(p):
    return -(p * np.log(p + LOG_EPS)).sum(-1)


def bn(z):
    return (z - z.mean(0)) / np.sqrt(z.var(0) + ladder.BN_EPS)


def spec_encoder(inp, noise, W, beta, last_layer_bn):
    """One encoder pass (clean when `noise` is None): every layer's z, input first, and the logits."""
    L = len(W)
    h = inp if noise is None else inp + noise[0]
    zs = [h]
    for l in range(L):
        z = h @ W[l]
        if l < L - 1 or last_layer_bn:
            z = bn(z)
        if noise is not None:
            z = z + noise[l + 1]
        zs.append(z)
        h = z + beta[l]
        if l < L - 1:
            h = np.maximum(h, 0.0)
    return zs, h


def spec_loss(x, x_sup, y_sup, W, V, beta, a, noise, sup_noise, last_layer_bn, kl_target=None):
    """The spec's total loss for one member, written out layer by layer. `kl_target`, the clean
    pass's probabilities, stands in for them in the KL term: no gradient flows through that side,
    so a finite difference must hold it at the unperturbed weights' value."""
    L = len(W)
    zs_clean, logits_clean = spec_encoder(x, None, W, beta, last_layer_bn)
    zs_corr, logits_corr = spec_encoder(x, noise, W, beta, last_layer_bn)
    _, logits_sup = spec_encoder(x_sup, sup_noise, W, beta, last_layer_bn)

    denoise, zhat = 0.0, None
    for l in reversed(range(L + 1)):
        u = bn(logits_corr if zhat is None else zhat @ V[l])
        c = a[l]  # (10, units)
        mu = c[0] / (1 + np.exp(-(c[1] * u + c[2]))) + c[3] * u + c[4]
        v = c[5] / (1 + np.exp(-(c[6] * u + c[7]))) + c[8] * u + c[9]
        zhat = (zs_corr[l] - mu) * v + mu
        # compared with the clean z as it is, no re-normalisation of zhat
        denoise += LAMBDAS[l] * np.mean(np.sum((zhat - zs_clean[l]) ** 2, axis=1)) / WIDTHS[l]

    def im(logits):
        p = softmax(logits)
        return entropy(p).mean() - MU * entropy(p.mean(0))

    p = softmax(logits_clean) if kl_target is None else kl_target
    q = softmax(logits_corr)
    kl = np.mean(np.sum(p * (np.log(p + LOG_EPS) - np.log(q + LOG_EPS)), axis=1))
    ce = -np.mean(np.log(softmax(logits_sup)[np.arange(len(y_sup)), y_sup]))
    return (WEIGHTS["w_ladder"] * denoise + WEIGHTS["w_cluster"] * (im(logits_clean) + im(logits_corr))
            + WEIGHTS["w_kl"] * kl + WEIGHTS["w_sup"] * ce)


MEMBERS, BATCH = 2, 16


def tiny_step(last_layer_bn, seed=5):
    """A 2-member ladder with random weights, one batch with pseudo-labels and its fixed noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(BATCH, MEMBERS, WIDTHS[0])).astype("float32")
    x_sup = (rng.normal(size=(BATCH, MEMBERS, WIDTHS[0])) * 2 + 0.5).astype("float32")
    y_sup = rng.integers(0, WIDTHS[-1], size=(BATCH, MEMBERS)).astype("int32")
    # Noise per layer (input first) for the corrupted pass and the pseudo-labelled pass, as the
    # network draws it: (members, 2 passes, batch, units).
    noise = [(0.3 * rng.normal(size=(MEMBERS, 2, BATCH, w))).astype("float32") for w in WIDTHS]
    net = FixedNoiseLadder(noise, input_dim=WIDTHS[0], n_clusters=WIDTHS[-1], hidden_sizes=WIDTHS[1:-1],
                           seeds=[1, 2], last_layer_bn=last_layer_bn, loss_params={"mu": MU},
                           denoise_weights=LAMBDAS)
    for v in net.trainable_variables:
        v.assign((rng.normal(size=v.shape) * 0.5).astype("float32"))
    net.set_loss_weights(**WEIGHTS)
    return net, {"x": x, "x_sup": x_sup, "y_sup": y_sup}, noise


def member_params(net, m):
    """Member m's weights in float64, as spec_loss takes them."""
    numpy = keras.ops.convert_to_numpy
    return {
        "W": [numpy(d.kernel[m]).astype("float64") for d in net.encoder],
        "V": [numpy(d.kernel[m]).astype("float64") for d in net.decoder],
        "beta": [numpy(n.beta[m, 0]).astype("float64") for n in net.norms],
        "a": [numpy(g.a[m, :, 0]).astype("float64") for g in net.combinators],
    }


def member_spec_loss(batch, noise, m, last_layer_bn, params, kl_target=None):
    return spec_loss(batch["x"][:, m].astype("float64"), batch["x_sup"][:, m].astype("float64"), batch["y_sup"][:, m],
                     noise=[n[m, 0].astype("float64") for n in noise],
                     sup_noise=[n[m, 1].astype("float64") for n in noise], last_layer_bn=last_layer_bn,
                     kl_target=kl_target, **params)


@pytest.mark.parametrize("last_layer_bn", [False, True])
def test_training_loss_matches_the_spec(last_layer_bn):
    net, batch, noise = tiny_step(last_layer_bn)
    terms = net(batch, training=True)
    total = float(keras.ops.convert_to_numpy(net.compute_loss(y_pred=terms)))
    expected = sum(member_spec_loss(batch, noise, m, last_layer_bn, member_params(net, m)) for m in range(MEMBERS))
    assert net.draws == len(noise)  # every fixed draw was used, so the noise reached every layer
    np.testing.assert_allclose(total, expected, rtol=2e-4)


def spec_gradient(batch, noise, m, last_layer_bn, params, h=1e-6):
    """Central differences of the float64 spec loss, every weight of member m, with the KL term's
    clean side held fixed (its stop-gradient)."""
    _, clean_logits = spec_encoder(batch["x"][:, m].astype("float64"), None, params["W"], params["beta"], last_layer_bn)
    target = softmax(clean_logits)
    grads = {}
    for name, arrays in params.items():
        grads[name] = []
        for array in arrays:
            g = np.zeros_like(array)
            for i in np.ndindex(array.shape):
                saved = array[i]
                array[i] = saved + h
                up = member_spec_loss(batch, noise, m, last_layer_bn, params, target)
                array[i] = saved - h
                down = member_spec_loss(batch, noise, m, last_layer_bn, params, target)
                array[i] = saved
                g[i] = (up - down) / (2 * h)
            grads[name].append(g)
    return grads


def test_one_training_step_follows_the_spec_gradient():
    """One real training step (compile, train_on_batch: the weighted loss, the sum over members,
    the update) with plain SGD at learning rate 1 moves every weight by minus its gradient; that
    step is pinned to the spec's gradient, so a change to how the loss terms are put together (a
    weight, a stop-gradient, which pass a term reads) fails here even when each term alone is right."""
    net, batch, noise = tiny_step(last_layer_bn=False, seed=8)
    before = [member_params(net, m) for m in range(MEMBERS)]
    net.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
    net.train_on_batch(batch)
    for m in range(MEMBERS):
        after = member_params(net, m)
        expected = spec_gradient(batch, noise, m, False, {k: [a.copy() for a in v] for k, v in before[m].items()})
        for name in expected:
            for layer, (b, a, g) in enumerate(zip(before[m][name], after[name], expected[name])):
                step = b - a
                scale = np.abs(g).max()
                assert scale > 1e-3, f"{name}[{layer}] of member {m}: the spec gradient vanishes, the test sees nothing"
                np.testing.assert_allclose(step, g, atol=2e-4 * scale + 1e-5,
                                           err_msg=f"{name}[{layer}] of member {m}")


def test_renormalized_reconstruction_is_an_option_that_changes_the_cost():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(16, 1, 6)).astype("float32")
    costs = []
    for renormalize in (False, True):
        net = LadderNetwork(6, 3, hidden_sizes=(8, 5), seeds=[3], noise_std=0.0, renormalize_reconstruction=renormalize)
        for v in net.trainable_variables:
            v.assign((np.random.default_rng(7).normal(size=v.shape) * 0.5).astype("float32"))
        costs.append(float(keras.ops.convert_to_numpy(net({"x": x}, training=True)["denoise"])[0]))
    assert not np.isclose(costs[0], costs[1], rtol=1e-3)
