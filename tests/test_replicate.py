"""replicate/: configs, the runner (run files, resume) and the table renderer."""
import json

import numpy as np
import pytest

from kingdra.checkpoint import CheckpointStore
from kingdra.cluster import KingdraCluster
from replicate import cell, config, paper, records, run, table
from replicate.methods import METHODS, estimator_params

PAPER_DATASETS = ("mnist", "cifar10", "stl10", "reuters10k", "20news")


# ----------------------------------------------------------------- configs
@pytest.mark.parametrize("dataset", [*PAPER_DATASETS, "digits"])
def test_every_shipped_profile_resolves_to_valid_estimators(dataset):
    profiles = json.loads((config.CONFIG_DIR / f"{dataset}.json").read_text())["profiles"]
    assert {"cpu", "tiny"} <= set(profiles) and (dataset not in PAPER_DATASETS or "paper" in profiles)
    for profile in profiles:
        cfg = config.load_config(dataset, profile)
        assert cfg.profile in cfg.notes
        for method, spec in METHODS.items():
            if spec.overrides is not None:
                KingdraCluster(**estimator_params(method, cfg.params)).check_params(10_000)


def test_cpu_profiles_say_they_are_reduced():
    for dataset in PAPER_DATASETS:
        assert "REDUCED" in config.load_config(dataset, "cpu").notes
    assert "REDUCED" in config.load_config("mnist", "cpu-long").notes


# docs/paper.md §5, typed again here so a slip in either place shows up. The release counts round 0
# in its rounds (MNIST: 50 in all); `pseudo_label_rounds` counts the rounds after it.
RELEASED = {  # pseudo_label_rounds, epochs_unsupervised, epochs, t_low, t_high, thresh, noise_std, w_cluster,
    # w_cluster_after, w_kl, bn, lr, mapping
    "mnist": (49, 5, 5, 1, 9, 0.9, 0.3, 0.1, None, 1.0, False, 0.002, True),
    "cifar10": (29, 1, 1, 1, 9, 0.0, 0.3, 1.0, 0.5, 0.0, True, 0.02, False),
    "stl10": (29, 6, 6, 1, 9, 0.0, 1.0, 0.2, 0.0, 1.0, True, 0.002, True),
    "reuters10k": (9, 5, 6, 2, 8, 0.0, 3.0, 0.2, None, 1.0, False, 0.002, True),
    "20news": (9, 5, 5, 1, 9, 0.0, 0.3, 0.2, None, 1.0, False, 0.002, True),
}


@pytest.mark.parametrize("dataset", PAPER_DATASETS)
def test_paper_profile_is_the_released_settings(dataset):
    params = config.load_config(dataset, "paper").params
    keys = ("pseudo_label_rounds", "epochs_unsupervised", "epochs", "t_low", "t_high", "thresh", "noise_std",
            "w_cluster", "w_cluster_after", "w_kl", "last_layer_bn", "lr", "common_mapping")
    assert tuple(params[k] for k in keys) == RELEASED[dataset]
    assert (params["members"], params["w_ladder"], params["batch_size"], params["layer_sizes"]) == (10, 1.0, 64, [1200, 1200])
    # The release feeds round 0 unshuffled; where our source is stored sorted by class, one fixed permutation.
    assert params["feed_order"] == {"cifar10": "permuted", "20news": "permuted"}.get(dataset, "given")


def write_config(tmp_path, profiles, **top):
    (tmp_path / "toy.json").write_text(json.dumps({"dataset": "toy", "loader": "digits", **top, "profiles": profiles}))
    return tmp_path


def full_profile(**changes):
    return {**config.load_config("digits", "cpu").params, "kmeans_n_init": 1, "ac_max_points": 10, **changes}


