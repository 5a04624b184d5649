"""Render the paper's main table from the run files: `results/table1.md` and `results/table1.csv`.

    python -m replicate.table [--runs-dir results/runs] [--out-dir results]

One section per profile found. Cells are mean (std) over seeds (sample std) in percent; a cell
with fewer seeds than its profile's others says how many; a cell without runs shows "—". A run
made with settings its profile has changed since is stale: it is counted above the profile's
tables and left out of every cell, so no cell mixes two settings. The paper's numbers sit in their
own columns, labelled as the paper's, and fill nothing else. A Kingdra run under way (its record in
`unfinished/` beside the run files) fills no cell's mean: a cell with no finished run shows where it
stands, "accuracy at round r of R", and a line under the table says more. Each profile ends with its
Kingdra runs round by round (`replicate.round_table`). The README's copy of the `cpu` accuracy
table is rewritten here too (between its README_BEGIN and README_END lines).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

import numpy as np

from kingdra.datasets import DATASETS, TABLE_DATASETS, title
from kingdra.datasets.base import atomic_file

from . import paper, round_table
from .config import load_config
from .environment import REPO, RESULTS_DIR, RUNS_DIR, hardware_label
from .methods import METHODS, estimator_params
from .records import read_run

NOT_RUN = "—"
METRICS = ("accuracy", "nmi", "ari", "accuracy_released", "accuracy_aligned")
PROFILE_ORDER = ("paper", "cpu", "tiny")


def load_runs(runs_dir) -> list[dict]:
    return [read_run(path) for path in sorted(Path(runs_dir).glob("*.json"))]


def load_unfinished(runs_dir) -> list[dict]:
    """The records of Kingdra runs under way (or stopped): their finished rounds, no final scores."""
    return [read_run(path) for path in sorted((Path(runs_dir) / "unfinished").glob("*.json"))]


def round_of(run) -> str:
    return f"round {run['unfinished']['rounds_done'] - 1} of {run['unfinished']['rounds_total'] - 1}"


def run_seconds(run) -> float:
    """A run's time: its wall time, or for a run resumed from a checkpoint the seconds of all its rounds,
    since its wall time counts only the last process and the earlier rounds ran in others."""
    return (run.get("training_seconds") or run["wall_seconds"]) if run.get("resumed") else run["wall_seconds"]


def cells(runs) -> dict:
    """{(profile, dataset, method): {"seeds": [...], metric: [values in %], "wall": seconds}}."""
    out = {}
    for run in sorted(runs, key=lambda r: r["seed"]):
        cell = out.setdefault((run["profile"], run["dataset"], run["method"]), {"seeds": [], "wall": 0.0})
        cell["seeds"].append(run["seed"])
        cell["wall"] += run_seconds(run)
        for metric, value in run["metrics"].items():
            cell.setdefault(metric, []).append(100.0 * value)
    return out


def without_pseudo_labels(runs) -> dict:
    """{(dataset, method): seeds} of pseudo-label runs (pseudo_label_rounds > 0) where no round trained on any."""
    found = {}
    for r in runs:
        untrained = all(h["pseudo_label_source"] == "none" for h in r.get("history", []))
        if round_table.has_pseudo_label_rounds(r) and untrained:
            found[r["dataset"], r["method"]] = found.get((r["dataset"], r["method"]), 0) + 1
    return found


def profiles_of(runs) -> list[str]:
    found = {r["profile"] for r in runs}
    return [p for p in PROFILE_ORDER if p in found] + sorted(found - set(PROFILE_ORDER))


def in_table_order(datasets) -> list[str]:
    """The registry's order (the paper's datasets first, in its column order), then any others by name."""
    datasets = set(datasets)
    return [d for d in DATASETS if d in datasets] + sorted(datasets - set(DATASETS))


def datasets_of(runs, profile) -> list[str]:
    """The table's columns for a profile: the datasets it has run files of."""
    return in_table_order(r["dataset"] for r in runs if r["profile"] == profile)


