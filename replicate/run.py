"""Run the table's methods and keep one JSON file per (dataset, method, profile, seed).

    python -m replicate.run --dataset mnist --method kingdra-ladder-im --profile cpu --seed 0
    python -m replicate.run --dataset present --method all --profile cpu --seed 0 1 2 [--plan]
    python -m replicate.run --dataset mnist --method all --profile paper --seed 0 1 2 3 4 --ray auto

`present` means every table dataset whose data can be loaded here. A run whose file exists is
skipped, so an interrupted invocation resumes where it stopped; a KingdraCluster run also keeps a
checkpoint after every round (under the cache, not the results) and continues from the last
finished one. Runs go dataset by dataset, seed by seed, so the first seed of every row lands first;
with `--ray` they run as tasks of a Ray cluster instead (replicate/ray_sweep.py), to the same run files.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import json
import shutil
import sys
import time
import zlib
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from kingdra import metrics
from kingdra.cluster import KingdraCluster
from kingdra.datasets import TABLE_DATASETS, download
from kingdra.datasets.base import atomic_file, cache_root

from . import budget, environment
from .config import CONFIG_DIR, load_config
from .methods import METHODS, agglomerative, check_method, estimator_params, kmeans


def run_name(dataset, method, profile, seed) -> str:
    return f"{dataset}__{method}__{profile}__seed{seed}.json"


def run_path(runs_dir, dataset, method, profile, seed) -> Path:
    return Path(runs_dir) / run_name(dataset, method, profile, seed)


def encode_labels(labels) -> str:
    """Cluster ids as zlib-compressed uint8 in base64: a 70000-point labelling is ~20 KB of JSON,
    small enough to commit with every run so figures and rescoring need no rerun."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError(f"run files store cluster ids 0-255; got {labels.min()}-{labels.max()}")
    return base64.b64encode(zlib.compress(np.asarray(labels, np.uint8).tobytes(), 9)).decode()


def decode_labels(text: str) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), np.uint8).astype(np.int64)


DATA_FIELDS = ("source", "fidelity", "features", "extractor", "version")  # of DatasetInfo: what the data was


def stale_reason(run, config, method, data_info=None, commit=None) -> str | None:
    """Why an existing run (its parsed file) no longer answers for its profile, or None when it can be
    reused: its settings differ from the profile's; its data source or features differ from
    `data_info` (when the data is at hand); it ran at a commit other than `commit` (only when one is
    given: a code change alone reruns nothing unless asked to, `--rerun-other-commits`)."""
    ran = run["config"]
    now = {"estimator": None if check_method(method).overrides is None else estimator_params(method, config.params),
           "baseline": config.baseline}
    reasons = []
    changed = [k for k in now if json.dumps(ran.get(k), sort_keys=True) != json.dumps(now[k], sort_keys=True)]
    if changed:
        reasons.append(f"its {' and '.join(changed)} settings differ from profile {config.profile!r}")
    if data_info is not None:
        current = dataclasses.asdict(data_info)
        differ = [f for f in DATA_FIELDS if run.get("data", {}).get(f) != current[f]]
        if differ:
            reasons.append(f"its data's {', '.join(differ)} differ from the data here "
                           f"(version {run.get('data', {}).get('version')!r}, now {current['version']!r})")
    ran_at = ran_at_commit(run)
    if commit is not None and ran_at != commit:
        reasons.append(f"it ran at commit {str(ran_at)[:10]}, the code is at {commit[:10]}")
    return "; ".join(reasons) or None


def ran_at_commit(run) -> str | None:
    return run.get("environment", {}).get("git", {}).get("commit")


def existing_runs(runs_dir, config, methods, seeds) -> dict:
    """{(seed, method): parsed run file} of the runs already made, each file read once."""
    paths = {(s, m): run_path(runs_dir, config.dataset, m, config.profile, s) for s in seeds for m in methods}
    return {key: json.loads(path.read_text()) for key, path in paths.items() if path.exists()}


def checkpoint_dir(dataset, method, profile, seed, root=None) -> Path:
    root = Path(root) if root is not None else cache_root() / "replicate" / "checkpoints"
    return root / run_name(dataset, method, profile, seed).removesuffix(".json")


