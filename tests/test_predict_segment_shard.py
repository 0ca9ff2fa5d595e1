"""A segment shard writes fragments and face records per block, resumes, and writes semantic
outputs (with their pyramid level) directly."""

import numpy as np
import pytest

from dacapo_flow.predict.output import open_level
from dacapo_flow.predict.plan import SegmentationSpec
from dacapo_flow.predict.progress import read_shard_json
from dacapo_flow.predict.segment_shard import run_segment_shard
from dacapo_flow.tasks.distance import DistanceTask
from helpers_predict import hand_plan, store_prediction

TASK = DistanceTask(["a"], {"a": [1]})


def test_fragments_records_and_resume(tmp_path):
    spec = SegmentationSpec("distance", {"threshold": 0.0}, 1, "uint64")
    plan = hand_plan(tmp_path / "o.zarr", spec, 1, (16, 12, 14), (8, 6, 7), value_range=(-1, 1))
    store_prediction(plan, np.ones((1, 16, 12, 14), np.float32))  # one object, everywhere
    out, manifest = tmp_path / "s.json", tmp_path / "s.progress.json"
    args = (plan, TASK, 0, 1, tmp_path / "records", out, manifest)
    assert not run_segment_shard(*args, max_blocks=3)
    assert run_segment_shard(*args)
    shard = read_shard_json(out, "segment")
    assert sorted(shard["blocks"]) == list(range(8))
    assert all(record["counts"] == [1] for record in shard["blocks"].values())
    with np.load(shard["blocks"][0]["records"]) as records:
        # block 0's three faces into blocks 1, 2 and 4, one edge per face voxel
        assert sorted(set(records["neighbour"].tolist())) == [1, 2, 4]
        assert len(records["key"]) == 6 * 7 + 8 * 7 + 8 * 6
        assert set(records["fragment"].tolist()) == {1}
    fragments = open_level(plan, "fragments").read(plan.roi)
    assert len(np.unique(fragments)) == 8  # one fragment per block before merging


def test_semantic_output_with_pyramid(tmp_path):
    spec = SegmentationSpec("semantic", {"threshold": 0.0}, 1, "uint8")
    plan = hand_plan(tmp_path / "o.zarr", spec, 1, (16, 12, 14), (8, 6, 8), pyramid=True)
    values = np.random.default_rng(0).uniform(-1, 1, (1, 16, 12, 14)).astype(np.float32)
    store_prediction(plan, values)
    out = tmp_path / "s.json"
    assert run_segment_shard(plan, TASK, 0, 1, tmp_path / "r", out, tmp_path / "m.json")
    s0 = open_level(plan, "segmentation").read(plan.roi)
    np.testing.assert_array_equal(s0, (values > 0).astype(np.uint8))
    s1 = open_level(plan, "segmentation", 1)
    np.testing.assert_array_equal(s1.read(s1.roi), s0[:, ::2, ::2, ::2])
    assert not (tmp_path / "r").exists()


def test_a_plan_of_an_earlier_version_segmenting_in_memory(tmp_path):
    """Mode "whole", which prepare no longer chooses, still runs for a threshold + minimum
    size; for a seeded watershed, whose ties an earlier version broke otherwise, it asks for
    prepare to be rerun instead of mixing blocks of two tie orders."""
    values = np.random.default_rng(1).uniform(-1, 1, (1, 16, 12, 14)).astype(np.float32)
    parameters = {"threshold": 0.0, "min_size": 3}
    for name, seeded in (("t", {}), ("s", {"seed_distance": 10.0})):
        spec = SegmentationSpec("whole", {**parameters, **seeded}, 1, "uint64")
        plan = hand_plan(tmp_path / f"{name}.zarr", spec, 1, (16, 12, 14), (8, 6, 7))
        store_prediction(plan, values)
        args = (plan, TASK, 0, 1, tmp_path / name, tmp_path / f"{name}.json")
        manifest = tmp_path / f"{name}.progress.json"
        if not seeded:
            assert run_segment_shard(*args, manifest)
            continue
        with pytest.raises(ValueError, match="rerun its prepare job"):
            run_segment_shard(*args, manifest)


def test_a_plan_of_the_earlier_mutex_watershed_asks_for_prepare(tmp_path):
    """Mode "mws" (blocks of the earlier, inexact blockwise mutex watershed) records what the
    merge no longer reads: its segment shards ask for prepare to be rerun."""
    spec = SegmentationSpec("mws", {"bias": 0.5}, 1, "uint64", [[1, 0, 0]])
    plan = hand_plan(tmp_path / "o.zarr", spec, 1, (16, 12, 14), (8, 6, 7))
    store_prediction(plan, np.full((1, 16, 12, 14), 0.5, np.float32))
    args = (plan, TASK, 0, 1, tmp_path / "r", tmp_path / "s.json", tmp_path / "p.json")
    with pytest.raises(ValueError, match="rerun its prepare job"):
        run_segment_shard(*args)
