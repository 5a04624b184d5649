"""Pseudo-labels from an ensemble of clusterings (the heart of Kingdra).

Members vote: agree(i, j) counts the members that put points i and j in the same cluster. Pairs
with agree > t_high are strong positive edges, pairs with agree <= t_low strong negative ones.
A greedy pass picks dense, mutually distant groups of points (mini-clusters); they are mapped to
each member's own cluster ids and used as labels for a class-balanced supervised batch.
`mini_clusters_reference` is that pass written literally; `mini_clusters` computes the same.

Never an n x n matrix: points with the same assignment vector (one cluster id per member) behave
identically, so everything works on the unique vectors with their multiplicities, and agree(i, j)
is E minus the Hamming distance between the two vectors.
"""
from itertools import combinations
from math import comb

import numpy as np

from kingdra.metrics import _check_integer, match_by_overlap

# Elements in one block of pairwise agreement counts: bounds the temporaries at ~10 MB.
_BLOCK_ELEMENTS = 1 << 20


def mini_clusters(assignments, top_prob, n_clusters, t_low, t_high, thresh=0.0):
    """Greedy mini-clusters of points the ensemble confidently agrees on.

    assignments: int array (E, n), each member's cluster id per point.
    top_prob: float array (E, n), each member's top softmax probability per point.
    A point is eligible when every member's top probability exceeds `thresh`. Up to n_clusters
    times: the eligible point with the most eligible strong-positive neighbours (itself included;
    ties go to the lowest index) and those neighbours form the next mini-cluster; then every
    eligible point with agree > t_low to any point of it becomes ineligible.
    Returns a list (at most n_clusters long, in the order chosen) of ascending int64 point-index
    arrays.
    """
    assignments, top_prob = _check_ensemble(assignments, top_prob)
    n_members = assignments.shape[0]
    _check_integer("n_clusters", n_clusters, minimum=1)
    _check_integer("t_low", t_low, minimum=0)
    _check_integer("t_high", t_high, minimum=t_low + 1, maximum=n_members - 1,
                   hint=f"need 0 <= t_low < t_high < E = {n_members}")
    if not 0 <= thresh < 1:
        raise ValueError(f"thresh must lie in [0, 1), got {thresh!r}")

    # Ineligible points never join, never count as neighbours: drop them once, up front.
    points = np.flatnonzero((top_prob > thresh).all(axis=0))
    vectors, counts, lowest, vector_of_point = _unique_vectors(assignments, points)
    radius = n_members - t_high - 1  # agree > t_high  <=>  Hamming distance <= radius
    alive = np.ones(len(vectors), dtype=bool)
    clusters = []
    while len(clusters) < n_clusters and alive.any():
        ids = np.flatnonzero(alive)
        degree = _degrees(vectors[ids], counts[ids], t_high)
        tied = ids[degree == degree.max()]
        centre = tied[np.argmin(lowest[tied])]
        joined = ids[(vectors[ids] != vectors[centre]).sum(axis=1) <= radius]  # vector ids of this mini-cluster
        in_cluster = np.zeros(len(vectors), dtype=bool)
        in_cluster[joined] = True
        clusters.append(points[in_cluster[vector_of_point]])
        # Only points strongly negative to the whole mini-cluster stay eligible; its own
        # points agree E > t_low times with themselves, so they leave too.
        touched = _weight_agreeing(vectors[ids], vectors[joined], np.ones(len(joined)), t_low)
        alive[ids[touched > 0]] = False
    return clusters


def mini_clusters_reference(assignments, top_prob, n_clusters, t_low, t_high, thresh=0.0):
    """`mini_clusters` as the method states it, to read and to test against: the explicit n x n
    agreement matrix and the greedy loop over points, O(n^2) memory and O(n^3) time (a few thousand
    points at most). Same arguments, same result."""
    agree = (assignments[:, :, None] == assignments[:, None, :]).sum(axis=0)  # agree[i, j]: members in accord
    eligible = (top_prob > thresh).all(axis=0)
    clusters = []
    for _ in range(n_clusters):
        candidates = np.flatnonzero(eligible)
        if len(candidates) == 0:
            break
        degree = [sum(agree[i, j] > t_high for j in candidates) for i in candidates]  # strong positive edges
        centre = candidates[int(np.argmax(degree))]  # argmax: the first of ties, the lowest index
        cluster = np.array([j for j in candidates if agree[centre, j] > t_high], dtype=np.int64)
        clusters.append(cluster)
        for i in candidates:  # only points strongly negative to every member stay eligible
            if any(agree[i, j] > t_low for j in cluster):
                eligible[i] = False
    return clusters


