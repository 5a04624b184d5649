"""CIFAR-10: 60000 images (train then test) as pooled ImageNet CNN features (docs/paper.md §2).

Sources, best first: the official python tarball (exact); the local JPEG re-encoding mirror
(lossy); else the official tarball is downloaded.
"""
from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np

from .base import DatasetInfo, cached, data_dir as resolve_data_dir
from .download import RemoteFile, fetch
from .features import DEFAULT_EXTRACTOR, describe, feature_tag, image_features
from .image_folder import decode

VERSION = "1"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
OFFICIAL = RemoteFile(
    "cifar-10-python.tar.gz",
    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    {"md5:c58f30108f718f92721af3b95e74349a": "canonical"},
)
MIRROR = RemoteFile(
    "cifar10-jpeg.tar.gz",
    None,
    {"sha256:820394552d8cd6cf2834c7f34753d3e36624717e73e6a373a57a01edb25bc5f0": "local JPEG re-encoding mirror"},
)
BATCHES = [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)] + ["cifar-10-batches-py/test_batch"]


def read_official(path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, 32, 32, 3) and labels from the python tarball, in the official batch order."""
    images, labels = [], []
    with tarfile.open(path, "r:gz") as archive:
        for name in BATCHES:
            # Unpickling is safe here only because the archive's checksum was verified first.
            batch = pickle.load(archive.extractfile(name), encoding="bytes")
            images.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.append(np.asarray(batch[b"labels"]))
    return np.concatenate(images), np.concatenate(labels)


def read_mirror(path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images and labels from the `cifar10-jpeg/{train,test}/<class>/<n>.jpg` tarball.

    Train before test, each by class then file number (the mirror does not keep the official order).
    """
    found = []
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 4 and parts[1] in ("train", "test"):
                image = decode(io.BytesIO(archive.extractfile(member).read()))
                found.append((parts[1] != "train", parts[2], parts[3], image))
    classes = sorted({f[1] for f in found})
    if tuple(classes) != CLASSES:
        raise ValueError(f"{path}: class folders {classes} are not CIFAR-10's {list(CLASSES)}")
    found.sort(key=lambda f: f[:3])
    return np.stack([f[3] for f in found]), np.array([CLASSES.index(f[1]) for f in found])


def load(data_dir=None, extractor: str | None = DEFAULT_EXTRACTOR, source: str | None = None):
    """`source`: the file to read, OFFICIAL.name or MIRROR.name (their rows come in different orders);
    None: the official tarball unless only the mirror is here."""
    root = resolve_data_dir(data_dir)
    if source not in (None, OFFICIAL.name, MIRROR.name):
        raise ValueError(f"CIFAR-10 source {source!r} is neither {OFFICIAL.name} nor {MIRROR.name}")
    use_mirror = (source == MIRROR.name if source is not None
                  else (root / MIRROR.name).exists() and not (root / OFFICIAL.name).exists())
    remote, read, tag, fidelity = (
        (MIRROR, read_mirror, "jpeg-mirror", "lossy JPEG mirror") if use_mirror
        else (OFFICIAL, read_official, "official", "exact")
    )

    def build():
        path, provenance = fetch(remote, root)
        images, y = read(path)
        info = DatasetInfo(
            "cifar10", f"{path.name} ({provenance})", fidelity, describe(extractor), extractor,
            f"v{VERSION} ({feature_tag(extractor)})", CLASSES,
        )
        return image_features(images, extractor, root), y, info

    return cached(f"cifar10-{tag}-{feature_tag(extractor)}-v{VERSION}", build, store=extractor is not None)
