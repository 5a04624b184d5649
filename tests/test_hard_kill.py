"""SIGKILL at any point of `python -m replicate.run` loses nothing: killed mid-round, again while the
checkpoint is being written, and again after the last round, the restarted run writes the same labels
and run file as one that was never interrupted. Each run is a real subprocess killed by the kernel."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARGS = ["--dataset", "digits", "--method", "kingdra-ladder-im", "--profile", "tiny", "--seed", "0"]
NAME = "digits__kingdra-ladder-im__tiny__seed0"
PER_RUN = ("resumed", "started", "wall_seconds", "training_seconds", "command")  # when, how long, from where


def replicate_run(tmp_path, point):
    env = {**os.environ, "KINGDRA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(REPO / "tests" / "kill_at.py"), point, *ARGS,
                           "--runs-dir", str(tmp_path / "runs")], env=env, cwd=REPO, capture_output=True, text=True)


def result(tmp_path):
    record = json.loads((tmp_path / "runs" / f"{NAME}.json").read_text())
    for r in record["history"]:
        del r["seconds"]
    return {k: v for k, v in record.items() if k not in PER_RUN}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("uninterrupted")
    assert replicate_run(tmp_path, "none").returncode == 0
    return result(tmp_path)


def test_three_hard_kills_then_the_same_run_file(tmp_path, uninterrupted):
    checkpoint = tmp_path / "cache" / "replicate" / "checkpoints" / NAME / "kingdra_state.npz"
    run_file = tmp_path / "runs" / f"{NAME}.json"

    killed = replicate_run(tmp_path, "mid-round-1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert checkpoint.exists() and not run_file.exists()  # round 0 is saved, round 1 was under way
    round_0 = checkpoint.read_bytes()

    killed = replicate_run(tmp_path, "checkpoint-write")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert "resuming from" in killed.stdout and "after round 0" in killed.stdout
    half = checkpoint.with_name("kingdra_state.npz.tmp.npz")
    assert half.exists() and checkpoint.read_bytes() == round_0  # the half-written file never took the name

    killed = replicate_run(tmp_path, "before-run-file")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert checkpoint.read_bytes() != round_0 and not run_file.exists()  # every round saved, no result yet

    finished = replicate_run(tmp_path, "none")
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "after round 1" in finished.stdout
    assert json.loads(run_file.read_text())["resumed"] is True
    assert result(tmp_path) == uninterrupted
    assert not checkpoint.parent.exists()  # removed once the run file is written
