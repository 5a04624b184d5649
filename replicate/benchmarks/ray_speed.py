"""What running the sweep on Ray costs over the sequential path, on this machine -> results/ray_bench.json.

    python -m replicate.benchmarks.ray_speed [--out results/ray_bench.json]

The same eight small runs (digits and a copy of it under another name, K-means and Ladder-IM, seeds
0 and 1, networks of 16-16 trained one epoch) go three ways: one after another in this process; on a
local Ray cluster of this machine's CPUs with 1 CPU per task (tasks run side by side); and with every
CPU per task, so they run one at a time and the driver's wall time minus the tasks' own is what Ray
adds per task (scheduling, shipping the data, writing the run file). Run it on an idle machine.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from kingdra.datasets.base import atomic_file

from .. import cell, config, environment, ray_sweep

PROFILE = {"extends": "cpu", "pseudo_label_rounds": 1, "epochs_unsupervised": 1, "epochs": 1, "layer_sizes": [16, 16],
           "ensemble": "vectorized", "ac_max_points": 500, "notes": "ray_bench: numbers mean nothing"}


def sweep(config_dir):
    configs = [config.load_config(name, "bench", config_dir) for name in ("digits", "digits-b")]
    data = configs[0].load_data()
    return [(c, method, seed, data) for c in configs for method in ("kmeans", "ladder-im") for seed in (0, 1)]


def task_seconds(runs_dir) -> float:
    return sum(json.loads(p.read_text())["wall_seconds"] for p in Path(runs_dir).glob("*.json"))


def measure(scratch: Path) -> dict:
    import ray

    digits = json.loads((config.CONFIG_DIR / "digits.json").read_text())
    for name in ("digits", "digits-b"):
        profiles = {"cpu": digits["profiles"]["cpu"], "bench": PROFILE}
        (scratch / f"{name}.json").write_text(json.dumps({**digits, "dataset": name, "profiles": profiles}))
    todo = sweep(scratch)
    cpus = os.cpu_count()
    out = {"runs": len(todo), "cpus": cpus}
    started = time.perf_counter()
    for c, method, seed, data in todo:
        cell.run_one(c, method, seed, data, scratch / "sequential", env={})
    out["sequential_s"] = time.perf_counter() - started
    out["sequential_sum_of_runs_s"] = task_seconds(scratch / "sequential")
    started = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, runtime_env=ray_sweep.runtime_env())
    out["ray_init_s"] = time.perf_counter() - started
    for per_task in sorted({1, cpus}):
        runs_dir = scratch / f"ray-{per_task}cpu"
        started = time.perf_counter()
        failures = ray_sweep.run_sweep(todo, runs_dir, cpus_per_task=per_task, checkpoint_root=scratch / "checkpoints")
        if failures:
            raise RuntimeError(f"{len(failures)} runs failed: {failures[0][3]}")
        out[f"ray_{per_task}cpu_per_task_s"] = time.perf_counter() - started
        out[f"ray_{per_task}cpu_per_task_sum_of_runs_s"] = task_seconds(runs_dir)
    ray.shutdown()
    one_at_a_time = f"ray_{cpus}cpu_per_task"
    out["ray_added_per_task_s"] = (out[f"{one_at_a_time}_s"] - out[f"{one_at_a_time}_sum_of_runs_s"]) / len(todo)
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replicate.benchmarks.ray_speed",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(environment.RESULTS_DIR / "ray_bench.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["KINGDRA_CACHE_DIR"] = str(Path(scratch) / "cache")  # checkpoints of this bench only
        result = {"measured": measure(Path(scratch)), "environment": environment.describe()}
    with atomic_file(Path(args.out)) as tmp:
        tmp.write(json.dumps(result, indent=1).encode())
    print(json.dumps(result["measured"], indent=1), f"\nwrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
