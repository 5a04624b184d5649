"""Image features: the torch-free checkpoint reader, the EfficientNet-Lite0 port, extraction, caching."""
import pickle
import urllib.error

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from kingdra.datasets import download, efficientnet_lite, features, image_folder, load_image_folder
from kingdra.datasets.torch_checkpoint import MAGIC, load_state_dict

LITE0 = "efficientnet-lite0"


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KINGDRA_CACHE_DIR", str(tmp_path / "cache"))


def test_checkpoint_reader_gives_every_tensor():
    state = load_state_dict(efficientnet_lite.checkpoint_path())
    assert len(state) == 296
    stem = state["_conv_stem.weight"]  # stored channels-last: strides must be honoured
    assert stem.shape == (32, 3, 3, 3) and stem.dtype == np.float32 and stem.flags.c_contiguous
    assert state["_fc.weight"].shape == (1000, 1280) and state["_bn0.num_batches_tracked"].dtype == np.int64


def test_checkpoint_reader_refuses_foreign_code(tmp_path):
    path = tmp_path / "evil.pth"
    path.write_bytes(b"".join(pickle.dumps(part, protocol=2) for part in (MAGIC, 1001, {}, print)))
    with pytest.raises(pickle.UnpicklingError, match="refusing to load .*print"):
        load_state_dict(path)


def test_efficientnet_lite0_classifies_the_daisy():
    """Weights are loaded right: logits match the PyTorch reference implementation on this input.

    Reference: efficientnet-lite-pytorch 0.1.0 under torch 2.13 on the same preprocessed image.
    """
    model = efficientnet_lite.build(include_top=True)
    flower = Image.fromarray(load_sample_image("flower.jpg")).resize((224, 224), Image.Resampling.BILINEAR)
    logits = np.asarray(model.predict_on_batch(efficientnet_lite.preprocess(np.asarray(flower)[None])))[0]
    top = np.argsort(logits)[::-1][:5]
    assert top[0] == 985  # ImageNet "daisy"
    assert top.tolist() == [985, 309, 738, 994, 599]
    np.testing.assert_allclose(logits[top], [6.3059, 5.6343, 5.0626, 4.7941, 4.7072], atol=2e-3)


def test_cnn_features_of_a_handful_of_images():
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    X = features.image_features(images, LITE0, batch_size=2)
    assert X.shape == (3, 1280) and X.dtype == np.float32
    assert np.all(X >= 0) and np.all(X <= 6)  # averages of ReLU6 outputs
    np.testing.assert_allclose(features.image_features(images[1:2], LITE0, batch_size=1)[0], X[1], atol=1e-4)


def make_folder(root, sizes):
    rng = np.random.default_rng(1)
    for i, (label, size) in enumerate(sizes):
        (root / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    (root / "dogs" / "notes.txt").write_text("not an image")
    return root


def test_image_folder_features_are_cached(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "pets", [("cats", (40, 30)), ("cats", (50, 50)), ("dogs", (20, 20))])
    X, y, info = load_image_folder(root, extractor=LITE0)
    assert X.shape == (3, 1280) and y.tolist() == [0, 0, 1] and info.class_names == ("cats", "dogs")
    assert info.extractor == LITE0 and "SUBSTITUTE" in info.features

    def no_extraction(*args, **kwargs):
        raise AssertionError("features were extracted again instead of read from the cache")

    monkeypatch.setattr(image_folder, "image_features", no_extraction)
    X2, y2, info2 = load_image_folder(root, extractor=LITE0)
    np.testing.assert_array_equal(X2, X)
    assert info2 == info and y2.tolist() == y.tolist()


def test_image_folder_raw_pixels(tmp_path):
    root = make_folder(tmp_path / "pets", [("cats", (40, 30)), ("dogs", (20, 20))])
    X, y, _ = load_image_folder(root, extractor=None, image_size=(8, 8))
    assert X.shape == (2, 8 * 8 * 3) and 0 <= X.min() and X.max() <= 1
    with pytest.raises(ValueError, match="image_size"):
        load_image_folder(root, extractor=None)
    (tmp_path / "no-images" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="<class>"):
        load_image_folder(tmp_path / "no-images", extractor=None)


def test_an_image_folder_without_classes_is_unlabelled(tmp_path):
    root = make_folder(tmp_path / "pets", [("cats", (40, 30)), ("dogs", (20, 20))])
    X, y, info = load_image_folder(root / "cats", extractor=None, image_size=(8, 8))  # images directly in it
    assert X.shape == (1, 192) and y.tolist() == [-1] and info.class_names == ()
    X, y, info = load_image_folder(root, extractor=None, image_size=(8, 8), labelled=False)
    assert X.shape == (2, 192) and y.tolist() == [-1, -1] and info.class_names == ()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "loose.png")
    with pytest.raises(ValueError, match="both directly and in subfolders.*labelled=True"):
        load_image_folder(root, extractor=None, image_size=(8, 8))
    X, y, info = load_image_folder(root, extractor=None, image_size=(8, 8), labelled=True)
    assert y.tolist() == [0, 1] and info.class_names == ("cats", "dogs")  # the loose image is not a class


def test_resnet50_without_weights_points_to_the_substitute(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(download, "urlopen", offline)
    images = np.zeros((1, 32, 32, 3), np.uint8)
    with pytest.raises(FileNotFoundError, match="resnet50_weights.*extractor='efficientnet-lite0'"):
        features.image_features(images, "resnet50", directory=tmp_path)
    with pytest.raises(ValueError, match="extractor='vgg16' is unknown"):
        features.image_features(images, "vgg16")
