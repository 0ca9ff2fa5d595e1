"""`dacapo-flow check` (load_plan) catches, with file and key, everything that can be checked
before a job (issue 8 item 6): one case per kind of mistake."""

from pathlib import Path

import numpy as np
import pytest
import zarr

from dacapo_flow.cli import main
from dacapo_flow.config.base import ConfigError
from dacapo_flow.data.arrays import write_array
from dacapo_flow.plan.runs import load_plan, plan_warnings
from helpers_tiny import dataset_entry, merged, run_config_dict, write_yaml

SOURCE = "config/config.yaml"


def odd_container(root: Path, gt: np.ndarray, shape=(32, 32, 32)) -> str:
    """A container with uint8 raw and the given gt, voxel size 8 like the synthetic data."""
    path = root / "odd.zarr"
    write_array(path, "raw", np.zeros(shape, np.uint8), (8, 8, 8), (0, 0, 0))
    write_array(path, "labels", gt, (8, 8, 8), (0, 0, 0))
    return str(path)


def with_gt(gt_dtype, values):
    """Changes that make train_0 read a gt of `gt_dtype` holding `values`."""

    def change(data, tmp_path):
        gt = np.zeros((32, 32, 32), gt_dtype)
        gt.flat[: len(values)] = values
        container = odd_container(tmp_path, gt)
        entry = {
            "name": "train_0",
            "raw": {"path": container, "dataset": "raw"},
            "gt": {"path": container, "dataset": "labels"},
        }
        train = [entry, dataset_entry(data, "train_1", "train_1", "labels")]
        return {"datasplit_config": {"train_configs": train}}

    return change


def own_data(raw=None, gt_offset=(0, 0, 0), mask=None, raw_voxel_size=None):
    """Changes that make train_0 read its own container: `raw` (default: uint8 noise, 32^3)
    at offset 0, gt ids 1..3 at `gt_offset`, and `mask` when given; voxel size 8. A
    `raw_voxel_size` is written into raw's metadata afterwards (write_array refuses it)."""

    def change(data, tmp_path):
        path = tmp_path / "own.zarr"
        values = np.random.default_rng(0).integers(0, 255, (32, 32, 32), dtype=np.uint8)
        write_array(path, "raw", values if raw is None else raw, (8, 8, 8), (0, 0, 0))
        write_array(path, "labels", values % 4, (8, 8, 8), gt_offset)
        entry = {"name": "train_0", "raw": {"path": str(path), "dataset": "raw"},
                 "gt": {"path": str(path), "dataset": "labels"}}  # fmt: skip
        if raw is not None and raw.dtype.kind == "f":
            entry["raw"].update(min=0.0, max=1.0)
        if mask is not None:
            write_array(path, "mask", mask, (8, 8, 8), (0, 0, 0))
            entry["mask"] = {"path": str(path), "dataset": "mask"}
        if raw_voxel_size is not None:
            set_voxel_size(path, "raw", raw_voxel_size)
        train = [entry, dataset_entry(data, "train_1", "train_1", "labels")]
        return {"datasplit_config": {"train_configs": train}}

    return change


def set_voxel_size(path: Path, dataset: str, voxel_size) -> None:
    """Rewrite an array's voxel size in both its OME-NGFF and its plain metadata."""
    zarr.open_array(store=str(path), path=dataset, mode="a").attrs["voxel_size"] = voxel_size
    group = zarr.open_group(str(path), mode="a")
    multiscales = group.attrs["multiscales"]
    for entry in multiscales[0]["datasets"]:
        if entry["path"] == dataset:
            entry["coordinateTransformations"][0]["scale"] = voxel_size
    group.attrs["multiscales"] = multiscales


def float_raw_with(value):
    raw = np.random.default_rng(0).random((32, 32, 32)).astype(np.float32)
    raw[3, 4, 5] = value
    return raw


def dims_2d_network(data, tmp_path):
    arch = {"input_shape": [20, 20], "downsample_factors": [[2, 2]], "eval_shape_increase": [8, 8]}
    return {"architecture_config": arch}


