"""`python -m kingdra fit`: a user's matrix from .npy or .csv to a labels file, and clear errors."""
import numpy as np
import pytest
from sklearn.datasets import make_blobs

from kingdra.__main__ import main

SMALL = ["--clusters", "3", "--members", "3", "--rounds", "1", "--epochs-first", "3", "--epochs", "1",
         "--t-low", "0", "--t-high", "2", "--thresh", "0", "--layers", "16", "16", "--ensemble", "vectorized"]


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(n_samples=240, n_features=8, centers=3, cluster_std=1.0, random_state=0)


def test_fit_from_npy_and_csv_gives_the_same_labels(blobs, tmp_path, capsys):
    X, _ = blobs
    np.save(tmp_path / "x.npy", X.astype(np.float32))
    np.savetxt(tmp_path / "x.csv", X.astype(np.float32), delimiter=",", header="a,b,c,d,e,f,g,h", comments="")
    assert main(["fit", str(tmp_path / "x.npy"), *SMALL, "-o", str(tmp_path / "a.npy")]) == 0
    assert main(["fit", str(tmp_path / "x.csv"), *SMALL, "-o", str(tmp_path / "b.csv")]) == 0
    out = capsys.readouterr().out
    assert "x.npy: 240 x 8; 3 members, 1 pseudo-label rounds, layers 16-16-3" in out
    assert "round   1/1" in out and "wrote 240 labels to" in out
    a, b = np.load(tmp_path / "a.npy"), np.loadtxt(tmp_path / "b.csv", dtype=int)
    np.testing.assert_array_equal(a, b)  # the header row was skipped, the numbers read alike
    assert a.shape == (240,) and set(a) <= {0, 1, 2}


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


def test_fit_a_folder_of_images(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    assert main(["fit", str(tmp_path), *SMALL, "--extractor", "none", "--image-size", "4", "4",
                 "-o", str(tmp_path / "labels.npy")]) == 0
    assert f"{tmp_path}: 12 x 48;" in capsys.readouterr().out and np.load(tmp_path / "labels.npy").shape == (12,)
