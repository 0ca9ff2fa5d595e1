import numpy as np
import pytest

from dacapo_flow.predict.fragment_sizes import FragmentSizes
from dacapo_flow.predict.merge import (
    FragmentIds,
    face_pairs,
    first_ids,
    load_table,
    lookup_table,
    relabel,
    save_table,
)


def test_fragment_ids_are_unique_and_decode():
    ids = FragmentIds(num_blocks=4, block_voxels=10, channels=2)
    labels = np.array([[[1, 2, 0]], [[1, 0, 0]]], np.uint64)
    fragments = ids.globalise(labels, 3)
    assert fragments.tolist() == [[[31, 32, 0]], [[71, 0, 0]]]
    channel, block, local = ids.decode(np.array([31, 32, 71], np.uint64))
    assert channel.tolist() == [0, 0, 1] and block.tolist() == [3, 3, 3]
    assert local.tolist() == [1, 2, 1]
    with pytest.raises(ValueError):
        FragmentIds(2**40, 2**30, 1)


def records(neighbour, key, fragment):
    return {
        "neighbour": np.array(neighbour, np.int64),
        "key": np.array(key, np.uint64),
        "fragment": np.array(fragment, np.uint64),
    }


def test_pairs_join_both_sides_of_each_edge():
    blocks = {
        0: records([1, 1, 2], [5, 6, 9], [1, 2, 2]),
        1: records([0, 0], [6, 5], [11, 11]),
        2: records([0], [9], [21]),
    }
    pairs = face_pairs(blocks.__getitem__, 3)
    assert pairs.tolist() == [[1, 11], [2, 11], [2, 21]]


def test_a_one_sided_edge_is_an_error():
    blocks = {0: records([1], [5], [1]), 1: records([0], [7], [11])}
    with pytest.raises(ValueError, match="blocks 0 and 1 disagree"):
        face_pairs(blocks.__getitem__, 2)


def test_lookup_table_maps_to_the_smallest_and_compacts(tmp_path):
    ids = FragmentIds(num_blocks=3, block_voxels=10, channels=1)
    counts = np.array([[2, 1, 3]])
    first = first_ids(counts)
    assert first.tolist() == [[1, 3, 4]]
    pairs = np.array([[2, 11], [11, 22]], np.uint64)  # block0 #2 ~ block1 #1 ~ block2 #2
    table = lookup_table(pairs, ids, first)
    assert table[0].tolist() == [2, 11, 22] and table[1].tolist() == [2, 2, 2]
    save_table(tmp_path / "lut.npz", table, ids, first)
    table, ids, first = load_table(tmp_path / "lut.npz")
    block2 = np.array([[0, 21, 22, 23]], np.uint64)
    assert relabel(block2, table, ids, first).tolist() == [[0, 4, 2, 6]]


def test_a_minimum_size_maps_small_objects_to_zero():
    """Sizes of merged objects are summed over blocks; a small fragment that merged with
    nothing gets an entry too."""
    ids = FragmentIds(num_blocks=3, block_voxels=10, channels=2)
    counts = np.array([[2, 0, 3], [1, 1, 0]])
    sizes = FragmentSizes({0: [5, 4, 7], 1: [9], 2: [3, 1, 8]}.__getitem__, ids, counts)
    first = first_ids(counts)
    pairs = np.array([[2, 22], [31, 41]], np.uint64)  # 4 + 1 voxels; 7 + 9 voxels
    keys, values = lookup_table(pairs, ids, first, sizes, min_size=6)
    assert keys.tolist() == [1, 2, 21, 22, 31, 41]
    final = dict(zip(keys.tolist(), values.tolist()))
    assert final[1] == final[2] == final[21] == final[22] == 0
    assert final[31] == final[41] != 0
    block2 = np.array([[0, 21, 22, 23]], np.uint64)
    assert relabel(block2, (keys, values), ids, first).tolist() == [[0, 0, 0, 5]]