def label_ids(**ids):
    return {"datasplit_config": {"label_ids": {"mito": [1], "er": [2], "nucleus": [3], **ids}}}


# (id, task, changes to the tiny run config, key the message must name)
CASES = [
    ("input-too-small", "distance", {"architecture_config": {"input_shape": [8, 8, 8]}},
     "architecture_config.input_shape: the input shape does not fit"),
    ("input-not-divisible", "distance", {"architecture_config": {"input_shape": [21, 21, 21]}},
     "architecture_config.input_shape: the input shape does not fit"),
    ("eval-not-divisible", "distance", {"architecture_config": {"eval_shape_increase": [7, 8, 8]}},
     "architecture_config.eval_shape_increase[0]: 7 is not a multiple"),
    ("input-voxels-absurd", "distance",
     {"architecture_config": {"input_shape": [1004, 1004, 1004], "eval_shape_increase": None}},
     "architecture_config.input_shape: the input shape [1004, 1004, 1004] has"),
    ("upsample-factors", "distance", {"architecture_config": {"upsample_factors": [[2, 2, 2]]}},
     "architecture_config.upsample_factors[0]: [2, 2, 2] is not supported"),
    ("data-2d-network-3d-data", "distance", dims_2d_network,
     "datasplit_config.train_configs[0].raw:"),
    ("affinities-2d-network-3d", "affinities",
     {"task_config": {"neighborhood": [[1, 0], [0, 1]]}}, "task_config: configured for 2D"),
    ("elastic-2d-network-3d", "distance",
     {"trainer_config": {"augments": [{"type": "elastic", "control_point_spacing": [4, 4],
                                       "sigma": [1.0, 1.0]}]}},
     "trainer_config.augments[0]: configured for 2D"),
    ("crop-smaller-than-output", "distance",
     {"architecture_config": {"input_shape": [68, 68, 68], "eval_shape_increase": None}},
     "datasplit_config.train_configs[0].gt:"),
    ("nan-float", "distance", {"trainer_config": {"weight_decay": float("nan")}},
     "trainer_config.weight_decay: Input should be a finite number, got nan"),
    ("inf-in-list", "distance", {"task_config": {"thresholds": [0.0, float("inf")]}},
     "task_config.thresholds.1: Input should be a finite number"),
    ("inf-raw-max", "distance",
     lambda data, tmp_path: {"datasplit_config": {"train_configs": [
         merged(dataset_entry(data, "train_0", "train_0", "labels"),
                {"raw": {"max": float("-inf")}})]}},
     "datasplit_config.train_configs.0.raw.max: Input should be a finite number"),
    ("num-iterations-absurd", "distance", {"num_iterations": 10**21},
     "num_iterations: at most 100000000"),
    ("num-iterations-float", "distance", {"num_iterations": 1e21},
     "num_iterations: Unable to parse"),
    ("too-many-checkpoints", "distance", {"num_iterations": 10**7, "validation_interval": 1},
     "validation_interval: 1 gives 10000000 checkpoints"),
    ("batch-size-absurd", "distance", {"trainer_config": {"batch_size": 10**12}},
     "trainer_config.batch_size: at most 4096"),
    ("seed-negative", "distance", {"trainer_config": {"seed": -1}}, "trainer_config.seed:"),
    ("label-id-float", "distance", label_ids(mito=[1.5]),
     "datasplit_config.label_ids.mito.0: Input should be a valid integer, got 1.5"),
    ("label-id-integral-float", "distance", label_ids(mito=[1.0]),
     "datasplit_config.label_ids.mito.0: Input should be a valid integer"),
    ("label-id-negative", "distance", label_ids(mito=[-1]),
     "datasplit_config.label_ids.mito.0: Input should be greater than or equal to 0, got -1"),
    ("label-id-bool", "distance", label_ids(mito=[True]),
     "datasplit_config.label_ids.mito.0: Input should be a valid integer"),
    ("label-id-above-uint64", "distance", label_ids(mito=[2**64]),
     "datasplit_config.label_ids.mito.0: Input should be less than or equal to"),
    ("gt-float", "distance", with_gt(np.float32, [1.0, 2.0, 3.0]),
     "datasplit_config.train_configs[0].gt: "),
    ("gt-negative-ids", "distance", with_gt(np.int16, [1, 2, 3, -4]),
     "datasplit_config.train_configs[0].gt: "),
    ("channel-name-with-space", "distance",
     merged({"task_config": {"channels": ["nucleus", "mi to"]}}, label_ids(**{"mi to": [1]})),
     "task_config.channels.1: 'mi to' cannot be a file name or workflow wildcard"),
    ("class-name-with-slash", "one_hot",
     {"task_config": {"classes": ["background", "mito/er"]},
      "datasplit_config": {"label_ids": {"mito/er": [1, 2]}}},
     "task_config.classes.1: 'mito/er' cannot be a file name"),
    ("class-named-mean", "one_hot",
     {"task_config": {"classes": ["background", "mean"]},
      "datasplit_config": {"label_ids": {"mean": [1]}}},
     "task_config.classes: 'mean' names the mean scores"),
    ("label-ids-not-a-class", "one_hot", {"task_config": {"classes": ["background", "mito"]}},
     "datasplit_config.label_ids.er: not one of the classes"),
    ("dataset-name", "distance",
     lambda data, tmp_path: {"datasplit_config": {"validate_configs": [
         dataset_entry(data, "validate 0", "validate_0", "labels")]}},
     "datasplit_config.validate_configs.0.name: 'validate 0' cannot be a file name"),
    ("run-name", "distance", {"name": "my run"}, "name: 'my run' cannot be a file name"),
    # data the network cannot learn from (issue 17 item 8)
    ("raw-smaller-than-input", "distance", own_data(raw=np.zeros((16, 32, 32), np.uint8)),
     ("datasplit_config.train_configs[0].raw: {own}/raw has shape (16, 32, 32), smaller than "
      "the network's input shape (20, 20, 20)")),
    ("gt-not-overlapping-raw", "distance", own_data(gt_offset=(8000, 8000, 8000)),
     "datasplit_config.train_configs[0].gt: its ROI"),
    ("raw-without-voxels", "distance", own_data(raw=np.zeros((0, 32, 32), np.uint8)),
     "datasplit_config.train_configs[0].raw: {own}/raw has no voxels (shape (0, 32, 32))"),
    ("inf-in-float-raw", "distance", own_data(raw=float_raw_with(np.inf)),
     "datasplit_config.train_configs[0].raw: {own}/raw holds 1 infinite voxels"),
    ("mask-all-zero", "distance", own_data(mask=np.zeros((32, 32, 32), np.uint8)),
     "datasplit_config.train_configs[0].mask: {own}/mask marks no voxel inside the gt's ROI"),
    ("zero-voxel-size", "distance", own_data(raw_voxel_size=[0, 8, 8]),
     ("datasplit_config.train_configs[0].raw: cannot open {own}/raw: {own}/raw: scale "
      "(0, 8, 8) must be positive")),
    # finite but absurd numbers
    ("learning-rate-absurd", "distance", {"trainer_config": {"learning_rate": 1e30}},
     "trainer_config.learning_rate: at most 1 (RAdam), got 1e+30"),
    ("noise-sigma-absurd", "distance",
     {"trainer_config": {"augments": [{"type": "noise", "sigma": 1e308}]}},
     "trainer_config.augments[0].sigma: at most 1"),
    ("start-dataset-name", "distance",
     {"start_config": {"run": "up", "criterion": "mito__dice", "dataset": "../x"}},
     "start_config.dataset: '../x' cannot be a file name"),
]  # fmt: skip


