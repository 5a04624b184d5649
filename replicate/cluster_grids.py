"""Cluster grids: one row per final cluster of a run, 15 random members, the errors framed in red.

Each row names the class holding a majority of the cluster ("unk" when none does), its size and
the share of its commonest class; a member of another class than that one is framed red, in every
row. The images are read from the file the run recorded, so the labels sit on the right pixels.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from kingdra.datasets import DATASETS, load

from .records import portable_source, run_name

PER_ROW = 15
RED, WHITE = np.array([0.85, 0.1, 0.1]), np.ones(3)


def cluster_rows(labels, y, class_names, per_row=PER_ROW, seed=0) -> list[dict]:
    """One dict per non-empty cluster: its name (majority class or "unk"), its commonest class and
    the share it holds (purity), up to `per_row` random members, and which of them are of another
    class than the commonest, in every row, "unk" rows too. Rows are ordered by class, "unk" last."""
    rng = np.random.default_rng(seed)
    rows = []
    for cluster in np.unique(labels):
        points = np.flatnonzero(labels == cluster)
        counts = np.bincount(y[points], minlength=len(class_names))
        commonest = int(counts.argmax())
        majority = commonest if counts.max() * 2 > len(points) else None
        shown = rng.choice(points, size=min(per_row, len(points)), replace=False)
        rows.append({
            "cluster": int(cluster),
            "name": "unk" if majority is None else class_names[majority],
            "majority": majority,
            "commonest": class_names[commonest],
            "purity": float(counts.max() / len(points)),
            "size": len(points),
            "shown": shown,
            "wrong": y[shown] != commonest,
        })
    return sorted(rows, key=lambda r: (r["majority"] is None, r["majority"] or 0, r["cluster"]))


def mosaic(images, rows, border=2) -> np.ndarray:
    """RGB canvas: a tile per shown member, framed red when wrong and white otherwise.
    `images` is (n, h, w) or (n, h, w, 3), values in [0, 1]."""
    h, w = images.shape[1:3]
    tile_h, tile_w = h + 2 * border, w + 2 * border
    canvas = np.ones((len(rows) * tile_h, PER_ROW * tile_w, 3))
    for r, row in enumerate(rows):
        for c, (index, wrong) in enumerate(zip(row["shown"], row["wrong"])):
            top, left = r * tile_h, c * tile_w
            canvas[top:top + tile_h, left:left + tile_w] = RED if wrong else WHITE
            image = images[index]
            canvas[top + border:top + border + h, left + border:left + border + w] = (
                image[..., None] if image.ndim == 2 else image)
    return canvas


def plot_cluster_grid(images, labels, y, class_names, caption, seed=0):
    rows = cluster_rows(labels, y, class_names, seed=seed)
    canvas = mosaic(images, rows)
    tile_h = canvas.shape[0] / len(rows)
    fig, ax = plt.subplots(figsize=(PER_ROW * 0.55 + 1.5, len(rows) * 0.55 + 0.8))
    ax.imshow(canvas, interpolation="nearest")
    ax.set_yticks([(r + 0.5) * tile_h for r in range(len(rows))],
                  [f"{row['name']}: {row['size']}, {100 * row['purity']:.0f}% {row['commonest']}" for row in rows])
    ax.set_xticks([])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(caption, fontsize=9)
    fig.text(0.5, 0.005, "row: the class holding a majority of the cluster (\"unk\": none does): its size and the "
             "share of its commonest class; 15 random members each, framed red when not of that class",
             ha="center", va="bottom", fontsize=6, color="0.3", wrap=True)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def dataset_images(dataset, run):
    """The dataset's raw images in [0, 1] and its classes, in the order `run`'s labels follow: read
    from the file the run recorded (CIFAR-10's two sources order their rows differently), and
    refused if the data here is not what the run clustered."""
    recorded = run["data"]["source"]  # portable: read_run
    kwargs = {"extractor": None} if DATASETS[dataset].extracted else {}
    if DATASETS[dataset].several_sources:
        kwargs["source"] = recorded.split(" (")[0]  # "<file name> (<its checksum's provenance>)"
    X, y, info = load(dataset, **kwargs)
    if portable_source(info.source) != recorded or len(y) != run["data"]["shape"][0]:
        raise ValueError(f"{run_name(run['dataset'], run['method'], run['profile'], run['seed'])} clustered "
                         f"{run['data']['shape'][0]} rows from {recorded!r}, but the images here are {len(y)} rows "
                         f"from {info.source!r}: its labels would sit on the wrong images. Put that file in the "
                         "data directory, or rerun the run on the data here")
    images = X.reshape(len(X), *DATASETS[dataset].image_shape)
    return images / images.max(), y  # digits come as 0-16, the rest as [0, 1]
