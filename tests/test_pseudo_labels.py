import time
import tracemalloc

import numpy as np
import pytest

from kingdra import pseudo_labels as pl


def random_ensemble(rng, n_members, n_true, n, noise):
    """Members that copy a ground truth under their own relabelling, each label replaced by a
    random one with probability `noise` (noise 1: fully random members)."""
    truth = rng.integers(0, n_true, n)
    members = []
    for _ in range(n_members):
        flip = rng.random(n) < noise
        members.append(np.where(flip, rng.integers(0, n_true, n), rng.permutation(n_true)[truth]))
    return np.array(members, dtype=np.int64).reshape(n_members, n)


def random_top_prob(rng, n_members, n, thresh):
    """Confident points sit mostly above thresh, the rest anywhere; some exactly at thresh."""
    confident = rng.random(n) < 0.7
    top_prob = np.where(confident, rng.uniform(thresh - 0.02, 1, (n_members, n)),
                        rng.random((n_members, n)))
    top_prob[rng.random((n_members, n)) < 0.01] = thresh
    return top_prob


VALID_THRESHOLDS = [(e, lo, hi) for e in (2, 3, 5, 10) for hi in range(1, e) for lo in range(hi)]

FORCED_DEGREES = {
    "auto": None,
    "masks": lambda vectors, counts, t_high: pl._degrees_by_masks(
        vectors, counts, vectors.shape[1] - t_high - 1),
    "pairwise": lambda vectors, counts, t_high: pl._weight_agreeing(
        vectors, vectors, counts, t_high),
}


