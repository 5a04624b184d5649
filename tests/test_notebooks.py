"""Both notebooks run from top to bottom (at toy size: KINGDRA_NOTEBOOK_TINY=1, and the figures
notebook on a tiny run of its own), so the committed ones cannot silently rot."""
import pytest

from replicate import notebooks, run
from kingdra.datasets import mnist
from tests.test_datasets import MIRROR


def test_walkthrough_runs(tmp_path, monkeypatch):
    if not all((MIRROR / remote.name).exists() for remote in mnist.FILES.values()):
        pytest.skip(f"the walkthrough uses MNIST, which is not in KINGDRA_DATA_DIR ({MIRROR})")
    monkeypatch.setenv("KINGDRA_NOTEBOOK_TINY", "1")
    executed = notebooks.execute(notebooks.NOTEBOOKS_DIR / "01_walkthrough.ipynb", tmp_path / "out.ipynb")
    text = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "round 0: ensemble accuracy" in text and "final: accuracy" in text


def test_figures_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("KINGDRA_CACHE_DIR", str(tmp_path / "cache"))
    runs_dir = tmp_path / "runs"
    run.main(["--dataset", "digits", "--method", "kingdra-ladder-im", "--profile", "tiny", "--seed", "0",
              "--runs-dir", str(runs_dir)])
    monkeypatch.setenv("KINGDRA_RUNS_DIR", str(runs_dir))
    monkeypatch.setenv("KINGDRA_FIGURES_DIR", str(tmp_path / "figures"))
    executed = notebooks.execute(notebooks.NOTEBOOKS_DIR / "02_figures.ipynb", tmp_path / "out.ipynb")
    text = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "1 run files" in text and "digits_clusters_tiny.png" in text
    assert (tmp_path / "figures" / "rounds_tiny.png").exists()
