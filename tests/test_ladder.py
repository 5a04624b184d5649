"""The ladder network: inference statistics, loss weights, the supervised branch, saving,
and the same numbers on the TensorFlow and JAX backends."""
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from kingdra import losses
from kingdra.ladder import LadderNetwork


def small_net(**kwargs):
    args = dict(input_dim=6, n_clusters=3, hidden_sizes=(8, 5), seeds=[11, 12])
    args.update(kwargs)
    net = LadderNetwork(**args)
    net.compile(optimizer=keras.optimizers.Adam(0.01), jit_compile=keras.backend.backend() == "jax")
    return net


def stacked(X, members=2):
    return np.repeat(X[:, None, :], members, axis=1)


@pytest.fixture
def X():
    return np.random.default_rng(0).normal(size=(96, 6)).astype(np.float32)


def test_inference_uses_population_statistics_not_the_batch(X):
    net = small_net()
    net.fit({"x": stacked(X)}, batch_size=32, epochs=2, shuffle=False, verbose=0)
    whole = net.predict(stacked(X), batch_size=96, verbose=0)
    one_by_one = np.concatenate([net.predict(stacked(X[i : i + 1]), verbose=0) for i in range(5)])
    np.testing.assert_allclose(whole[:5], one_by_one, rtol=1e-5, atol=1e-6)
    assert whole.shape == (96, 2, 3)
    np.testing.assert_allclose(whole.sum(-1), 1.0, rtol=1e-5)


def test_members_are_independent(X):
    net = small_net()
    probs = net.predict(stacked(X), verbose=0)
    assert not np.allclose(probs[:, 0], probs[:, 1])  # own initialisation per member


def test_training_noise_changes_every_step(X):
    """A fixed integer seed would draw the same noise each step; a SeedGenerator must not."""
    net = small_net(noise_std=1.0)
    inputs = {"x": stacked(X[:32])}
    # (the denoising cost ignores the noise at initialisation: the combinator starts at zhat = 0)
    first = keras.ops.convert_to_numpy(net(inputs, training=True)["cluster_corrupted"])
    second = keras.ops.convert_to_numpy(net(inputs, training=True)["cluster_corrupted"])
    assert not np.allclose(first, second)


def test_supervised_branch_only_with_pseudo_labels(X):
    net = small_net()
    assert "supervised" not in net({"x": stacked(X[:32])}, training=True)
    y = np.zeros((32, 2), dtype="int32")
    terms = net({"x": stacked(X[:32]), "x_sup": stacked(X[:32]), "y_sup": y}, training=True)
    assert keras.ops.convert_to_numpy(terms["supervised"]).shape == (2,)


def test_stacked_passes_keep_their_own_batch_statistics(X):
    """The clean, corrupted and pseudo-labelled passes share one matmul per layer but must be
    normalised each with its own batch: without noise, the corrupted pass equals the clean one,
    and the supervised logits equal a pass over the pseudo-labelled batch alone."""
    net = small_net(noise_std=0.0)
    x, x_sup = stacked(X[:32]), stacked(X[32:64] * 3.0 + 1.0)  # another batch, other moments
    y = np.array([[0, 1], [2, 0]] * 16, dtype="int32")
    terms = {k: keras.ops.convert_to_numpy(v) for k, v in net({"x": x, "x_sup": x_sup, "y_sup": y}, training=True).items()}
    np.testing.assert_allclose(terms["cluster_clean"], terms["cluster_corrupted"], rtol=1e-6)
    np.testing.assert_allclose(terms["consistency"], 0.0, atol=1e-6)
    _, _, logits = net._encode(keras.ops.transpose(x_sup, (1, 0, 2)), passes=1)
    alone = keras.ops.convert_to_numpy(losses.cross_entropy(logits[:, 0], keras.ops.transpose(y, (1, 0))))
    np.testing.assert_allclose(terms["supervised"], alone, rtol=1e-5)


def test_loss_weights_change_without_recompiling(X):
    net = small_net(noise_std=0.0)
    inputs = {"x": stacked(X[:32])}
    net.fit(inputs, batch_size=32, epochs=1, shuffle=False, verbose=0)
    train_function = net.train_function
    net.set_loss_weights(w_ladder=0.0, w_cluster=0.0, w_kl=0.0)
    logs = net.fit(inputs, batch_size=32, epochs=1, shuffle=False, verbose=0).history
    assert net.train_function is train_function
    assert logs["loss"][-1] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="unknown loss weight"):
        net.set_loss_weights(w_typo=1.0)


def test_save_and_load_round_trip(X, tmp_path):
    net = small_net(last_layer_bn=True, loss="dot")
    net.fit({"x": stacked(X)}, batch_size=32, epochs=1, shuffle=False, verbose=0)
    path = str(tmp_path / "ladder.keras")
    net.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_config()["loss"] == "dot" and loaded.last_layer_bn
    np.testing.assert_allclose(loaded.predict(stacked(X), verbose=0), net.predict(stacked(X), verbose=0), rtol=1e-6)


PROBE = textwrap.dedent(
    """
    import json, sys
    import numpy as np, keras
    from kingdra.ladder import LadderNetwork
    rng = np.random.default_rng(3)
    net = LadderNetwork(6, 3, hidden_sizes=(8, 5), seeds=[1, 2], noise_std=0.0, last_layer_bn=True)
    for v in net.trainable_variables:
        v.assign(rng.normal(size=v.shape).astype("float32") * 0.5)
    for norm in net.norms:
        norm.moving_mean.assign(rng.normal(size=norm.moving_mean.shape).astype("float32"))
        norm.moving_var.assign(rng.uniform(0.5, 2.0, size=norm.moving_var.shape).astype("float32"))
    x = rng.normal(size=(16, 2, 6)).astype("float32")
    y = rng.integers(0, 3, size=(16, 2)).astype("int32")
    probs = net.predict(x, verbose=0)
    terms = net({"x": x, "x_sup": x, "y_sup": y}, training=True)
    out = {k: keras.ops.convert_to_numpy(v).tolist() for k, v in terms.items()}
    out["total"] = float(keras.ops.convert_to_numpy(net.compute_loss(y_pred=terms)))
    out["probs"] = probs.tolist()
    json.dump(out, sys.stdout)
    """
)


def run_probe(backend):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_tensorflow_and_jax_agree():
    tf, jax = run_probe("tensorflow"), run_probe("jax")
    assert set(tf) == set(jax) == {"denoise", "cluster_clean", "cluster_corrupted", "consistency", "supervised",
                                   "total", "probs"}
    for key in tf:
        np.testing.assert_allclose(np.array(tf[key]), np.array(jax[key]), rtol=2e-4, atol=1e-5, err_msg=key)