@pytest.mark.parametrize(
    "profiles, top, match",
    [
        ({"cpu": full_profile(member=3)}, {}, r"unknown keys \['member'\]; known keys are .*'members'"),
        ({"cpu": full_profile()}, {"extracter": "x"}, r"unknown keys \['extracter'\]; known keys are .*'extractor'"),
        ({"cpu": {"extends": "paper"}}, {}, "no profile 'paper'"),
        ({"cpu": {"extends": "tiny"}, "tiny": {"extends": "cpu"}}, {}, "loop"),
        ({"cpu": {"members": 3}}, {}, "does not set"),
        ({"cpu": full_profile(seed=1)}, {}, "unknown keys"),
        ({"cpu": full_profile()}, {"loader": "mnist2"}, "unknown loader"),
        ({"cpu": full_profile(lr=-1)}, {}, r"toy.json profile 'cpu': lr must be a finite number in \(0, inf\)"),
        ({"cpu": full_profile(thresh=1.5)}, {}, r"toy.json profile 'cpu': thresh must be"),
        ({"cpu": full_profile(loss_params={"nu": 1})}, {}, r"toy.json profile 'cpu': loss_params: no clustering loss "
                                                          "takes 'nu'"),
    ],
)
def test_bad_configs_are_rejected_with_the_fix(tmp_path, profiles, top, match):
    with pytest.raises(ValueError, match=match):
        config.load_config("toy", "cpu", write_config(tmp_path, profiles, **top))


def test_a_profile_extends_a_list_of_profiles_in_order_and_common_ones_by_name(tmp_path):
    (tmp_path / "common.json").write_text(json.dumps({"profiles": {
        "small": {"notes": "shared reason", "members": 4, "epochs": 3},
        "loopy": {"extends": "common:loopy"}}}))
    base = full_profile(members=7, epochs=9, lr=0.5)
    directory = write_config(tmp_path, {"base": base, "cpu": {"extends": ["base", "common:small"], "epochs": 4,
                                                            "notes": "own reason"}})
    cfg = config.load_config("toy", "cpu", directory)
    assert (cfg.params["members"], cfg.params["epochs"], cfg.params["lr"]) == (4, 4, 0.5)  # later bases win, own last
    assert cfg.notes.index("[common:small] shared reason") < cfg.notes.index("[cpu] own reason")
    assert "common" not in config.available_datasets(directory) and "toy" in config.available_datasets(directory)
    with pytest.raises(ValueError, match="choose one of"):
        config.load_config("common", "small", directory)  # a file of shared profiles is not a dataset
    write_config(tmp_path, {"cpu": {"extends": ["common:loopy"]}})
    with pytest.raises(ValueError, match="common.json: profiles extend each other in a loop"):
        config.load_config("toy", "cpu", directory)
    (tmp_path / "common.json").unlink()
    with pytest.raises(ValueError, match="has no common.json"):
        config.load_config("toy", "cpu", directory)


def test_the_cpu_profiles_share_their_common_reasons_once():
    for dataset in PAPER_DATASETS:
        cfg = config.load_config(dataset, "cpu")
        assert cfg.notes.count("[common:cpu] REDUCED") == 1 and cfg.params["t_high"] == cfg.params["members"] - 1
        own = json.loads((config.CONFIG_DIR / f"{dataset}.json").read_text())["profiles"]["cpu"]
        assert "members" not in own and len(own["notes"]) == 1  # what all datasets share lives in common.json


def test_unknown_dataset_or_profile_names_the_choices(tmp_path):
    with pytest.raises(ValueError, match="choose one of.*mnist"):
        config.load_config("mnist2", "cpu")
    with pytest.raises(ValueError, match=r"no profile 'gpu'; choose one of \['cpu', 'cpu-long', 'paper', 'tiny'\]"):
        config.load_config("mnist", "gpu")


def test_a_profile_sets_the_losses_own_parameters_for_every_row(tmp_path):
    cfg = config.load_config("toy", "cpu", write_config(tmp_path, {"cpu": full_profile(loss_params={"mu": 2.0})}))
    for method in ("kingdra-ladder-im", "ladder-dot"):  # IM's mu: the dot rows take the same dict and ignore it
        model = KingdraCluster(**estimator_params(method, cfg.params))
        model.check_params()
        assert model.loss_params == {"mu": 2.0}


def test_rows_without_rounds_train_as_long_as_a_kingdra_member():
    params = config.load_config("mnist", "paper").params
    assert estimator_params("ladder-im", params) == {**params, "members": 1, "pseudo_label_rounds": 0, "epochs_unsupervised": 250}
    assert estimator_params("kingdra-ladder-dot", params) == {**params, "loss": "dot"}


