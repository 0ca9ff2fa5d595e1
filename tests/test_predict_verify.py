import numpy as np
import pytest

from dacapo_flow.predict.output import open_level, write_block
from dacapo_flow.predict.progress import Progress
from dacapo_flow.predict.verify import VerificationError, collect_blocks, verify
from helpers_predict import hand_plan, read_json


def shard_json(plan, path, blocks, config_key=None):
    progress = Progress(path.with_suffix(".m"), "predict", config_key or plan.config_key("predict"))
    for block, checksum in blocks.items():
        progress.record(block, {"checksum": checksum})
    progress.write_shard_json(path, 0, 1, list(blocks))
    return path


@pytest.fixture
def written(tmp_path):
    plan = hand_plan(tmp_path / "o.zarr", None, 1, (16, 12, 7), (8, 6, 7))
    level = open_level(plan, "prediction")
    checksums = {}
    for block in range(plan.grid.num_blocks):
        roi = plan.grid.write_roi(block)
        checksums[block] = write_block(
            [level], roi, np.full((1, 8, 6, 7), block, np.float32), False
        )
    return plan, checksums, tmp_path


def test_verified_when_everything_is_there(written):
    plan, checksums, tmp = written
    summary = verify(plan, [shard_json(plan, tmp / "a.json", checksums)], [], tmp / "v.json")
    assert read_json(tmp / "v.json") == summary and summary["blocks"] == 4


def test_missing_stale_and_conflicting_blocks_are_named(written):
    plan, checksums, tmp = written
    half = shard_json(plan, tmp / "a.json", {0: checksums[0], 1: checksums[1]})
    stale = shard_json(plan, tmp / "b.json", {2: checksums[2]}, config_key="old")
    with pytest.raises(VerificationError) as error:
        verify(plan, [half, stale], [], tmp / "v.json")
    message = str(error.value)
    assert "b.json: written for config old" in message
    assert "missing blocks [2, 3] (2 blocks)" in message
    assert not (tmp / "v.json").exists()
    other = shard_json(plan, tmp / "c.json", {1: "bad"})
    _, problems = collect_blocks(plan, "predict", [half, other])
    assert problems == [f"{other}: block 1 has two different checksums"]


def test_segmentation_needs_relabel_shards(tmp_path):
    from dacapo_flow.predict.plan import SegmentationSpec

    plan = hand_plan(tmp_path / "o.zarr", SegmentationSpec("semantic", {}, 1, "uint8"), 2)
    with pytest.raises(VerificationError, match="no relabel shard JSONs"):
        verify(plan, [], [], tmp_path / "v.json", read_data=False)