def assert_same_clusters(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.dtype == np.int64
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("degrees", FORCED_DEGREES)
@pytest.mark.parametrize("n_members, t_low, t_high", VALID_THRESHOLDS)
def test_matches_brute_force(n_members, t_low, t_high, degrees, monkeypatch):
    if FORCED_DEGREES[degrees] is not None:
        monkeypatch.setattr(pl, "_degrees", FORCED_DEGREES[degrees])
    rng = np.random.default_rng([n_members, t_low, t_high])
    for noise in (0.0, 0.1, 0.3, 1.0):
        n = int(rng.choice([1, 2, 5, int(rng.integers(10, 300))]))
        n_true = int(rng.integers(1, 7))
        assignments = random_ensemble(rng, n_members, n_true, n, noise)
        thresh = float(rng.choice([0.0, 0.5]))
        top_prob = random_top_prob(rng, n_members, n, thresh)
        n_clusters = int(rng.integers(1, 9))
        expected = pl.mini_clusters_reference(assignments, top_prob, n_clusters, t_low, t_high,
                                           thresh)
        got = pl.mini_clusters(assignments, top_prob, n_clusters, t_low, t_high, thresh)
        assert_same_clusters(got, expected)


def test_blockwise_agreement_matches_one_block(monkeypatch):
    rng = np.random.default_rng(3)
    assignments = random_ensemble(rng, 5, 3, 200, 0.3)
    top_prob = np.ones(assignments.shape)
    monkeypatch.setattr(pl, "_degrees", FORCED_DEGREES["pairwise"])
    expected = pl.mini_clusters(assignments, top_prob, 6, 1, 3)
    monkeypatch.setattr(pl, "_BLOCK_ELEMENTS", 7)
    assert_same_clusters(pl.mini_clusters(assignments, top_prob, 6, 1, 3), expected)


def test_arbitrary_cluster_ids_give_the_same_result():
    rng = np.random.default_rng(4)
    assignments = random_ensemble(rng, 5, 4, 150, 0.2)
    top_prob = rng.random(assignments.shape)
    expected = pl.mini_clusters(assignments, top_prob, 5, 1, 3, 0.2)
    relabelled = assignments * 1000 - 777  # negative, gapped, per member still injective
    assert_same_clusters(pl.mini_clusters(relabelled.astype(np.int32), top_prob, 5, 1, 3, 0.2),
                         expected)


def test_row_keys_identify_rows_past_int64_range():
    rng = np.random.default_rng(9)
    rows = rng.integers(0, 1000, (300, 20))[rng.integers(0, 300, 600)]  # 1000**20 >> 2**63
    keys = pl._row_keys(rows)
    n_rows = len(np.unique(rows, axis=0))
    assert len(np.unique(keys)) == n_rows
    assert len(np.unique(np.column_stack([keys, rows]), axis=0)) == n_rows


def test_singletons_in_index_order_when_nobody_agrees():
    assignments = np.array([[0, 1, 2, 3], [3, 2, 1, 0]])
    top_prob = np.ones(assignments.shape)
    got = pl.mini_clusters(assignments, top_prob, 3, 0, 1)
    assert_same_clusters(got, [np.array([0]), np.array([1]), np.array([2])])


def test_thresh_is_strict_and_no_eligible_point_gives_no_cluster():
    assignments = np.zeros((3, 4), dtype=np.int64)
    top_prob = np.full((3, 4), 0.9)
    top_prob[1, 2] = 0.95
    assert pl.mini_clusters(assignments, top_prob, 2, 0, 2, 0.9) == []
    top_prob[:, 2] = 0.95
    assert_same_clusters(pl.mini_clusters(assignments, top_prob, 2, 0, 2, 0.9), [np.array([2])])
    assert pl.mini_clusters(np.zeros((3, 0), dtype=np.int64), np.zeros((3, 0)), 2, 0, 2) == []


@pytest.mark.parametrize("change, name", [
    (dict(assignments=np.zeros(5, dtype=np.int64)), "assignments"),
    (dict(assignments=np.zeros((3, 5))), "assignments"),
    (dict(top_prob=np.ones((3, 4))), "top_prob"),
    (dict(top_prob=np.full((3, 5), np.nan)), "top_prob"),
    (dict(n_clusters=0), "n_clusters"),
    (dict(n_clusters=2.0), "n_clusters"),
    (dict(t_low=-1), "t_low"),
    (dict(t_low=2, t_high=2), "t_high"),
    (dict(t_high=3), "t_high"),
    (dict(t_high=True), "t_high"),
    (dict(thresh=1.0), "thresh"),
    (dict(thresh=-0.1), "thresh"),
])
def test_mini_clusters_validation(change, name):
    arguments = dict(assignments=np.zeros((3, 5), dtype=np.int64), top_prob=np.ones((3, 5)),
                     n_clusters=2, t_low=0, t_high=2, thresh=0.0)
    arguments.update(change)
    with pytest.raises(ValueError, match=name):
        pl.mini_clusters(**arguments)


def test_single_member_has_no_valid_thresholds():
    # 0 <= t_low < t_high < E leaves nothing for E = 1: pseudo-labels need an ensemble.
    with pytest.raises(ValueError, match="t_high"):
        pl.mini_clusters(np.zeros((1, 5), dtype=np.int64), np.ones((1, 5)), 2, 0, 1)


def true_classes(truth, n_true):
    return [np.flatnonzero(truth == k) for k in range(n_true)]


def test_align_to_member_recovers_permutation():
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 6, 500)
    perm = rng.permutation(8)  # the member uses 8 ids, only 6 mini-clusters exist
    member = perm[truth]
    member[:40] = rng.integers(0, 8, 40)
    np.testing.assert_array_equal(pl.align_to_member(true_classes(truth, 6), member, 8), perm[:6])


def test_align_to_member_gives_distinct_ids_even_without_overlap():
    labels = pl.align_to_member([np.array([0, 1]), np.array([2])], np.array([4, 4, 4]), 5)
    assert labels[0] == 4 and len(set(labels.tolist())) == 2 and labels.max() < 5


@pytest.mark.parametrize("clusters, member, n_clusters, name", [
    ([np.array([0]), np.array([1])], np.array([0, 1]), 1, "clusters"),
    ([np.array([0.5])], np.array([0, 1]), 2, "clusters"),
    ([np.array([0])], np.array([3, 1]), 2, "member_assignments"),
    ([np.array([0])], np.array([[0, 1]]), 2, "member_assignments"),
])
def test_align_to_member_validation(clusters, member, n_clusters, name):
    with pytest.raises(ValueError, match=name):
        pl.align_to_member(clusters, member, n_clusters)


@pytest.mark.parametrize("common_mapping", [False, True])
def test_pseudo_label_targets(common_mapping):
    rng = np.random.default_rng(6)
    truth = rng.integers(0, 4, 100)
    perms = [rng.permutation(4) for _ in range(3)]
    assignments = np.stack([p[truth] for p in perms])
    clusters = [c[: 5 + k] for k, c in enumerate(true_classes(truth, 4))]
    indices, labels = pl.pseudo_label_targets(clusters, assignments, 4, common_mapping)
    np.testing.assert_array_equal(indices, np.concatenate(clusters))
    assert labels.shape == (3, len(indices))
    for e in range(3):
        expected = perms[0 if common_mapping else e][truth[indices]]
        np.testing.assert_array_equal(labels[e], expected)