def write_run(data, tmp_path, task, changes, name="tiny") -> Path:
    if callable(changes):
        changes = changes(data, tmp_path)
    run = merged(run_config_dict(data, task, name=name), changes)
    return write_yaml(tmp_path / "runs" / f"{name}.yaml", run)


def check_failure(config: dict) -> str:
    with pytest.raises(ConfigError) as info:
        load_plan(config, SOURCE)
    return str(info.value)


@pytest.mark.parametrize("case, task, changes, key", CASES, ids=[c[0] for c in CASES])
def test_check_names_the_file_and_the_key(data, tmp_path, case, task, changes, key):
    path = write_run(data, tmp_path, task, changes)
    message = check_failure({"runs": [{"config": str(path)}]})
    key = key.replace("{own}", str(tmp_path / "own.zarr"))
    assert f"{path}: {key}" in message, message


def test_a_finetune_whose_upstream_network_differs_fails_before_the_upstream_trains(data, tmp_path):
    upstream = write_run(data, tmp_path, "distance", {}, name="up")
    start = {"run": "up", "criterion": "mito__dice"}
    changes = {"start_config": start, "architecture_config": {"num_fmaps": 8}}
    finetune = write_run(data, tmp_path, "distance", changes, name="ft")
    message = check_failure({"runs": [{"config": str(upstream)}, {"config": str(finetune)}]})
    assert f"{finetune}: architecture_config.num_fmaps: 8 != 4 of run 'up' ({upstream})" in message


