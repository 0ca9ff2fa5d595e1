"""One block of the blockwise seeded watershed: fragments cover its foreground, and the two
blocks of a face record the same edges (keys, depths, seed flags) from their two sides."""

import numpy as np

from dacapo_flow.predict.seeded_block import RECORDS, seeded_block
from dacapo_flow.predict.segment import BlockPlace
from test_tasks_watershed import blobs

SHAPE = (8, 12, 6)  # two blocks of (8, 6, 6) along axis 1


def block(values, begin):
    return seeded_block(
        values, -0.1, 0.25, BlockPlace.of((0, 0, 0), begin, (8, 6, 6), SHAPE, (8, 6, 6), (1, 2, 1))
    )


def test_both_sides_of_a_face_record_the_same_edges():
    values = np.stack([blobs(SHAPE, 3), blobs(SHAPE, 4, levels=12)])
    sides = [block(values, (0, 0, 0)), block(values, (0, 6, 0))]
    for (labels, counts, records), inner in zip(sides, (np.s_[:, :6], np.s_[:, 6:])):
        assert set(records) == set(RECORDS)
        assert labels.shape == (2, 8, 6, 6)
        for c in range(2):
            foreground = values[c][inner] > -0.1
            assert np.array_equal(labels[c] > 0, foreground)
            assert labels[c].max() == counts[c]
        assert records["sizes"].sum() == (labels > 0).sum()
        assert records["seeded"].any() and records["edge_key"].size > 0
    (_, _, a), (_, _, b) = sides
    assert set(a["neighbour"]) == {1} and set(b["neighbour"]) == {0}
    order_a, order_b = np.argsort(a["key"]), np.argsort(b["key"])
    np.testing.assert_array_equal(a["key"][order_a], b["key"][order_b])
    for name in ("low", "high", "seeds", "channel"):
        np.testing.assert_array_equal(a[name][order_a], b[name][order_b])
    crossing = (values[:, :, 5] > -0.1) & (values[:, :, 6] > -0.1)  # face edges per channel
    assert a["key"].size == crossing.sum()