def align_to_member(clusters, member_assignments, n_clusters):
    """Label of each mini-cluster in one member's label space, by maximum overlap (Hungarian).

    Returns an int64 array (len(clusters),) of distinct ids in [0, n_clusters).
    """
    _check_integer("n_clusters", n_clusters, minimum=1)
    points, cluster_of_point = _flatten(clusters)
    if len(clusters) > n_clusters:
        raise ValueError(f"clusters has {len(clusters)} mini-clusters, more than "
                         f"n_clusters = {n_clusters}; each needs its own label")
    member_assignments = np.asarray(member_assignments)
    if member_assignments.ndim != 1 or not np.issubdtype(member_assignments.dtype, np.integer):
        raise ValueError("member_assignments must be a 1-D integer array of cluster ids")
    ids = member_assignments[points]
    if ids.size and (ids.min() < 0 or ids.max() >= n_clusters):
        raise ValueError(f"member_assignments must hold cluster ids in [0, {n_clusters})")
    row_ind, col_ind, _ = match_by_overlap(cluster_of_point, ids, len(clusters), n_clusters)
    labels = np.empty(len(clusters), dtype=np.int64)
    labels[row_ind] = col_ind
    return labels


def member_label_maps(clusters, assignments, n_clusters, common_mapping):
    """(E, k) int array: row e gives each mini-cluster's label in member e's label space.

    With common_mapping every member gets member 0's labels, which pulls all members into one
    label space so their probabilities can be averaged.
    """
    assignments = np.asarray(assignments)
    if assignments.ndim != 2:
        raise ValueError(f"assignments must be 2-D (members, points), got {assignments.shape}")
    if common_mapping:
        shared = align_to_member(clusters, assignments[0], n_clusters)
        return np.tile(shared, (len(assignments), 1))
    return np.stack([align_to_member(clusters, member, n_clusters) for member in assignments])


def pseudo_label_targets(clusters, assignments, n_clusters, common_mapping):
    """Pseudo-labelled points and their label for each member.

    Returns (indices (m,), labels (E, m)): the mini-clusters' points concatenated in order, and
    labels[e] their mini-cluster's label in member e's label space (see member_label_maps).
    """
    maps = member_label_maps(clusters, assignments, n_clusters, common_mapping)
    points, cluster_of_point = _flatten(clusters)
    return points, maps[:, cluster_of_point]


