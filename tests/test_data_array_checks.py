"""Checks of the arrays a run config names, from their metadata (`data.array_checks`)."""

import numpy as np
import pytest
from funlib.geometry import Coordinate

from dacapo_flow.config.base import ConfigError
from dacapo_flow.config.datasplits import (
    ArrayConfig,
    RawGTDatasetConfig,
    pending_outputs,
)
from dacapo_flow.config.run_config import RunConfig
from dacapo_flow.data.array_checks import (
    dataset_problems,
    run_data_problems,
    split_problems,
    verify_run_data,
)
from dacapo_flow.data.arrays import open_array, write_array
from helpers_tiny import dataset, dataset_entry, merged, run_config_dict, split


@pytest.fixture(scope="module")
def coarse(tmp_path_factory):
    """A container whose arrays have voxel size 16 (the synthetic data has 8)."""
    path = tmp_path_factory.mktemp("coarse") / "coarse.zarr"
    volume = np.zeros((8, 8, 8), np.uint8)
    write_array(path, "raw", volume, (16, 16, 16), (0, 0, 0))
    write_array(path, "labels", volume, (16, 16, 16), (0, 0, 0))
    return path


def test_existing_arrays_pass_and_open_with_their_metadata(data):
    config = dataset(data)
    assert dataset_problems(config) == []
    raw = open_array(config.raw.path, config.raw.dataset)
    assert raw.voxel_size == Coordinate(8, 8, 8)


def test_missing_arrays_are_reported_with_their_role_and_path(data, tmp_path):
    missing = {"path": str(tmp_path / "nowhere.zarr"), "dataset": "raw"}
    no_dataset = {"path": str(data / "train_0.zarr"), "dataset": "no_such_array"}
    config = dataset(data, raw=missing, mask=no_dataset)
    message = "\n".join(dataset_problems(config))
    assert f"raw: cannot open {tmp_path / 'nowhere.zarr'}/raw" in message
    assert "mask: cannot open" in message and "no_such_array" in message


def test_problems_in_a_datasplit_carry_the_list_index(data, tmp_path):
    bad = dataset(data, name="bad", raw={"path": str(tmp_path / "x.zarr"), "dataset": "raw"})
    message = "\n".join(split_problems(split([dataset(data)], [bad])))
    assert message.startswith("validate_configs[0].raw: cannot open")


def test_voxel_sizes_must_agree_within_a_dataset(data, coarse):
    config = dataset(data, gt={"path": str(coarse), "dataset": "labels"})
    (message,) = dataset_problems(config)
    assert "voxel sizes differ between arrays" in message


def test_raw_voxel_sizes_must_agree_between_datasets(data, coarse):
    other = RawGTDatasetConfig(
        name="coarse",
        raw=ArrayConfig(path=coarse, dataset="raw"),
        gt=ArrayConfig(path=coarse, dataset="labels"),
    )
    message = "\n".join(split_problems(split([dataset(data)], [other])))
    assert "raw voxel sizes differ between datasets: [(8, 8, 8), (16, 16, 16)]" in message


def test_arrays_a_workflow_rule_has_yet_to_write_are_not_opened(tmp_path):
    future = tmp_path / "synthetic"
    entry = dataset_entry(future, "train_0", "train_0", "labels")
    config = split([RawGTDatasetConfig.model_validate(entry)])
    assert split_problems(config)
    with pending_outputs([future]):
        assert split_problems(config) == []
    assert split_problems(config)  # the exemption ends with the context


def test_array_checks_are_not_problems_of_the_values(data, tmp_path):
    missing = {"path": str(tmp_path / "nowhere.zarr"), "dataset": "raw"}
    config = dataset(data, raw=missing)
    assert config.problems() == []  # parsing the workflow opens nothing
    assert config.verify()[0]
    assert dataset_problems(config)[0].startswith("raw: cannot open")


def test_a_float_gt_and_misaligned_arrays_are_problems_of_their_metadata(data, tmp_path):
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
    problems = dataset_problems(config)
    assert f"gt: {path}/float_gt has dtype float32; label ids must be integers" in problems[1]
    assert (
        problems[0] == "mask: offset (4, 0, 0) is a fraction of a voxel away from raw's (0, 0, 0)"
    )


def test_a_run_whose_array_is_gone_is_refused_naming_file_and_key(data, tmp_path):
    broken = run_config_dict(data, "distance")
    broken["datasplit_config"]["train_configs"][1]["gt"]["path"] = str(tmp_path / "gone.zarr")
    config = RunConfig.model_validate(broken)
    assert config.verify()[0]  # the values are fine
    with pytest.raises(ConfigError) as error:
        verify_run_data(config, "run.yaml")
    assert "run.yaml: datasplit_config.train_configs[1].gt: cannot open" in str(error.value)


def test_the_data_must_fit_the_network(data):
    spec = merged(
        run_config_dict(data, "distance"), {"architecture_config": {"input_shape": [68] * 3}}
    )
    message = "\n".join(run_data_problems(RunConfig.model_validate(spec)))
    assert "datasplit_config.train_configs[0].gt: " in message
    assert "smaller than the network's output shape (52, 52, 52)" in message


def test_segmentation_context_must_be_whole_raw_voxels_on_every_axis(data):
    assert dataset_problems(dataset(data, segmentation_context=[0, 16, 16])) == []
    (message,) = dataset_problems(dataset(data, segmentation_context=[16, 16]))
    assert message == "segmentation_context: [16, 16] has 2 values; raw is 3D"
    (message,) = dataset_problems(dataset(data, segmentation_context=[0, 12, 16]))
    assert "is not whole voxels of raw's (8, 8, 8)" in message