# ----------------------------------------------------------------- tables
def fake_run(runs_dir, dataset, method, profile, seed, accuracy, details=None, sources=None, members=None,
             **extra_metrics):
    """A run file as the runner writes it, with its profile's settings today (so not stale);
    `sources` are the rounds' pseudo_label_source values, `members` the last round's member accuracies."""
    estimator = None
    if METHODS[method].overrides is not None:
        estimator = estimator_params(method, config.load_config(dataset, profile).params)
    record = {
        "dataset": dataset, "method": method, "label": METHODS[method].label, "profile": profile, "seed": seed,
        "config": {"notes": f"[{profile}] notes", "details": details or {}, "estimator": estimator},
        "history": [{"round": i, "pseudo_label_source": source, "pseudo_labels": 0 if source == "none" else 100 * i,
                     "accuracy": accuracy, **({} if source == "none" else {"pseudo_label_precision": 0.95})}
                    for i, source in enumerate(sources or [])]
                   + ([{"round": len(sources or []), "pseudo_label_source": "none", "pseudo_labels": 0,
                        "member_accuracy": members}] if members else []),
        "data": {"shape": [100, 4], "features": "synthetic", "fidelity": "exact"},
        "environment": {"keras_backend": "jax", "git": {"commit": "abc1234567890", "dirty": False},
                        "hardware": {"cpu": "Test CPU", "cores": 2, "accelerators": []}},
        "metrics": {"accuracy": accuracy, "nmi": 0.5, "ari": 0.25, **extra_metrics},
        "wall_seconds": 1800.0,
    }
    (runs_dir / f"{dataset}__{method}__{profile}__seed{seed}.json").write_text(json.dumps(record))