def summary(values):
    """(mean, std, n) of a cell's values; std is None for a single seed."""
    if not values:
        return None, None, 0
    std = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return float(np.mean(values)), std, len(values)


def format_cell(values, n_expected) -> str:
    mean, std, n = summary(values)
    if n == 0:
        return NOT_RUN
    text = f"{mean:.1f}" + (f" ({std:.1f})" if std is not None else "")
    return text + (f" [n={n}]" if n != n_expected else "")


def render_markdown(runs, unfinished=()) -> str:
    stale = stale_runs([*runs, *unfinished])
    table = cells([r for r in runs if id(r) not in stale])
    parts = ["# Table 1: clustering on the paper's datasets, regenerated from `results/runs/`",
             "", "Rendered by `python -m replicate.table`; never edit by hand. Columns marked **(paper)** are "
             "copied from the paper (docs/paper.md §1) for comparison; every other number comes from a run file.", ""]
    for profile in profiles_of([*runs, *unfinished]):
        under_way = [r for r in unfinished if r["profile"] == profile and id(r) not in stale]
        parts += _profile_section(profile, [r for r in runs if r["profile"] == profile], table, stale, under_way)
    if not runs:
        parts += ["No run files yet: run `make table1`.", ""]
    return "\n".join(parts)


def is_ladder(run) -> bool:
    """A KingdraCluster row (its run records estimator settings), not a baseline."""
    return METHODS.get(run["method"]) is not None and METHODS[run["method"]].overrides is not None


def stale_runs(runs) -> dict:
    """{id(run): the names of its settings that differ from its profile's today}, for every ladder
    run made with settings its profile has changed since (a run without a config is not judged)."""
    profiles, changed = {}, {}
    for r in runs:
        if not is_ladder(r):
            continue
        key = (r["dataset"], r["profile"])
        if key not in profiles:
            try:
                profiles[key] = load_config(*key).params
            except ValueError:
                profiles[key] = None
        if profiles[key] is not None:
            now, ran = estimator_params(r["method"], profiles[key]), r["config"]["estimator"] or {}
            differ = sorted(k for k in set(now) | set(ran) if json.dumps(now.get(k)) != json.dumps(ran.get(k)))
            if differ:
                changed[id(r)] = differ
    return changed