def test_balanced_sample():
    clusters = [np.array([3, 8]), np.array([1, 4, 5, 6, 9]), np.array([0])]
    indices, classes = pl.balanced_sample(clusters, 14, np.random.default_rng(7))
    assert len(indices) == len(classes) == 14
    counts = np.bincount(classes, minlength=3)
    assert counts.min() > 0 and counts.max() - counts.min() <= 1
    for k, cluster in enumerate(clusters):
        drawn = indices[classes == k]
        assert np.isin(drawn, cluster).all()
        # Shuffled once and cycled: every point is drawn before any is drawn twice.
        uses = np.bincount(drawn, minlength=10)[cluster]
        assert uses.max() - uses.min() <= 1
    again = pl.balanced_sample(clusters, 14, np.random.default_rng(7))
    np.testing.assert_array_equal(again[0], indices)
    assert not np.array_equal(classes, np.arange(14) % 3)  # the sequence itself is shuffled
    labels_of_member = np.array([2, 0, 1])
    assert labels_of_member[classes].shape == (14,)


@pytest.mark.parametrize("clusters, n_samples, rng, name", [
    ([], 5, np.random.default_rng(0), "clusters"),
    ([np.array([1]), np.array([], dtype=np.int64)], 5, np.random.default_rng(0), "clusters"),
    ([np.array([1])], -1, np.random.default_rng(0), "n_samples"),
    ([np.array([1])], 5, 0, "rng"),
])
def test_balanced_sample_validation(clusters, n_samples, rng, name):
    with pytest.raises(ValueError, match=name):
        pl.balanced_sample(clusters, n_samples, rng)


def test_select_pseudo_label_set():
    small = [np.arange(2), np.arange(2, 5)]
    large = [np.arange(3), np.arange(3, 7)]
    incomplete = [np.arange(9)]
    assert pl.select_pseudo_label_set(incomplete, None, 2) == (None, None)
    train, best = pl.select_pseudo_label_set(small, None, 2)
    assert train is small and best is small
    train, best = pl.select_pseudo_label_set(large, small, 2)
    assert train is large and best is large
    train, best = pl.select_pseudo_label_set(small, large, 2)
    assert train is small and best is large  # complete sets are used even when not the best
    train, best = pl.select_pseudo_label_set(incomplete, large, 2)
    assert train is large and best is large
    with_empty = [np.arange(3), np.zeros(0, dtype=np.int64)]
    assert pl.select_pseudo_label_set(with_empty, large, 2) == (large, large)


def assert_valid(clusters, assignments, n_clusters, t_low, t_high):
    """Structure plus the defining edges, checked on each mini-cluster's unique vectors."""
    assert 0 < len(clusters) <= n_clusters
    allpoints = np.concatenate(clusters)
    assert len(np.unique(allpoints)) == len(allpoints)
    vectors = [np.unique(assignments[:, c].T, axis=0) for c in clusters]
    for k, (cluster, own) in enumerate(zip(clusters, vectors)):
        assert cluster.dtype == np.int64 and (np.diff(cluster) > 0).all()
        agree = (own[:, None, :] == own[None, :, :]).sum(axis=2)
        assert ((agree > t_high).all(axis=1)).any()  # some centre is strong-positive to all
        for later in vectors[k + 1:]:
            assert ((own[:, None, :] == later[None, :, :]).sum(axis=2) <= t_low).all()


@pytest.mark.parametrize("noise", [0.1, 1.0])
@pytest.mark.parametrize("t_high", [9, 8])
def test_scale(noise, t_high):
    rng = np.random.default_rng(8)
    assignments = random_ensemble(rng, 10, 10, 70_000, noise)
    top_prob = np.ones(assignments.shape)
    tracemalloc.start()
    start = time.perf_counter()
    clusters = pl.mini_clusters(assignments, top_prob, 10, 1, t_high)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"n=70000 E=10 K=10 noise={noise} t_high={t_high}: {seconds:.2f} s, "
          f"peak {peak / 2**20:.0f} MiB, sizes {[len(c) for c in clusters]}")
    assert_valid(clusters, assignments, 10, 1, t_high)
