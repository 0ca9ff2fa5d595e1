"""The blockwise mutex watershed end to end on real zarr arrays (segment shards, the merge,
relabel shards): on 3 x 3 x 3 blocks it equals the whole-volume `mutex_watershed` up to
relabelling, minimum size included, at a bias where the blocks' fragments are voxels and at
one where they are components; a weak edge the voxel watershed never reaches cannot join
what a stronger one keeps apart."""

import numpy as np
import pytest
from scipy import ndimage

from dacapo_flow.predict.merge import merge_job
from dacapo_flow.predict.output import open_level
from dacapo_flow.predict.plan import SegmentationSpec
from dacapo_flow.predict.relabel import run_relabel_shard
from dacapo_flow.predict.segment_shard import run_segment_shard
from dacapo_flow.tasks.affinities import AffinitiesTask, _offset_slices
from dacapo_flow.tasks.instance_metrics import adapted_rand_error
from helpers_predict import hand_plan, same_up_to_renaming, store_prediction

NEIGHBORHOOD = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [3, 0, 0], [0, 3, 0], [0, 0, 3]]
NEIGHBORHOOD += [[9, 0, 0], [0, 9, 0], [0, 0, 9]]


def noisy_affinities(shape, objects, noise, seed):
    """Affinities of random convex objects filling the volume, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    seeds = np.zeros(shape, int)
    seeds[tuple(rng.integers(0, shape, (objects, 3)).T)] = np.arange(1, objects + 1)
    _, nearest = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    gt = seeds[tuple(nearest)]
    affs = np.zeros((len(NEIGHBORHOOD), *shape), np.float32)
    for k, offset in enumerate(NEIGHBORHOOD):
        src, dst = _offset_slices(shape, offset)
        affs[k][src] = gt[src] == gt[dst]
    return np.clip(affs + rng.normal(0, noise, affs.shape), 0, 1).astype(np.float32)


def blockwise(tmp_path, parameters, affs, block_shape=(10, 10, 10), shards=2):
    spec = SegmentationSpec("mws_exact", parameters, 1, "uint64", NEIGHBORHOOD)
    plan = hand_plan(tmp_path / "o.zarr", spec, len(NEIGHBORHOOD), affs.shape[1:], block_shape)
    stored = store_prediction(plan, affs)
    task = AffinitiesTask(NEIGHBORHOOD)
    segments = [tmp_path / f"segment{i}.json" for i in range(shards)]
    for i in range(shards):
        progress = tmp_path / f"segment{i}.progress.json"
        assert run_segment_shard(plan, task, i, shards, tmp_path / "r", segments[i], progress)
    lut, merge = tmp_path / "lut.npz", tmp_path / "merge.json"
    summary = merge_job(plan, segments, lut, merge)
    for i in range(shards):
        out, progress = tmp_path / f"relabel{i}.json", tmp_path / f"relabel{i}.progress.json"
        assert run_relabel_shard(plan, merge, lut, i, shards, out, progress)
    found = open_level(plan, "segmentation").read(plan.roi)
    return found, task.post_process(stored, parameters), summary


@pytest.mark.parametrize(
    ("bias", "noise", "min_size"), [(0.5, 0.2, 0), (0.5, 0.2, 60), (0.3, 0.4, 0)]
)
def test_blockwise_equals_the_whole_volume(tmp_path, bias, noise, min_size):
    """Noisy affinities (offsets 1, 3 and 9): the blockwise result is the same partition as
    the whole-volume watershed, ids aside. At bias 0.5 every voxel is a fragment; at 0.3 the
    blocks join voxels, and the noise leaves many segments to the merge."""
    affs = noisy_affinities((30, 30, 30), 40, noise, seed=0)
    parameters = {"bias": bias, "min_size": min_size}
    found, whole, summary = blockwise(tmp_path, parameters, affs)
    assert summary["fragments"] > 40  # objects were cut into fragments by the 27 blocks
    assert same_up_to_renaming(found, whole)
    assert adapted_rand_error(found[0], whole[0]) == 0.0
    if min_size:
        _, sizes = np.unique(found[found > 0], return_counts=True)
        assert sizes.min() >= min_size and (found == 0).any()


def test_blocks_contract_what_no_edge_leaving_them_can_overturn(tmp_path):
    """Affinities 0.9 inside objects and 0.1 across, with noise and no ties: at bias 0.5 no
    voxel edge outranks every repulsive one, yet the blocks hand the merge fewer fragments
    than voxels (15,823 of 27,000 here), and the result is still the whole volume's."""
    rng = np.random.default_rng(1)
    edges = noisy_affinities((30, 30, 30), 40, 0.0, seed=1)
    affs = np.where(edges > 0.5, 0.9, 0.1) + rng.normal(0, 0.03, edges.shape)
    affs = np.clip(affs, 0, 1).astype(np.float32)  # a few repulsive ties at 0, none attractive
    found, whole, summary = blockwise(tmp_path, {"bias": 0.5, "min_size": 0}, affs)
    assert summary["fragments"] < 0.7 * 30**3
    assert same_up_to_renaming(found, whole)


def test_a_weak_majority_does_not_join_what_a_strong_edge_keeps_apart(tmp_path):
    """Two objects touching inside one block: across their face most voxel pairs attract a
    little (0.45 at bias 0.25), one repels hard (0.0). The voxel watershed meets the repulsive
    edge first and keeps them apart; so must the merge (a mean over the face would join)."""
    shape = (10, 20, 20)
    gt = np.zeros(shape, int)
    gt[:, :, 5:] = 1  # the face at x = 5 lies inside the blocks of x < 10
    affs = np.zeros((len(NEIGHBORHOOD), *shape), np.float32)
    for k, offset in enumerate(NEIGHBORHOOD):
        src, dst = _offset_slices(shape, offset)
        affs[k][src] = np.where(gt[src] == gt[dst], 0.9, 0.45)
    affs[2, 4, 4, 4] = 0.0  # offset (0, 0, 1) at x = 4: one hard boundary edge
    found, whole, _ = blockwise(tmp_path, {"bias": 0.25}, affs)
    assert same_up_to_renaming(whole, gt[None] + 1)
    assert same_up_to_renaming(found, gt[None] + 1)


def test_a_one_sided_face_is_an_error():
    from dacapo_flow.predict.mws_merge import region_graph

    def block(neighbour, keys):
        return {
            "sizes": np.array([3]),
            "edges": np.zeros((0, 2), np.int64),
            "high": np.zeros(0, np.float32),
            "low": np.zeros(0, np.float32),
            "neighbour": np.full(len(keys), neighbour, np.int64),
            "key": np.array(keys, np.uint64),
            "label": np.ones(len(keys), np.uint64),
            "affinity": np.full(len(keys), 0.9, np.float32),
        }

    first = np.array([[1, 2]], np.uint64)
    u, v, high, low, sizes = region_graph(
        [block(1, [5, 7]), block(0, [5, 7])].__getitem__, 2, first
    )
    assert (u.tolist(), v.tolist(), sizes.tolist()) == ([1], [2], [0, 3, 3])
    np.testing.assert_allclose([high[0], low[0]], [0.9, 0.9], rtol=1e-6)
    with pytest.raises(ValueError, match="blocks 0 and 1 .*different settings"):
        region_graph([block(1, [5, 7]), block(0, [5, 8])].__getitem__, 2, first)
    with pytest.raises(ValueError, match="block 0 recorded edges into block 1"):
        region_graph([block(1, [5]), block(1, [])].__getitem__, 2, first)
