"""Cluster a matrix from the command line.

    python -m kingdra fit data.npy --clusters 10 -o labels.npy
    python -m kingdra fit data.csv --clusters 5 --members 4 --pseudo-label-rounds 2 --layers 256 256 --standardize -o labels.csv

The input is a 2-D .npy array, a .csv/.tsv/.txt table of numbers (a header row is skipped), one
row per sample, or a folder of images (CNN features, cached; any class subfolders are ignored).
Every KingdraCluster setting has a flag; the defaults are the library's, which finish in minutes on
a CPU for about 10000 points (5 members, round 0 of 10 epochs, 3 pseudo-label rounds of 2; the
paper's settings are replicate.config.paper_settings). The labels go to -o as .npy, or one per line
for .csv/.txt. Progress is a line per round; no ground-truth labels are read.
"""
from __future__ import annotations

import argparse
import inspect
import sys
import time
from pathlib import Path

import numpy as np

from kingdra.cluster import KingdraCluster
from kingdra.renamed import RENAMED

TEXT_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": None}


def read_matrix(path: Path, extractor="efficientnet-lite0", image_size=None) -> np.ndarray:
    if not path.exists():
        raise SystemExit(f"error: {path} does not exist")
    if path.is_dir():
        from kingdra.datasets import load_image_folder

        try:
            return load_image_folder(path, extractor=extractor, image_size=image_size, labelled=False)[0]
        except ValueError as err:
            raise SystemExit(f"error: {err}") from None
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if path.suffix not in TEXT_SUFFIXES:
        raise SystemExit(f"error: {path} is neither .npy nor one of {sorted(TEXT_SUFFIXES)}")
    delimiter = TEXT_SUFFIXES[path.suffix]
    try:
        return np.loadtxt(path, delimiter=delimiter, ndmin=2)
    except ValueError:  # a header row, or text in the body: try once without the first row
        try:
            return np.loadtxt(path, delimiter=delimiter, ndmin=2, skiprows=1)
        except ValueError as err:
            raise SystemExit(f"error: {path} is not a table of numbers after its first row ({err})") from None


def write_labels(path: Path, labels) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, labels)
    else:
        np.savetxt(path, labels, fmt="%d")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kingdra", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("fit", help="cluster a matrix and write its labels",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    fit.add_argument("data", type=Path, help=".npy, .csv, .tsv or .txt, one row per sample; or a folder of images")
    fit.add_argument("--extractor", default="efficientnet-lite0",
                     help="for an image folder: efficientnet-lite0 (default), resnet50, or none for raw pixels")
    fit.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), help="for an image folder: resize to H x W")
    fit.add_argument("--clusters", type=int, required=True, help="number of clusters K")
    fit.add_argument("-o", "--output", type=Path, required=True, help="labels: .npy, or one per line (.csv/.txt)")
    fit.add_argument("--standardize", action="store_true", help="scale every column to mean 0, std 1 first")
    fit.add_argument("--layers", type=int, nargs="+", dest="layer_sizes", help="hidden widths (default 1200 1200)")
    defaults = inspect.signature(KingdraCluster.__init__).parameters
    flags = {"members": int, "pseudo_label_rounds": int, "epochs_unsupervised": int, "epochs": int, "t_low": int,
             "t_high": int, "thresh": float, "noise_std": float, "w_cluster": float, "lr": float, "batch_size": int,
             "loss": str, "ensemble": str, "checkpoint_dir": str, "seed": int}
    old_flags = {new: old for old, new in RENAMED.items()}  # the old spellings still work
    for name, kind in flags.items():
        spellings = [f"--{n.replace('_', '-')}" for n in (name, old_flags.get(name)) if n]
        fit.add_argument(*spellings, type=kind, dest=name, help=f"default {defaults[name].default!r}")
    fit.add_argument("--mu", type=float, help="IM loss: weight of the marginal entropy (default 4.0, the paper's)")
    fit.add_argument("--feed-order", choices=("shuffle", "given", "permuted"), dest="feed_order",
                     help="row order of rounds without pseudo-labels: a new one every epoch (default), the file's "
                          "own (the release's feed; only if rows are not sorted by class), or one fixed permutation")
    fit.add_argument("-v", "--verbose", action="count", default=1, help="-v: a line per member and epoch too")
    return parser


def main(argv=None) -> int:
    args = vars(build_parser().parse_args(argv))
    args.pop("command")
    data, output, standardize = args.pop("data"), args.pop("output"), args.pop("standardize")
    extractor, image_size = args.pop("extractor"), args.pop("image_size")
    X = read_matrix(data, None if extractor == "none" else extractor, image_size)
    if standardize:
        std = X.std(axis=0)
        X = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    settings = {k: v for k, v in args.items() if v is not None}
    settings["n_clusters"] = settings.pop("clusters")
    if "mu" in settings:
        settings["loss_params"] = {"mu": settings.pop("mu")}
    model = KingdraCluster(**settings)
    print(f"{data}: {X.shape[0]} x {X.shape[1] if X.ndim == 2 else '?'}; {model.members} members, "
          f"{model.pseudo_label_rounds} pseudo-label rounds, layers {'-'.join(map(str, model.layer_sizes))}-{model.n_clusters}",
          flush=True)
    started = time.perf_counter()
    try:
        labels = model.fit_predict(X)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    write_labels(output, labels)
    sizes = np.bincount(labels, minlength=model.n_clusters)
    last = model.history_[-1]
    print(f"wrote {len(labels)} labels to {output} ({time.perf_counter() - started:.0f} s); cluster sizes "
          f"{sizes.min()}-{sizes.max()}; last round trained on {last['pseudo_labels']} pseudo-labels "
          f"({100 * last['pseudo_labels'] / len(labels):.1f} % of the points)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
