"""The missing runs of a table as Ray tasks: `python -m replicate.run ... --ray [ADDRESS]`.

Ray is the engine: it places each (dataset, method, profile, seed) run on a node with a free GPU (or
CPUs), retries a task whose worker died, and joins an existing cluster (`--ray ADDRESS`, `RAY_ADDRESS`,
`auto`) or starts a local one. This module only says what one task is and what the driver does with
its result: it writes the run file, atomically, as the task finishes, exactly as the sequential path
would, so the table and figures cannot tell how a run was scheduled.

A Kingdra task checkpoints every finished round under `checkpoint_root` (default: the worker's
cache), so a retried task resumes where its worker stopped; on a multi-node cluster point it at
storage every node sees, or a retry on another node starts the run over.
"""
from __future__ import annotations

import time
from pathlib import Path

import ray

from . import environment
from .cell import make_record, remove_checkpoint
from .methods import check_method
from .records import run_path, write_record


@ray.remote(num_cpus=0)
class Progress:
    """Which runs have started: the driver cannot see a queued task from a running one."""

    def __init__(self):
        self.started = set()

    def start(self, key):
        self.started.add(key)

    def count(self):
        return len(self.started)


def _task(config, method, seed, data, checkpoint_root, command, progress):
    ray.get(progress.start.remote((config.dataset, method, seed)))  # counted as running before it runs
    record = make_record(config, method, seed, data, checkpoint_root=checkpoint_root, command=command)
    remove_checkpoint(config, method, seed, checkpoint_root)  # the result now lives in Ray's object store
    return record


def runtime_env():
    """What every worker gets: our code (py_modules, so a cluster needs only the pinned packages) and
    the driver's Keras backend."""
    import keras  # the backend the driver resolved (KERAS_BACKEND, else kingdra's default)

    here = Path(__file__).resolve().parents[1]
    return {"py_modules": [str(here / "kingdra"), str(here / "replicate")],
            "env_vars": {"KERAS_BACKEND": keras.backend.backend()}}


def connect(address=None):
    """Join the cluster at `address` ('auto', 'host:port', or None for $RAY_ADDRESS, else a new local
    one); a session already connected (tests, notebooks) is used as it is."""
    if not ray.is_initialized():
        ray.init(address=address, runtime_env=runtime_env())


def resources(cpus_per_task):
    """One GPU per task where the cluster has GPUs, else `cpus_per_task` CPUs."""
    if ray.cluster_resources().get("GPU", 0) >= 1:
        return {"num_gpus": 1, "num_cpus": 1}
    return {"num_gpus": 0, "num_cpus": cpus_per_task}


def run_sweep(todo, runs_dir=environment.RUNS_DIR, cpus_per_task=1, checkpoint_root=None, command=None,
              max_retries=3):
    """Run every (config, method, seed, data) of `todo` as one Ray task; write each run file as its
    task finishes. A failed task is reported and the rest go on. Returns the failures as
    [(config, method, seed, error)]."""
    task = ray.remote(_task).options(**resources(cpus_per_task), max_retries=max_retries, retry_exceptions=False)
    progress = Progress.remote()
    shared = {}  # one object-store copy of each dataset, however many tasks read it
    pending = {}
    for config, method, seed, data in todo:
        if id(data) not in shared:
            shared[id(data)] = ray.put(data)
        ref = task.remote(config, method, seed, shared[id(data)], checkpoint_root, command, progress)
        pending[ref] = (config, method, seed, time.perf_counter())
    print(f"ray: {len(todo)} runs submitted to a cluster of {ray.cluster_resources().get('CPU', 0):g} CPUs and "
          f"{ray.cluster_resources().get('GPU', 0):g} GPUs, {resources(cpus_per_task)} each", flush=True)
    done, failures = 0, []
    while pending:
        [ref], _ = ray.wait(list(pending), num_returns=1)
        config, method, seed, submitted = pending.pop(ref)
        name = f"{config.dataset} | {check_method(method).label} | seed {seed}"
        try:
            record = ray.get(ref)
        except ray.exceptions.RayError as err:
            cause = getattr(err, "cause", None) or err
            failures.append((config, method, seed, cause))
            outcome = f"FAILED {name}: {type(cause).__name__}: {str(cause).strip().splitlines()[-1]}"
        else:
            path = run_path(runs_dir, config.dataset, method, config.profile, seed)
            write_record(path, record)
            done += 1
            outcome = (f"done {name}: accuracy {record['metrics']['accuracy']:.4f}, "
                       f"{record['wall_seconds'] / 60:.1f} min -> {path}")
        started = ray.get(progress.count.remote())
        running = started - done - len(failures)
        print(f"{outcome}  [{done} done, {running} running, {len(todo) - started} left"
              + (f", {len(failures)} failed]" if failures else "]"), flush=True)
    return failures
