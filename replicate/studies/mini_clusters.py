"""Does a round-0 ensemble yield a complete set of K mini-clusters? The measurement behind the
`cpu` profiles' members, widths, round-0 epochs and thresholds.

    python -m replicate.studies.mini_clusters --dataset mnist --layers 1200 1200 --members 6 --epochs 2
    python -m replicate.studies.mini_clusters --report

Trains the round 0 of one ensemble (the dataset's `paper` profile, or --profile, with the given widths, members
trained one after another with their usual seeds) and keeps every member's assignments after each
epoch. Members are independent networks, so any m of them are an m-member ensemble: for every
epoch, ensemble size m, every m-subset of the members, and every (t_low, t_high, thresh) in the
grid, it runs `kingdra.pseudo_labels.mini_clusters` and records how many mini-clusters came out
and their sizes. No labels are read: the choice this study informs is made on completeness and
sizes alone. One JSON file per (dataset, widths, seed) under results/studies/mini_clusters/ (or --study-dir).
"""
from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

from kingdra import pseudo_labels
from kingdra.cluster import KingdraCluster
from kingdra.ensemble import LadderEnsemble
from kingdra.params import check_X
from kingdra.datasets.base import atomic_file

from .. import environment
from ..config import load_config

STUDY_DIR = environment.RESULTS_DIR / "studies" / "mini_clusters"


def study_path(dataset, layers, seed, study_dir=STUDY_DIR) -> Path:
    return Path(study_dir) / f"{dataset}__{'-'.join(map(str, layers))}__seed{seed}.json"


def thresholds(m):
    """(t_low, t_high) pairs for m members: t_high from all-agree down to one dissent, t_low
    every value below it (0 <= t_low < t_high < m)."""
    return [(low, high) for high in range(m - 1, max(m - 3, 0), -1) for low in range(high)]


def completeness(assignments, top_prob, n_clusters, m, threshes):
    """Mini-cluster counts and sizes for every m-subset of the members, per threshold setting."""
    rows = []
    for low, high in thresholds(m):
        for thresh in threshes:
            counts, smallest, totals = [], [], []
            for subset in itertools.combinations(range(len(assignments)), m):
                found = pseudo_labels.mini_clusters(assignments[list(subset)], top_prob[list(subset)],
                                                    n_clusters, low, high, thresh)
                sizes = [len(c) for c in found]
                counts.append(len(found))
                smallest.append(min(sizes) if sizes else 0)
                totals.append(sum(sizes))
            rows.append({"members": m, "t_low": low, "t_high": high, "thresh": thresh, "subsets": len(counts),
                         "complete": int(sum(c == n_clusters and s > 0 for c, s in zip(counts, smallest))),
                         "mini_clusters": counts, "smallest": smallest, "pseudo_labels": totals})
    return rows


def run(dataset, layers, members, epochs, seed, profile="paper", study_dir=STUDY_DIR):
    path = study_path(dataset, layers, seed, study_dir)
    if path.exists():
        print(f"skip {path.name}: done", flush=True)
        return path
    config = load_config(dataset, profile)
    X, _, info = config.load_data()  # the labels are not read
    params = {**config.params, "layer_sizes": tuple(layers), "members": members, "pseudo_label_rounds": 0,
              "epochs_unsupervised": epochs, "ensemble": "sequential", "verbose": 0, "seed": seed}
    model = KingdraCluster(**params)
    X = check_X(X)
    model.check_params(len(X))
    ladders = LadderEnsemble(model, X.shape[1])
    k = model.n_clusters
    assignments = np.zeros((epochs, members, len(X)), np.int64)
    top_prob = np.zeros((epochs, members, len(X)), np.float32)
    started = time.perf_counter()

    def after_epoch(group, net, epoch, log):
        probs = net.predict(X[:, None, :], batch_size=4096, verbose=0)[:, 0]
        assignments[epoch, group[0]], top_prob[epoch, group[0]] = probs.argmax(axis=1), probs.max(axis=1)
        print(f"{dataset} {layers} seed {seed} member {group[0]} epoch {epoch + 1}  "
              f"{time.perf_counter() - started:.0f}s", flush=True)

    ladders.train_round(X, 0, epochs, None, after_epoch=after_epoch)
    training_seconds = time.perf_counter() - started
    threshes = sorted({0.0, config.params["thresh"]})
    results = [{"epoch": e + 1, **row} for e in range(epochs) for m in range(3, members + 1)
               for row in completeness(assignments[e], top_prob[e], k, m, threshes)]
    record = {"dataset": dataset, "profile": profile, "layers": list(layers), "members": members, "epochs": epochs, "seed": seed,
              "n_clusters": k, "n_points": len(X), "params": {p: v for p, v in params.items() if p != "callbacks"},
              "training_seconds": round(training_seconds, 1), "environment": environment.describe(),
              "results": results}
    with atomic_file(path) as tmp:
        tmp.write(json.dumps(record, indent=None, default=str).encode())
    return path