def _profile_section(profile, runs, table, stale, under_way=()):
    lines = [f"## Profile `{profile}`", ""]
    changed = [stale[id(r)] for r in runs if id(r) in stale]
    fresh = [r for r in runs if id(r) not in stale]
    if changed:
        left_out = ("they are left out of every cell below" if fresh or under_way
                    else "no other run is left, so the profile has no cells")
        lines += [f"**Stale: {len(changed)} of the {sum(map(is_ladder, runs))} ladder runs of this profile ran with "
                  f"settings the profile has changed since ({', '.join(sorted({k for c in changed for k in c}))}); "
                  f"{left_out}.** `make table1 PROFILE={profile}` reruns them.", ""]
    runs = fresh
    if not runs and not under_way:
        return lines
    datasets = datasets_of([*runs, *under_way], profile)
    seeds = sorted({r["seed"] for r in runs})
    n_expected = len(seeds)

    def get(dataset, method, metric):
        return table.get((profile, dataset, method), {}).get(metric, [])

    lines += [f"### Accuracy (%), mean (std) over seeds — profile `{profile}`", ""]
    lines += accuracy_table(runs, datasets, get, n_expected, under_way)
    lines += unfinished_lines(under_way)
    lines += ["", f"### NMI and ARI (%), mean (std) over seeds — profile `{profile}`", ""]
    header = ["Method"] + [f"{title(d)} {metric}" for d in datasets for metric in ("NMI", "ARI")]
    rows = [[m.label] + [format_cell(get(d, key, metric), n_expected) for d in datasets for metric in ("nmi", "ari")]
            for key, m in METHODS.items()]
    lines += _markdown_table(header, rows)
    lines += ["", f"### Wall time per run (minutes), mean over its seeds — profile `{profile}`", "",
              "Training, prediction and scoring of one run on the hardware below; Kingdra's rounds also build "
              "pseudo-labels and train on them, so at equal epochs they cost more. A run resumed from its checkpoint "
              "counts the seconds of its rounds (its processes' other time is not recorded).", ""]
    header = ["Method"] + [title(d) for d in datasets]
    rows = [[m.label] + [_minutes(table.get((profile, d, key))) for d in datasets] for key, m in METHODS.items()]
    lines += _markdown_table(header, rows)
    ensembles = [key for key in METHODS if any(get(d, key, "accuracy_released") for d in datasets)]
    if ensembles:
        lines += ["", f"### Combining the members: accuracy (%) under each rule — profile `{profile}`", "",
                  "The headline accuracy uses `aligned` (each member's cluster ids matched to member 0's before "
                  "averaging); `released` is the released code's rule (docs/paper.md §4).", ""]
        header = ["Method"] + [f"{title(d)} {rule}" for d in datasets for rule in ("released", "aligned")]
        rows = [[METHODS[key].label] + [format_cell(get(d, key, f"accuracy_{rule}"), n_expected)
                                        for d in datasets for rule in ("released", "aligned")] for key in ensembles]
        lines += _markdown_table(header, rows)
    lines += members_table(profile, runs, datasets, n_expected)
    lines += paired_table(profile, runs, datasets)
    tables = round_table.round_tables(runs, under_way, datasets)
    if tables:
        lines += ["", f"### Round by round — profile `{profile}`", "", round_table.NOTE]
        for label, header, rows in tables:
            lines += ["", f"**{label}**", ""] + _markdown_table(header, rows)
    return lines + [""] + (_provenance(profile, runs, datasets_of(runs, profile), seeds) + [""] if runs else [])


PAIRS = (("kingdra-ladder-im", "ladder-im-ensemble"), ("kingdra-ladder-im", "ladder-im"),
         ("kingdra-ladder-dot", "ladder-dot"))  # each pseudo-label row against its controls at equal training


def paired_differences(runs, datasets) -> list[tuple]:
    """[(treated, control, dataset, seeds, differences in points)]: seed by seed, each pseudo-label row
    minus its control (the same seed, the same member-epochs), the comparison the seeds' spread would
    hide in two means; seeds without both runs are left out."""
    accuracy = {(r["dataset"], r["method"], r["seed"]): 100.0 * r["metrics"]["accuracy"] for r in runs}
    found = []
    for treated, control in PAIRS:
        for dataset in datasets:
            seeds = sorted(s for d, m, s in accuracy if (d, m) == (dataset, treated) and (d, control, s) in accuracy)
            if seeds:
                found.append((treated, control, dataset, seeds,
                              [accuracy[dataset, treated, s] - accuracy[dataset, control, s] for s in seeds]))
    return found


def format_difference(diffs) -> str:
    mean, std, _ = summary(diffs)
    return f"{mean:+.1f}" + (f" ({std:.1f})" if std is not None else "")


def paired_table(profile, runs, datasets) -> list[str]:
    rows = [[f"{METHODS[treated].label} − {METHODS[control].label}", title(dataset),
             " ".join(f"{d:+.1f}" for d in diffs), " ".join(map(str, seeds)), format_difference(diffs)]
            for treated, control, dataset, seeds, diffs in paired_differences(runs, datasets)]
    if not rows:
        return []
    return ["", f"### Paired differences, per seed (accuracy points) — profile `{profile}`", ""] + _markdown_table(
        ["Pair", "Dataset", "per seed", "seeds", "mean (std)"], rows)


