"""Our figures (the paper has none of them), from the run files (which keep every run's final labels).

    python -m replicate.figures [--runs-dir results/runs] [--out-dir figures]

- `im_rows.png`: the table's question: Ladder-IM, Ladder-IM-ensemble and Kingdra-Ladder-IM at equal
  member-epochs, per dataset and profile, a dot per seed and the mean, the paper's values as stars.
- `accuracy_vs_training_<dataset>.png`: accuracy against training spent (member-epochs, summed over
  members) for the same three rows, every profile at once, a point per Kingdra round, the paper's
  values as stars at the paper's training.
- `<dataset>_clusters_<profile>.png` (replicate/cluster_grids.py): the final clusters of a
  Kingdra-Ladder-IM run, errors framed in red.
- `rounds_<profile>.png`: accuracy, pseudo-label coverage and precision per round.
- `precision_coverage_<profile>.png`: pseudo-label precision against coverage, one point per round.

One colour per method in every figure (METHOD_COLOURS). Stale runs are left out, as in the table;
a figure no current run makes is removed. Every file name or legend names its profile.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from kingdra.datasets import DATASETS, TABLE_DATASETS, title

from . import budget, paper
from .config import load_config
from .environment import REPO, RUNS_DIR
from .cluster_grids import dataset_images, plot_cluster_grid
from .records import decode_labels
from .methods import METHODS
from .table import in_table_order, load_runs, load_unfinished, profiles_of, round_of, stale_runs

FIGURES_DIR = REPO / "figures"  # top level: the repository's design card
KINGDRA_METHODS = ("kingdra-ladder-im", "kingdra-ladder-dot")
TRAINING_METHODS = ("ladder-im", "ladder-im-ensemble", "kingdra-ladder-im")


# Six line styles, so that the five seeds of an MNIST profile never share one (seed 4 looked like seed 0).
LINE_STYLES = ("-", "--", ":", "-.", (0, (6, 1, 1, 1, 1, 1)), (0, (1, 3)))
# One colour per method in every figure.
METHOD_COLOURS = {"kmeans": "0.45", "ac": "0.65", "ladder-im": "C0", "ladder-im-ensemble": "C1", "ladder-dot": "C4",
                  "kingdra-ladder-dot": "C3", "kingdra-ladder-im": "C2"}
IM_ROWS = ("ladder-im", "ladder-im-ensemble", "kingdra-ladder-im")
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
            style = {"color": METHOD_COLOURS[run["method"]], "alpha": 0.8, "marker": "o", "ms": 3,
                     "linestyle": LINE_STYLES[seeds.index(run["seed"]) % len(LINE_STYLES)]}
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
    handles = ([Line2D([], [], color=METHOD_COLOURS[m], marker="o", ms=3) for m in methods]
               + [Line2D([], [], color="0.3", linestyle=LINE_STYLES[i % len(LINE_STYLES)]) for i in range(len(seeds))])
    labels = [METHODS[m].label for m in methods] + [f"seed {s}" for s in seeds]
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle(f"Kingdra rounds, profile {profile} ({NOT_IN_PAPER})", fontsize=10)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_precision_coverage(runs, profile):
    """Pseudo-label precision against coverage (the share of points holding a pseudo-label)."""
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ran = [r for r in runs if r["method"] in KINGDRA_METHODS]
    for d, dataset in enumerate(in_table_order({r["dataset"] for r in ran})):
        for method in KINGDRA_METHODS:
            points = [(100 * h["pseudo_label_coverage"], 100 * h["pseudo_label_precision"])
                      for r in ran if r["dataset"] == dataset and r["method"] == method
                      for h in r["history"] if "pseudo_label_precision" in h]
            if points:
                cov, prec = zip(*points)
                ax.scatter(cov, prec, color=METHOD_COLOURS[method], marker="os^D"[d % 4], alpha=0.7,
                           label=f"{title(dataset)}, {METHODS[method].label}")
    ax.set_xlabel("coverage (% of points pseudo-labelled)")
    ax.set_ylabel("precision (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"Pseudo-labels per round, profile {profile} ({NOT_IN_PAPER})", fontsize=10)
    fig.tight_layout()
    return fig


def training_curve(run) -> tuple[list[int], list[float]]:
    """(member-epochs spent after each round, accuracy % then) of one ladder run: members times the
    epochs trained so far, so a single network and an ensemble share one axis."""
    members = run["config"]["estimator"]["members"]
    spent = np.cumsum([members * h["epochs"] for h in run["history"]]).tolist()
    return spent, [100 * h["accuracy"] for h in run["history"]]


def plot_training(runs, dataset, unfinished=()):
    """Accuracy against member-epochs: a line per Kingdra run (a point per round), a point per
    single-network or ensemble run, a marker per profile; a run under way as a line of hollow
    points, labelled "round r of R"; the paper's numbers as stars at the paper's training, side by
    side so that close values do not hide each other."""
    fig, ax = plt.subplots(figsize=(7.5, 5.6))
    profiles = profiles_of([r for r in [*runs, *unfinished] if r["dataset"] == dataset])  # its marker per profile
    paper_budget = budget.member_epochs(load_config(dataset, "paper").params) if dataset in TABLE_DATASETS else None
    for m, method in enumerate(TRAINING_METHODS):
        color = METHOD_COLOURS[method]
        for run in sorted((r for r in runs if r["dataset"] == dataset and r["method"] == method),
                          key=lambda r: (profiles.index(r["profile"]), r["seed"])):
            spent, accuracy = training_curve(run)
            p = profiles.index(run["profile"])
            ax.plot(spent, accuracy, color=color, marker="os^D"[p % 4], ms=4, alpha=0.75,
                    linestyle=LINE_STYLES[p % len(LINE_STYLES)], label=f"{run['label']}, {run['profile']}")
        for run in (r for r in unfinished if r["dataset"] == dataset and r["method"] == method):
            spent, accuracy = training_curve(run)
            ax.plot(spent, accuracy, color=color, marker="os^D"[profiles.index(run["profile"]) % 4], ms=5,
                    markerfacecolor="white", alpha=0.9, linestyle=":",
                    label=f"{run['label']}, {run['profile']}, seed {run['seed']}: {round_of(run)}, unfinished")
        if paper_budget and dataset in paper.ACCURACY[method]:
            ax.plot([paper_budget * (0.8, 1.0, 1.25)[m]], [float(paper.ACCURACY[method][dataset].split()[0])],
                    marker="*", ms=10, color=color, linestyle="none", label=f"{METHODS[method].label} (paper)")
    if paper_budget:  # the released settings' members x epochs, from the paper profile
        ax.axvline(paper_budget, color="0.4", linewidth=0.8, linestyle=":",
                   label="the paper's Kingdra training (members x epochs)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))  # one entry per method and profile, not per seed
    # below the axes, so it never hides a run or a paper's star
    ax.legend(unique.values(), unique.keys(), fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax.set_xscale("log")
    ax.set_xlim(left=1)
    ax.set_xlabel("training spent (member-epochs: members x epochs so far)")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.set_title(f"{title(dataset)}: accuracy against training spent ({NOT_IN_PAPER})", fontsize=9)
    fig.tight_layout()
    return fig


def plot_equal_budget(runs):
    """The table's question: per dataset, Ladder-IM, Ladder-IM-ensemble and Kingdra-Ladder-IM at
    equal member-epochs, a group per profile, a dot per seed and a bar at the mean; the paper's
    three values as stars in a group of their own."""
    ran = [r for r in runs if r["method"] in IM_ROWS]
    datasets = in_table_order({r["dataset"] for r in ran})
    fig, axes = plt.subplots(1, len(datasets), figsize=(max(4.2 * len(datasets), 8.0), 4.4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        profiles = profiles_of([r for r in ran if r["dataset"] == dataset])
        groups = profiles + (["paper's"] if dataset in TABLE_DATASETS else [])
        for g, group in enumerate(groups):
            for m, method in enumerate(IM_ROWS):
                x = g + (m - 1) * 0.25
                if group == "paper's":
                    if dataset in paper.ACCURACY[method]:
                        ax.plot(x, float(paper.ACCURACY[method][dataset].split()[0]), marker="*", ms=12,
                                color=METHOD_COLOURS[method], linestyle="none")
                    continue
                values = [100 * r["metrics"]["accuracy"] for r in ran
                          if (r["dataset"], r["profile"], r["method"]) == (dataset, group, method)]
                if values:
                    ax.plot(np.full(len(values), x) + np.linspace(-0.05, 0.05, len(values)), values, "o", ms=4,
                            color=METHOD_COLOURS[method], alpha=0.75)
                    ax.plot([x - 0.1, x + 0.1], [np.mean(values)] * 2, color=METHOD_COLOURS[method], linewidth=2.5)
        # Every row of a profile trains each member as long (replicate/methods.py): say how long.
        per_member = {p: budget.member_epochs({**r["config"]["estimator"], "members": 1}) for r in ran
                      for p in profiles if (r["profile"], r["dataset"]) == (p, dataset)}
        ax.set_xticks(range(len(groups)), [f"ours, {p}\n{per_member[p]} epochs\nper member" for p in profiles]
                      + (["the paper's\nvalues"] if "paper's" in groups else []), fontsize=8)
        ax.set_title(title(dataset), fontsize=10)
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3, axis="y")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=METHOD_COLOURS[m], marker="o", linestyle="none") for m in IM_ROWS]
    fig.legend(handles + [Line2D([], [], color="0.3", marker="*", ms=10, linestyle="none")],
               [METHODS[m].label for m in IM_ROWS] + ["the paper's value"], loc="lower center", ncol=4, fontsize=8,
               frameon=False)
    fig.suptitle(f"Do pseudo-labels help? The IM rows at equal training; dots: seeds, bars: means ({NOT_IN_PAPER})",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def build(runs, out_dir, images=dataset_images, unfinished=()) -> list[Path]:
    """Every figure the current runs allow, per profile; returns the files written. A stale run (made
    with settings its profile has changed since) is left out, as the table leaves it out; runs under
    way (`unfinished`) are drawn in the training figures only."""
    stale = stale_runs([*runs, *unfinished])
    runs = [r for r in runs if id(r) not in stale]
    unfinished = [r for r in unfinished if id(r) not in stale and r["history"] and "accuracy" in r["history"][0]]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, name):
        fig.savefig(out_dir / name, dpi=110)
        plt.close(fig)
        written.append(out_dir / name)

    if any(r["method"] in IM_ROWS for r in runs):
        save(plot_equal_budget(runs), "im_rows.png")
    for dataset in sorted({r["dataset"] for r in [*runs, *unfinished] if r["method"] in TRAINING_METHODS}):
        save(plot_training(runs, dataset, unfinished), f"accuracy_vs_training_{dataset}.png")
    for profile in profiles_of(runs):
        mine = [r for r in runs if r["profile"] == profile]
        for dataset in [d for d, entry in DATASETS.items() if entry.image_shape]:
            candidates = sorted((r for r in mine if r["dataset"] == dataset and r["method"] == "kingdra-ladder-im"),
                                key=lambda r: r["seed"])
            if not candidates:
                continue
            run = candidates[0]
            pictures, y = images(dataset, run)
            caption = (f"{title(dataset)}: {run['label']}, profile {profile}, seed {run['seed']}, "
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
    written = build(load_runs(args.runs_dir), args.out_dir, unfinished=load_unfinished(args.runs_dir))
    for path in written:
        print(f"wrote {path}")
    for old in sorted(set(Path(args.out_dir).glob("*.png")) - set(written)):  # from runs that are gone or stale
        old.unlink()
        print(f"removed {old}")
    if not written:
        print("no Kingdra run files yet: run `make table1` first")
    return 0


if __name__ == "__main__":
    sys.exit(main())
