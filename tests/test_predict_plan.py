import pytest

from dacapo_flow.predict.plan import Plan, SegmentationSpec
from helpers_predict import hand_plan


def test_plan_round_trips_through_json(tmp_path):
    spec = SegmentationSpec("affinities", {"threshold": 0.5}, 1, "uint64", [[1, 0, 0]])
    plan = hand_plan(tmp_path / "o.zarr", spec, 1)
    plan.write(tmp_path / "prepared.json")
    again = Plan.read(tmp_path / "prepared.json")
    assert again == plan
    assert again.grid == plan.grid and again.segmentation.instances
    assert again.target_config.name == "hand"


def test_config_keys_change_with_hash_and_generation(tmp_path):
    spec = SegmentationSpec("semantic", {}, 1, "uint8")
    plan = hand_plan(tmp_path / "o.zarr", spec, 3)
    keys = {kind: plan.config_key(kind) for kind in ("predict", "segment", "relabel")}
    assert keys["segment"] == keys["relabel"]  # semantic: segment writes the segmentation
    plan.generations["prediction"] = "new"
    assert plan.config_key("predict") != keys["predict"]
    assert plan.config_key("segment") == keys["segment"]


def test_unreadable_plans_are_named(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match="x.json is not a prepared prediction plan"):
        Plan.read(tmp_path / "x.json")