def report(study_dir=STUDY_DIR) -> str:
    """Per dataset, widths, epoch and ensemble size, for the paper's all-agree t_high (members - 1)
    and t_low 0-2: the share of member subsets that gave a complete set, the smallest mini-cluster
    (median and worst over subsets) and the median number of pseudo-labelled points. The run
    files hold every other t_high too."""
    runs = [json.loads(path.read_text()) for path in sorted(Path(study_dir).glob("*.json"))]
    lines = ["Summary: 3 members, all agreeing for a strong positive edge (t_high 2): complete sets among the "
             "member triples, and in brackets the worst smallest mini-cluster.", "",
             "| data | widths | epoch | thresh | t_low 0 | t_low 1 |", "|---|---|---|---|---|---|"]
    for run_ in runs:
        for thresh in sorted({r["thresh"] for r in run_["results"]}):
            for epoch in range(1, run_["epochs"] + 1):
                rows = {r["t_low"]: r for r in run_["results"] if r["epoch"] == epoch and r["members"] == 3
                        and r["t_high"] == 2 and r["thresh"] == thresh}
                cells = [f"{rows[t]['complete']}/{rows[t]['subsets']} ({min(rows[t]['smallest'])})" for t in (0, 1)]
                lines.append(f"| {run_['dataset']} | {'-'.join(map(str, run_['layers']))} | {epoch} | {thresh} | "
                             + " | ".join(cells) + " |")
    lines += ["", "| data | widths | epoch | members | t_low / t_high | thresh | complete subsets | "
             "smallest mini-cluster, median (worst) | median pseudo-labels |", "|---|---|---|---|---|---|---|---|---|"]
    for run_ in runs:
        for r in (r for r in run_["results"] if r["t_high"] == r["members"] - 1 and r["t_low"] <= 2):
            lines.append(f"| {run_['dataset']} | {'-'.join(map(str, run_['layers']))} | {r['epoch']} | {r['members']} | "
                         f"{r['t_low']} / {r['t_high']} | {r['thresh']} | {r['complete']}/{r['subsets']} | "
                         f"{int(np.median(r['smallest']))} ({min(r['smallest'])}) | {int(np.median(r['pseudo_labels']))} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--layers", type=int, nargs="+", default=[1200, 1200])
    parser.add_argument("--members", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, nargs="+", default=[0])
    parser.add_argument("--profile", default="paper", help="the config profile the other settings come from")
    parser.add_argument("--study-dir", type=Path, default=STUDY_DIR,
                        help="where the run files go (default results/studies/mini_clusters; the runs that sized "
                             "issue 12's profiles, before the release's feed order, are in "
                             "results/studies/mini_clusters_issue12)")
    parser.add_argument("--report", action="store_true", help="write the finished runs' table to <study-dir>.md")
    args = parser.parse_args(argv)
    if args.report:
        text = report(args.study_dir)
        (args.study_dir.parent / f"{args.study_dir.name}.md").write_text(
            "# Complete mini-cluster sets from round-0 ensembles\n\nWritten by `python -m replicate.studies.mini_clusters "
            f"--report` from results/studies/{args.study_dir.name}/*.json; no labels are read.\n\n" + text + "\n")
        print(text)
        return
    for seed in args.seed:
        run(args.dataset, args.layers, args.members, args.epochs, seed, args.profile, args.study_dir)


if __name__ == "__main__":
    main()
