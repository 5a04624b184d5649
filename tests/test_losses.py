"""Each loss term against a plain NumPy reference on fixed inputs, one member and a stack."""
import numpy as np
import pytest
from keras import ops

from kingdra import losses


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def ref_im(logits, mu):
    p = softmax(logits)
    conditional = -(p * np.log(p)).sum(-1).mean()
    marginal_p = p.mean(0)
    return conditional - mu * -(marginal_p * np.log(marginal_p)).sum()


def ref_dot(logits):
    p = softmax(logits)
    q = p / np.linalg.norm(p, axis=1, keepdims=True)
    n = len(q)
    return np.mean([(q[i] @ q[j] - (i == j)) ** 2 for i in range(n) for j in range(n)])


def ref_kl(clean, corrupted):
    p, q = softmax(clean), softmax(corrupted)
    return (p * np.log(p / q)).sum(-1).mean()


def ref_denoise(reconstruction, target):
    return (((reconstruction - target) ** 2).sum(-1) / target.shape[-1]).mean()


def ref_ce(logits, labels):
    p = softmax(logits)
    return -np.log(p[np.arange(len(labels)), labels]).mean()


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    return {
        "logits": rng.normal(size=(3, 16, 5)).astype(np.float32) * 2,
        "other": rng.normal(size=(3, 16, 5)).astype(np.float32) * 2,
        "z": rng.normal(size=(3, 16, 12)).astype(np.float32),
        "zhat": rng.normal(size=(3, 16, 12)).astype(np.float32),
        "labels": rng.integers(0, 5, size=(3, 16)),
    }


CASES = {
    "im": (lambda d: losses.information_maximisation(d["logits"], 4.0), lambda d, m: ref_im(d["logits"][m], 4.0)),
    "dot": (lambda d: losses.pairwise_dot(d["logits"]), lambda d, m: ref_dot(d["logits"][m])),
    "kl": (lambda d: losses.consistency_kl(d["logits"], d["other"]), lambda d, m: ref_kl(d["logits"][m], d["other"][m])),
    "denoise": (lambda d: losses.denoising_cost(d["zhat"], d["z"]), lambda d, m: ref_denoise(d["zhat"][m], d["z"][m])),
    "ce": (lambda d: losses.cross_entropy(d["logits"], d["labels"]), lambda d, m: ref_ce(d["logits"][m], d["labels"][m])),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_matches_numpy_reference_per_member(name, data):
    ours, reference = CASES[name]
    values = ops.convert_to_numpy(ours(data))
    assert values.shape == (3,)
    np.testing.assert_allclose(values, [reference(data, m) for m in range(3)], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_of_one_member_is_a_scalar(name, data):
    ours, reference = CASES[name]
    single = {k: v[1] for k, v in data.items()}
    value = ops.convert_to_numpy(ours(single))
    assert value.shape == ()
    np.testing.assert_allclose(value, reference(data, 1), rtol=1e-4, atol=1e-5)


def test_im_rewards_confident_balanced_predictions():
    confident_balanced = np.eye(4, dtype=np.float32)[np.arange(16) % 4] * 20
    collapsed = np.eye(4, dtype=np.float32)[np.zeros(16, int)] * 20
    good = float(ops.convert_to_numpy(losses.information_maximisation(confident_balanced)))
    bad = float(ops.convert_to_numpy(losses.information_maximisation(collapsed)))
    assert good == pytest.approx(-4.0 * np.log(4), abs=1e-3)
    assert bad > good + 5


# ----------------------------------------------------------------- the clustering-loss registry
def test_loss_params_default_to_the_paper_and_bind_into_the_loss(data):
    assert losses.check_loss_params("im") == {"mu": 4.0}
    assert losses.check_loss_params("im", {"mu": 2}) == {"mu": 2.0}
    assert losses.check_loss_params("dot", {"mu": 2.0}) == {}  # IM's setting: the dot loss ignores it
    bound = ops.convert_to_numpy(losses.clustering_loss("im", {"mu": 0.5})(data["logits"]))
    np.testing.assert_allclose(bound, [ref_im(data["logits"][m], 0.5) for m in range(3)], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("loss, params, match", [
    ("kmeans", None, r"loss must be one of \['dot', 'im'\], got 'kmeans'"),
    ("im", {"nu": 1.0}, r"no clustering loss takes 'nu'; the settings are 'mu' \(im\)"),
    ("im", {"mu": float("nan")}, r"loss_params\['mu'\] must be a finite number, got nan"),
    ("im", {"mu": True}, "must be a finite number"),
    ("im", [("mu", 4.0)], "loss_params must be a dict"),
])
def test_bad_loss_settings_name_the_choices(loss, params, match):
    with pytest.raises(ValueError, match=match):
        losses.check_loss_params(loss, params)


def test_the_ladder_trains_with_the_registered_loss_and_its_settings(data):
    from kingdra.ladder import LadderNetwork

    net = LadderNetwork(12, 5, hidden_sizes=(8,), seeds=(0,), loss="im", loss_params={"mu": 1.5},
                        denoise_weights=(1.0, 1.0, 1.0))
    assert net.get_config()["loss_params"] == {"mu": 1.5}
    from kingdra.cluster import KingdraCluster
    from kingdra.ensemble import LadderEnsemble

    settings = KingdraCluster(members=2, layer_sizes=(8,), denoise_weights=(1.0, 1.0, 1.0), loss_params={"mu": 1.5},
                              ensemble="sequential")
    built = LadderEnsemble(settings, 12).networks
    assert [n.loss_params for n in built] == [{"mu": 1.5}] * 2
    value = ops.convert_to_numpy(net._cluster_loss(data["logits"]))
    np.testing.assert_allclose(value, [ref_im(data["logits"][m], 1.5) for m in range(3)], rtol=1e-4, atol=1e-5)
