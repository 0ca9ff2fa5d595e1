"""One block of the blockwise mutex watershed: its fragments are the components of the
attractive edges stronger than any repulsive one, its edges keep the highest and lowest
affinity of touching fragments, and its face records match the neighbour's key for key."""

import numpy as np
import pytest

from dacapo_flow.predict.mws_block import mws_block, pair_extremes
from dacapo_flow.predict.segment import BlockPlace
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


def block(affs, begin, shape, bias=0.25):
    """The block at `begin` of a 2 x 2 grid of `shape` blocks, the whole array as window."""
    grid = (affs.shape[1:], shape, (2, 2))
    return mws_block(affs, NEIGHBORHOOD, bias, 0.0, BlockPlace.of((0, 0), begin, shape, *grid))


def test_fragments_edges_and_sizes():
    affs = two_objects()
    affs[1, 0, 1] = 0.55  # above 2 * bias - low = 0.5: before every repulsive edge, joins
    affs[1, 1, 1] = 0.45  # left to the merge (the left object holds through other edges)
    found = block(affs, (0, 0), (3, 6))
    whole = mutex_watershed(affs, NEIGHBORHOOD, 0.25)[:3, :6]
    assert sorted(np.unique(found.labels).tolist()) == [1, 2]
    assert np.array_equal(found.labels == found.labels[0, 0], whole == whole[0, 0])
    assert sorted(found.sizes.tolist()) == [6, 12]
    # Left (x < 4) and right touch through [0, 1] (3 rows) and [0, 3] (3 rows x 2 columns).
    assert found.edges.tolist() == [[1, 2]]
    np.testing.assert_allclose([found.high[0], found.low[0]], [0.1, 0.1], rtol=1e-6)
    # At bias 0.5 no attractive edge outranks every repulsive one: each voxel is a fragment.
    assert block(affs, (0, 0), (3, 6), bias=0.5).sizes.tolist() == [1] * 18


def test_affinities_below_the_range_are_an_error():
    affs = two_objects()
    affs[0, 0, 0] = -0.1
    with pytest.raises(ValueError, match="below 0.0"):
        block(affs, (0, 0), (3, 6))


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


def test_pair_extremes_of_repeated_pairs():
    for first in (1, 10**9):  # ids near and far apart
        u = np.array([0, 1, 0]) + first
        pairs, high, low = pair_extremes(u, u + 1, np.array([0.5, 1.0, 0.25]))
        assert (pairs - first).tolist() == [[0, 1], [1, 2]]
        assert high.tolist() == [0.5, 1.0] and low.tolist() == [0.25, 1.0]
    assert pair_extremes([], [], [])[0].shape == (0, 2)