def table_rows(markdown, heading):
    """{first cell: cells} of the markdown table under the heading that starts with `heading`."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    first = next(i for i in range(start, len(lines)) if lines[i].startswith("|"))
    body = []
    for line in lines[first:]:
        if not line.startswith("|"):
            break
        body.append([c.strip() for c in line.strip("|").split("|")])
    return body[0], {row[0]: dict(zip(body[0], row)) for row in body[2:]}


def test_table_shows_mean_std_paper_column_and_dashes(tmp_path):
    for seed, acc in enumerate((0.90, 0.92, 0.97)):
        fake_run(tmp_path, "mnist", "kingdra-ladder-im", "cpu", seed, acc, accuracy_released=acc - 0.1,
                 accuracy_aligned=acc, sources=["none", "new", "earlier"])
        fake_run(tmp_path, "mnist", "kingdra-ladder-dot", "cpu", seed, 0.5,
                 sources=["none", "none", "new" if seed == 0 else "none"])
    fake_run(tmp_path, "mnist", "kmeans", "cpu", 0, 0.5)
    fake_run(tmp_path, "mnist", "ac", "cpu", 0, 0.6, details={"note": "fitted on a subsample"})
    fake_run(tmp_path, "digits", "kmeans", "tiny", 0, 0.8)
    fake_run(tmp_path, "aaa-own", "kmeans", "tiny", 0, 0.7)  # a dataset outside the registry
    markdown = table.render_markdown(table.load_runs(tmp_path))

    header, rows = table_rows(markdown, "### Accuracy (%), mean (std) over seeds — profile `cpu`")
    assert header == ["Method", "MNIST", "MNIST (paper)"]  # the columns of the runs present
    assert "- Not run under this profile: STL, CIFAR10, Reuters, 20news" in markdown
    assert rows["Kingdra-Ladder-IM"]["MNIST"] == "93.0 (3.6)"  # sample std of 90, 92, 97
    assert rows["Kingdra-Ladder-Dot"]["MNIST"] == "50.0 (0.0) ‡2"  # seeds 1 and 2 never found a pseudo-label set
    assert "‡k: k seeds of the cell trained on no pseudo-labels in any round" in markdown
    assert "clusters matched one-to-one to classes (Hungarian), over the whole dataset" in markdown
    assert rows["Kingdra-Ladder-IM"]["MNIST (paper)"] == paper.ACCURACY["kingdra-ladder-im"]["mnist"]
    assert "**one seed per cell**" not in markdown.split("profile `tiny`")[0]  # cpu has 3 seeds
    assert "**one seed per cell**, so no std" in markdown.split("profile `tiny`")[1]
    assert rows["K-means"]["MNIST"] == "50.0 [n=1]"
    assert rows["AC"]["MNIST"] == "60.0 [n=1] †" and "  - † AC: fitted on a subsample" in markdown
    assert rows["Ladder-IM"]["MNIST"] == "—" and rows["Ladder-IM"]["MNIST (paper)"] == "95.0 (2.8)"
    _, scores = table_rows(markdown, "### NMI and ARI (%), mean (std) over seeds — profile `cpu`")
    assert scores["Kingdra-Ladder-IM"]["MNIST NMI"] == "50.0 (0.0)" and scores["Ladder-Dot"]["MNIST ARI"] == "—"
    _, rules = table_rows(markdown, "### Combining the members: accuracy (%) under each rule — profile `cpu`")
    assert rules["Kingdra-Ladder-IM"]["MNIST released"] == "83.0 (3.6)"
    header, rows = table_rows(markdown, "**MNIST, Kingdra-Ladder-IM**")  # round by round, a column per seed
    assert header == ["round", "seed 0", "seed 1", "seed 2"]
    assert (rows["0"]["seed 0"], rows["1"]["seed 2"]) == ("90.0", "97.0 · 100 @ 0.950")
    assert rows["2"]["seed 1"] == "92.0 · 200 @ 0.950 `earlier`"  # an earlier round's set, reused
    _, rows = table_rows(markdown, "**MNIST, Kingdra-Ladder-Dot**")
    assert rows["1"]["seed 1"] == "50.0 · unsupervised"
    header, rows = table_rows(markdown, "### Accuracy (%), mean (std) over seeds — profile `tiny`")
    assert header[1:] == ["digits", "digits (paper)", "aaa-own", "aaa-own (paper)"]  # registry order, then by name
    assert rows["K-means"]["digits (paper)"] == "—" and rows["K-means"]["aaa-own"] == "70.0"
    assert "- Wall time: 4.00 h in all (MNIST 4.00 h)" in markdown  # 8 runs of 1800 s
    _, walls = table_rows(markdown, "### Wall time per run (minutes), mean over its seeds — profile `cpu`")
    assert walls["Kingdra-Ladder-IM"]["MNIST"] == "30.0" and walls["Ladder-IM"]["MNIST"] == "—"
    assert "- Hardware: Test CPU, 2 cores, no accelerator" in markdown and "- Seeds: 0, 1, 2" in markdown

    csv_lines = table.render_csv(table.load_runs(tmp_path)).splitlines()
    assert csv_lines[0].endswith("paper_accuracy_percent")
    assert "cpu,mnist,kingdra-ladder-im,accuracy,93.00,3.61,3,0 1 2,5400.0,98.5 (0.4)" in csv_lines
    assert "cpu,mnist,ladder-im,accuracy,,,0,,0.0,95.0 (2.8)" in csv_lines  # a row not run keeps its line


def test_table_marks_runs_whose_profile_changed_since(tmp_path):
    params = estimator_params("ladder-im", config.load_config("digits", "tiny").params)
    for seed, feed in enumerate(("shuffle", "given")):  # the profile says shuffle
        fake_run(tmp_path, "digits", "ladder-im", "tiny", seed, 0.5 + 0.4 * seed)
        path = tmp_path / f"digits__ladder-im__tiny__seed{seed}.json"
        record = json.loads(path.read_text())
        record["config"]["estimator"] = {**params, "feed_order": feed}
        path.write_text(json.dumps(record))
    fake_run(tmp_path, "digits", "kmeans", "tiny", 0, 0.5)  # a baseline has no estimator settings to go stale
    markdown = table.render_markdown(table.load_runs(tmp_path))
    assert ("**Stale: 1 of the 2 ladder runs of this profile ran with settings the profile has changed since "
            "(feed_order); they are left out of every cell below.**") in markdown
    _, rows = table_rows(markdown, "### Accuracy (%), mean (std) over seeds — profile `tiny`")
    assert rows["Ladder-IM"]["digits"] == "50.0"  # seed 1's 90.0 ran with the old setting: not averaged in
    assert table.readme_table(table.load_runs(tmp_path), "tiny")[0].startswith(
        "Accuracy %, mean (std) over seeds 0 of profile `tiny` (2 run files;")
    record["config"]["estimator"]["feed_order"] = "shuffle"
    path.write_text(json.dumps(record))
    assert "Stale" not in table.render_markdown(table.load_runs(tmp_path))


def test_table_splits_each_ensemble_into_its_members_and_what_combining_adds(tmp_path):
    for seed, (acc, members) in enumerate([(0.96, [0.90, 0.92]), (0.94, [0.90, 0.88])]):
        fake_run(tmp_path, "mnist", "ladder-im-ensemble", "cpu", seed, acc, members=members)
        fake_run(tmp_path, "mnist", "kingdra-ladder-im", "cpu", seed, 0.93, members=[0.93, 0.93])
        fake_run(tmp_path, "mnist", "ladder-im", "cpu", seed, 0.90, members=[0.90])  # one network: nothing to split
    markdown = table.render_markdown(table.load_runs(tmp_path))
    _, rows = table_rows(markdown, "### Members and their combination (%) — profile `cpu`")
    assert rows["Ladder-IM-ensemble"]["MNIST members' mean"] == "90.0 (1.4)"  # seeds' means 91 and 89
    assert rows["Ladder-IM-ensemble"]["MNIST combining adds"] == "5.0 (0.0)"
    assert rows["Kingdra-Ladder-IM"]["MNIST combining adds"] == "0.0 (0.0)" and "Ladder-IM" not in rows
    # the profile's notes are the config's today, not those an older run file carries
    assert config.load_config("mnist", "cpu").notes in markdown and "[cpu] notes" not in markdown


def test_table_pairs_each_pseudo_label_row_with_its_controls_seed_by_seed(tmp_path):
    for seed, (kingdra, ensemble) in enumerate([(0.93, 0.96), (0.95, 0.94), (0.90, None)]):
        fake_run(tmp_path, "mnist", "kingdra-ladder-im", "cpu", seed, kingdra)
        if ensemble is not None:  # seed 2 has no control yet: it is left out of the pair
            fake_run(tmp_path, "mnist", "ladder-im-ensemble", "cpu", seed, ensemble)
    header, rows = table_rows(table.render_markdown(table.load_runs(tmp_path)), "### Paired differences, per seed")
    pair = rows["Kingdra-Ladder-IM − Ladder-IM-ensemble"]
    assert (pair["Dataset"], pair["per seed"], pair["seeds"], pair["mean (std)"]) == ("MNIST", "-3.0 +1.0", "0 1",
                                                                                      "-1.0 (2.8)")
    assert len(rows) == 1  # no Ladder-IM run: no pair with it
    assert table.readme_table(table.load_runs(tmp_path))[-1] == (
        "Kingdra-Ladder-IM minus Ladder-IM-ensemble, the same seed, mean (std) of the per-seed differences in "
        "points: MNIST -1.0 (2.8) (2 seeds).")


def test_paper_protocol_cells_reach_the_readme_and_a_resumed_run_counts_all_its_rounds(tmp_path):
    fake_run(tmp_path, "mnist", "kingdra-ladder-im", "cpu", 0, 0.93)
    assert not any("paper's own protocol" in line for line in table.readme_table(table.load_runs(tmp_path)))
    for seed, acc in enumerate((0.30, 0.36)):
        fake_run(tmp_path, "20news", "ladder-im", "paper", seed, acc)
    fake_run(tmp_path, "20news", "kingdra-ladder-im", "paper", 0, 0.40)
    path = tmp_path / "20news__kingdra-ladder-im__paper__seed0.json"  # resumed: its rounds ran in two processes
    path.write_text(json.dumps({**json.loads(path.read_text()), "resumed": True, "training_seconds": 7200.0}))
    _, rows = table_rows(table.render_markdown(table.load_runs(tmp_path)), "### Wall time per run (minutes)")
    assert (rows["Kingdra-Ladder-IM"]["20news"], rows["Ladder-IM"]["20news"]) == ("120.0", "30.0")
    assert table.readme_table(table.load_runs(tmp_path))[-1] == (
        "Under the paper's own protocol (profile `paper`, where this machine affords it): 20news Ladder-IM "
        "33.0 (4.2) (2 seeds; paper 38.4 (2.5)), Kingdra-Ladder-IM 40.0 (1 seed; paper 43.9 (1.4)).")


def test_a_profile_whose_runs_are_all_stale_shows_no_empty_tables(tmp_path):
    fake_run(tmp_path, "digits", "ladder-im", "tiny", 0, 0.5)
    path = tmp_path / "digits__ladder-im__tiny__seed0.json"
    record = json.loads(path.read_text())
    record["config"]["estimator"]["feed_order"] = "given"  # the profile says shuffle
    path.write_text(json.dumps(record))
    markdown = table.render_markdown(table.load_runs(tmp_path))
    assert "**Stale: 1 of the 1 ladder runs" in markdown and "| Method |" not in markdown
    assert "(feed_order); no other run is left, so the profile has no cells.**" in markdown


def test_the_readme_table_is_the_committed_runs():
    from replicate import environment

    readme = (environment.REPO / "README.md").read_text()
    assert table.README_BEGIN in readme and table.README_END in readme
    assert table.with_readme_table(readme, table.load_runs(environment.RUNS_DIR)) == readme, \
        "README.md's table is not the committed runs': run `python -m replicate.table`"


def test_the_readme_status_quotes_the_committed_single_seed_pairs():
    """The status paragraph names two single-seed pairs by hand; they must be the run files' numbers."""
    from replicate import environment

    readme = " ".join((environment.REPO / "README.md").read_text().split())
    accuracy = {(r["profile"], r["dataset"], r["method"], r["seed"]): 100 * r["metrics"]["accuracy"]
                for r in table.load_runs(environment.RUNS_DIR)}
    for profile, dataset in (("cpu-long", "mnist"), ("paper", "20news")):
        kingdra, control = (accuracy[profile, dataset, method, 0]
                            for method in ("kingdra-ladder-im", "ladder-im-ensemble"))
        assert f"Kingdra-Ladder-IM {kingdra:.1f}, its ensemble control {control:.1f}" in readme, (profile, dataset)