def run_one(config, method, seed, data, runs_dir=environment.RUNS_DIR, env=None, command=None) -> Path:
    """Run one cell for one seed and write its run file (over a stale one, if any)."""
    path = run_path(runs_dir, config.dataset, method, config.profile, seed)
    record = make_record(config, method, seed, data, env, command=command)
    write_record(path, record)
    remove_checkpoint(config, method, seed)
    m = record["metrics"]
    print(f"   accuracy {m['accuracy']:.4f}  nmi {m['nmi']:.4f}  ari {m['ari']:.4f}  "
          f"{record['wall_seconds']:.0f} s -> {path}", flush=True)
    return path


def make_record(config, method, seed, data, env=None, checkpoint_root=None, command=None) -> dict:
    """Run one (dataset, method, seed) and return its run record. A KingdraCluster run keeps a
    checkpoint after every round under `checkpoint_root` (default: the cache) and resumes from it."""
    X, y, info = data
    label = check_method(method).label
    print(f"== {config.dataset} | {label} | profile {config.profile} | seed {seed}", flush=True)
    started_at, started = datetime.now(timezone.utc).isoformat(timespec="seconds"), time.perf_counter()
    k = config.params["n_clusters"]
    checkpoints, history, resumed, details, params, ensemble = None, [], False, {}, None, None
    if method == "kmeans":
        labels, details = kmeans(X, k, seed, config.baseline["kmeans_n_init"])
    elif method == "ac":
        labels, details = agglomerative(X, k, seed, config.baseline["ac_max_points"])
    else:
        params = estimator_params(method, config.params)
        checkpoints = checkpoint_dir(config.dataset, method, config.profile, seed, checkpoint_root)
        resumed = (checkpoints / "kingdra_state.npz").exists()
        model = KingdraCluster(**params, checkpoint_dir=str(checkpoints), verbose=2, seed=seed).fit(X, y)
        labels, history, ensemble = model.labels_, model.history_, model.ensemble_
    scores = {"accuracy": metrics.accuracy(y, labels), "nmi": metrics.nmi(y, labels), "ari": metrics.ari(y, labels)}
    if params is not None and params["members"] > 1:
        scores.update({rule: history[-1][rule] for rule in ("accuracy_released", "accuracy_aligned")})
    record = {
        "dataset": config.dataset, "method": method, "label": label, "profile": config.profile, "seed": seed,
        "config": {"loader": config.loader, "extractor": config.extractor, "notes": config.notes,
                   "estimator": params, "baseline": config.baseline, "details": details},
        "data": {**dataclasses.asdict(info), "shape": list(X.shape)},
        "environment": env or environment.describe(),
        "command": command,
        "ensemble": ensemble,  # how the members actually trained: "sequential" or "vectorized" ("auto" resolved)
        "history": history,
        "metrics": {name: float(value) for name, value in scores.items()},
        "labels": encode_labels(labels),
        "resumed": resumed,
        "started": started_at,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "training_seconds": round(sum(r["seconds"] for r in history), 3) or None,
    }
    return record


def remove_checkpoint(config, method, seed, checkpoint_root=None) -> None:
    """Once a run's result is safe: a full ensemble's checkpoint is hundreds of MB."""
    shutil.rmtree(checkpoint_dir(config.dataset, method, config.profile, seed, checkpoint_root), ignore_errors=True)


def write_record(path, record) -> None:
    """The run file, written atomically: a half-written file never takes the final name."""
    with atomic_file(Path(path)) as tmp:
        tmp.write(json.dumps(record, indent=1).encode())


def to_run(existing, config, methods, seeds, data_info=None, commit=None, say=False) -> list:
    """The (seed, method) pairs without a run file or with a stale one; with `say`, print why each
    stale one reruns."""
    todo = []
    for seed in seeds:
        for method in methods:
            if (seed, method) in existing:
                reason = stale_reason(existing[seed, method], config, method, data_info, commit)
                if reason is None:
                    continue
                if say:
                    print(f"rerun {run_name(config.dataset, method, config.profile, seed)}: {reason}", flush=True)
            todo.append((seed, method))
    return todo


