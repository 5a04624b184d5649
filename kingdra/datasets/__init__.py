"""The paper's datasets as the matrices it clustered (docs/paper.md §2), and a loader for a user's images.

    X, y, info = load("mnist")                                   # 70000 x 784 in [0, 1]
    X, y, info = load("cifar10", extractor="efficientnet-lite0") # the named ResNet-50 substitute
    X, y, info = load_image_folder("photos/")                    # photos/<class>/<image>

Raw files are looked for in `data_dir` (argument, else $KINGDRA_DATA_DIR, else
~/.cache/kingdra/data) and downloaded there when absent; built matrices are cached under
$KINGDRA_CACHE_DIR (default ~/.cache/kingdra).
"""
from __future__ import annotations

import functools

from . import cifar10, digits, mnist, newsgroups, reuters10k, stl10
from .base import DatasetInfo, as_matrix
from .features import DEFAULT_EXTRACTOR, EXTRACTORS
from .image_folder import load_image_folder

LOADERS = {
    "mnist": mnist.load,
    "cifar10": cifar10.load,
    "stl10": stl10.load,
    "reuters10k": reuters10k.load,
    "20news": newsgroups.load,
    "20news-unscaled": functools.partial(newsgroups.load, scaled=False),  # the l2 rows; see newsgroups.py
    "digits": digits.load,
}
IMAGE_DATASETS = ("cifar10", "stl10")
TABLE_DATASETS = ("mnist", "stl10", "cifar10", "reuters10k", "20news")  # the paper's Table 1 columns

__all__ = ["DEFAULT_EXTRACTOR", "EXTRACTORS", "LOADERS", "TABLE_DATASETS", "DatasetInfo", "load", "load_image_folder"]


def load(name: str, data_dir=None, extractor: str | None = DEFAULT_EXTRACTOR):
    """X (float32, n x d), y (int64, n) and a DatasetInfo for one of `LOADERS`.

    `extractor` applies to the image datasets (cifar10, stl10): "resnet50" (the paper's),
    "efficientnet-lite0" (the substitute, recorded as such in the info) or None for raw pixels.
    """
    if name not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(LOADERS)}")
    if name in IMAGE_DATASETS:
        return as_matrix(*LOADERS[name](data_dir, extractor=extractor))
    if extractor != DEFAULT_EXTRACTOR:
        raise ValueError(f"extractor= applies to the image datasets {IMAGE_DATASETS} only, not {name!r}")
    return as_matrix(*LOADERS[name](data_dir))
