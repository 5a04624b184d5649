"""The table sweep on a real local Ray cluster (2 CPUs, offline): the same run files as the
sequential path, a task whose worker is killed is retried and resumes from its checkpoint, and a
failing task is reported while the others finish."""
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

ray = pytest.importorskip("ray")

from replicate import cell, config, ray_sweep, records, run  # noqa: E402

# `sweep`: the rows' runs, one epoch each. `sweep-long`: a Kingdra run whose rounds last long enough
# (8 epochs) for the test to kill its worker between round 0's checkpoint and the end.
PROFILES = {"sweep": {"extends": "cpu", "pseudo_label_rounds": 1, "epochs_unsupervised": 1, "epochs": 1,
                      "layer_sizes": [16, 16], "ensemble": "vectorized", "ac_max_points": 500,
                      "notes": "tests: numbers mean nothing"},
            "sweep-long": {"extends": "sweep", "pseudo_label_rounds": 2, "epochs": 8}}
PER_RUN = ("environment", "resumed", "started", "wall_seconds", "training_seconds", "command")
REPO = Path(__file__).resolve().parents[1]


def sequential(config_dir, runs_dir, *args):
    """The sequential path in a process of its own, as a user runs it: the pytest process's JAX may
    have started under other XLA flags (an earlier test), which changes float rounding."""
    done = subprocess.run([sys.executable, "-m", "replicate.run", "--config-dir", str(config_dir),
                           "--runs-dir", str(runs_dir), *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, runtime_env=ray_sweep.runtime_env())
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    """digits and a second dataset (the same loader under another name), each with a `sweep` profile."""
    directory = tmp_path_factory.mktemp("configs")
    digits = json.loads((config.CONFIG_DIR / "digits.json").read_text())
    for name in ("digits", "digits-b"):
        profiles = {"cpu": digits["profiles"]["cpu"], **PROFILES}
        (directory / f"{name}.json").write_text(json.dumps({**digits, "dataset": name, "profiles": profiles}))
    loaded = {(name, profile): config.load_config(name, profile, directory)
              for name in ("digits", "digits-b") for profile in PROFILES}
    data = loaded["digits", "sweep"].load_data()
    return {"dir": directory, **{key: (c, data) for key, c in loaded.items()}}


def comparable(path):
    record = json.loads(path.read_text())
    for r in record["history"]:
        del r["seconds"]
    return {k: v for k, v in record.items() if k not in PER_RUN}


def test_a_sweep_through_ray_writes_the_sequential_run_files(cluster, configs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KINGDRA_CACHE_DIR", str(tmp_path / "cache"))
    todo = [(*configs[name, "sweep"][:1], method, seed, configs[name, "sweep"][1])
            for name in ("digits", "digits-b") for method in ("kmeans", "ladder-im") for seed in (0,)]
    sequential(configs["dir"], tmp_path / "sequential", "--dataset", "digits", "digits-b", "--method", "kmeans",
               "ladder-im", "--profile", "sweep", "--seed", "0")
    assert ray_sweep.run_sweep(todo, tmp_path / "ray", checkpoint_root=tmp_path / "checkpoints") == []
    out = capsys.readouterr().out
    assert "[4 done, 0 running, 0 left]" in out and "done digits-b | Ladder-IM | seed 0: accuracy" in out
    names = sorted(p.name for p in (tmp_path / "sequential").glob("*.json"))
    assert len(names) == 4 and names == sorted(p.name for p in (tmp_path / "ray").glob("*.json"))
    for name in names:
        assert comparable(tmp_path / "ray" / name) == comparable(tmp_path / "sequential" / name), name


def kill_the_task_once_its_checkpoint_exists(checkpoint, killed):
    """SIGKILL the worker running the task (Ray titles it `ray::_task`) after round 0 is saved."""
    deadline = time.time() + 300
    while time.time() < deadline and not checkpoint.exists():
        time.sleep(0.02)
    for p in psutil.process_iter(["cmdline"]):
        if p.info["cmdline"] and p.info["cmdline"][0].startswith("ray::_task"):
            p.kill()
            killed.append(p.pid)


def test_a_killed_task_is_retried_and_resumes_from_its_checkpoint(cluster, configs, tmp_path, monkeypatch):
    c, data = configs["digits", "sweep-long"]
    monkeypatch.setenv("KINGDRA_CACHE_DIR", str(tmp_path / "cache"))
    sequential(configs["dir"], tmp_path / "sequential", "--dataset", "digits", "--method", "kingdra-ladder-im",
               "--profile", "sweep-long", "--seed", "0")
    reference = records.run_path(tmp_path / "sequential", "digits", "kingdra-ladder-im", "sweep-long", 0)
    root = tmp_path / "checkpoints"
    checkpoint = cell.checkpoint_dir(c.dataset, "kingdra-ladder-im", c.profile, 0, root) / "kingdra_state.npz"
    killed = []
    killer = threading.Thread(target=kill_the_task_once_its_checkpoint_exists, args=(checkpoint, killed))
    killer.start()
    failures = ray_sweep.run_sweep([(c, "kingdra-ladder-im", 0, data)], tmp_path / "ray", checkpoint_root=root)
    killer.join()
    assert failures == [] and len(killed) == 1
    record = json.loads((tmp_path / "ray" / reference.name).read_text())
    assert record["resumed"] is True  # the retry started from round 0's checkpoint, not from scratch
    assert comparable(tmp_path / "ray" / reference.name) == comparable(reference)
    assert not checkpoint.parent.exists()


def test_a_failing_task_is_reported_and_the_others_finish(cluster, configs, tmp_path, capsys):
    (good, data), (bad, _) = configs["digits", "sweep"], configs["digits-b", "sweep"]
    X, y, info = data
    broken = (np.full_like(X, np.nan), y, info)  # K-means refuses NaN
    todo = [(good, "kmeans", 0, data), (bad, "kmeans", 0, broken), (good, "kmeans", 1, data)]
    failures = ray_sweep.run_sweep(todo, tmp_path)
    assert [(c.dataset, seed) for c, _, seed, _ in failures] == [("digits-b", 0)]
    assert isinstance(failures[0][3], ValueError) and "NaN" in str(failures[0][3])
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["digits__kmeans__sweep__seed0.json",
                                                               "digits__kmeans__sweep__seed1.json"]
    assert "FAILED digits-b | K-means | seed 0: ValueError" in capsys.readouterr().out


@pytest.mark.parametrize("flag, address", [(["--ray"], None), (["--ray", "auto"], "auto"),
                                           (["--ray", "10.0.0.1:6379"], "10.0.0.1:6379")])
def test_the_command_line_hands_the_missing_runs_to_ray(tmp_path, monkeypatch, flag, address):
    calls = {}
    monkeypatch.setattr(ray_sweep, "connect", lambda a: calls.setdefault("address", a))

    def run_sweep(todo, runs_dir, cpus_per_task, checkpoint_root, command):
        calls["runs"] = [(c.dataset, method, seed) for c, method, seed, _ in todo]
        return [todo[0][:3] + (RuntimeError("lost"),)]

    monkeypatch.setattr(ray_sweep, "run_sweep", run_sweep)
    (tmp_path / "digits__kmeans__tiny__seed0.json").write_text("{}")  # a finished run is never redone
    monkeypatch.setattr(run, "stale_reason", lambda *args: None)
    argv = ["--dataset", "digits", "--method", "kmeans", "ladder-im", "--profile", "tiny", "--seed", "0", "1",
            "--runs-dir", str(tmp_path), *flag]
    assert run.main(argv) == 1  # a failed task fails the command, after the others have run
    assert calls == {"address": address, "runs": [("digits", "ladder-im", 0), ("digits", "kmeans", 1),
                                                  ("digits", "ladder-im", 1)]}
