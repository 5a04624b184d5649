"""What a run ran on: package versions, Keras backend, git commit, hardware."""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

PACKAGES = ("keras", "jax", "jaxlib", "tensorflow-cpu", "tensorflow", "numpy", "scipy", "scikit-learn")
REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "results"
RUNS_DIR = RESULTS_DIR / "runs"


def describe() -> dict:
    import keras

    return {
        "python": platform.python_version(),
        "packages": {name: version for name in PACKAGES if (version := _version(name))},
        "keras_backend": keras.backend.backend(),
        "xla_flags": os.environ.get("XLA_FLAGS"),
        "git": describe_git(),
        "hardware": hardware(),
    }


def hardware() -> dict:
    import keras
    import psutil

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "accelerators": [d for d in keras.distribution.list_devices() if not d.lower().startswith("cpu")],
        "platform": platform.platform(),
    }


def hardware_label(hw: dict) -> str:
    accelerators = ", ".join(hw.get("accelerators") or []) or "no accelerator"
    return f"{hw.get('cpu')}, {hw.get('cores')} cores, {accelerators}"


def _version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# What a run's results live in, not the code that made them: changes there leave the tree clean.
NOT_CODE = ("results", "figures", "notebooks")


def _git(repo, *args):
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # read-only: no index refresh is written
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=30)


def describe_git(repo=REPO):
    """The commit and whether the code had uncommitted changes (tracked files outside NOT_CODE);
    when it had, also which files and a hash of their diff, so the run says what code made it."""
    try:
        head = _git(repo, "rev-parse", "HEAD")
        code = ["--", ".", *(f":(exclude){d}" for d in NOT_CODE)]
        status = _git(repo, "status", "--porcelain", "--untracked-files=no", *code)
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}
    if head.returncode != 0:
        return {"commit": None, "dirty": None}
    found = {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}
    if found["dirty"]:
        diff = _git(repo, "diff", "HEAD", "--binary", *code).stdout
        found["changed_files"] = sorted(line[3:] for line in status.stdout.splitlines())
        found["diff_sha1"] = hashlib.sha1(diff.encode()).hexdigest()
    return found


def tracked_by_git(directory, repo=REPO) -> bool:
    """Whether a file written into `directory` would belong to the repository: inside it, not ignored."""
    directory = Path(directory).resolve()
    if not directory.is_relative_to(Path(repo).resolve()):
        return False
    try:
        return _git(repo, "check-ignore", "-q", str(directory / "run.json")).returncode == 1  # 1: not ignored
    except (OSError, subprocess.TimeoutExpired):
        return False


def refuse_dirty_tracked_runs(runs_dir, repo=REPO) -> str | None:
    """Why run files must not be written into `runs_dir` now (a tracked folder, from uncommitted
    code), or None. A committed table must come from committed code."""
    if not tracked_by_git(runs_dir, repo):
        return None
    git = describe_git(repo)
    if not git["dirty"]:
        return None
    files = git["changed_files"]
    return (f"the code has uncommitted changes ({', '.join(files[:4])}{', ...' if len(files) > 4 else ''}) and "
            f"{runs_dir} is tracked by git, so its run files could not say which code made them. Commit first, "
            "write elsewhere (RUNS=fresh, --runs-dir), or pass --allow-dirty (each run file then records the "
            "changed files and a hash of their diff)")
