"""The blockwise seeded watershed end to end on real zarr arrays (segment shards, the merge,
relabel shards): on 3 x 3 x 3 blocks of touching objects it equals the whole-volume
`seeded_watershed` exactly, up to the ids, with and without a minimum size, on float32 and
quantised uint8 predictions (whose many equal depths test the tie order)."""

import numpy as np
import pytest
from scipy import ndimage

from dacapo_flow.predict.output import dequantize, open_level
from dacapo_flow.predict.plan import FRAGMENTS, SegmentationSpec
from dacapo_flow.predict.seeded_merge import seeded_lookup
from dacapo_flow.predict.segment import whole_volume_segmentation
from dacapo_flow.tasks.distance import DistanceTask
from dacapo_flow.tasks.distance_transform import signed_distance_to_faces
from dacapo_flow.tasks.instance_metrics import adapted_rand_error
from helpers_predict import hand_plan, same_up_to_renaming, store_prediction
from test_predict_segment import BLOCK, ROI, blockwise

TASK = DistanceTask(["a", "b"], {"a": [1], "b": [2]})  # scale factor 50


def touching_balls(seed: int, count=25) -> np.ndarray:
    """tanh(distance / 50) of overlapping balls, plus a little noise: few foreground
    components, each of several objects that touch (one seed each)."""
    rng = np.random.default_rng(seed)
    grid = np.indices(ROI)
    region = np.zeros(ROI, bool)
    for centre, radius in zip(rng.integers(0, ROI, (count, 3)), rng.uniform(2.5, 5, count)):
        region |= ((grid - centre[:, None, None, None]) ** 2).sum(axis=0) <= radius**2
    depth = signed_distance_to_faces(region, (1, 1, 1))
    return np.tanh(depth / 50) + rng.normal(0, 0.002, ROI)


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
@pytest.mark.parametrize("min_size", [0, 40])
def test_blockwise_equals_the_whole_volume(tmp_path, dtype, min_size):
    parameters = {"threshold": 0.0, "seed_distance": 2.0, "min_size": min_size}
    spec = SegmentationSpec("seeded", parameters, 2, "uint64")
    plan = hand_plan(tmp_path / "o.zarr", spec, 2, ROI, BLOCK, dtype=dtype, value_range=(-1, 1))
    assert plan.grid.num_blocks == 27
    values = np.stack([touching_balls(0), touching_balls(1)]).astype(np.float32)
    stored = dequantize(store_prediction(plan, values), plan.value_range)
    expected = whole_volume_segmentation(TASK, stored, spec)
    found = blockwise(plan, TASK, tmp_path, shards=2)
    fragments = open_level(plan, FRAGMENTS).read(plan.roi)
    for c in range(2):
        objects = len(np.unique(expected[c])) - 1
        if not min_size:  # touching objects: several per foreground component
            assert objects >= max(10, 2 * ndimage.label(stored[c] > 0)[0].max())
        assert same_up_to_renaming(found[c], expected[c])
        assert adapted_rand_error(found[c], expected[c]) == 0.0
        assert len(np.unique(fragments[c])) > objects + 27  # cut by the blocks, then merged
    if min_size:
        _, sizes = np.unique(found[found > 0], return_counts=True)
        assert sizes.min() >= min_size
        assert (found == 0).sum() > (
            whole_volume_segmentation(
                TASK, stored, SegmentationSpec("seeded", {**parameters, "min_size": 0}, 2, "uint64")
            )
            == 0
        ).sum()


def test_a_mask_of_the_objects_kept(tmp_path):
    """A semantic output with a minimum size: the 0/1 mask of the seeded objects kept."""
    parameters = {"threshold": 0.0, "seed_distance": 2.0, "min_size": 60}
    spec = SegmentationSpec("seeded", parameters, 2, "uint8")
    plan = hand_plan(tmp_path / "o.zarr", spec, 2, ROI, BLOCK, value_range=(-1, 1))
    values = np.stack([touching_balls(2), touching_balls(3)]).astype(np.float32)
    stored = store_prediction(plan, values)
    found = blockwise(plan, TASK, tmp_path, shards=3)
    assert found.dtype == np.uint8
    np.testing.assert_array_equal(found, (TASK.post_process(stored, parameters) > 0))
    assert 0 < found.sum() < (stored > 0).sum()


def records(neighbour, key, label, seeds=False):
    n = len(key)
    return {
        "sizes": np.ones(1, np.int64),
        "seeded": np.zeros(1, bool),
        **{f"edge_{k}": np.zeros(0, np.int64) for k in ("channel", "u", "v", "key")},
        "edge_low": np.zeros(0),
        "edge_high": np.zeros(0),
        "channel": np.zeros(n, np.int64),
        "neighbour": np.array(neighbour, np.int64),
        "key": np.array(key, np.int64),
        "label": np.array(label, np.int64),
        "low": np.full(n, 0.5),
        "high": np.full(n, 0.6),
        "seeds": np.full(n, seeds),
    }


def test_a_one_sided_face_is_an_error():
    blocks = {0: records([1], [5], [1]), 1: records([0], [7], [1])}
    with pytest.raises(ValueError, match="blocks 0 and 1 disagree"):
        seeded_lookup(blocks.__getitem__, 2, np.array([[1, 1]]), 0)


def test_pieces_of_one_seed_are_joined_whatever_the_order():
    """Two seeded fragments joined by a seed edge across a face are one object."""
    blocks = {0: records([1], [5], [1], seeds=True), 1: records([0], [5], [1], seeds=True)}
    for block in blocks.values():
        block["seeded"][:] = True
    final, _, summary = seeded_lookup(blocks.__getitem__, 2, np.array([[1, 1]]), 0)
    assert final.tolist() == [0, 1, 1] and summary["segments"] == 1
