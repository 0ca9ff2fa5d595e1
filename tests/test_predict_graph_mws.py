"""The graph mutex watershed and a block's certain merges (dacapo_flow.predict.graph_mws):
the graph step is mwatershed's `cluster_edges`; an attractive edge is certain when nothing
stronger leaves its component, and a block contracts the certain edges its own watershed
joins, and no others; segments are numbered by their smallest fragment."""

import numpy as np

from dacapo_flow.predict.graph_mws import (
    certain_edges,
    contract_block,
    final_ids,
    graph_mutex_watershed,
    signed_edges,
)
from helpers_predict import same_up_to_renaming


def test_an_edge_is_certain_while_no_stronger_edge_leaves_its_component():
    # Chain 1 - 2 (0.9), 3 - 4 (0.8), 2 - 3 (0.5); node 4 has an edge of 0.6 out of the block.
    open_level = np.full(5, -np.inf)
    open_level[4] = 0.6
    u, v, w = np.array([1, 3, 2]), np.array([2, 4, 3]), np.array([0.9, 0.8, 0.5])
    found = certain_edges(np.arange(5), open_level, u, v, w)
    assert found.tolist() == [True, True, False]  # {1..4} could meet the outside at 0.6
    # Ties: an edge of the same weight as one leaving the block is not certain.
    open_level = np.full(5, -np.inf)
    open_level[2] = 0.9
    assert certain_edges(np.arange(5), open_level, u, v, w).tolist() == [False, True, False]


def chain(face_label, face_affinity):
    """The chain above plus a strong mutex 1 - 3 (-0.7), at bias 0: pairs as a block has them."""
    u, v = np.array([1, 3, 2, 1]), np.array([2, 4, 3, 3])
    high = low = np.array([0.9, 0.8, 0.5, -0.7])
    return contract_block(4, u, v, high, low, face_label, face_affinity, 0.0)


def test_a_block_contracts_the_certain_merges_its_own_watershed_makes():
    # 1 - 2 and 3 - 4 join; the mutex 1 - 3 keeps 2 - 3 apart, certain or not.
    assert chain(np.array([4]), np.array([0.6])).tolist() == [0, 1, 1, 2, 2]
    # An edge of 0.95 leaving node 2: the outside may reach {1, 2} first; 1 - 2 stays open.
    assert chain(np.array([2, 4]), np.array([0.95, 0.6])).tolist() == [0, 1, 2, 3, 3]
    # No pairs: every fragment its own.
    empty = np.zeros(0, np.int64)
    found = contract_block(3, empty, empty, empty, empty, empty, empty, 0.5)
    assert found.tolist() == [0, 1, 2, 3]


def test_signed_edges_keep_a_pairs_attraction_and_repulsion():
    u, v, weights = signed_edges(
        np.array([1, 2]), np.array([2, 3]), np.array([0.9, 0.4]), np.array([0.2, 0.1]), 0.3
    )
    assert u.tolist() == [1, 2, 1, 2] and v.tolist() == [2, 3, 2, 3]
    np.testing.assert_allclose(weights, [0.6, 0.1, -0.1, -0.2], atol=1e-6)


def test_final_ids_number_segments_and_drop_small_ones():
    segment = np.array([0, 3, 3, 3, 4, 5])  # fragments 1..5 -> segments 3, 3, 3, 4, 5
    sizes = np.array([0, 2, 2, 2, 1, 9])
    assert final_ids(segment, sizes, 0).tolist() == [0, 1, 1, 1, 2, 3]
    assert final_ids(segment, sizes, 5).tolist() == [0, 1, 1, 1, 0, 2]


def test_graph_step_is_cluster_edges():
    import mwatershed as mws

    rng = np.random.default_rng(1)
    u = rng.integers(1, 30, 200)
    v = rng.integers(1, 30, 200)
    keep = u != v
    u, v = u[keep], v[keep]
    weights = rng.normal(0, 1, u.size).round(1)  # ties too, broken in the same order
    segment = graph_mutex_watershed(u, v, weights, 30)
    expected = np.arange(31)
    for fragment, found in mws.cluster_edges(list(zip(weights.tolist(), u.tolist(), v.tolist()))):
        expected[fragment] = found
    assert same_up_to_renaming(segment, expected)  # the same partition; ids are names
