"""Data checks that read gt voxels: negative ids, label ids that never occur, the scan cache."""

import numpy as np
import pytest

from dacapo_flow.config.datasplits import ArrayConfig, pending_outputs
from dacapo_flow.config.run_config import RunConfig
from dacapo_flow.data.array_checks import run_data_problems
from dacapo_flow.data.arrays import open_array, write_array
from dacapo_flow.plan import data_checks
from dacapo_flow.plan.data_checks import check_run_data, gt_ids, label_findings, mask_findings
from helpers_tiny import merged, run_config_dict

TOP = 2**64 - 1
RAW_SHAPE = (20, 20, 20)  # the network's input shape (run_on): raw must hold one input


def gt_array(tmp_path, values, dtype, name="labels", shape=(8, 8, 8)) -> ArrayConfig:
    gt = np.zeros(shape, dtype)
    gt.flat[: len(values)] = values
    container = tmp_path / "gt.zarr"
    write_array(container, name, gt, (8, 8, 8), (0, 0, 0))
    if not (container / "raw").exists():
        write_array(container, "raw", np.zeros(RAW_SHAPE, np.uint8), (8, 8, 8), (0, 0, 0))
    return ArrayConfig(path=container, dataset=name)


def run_on(data, gt: ArrayConfig, label_ids) -> RunConfig:
    entry = {
        "name": "train_0",
        "raw": {"path": str(gt.path), "dataset": "raw"},
        "gt": {"path": str(gt.path), "dataset": gt.dataset},
    }
    changes = {
        "task_config": {"channels": sorted(label_ids)},
        "datasplit_config": {
            "label_ids": label_ids,
            "train_configs": [entry],
            "validate_configs": [],
        },
        "architecture_config": {"input_shape": [20, 20, 20], "eval_shape_increase": None},
    }
    return RunConfig.model_validate(merged(run_config_dict(data), changes))


def test_ids_are_exact_for_uint64(tmp_path):
    ids = gt_ids(gt_array(tmp_path, [TOP, TOP - 1, 5], np.uint64))
    assert ids.dtype == np.uint64
    assert [int(i) for i in ids] == [0, 5, TOP - 1, TOP]


def test_uint64_label_ids_near_the_top_are_found_and_missing_ones_warned(data, tmp_path):
    gt = gt_array(tmp_path, [TOP, 7], np.uint64)
    findings = check_run_data(run_on(data, gt, {"a": [TOP], "b": [7, TOP - 1]}))
    assert findings.problems == []
    (warning,) = findings.warnings
    assert warning.startswith(f"datasplit_config.label_ids.b: ids [{TOP - 1}] occur in no gt")
    assert f"{gt.path}/labels" in warning


def test_negative_ids_in_a_signed_gt_are_a_problem(data, tmp_path):
    gt = gt_array(tmp_path, [1, -3, -3, -9], np.int32)
    findings = label_findings(run_on(data, gt, {"a": [1]}))
    (problem,) = findings.problems
    assert problem == (
        f"datasplit_config.train_configs[0].gt: {gt.path}/labels holds negative ids [-9, -3]; "
        "label ids must be >= 0"
    )


def test_a_float_gt_is_a_problem_of_its_metadata(data, tmp_path):
    gt = gt_array(tmp_path, [1.0], np.float32)
    message = "\n".join(run_data_problems(run_on(data, gt, {"a": [1]})))
    assert f"datasplit_config.train_configs[0].gt: {gt.path}/labels has dtype float32" in message


def test_scans_are_cached_until_the_array_is_rewritten(tmp_path, monkeypatch):
    gt = gt_array(tmp_path, [4], np.uint8)
    calls = []
    scan = data_checks._scan_ids
    monkeypatch.setattr(data_checks, "_scan_ids", lambda a: calls.append(a) or scan(a))
    assert gt_ids(gt).tolist() == [0, 4]
    assert gt_ids(gt).tolist() == [0, 4]
    assert len(calls) == 1
    gt_array(tmp_path, [9], np.uint16)  # rewritten: new metadata, new mtimes
    assert gt_ids(gt).tolist() == [0, 9]
    assert len(calls) == 2


