"""Fragment sizes from the blocks' records: looked up by fragment id, and the small ones
listed, with blocks that hold no fragment of a channel."""

import numpy as np
import pytest

from dacapo_flow.predict.fragment_sizes import FragmentSizes, storage_start
from dacapo_flow.predict.merge import FragmentIds

IDS = FragmentIds(num_blocks=3, block_voxels=10, channels=2)
COUNTS = np.array([[2, 0, 3], [1, 1, 0]])
SIZES = {0: [5, 4, 7], 1: [9], 2: [3, 1, 8]}  # per block: channel 0's, then channel 1's


def test_sizes_by_fragment_id_and_the_small_ones():
    assert storage_start(COUNTS).tolist() == [[0, 3, 4], [2, 3, 7]]
    found = FragmentSizes(SIZES.__getitem__, IDS, COUNTS)
    assert found(np.array([1, 2, 21, 23, 31, 41], np.uint64)).tolist() == [5, 4, 3, 8, 7, 9]
    assert found.below(5).tolist() == [2, 21, 22]
    assert found.below(1).tolist() == []


def test_records_of_another_version_are_an_error():
    with pytest.raises(ValueError, match="block 0 records 1 fragment sizes for 3"):
        FragmentSizes({**SIZES, 0: [1]}.__getitem__, IDS, COUNTS)
