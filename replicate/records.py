"""The run file: one JSON record per (dataset, method, profile, seed), its name, how it is written and read.

A record holds the run's settings (`config.estimator`: KingdraCluster parameters), its data's
provenance, the environment, the round history, the scores and the labels themselves.
"""
from __future__ import annotations

import base64
import json
import re
import zlib
from pathlib import Path

import numpy as np

from kingdra.datasets.base import atomic_file
from kingdra.renamed import upgrade_names


def run_name(dataset, method, profile, seed) -> str:
    return f"{dataset}__{method}__{profile}__seed{seed}.json"


def run_path(runs_dir, dataset, method, profile, seed) -> Path:
    return Path(runs_dir) / run_name(dataset, method, profile, seed)


def unfinished_path(runs_dir, dataset, method, profile, seed) -> Path:
    """Where a Kingdra run under way keeps the record of its finished rounds (no labels, no final
    scores; `unfinished` says "round r of R"); removed once its run file is written."""
    return Path(runs_dir) / "unfinished" / run_name(dataset, method, profile, seed)


def encode_labels(labels) -> str:
    """Cluster ids as zlib-compressed uint8 in base64: a 70000-point labelling is ~20 KB of JSON,
    small enough to commit with every run so figures and rescoring need no rerun."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError(f"run files store cluster ids 0-255; got {labels.min()}-{labels.max()}")
    return base64.b64encode(zlib.compress(np.asarray(labels, np.uint8).tobytes(), 9)).decode()


def decode_labels(text: str) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), np.uint8).astype(np.int64)


DATA_FIELDS = ("source", "fidelity", "features", "extractor", "version")  # of DatasetInfo: what the data was
# An absolute path (not a URL's): "/a/b/file" with no letter, ':' or '/' before its first slash.
_PATH = re.compile(r"(,? in )?(?<![\w:/.])(/[^\s(),]+)")


def portable_source(source):
    """A data source as it reads on any machine: files by name and by the checksum they matched,
    no directory. Loaders write it so; run files from before (which named the data directory, e.g.
    MNIST's "..., in /data/mnist") are read through this, so moving the data never reruns a run."""
    if source is None:
        return None
    return _PATH.sub(lambda m: "" if m.group(1) else m.group(2).rsplit("/", 1)[-1], source)


def write_record(path, record) -> None:
    """The run file, written atomically: a half-written file never takes the final name."""
    with atomic_file(Path(path)) as tmp:
        tmp.write(json.dumps(record, indent=1).encode())


def portable_command(argv, repo) -> str:
    """The command line as a run file records it, with no path of this machine: a path inside the
    repository relative to it, one outside by its last name alone."""
    def portable(token):
        path = Path(token)
        if not path.is_absolute():
            return token
        return str(path.relative_to(repo)) if path.is_relative_to(repo) else f"<outside the repository>/{path.name}"

    return " ".join(["python -m replicate.run", *map(portable, argv)])


def read_run(path) -> dict:
    """A run file as today's code writes one: its KingdraCluster settings in today's parameter names
    (files written before a rename keep the old spelling: kingdra.renamed.RENAMED) and its data
    source without a directory (`portable_source`)."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:  # run files are written atomically: this one was edited by hand
        raise ValueError(f"{path} is not valid JSON ({err}); delete it and run `make table1` again") from err
    estimator = record.get("config", {}).get("estimator")
    if estimator:
        record["config"]["estimator"] = upgrade_names(estimator)
    if "source" in record.get("data", {}):
        record["data"]["source"] = portable_source(record["data"]["source"])
    return record