def estimated_seconds(config, method, data) -> float:
    """Rough CPU cost of one run (see replicate.budget); the baselines count as free."""
    if check_method(method).overrides is None:
        return 0.0
    params = estimator_params(method, config.params)
    X = data[0]
    return budget.seconds(params, X.shape[0], X.shape[1], params.get("ensemble") == "vectorized")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replicate.run", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", nargs="+", required=True,
                        help=f"dataset names, or 'present' for every one of {TABLE_DATASETS} whose data loads")
    parser.add_argument("--method", nargs="+", default=["all"], help=f"'all' or some of {list(METHODS)}")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--seed", nargs="+", type=int, default=[0])
    parser.add_argument("--runs-dir", default=str(environment.RUNS_DIR))
    parser.add_argument("--plan", action="store_true", help="print what is missing and its estimated cost; run nothing")
    parser.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                        help="run each missing run as a Ray task: join the cluster at ADDRESS ('auto' or host:port), "
                             "or with no ADDRESS the one $RAY_ADDRESS names, else a new local one")
    parser.add_argument("--cpus-per-task", type=int, default=1,
                        help="with --ray on a cluster without GPUs: CPUs each task asks for (default 1)")
    parser.add_argument("--checkpoint-root", default=None,
                        help="with --ray: where tasks keep their round checkpoints (default: each worker's cache); "
                             "storage every node sees lets a task retried on another node resume")
    parser.add_argument("--config-dir", default=str(CONFIG_DIR),
                        help="directory of <dataset>.json configs (default: replicate/configs)")
    parser.add_argument("--rerun-other-commits", action="store_true",
                        help="also redo runs made at another git commit (by default they are kept and counted)")
    args = parser.parse_args(argv)
    command = " ".join(["python -m replicate.run", *(sys.argv[1:] if argv is None else argv)])
    head = environment.describe_git()["commit"]
    rerun_at = head if args.rerun_other_commits else None
    methods = list(METHODS) if args.method == ["all"] else args.method
    for method in methods:
        check_method(method)
    only_present = args.dataset == ["present"]
    datasets = TABLE_DATASETS if only_present else args.dataset
    configs = [load_config(name, args.profile, args.config_dir) for name in datasets]  # all checked before any run
    env, total, sweep = None, 0.0, []
    for config in configs:
        existing = existing_runs(args.runs_dir, config, methods, args.seed)
        older = sum(ran_at_commit(r) != head for r in existing.values()) if head and not rerun_at else 0
        if older:
            print(f"{config.dataset}: {older} run files were made at another commit than {head[:10]}; kept "
                  "(--rerun-other-commits redoes them)", flush=True)
        if not to_run(existing, config, methods, args.seed, commit=rerun_at):
            print(f"{config.dataset}: every run exists", flush=True)
            continue
        try:
            # `present` is data already here: it never starts a download (`make data` is that ask)
            with download.downloads_disabled() if only_present else contextlib.nullcontext():
                data = config.load_data()
        except FileNotFoundError as err:
            if not only_present:
                raise
            print(f"{config.dataset}: skipped, its data is not here ({str(err).splitlines()[0]})", flush=True)
            continue
        # With the data at hand, a run made from other data (source, features, version) is stale too.
        todo = to_run(existing, config, methods, args.seed, data[2], rerun_at, say=True)
        cost = sum(estimated_seconds(config, m, data) for _, m in todo)
        total += cost
        print(f"{config.dataset}: {len(todo)} runs missing, estimated {cost / 3600:.2f} h on a 2-core CPU "
              f"(replicate/budget.py)", flush=True)
        if args.plan:
            continue
        if args.ray is not None:
            sweep += [(config, method, seed, data) for seed, method in todo]
            continue
        env = env or environment.describe()
        for seed, method in todo:
            run_one(config, method, seed, data, args.runs_dir, env, command)
    if args.plan:
        print(f"estimated total {total / 3600:.2f} h", flush=True)
        return 0
    if sweep:
        from . import ray_sweep  # Ray loads only when asked for

        ray_sweep.connect(args.ray or None)
        failures = ray_sweep.run_sweep(sweep, args.runs_dir, args.cpus_per_task, args.checkpoint_root, command)
        if failures:
            print(f"{len(failures)} of {len(sweep)} runs failed; fix them and run again (finished runs are kept)",
                  flush=True)
            return 1
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
