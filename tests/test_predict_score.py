"""Scoring a prediction target's segmentation (`dacapo-flow score-prediction`): the task's own
evaluator over the voxels validation scores (the mask's annotated box, mask > 0), cut to the
target's ROI, beside the selected validation score and the gap."""

import json
from pathlib import Path

import numpy as np
import pytest
from funlib.geometry import Coordinate, Roi

from dacapo_flow.cli import main
from dacapo_flow.config.base import ConfigError
from dacapo_flow.config.run_config import RunConfig
from dacapo_flow.data.arrays import open_array, write_array
from dacapo_flow.layout import Layout
from dacapo_flow.predict.output import open_level
from dacapo_flow.predict.plan import SEGMENTATION, SegmentationSpec
from dacapo_flow.predict.prepare import build_task
from dacapo_flow.predict.score import Reference, score_prediction
from dacapo_flow.store.atomic import atomic_write_json
from dacapo_flow.store.best_record import BestRecord
from helpers_predict import OFFSET, VOXEL, hand_plan
from helpers_tiny import run_config_dict, write_yaml

SHAPE = (22, 17, 20)  # hand_plan's ROI, in voxels
BEST = {"iteration": 4, "parameters": {"threshold": 0.5}, "score": 0.25, "higher_is_better": False}


def labels(seed=0) -> np.ndarray:
    """Boxes of 4..5 voxels with distinct ids, a background stripe of 0."""
    ids = np.random.default_rng(seed).choice(2000, (6, 5, 4), replace=False) + 1
    grid = np.indices(SHAPE)
    out = ids[grid[0] // 4, grid[1] // 4, grid[2] // 5].astype(np.uint64)
    out[:, :, :2] = 0
    return out


def write_reference(path: Path, gt: np.ndarray, mask: np.ndarray | None, offset=OFFSET):
    write_array(path, "gt", gt, VOXEL, offset)
    if mask is not None:
        write_array(path, "mask", mask.astype(np.uint8), VOXEL, offset)
    return Reference(open_array(path, "gt"), open_array(path, "mask") if mask is not None else None)


def affinities_plan(zarr: Path, segmentation: np.ndarray):
    spec = SegmentationSpec("affinities", {"threshold": 0.5}, 1, "uint64", [[1, 0, 0]])
    plan = hand_plan(zarr, spec, 3, roi_shape=SHAPE)
    open_level(plan, SEGMENTATION).write(plan.roi, segmentation[np.newaxis])
    return plan


@pytest.fixture
def task(data):
    return build_task(RunConfig.model_validate(run_config_dict(data, "affinities")))


def best(**changes) -> BestRecord:
    return BestRecord(dataset="validate_0", criterion="adapted_rand_error", **(BEST | changes))


def test_a_segmentation_equal_to_the_ground_truth_scores_no_error(tmp_path, task):
    gt = labels()
    # the same objects under other ids
    renamed = np.where(gt > 0, gt * 7 + 3, 0).astype(np.uint64)
    plan = affinities_plan(tmp_path / "out.zarr", renamed)
    mask = np.zeros(SHAPE, bool)
    mask[3:, :, 5:] = True
    record = score_prediction(plan, task, write_reference(tmp_path / "ref.zarr", gt, mask), best())
    assert record["scores"]["adapted_rand_error"] == 0.0
    assert record["scores"]["voi"] == 0.0
    assert record["gap"] == pytest.approx(-0.25)
    assert record["voxels"] == mask.sum() and record["left_out_voxels"] == 0
    # the annotated box, in world units
    box = Roi(OFFSET + Coordinate(3, 0, 5) * VOXEL, Coordinate(19, 17, 15) * VOXEL)
    assert record["scored_roi"] == {"offset": list(box.offset), "shape": list(box.shape)}
    json.dumps(record)  # plain values only


def test_only_annotated_voxels_count(tmp_path, task):
    gt = labels()
    segmentation = gt.copy()
    segmentation[:, :8] = 1  # one segment merges every object of the unannotated half
    mask = np.zeros(SHAPE, bool)
    mask[:, 8:] = True
    plan = affinities_plan(tmp_path / "out.zarr", segmentation)
    masked = write_reference(tmp_path / "ref.zarr", gt, mask)
    assert score_prediction(plan, task, masked, best())["scores"]["adapted_rand_error"] == 0.0
    unmasked = Reference(masked.gt, None)
    record = score_prediction(plan, task, unmasked, best())
    assert record["scores"]["adapted_rand_error"] > 0.5
    assert record["voxels"] == gt.size


def test_annotation_outside_the_target_is_counted_as_left_out(tmp_path, task):
    """Ground truth larger than the target's ROI: the overlap is scored, the rest reported."""
    gt = np.zeros((SHAPE[0] + 4, *SHAPE[1:]), np.uint64)
    gt[2:-2] = labels()
    mask = np.ones(gt.shape, bool)
    plan = affinities_plan(tmp_path / "out.zarr", labels())
    reference = write_reference(
        tmp_path / "ref.zarr", gt, mask, OFFSET - Coordinate(2, 0, 0) * VOXEL
    )
    record = score_prediction(plan, task, reference, best())
    assert record["scores"]["adapted_rand_error"] == 0.0
    assert record["voxels"] == np.prod(SHAPE)
    assert record["left_out_voxels"] == 4 * SHAPE[1] * SHAPE[2]


def test_ground_truth_off_the_segmentation_grid_is_refused(tmp_path, task):
    plan = affinities_plan(tmp_path / "out.zarr", labels())
    write_array(tmp_path / "ref.zarr", "gt", labels(), Coordinate(8, 4, 4), OFFSET)
    reference = Reference(open_array(tmp_path / "ref.zarr", "gt"), None)
    with pytest.raises(ConfigError, match=r"ref.zarr:gt has voxel size \(8, 4, 4\)"):
        score_prediction(plan, task, reference, best())
    write_array(tmp_path / "ref.zarr", "shifted", labels(), VOXEL, OFFSET + Coordinate(2, 0, 0))
    reference = Reference(open_array(tmp_path / "ref.zarr", "shifted"), None)
    with pytest.raises(ConfigError, match="ref.zarr:shifted is offset by a fraction of a voxel"):
        score_prediction(plan, task, reference, best())


def finished_target(tmp_path, data, segmentation) -> Path:
    """A workflow directory whose store holds a finished target `hand` of run `r`, and the
    run's validation dataset's gt and mask; returns the config path."""
    store = tmp_path / "store"
    layout = Layout(store)
    paths = layout.prediction("hand")
    plan = affinities_plan(Path(paths.zarr), segmentation)
    plan.target.update(run="r", criterion="adapted_rand_error")
    plan.write(paths.prepared)
    atomic_write_json(paths.verified, {})
    gt = labels()
    mask = np.zeros(SHAPE, bool)
    mask[:, 8:] = True
    write_reference(tmp_path / "ref.zarr", gt, mask)
    run = run_config_dict(data, "affinities", name="r")
    reference = {"path": str(tmp_path / "ref.zarr")}
    run["datasplit_config"]["validate_configs"][0].update(
        gt=reference | {"dataset": "gt"}, mask=reference | {"dataset": "mask"}
    )
    write_yaml(layout.run_config("r"), run)
    best_path = layout.best_record("r", "validate_0", "adapted_rand_error")
    atomic_write_json(best_path, best().model_dump())
    target = {"name": "hand", "run": "r", "criterion": "adapted_rand_error"}
    target["input"] = {"path": str(tmp_path / "ref.zarr"), "dataset": "gt"}
    config = {"store": str(store), "runs": [], "predictions": [target]}
    return write_yaml(tmp_path / "config.yaml", config)


def test_the_command_scores_a_finished_target_on_its_validation_dataset(tmp_path, data, capsys):
    segmentation = labels()
    segmentation[:, :8] = 1  # wrong where validate_0's mask is 0: not counted
    config = finished_target(tmp_path, data, segmentation)
    out = tmp_path / "scores.json"
    assert main(["score-prediction", "hand", "--config", str(config), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "adapted_rand_error     0.0000   selected on validation: 0.2500, gap -0.2500" in printed
    record = json.loads(out.read_text())
    assert record["mask"].endswith("ref.zarr:mask") and record["gap"] == -0.25
    # another ground truth without the mask counts the merged half
    gt = f"{tmp_path / 'ref.zarr'}:gt"
    assert main(["score-prediction", "hand", "--config", str(config), "--gt", gt]) == 0
    assert "voxels of " + gt in capsys.readouterr().out


def test_the_command_says_what_is_missing(tmp_path, data, capsys):
    config = finished_target(tmp_path, data, labels())
    assert main(["score-prediction", "other", "--config", str(config)]) == 2
    assert "no prediction target 'other'" in capsys.readouterr().err
    assert main(["score-prediction", "hand", "--config", str(config), "--gt", "nocolon"]) == 2
    assert "expected PATH:DATASET" in capsys.readouterr().err
    Path(Layout(tmp_path / "store").prediction("hand").verified).unlink()
    assert main(["score-prediction", "hand", "--config", str(config)]) == 1
    assert "has not finished (run snakemake)" in capsys.readouterr().err
