"""replicate/studies/mini_clusters.py: the threshold grid, the subset counts against a direct
mini_clusters call, and a tiny offline run on digits read back by the report."""
import json

import numpy as np

from kingdra import pseudo_labels
from replicate.studies import mini_clusters as study


def test_thresholds_keep_t_low_below_t_high_below_members():
    assert study.thresholds(3) == [(0, 2), (1, 2), (0, 1)]
    assert all(0 <= low < high < 5 for low, high in study.thresholds(5))
    assert {high for _, high in study.thresholds(5)} == {4, 3}


def test_completeness_counts_every_subset_as_mini_clusters_does():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 300)
    assignments = np.stack([truth, truth, (truth + 1) % 3, rng.integers(0, 3, 300)])  # member 3 is noise
    top_prob = np.full(assignments.shape, 0.95)
    rows = study.completeness(assignments, top_prob, 3, 3, [0.0])
    row = next(r for r in rows if (r["t_low"], r["t_high"]) == (1, 2))
    assert row["subsets"] == 4  # C(4, 3)
    expected = [len(pseudo_labels.mini_clusters(assignments[list(s)], top_prob[list(s)], 3, 1, 2))
                for s in ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3))]
    assert row["mini_clusters"] == expected and expected[0] == 3
    assert row["complete"] == sum(c == 3 for c in expected)
    assert row["pseudo_labels"][0] == 300 and row["smallest"][0] == np.bincount(truth).min()


def test_tiny_study_writes_its_grid_and_reports(tmp_path):
    path = study.run("digits", (8, 8), members=3, epochs=1, seed=0, profile="tiny", study_dir=tmp_path)
    record = json.loads(path.read_text())
    assert path.name == "digits__8-8__seed0.json" and record["n_points"] == 1797
    assert {(r["t_low"], r["t_high"], r["thresh"]) for r in record["results"]} == {
        (0, 2, 0.0), (1, 2, 0.0), (0, 1, 0.0)}  # digits' tiny profile has thresh 0: one thresh
    assert all(r["subsets"] == 1 and len(r["mini_clusters"]) == 1 for r in record["results"])
    text = study.report(tmp_path)
    assert "| digits | 8-8 | 1 | 3 | 1 / 2 | 0.0 |" in text and "| 0 / 1 |" not in text  # all-agree t_high only