def test_a_finetune_that_differs_only_in_shapes_and_head_labels_passes(data, tmp_path):
    upstream = write_run(data, tmp_path, "distance", {}, name="up")
    changes = {
        "start_config": {"run": "up", "criterion": "mito__dice"},
        "task_config": {"channels": ["mito"]},
        "architecture_config": {"input_shape": [28, 28, 28], "eval_shape_increase": [16] * 3},
    }
    finetune = write_run(data, tmp_path, "distance", changes, name="ft")
    plan = load_plan({"runs": [{"config": str(upstream)}, {"config": str(finetune)}]}, SOURCE)
    assert list(plan) == ["up", "ft"]


def test_a_finetune_sharing_no_output_channel_fails(data, tmp_path):
    upstream = write_run(data, tmp_path, "distance", {}, name="up")
    changes = {"start_config": {"run": "up", "criterion": "mito__dice"}}
    finetune = write_run(data, tmp_path, "affinities", changes, name="ft")
    message = check_failure({"runs": [{"config": str(upstream)}, {"config": str(finetune)}]})
    assert f"{finetune}: task_config: output channels" in message
    assert "share none with ['nucleus', 'mito']" in message


def test_absurd_repetitions_are_refused_before_expanding(data, tmp_path):
    path = write_run(data, tmp_path, "distance", {})
    message = check_failure({"runs": [{"config": str(path), "repetitions": 10**9}]})
    assert message.startswith(f"{SOURCE}: runs[0].repetitions: at most")


def test_label_ids_that_never_occur_in_the_gt_are_a_warning_naming_them_and_the_arrays(
    data, tmp_path
):
    path = write_run(data, tmp_path, "distance", label_ids(mito=[1, 99, 100]))
    plan = load_plan({"runs": [{"config": str(path)}]}, SOURCE)
    (warning,) = plan_warnings(plan)
    assert warning.startswith(f"{path}: datasplit_config.label_ids.mito: ids [99, 100] occur")
    assert f"{data / 'train_0.zarr'}/labels" in warning


def test_the_cli_check_fails_with_file_and_key(data, tmp_path, capsys):
    path = write_run(data, tmp_path, "distance", {"trainer_config": {"batch_size": 10**12}})
    config = write_yaml(tmp_path / "config.yaml", {"runs": [{"config": str(path)}]})
    assert main(["check", "--config", str(config)]) != 0
    assert f"{path}: trainer_config.batch_size: at most 4096" in capsys.readouterr().err


def test_without_check_data_no_array_is_opened(data, tmp_path):
    # What a cluster job's parse of the Snakefile does: the gt is not even looked at.
    path = write_run(data, tmp_path, "distance", with_gt(np.float32, [1.0]))
    plan = load_plan({"runs": [{"config": str(path)}]}, SOURCE, check_data=False)
    assert list(plan) == ["tiny"]
