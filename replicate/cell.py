"""One cell of the table for one seed: fit its method and make its run record.

The sequential runner (replicate/run.py) and the Ray tasks (replicate/ray_sweep.py) both run a
cell through here, so a run file cannot tell how it was scheduled.
"""
from __future__ import annotations

import dataclasses
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from kingdra import metrics
from kingdra.checkpoint import FILENAME
from kingdra.cluster import KingdraCluster
from kingdra.datasets.base import cache_root

from . import environment
from .methods import agglomerative, check_method, estimator_params, kmeans
from .records import encode_labels, run_name, run_path, unfinished_path, write_record


def checkpoint_dir(dataset, method, profile, seed, root=None) -> Path:
    root = Path(root) if root is not None else cache_root() / "replicate" / "checkpoints"
    return root / run_name(dataset, method, profile, seed).removesuffix(".json")


def has_checkpoint(dataset, method, profile, seed, root=None) -> bool:
    return (checkpoint_dir(dataset, method, profile, seed, root) / FILENAME).exists()


def run_one(config, method, seed, data, runs_dir=environment.RUNS_DIR, env=None, command=None) -> Path:
    """Run one cell for one seed and write its run file (over a stale one, if any). While a Kingdra
    run is under way, its finished rounds are kept in `unfinished/` beside the run files."""
    path = run_path(runs_dir, config.dataset, method, config.profile, seed)
    progress = unfinished_path(runs_dir, config.dataset, method, config.profile, seed)
    if progress.exists() and not has_checkpoint(config.dataset, method, config.profile, seed):
        print(f"   {progress} records an earlier start, but its checkpoint is not on this machine: starting again "
              "from round 0 (the record is replaced round by round, never spliced)", flush=True)
    record = make_record(config, method, seed, data, env, command=command, progress_path=progress)
    write_record(path, record)
    progress.unlink(missing_ok=True)
    remove_checkpoint(config, method, seed)
    m = record["metrics"]
    print(f"   accuracy {m['accuracy']:.4f}  nmi {m['nmi']:.4f}  ari {m['ari']:.4f}  "
          f"{record['wall_seconds']:.0f} s -> {path}", flush=True)
    return path


def make_record(config, method, seed, data, env=None, checkpoint_root=None, command=None, progress_path=None) -> dict:
    """Run one (dataset, method, seed) and return its run record. A KingdraCluster run keeps a
    checkpoint after every round under `checkpoint_root` (default: the cache) and resumes from it;
    with `progress_path`, a record of its finished rounds is rewritten there after each one."""
    X, y, info = data
    spec = check_method(method)
    print(f"== {config.dataset} | {spec.label} | profile {config.profile} | seed {seed}", flush=True)
    started_at, started = datetime.now(timezone.utc).isoformat(timespec="seconds"), time.perf_counter()
    k = config.params["n_clusters"]
    params = None if spec.overrides is None else estimator_params(method, config.params)
    head = _record_head(config, method, spec.label, seed, info, X.shape, params, env, command)
    history, resumed, details, ensemble = [], False, {}, None
    if method == "kmeans":
        labels, details = kmeans(X, k, seed, config.baseline["kmeans_n_init"])
    elif method == "ac":
        labels, details = agglomerative(X, k, seed, config.baseline["ac_max_points"])
    else:
        checkpoints = checkpoint_dir(config.dataset, method, config.profile, seed, checkpoint_root)
        resumed = has_checkpoint(config.dataset, method, config.profile, seed, checkpoint_root)

        def keep_finished_rounds(model, _round):
            write_record(progress_path, {**head, "history": model.history_, "started": started_at,
                                         "unfinished": {"rounds_done": len(model.history_),
                                                        "rounds_total": params["pseudo_label_rounds"] + 1}})

        callbacks = () if progress_path is None or params["pseudo_label_rounds"] == 0 else (keep_finished_rounds,)
        model = KingdraCluster(**params, checkpoint_dir=str(checkpoints), callbacks=callbacks, verbose=2,
                               seed=seed).fit(X, y)
        labels, history, ensemble = model.labels_, model.history_, model.ensemble_
    scores = {"accuracy": metrics.accuracy(y, labels), "nmi": metrics.nmi(y, labels), "ari": metrics.ari(y, labels)}
    if params is not None and params["members"] > 1:
        scores.update({rule: history[-1][rule] for rule in ("accuracy_released", "accuracy_aligned")})
    return {
        **head,
        "config": {**head["config"], "details": details},
        "ensemble": ensemble,  # how the members actually trained: "sequential" or "vectorized" ("auto" resolved)
        "history": history,
        "metrics": {name: float(value) for name, value in scores.items()},
        "labels": encode_labels(labels),
        "resumed": resumed,
        "started": started_at,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "training_seconds": round(sum(r["seconds"] for r in history), 3) or None,
    }


def _record_head(config, method, label, seed, info, shape, params, env, command) -> dict:
    """What a run record says before the run: which cell, its settings, its data, where it ran."""
    return {
        "dataset": config.dataset, "method": method, "label": label, "profile": config.profile, "seed": seed,
        "config": {"loader": config.loader, "extractor": config.extractor, "notes": config.notes,
                   "estimator": params, "baseline": config.baseline, "details": {}},
        "data": {**dataclasses.asdict(info), "shape": list(shape)},
        "environment": env or environment.describe(),
        "command": command,
    }


def remove_checkpoint(config, method, seed, checkpoint_root=None) -> None:
    """Once a run's result is safe: a full ensemble's checkpoint is hundreds of MB."""
    shutil.rmtree(checkpoint_dir(config.dataset, method, config.profile, seed, checkpoint_root), ignore_errors=True)