def members_and_gain(run):
    """(the members' mean accuracy after the last round, the combined accuracy minus it), in %, or None
    for a run that did not record its members' accuracies (one network, or a run without labels)."""
    members = (run.get("history") or [{}])[-1].get("member_accuracy")
    if not members or len(members) < 2:
        return None
    mean = 100.0 * float(np.mean(members))
    return mean, 100.0 * run["metrics"]["accuracy"] - mean


def members_table(profile, runs, datasets, n_expected) -> list[str]:
    """Each ensemble row split in two: how good its members are, and what combining them adds."""
    found = {}
    for run in sorted(runs, key=lambda r: r["seed"]):
        split = members_and_gain(run)
        if split is not None:
            cell = found.setdefault((run["dataset"], run["method"]), ([], []))
            cell[0].append(split[0])
            cell[1].append(split[1])
    if not found:
        return []
    header = ["Method"] + [f"{title(d)} {h}" for d in datasets for h in ("members' mean", "combining adds")]
    keys = [key for key in METHODS if any((d, key) in found for d in datasets)]
    rows = [[METHODS[key].label] + [format_cell(found.get((d, key), ([], []))[i], n_expected)
                                    for d in datasets for i in (0, 1)] for key in keys]
    return ["", f"### Members and their combination (%) — profile `{profile}`", "",
            "The members' mean accuracy after the last round (each scored alone), and the ensemble's accuracy "
            "minus it (points): the ensemble rows differ in either.", ""] + _markdown_table(header, rows)


def accuracy_table(runs, datasets, get, n_expected, under_way=()) -> list[str]:
    """The accuracy rows with the paper's columns beside ours, and the lines that read them; a cell
    with no finished run but one under way shows where that run stands."""
    header = ["Method"] + [h for d in datasets for h in (title(d), f"{title(d)} (paper)")]
    # A cell whose runs departed from the method as published (AC on a subsample) carries a dagger.
    marked = {(r["dataset"], r["method"]) for r in runs if r["config"]["details"].get("note")}
    # A Kingdra cell some of whose seeds never found a pseudo-label set measures only its ensemble.
    unlabelled = without_pseudo_labels(runs)
    standing = {(r["dataset"], r["method"]): f"{100 * r['history'][-1]['accuracy']:.1f} at {round_of(r)}"
                for r in sorted(under_way, key=lambda r: -r["seed"]) if "accuracy" in r["history"][-1]}  # lowest seed
    rows = [[m.label] + [c for d in datasets for c in (
                (standing.get((d, key), NOT_RUN) if not get(d, key, "accuracy") else
                 format_cell(get(d, key, "accuracy"), n_expected)) + (" †" if (d, key) in marked else "")
                + (f" ‡{unlabelled[d, key]}" if (d, key) in unlabelled else ""),
                paper.ACCURACY[key].get(d, NOT_RUN))]
            for key, m in METHODS.items()]
    return _markdown_table(header, rows) + [
        "", "Accuracy: clusters matched one-to-one to classes (Hungarian), over the whole dataset; "
        + ("std: sample std (n-1) over seeds." if n_expected > 1 else
           "**one seed per cell**, so no std: a single network moves by up to 25 points with its seed.")
        + (" ‡k: k seeds of the cell trained on no pseudo-labels in any round." if unlabelled else "")]


README_BEGIN = "<!-- README_BEGIN: the cpu accuracy table, written by python -m replicate.table; do not edit -->"
README_END = "<!-- README_END -->"