def balanced_sample(clusters, n_samples, rng):
    """Class-balanced round-robin sample of pseudo-labelled points.

    Sample t comes from mini-cluster t mod k; each mini-cluster's points are shuffled once and
    cycled; the whole sequence is then shuffled. Returns (indices, classes), both (n_samples,):
    the point index and the mini-cluster of each sample, so member e's targets are
    member_label_maps(...)[e][classes].
    """
    _check_integer("n_samples", n_samples, minimum=0)
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy Generator, e.g. np.random.default_rng(seed)")
    if not clusters or any(len(c) == 0 for c in clusters):
        raise ValueError("clusters must be a non-empty list of non-empty mini-clusters")
    points, cluster_of_point = _flatten(clusters)
    # Sorting by (mini-cluster, random key) shuffles within each mini-cluster in one pass.
    shuffled = points[np.lexsort((rng.random(len(points)), cluster_of_point))]
    sizes = np.bincount(cluster_of_point)
    starts = np.cumsum(sizes) - sizes
    turn = np.arange(n_samples)
    classes = turn % len(clusters)
    indices = shuffled[starts[classes] + (turn // len(clusters)) % sizes[classes]]
    order = rng.permutation(n_samples)
    return indices[order], classes[order]


def select_pseudo_label_set(new, best, n_clusters):
    """Which mini-cluster set to train on this round, and the best complete set so far.

    A set is complete with n_clusters non-empty mini-clusters. A complete new set is used, and
    becomes the best when its smallest mini-cluster is larger than the best's. An incomplete one
    falls back to the best earlier set; with none (None), the round trains unsupervised only.
    Returns (set_to_train_on or None, best or None).
    """
    _check_integer("n_clusters", n_clusters, minimum=1)
    if not _complete(new, n_clusters):
        return best, best
    if best is None or _smallest(new) > _smallest(best):
        best = new
    return new, best


def _complete(clusters, n_clusters):
    return len(clusters) == n_clusters and _smallest(clusters) > 0


def _smallest(clusters):
    return min(len(c) for c in clusters)


def _degrees(vectors, counts, t_high):
    """Strong-positive degree of each unique vector: total count of vectors agreeing > t_high.

    Mask counting costs one grouping pass per subset of at most `radius` members, pairwise
    comparison costs U^2 * E: take the cheaper. The released settings (E = 10, t_high 8 or 9)
    need 11 or 1 subsets.
    """
    n_vectors, n_members = vectors.shape
    radius = n_members - t_high - 1
    n_subsets = sum(comb(n_members, s) for s in range(radius + 1))
    # Measured: a grouping pass costs ~60 ns per vector, a comparison ~0.2 ns per pair and member.
    if n_subsets * 300 < n_vectors * n_members:
        return _degrees_by_masks(vectors, counts, radius)
    return _weight_agreeing(vectors, vectors, counts, t_high)


def _degrees_by_masks(vectors, counts, radius):
    """Total count of vectors within Hamming distance `radius` of each vector, in O(U * E) memory.

    M_s(u) sums, over every set S of s members, the count of vectors equal to u outside S; a
    vector at distance d is counted C(E - d, s - d) times, so M_s = sum_d C(E-d, s-d) n_d, where
    n_d counts vectors at distance exactly d. Binomial inversion gives
    n_d = sum_{s<=d} (-1)^(d-s) C(E-s, d-s) M_s, and summing over d <= radius telescopes to
    degree = sum_{s<=radius} (-1)^(radius-s) C(E-1-s, radius-s) M_s (exact integers).
    """
    n_members = vectors.shape[1]
    degree = np.zeros(len(vectors), dtype=np.int64)
    for size in range(radius + 1):
        coefficient = (-1) ** (radius - size) * comb(n_members - 1 - size, radius - size)
        for dropped in combinations(range(n_members), size):
            kept = np.delete(vectors, dropped, axis=1)
            _, group = np.unique(_row_keys(kept), return_inverse=True)
            degree += coefficient * np.bincount(group, weights=counts).astype(np.int64)[group]
    return degree


def _weight_agreeing(queries, data, weights, above):
    """For each query vector, the total weight of data vectors agreeing in more than `above`
    members. Pairwise, in row blocks of bounded size."""
    rows = max(1, _BLOCK_ELEMENTS // max(len(data), 1))
    data_columns = np.ascontiguousarray(data.T)
    agree_type = np.min_scalar_type(data.shape[1])
    total = np.empty(len(queries), dtype=np.asarray(weights).dtype)
    for start in range(0, len(queries), rows):
        block = queries[start:start + rows]
        agree = np.zeros((len(block), len(data)), dtype=agree_type)
        for member, column in enumerate(data_columns):
            agree += block[:, member, None] == column
        total[start:start + rows] = (agree > above) @ weights
    return total


def _unique_vectors(assignments, points):
    """Group the given points by their assignment vector (column of `assignments`).

    Returns vectors (U, E) as small dense codes, the number of points per vector, the lowest
    position in `points` per vector and, per point, the row of its vector.
    """
    # Dense per-member codes: arbitrary ids become small integers, so keys stay compact; one
    # member at a time, so no full-size int64 copy of the ensemble is ever made.
    codes = np.stack([_smallest_type(np.unique(ids[points], return_inverse=True)[1])
                      for ids in assignments])
    _, lowest, vector_of_point, counts = np.unique(
        _row_keys(codes.T), return_index=True, return_inverse=True, return_counts=True)
    return np.ascontiguousarray(codes[:, lowest].T), counts, lowest, vector_of_point


def _smallest_type(codes):
    return codes.astype(np.min_scalar_type(codes.max(initial=0)))


def _row_keys(rows):
    """One int64 per row, equal exactly when the rows are equal (mixed-radix encoding).

    When the next radix would overflow, the partial keys are re-densified to their rank first,
    so any number of columns works.
    """
    keys = np.zeros(len(rows), dtype=np.int64)
    bound = 1
    for column in rows.T:
        radix = int(column.max(initial=0)) + 1
        if bound * radix > 2 ** 62:
            keys = np.unique(keys, return_inverse=True)[1].astype(np.int64)
            bound = int(keys.max()) + 1
        keys = keys * radix + column
        bound *= radix
    return keys


def _flatten(clusters):
    """Concatenated point indices of the mini-clusters and the mini-cluster of each point."""
    arrays = [np.asarray(c) for c in clusters]
    if any(a.ndim != 1 or (a.size and not np.issubdtype(a.dtype, np.integer)) for a in arrays):
        raise ValueError("clusters must be a list of 1-D integer arrays of point indices")
    points = np.concatenate(arrays).astype(np.int64) if arrays else np.zeros(0, dtype=np.int64)
    return points, np.repeat(np.arange(len(arrays)), [len(a) for a in arrays])


def _check_ensemble(assignments, top_prob):
    assignments = np.asarray(assignments)
    top_prob = np.asarray(top_prob)
    if assignments.ndim != 2 or not np.issubdtype(assignments.dtype, np.integer):
        raise ValueError("assignments must be a 2-D integer array (members, points), got "
                         f"dtype {assignments.dtype} and shape {assignments.shape}")
    if top_prob.shape != assignments.shape:
        raise ValueError(f"top_prob must have the shape of assignments {assignments.shape}, "
                         f"got {top_prob.shape}")
    if not np.issubdtype(top_prob.dtype, np.floating) and top_prob.size:
        raise ValueError(f"top_prob must be a float array, got dtype {top_prob.dtype}")
    if np.isnan(top_prob).any():
        raise ValueError("top_prob contains NaN; check the members' predictions")
    if assignments.shape[0] < 1:
        raise ValueError("assignments needs at least one member (row)")
    return assignments, top_prob
