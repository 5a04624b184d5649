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
    """Draws its corruption noise from a list of arrays, in call order, instead of the generator."""

    def __init__(self, noise, **kwargs):
        super().__init__(**kwargs)
        self.fixed_noise = list(noise)

    def _noise(self, shape):
        draw = self.fixed_noise.pop(0)
        assert tuple(draw.shape) == tuple(shape)
        return keras.ops.convert_to_tensor(draw)


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def entropy(p):
    return -(p * np.log(p)).sum(-1)


def bn(z):
    return (z - z.mean(0)) / np.sqrt(z.var(0) + ladder.BN_EPS)


def spec_loss(x, x_sup, y_sup, W, V, beta, a, noise, sup_noise, last_layer_bn):
    """The spec's total loss for one member, written out layer by layer."""
    L = len(W)

    def encoder(inp, noise):
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

    zs_clean, logits_clean = encoder(x, None)
    zs_corr, logits_corr = encoder(x, noise)
    _, logits_sup = encoder(x_sup, sup_noise)

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

    p, q = softmax(logits_clean), softmax(logits_corr)
    kl = np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1))
    ce = -np.mean(np.log(softmax(logits_sup)[np.arange(len(y_sup)), y_sup]))
    return (WEIGHTS["w_ladder"] * denoise + WEIGHTS["w_cluster"] * (im(logits_clean) + im(logits_corr))
            + WEIGHTS["w_kl"] * kl + WEIGHTS["w_sup"] * ce)


@pytest.mark.parametrize("last_layer_bn", [False, True])
def test_training_loss_matches_the_spec(last_layer_bn):
    rng = np.random.default_rng(5)
    members, batch = 2, 16
    x = rng.normal(size=(batch, members, WIDTHS[0])).astype("float32")
    x_sup = (rng.normal(size=(batch, members, WIDTHS[0])) * 2 + 0.5).astype("float32")
    y_sup = rng.integers(0, WIDTHS[-1], size=(batch, members)).astype("int32")
    # Noise per layer (input first) for the corrupted pass and the pseudo-labelled pass, as the
    # network draws it: (members, 2 passes, batch, units).
    noise = [(0.3 * rng.normal(size=(members, 2, batch, w))).astype("float32") for w in WIDTHS]
    net = FixedNoiseLadder(noise, input_dim=WIDTHS[0], n_clusters=WIDTHS[-1], hidden_sizes=WIDTHS[1:-1],
                           seeds=[1, 2], last_layer_bn=last_layer_bn, loss_params={"mu": MU},
                           denoise_weights=LAMBDAS)
    for v in net.trainable_variables:
        v.assign((rng.normal(size=v.shape) * 0.5).astype("float32"))
    net.set_loss_weights(**WEIGHTS)

    terms = net({"x": x, "x_sup": x_sup, "y_sup": y_sup}, training=True)
    total = float(keras.ops.convert_to_numpy(net.compute_loss(y_pred=terms)))

    numpy = keras.ops.convert_to_numpy
    expected = 0.0
    for m in range(members):
        expected += spec_loss(
            x[:, m].astype("float64"), x_sup[:, m].astype("float64"), y_sup[:, m],
            W=[numpy(d.kernel[m]).astype("float64") for d in net.encoder],
            V=[numpy(d.kernel[m]).astype("float64") for d in net.decoder],
            beta=[numpy(n.beta[m, 0]).astype("float64") for n in net.norms],
            a=[numpy(g.a[m, :, 0]).astype("float64") for g in net.combinators],
            noise=[n[m, 0].astype("float64") for n in noise],
            sup_noise=[n[m, 1].astype("float64") for n in noise],
            last_layer_bn=last_layer_bn,
        )
    assert not net.fixed_noise  # every fixed draw was used, so the noise reached every layer
    np.testing.assert_allclose(total, expected, rtol=2e-4)


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
