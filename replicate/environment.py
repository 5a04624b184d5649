"""What a run ran on: package versions, Keras backend, git commit, hardware."""
from __future__ import annotations

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


def describe_git():
    """Commit and whether the tree had uncommitted changes; read-only (no index refresh is written)."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}

    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=30)

    try:
        head = git("rev-parse", "HEAD")
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}
    if head.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}