def test_large_arrays_are_scanned_in_slabs_and_huge_ones_not_at_all(tmp_path, monkeypatch):
    gt = gt_array(tmp_path, list(range(1, 300)), np.uint16, shape=(16, 16, 16))
    monkeypatch.setattr(data_checks, "_SLAB_VOXELS", 256)  # one z-slice per read
    assert gt_ids(gt).tolist() == list(range(300))
    monkeypatch.setattr(data_checks, "MAX_SCAN_VOXELS", 100)
    data_checks._IDS_CACHE.clear()
    assert gt_ids(gt) is None


def test_unscanned_arrays_suppress_the_never_occurs_warning(data, tmp_path, monkeypatch):
    gt = gt_array(tmp_path, [1], np.uint8)
    run = run_on(data, gt, {"a": [1, 2]})
    monkeypatch.setattr(data_checks, "MAX_SCAN_VOXELS", 10)
    data_checks._IDS_CACHE.clear()
    assert label_findings(run).warnings == []  # id 2 may be in the unscanned array
    with pending_outputs([gt.path]):
        assert check_run_data(run).warnings == []


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64, np.int64, bool])
def test_every_integer_width_is_scanned(tmp_path, dtype):
    values = [1] if dtype is bool else [1, 2, 3]
    ids = gt_ids(gt_array(tmp_path, values, dtype))
    assert [int(i) for i in ids] == [0, *values]


def test_nan_in_a_float_raw_is_a_problem_naming_the_array(data, tmp_path):
    gt = gt_array(tmp_path, [1], np.uint8)
    raw = np.ones(RAW_SHAPE, np.float32)
    write_array(gt.path, "raw", raw, (8, 8, 8), (0, 0, 0))
    assert check_run_data(run_on(data, gt, {"a": [1]})).problems == []
    raw[3, 4, 5] = np.nan
    write_array(gt.path, "raw", raw, (8, 8, 8), (0, 0, 0))
    problems = check_run_data(run_on(data, gt, {"a": [1]})).problems
    assert len(problems) == 1
    assert "train_configs[0].raw" in problems[0] and "gt.zarr/raw" in problems[0]
    assert "1 NaN voxels" in problems[0]


def with_mask(data, gt: ArrayConfig, mask: np.ndarray, offset=(0, 0, 0)) -> RunConfig:
    write_array(gt.path, "mask", mask, (8, 8, 8), offset)
    run = run_on(data, gt, {"a": [1]})
    entry = run.datasplit_config.train_configs[0].model_dump()
    entry["mask"] = {"path": str(gt.path), "dataset": "mask"}
    split = run.datasplit_config.model_copy(
        update={
            "train_configs": [type(run.datasplit_config.train_configs[0]).model_validate(entry)]
        }
    )
    return run.model_copy(update={"datasplit_config": split})


def test_a_mask_that_marks_no_gt_voxel_is_a_problem(data, tmp_path):
    gt = gt_array(tmp_path, [1], np.uint8)  # 8^3 at offset 0
    mask = np.zeros((16, 16, 16), np.uint8)
    assert mask_findings(with_mask(data, gt, mask)).problems == [
        (
            f"datasplit_config.train_configs[0].mask: {gt.path}/mask marks no voxel inside the "
            f"gt's ROI {open_array(gt.path, gt.dataset).roi} (all 0 there): nothing is annotated"
        )
    ]
    mask[12, 12, 12] = 1  # marked, but outside the gt
    assert len(mask_findings(with_mask(data, gt, mask)).problems) == 1
    mask[7, 0, 7] = 1
    assert mask_findings(with_mask(data, gt, mask)).problems == []
    assert check_run_data(with_mask(data, gt, mask)).problems == []
