"""Dataset loaders: the real mirrored data, and small synthetic files in each published format."""
import dataclasses
import gzip
import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kingdra import datasets
from kingdra.datasets import cifar10, download, mnist, reuters10k, stl10

MIRROR = Path(os.environ.get("KINGDRA_DATA_DIR") or "/nonexistent")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Every test builds into its own cache, never the user's."""
    monkeypatch.setenv("KINGDRA_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def mirrored(name):
    path = MIRROR / name
    if not path.exists():
        pytest.skip(f"{name} is not in KINGDRA_DATA_DIR ({MIRROR}); run with the local mirror")
    return path


def trust(monkeypatch, module, attribute, path):
    """Point a RemoteFile's checksum at a synthetic file, so the loader accepts it."""
    remote = getattr(module, attribute)
    md5 = hashlib.md5(Path(path).read_bytes()).hexdigest()
    monkeypatch.setattr(module, attribute, dataclasses.replace(remote, checksums={f"md5:{md5}": "synthetic"}))


def add_member(archive, name, data: bytes):
    member = tarfile.TarInfo(name)
    member.size = len(data)
    archive.addfile(member, io.BytesIO(data))


# --- real mirrored data ---------------------------------------------------------------------------

def test_mnist_from_mirror():
    for remote in mnist.FILES.values():
        assert download.verify(mirrored(remote.name), remote) == "canonical"
    X, y, info = datasets.load("mnist")
    assert X.shape == (70000, 784) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.bincount(y).tolist() == [6903, 7877, 6990, 7141, 6824, 6313, 6876, 7293, 6825, 6958]
    assert info.fidelity == "exact" and info.extractor is None
    assert X.shape == datasets.shape("mnist") and "/" not in info.source.split("(")[0]


def test_cifar10_jpeg_mirror_tree():
    path = mirrored(cifar10.MIRROR.name)
    assert download.verify(path, cifar10.MIRROR) == "local JPEG re-encoding mirror"
    images, y = cifar10.read_mirror(path)
    assert images.shape == (60000, 32, 32, 3) and images.dtype == np.uint8
    assert np.bincount(y).tolist() == [6000] * 10
    # Train first, and close to the official training set's per-channel means (lossy re-encoding).
    means = images[:50000].reshape(-1, 3).mean(axis=0) / 255
    np.testing.assert_allclose(means, [0.49139968, 0.48215841, 0.44653091], atol=2e-4)


def test_20news_from_mirror():
    mirrored("20news-bydate.tar.gz")
    X, y, info = datasets.load("20news")
    assert X.shape == (18846, 2000) and X.dtype == np.float32
    assert len(info.class_names) == 20 and np.bincount(y).min() > 300
    assert info.class_names[0] == "alt.atheism" and "mirror" in info.source
    # l2 rows scaled by sqrt(2000): entries on the scale the released noise std (0.3) assumes.
    norms = np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(norms[norms > 0], np.sqrt(2000), rtol=1e-5)
    unscaled, y_unscaled, info_unscaled = datasets.load("20news-unscaled")
    np.testing.assert_allclose(unscaled * np.sqrt(2000), X, rtol=1e-5, atol=1e-6)
    assert (y_unscaled == y).all() and info_unscaled.name == "20news-unscaled" and "unscaled" in info_unscaled.features


# --- synthetic files in the published formats -----------------------------------------------------

def test_stl10_binary_format(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 96, 96, 3), dtype=np.uint8)
    labels = np.array([0, 9, 3, 3, 1])
    path = tmp_path / "stl10_binary.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for split, index in (("train", [0, 1]), ("test", [2, 3, 4])):
            # Per image: each channel in turn, column-major (the format's documentation).
            pixels = b"".join(images[i][:, :, c].flatten(order="F").tobytes() for i in index for c in range(3))
            add_member(archive, f"stl10_binary/{split}_X.bin", pixels)
            add_member(archive, f"stl10_binary/{split}_y.bin", (labels[index] + 1).astype(np.uint8).tobytes())
    trust(monkeypatch, stl10, "ARCHIVE", path)
    X, y, info = datasets.load("stl10", data_dir=tmp_path, extractor=None)
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_allclose(X, images.reshape(5, -1) / 255.0, atol=1e-6)
    assert info.source.endswith("(synthetic)") and info.class_names[9] == "truck"


def write_official_cifar(path, images, labels):
    with tarfile.open(path, "w:gz") as archive:
        for i, name in enumerate(cifar10.BATCHES):
            # Rows of 3072 bytes: the red plane, then green, then blue, each row-major.
            data = np.stack([np.concatenate([images[i][:, :, c].ravel() for c in range(3)])])
            batch = {b"batch_label": name.encode(), b"labels": [int(labels[i])], b"data": data}
            add_member(archive, name, pickle.dumps(batch, protocol=2))


def write_jpeg_mirror(path, colours):
    with tarfile.open(path, "w:gz") as archive:
        for split in ("train", "test"):
            for label, name in enumerate(cifar10.CLASSES):
                jpeg = io.BytesIO()
                Image.new("RGB", (32, 32), colours[label]).save(jpeg, "JPEG", quality=95)
                add_member(archive, f"cifar10-jpeg/{split}/{name}/0000.jpg", jpeg.getvalue())