def readme_table(runs, profile="cpu") -> list[str]:
    """The README's copy of one profile's accuracy table (current runs only) with its seed count."""
    stale = stale_runs(runs)
    mine = [r for r in runs if r["profile"] == profile and id(r) not in stale]
    if not mine:
        return [f"No current run files of profile `{profile}` yet: `make table1` makes them."]
    table = cells(mine)
    seeds = sorted({r["seed"] for r in mine})

    def get(dataset, method, metric):
        return table.get((profile, dataset, method), {}).get(metric, [])

    datasets = datasets_of(mine, profile)
    lines = [f"Accuracy %, mean (std) over seeds {', '.join(map(str, seeds))} of profile `{profile}` "
             f"({len(mine)} run files; `[n=k]`: k seeds so far; more in `results/table1.md`):", ""]
    lines += accuracy_table(mine, datasets, get, len(seeds))
    # The question the table asks, answered seed by seed: the pseudo-labels against the same ensemble without them.
    pairs = [(title(d), seeds, diffs) for treated, control, d, seeds, diffs in paired_differences(mine, datasets)
             if (treated, control) == PAIRS[0]]
    if pairs:
        lines += ["", f"{METHODS[PAIRS[0][0]].label} minus {METHODS[PAIRS[0][1]].label}, the same seed, mean (std) "
                  "of the per-seed differences in points: "
                  + "; ".join(f"{d} {format_difference(diffs)} ({len(seeds)} seeds)" for d, seeds, diffs in pairs)
                  + "."]
    return lines + protocol_line([r for r in runs if id(r) not in stale])


def protocol_line(runs, profile="paper") -> list[str]:
    """The README's line for the cells run under the paper's own protocol, each beside the paper's value."""
    table = cells([r for r in runs if r["profile"] == profile])
    found = []
    for dataset in datasets_of(runs, profile):
        ours = []
        for key in METHODS:
            if (profile, dataset, key) in table:
                values = table[profile, dataset, key]["accuracy"]
                ours.append(f"{METHODS[key].label} {format_cell(values, len(values))} ({len(values)} seed"
                            f"{'s' if len(values) > 1 else ''}; paper {paper.ACCURACY[key].get(dataset, NOT_RUN)})")
        found.append(f"{title(dataset)} " + ", ".join(ours))
    if not found:
        return []
    return ["", f"Under the paper's own protocol (profile `{profile}`, where this machine affords it): "
            + "; ".join(found) + "."]


def with_readme_table(readme: str, runs) -> str:
    """`readme` with the text between its README_BEGIN and README_END lines replaced by `readme_table`."""
    start, end = readme.index(README_BEGIN) + len(README_BEGIN), readme.index(README_END)
    return readme[:start] + "\n" + "\n".join(readme_table(runs)) + "\n" + readme[end:]


def _provenance(profile, runs, datasets, seeds):
    envs = [r["environment"] for r in runs]
    commits = sorted({(e["git"]["commit"] or "unknown")[:10] + ("+uncommitted" if e["git"]["dirty"] else "")
                      for e in envs})
    wall = {d: sum(run_seconds(r) for r in runs if r["dataset"] == d) for d in datasets}
    lines = [
        f"- Profile: `{profile}` (settings in `replicate/configs/<dataset>.json`; notes below)",
        f"- Seeds: {', '.join(map(str, seeds))} (a cell marked [n=k] has k of them)",
        f"- Hardware: {'; '.join(sorted({hardware_label(e['hardware']) for e in envs}))}",
        f"- Keras backend: {', '.join(sorted({e['keras_backend'] for e in envs}))}; "
        f"git commit: {', '.join(commits)}",
        f"- Wall time: {sum(wall.values()) / 3600:.2f} h in all ("
        + ", ".join(f"{title(d)} {s / 3600:.2f} h" for d, s in wall.items() if s) + ")",
    ]
    not_run = [title(d) for d in TABLE_DATASETS if d not in datasets]
    if not_run:
        lines.append(f"- Not run under this profile: {', '.join(not_run)} (no finished run files)")
    for dataset in datasets:
        ran = [r for r in runs if r["dataset"] == dataset]
        data = ran[0]["data"]
        lines.append(f"- {title(dataset)}: {data['shape'][0]} x {data['shape'][1]}, "
                     f"{data['features']}; fidelity: {data['fidelity']}. {_profile_notes(dataset, profile, ran)}")
        lines += sorted({f"  - † {r['label']}: {r['config']['details']['note']}" for r in ran
                         if r["config"]["details"].get("note")})
    return lines


