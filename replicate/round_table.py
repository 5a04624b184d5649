"""Round by round: what each Kingdra run trained on and reached, from its run file's history.

One table per dataset and Kingdra row of a profile, one column per seed, one line per round: the
combined ensemble's accuracy after the round and the pseudo-labels the round trained on, their
count and precision. The precision is scored afterwards against the labels, which the run never
sees. A run under way shows its finished rounds. `replicate.table` lays the tables out.
"""
from __future__ import annotations

from kingdra.datasets import title

from .methods import METHODS

NOTE = ("Each cell: the ensemble's accuracy (%) after the round · the pseudo-labels the round trained on @ their "
        "precision (scored afterwards against the labels, never seen by the run); `earlier`: the round reused an "
        "earlier round's set (no new complete set); `unsupervised`: no complete set yet, so the round trained "
        "without pseudo-labels.")


def has_pseudo_label_rounds(run) -> bool:
    """A run whose estimator trained pseudo-label rounds (a Kingdra row), judged by its own record."""
    return (run["config"].get("estimator") or {}).get("pseudo_label_rounds", 0) > 0


def round_cell(record) -> str:
    cell = f"{100 * record['accuracy']:.1f}" if "accuracy" in record else "—"
    if record["round"] == 0:
        return cell
    if not record["pseudo_labels"]:
        return f"{cell} · unsupervised"
    found = f"{record['pseudo_labels']}"
    if "pseudo_label_precision" in record:
        found += f" @ {record['pseudo_label_precision']:.3f}"
    return f"{cell} · {found}" + (" `earlier`" if record["pseudo_label_source"] == "earlier" else "")


def column_name(run) -> str:
    if "unfinished" not in run:
        return f"seed {run['seed']}"
    done, total = run["unfinished"]["rounds_done"], run["unfinished"]["rounds_total"]
    return f"seed {run['seed']} (under way: round {done - 1} of {total - 1})"


def round_tables(runs, under_way, datasets) -> list[tuple[str, list[str], list[list[str]]]]:
    """(label, header, rows) per dataset and Kingdra row with runs, finished or under way."""
    tables = []
    for dataset in datasets:
        for method in METHODS:
            mine = sorted((r for r in [*runs, *under_way]
                           if (r["dataset"], r["method"]) == (dataset, method) and has_pseudo_label_rounds(r)),
                          key=lambda r: (r["seed"], "unfinished" in r))
            if not mine:
                continue
            n_rounds = max(len(r["history"]) for r in mine)
            rows = [[str(i)] + [round_cell(r["history"][i]) if i < len(r["history"]) else "" for r in mine]
                    for i in range(n_rounds)]
            tables.append((f"{title(dataset)}, {METHODS[method].label}", ["round"] + [column_name(r) for r in mine],
                           rows))
    return tables
