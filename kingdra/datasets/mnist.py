"""MNIST: 70000 x 784 raw pixels / 255, train then test (docs/paper.md §2)."""
from __future__ import annotations

import gzip

import numpy as np

from .base import DatasetInfo
from .download import RemoteFile, fetch_all

VERSION = "1"
URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MD5 = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}
FILES = {stem: RemoteFile(f"mnist/{stem}.gz", f"{URL}{stem}.gz", {f"md5:{md5}": "canonical"}) for stem, md5 in MD5.items()}


def read_idx(path) -> np.ndarray:
    """An IDX file (gzipped): big-endian header of magic (dtype, rank) and dimensions, then uint8 data."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    zeros, dtype, rank = data[0:2], data[2], data[3]
    if zeros != b"\0\0" or dtype != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=rank, offset=4))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(shape)


def load(data_dir=None):
    paths = {stem: path for stem, (path, _) in zip(FILES, fetch_all(FILES.values(), data_dir))}
    images = [read_idx(paths[f"{split}-images-idx3-ubyte"]) for split in ("train", "t10k")]
    labels = [read_idx(paths[f"{split}-labels-idx1-ubyte"]) for split in ("train", "t10k")]
    X = np.concatenate(images).reshape(-1, 28 * 28).astype(np.float32) / 255.0
    info = DatasetInfo(
        "mnist", f"canonical IDX files ({URL}), md5-verified",
        "exact", "raw pixels / 255, 784-d", None, VERSION, tuple(str(d) for d in range(10)),
    )
    return X, np.concatenate(labels), info
