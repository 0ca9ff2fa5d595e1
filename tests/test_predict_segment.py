"""Blockwise segmentation (segment shards -> merge -> relabel shards, on real zarr arrays)
equals the in-memory post-processing of the whole volume, up to renaming the ids."""

import numpy as np
import pytest
from scipy import ndimage

from dacapo_flow.predict.merge import merge_job
from dacapo_flow.predict.output import open_level
from dacapo_flow.predict.plan import FRAGMENTS, SEGMENTATION, SegmentationSpec
from dacapo_flow.predict.relabel import run_relabel_shard
from dacapo_flow.predict.segment import (
    BlockPlace,
    segment_block,
    segment_context,
    whole_volume_segmentation,
)
from dacapo_flow.predict.segment_shard import run_segment_shard
from dacapo_flow.tasks.affinities import AffinitiesTask
from dacapo_flow.tasks.distance import DistanceTask
from dacapo_flow.tasks.one_hot import OneHotTask
from helpers_predict import hand_plan, same_up_to_renaming, store_prediction

ROI = (22, 17, 20)  # voxels: 3 x 3 x 3 blocks of (8, 6, 7), the last ones clipped
BLOCK = (8, 6, 7)
# Long-range, negative and diagonal offsets as well as the usual three.
NEIGHBORHOOD = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 0, -3), (2, 0, 0), (1, 1, 0), (0, -1, 2)]


