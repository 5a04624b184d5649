"""Run the table's methods and keep one JSON file per (dataset, method, profile, seed).

    python -m replicate.run --dataset mnist --method kingdra-ladder-im --profile cpu --seed 0
    python -m replicate.run --dataset present --method all --profile cpu --seed 0 1 2 [--plan]
    python -m replicate.run --dataset mnist --method all --profile paper --seed 0 1 2 3 4 --ray auto

`present` means every table dataset whose data can be loaded here. A run whose file exists is
skipped, so an interrupted invocation resumes where it stopped; a KingdraCluster run also keeps a
checkpoint after every round (under the cache, not the results) and continues from the last
finished one. Runs go dataset by dataset, seed by seed, so the first seed of every row lands first;
with `--ray` they run as tasks of a Ray cluster instead (replicate/ray_sweep.py), to the same run files.
This module decides what runs; replicate/cell.py runs one, replicate/records.py is the run file.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys

from kingdra.datasets import TABLE_DATASETS, download

from . import budget, environment
from .cell import run_one
from .config import CONFIG_DIR, load_config
from .methods import METHODS, check_method, estimator_params
from .records import DATA_FIELDS, portable_command, portable_source, read_run, run_name, run_path


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
        current["source"] = portable_source(current["source"])  # a matrix cached before may name its directory
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
    return {key: read_run(path) for key, path in paths.items() if path.exists()}


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


def estimated_seconds(config, method, shape) -> float:
    """Rough CPU cost of one run on an X of `shape` (see replicate.budget); the baselines count as free."""
    if check_method(method).overrides is None:
        return 0.0
    params = estimator_params(method, config.params)
    return budget.seconds(params, shape[0], shape[1], params.get("ensemble") == "vectorized")


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
    parser.add_argument("--allow-dirty", action="store_true",
                        help="write into a tracked runs dir from uncommitted code (the run files record the diff's "
                             "hash and the changed files)")
    parser.add_argument("--rerun-other-commits", action="store_true",
                        help="also redo runs made at another git commit (by default they are kept and counted)")
    args = parser.parse_args(argv)
    refusal = None if args.plan or args.allow_dirty else environment.refuse_dirty_tracked_runs(args.runs_dir)
    if refusal:
        parser.error(refusal)
    command = portable_command(sys.argv[1:] if argv is None else argv, environment.REPO)
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
        if args.plan:  # shapes, not data: planning never builds a matrix or extracts features
            todo = to_run(existing, config, methods, args.seed, commit=rerun_at, say=True)
            cost = sum(estimated_seconds(config, m, config.data_shape()) for _, m in todo)
            total += cost
            print(f"{config.dataset}: {len(todo)} runs missing, estimated {cost / 3600:.2f} h on a 2-core CPU "
                  "(replicate/budget.py; runs from other data, checked when the data loads, not counted)",
                  flush=True)
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
        cost = sum(estimated_seconds(config, m, data[0].shape) for _, m in todo)
        print(f"{config.dataset}: {len(todo)} runs missing, estimated {cost / 3600:.2f} h on a 2-core CPU "
              f"(replicate/budget.py)", flush=True)
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