def test_no_committed_run_file_records_an_absolute_path():
    from replicate import environment

    paths = [path for path in sorted(environment.RUNS_DIR.glob("**/*.json"))
             if any(token.startswith("/") for token in json.loads(path.read_text()).get("command", "").split())]
    assert not paths, f"these run files record a path of the machine that ran them: {paths}"


def test_table_without_runs_says_what_to_run(tmp_path):
    assert "run `make table1`" in table.render_markdown(table.load_runs(tmp_path))


# ----------------------------------------------------------------- runner
@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KINGDRA_CACHE_DIR", str(tmp_path / "cache"))  # checkpoints stay out of the real cache
    return tmp_path / "runs"


def test_runner_writes_a_complete_run_file_per_method(runs_dir, capsys):
    run.main(["--dataset", "digits", "--method", "kmeans", "ac", "ladder-im", "--profile", "tiny", "--seed", "3",
              "--runs-dir", str(runs_dir)])
    assert "== digits | Ladder-IM | profile tiny | seed 3" in capsys.readouterr().out
    for method in ("kmeans", "ac", "ladder-im"):
        record = json.loads(records.run_path(runs_dir, "digits", method, "tiny", 3).read_text())
        assert (record["dataset"], record["method"], record["profile"], record["seed"]) == ("digits", method, "tiny", 3)
        assert all(0.0 <= record["metrics"][k] <= 1.0 for k in ("accuracy", "nmi", "ari"))
        assert record["environment"]["keras_backend"] and record["environment"]["hardware"]["cores"] >= 1
        assert "keras" in record["environment"]["packages"] and "commit" in record["environment"]["git"]
        assert record["data"]["shape"] == [1797, 64] and record["wall_seconds"] > 0
    ac = json.loads(records.run_path(runs_dir, "digits", "ac", "tiny", 3).read_text())
    assert ac["config"]["details"]["fitted_on"] == 500 and "subsample of 500 of 1797" in ac["config"]["details"]["note"]
    ladder = json.loads(records.run_path(runs_dir, "digits", "ladder-im", "tiny", 3).read_text())
    assert ladder["config"]["estimator"]["members"] == 1 and len(ladder["history"]) == 1
    assert ladder["ensemble"] == "vectorized"  # the tiny profile's choice, as the run resolved it
    assert not list(runs_dir.glob(".*"))  # no temporary files left behind