def unfinished_lines(under_way) -> list[str]:
    """One line per run under way: where it stands after its last finished round."""
    if not under_way:
        return []
    lines = ["", "Unfinished runs (their finished rounds; a cell above with no finished run shows the latest "
             "\"accuracy at round r of R\"): a run resumes from its checkpoint on the machine that ran it; one whose "
             "checkpoint is lost starts again from round 0, and its rounds are never spliced onto another's.", ""]
    for r in sorted(under_way, key=lambda r: (r["dataset"], r["method"], r["seed"])):
        last = r["history"][-1]
        scored = f"accuracy {100 * last['accuracy']:.1f} %" if "accuracy" in last else "not scored"
        found = f"{last['pseudo_labels']} pseudo-labels" if last.get("pseudo_labels") else "no pseudo-labels"
        if last.get("pseudo_labels") and "pseudo_label_precision" in last:
            found += f" at {last['pseudo_label_precision']:.3f} precision"
        hours = sum(h["seconds"] for h in r["history"]) / 3600
        lines.append(f"- {title(r['dataset'])} {r['label']}, seed {r['seed']}: {round_of(r)} finished; {scored}, {found}; "
                     f"{hours:.2f} h of rounds so far (started {r['started']})")
    return lines


def _profile_notes(dataset, profile, ran) -> str:
    """The profile's notes as its config says them today (a baseline made under an earlier version of the
    profile keeps its file, and its notes would describe that version), else the newest run's."""
    try:
        return load_config(dataset, profile).notes
    except ValueError:
        return max(ran, key=lambda r: r.get("started") or "")["config"]["notes"]


def _minutes(cell) -> str:
    return NOT_RUN if not cell or not cell["seeds"] else f"{cell['wall'] / len(cell['seeds']) / 60:.1f}"


def _markdown_table(header, rows):
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def render_csv(runs) -> str:
    """Long format, one row per (profile, dataset, method, metric); not-run cells keep their row, empty.
    Stale runs are left out, as in the markdown."""
    stale = stale_runs(runs)
    runs = [r for r in runs if id(r) not in stale]
    table = cells(runs)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["profile", "dataset", "method", "metric", "mean_percent", "std_percent", "n_seeds", "seeds",
                     "wall_seconds", "paper_accuracy_percent"])
    for profile in profiles_of(runs):
        for dataset in datasets_of(runs, profile):
            for key in METHODS:
                cell = table.get((profile, dataset, key), {"seeds": [], "wall": 0.0})
                for metric in [m for m in METRICS if m in cell] if cell["seeds"] else METRICS[:3]:
                    mean, std, n = summary(cell.get(metric, []))
                    writer.writerow([profile, dataset, key, metric, _number(mean), _number(std), n,
                                     " ".join(map(str, cell["seeds"])), round(cell["wall"], 1),
                                     paper.ACCURACY[key].get(dataset, "") if metric == "accuracy" else ""])
    return out.getvalue()


def _number(value):
    return "" if value is None else f"{value:.2f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replicate.table", description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", default=str(RUNS_DIR))
    parser.add_argument("--out-dir", default=str(RESULTS_DIR))
    args = parser.parse_args(argv)
    runs, unfinished = load_runs(args.runs_dir), load_unfinished(args.runs_dir)
    out = Path(args.out_dir)
    for name, text in (("table1.md", render_markdown(runs, unfinished)), ("table1.csv", render_csv(runs))):
        with atomic_file(out / name) as tmp:
            tmp.write(text.encode())
        print(f"wrote {out / name} ({len(runs)} run files)")
    readme = REPO / "README.md"
    if out.resolve() == RESULTS_DIR.resolve() and README_BEGIN in readme.read_text():  # the committed table only
        with atomic_file(readme) as tmp:
            tmp.write(with_readme_table(readme.read_text(), runs).encode())
        print(f"wrote {readme.name}'s table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
