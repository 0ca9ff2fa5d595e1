import numpy as np
import pytest
from funlib.geometry import Coordinate
from pydantic import ValidationError

from dacapo_flow.config.datasplits import (
    ArrayConfig,
    RawGTDatasetConfig,
    TrainValidateDataSplitConfig,
    pending_outputs,
)
from dacapo_flow.data.arrays import write_array
from helpers_tiny import dataset_entry


@pytest.fixture(scope="module")
def coarse(tmp_path_factory):
    """A container whose arrays have voxel size 16 (the synthetic data has 8)."""
    path = tmp_path_factory.mktemp("coarse") / "coarse.zarr"
    volume = np.zeros((8, 8, 8), np.uint8)
    write_array(path, "raw", volume, (16, 16, 16), (0, 0, 0))
    write_array(path, "labels", volume, (16, 16, 16), (0, 0, 0))
    return path


def dataset(data, name="train_0", volume="train_0", **changes):
    entry = dataset_entry(data, name, volume, "labels")
    entry.update(changes)
    return RawGTDatasetConfig.model_validate(entry)


def split(train, validate=()):
    return TrainValidateDataSplitConfig(
        label_ids={"mito": [1]}, train_configs=list(train), validate_configs=list(validate)
    )


def test_existing_arrays_verify_and_open_with_their_metadata(data):
    config = dataset(data)
    assert config.verify()[0]
    raw = config.raw.open()
    assert raw.voxel_size == Coordinate(8, 8, 8)
    assert config.raw_voxel_size() == Coordinate(8, 8, 8)


def test_missing_arrays_are_reported_with_their_role_and_path(data, tmp_path):
    missing = {"path": str(tmp_path / "nowhere.zarr"), "dataset": "raw"}
    no_dataset = {"path": str(data / "train_0.zarr"), "dataset": "no_such_array"}
    config = dataset(data, raw=missing, mask=no_dataset)
    ok, message = config.verify()
    assert not ok
    assert f"raw: cannot open {tmp_path / 'nowhere.zarr'}/raw" in message
    assert "mask: cannot open" in message and "no_such_array" in message


def test_problems_in_a_datasplit_carry_the_list_index(data, tmp_path):
    bad = dataset(data, name="bad", raw={"path": str(tmp_path / "x.zarr"), "dataset": "raw"})
    ok, message = split([dataset(data)], [bad]).verify()
    assert not ok
    assert message.startswith("validate_configs[0].raw: cannot open")


def test_voxel_sizes_must_agree_within_a_dataset(data, coarse):
    config = dataset(data, gt={"path": str(coarse), "dataset": "labels"})
    ok, message = config.verify()
    assert not ok
    assert "voxel sizes differ between arrays" in message


def test_raw_voxel_sizes_must_agree_between_datasets(data, coarse):
    other = RawGTDatasetConfig(
        name="coarse",
        raw=ArrayConfig(path=coarse, dataset="raw"),
        gt=ArrayConfig(path=coarse, dataset="labels"),
    )
    ok, message = split([dataset(data)], [other]).verify()
    assert not ok
    assert "raw voxel sizes differ between datasets: [(8, 8, 8), (16, 16, 16)]" in message


def test_dataset_names_must_be_unique_and_path_safe(data):
    ok, message = split([dataset(data)], [dataset(data)]).verify()
    assert not ok and "dataset name 'train_0' is used twice" in message
    with pytest.raises(ValidationError, match="name"):
        dataset(data, name="../escape")
    with pytest.raises(ValidationError, match="weight"):
        dataset(data, weight=0)


def test_a_datasplit_needs_a_training_dataset():
    with pytest.raises(ValidationError, match="train_configs"):
        TrainValidateDataSplitConfig(train_configs=[])


def test_arrays_a_workflow_rule_has_yet_to_write_are_not_opened(tmp_path):
    future = tmp_path / "synthetic"
    entry = dataset_entry(future, "train_0", "train_0", "labels")
    config = split([RawGTDatasetConfig.model_validate(entry)])
    assert not config.verify()[0]
    with pending_outputs([future]):
        assert config.verify() == (True, "TrainValidateDataSplitConfig is valid")
    assert not config.verify()[0]  # the exemption ends with the context


