"""The paper's figures, rebuilt from the run files (which keep every run's final labels).

    python -m replicate.figures [--runs-dir results/runs] [--out-dir figures]

- `accuracy_vs_training_<dataset>.png`: accuracy against training spent (member-epochs, summed over
  members) for Ladder-IM, Ladder-IM-ensemble and Kingdra-Ladder-IM, every profile at once, a point per
  Kingdra round, with the paper's accuracies (where it has them) as horizontal lines (ours).
- `<dataset>_clusters_<profile>.png` (each dataset of images with runs): one row per final cluster of a Kingdra-Ladder-IM
  run, 15 random members each, the row named after the class holding a majority of the cluster or
  "unk" when none does; members of another class than the row's are outlined in red.
- `rounds_<profile>.png`: accuracy, pseudo-label coverage and precision per round (ours).
- `precision_coverage_<profile>.png`: pseudo-label precision against coverage, one point per round (ours).

Every file name and title names the profile it came from (or, for the training figure, its legend).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from kingdra.datasets import DATASETS, TABLE_DATASETS, load, title

from . import budget, paper
from .config import load_config
from .environment import REPO, RUNS_DIR
from .run import decode_labels
from .methods import METHODS
from .table import in_table_order, load_runs, profiles_of

FIGURES_DIR = REPO / "figures"  # top level: the repository's design card
KINGDRA_METHODS = ("kingdra-ladder-im", "kingdra-ladder-dot")
TRAINING_METHODS = ("ladder-im", "ladder-im-ensemble", "kingdra-ladder-im")
PER_ROW = 15
RED, WHITE = np.array([0.85, 0.1, 0.1]), np.ones(3)


def cluster_rows(labels, y, class_names, per_row=PER_ROW, seed=0) -> list[dict]:
    """One dict per non-empty cluster: its name (majority class or "unk"), up to `per_row` random
    members, and which of them are of another class than the row's. Rows are ordered by class,
    "unk" rows last; an "unk" row outlines nothing, having no class to be wrong against."""
    rng = np.random.default_rng(seed)
    rows = []
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        counts = np.bincount(y[members], minlength=len(class_names))
        majority = int(counts.argmax()) if counts.max() * 2 > len(members) else None
        shown = rng.choice(members, size=min(per_row, len(members)), replace=False)
        rows.append({
            "cluster": int(cluster),
            "name": "unk" if majority is None else class_names[majority],
            "majority": majority,
            "size": len(members),
            "members": shown,
            "wrong": np.zeros(len(shown), bool) if majority is None else y[shown] != majority,
        })
    return sorted(rows, key=lambda r: (r["majority"] is None, r["majority"] or 0, r["cluster"]))


def mosaic(images, rows, border=2) -> np.ndarray:
    """RGB canvas: a tile per shown member, framed red when wrong and white otherwise.
    `images` is (n, h, w) or (n, h, w, 3), values in [0, 1]."""
    h, w = images.shape[1:3]
    tile_h, tile_w = h + 2 * border, w + 2 * border
    canvas = np.ones((len(rows) * tile_h, PER_ROW * tile_w, 3))
    for r, row in enumerate(rows):
        for c, (index, wrong) in enumerate(zip(row["members"], row["wrong"])):
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
                  [f"{row['name']} ({row['size']})" for row in rows])
    ax.set_xticks([])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(caption, fontsize=9)
    fig.text(0.5, 0.005, "row: the class holding a majority of the cluster (\"unk\": none does) and, in brackets, "
             "the cluster's size; 15 random members each, framed red when of another class than the row's",
             ha="center", va="bottom", fontsize=6, color="0.3", wrap=True)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def dataset_images(dataset):
    """The dataset's raw images in [0, 1] and its classes, in the loaders' order (the order the
    run files' labels follow)."""
    kwargs = {"extractor": None} if DATASETS[dataset].extracted else {}
    X, y, _ = load(dataset, **kwargs)
    images = X.reshape(len(X), *DATASETS[dataset].image_shape)
    return images / images.max(), y  # digits come as 0-16, the rest as [0, 1]


SEED_STYLES = ("-", "--", ":", "-.")
NOT_IN_PAPER = "ours, not in the paper"


def plot_rounds(runs, profile):
    """Accuracy, pseudo-label coverage and precision per round: a row per dataset in the table's
    order, a colour per Kingdra method, a line style per seed, one legend for the figure."""
    from matplotlib.lines import Line2D

    ran = [r for r in runs if r["method"] in KINGDRA_METHODS and len(r["history"]) > 1]
    present = {r["dataset"] for r in ran}
    datasets = in_table_order(present)
    seeds = sorted({r["seed"] for r in ran})
    fig, axes = plt.subplots(len(datasets), 3, figsize=(12, 2.8 * len(datasets) + 0.6), squeeze=False,
                             sharex="row")
    for row, dataset in zip(axes, datasets):
        for run in sorted((r for r in ran if r["dataset"] == dataset), key=lambda r: (r["method"], r["seed"])):
            rounds = [h["round"] for h in run["history"]]
            style = {"color": f"C{KINGDRA_METHODS.index(run['method'])}", "alpha": 0.8, "marker": "o", "ms": 3,
                     "linestyle": SEED_STYLES[seeds.index(run["seed"]) % len(SEED_STYLES)]}
            n = run["data"]["shape"][0]
            row[0].plot(rounds, [100 * h["accuracy"] for h in run["history"]], **style)
            row[1].plot(rounds, [100 * h["pseudo_labels"] / n for h in run["history"]], **style)
            row[2].plot(rounds, [100 * h.get("pseudo_label_precision", np.nan) for h in run["history"]], **style)
        if not any("pseudo_label_precision" in h for r in ran if r["dataset"] == dataset for h in r["history"]):
            row[2].text(0.5, 0.5, "no complete set\nin any round", ha="center", va="center",
                        transform=row[2].transAxes, fontsize=9, color="0.4")
        for ax, what in zip(row, ("accuracy (%)", "pseudo-label coverage (% of points)", "pseudo-label precision (%)")):
            ax.set_title(f"{title(dataset)}: {what}", fontsize=9)
            ax.set_xlabel("round")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
    methods = [m for m in KINGDRA_METHODS if any(r["method"] == m for r in ran)]
    handles = ([Line2D([], [], color=f"C{KINGDRA_METHODS.index(m)}", marker="o", ms=3) for m in methods]
               + [Line2D([], [], color="0.3", linestyle=SEED_STYLES[i % len(SEED_STYLES)]) for i in range(len(seeds))])
    labels = [METHODS[m].label for m in methods] + [f"seed {s}" for s in seeds]
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle(f"Kingdra rounds, profile `{profile}` ({NOT_IN_PAPER})", fontsize=10)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_precision_coverage(runs, profile):
    """Pseudo-label precision against coverage (the share of points holding a pseudo-label)."""
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ran = [r for r in runs if r["method"] in KINGDRA_METHODS]
    for d, dataset in enumerate(sorted({r["dataset"] for r in ran})):
        for m, method in enumerate(KINGDRA_METHODS):
            points = [(100 * h["pseudo_label_coverage"], 100 * h["pseudo_label_precision"])
                      for r in ran if r["dataset"] == dataset and r["method"] == method
                      for h in r["history"] if "pseudo_label_precision" in h]
            if points:
                cov, prec = zip(*points)
                ax.scatter(cov, prec, color=f"C{d}", marker="os"[m], alpha=0.7,
                           label=f"{title(dataset)} {method.replace('kingdra-', '')}")
    ax.set_xlabel("coverage (% of points pseudo-labelled)")
    ax.set_ylabel("precision (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"Pseudo-labels per round, profile `{profile}` ({NOT_IN_PAPER})", fontsize=10)
    fig.tight_layout()
    return fig


def training_curve(run) -> tuple[list[int], list[float]]:
    """(member-epochs spent after each round, accuracy % then) of one ladder run: members times the
    epochs trained so far, so a single network and an ensemble share one axis."""
    members = run["config"]["estimator"]["members"]
    spent = np.cumsum([members * h["epochs"] for h in run["history"]]).tolist()
    return spent, [100 * h["accuracy"] for h in run["history"]]


def plot_training(runs, dataset):
    """Accuracy against member-epochs: a line per Kingdra run (a point per round), a point per
    single-network or ensemble run, a line style per profile, the paper's numbers dashed."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    profiles = profiles_of(runs)
    for m, method in enumerate(TRAINING_METHODS):
        color = f"C{m}"
        for run in sorted((r for r in runs if r["dataset"] == dataset and r["method"] == method),
                          key=lambda r: (profiles.index(r["profile"]), r["seed"])):
            spent, accuracy = training_curve(run)
            p = profiles.index(run["profile"])
            ax.plot(spent, accuracy, color=color, marker="os^D"[p % 4], ms=4, alpha=0.75,
                    linestyle=("-", "--", ":", "-.")[p % 4], label=f"{run['label']}, `{run['profile']}`")
        if dataset in paper.ACCURACY[method]:
            ax.axhline(float(paper.ACCURACY[method][dataset].split()[0]), color=color, linewidth=0.8,
                       linestyle=(0, (6, 3)), alpha=0.6, label=f"{METHODS[method].label} (paper)")
    if dataset in TABLE_DATASETS:  # the released settings' members x epochs, from the paper profile
        ax.axvline(budget.member_epochs(load_config(dataset, "paper").params), color="0.4", linewidth=0.8, linestyle=":",
                   label="the paper's Kingdra training (members x epochs)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))  # one entry per method and profile, not per seed
    ax.legend(unique.values(), unique.keys(), fontsize=7, loc="lower right")
    ax.set_xscale("log")
    ax.set_xlim(left=1)
    ax.set_xlabel("training spent (member-epochs: members x epochs so far)")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.set_title(f"{title(dataset)}: accuracy against training spent ({NOT_IN_PAPER})", fontsize=9)
    fig.tight_layout()
    return fig


def build(runs, out_dir, images=dataset_images) -> list[Path]:
    """Every figure the runs allow, per profile; returns the files written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, name):
        fig.savefig(out_dir / name, dpi=110)
        plt.close(fig)
        written.append(out_dir / name)

    for dataset in sorted({r["dataset"] for r in runs if r["method"] in TRAINING_METHODS}):
        save(plot_training(runs, dataset), f"accuracy_vs_training_{dataset}.png")
    for profile in profiles_of(runs):
        mine = [r for r in runs if r["profile"] == profile]
        for dataset in [d for d, entry in DATASETS.items() if entry.image_shape]:
            candidates = sorted((r for r in mine if r["dataset"] == dataset and r["method"] == "kingdra-ladder-im"),
                                key=lambda r: r["seed"])
            if not candidates:
                continue
            run = candidates[0]
            pictures, y = images(dataset)
            caption = (f"{title(dataset)}: {run['label']}, profile `{profile}`, seed {run['seed']}, "
                       f"accuracy {100 * run['metrics']['accuracy']:.1f}%")
            grid = plot_cluster_grid(pictures, decode_labels(run["labels"]), y, run["data"]["class_names"], caption,
                                     seed=run["seed"])
            save(grid, f"{dataset}_clusters_{profile}.png")
        if any(r["method"] in KINGDRA_METHODS and len(r["history"]) > 1 for r in mine):
            save(plot_rounds(mine, profile), f"rounds_{profile}.png")
            save(plot_precision_coverage(mine, profile), f"precision_coverage_{profile}.png")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replicate.figures", description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", default=str(RUNS_DIR))
    parser.add_argument("--out-dir", default=str(FIGURES_DIR))
    args = parser.parse_args(argv)
    written = build(load_runs(args.runs_dir), args.out_dir)
    for path in written:
        print(f"wrote {path}")
    if not written:
        print("no Kingdra run files yet: run `make table1` first")
    return 0


if __name__ == "__main__":
    sys.exit(main())