def smooth_field(seed: int, channels: int) -> np.ndarray:
    """Blobs of every size, many crossing block faces, edges and corners."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(channels, *ROI))
    field = np.stack([ndimage.gaussian_filter(n, 1.5) for n in noise])
    return (field / np.abs(field).max()).astype(np.float32)


def corner_ball(field: np.ndarray) -> np.ndarray:
    """A ball centred on the corner shared by eight blocks, so one object spans all eight."""
    grid = np.indices(ROI)
    corner = np.array(BLOCK)[:, None, None, None]
    ball = ((grid - corner) ** 2).sum(axis=0) <= 9
    field = field.copy()
    field[:, ball] = 0.9
    return field


def blockwise(plan, task, tmp_path, shards=2):
    """The three passes as the workflow runs them; returns the stored segmentation."""
    segments = [tmp_path / f"segment_{i}.json" for i in range(shards)]
    for i, out in enumerate(segments):
        manifest = tmp_path / f"segment_{i}.progress.json"
        assert run_segment_shard(plan, task, i, shards, tmp_path / "records", out, manifest)
    merge_job(plan, segments, tmp_path / "lut.npz", tmp_path / "merge.json")
    for i in range(shards):
        out, manifest = tmp_path / f"relabel_{i}.json", tmp_path / f"relabel_{i}.progress.json"
        assert run_relabel_shard(
            plan, tmp_path / "merge.json", tmp_path / "lut.npz", i, shards, out, manifest
        )
    return open_level(plan, SEGMENTATION).read(plan.roi)


@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_affinities_equal_the_whole_volume(tmp_path, threshold):
    task = AffinitiesTask(NEIGHBORHOOD)
    spec = SegmentationSpec(
        "affinities", {"threshold": threshold}, 1, "uint64", [list(o) for o in NEIGHBORHOOD]
    )
    plan = hand_plan(tmp_path / "out.zarr", spec, len(NEIGHBORHOOD), ROI, BLOCK)
    assert plan.grid.num_blocks == 27
    # Affinities high inside blobs of a smooth field: objects of all sizes and shapes.
    field = corner_ball(smooth_field(0, 1))
    affinities = np.repeat(0.5 + field, len(NEIGHBORHOOD), axis=0)
    affinities += np.random.default_rng(1).normal(0, 0.15, affinities.shape)
    prediction = store_prediction(plan, np.clip(affinities, 0, 1).astype(np.float32))

    expected = whole_volume_segmentation(task, prediction, spec)
    found = blockwise(plan, task, tmp_path)
    assert found.dtype == np.uint64 and found.shape == expected.shape
    assert len(np.unique(expected)) > 20  # enough objects for the test to mean something
    assert same_up_to_renaming(found, expected)
    # Without the merge, objects crossing faces would be split: the merge did something.
    fragments = open_level(plan, FRAGMENTS).read(plan.roi)
    assert len(np.unique(fragments)) > len(np.unique(expected))


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_distance_instances_equal_the_whole_volume(tmp_path, dtype):
    task = DistanceTask(["a", "b"], {"a": [1], "b": [2]})
    spec = SegmentationSpec("distance", {"threshold": 0.1}, 2, "uint64")
    plan = hand_plan(tmp_path / "out.zarr", spec, 2, ROI, BLOCK, dtype=dtype, value_range=(-1, 1))
    prediction = store_prediction(plan, corner_ball(smooth_field(2, 2)))
    from dacapo_flow.predict.output import dequantize

    expected = whole_volume_segmentation(task, dequantize(prediction, plan.value_range), spec)
    found = blockwise(plan, task, tmp_path, shards=3)
    assert found.shape == (2, *ROI)
    for channel in range(2):
        assert len(np.unique(expected[channel])) > 5
        assert same_up_to_renaming(found[channel], expected[channel])


def object_sizes(labels: np.ndarray) -> np.ndarray:
    return np.unique(labels[labels > 0], return_counts=True)[1]


@pytest.mark.parametrize("min_size", [3, 30])
def test_affinities_with_a_minimum_size_equal_the_whole_volume(tmp_path, min_size):
    """The merge sums fragment sizes per object and drops the small ones: exact."""
    task = AffinitiesTask(NEIGHBORHOOD)
    parameters = {"threshold": 0.8, "min_size": min_size}
    spec = SegmentationSpec("affinities", parameters, 1, "uint64", [list(o) for o in NEIGHBORHOOD])
    plan = hand_plan(tmp_path / "out.zarr", spec, len(NEIGHBORHOOD), ROI, BLOCK)
    field = corner_ball(smooth_field(0, 1))
    affinities = np.repeat(0.5 + field, len(NEIGHBORHOOD), axis=0)
    affinities += np.random.default_rng(1).normal(0, 0.15, affinities.shape)
    prediction = store_prediction(plan, np.clip(affinities, 0, 1).astype(np.float32))

    expected = whole_volume_segmentation(task, prediction, spec)
    without = task.post_process(prediction, {"threshold": 0.8})
    assert object_sizes(without).min() < min_size <= object_sizes(expected).min()
    assert len(object_sizes(expected)) >= 4
    found = blockwise(plan, task, tmp_path)
    assert same_up_to_renaming(found, expected)
    fragments = open_level(plan, FRAGMENTS).read(plan.roi)
    assert len(np.unique(fragments)) > len(np.unique(expected))  # objects were cut


@pytest.mark.parametrize("dtype", ["uint64", "uint8"])
def test_distance_with_a_minimum_size_equals_the_whole_volume(tmp_path, dtype):
    """Components of each thresholded channel (face connectivity, as
    `remove_small_components`) of fewer than min_size voxels are dropped; a 0/1 mask output
    (not instances) is the mask of the objects kept."""
    task = DistanceTask(["a", "b"], {"a": [1], "b": [2]})
    parameters = {"threshold": 0.1, "min_size": 30}
    spec = SegmentationSpec("distance", parameters, 2, dtype)
    plan = hand_plan(tmp_path / "out.zarr", spec, 2, ROI, BLOCK, value_range=(-1, 1))
    prediction = store_prediction(plan, corner_ball(smooth_field(2, 2)))

    expected = whole_volume_segmentation(task, prediction, spec)
    found = blockwise(plan, task, tmp_path, shards=3)
    assert found.dtype == np.dtype(dtype)
    if dtype == "uint8":
        np.testing.assert_array_equal(found, task.post_process(prediction, parameters))
        np.testing.assert_array_equal(found, expected)
        return
    for channel in range(2):
        components = ndimage.label(prediction[channel] > 0.1)[0]
        assert object_sizes(components).min() < 30 <= object_sizes(expected[channel]).min()
        assert same_up_to_renaming(found[channel], expected[channel])


def test_semantic_outputs_are_written_per_block(tmp_path):
    task = OneHotTask(["bg", "x", "y"], {"x": [1], "y": [2]})
    spec = SegmentationSpec("semantic", {}, 1, "uint8")
    plan = hand_plan(tmp_path / "out.zarr", spec, 3, ROI, BLOCK, pyramid=False)
    prediction = store_prediction(plan, 0.5 + 0.5 * smooth_field(4, 3))
    found = blockwise(plan, task, tmp_path)
    np.testing.assert_array_equal(found, task.post_process(prediction, {}))


def test_context_is_the_longest_edge():
    spec = SegmentationSpec("affinities", {"threshold": 0.5}, 1, "uint64", NEIGHBORHOOD)
    assert tuple(segment_context(spec, 3)) == (2, 1, 3)
    assert tuple(segment_context(SegmentationSpec("distance", {}, 2, "uint64"), 3)) == (1, 1, 1)
    assert tuple(segment_context(SegmentationSpec("semantic", {}, 1, "uint8"), 3)) == (0, 0, 0)


def test_an_edge_leaving_the_block_makes_a_fragment_and_a_record():
    """One voxel with no edge inside its block but one to the next block is foreground."""
    neighborhood = [(0, 0, 1)]
    spec = SegmentationSpec("affinities", {"threshold": 0.5}, 1, "uint64", [[0, 0, 1]])
    task = AffinitiesTask(neighborhood)
    values = np.zeros((1, 1, 1, 4), np.float32)  # window: block [0, 2) + 2 voxels of context
    values[0, 0, 0, 1] = 0.9  # edge (0,0,1) -> (0,0,2): from the block's last voxel outward
    found = segment_block(
        task,
        values,
        spec,
        BlockPlace.of((0, 0, 0), (0, 0, 0), (1, 1, 2), (1, 1, 4), (1, 1, 2), (1, 1, 2)),
    )
    assert found.labels.tolist() == [[[[0, 1]]]]
    assert found.counts == [1]
    assert found.neighbour.tolist() == [1] and found.label.tolist() == [1]
    # The next block sees the same edge under the same key.
    other = segment_block(
        task,
        values,
        spec,
        BlockPlace.of((0, 0, 0), (0, 0, 2), (1, 1, 2), (1, 1, 4), (1, 1, 2), (1, 1, 2)),
    )
    assert other.key.tolist() == found.key.tolist() and other.neighbour.tolist() == [0]
    assert other.labels.tolist() == [[[[1, 0]]]]


def test_a_block_place_maps_window_positions_to_the_roi_and_the_grid():
    # ROI 4 x 6 voxels in blocks of 2 x 3 (2 x 2 blocks); block (1, 0) read with one voxel of
    # context: window rows 1..3, columns 0..3.
    place = BlockPlace.of((1, 0), (2, 0), (2, 3), (4, 6), (2, 3), (2, 2))
    inner, inside = place.in_window((3, 4))
    assert inner == (slice(1, 3), slice(0, 3)) and inside.sum() == 6 and not inside[0].any()
    positions = np.array([[0, 2, 2], [0, 2, 3]])  # window (0, 0), (2, 2), (2, 3)
    assert place.linear(positions).tolist() == [6, 20, 21]
    assert place.neighbour(positions).tolist() == [0, 2, 3]
