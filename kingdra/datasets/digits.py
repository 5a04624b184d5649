"""scikit-learn's bundled 8x8 digits (1797 x 64): a small dataset for demos and quick checks."""
from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from .base import DatasetInfo

VERSION = "1"


def load(data_dir=None):
    """`data_dir` is accepted for a uniform interface: the data ship with scikit-learn."""
    digits = load_digits()
    info = DatasetInfo(
        "digits", "sklearn.datasets.load_digits (bundled with scikit-learn)", "exact",
        "pixel intensities / 16, 64-d", None, VERSION, tuple(str(d) for d in range(10)),
    )
    return digits.data.astype(np.float32) / 16.0, digits.target, info