def test_validation_datasets_are_validation_stage_fields(data):
    base = split([dataset(data)])
    with_validation = split([dataset(data)], [dataset(data, name="validate_0")])
    assert base.stage_hash("train") == with_validation.stage_hash("train")
    assert base.stage_hash("validate") != with_validation.stage_hash("validate")
    renamed = base.model_copy(update={"name": "other"})
    assert renamed.stage_hash("train") == base.stage_hash("train")
    more_training = split([dataset(data), dataset(data, name="t1", volume="train_1")])
    assert more_training.stage_hash("train") != base.stage_hash("train")


def test_label_ids_may_be_nonzero_but_no_other_word(data):
    config = TrainValidateDataSplitConfig(
        label_ids={"fg": "nonzero"}, train_configs=[dataset(data)]
    )
    assert config.label_ids == {"fg": "nonzero"}
    with pytest.raises(ValidationError, match="label_ids"):
        TrainValidateDataSplitConfig(label_ids={"fg": "all"}, train_configs=[dataset(data)])


def test_an_intensity_range_must_not_be_empty(data):
    entry = dataset_entry(data, "train_0", "train_0", "labels")
    entry["raw"].update(min=200.0, max=100.0)
    ok, message = RawGTDatasetConfig.model_validate(entry).verify()
    assert not ok and "raw.max: 100.0 must exceed min 200.0" in message


@pytest.mark.parametrize(
    "where, change, expected",
    [
        ("raw", {"min": 0.0, "max": 1e300}, "raw.max: at most 1.84467e+19"),
        ("raw", {"min": -1e300, "max": 1.0}, "raw.min: |value| at most"),
        (None, {"weight": 1e300}, "weight: at most 1e+06 (relative to the others), got 1e+300"),
    ],
)
def test_finite_but_absurd_values_are_refused(data, where, change, expected):
    entry = dataset_entry(data, "train_0", "train_0", "labels")
    (entry[where] if where else entry).update(change)
    found = RawGTDatasetConfig.model_validate(entry).problems()
    assert any(expected in line for line in found), found


def test_array_checks_are_data_problems_not_problems(data, tmp_path):
    missing = {"path": str(tmp_path / "nowhere.zarr"), "dataset": "raw"}
    config = dataset(data, raw=missing)
    assert config.problems() == []  # parsing the workflow opens nothing
    assert config.data_problems()[0].startswith("raw: cannot open")


def test_a_float_gt_and_misaligned_or_multichannel_arrays_are_data_problems(data, tmp_path):
    path = tmp_path / "odd.zarr"
    write_array(path, "raw", np.zeros((4, 4, 4), np.uint8), (8, 8, 8), (0, 0, 0))
    write_array(path, "float_gt", np.zeros((4, 4, 4), np.float32), (8, 8, 8), (0, 0, 0))
    write_array(path, "shifted", np.zeros((4, 4, 4), np.uint8), (8, 8, 8), (4, 0, 0))
    config = RawGTDatasetConfig(
        name="odd",
        raw=ArrayConfig(path=path, dataset="raw"),
        gt=ArrayConfig(path=path, dataset="float_gt"),
        mask=ArrayConfig(path=path, dataset="shifted"),
    )
    problems = config.data_problems()
    assert f"gt: {path}/float_gt has dtype float32; label ids must be integers" in problems[1]
    assert (
        problems[0] == "mask: offset (4, 0, 0) is a fraction of a voxel away from raw's (0, 0, 0)"
    )


def test_percentiles_exclude_min_max_and_must_be_ordered():
    from dacapo_flow.config.datasplits import ArrayConfig

    ok = ArrayConfig(path="a.zarr", dataset="raw", percentiles=[0.5, 99.5])
    assert ok.problems() == []
    both = ArrayConfig(path="a.zarr", dataset="raw", percentiles=[1, 99], min=0)
    assert any("not both" in p for p in both.problems())
    reversed_ = ArrayConfig(path="a.zarr", dataset="raw", percentiles=[99, 1])
    assert any("low < high" in p for p in reversed_.problems())
