"""Where data lives, what a loaded dataset says about itself, and the on-disk cache of built matrices."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Provenance of a loaded matrix: enough to tell two results apart that used different data."""

    name: str
    source: str  # the raw file(s) it was built from, by name, and which checksum they matched; no directory
    fidelity: str  # "exact", or how the raw data departs from the canonical release
    features: str  # how X was computed from the raw data
    extractor: str | None  # image feature extractor (None: not a CNN feature matrix)
    version: str  # bumped whenever the construction changes; part of the cache key
    class_names: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> DatasetInfo:
        fields = json.loads(text)
        return cls(**{**fields, "class_names": tuple(fields["class_names"])})


def cache_root() -> Path:
    """Built matrices and default downloads: $KINGDRA_CACHE_DIR, else ~/.cache/kingdra."""
    return Path(os.environ.get("KINGDRA_CACHE_DIR") or Path.home() / ".cache" / "kingdra")


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """Raw files: the `data_dir` argument, else $KINGDRA_DATA_DIR (a mirror), else the cache.

    An empty variable counts as unset because the Makefile exports it empty when no mirror exists.
    """
    chosen = override or os.environ.get("KINGDRA_DATA_DIR") or cache_root() / "data"
    return Path(chosen).expanduser()


def cached(key: str, build, store: bool = True):
    """Return `build()` = (X, y, info), stored under the cache as `<key>.npz` after the first call.

    The key names the dataset, its source, the extractor and the version, so a change of any of
    them builds afresh instead of returning stale features. `store=False` skips the cache for
    matrices that are quicker to rebuild than to keep (raw pixels).
    """
    if not store:
        return build()
    path = cache_path(key)
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            return stored["X"], stored["y"], DatasetInfo.from_json(str(stored["info"]))
    X, y, info = build()
    with atomic_file(path) as tmp:
        np.savez(tmp, X=X, y=y, info=np.array(info.to_json()))
    return X, y, info


def cache_path(key: str) -> Path:
    return cache_root() / "features" / f"{key}.npz"


@contextlib.contextmanager
def atomic_file(path: Path):
    """Yield a temporary file beside `path` that replaces `path` only if the block completes.

    An interrupted or failed write leaves no file under the final name, so a partial file is
    never mistaken for a good one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False)
    try:
        with tmp:
            yield tmp
        os.chmod(tmp.name, 0o644)  # temporary files are created owner-only; data files need not be
        os.replace(tmp.name, path)
    except BaseException:
        os.unlink(tmp.name)
        raise


def as_matrix(X, y, info: DatasetInfo):
    """The contract every loader meets: float32 rows, int64 labels, one label per row."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"{info.name}: built X {X.shape} and y {y.shape} do not match; rebuild the cache")
    return X, y, info
