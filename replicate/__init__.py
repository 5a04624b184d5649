"""The paper's experiments on top of the `kingdra` library: configs, runs, tables.

`replicate.run` writes one JSON file per (dataset, method, profile, seed) under `results/runs/`;
`replicate.table` renders `results/table1.md|csv` from those files alone.
"""
import kingdra  # noqa: F401  first, so its backend and XLA defaults precede Keras and JAX