def test_interrupted_kingdra_run_resumes_from_its_last_round_then_is_skipped(runs_dir, capsys, monkeypatch):
    args = ["--dataset", "digits", "--method", "kingdra-ladder-im", "--profile", "tiny", "--seed", "0",
            "--runs-dir", str(runs_dir)]
    path = records.run_path(runs_dir, "digits", "kingdra-ladder-im", "tiny", 0)
    save, saves = CheckpointStore.save, []

    def crash_in_round_1(self, *state):  # the process dies in round 1, before its checkpoint
        if saves:
            raise KeyboardInterrupt
        saves.append(save(self, *state))

    monkeypatch.setattr(CheckpointStore, "save", crash_in_round_1)
    with pytest.raises(KeyboardInterrupt):
        run.main(args)
    assert not path.exists()
    checkpoint = cell.checkpoint_dir("digits", "kingdra-ladder-im", "tiny", 0)
    assert (checkpoint / "kingdra_state.npz").exists()
    # what round 0 found is on record for the table and the figures, marked as unfinished
    unfinished = table.load_unfinished(runs_dir)
    assert len(unfinished) == 1 and unfinished[0]["unfinished"] == {"rounds_done": 1, "rounds_total": 2}
    assert [h["round"] for h in unfinished[0]["history"]] == [0] and "labels" not in unfinished[0]
    _, rows = table_rows(table.render_markdown([], unfinished), "### Accuracy (%), mean (std) over seeds — profile `tiny`")
    assert rows["Kingdra-Ladder-IM"]["digits"] == f"{100 * unfinished[0]['history'][0]['accuracy']:.1f} at round 0 of 1"
    header, _ = table_rows(table.render_markdown([], unfinished), "**digits, Kingdra-Ladder-IM**")
    assert header == ["round", "seed 0 (under way: round 0 of 1)"]

    monkeypatch.setattr(CheckpointStore, "save", save)
    run.main(args)
    out = capsys.readouterr().out
    assert "resuming from" in out and "round   1/1" in out and "round   0/1" not in out.split("resuming from")[1]
    record = json.loads(path.read_text())
    assert record["resumed"] and [r["round"] for r in record["history"]] == [0, 1]
    assert {"accuracy_released", "accuracy_aligned"} <= set(record["metrics"])
    assert not checkpoint.exists() and not table.load_unfinished(runs_dir)  # the run file is the result

    before = path.read_bytes()
    run.main(args)
    assert "digits: every run exists" in capsys.readouterr().out
    assert path.read_bytes() == before
    rendered = table.render_markdown(table.load_runs(runs_dir))
    assert "## Profile `tiny`" in rendered and np.isfinite(record["metrics"]["accuracy"])

    uninterrupted = runs_dir.parent / "uninterrupted"
    run.main([*args[:-2], "--runs-dir", str(uninterrupted)])
    again = json.loads(records.run_path(uninterrupted, "digits", "kingdra-ladder-im", "tiny", 0).read_text())
    assert not again["resumed"]
    np.testing.assert_array_equal(records.decode_labels(record["labels"]), records.decode_labels(again["labels"]))
    assert record["metrics"] == again["metrics"]


