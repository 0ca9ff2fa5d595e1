import numpy as np
import pytest

from dacapo_flow.predict.merge import merge_job
from dacapo_flow.predict.output import open_level
from dacapo_flow.predict.plan import SegmentationSpec
from dacapo_flow.predict.relabel import run_relabel_shard
from dacapo_flow.predict.segment_shard import run_segment_shard
from dacapo_flow.tasks.distance import DistanceTask
from helpers_predict import hand_plan, store_prediction


@pytest.fixture
def merged(tmp_path):
    spec = SegmentationSpec("distance", {"threshold": 0.0}, 1, "uint64")
    plan = hand_plan(tmp_path / "o.zarr", spec, 1, (16, 12, 14), (8, 6, 7), value_range=(-1, 1))
    values = -np.ones((1, 16, 12, 14), np.float32)
    values[0, 6:10, 4:8, 5:9] = 1  # one box across all eight blocks
    values[0, 0, 0, 0] = 1  # and a lone voxel
    store_prediction(plan, values)
    task = DistanceTask(["a"], {"a": [1]})
    assert run_segment_shard(plan, task, 0, 1, tmp_path / "r", tmp_path / "s.json", tmp_path / "m")
    merge_job(plan, [tmp_path / "s.json"], tmp_path / "lut.npz", tmp_path / "merge.json")
    return plan, tmp_path


def test_relabel_gives_one_id_per_object(merged):
    plan, tmp = merged
    args = (plan, tmp / "merge.json", tmp / "lut.npz", 0, 1, tmp / "r.json", tmp / "r.progress")
    assert run_relabel_shard(*args)
    segmentation = open_level(plan, "segmentation").read(plan.roi)[0]
    assert sorted(np.unique(segmentation).tolist()) == [0, 1, 2]
    assert segmentation[0, 0, 0] == 1 and len(np.unique(segmentation[6:10, 4:8, 5:9])) == 1


def test_relabel_refuses_a_table_of_another_merge(merged):
    plan, tmp = merged
    (tmp / "lut.npz").write_bytes(b"other")
    with pytest.raises(ValueError, match="is not the one"):
        run_relabel_shard(plan, tmp / "merge.json", tmp / "lut.npz", 0, 1, tmp / "r", tmp / "p")
    plan.segmentation_hash = "new"
    with pytest.raises(ValueError, match="rerun the merge"):
        run_relabel_shard(plan, tmp / "merge.json", tmp / "lut.npz", 0, 1, tmp / "r", tmp / "p")
