"""STL-10: the 13000 labelled images (5000 train then 8000 test) as pooled ImageNet CNN features."""
from __future__ import annotations

import tarfile

import numpy as np

from .base import DatasetInfo, cached, data_dir as resolve_data_dir
from .download import RemoteFile, fetch
from .features import DEFAULT_EXTRACTOR, describe, feature_tag, image_features

VERSION = "1"
CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")
ARCHIVE = RemoteFile(
    "stl10_binary.tar.gz",
    "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
    {"md5:91f7769df0f17e558f3565bffb0c7dfb": "canonical"},
)
MEMBERS = ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin")


def read_archive(path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, 96, 96, 3) and labels 0-9, train then test.

    Each image is stored channel by channel, each channel column-major; labels are bytes 1-10.
    Reading stops once the four labelled files are in, skipping the 2.6 GB unlabelled split.
    """
    data = {}
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            name = member.name.rsplit("/", 1)[-1]
            if name in MEMBERS:
                data[name] = np.frombuffer(archive.extractfile(member).read(), np.uint8)
                if len(data) == len(MEMBERS):
                    break
    missing = sorted(set(MEMBERS) - set(data))
    if missing:
        raise ValueError(f"{path} lacks {missing}: not the STL-10 binary archive")
    images = [data[f"{split}_X.bin"].reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1) for split in ("train", "test")]
    labels = [data[f"{split}_y.bin"].astype(np.int64) - 1 for split in ("train", "test")]
    return np.concatenate(images), np.concatenate(labels)


def load(data_dir=None, extractor: str | None = DEFAULT_EXTRACTOR):
    root = resolve_data_dir(data_dir)

    def build():
        path, provenance = fetch(ARCHIVE, root)
        images, y = read_archive(path)
        info = DatasetInfo(
            "stl10", f"{path.name} ({provenance})", "exact", describe(extractor), extractor,
            f"v{VERSION} ({feature_tag(extractor)})", CLASSES,
        )
        return image_features(images, extractor, root), y, info

    return cached(f"stl10-{feature_tag(extractor)}-v{VERSION}", build, store=extractor is not None)