def test_labels_survive_the_run_file_encoding():
    labels = np.random.default_rng(0).integers(0, 20, size=70_000)
    text = records.encode_labels(labels)
    np.testing.assert_array_equal(records.decode_labels(text), labels)
    assert len(text) < 70_000  # compressed: committing a labelling per run stays cheap
    with pytest.raises(ValueError, match="0-255"):
        records.encode_labels([0, 256])  # would wrap silently in uint8


def test_a_run_file_from_other_settings_is_rerun_not_reused(runs_dir, capsys):
    args = ["--dataset", "digits", "--method", "kmeans", "--profile", "tiny", "--seed", "0", "--runs-dir", str(runs_dir)]
    run.main(args)
    path = records.run_path(runs_dir, "digits", "kmeans", "tiny", 0)
    run.main(args)
    assert "digits: every run exists" in capsys.readouterr().out
    record = json.loads(path.read_text())
    record["config"]["baseline"]["kmeans_n_init"] = 99  # as if the profile had changed since
    path.write_text(json.dumps(record))
    run.main(args)
    assert "rerun digits__kmeans__tiny__seed0.json: its baseline settings differ" in capsys.readouterr().out
    assert json.loads(path.read_text())["config"]["baseline"]["kmeans_n_init"] != 99


def test_a_run_file_from_another_data_directory_is_reused(tmp_path):
    """Sources as runs before this fix recorded them (with the data directory) compare by file and checksum."""
    old = "canonical IDX files (https://ossci-datasets.s3.amazonaws.com/mnist/), md5-verified, in /work/shared/data/mnist"
    assert records.portable_source(old) == records.portable_source(old.replace("/work/shared", "/home/me")) == \
        "canonical IDX files (https://ossci-datasets.s3.amazonaws.com/mnist/), md5-verified"
    mirror = "/work/shared/data/20news-bydate.tar.gz (local mirror (repacked, same files))"
    assert records.portable_source(mirror) == "20news-bydate.tar.gz (local mirror (repacked, same files))"
    assert records.portable_source("20news-bydate.tar.gz (canonical)") != records.portable_source(mirror)
    (tmp_path / "run.json").write_text(json.dumps({"data": {"source": mirror}}))
    assert records.read_run(tmp_path / "run.json")["data"]["source"] == records.portable_source(mirror)


