"""Execute the notebooks in place, so the committed copies carry the outputs of a real run.

    python -m replicate.notebooks [notebooks/01_walkthrough.ipynb ...]

The test suite runs the same function with KINGDRA_NOTEBOOK_TINY=1 (toy sizes) on copies.
"""
from __future__ import annotations

import sys

from .environment import REPO

NOTEBOOKS_DIR = REPO / "notebooks"
NOTEBOOKS = ("01_walkthrough.ipynb", "02_figures.ipynb")


def execute(path, out_path=None, timeout=1800):
    """Run every cell of the notebook at `path` (working directory: notebooks/) and save it with
    its outputs to `out_path` (default: in place). A failing cell raises with its traceback."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}).execute()
    nbformat.write(notebook, out_path or path)
    return notebook


def main(argv=None) -> int:
    paths = (argv if argv is not None else sys.argv[1:]) or [NOTEBOOKS_DIR / name for name in NOTEBOOKS]
    for path in paths:
        print(f"executing {path}", flush=True)
        execute(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
