"""A single Ladder-IM (one member, no pseudo-labels) trained epoch by epoch with diagnostics:
how far one network gets, how much its seed moves it, and what differs between seeds.

    python -m replicate.studies.ladder --dataset mnist --variant released --seed 0 1 2 3 4 --epochs 15
    python -m replicate.studies.ladder --report

Settings are the dataset's `paper` profile with members=1 and pseudo_label_rounds=0 (what the table's
Ladder-IM row trains), then the variant's changes. After every epoch it records, from labels used
for scoring only: accuracy and NMI (prediction with population statistics, and with the whole
set's statistics as the released code predicts), predicted cluster sizes and the cluster x class
table (which classes merge or split), the mean per-sample entropy and the entropy of the mean
prediction over the whole set, each loss term, each weighted term's gradient norm over a fixed
set of batches (JAX only), and every normalised layer's statistics and dead ReLU units.

One JSON file per (dataset, variant, seed) under results/studies/ladder_im/; a finished file is
skipped, so an interrupted study resumes with the next seed.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import keras
import numpy as np

from kingdra import ladder, metrics
from kingdra.cluster import KingdraCluster
from kingdra.ensemble import LadderEnsemble
from kingdra.params import check_X
from kingdra.datasets.base import atomic_file

from .. import environment
from ..config import load_config

STUDY_DIR = environment.RESULTS_DIR / "studies" / "ladder_im"
# Each variant changes one thing against the released model ("released"); `bn_eps` is the
# module constant, the rest are KingdraCluster parameters.
VARIANTS = {
    "released": {},  # the paper profile's feed: round 0 in one fixed order (MNIST's file order)
    "reshuffled": {"feed_order": "shuffle"},  # a new permutation every epoch, as before issue 21
    "renormalized-decoder": {"renormalize_reconstruction": True},
    "bn-eps-1e-5": {"bn_eps": 1e-5},
}
GRADIENT_BATCHES = 8
BN_EPS_RELEASED = ladder.BN_EPS
_GRADIENT_FUNCTIONS = {}  # id(network) -> {term: compiled gradient function}


def study_path(dataset, variant, seed, loader=None, study_dir=STUDY_DIR) -> Path:
    data = dataset if loader in (None, dataset) else loader
    return Path(study_dir) / f"{data}__{variant}__seed{seed}.json"


def entropy(p, axis=-1):
    return float(np.mean(-np.sum(p * np.log(np.clip(p, 1e-12, None)), axis=axis)))


def encoder_with_set_statistics(net, X):
    """Member 0's clean pass over all of X as one batch (the released prediction), in NumPy.
    Returns (probabilities, per normalised layer: fraction of ReLU units never active)."""
    h, dead = X, []
    for l, (dense, norm) in enumerate(zip(net.encoder, net.norms)):
        z = h @ keras.ops.convert_to_numpy(dense.kernel[0])
        if norm.normalize:
            z = (z - z.mean(0)) / np.sqrt(z.var(0) + ladder.BN_EPS)
        h = z + keras.ops.convert_to_numpy(norm.beta[0, 0])
        if l < len(net.encoder) - 1:
            h = np.maximum(h, 0.0)
            dead.append(float(np.mean(h.max(axis=0) <= 0.0)))
    h = h - h.max(axis=1, keepdims=True)
    p = np.exp(h)
    return p / p.sum(axis=1, keepdims=True), dead


def gradient_norms(net, batches):
    """Norm of each weighted loss term's gradient over all trainable weights and over the encoder
    alone (kernels W and shifts beta), summed over `batches`; None off JAX. The gradient functions
    are compiled once per network: compiled anew every epoch, they took an MNIST epoch from ~40 to ~57 s."""
    if keras.backend.backend() != "jax":
        return None
    import jax
    import jax.numpy as jnp

    if id(net) not in _GRADIENT_FUNCTIONS:
        def weighted(terms, w):
            return {"denoise": w["w_ladder"] * terms["denoise"],
                    "cluster": w["w_cluster"] * (terms["cluster_clean"] + terms["cluster_corrupted"]),
                    "consistency": w["w_kl"] * terms["consistency"]}

        def term_loss(tv, ntv, batch, w, name):
            terms, _ = net.stateless_call(tv, ntv, batch, training=True)
            return jnp.sum(weighted(terms, w)[name])

        _GRADIENT_FUNCTIONS[id(net)] = {name: jax.jit(jax.grad(term_loss), static_argnums=4)
                                        for name in ("denoise", "cluster", "consistency")}
    w = {k: v.value for k, v in net.weight_vars.items()}
    trainable = [v.value for v in net.trainable_variables]
    non_trainable = [v.value for v in net.non_trainable_variables]
    encoder = np.array([v.path.split("/")[0].startswith(("W", "norm")) for v in net.trainable_variables])
    out = {}
    for name, grad in _GRADIENT_FUNCTIONS[id(net)].items():
        total = [np.zeros(v.shape, np.float32) for v in trainable]
        for batch in batches:
            total = [t + np.asarray(g) for t, g in zip(total, grad(trainable, non_trainable, batch, w, name))]
        squares = np.array([float(np.sum(t * t)) for t in total])
        out[name] = {"all": float(np.sqrt(squares.sum())), "encoder": float(np.sqrt(squares[encoder].sum()))}
    return out


def layer_statistics(net):
    stats = []
    for norm in net.norms:
        if not norm.normalize:
            continue
        mean = keras.ops.convert_to_numpy(norm.moving_mean)[0, 0]
        var = keras.ops.convert_to_numpy(norm.moving_var)[0, 0]
        stats.append({"mean_abs_mean": float(np.abs(mean).mean()), "mean_var": float(var.mean()),
                      "min_var": float(var.min()), "units_var_below_1e-6": int(np.sum(var < 1e-6))})
    return stats


def run_seed(dataset, variant, seed, epochs, loader=None, layer_sizes=None, profile="paper", study_dir=STUDY_DIR):
    path = study_path(dataset, variant, seed, loader, study_dir)
    if path.exists():
        print(f"skip {path.name}: done", flush=True)
        return path
    config = load_config(dataset, profile)
    if loader is not None:
        config = dataclasses.replace(config, loader=loader)
    X, y, info = config.load_data()
    changes = dict(VARIANTS[variant])
    ladder.BN_EPS = changes.pop("bn_eps", BN_EPS_RELEASED)
    params = {**config.params, **changes, "members": 1, "pseudo_label_rounds": 0, "epochs_unsupervised": epochs,
              "ensemble": "sequential", "verbose": 0, "seed": seed}
    if layer_sizes:
        params["layer_sizes"] = tuple(layer_sizes)
    model = KingdraCluster(**params)
    X = check_X(X)
    model.check_params(len(X))
    ladders = LadderEnsemble(model, X.shape[1])
    # Fixed batches for the gradient norms: the same rows at every epoch of this seed.
    rows = np.random.default_rng([seed, 99]).choice(len(X), (GRADIENT_BATCHES, params["batch_size"]), replace=False)
    batches = [{"x": X[r][:, None, :]} for r in rows]
    records, started = [], time.perf_counter()

    def after_epoch(members, net, epoch, log):
        probs = ladders.probabilities(X)[0]
        labels = probs.argmax(axis=1)
        set_probs, dead = encoder_with_set_statistics(net, X)
        set_labels = set_probs.argmax(axis=1)
        records.append({
            "epoch": epoch + 1,
            "accuracy": metrics.accuracy(y, labels),
            "nmi": metrics.nmi(y, labels),
            "accuracy_set_statistics": metrics.accuracy(y, set_labels),
            "labels_differ_set_statistics": float(np.mean(labels != set_labels)),
            "cluster_sizes": np.bincount(labels, minlength=model.n_clusters).tolist(),
            "cluster_by_class": metrics.contingency(labels, y, model.n_clusters, y.max() + 1).tolist(),
            "entropy_per_sample": entropy(probs),
            "entropy_of_mean": entropy(probs.mean(axis=0)),
            "max_entropy": float(np.log(model.n_clusters)),
            "losses": {k: float(v) for k, v in log.items()},
            "gradient_norms": gradient_norms(net, batches),
            "layers": layer_statistics(net),
            "dead_relu_fraction": dead,
            "seconds": round(time.perf_counter() - started, 1),
        })
        r = records[-1]
        print(f"{dataset} {variant} seed {seed} epoch {r['epoch']:>2}  acc {r['accuracy']:.4f}  "
              f"(set statistics {r['accuracy_set_statistics']:.4f})  nmi {r['nmi']:.4f}  "
              f"H(mean) {r['entropy_of_mean']:.3f}  H {r['entropy_per_sample']:.3f}  {r['seconds']:.0f}s", flush=True)

    ladders.train_round(X, 0, epochs, None, after_epoch=after_epoch)
    run = {"dataset": dataset, "profile": profile, "loader": config.loader, "variant": variant, "changes": VARIANTS[variant],
           "seed": seed, "epochs": epochs, "data": dataclasses.asdict(info),
           "params": {k: v for k, v in model.get_params().items() if k != "callbacks"},
           "bn_eps": ladder.BN_EPS, "environment": environment.describe(), "records": records}
    with atomic_file(path) as tmp:  # creates the folder
        tmp.write(json.dumps(run, indent=1, default=str).encode())
    return path


def load_runs(study_dir=STUDY_DIR):
    """Finished runs grouped by (data, variant), seeds in order."""
    groups = {}
    for path in sorted(Path(study_dir).glob("*.json")):
        run = json.loads(path.read_text())
        groups.setdefault((run["loader"], run["variant"]), []).append(run)
    return {key: sorted(runs, key=lambda r: r["seed"]) for key, runs in sorted(groups.items())}


def spread(values):
    values = np.asarray(values, float)
    std = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.3f} ({std:.3f}) [{values.min():.3f}-{values.max():.3f}]"


def merges_and_splits(table, class_names):
    """From a cluster x class table: clusters that are the main cluster of two or more classes
    (merges), and classes whose two largest clusters each hold more than 25 % of them (splits)."""
    table = np.asarray(table)
    main_cluster = table.argmax(axis=0)
    merged = [" + ".join(class_names[c] for c in np.flatnonzero(main_cluster == k))
              for k in range(len(table)) if np.sum(main_cluster == k) > 1]
    split = [class_names[c] for c in range(table.shape[1])
             if np.sort(table[:, c])[-2] > 0.25 * table[:, c].sum()]
    return merged, split


def report(study_dir=STUDY_DIR, at_epochs=(1, 2, 3, 4, 5, 6, 8, 10), detail_from=10) -> str:
    """The study's tables, from its run files: accuracy per (data, variant) at the given epochs,
    mean (std) [min-max] over seeds; then, per seed of every arm of `detail_from` epochs or more,
    what it did."""
    groups = load_runs(study_dir)
    lines = ["| data | variant | seeds | " + " | ".join(f"epoch {e}" for e in at_epochs) + " |",
             "|---|---|---|" + "---|" * len(at_epochs)]
    for (data, variant), runs in groups.items():
        cells = [spread([r["records"][e - 1]["accuracy"] for r in runs]) if all(len(r["records"]) >= e for r in runs)
                 else "" for e in at_epochs]
        lines.append(f"| {data} | {variant} | {','.join(str(r['seed']) for r in runs)} | " + " | ".join(cells) + " |")
    for (data, variant), runs in groups.items():
        epochs = [e for e in at_epochs if all(len(r["records"]) >= e for r in runs)]
        lines += ["", f"**{data}, {variant}: accuracy per seed**", "",
                  "| seed | " + " | ".join(f"epoch {e}" for e in epochs) + " |", "|---|" + "---|" * len(epochs)]
        lines += [f"| {r['seed']} | " + " | ".join(f"{r['records'][e - 1]['accuracy']:.3f}" for e in epochs) + " |"
                  for r in runs]
    for (data, variant), runs in groups.items():
        if min(len(r["records"]) for r in runs) < detail_from:
            continue
        names = runs[0]["data"].get("class_names") or [str(c) for c in range(len(runs[0]["records"][0]["cluster_by_class"][0]))]
        lines += ["", f"**{data}, {variant}: per seed, at the last epoch** (grad ratio: the denoising cost's gradient norm "
                  "over the encoder weights divided by the weighted IM term's, at epochs 1 and last; set-stat: accuracy "
                  "when predicting with the whole set's statistics minus with population statistics, largest over epochs)", "",
                  "| seed | acc epoch 3 | acc last | H(mean) / H per sample | merged clusters | split classes | grad ratio | "
                  "dead ReLU (layer 1, 2) | set-stat |", "|---|---|---|---|---|---|---|---|---|"]
        for r in runs:
            first, last = r["records"][0], r["records"][-1]
            merged, split = merges_and_splits(last["cluster_by_class"], names)
            ratio = [rec["gradient_norms"]["denoise"]["encoder"] / rec["gradient_norms"]["cluster"]["encoder"]
                     for rec in (first, last)] if last.get("gradient_norms") else None
            diff = max((rec["accuracy_set_statistics"] - rec["accuracy"] for rec in r["records"]), key=abs)
            lines.append(
                f"| {r['seed']} | {r['records'][2]['accuracy']:.3f} | {last['accuracy']:.3f} | "
                f"{last['entropy_of_mean']:.3f} / {last['entropy_per_sample']:.3f} | {'; '.join(merged) or '-'} | "
                f"{', '.join(split) or '-'} | {'-' if ratio is None else f'{ratio[0]:.0f} -> {ratio[1]:.0f}'} | "
                f"{', '.join(f'{d:.2f}' for d in last['dead_relu_fraction'])} | {diff:+.4f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist", help="a replicate/configs dataset (its paper profile)")
    parser.add_argument("--loader", help="another loader for the same config (e.g. 20news-unscaled)")
    parser.add_argument("--variant", default="released", choices=sorted(VARIANTS))
    parser.add_argument("--seed", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--profile", default="paper", help="the config profile the settings come from")
    parser.add_argument("--layers", type=int, nargs="+", help="hidden widths (default: the profile's)")
    parser.add_argument("--study-dir", type=Path, default=STUDY_DIR,
                        help="where the run files go (default results/studies/ladder_im; the runs of issue 11, "
                             "before the release's feed order, are in results/studies/ladder_im_issue11)")
    parser.add_argument("--report", action="store_true",
                        help="write the tables of the finished runs to <study-dir>_tables.md")
    args = parser.parse_args(argv)
    if args.report:
        text = report(args.study_dir)
        tables = args.study_dir.parent / f"{args.study_dir.name}_tables.md"
        tables.write_text(
            "# Single Ladder-IM study: tables\n\nWritten by `python -m replicate.studies.ladder --report` from "
            f"results/studies/{args.study_dir.name}/*.json; accuracy mean (std) [min-max] over seeds.\n\n" + text + "\n")
        print(text)
        return
    for seed in args.seed:
        run_seed(args.dataset, args.variant, seed, args.epochs, args.loader, args.layers, args.profile, args.study_dir)


if __name__ == "__main__":
    main()