def test_a_recorded_command_holds_no_path_of_the_machine(tmp_path):
    repo = tmp_path / "checkout"
    argv = ["--runs-dir", str(repo / "results" / "runs"), "--config-dir", "/elsewhere/configs", "--seed", "0"]
    assert records.portable_command(argv, repo) == ("python -m replicate.run --runs-dir results/runs "
                                                    "--config-dir <outside the repository>/configs --seed 0")


def test_the_plan_never_loads_data(tmp_path, monkeypatch, capsys):
    def no_loading(self):
        raise AssertionError("--plan loaded the data")

    monkeypatch.setattr(config.Config, "load_data", no_loading)
    assert run.main(["--dataset", "digits", "cifar10", "--method", "kmeans", "ladder-im", "--profile", "tiny",
                     "--runs-dir", str(tmp_path), "--plan"]) == 0
    out = capsys.readouterr().out
    assert "digits: 2 runs missing" in out and "cifar10: 2 runs missing" in out and "estimated total" in out


def test_run_files_are_refused_into_a_tracked_folder_from_uncommitted_code(tmp_path):
    import subprocess

    from replicate import environment

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    git("init", "-q")
    (tmp_path / "code.py").write_text("a = 1\n")
    (tmp_path / ".gitignore").write_text("scratch/\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "old.json").write_text("{}")
    git("add", ".")
    git("commit", "-q", "-m", "x")
    (tmp_path / "results" / "old.json").write_text("{1}")  # results changing do not make the code dirty
    assert environment.describe_git(tmp_path)["dirty"] is False
    assert environment.refuse_dirty_tracked_runs(tmp_path / "results", tmp_path) is None
    (tmp_path / "code.py").write_text("a = 2\n")
    state = environment.describe_git(tmp_path)
    assert state["dirty"] and state["changed_files"] == ["code.py"] and len(state["diff_sha1"]) == 40
    assert "uncommitted changes (code.py)" in environment.refuse_dirty_tracked_runs(tmp_path / "results", tmp_path)
    assert environment.refuse_dirty_tracked_runs(tmp_path / "scratch", tmp_path) is None  # ignored by git
    assert environment.refuse_dirty_tracked_runs(tmp_path.parent / "elsewhere", tmp_path) is None


def test_a_run_file_written_before_a_rename_is_read_in_todays_names(tmp_path):
    from kingdra.renamed import RENAMED

    cfg = config.load_config("digits", "tiny")
    params = estimator_params("kingdra-ladder-im", cfg.params)
    old = {next((o for o, n in RENAMED.items() if n == k), k): v for k, v in params.items()}
    assert "rounds" in old and "pseudo_label_rounds" not in old
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"config": {"estimator": old, "baseline": cfg.baseline}}))
    record = records.read_run(path)
    assert record["config"]["estimator"] == params
    assert run.stale_reason(record, cfg, "kingdra-ladder-im") is None  # not rerun for a rename


def test_a_run_file_from_other_data_is_rerun_and_one_from_another_commit_only_on_request(runs_dir, capsys):
    args = ["--dataset", "digits", "--method", "kmeans", "--profile", "tiny", "--runs-dir", str(runs_dir), "--seed", "0"]
    path = records.run_path(runs_dir, "digits", "kmeans", "tiny", 0)
    run.main(args)
    record = json.loads(path.read_text())
    assert record["command"] == "python -m replicate.run " + " ".join(args).replace(
        str(runs_dir), f"<outside the repository>/{runs_dir.name}")  # a tmp dir: no path of the machine
    assert "xla_flags" in record["environment"] and record["ensemble"] is None  # a baseline trains no members

    record["data"]["version"] = "v0"  # as if the loader had changed how it builds the matrix
    path.write_text(json.dumps(record))
    run.main([*args, "1"])  # data provenance is checked whenever the data is loaded: here for seed 1
    assert "rerun digits__kmeans__tiny__seed0.json: its data's version differ" in capsys.readouterr().out

    record = json.loads(path.read_text())
    record["environment"]["git"]["commit"] = "0123456789abcdef"
    path.write_text(json.dumps(record))
    run.main(args)
    out = capsys.readouterr().out
    assert "digits: 1 run files were made at another commit" in out and "digits: every run exists" in out
    run.main([*args, "--rerun-other-commits"])
    assert "it ran at commit 0123456789, the code is at" in capsys.readouterr().out
    assert json.loads(path.read_text())["environment"]["git"]["commit"] != "0123456789abcdef"
