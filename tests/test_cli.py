"""`python -m kingdra fit`: a user's matrix from .npy or .csv to a labels file, and clear errors."""
import numpy as np
import pytest
from sklearn.datasets import make_blobs

from kingdra.__main__ import build_parser, main, read_matrix

SMALL = ["--clusters", "3", "--members", "3", "--pseudo-label-rounds", "1", "--epochs-unsupervised", "3", "--epochs", "1",
         "--t-low", "0", "--t-high", "2", "--thresh", "0", "--layers", "16", "16", "--ensemble", "vectorized"]


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(n_samples=240, n_features=8, centers=3, cluster_std=1.0, random_state=0)


def test_fit_writes_labels_and_npy_and_csv_read_alike(blobs, tmp_path, capsys):
    X, _ = blobs
    np.save(tmp_path / "x.npy", X.astype(np.float32))
    np.savetxt(tmp_path / "x.csv", X.astype(np.float32), delimiter=",", header="a,b,c,d,e,f,g,h", comments="")
    np.testing.assert_allclose(read_matrix(tmp_path / "x.csv"), read_matrix(tmp_path / "x.npy"), rtol=1e-6)
    assert main(["fit", str(tmp_path / "x.csv"), *SMALL, "-o", str(tmp_path / "labels.csv")]) == 0
    out = capsys.readouterr().out
    assert "x.csv: 240 x 8; 3 members, 1 pseudo-label rounds, layers 16-16-3" in out
    assert "round   1/1" in out and "wrote 240 labels to" in out
    labels = np.loadtxt(tmp_path / "labels.csv", dtype=int)
    assert labels.shape == (240,) and set(labels) <= {0, 1, 2}


@pytest.mark.parametrize("make, match", [
    (lambda p: None, "does not exist"),
    (lambda p: p.with_suffix(".json").write_text("{}") and None, "neither .npy nor"),
    (lambda p: p.write_text("a,b\n1,x\n"), "not a table of numbers"),
])
def test_bad_files_are_named(tmp_path, make, match):
    path = tmp_path / "x.csv"
    make(path)
    target = path.with_suffix(".json") if "neither" in match else path
    with pytest.raises(SystemExit, match=match):
        main(["fit", str(target), *SMALL, "-o", str(tmp_path / "out.npy")])


def test_bad_settings_get_the_estimators_message(blobs, tmp_path):
    np.save(tmp_path / "x.npy", blobs[0])
    with pytest.raises(SystemExit, match=r"error: lr must be a finite number in \(0, inf\), got -1.0"):
        main(["fit", str(tmp_path / "x.npy"), *SMALL, "--lr", "-1", "-o", str(tmp_path / "out.npy")])
    with pytest.raises(SystemExit, match=r"error: loss_params\['mu'\] must be a finite number, got nan"):
        main(["fit", str(tmp_path / "x.npy"), *SMALL, "--mu", "nan", "-o", str(tmp_path / "out.npy")])


def test_a_folder_of_images_is_read_as_a_matrix(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    assert read_matrix(tmp_path, extractor=None, image_size=(4, 4)).shape == (12, 48)


def test_feed_order_is_a_flag_with_its_three_orders():
    args = ["fit", "x.npy", "--clusters", "3", "-o", "out.npy"]
    assert vars(build_parser().parse_args([*args, "--feed-order", "given"]))["feed_order"] == "given"
    assert vars(build_parser().parse_args(args))["feed_order"] is None  # the estimator's default, shuffle
    with pytest.raises(SystemExit):
        build_parser().parse_args([*args, "--feed-order", "sorted"])
