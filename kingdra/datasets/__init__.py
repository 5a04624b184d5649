"""The paper's datasets as the matrices it clustered (docs/paper.md §2), and a loader for a user's images.

    X, y, info = load("mnist")                                   # 70000 x 784 in [0, 1]
    X, y, info = load("cifar10", extractor="efficientnet-lite0") # the named ResNet-50 substitute
    X, y, info = load_image_folder("photos/")                    # photos/<class>/<image>

Raw files are looked for in `data_dir` (argument, else $KINGDRA_DATA_DIR, else
~/.cache/kingdra/data) and downloaded there when absent; built matrices are cached under
$KINGDRA_CACHE_DIR (default ~/.cache/kingdra).

`DATASETS` is the one registry of datasets: the loader, `make data`, the runner, the table and the
figures all read it. A new dataset is a loader module, one entry below and one
`replicate/configs/<name>.json`; its table column and figures follow from its run files.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import numpy as np

from . import cifar10, digits, mnist, newsgroups, reuters10k, stl10
from .base import DatasetInfo, as_matrix
from .features import DEFAULT_EXTRACTOR, EXTRACTORS
from .image_folder import load_image_folder


@dataclasses.dataclass(frozen=True)
class Dataset:
    """What the code needs to know of one dataset."""

    load: Callable  # (data_dir[, extractor=]) -> (X, y, DatasetInfo)
    title: str  # its name in tables and figures (the paper's, for the paper's datasets)
    image_shape: tuple | None = None  # one sample's raw pixels, (H, W) or (H, W, C): cluster grids; None: not images
    extracted: bool = False  # images clustered as CNN features: `load` takes extractor= (None: raw pixels)
    in_paper: bool = False  # a column of the paper's Table 1 (`make table1` runs these)
    # How the loader orders the rows, which is the order the release's feed (feed_order "given")
    # would train round 0 in; "sorted by class" means a paper profile feeds one fixed permutation.
    row_order: str = "file order"
    # Its matrix's shape, for planning without building it: rows, and columns (None: the extractor's width).
    rows: int = 0
    columns: int | None = None
    several_sources: bool = False  # `load` takes source= (a file name): its raw files differ in row order


DATASETS = {  # the paper's datasets first, in its column order
    "mnist": Dataset(mnist.load, "MNIST", image_shape=(28, 28), in_paper=True,
                     row_order="file order: the IDX files, train then test (the release's feed)", rows=70000,
                     columns=784),
    "stl10": Dataset(stl10.load, "STL", image_shape=(96, 96, 3), extracted=True, in_paper=True,
                     row_order="file order: the binary files, train then test", rows=13000),
    "cifar10": Dataset(cifar10.load, "CIFAR10", image_shape=(32, 32, 3), extracted=True, in_paper=True,
                       row_order="sorted by class where read from the JPEG mirror (the official batches are not)",
                       rows=60000, several_sources=True),
    "reuters10k": Dataset(reuters10k.load, "Reuters", in_paper=True,
                          row_order="file order: RCV1's documents, a seeded draw kept in order", rows=10000,
                          columns=2000),
    "20news": Dataset(newsgroups.load, "20news", in_paper=True,
                      row_order="sorted by class: read group by group, train then test", rows=18846, columns=2000),
    # the l2-normalised rows without the released scaling; see newsgroups.py
    "20news-unscaled": Dataset(functools.partial(newsgroups.load, scaled=False), "20news (unscaled)",
                               row_order="sorted by class: read group by group, train then test", rows=18846,
                               columns=2000),
    "digits": Dataset(digits.load, "digits", image_shape=(8, 8), row_order="file order: runs of 0-9", rows=1797,
                      columns=64),
}
TABLE_DATASETS = tuple(name for name, d in DATASETS.items() if d.in_paper)

__all__ = ["DATASETS", "DEFAULT_EXTRACTOR", "EXTRACTORS", "TABLE_DATASETS", "Dataset", "DatasetInfo", "check_dataset",
           "load", "load_image_folder", "shape", "title"]


def check_dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name]


def title(name: str) -> str:
    """A dataset's name in tables and figures; a name outside the registry stays as it is."""
    return DATASETS[name].title if name in DATASETS else name


def shape(name: str, extractor: str | None = DEFAULT_EXTRACTOR) -> tuple[int, int]:
    """(rows, columns) of `load(name, extractor=...)`'s X, known without loading or extracting anything."""
    dataset = check_dataset(name)
    if not dataset.extracted:
        return dataset.rows, dataset.columns
    if extractor is None:
        return dataset.rows, int(np.prod(dataset.image_shape))
    return dataset.rows, EXTRACTORS[extractor].dim


def load(name: str, data_dir=None, extractor: str | None = DEFAULT_EXTRACTOR, source: str | None = None):
    """X (float32, n x d), y (int64, n) and a DatasetInfo for one of `DATASETS`.

    `extractor` applies to the image datasets (cifar10, stl10): "resnet50" (the paper's),
    "efficientnet-lite0" (the substitute, recorded as such in the info) or None for raw pixels.
    `source` names the raw file to read where a dataset has several (CIFAR-10); None: the best here.
    """
    dataset = check_dataset(name)
    if source is not None:
        if not dataset.several_sources:
            raise ValueError(f"{name!r} has one source; source= applies to "
                             f"{[n for n, d in DATASETS.items() if d.several_sources]}")
        return as_matrix(*dataset.load(data_dir, extractor=extractor, source=source))
    if dataset.extracted:
        return as_matrix(*dataset.load(data_dir, extractor=extractor))
    if extractor != DEFAULT_EXTRACTOR:
        extracted = [n for n, d in DATASETS.items() if d.extracted]
        raise ValueError(f"extractor= applies to the image datasets {extracted} only, not {name!r}")
    return as_matrix(*dataset.load(data_dir))
