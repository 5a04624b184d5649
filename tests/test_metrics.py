import itertools

import numpy as np
import pytest

from kingdra import metrics


def brute_force_accuracy(y_true, y_pred):
    """Best fraction correct over every one-to-one map of clusters to classes, by enumeration.

    Clusters are mapped by a permutation of max(k_pred, k_true) slots; a cluster landing on a
    slot past the last class matches nothing, which is how unmatched clusters count as wrong.
    """
    classes = list(dict.fromkeys(y_true.tolist()))
    clusters = list(dict.fromkeys(y_pred.tolist()))
    true_code = np.array([classes.index(v) for v in y_true.tolist()])
    pred_code = np.array([clusters.index(v) for v in y_pred.tolist()])
    slots = max(len(classes), len(clusters))
    return max(np.mean(np.array(perm)[pred_code] == true_code)
               for perm in itertools.permutations(range(slots)))


@pytest.mark.parametrize("k_true, k_pred", [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6),
                                            (2, 5), (5, 2), (3, 6), (6, 3), (1, 4), (4, 1)])
def test_accuracy_matches_brute_force(k_true, k_pred):
    rng = np.random.default_rng(k_true * 10 + k_pred)
    for _ in range(40):
        n = int(rng.integers(1, 60))
        # Arbitrary label values: negative, gapped, different sets for truth and prediction.
        true_values = rng.choice(np.arange(-50, 50), size=k_true, replace=False)
        pred_values = rng.choice(np.arange(-50, 50), size=k_pred, replace=False)
        y_true = true_values[rng.integers(0, k_true, n)]
        # Half the cases are noisy copies of the truth, so the optimum is not trivially low.
        if rng.random() < 0.5:
            y_pred = pred_values[rng.integers(0, k_pred, n)]
        else:
            base = np.searchsorted(np.sort(true_values), y_true) % k_pred
            flip = rng.random(n) < 0.3
            y_pred = pred_values[np.where(flip, rng.integers(0, k_pred, n), base)]
        assert metrics.accuracy(y_true, y_pred) == pytest.approx(
            brute_force_accuracy(y_true, y_pred), abs=1e-12)


def test_perfect_clustering_under_any_relabelling():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 5, 200)
    for perm in itertools.permutations(range(5)):
        y_pred = np.array(perm)[y_true] * 3 - 7
        assert metrics.accuracy(y_true, y_pred) == 1.0
        assert metrics.nmi(y_true, y_pred) == pytest.approx(1.0)
        assert metrics.ari(y_true, y_pred) == pytest.approx(1.0)


def test_accuracy_known_examples():
    assert metrics.accuracy([0, 0, 1, 1, 2, 2], [1, 1, 0, 0, 0, 2]) == pytest.approx(5 / 6)
    # More clusters than classes: only two singleton clusters can be matched.
    assert metrics.accuracy([0, 0, 0, 1, 1, 1], [0, 1, 2, 3, 4, 5]) == pytest.approx(2 / 6)
    # Fewer clusters than classes: one cluster per class at most.
    assert metrics.accuracy([0, 1, 2, 3], [7, 7, 7, 7]) == pytest.approx(1 / 4)
    assert metrics.accuracy(["a", "b", "b"], [-1, 5, 5]) == 1.0


def test_nmi_ari_of_independent_labels_are_small():
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.integers(0, 10, 5000), rng.integers(0, 10, 5000)
    assert metrics.nmi(y_true, y_pred) < 0.01
    assert abs(metrics.ari(y_true, y_pred)) < 0.01


@pytest.mark.parametrize("function", [metrics.accuracy, metrics.nmi, metrics.ari])
@pytest.mark.parametrize("y_true, y_pred, name", [
    ([0, 1], [0, 1, 1], "y_pred"),
    ([[0, 1]], [0, 1], "y_true"),
    ([0, 1], [[0, 1]], "y_pred"),
    ([], [], "y_true"),
    ([0], [], "y_pred"),
])
def test_bad_label_inputs(function, y_true, y_pred, name):
    with pytest.raises(ValueError, match=name):
        function(y_true, y_pred)


def test_alignment_recovers_permutation():
    rng = np.random.default_rng(2)
    reference = rng.integers(0, 6, 300)
    true_perm = rng.permutation(6)
    labels = np.argsort(true_perm)[reference]  # so that true_perm[labels] == reference
    noisy = labels.copy()
    noisy[:30] = rng.integers(0, 6, 30)
    for candidate in (labels, noisy):
        perm = metrics.alignment(reference, candidate, 6)
        np.testing.assert_array_equal(perm, true_perm)
    assert metrics.accuracy(reference, labels) == 1.0


def test_alignment_is_a_permutation_when_ids_are_unused():
    perm = metrics.alignment(np.array([0, 0, 1, 1]), np.array([3, 3, 2, 2]), 5)
    assert sorted(perm.tolist()) == list(range(5))
    np.testing.assert_array_equal(perm[[3, 3, 2, 2]], [0, 0, 1, 1])


@pytest.mark.parametrize("reference, labels, n_clusters, name", [
    ([0, 1], [0, 5], 3, "labels"),
    ([-1, 1], [0, 1], 3, "reference"),
    ([0.0, 1.0], [0, 1], 3, "reference"),
    ([0, 1], [0, 1], 0, "n_clusters"),
    ([0, 1], [0, 1, 1], 3, "labels"),
])
def test_alignment_bad_inputs(reference, labels, n_clusters, name):
    with pytest.raises(ValueError, match=name):
        metrics.alignment(np.array(reference), np.array(labels), n_clusters)


def test_pseudo_label_quality():
    y_true = np.array([5, 5, 5, 9, 9, 9, 7, 7, 7, 7])
    # Mini-cluster 0 holds classes (5, 5, 9), mini-cluster 1 holds (9, 9, 7).
    quality = metrics.pseudo_label_quality(y_true, [np.array([0, 1, 3]), np.array([4, 5, 6])])
    assert quality["count"] == 6
    assert quality["coverage"] == pytest.approx(0.6)
    # Hungarian: cluster 0 -> 5 (2 points), cluster 1 -> 9 (2 points) beats 1 -> 7.
    assert quality["precision"] == pytest.approx(4 / 6)
    empty = metrics.pseudo_label_quality(y_true, [])
    assert empty["count"] == 0 and empty["coverage"] == 0.0 and np.isnan(empty["precision"])
    with pytest.raises(ValueError, match="mini_clusters"):
        metrics.pseudo_label_quality(y_true, [np.array([10])])