def test_cifar10_official_tarball_preferred_to_the_mirror(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9])
    write_official_cifar(tmp_path / cifar10.OFFICIAL.name, images, labels)
    write_jpeg_mirror(tmp_path / cifar10.MIRROR.name, [(25 * k, 0, 0) for k in range(10)])
    trust(monkeypatch, cifar10, "OFFICIAL", tmp_path / cifar10.OFFICIAL.name)
    trust(monkeypatch, cifar10, "MIRROR", tmp_path / cifar10.MIRROR.name)
    X, y, info = datasets.load("cifar10", data_dir=tmp_path, extractor=None)
    assert info.fidelity == "exact" and info.source == f"{cifar10.OFFICIAL.name} (synthetic)"
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_allclose(X, images.reshape(6, -1) / 255.0, atol=1e-6)
    # A run that read the mirror is paired with the mirror's rows, whatever else is here.
    _, y_mirror, info_mirror = datasets.load("cifar10", data_dir=tmp_path, extractor=None, source=cifar10.MIRROR.name)
    assert info_mirror.fidelity == "lossy JPEG mirror" and info_mirror.source.startswith(cifar10.MIRROR.name)
    np.testing.assert_array_equal(y_mirror, list(range(10)) * 2)
    with pytest.raises(ValueError, match="has one source"):
        datasets.load("mnist", source="mnist.npz")


def test_a_source_records_no_directory(tmp_path, monkeypatch):
    """The same files in two data directories are the same data: the runner's staleness check
    compares the recorded source, so a path in it would rerun every committed run elsewhere."""
    colours = [(25 * k, 0, 0) for k in range(10)]
    sources = []
    for where in ("one", "elsewhere/two"):
        (tmp_path / where).mkdir(parents=True)
        write_jpeg_mirror(tmp_path / where / cifar10.MIRROR.name, colours)
        trust(monkeypatch, cifar10, "MIRROR", tmp_path / where / cifar10.MIRROR.name)
        sources.append(datasets.load("cifar10", data_dir=tmp_path / where, extractor=None)[2].source)
    assert sources[0] == sources[1] == f"{cifar10.MIRROR.name} (synthetic)"


def test_shapes_are_known_without_loading():
    assert datasets.shape("digits") == datasets.load("digits")[0].shape
    assert datasets.shape("cifar10", "efficientnet-lite0") == (60000, 1280)
    assert datasets.shape("cifar10", "resnet50") == (60000, 2048)
    assert datasets.shape("stl10", None) == (13000, 96 * 96 * 3)
    assert all(d.rows > 0 for d in datasets.DATASETS.values())


def test_cifar10_jpeg_mirror_format(tmp_path, monkeypatch):
    colours = [(25 * k, 200 - 20 * k, 128) for k in range(10)]
    write_jpeg_mirror(tmp_path / cifar10.MIRROR.name, colours)
    trust(monkeypatch, cifar10, "MIRROR", tmp_path / cifar10.MIRROR.name)
    X, y, info = datasets.load("cifar10", data_dir=tmp_path, extractor=None)
    assert info.fidelity == "lossy JPEG mirror"
    np.testing.assert_array_equal(y, list(range(10)) * 2)  # train before test, classes in order
    centre = X.reshape(20, 32, 32, 3)[:, 16, 16] * 255
    np.testing.assert_allclose(centre, colours * 2, atol=4)


def write_rcv1(directory, docs, qrels):
    (directory / "rcv1").mkdir()
    bounds = np.linspace(0, len(docs), 6).astype(int)  # consecutive documents in each of the 5 files
    for remote, start, stop in zip(reuters10k.TOKENS, bounds, bounds[1:]):
        part = docs[start:stop]
        with gzip.open(directory / remote.name, "wt") as f:
            f.writelines(f".I {doc}\n.W\n{text}\n\n" for doc, text in part)
    with gzip.open(directory / reuters10k.QRELS.name, "wt") as f:
        f.writelines(f"{topic} {doc} 1\n" for topic, doc in qrels)


def test_reuters10k_from_rcv1_formats(tmp_path, monkeypatch):
    words = ["market", "stock", "vote", "minist", "bond", "yield", "rate", "trade", "oil", "price"]
    rng = np.random.default_rng(2)
    docs = [(100 + i, " ".join(rng.choice(words, 12))) for i in range(12)]
    topics = ["CCAT", "GCAT", "MCAT", "ECAT"]
    # Child topics (C15...) are not roots; a document under two roots is left out (doc 111).
    qrels = [(topics[i % 4], 100 + i) for i in range(12)] + [("C15", 100), ("GCAT", 111), ("E21", 103)]
    write_rcv1(tmp_path, docs, qrels)
    monkeypatch.setattr(reuters10k, "N_DOCS", 11)
    X, y, info = datasets.load("reuters10k", data_dir=tmp_path)
    assert X.shape == (11, len(words)) and X.dtype == np.float32
    np.testing.assert_array_equal(y, [i % 4 for i in range(11)])
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), np.sqrt(2000), rtol=1e-5)
    assert info.class_names == ("CCAT", "GCAT", "MCAT", "ECAT")
    with pytest.raises(ValueError, match="12 needed"):
        reuters10k.construct([tmp_path / t.name for t in reuters10k.TOKENS], tmp_path / reuters10k.QRELS.name, 12)


# --- the loader interface -------------------------------------------------------------------------

def test_digits_and_argument_errors():
    X, y, info = datasets.load("digits")
    assert X.shape == (1797, 64) and X.dtype == np.float32 and 0 <= X.min() and X.max() == 1
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.load("imagenet")
    with pytest.raises(ValueError, match="image datasets"):
        datasets.load("digits", extractor="efficientnet-lite0")
