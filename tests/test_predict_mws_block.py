"""One block of the blockwise mutex watershed: its fragments are the whole window's mutex
watershed cropped to the block, its edges sum every voxel pair of touching fragments, and its
face records match the neighbour's key for key."""

import numpy as np

from dacapo_flow.predict.mws_block import mws_block, pair_sums
from dacapo_flow.tasks.instances import mutex_watershed

NEIGHBORHOOD = [[1, 0], [0, 1], [0, 3]]


def two_objects(shape=(6, 8)):
    """Affinities of a left and a right object split at x = 4 (0.9 inside, 0.1 across)."""
    gt = np.zeros(shape, int)
    gt[:, 4:] = 1
    affs = np.zeros((len(NEIGHBORHOOD), *shape), np.float32)
    for k, (dy, dx) in enumerate(NEIGHBORHOOD):
        same = gt[: shape[0] - dy, : shape[1] - dx] == gt[dy:, dx:]
        affs[k, : shape[0] - dy, : shape[1] - dx] = np.where(same, 0.9, 0.1)
    return affs


def block(affs, begin, shape):
    """The block at `begin` of a 2 x 2 grid of `shape` blocks, the whole array as window."""
    return mws_block(affs, NEIGHBORHOOD, 0.5, (0, 0), begin, shape, affs.shape[1:], shape, (2, 2))


def test_fragments_edges_and_sizes():
    affs = two_objects()
    found = block(affs, (0, 0), (3, 6))
    whole = mutex_watershed(affs, NEIGHBORHOOD, 0.5)[:3, :6]
    assert sorted(np.unique(found.labels).tolist()) == [1, 2]
    assert np.array_equal(found.labels == found.labels[0, 0], whole == whole[0, 0])
    assert sorted(found.sizes.tolist()) == [6, 12]
    # Left (x < 4) and right touch through [0, 1] (3 rows) and [0, 3] (3 rows x 2 columns).
    assert found.edges.tolist() == [[1, 2]]
    assert found.counts.tolist() == [3 + 6]
    np.testing.assert_allclose(found.sums, [0.1 * 9], rtol=1e-6)


def test_face_records_match_the_neighbours():
    affs = two_objects()
    left, right = block(affs, (0, 0), (3, 4)), block(affs, (0, 4), (3, 4))
    to_right = left.neighbour == 1
    to_left = right.neighbour == 0
    assert np.array_equal(np.sort(left.key[to_right]), np.sort(right.key[to_left]))
    # Every record of a crossing edge carries its affinity; both sides agree on it.
    a = left.affinity[to_right][np.argsort(left.key[to_right])]
    b = right.affinity[to_left][np.argsort(right.key[to_left])]
    np.testing.assert_array_equal(a, b)
    # The edges across x = 4: [0, 1] at x = 3 and [0, 3] at x = 1, 2, 3, on 3 rows.
    assert to_right.sum() == 3 * 4


def test_pair_sums_adds_repeated_pairs():
    pairs, sums, counts = pair_sums(
        np.array([1, 2, 1]), np.array([2, 3, 2]), np.array([0.5, 1.0, 0.25]), np.array([1, 2, 3])
    )
    assert pairs.tolist() == [[1, 2], [2, 3]]
    assert sums.tolist() == [0.75, 1.0] and counts.tolist() == [4, 2]
    # Ids too far apart for a table of every pair: sorted instead, the same sums.
    big = np.array([10**9, 10**9 + 2, 10**9])
    pairs, sums, counts = pair_sums(big, big + 1, np.array([0.5, 1.0, 0.25]), np.array([1, 2, 3]))
    assert (pairs - 10**9).tolist() == [[0, 1], [2, 3]]
    assert sums.tolist() == [0.75, 1.0] and counts.tolist() == [4, 2]
