"""replicate.figures: which members a cluster grid shows and outlines, and that `make figures`
writes every figure from real (tiny) run files."""
import numpy as np
import pytest

from replicate import cluster_grids, figures, run, table


def test_cluster_rows_name_the_majority_class_or_unk_and_flag_the_wrong_members():
    y = np.array([0] * 8 + [1] * 2 + [1] * 5 + [2] * 5)
    labels = np.array([7] * 10 + [3] * 10)  # cluster 7: 80 % class 0; cluster 3: no majority (5 vs 5)
    rows = cluster_grids.cluster_rows(labels, y, ("zero", "one", "two"), per_row=15, seed=0)
    assert [r["name"] for r in rows] == ["zero", "unk"]  # classes first, "unk" last
    zero, unk = rows
    assert zero["size"] == 10 and len(zero["shown"]) == 10 and set(zero["shown"]) == set(range(10))
    np.testing.assert_array_equal(zero["wrong"], y[zero["shown"]] != 0)
    assert zero["wrong"].sum() == 2 and (zero["purity"], zero["commonest"]) == (0.8, "zero")
    # The most mixed cluster is framed too, against its commonest class (one, the first of the tie).
    assert (unk["commonest"], unk["purity"]) == ("one", 0.5)
    np.testing.assert_array_equal(unk["wrong"], y[unk["shown"]] != 1)
    assert unk["wrong"].sum() == 5


def test_cluster_rows_show_at_most_fifteen_random_members():
    labels = np.zeros(100, int)
    rows = cluster_grids.cluster_rows(labels, np.zeros(100, int), ("only",), seed=1)
    assert len(rows[0]["shown"]) == 15 and len(set(rows[0]["shown"])) == 15
    assert not np.array_equal(rows[0]["shown"], cluster_grids.cluster_rows(labels, labels, ("only",), seed=2)[0]["shown"])


def test_mosaic_frames_wrong_members_in_red():
    images = np.zeros((3, 4, 4))
    rows = [{"shown": np.array([0, 1]), "wrong": np.array([False, True])}]
    canvas = cluster_grids.mosaic(images, rows, border=1)
    assert canvas.shape == (6, 15 * 6, 3)
    np.testing.assert_allclose(canvas[0, 0], cluster_grids.WHITE)
    np.testing.assert_allclose(canvas[0, 6], cluster_grids.RED)
    np.testing.assert_allclose(canvas[1, 7], 0.0)  # the image itself


def test_figures_are_built_from_run_files(tmp_path, monkeypatch):
    monkeypatch.setenv("KINGDRA_CACHE_DIR", str(tmp_path / "cache"))
    runs_dir = tmp_path / "runs"
    run.main(["--dataset", "digits", "--method", "kingdra-ladder-im", "--profile", "tiny", "--seed", "0",
              "--runs-dir", str(runs_dir)])
    written = figures.build(table.load_runs(runs_dir), tmp_path / "figures")
    assert sorted(p.name for p in written) == ["accuracy_vs_training_digits.png", "digits_clusters_tiny.png",
                                               "im_rows.png", "precision_coverage_tiny.png", "rounds_tiny.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)


def test_cluster_grids_refuse_images_that_are_not_what_the_run_clustered():
    digits = {"dataset": "digits", "method": "kingdra-ladder-im", "profile": "tiny", "seed": 0,
              "data": {"source": "sklearn.datasets.load_digits (bundled with scikit-learn)", "shape": [1797, 64]}}
    images, y = cluster_grids.dataset_images("digits", digits)
    assert images.shape == (1797, 8, 8) and len(y) == 1797
    moved = {**digits, "data": {**digits["data"], "source": "digits.tar.gz (another copy)"}}
    with pytest.raises(ValueError, match="its labels would sit on the wrong images"):
        cluster_grids.dataset_images("digits", moved)


def test_training_curve_counts_member_epochs_round_by_round():
    kingdra = {"config": {"estimator": {"members": 5}},
               "history": [{"epochs": 4, "accuracy": 0.8}, {"epochs": 1, "accuracy": 0.85}, {"epochs": 1, "accuracy": 0.9}]}
    single = {"config": {"estimator": {"members": 1}}, "history": [{"epochs": 6, "accuracy": 0.7}]}
    spent, accuracy = figures.training_curve(kingdra)
    assert spent == [20, 25, 30] and accuracy == pytest.approx([80.0, 85.0, 90.0])
    assert figures.training_curve(single) == ([6], [70.0])


def test_a_run_under_way_is_drawn_with_the_round_it_reached():
    under_way = {"dataset": "digits", "method": "kingdra-ladder-im", "label": "Kingdra-Ladder-IM", "profile": "paper",
                 "seed": 0, "config": {"estimator": {"members": 10}}, "unfinished": {"rounds_done": 3, "rounds_total": 10},
                 "history": [{"epochs": 5, "accuracy": a} for a in (0.3, 0.35, 0.4)]}
    fig = figures.plot_training([], "digits", [under_way])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["Kingdra-Ladder-IM, paper, seed 0: round 2 of 9, unfinished"]
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xydata(), [[50, 30], [100, 35], [150, 40]])
    figures.plt.close(fig)


def test_every_seed_of_a_rounds_figure_has_its_own_line_style():
    history = [{"round": 0, "accuracy": 0.8, "pseudo_labels": 0},
               {"round": 1, "accuracy": 0.9, "pseudo_labels": 50, "pseudo_label_precision": 0.95}]
    runs = [{"dataset": "digits", "method": "kingdra-ladder-im", "seed": seed, "data": {"shape": [100, 64]},
             "history": history} for seed in range(5)]
    fig = figures.plot_rounds(runs, "tiny")
    assert len(fig.axes[0].lines) == 5
    # The dash pattern as drawn (matplotlib names every custom style "--", so the name cannot tell them apart).
    assert len({str(line._dash_pattern) for line in fig.axes[0].lines}) == 5
    figures.plt.close(fig)
