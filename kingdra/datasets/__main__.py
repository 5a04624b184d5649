"""`make data`: build and cache every matrix the tables need that can be had here, then say what is missing.

    python -m kingdra.datasets [DATASET ...]
"""
from __future__ import annotations

import argparse
import sys
import time

from . import EXTRACTORS, TABLE_DATASETS, check_dataset, load
from .base import cache_root, data_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kingdra.datasets", description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", default=TABLE_DATASETS, metavar="DATASET")
    names = parser.parse_args(argv).datasets
    print(f"data directory: {data_dir()}\ncache: {cache_root() / 'features'}")
    missing, failed = [], []
    for name in names:
        for extractor in EXTRACTORS if check_dataset(name).extracted else [None]:
            label = f"{name} [{extractor}]" if extractor else name
            options = {"extractor": extractor} if extractor else {}
            start = time.perf_counter()
            try:
                X, y, info = load(name, **options)
            except FileNotFoundError as err:  # not obtainable here: reported, not fatal
                missing.append((label, err))
                continue
            except Exception as err:  # a corrupt file or a bug: reported, and the exit status says so
                failed.append((label, err))
                continue
            print(
                f"ok      {label}: X {X.shape}, {len(set(y.tolist()))} classes, fidelity {info.fidelity}, "
                f"{time.perf_counter() - start:.1f} s\n        source: {info.source}"
            )
    print("\ncached matrices:")
    for path in sorted((cache_root() / "features").glob("*.npz")):
        print(f"  {path.stat().st_size / 2**20:9.1f} MiB  {path.name}")
    for heading, problems in (("MISSING", missing), ("FAILED", failed)):
        if problems:
            print(f"\n{heading}:")
            for label, err in problems:
                print(f"- {label}: {err}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
