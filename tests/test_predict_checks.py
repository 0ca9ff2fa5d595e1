"""Prediction targets are refused before any job, naming the file and the key (issue 17 items
5 and 8): block shapes, ROIs, inputs (dimensions, voxel size, values, normalisation) and
pyramids, through `load_plan` as `dacapo-flow check` and the Snakefile run it."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from dacapo_flow.cli import main
from dacapo_flow.config.base import ConfigError
from dacapo_flow.config.run_config import RunConfig
from dacapo_flow.data.arrays import write_array
from dacapo_flow.plan.runs import load_plan
from dacapo_flow.predict.checks import network_output_shape
from helpers_tiny import merged, run_config_dict, write_yaml

SOURCE = "config/config.yaml"
ROOT = Path(__file__).resolve().parents[1]
# A network without downsampling: every block shape fits, the default one (23^3) is odd.
ODD = {"input_shape": [19, 19, 19], "downsample_factors": [], "eval_shape_increase": [8, 8, 8]}


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    tiny = write_yaml(root / "tiny.yaml", run_config_dict(data))
    odd = write_yaml(root / "odd.yaml", run_config_dict(data, name="odd", architecture_config=ODD))
    return {"tiny": tiny, "odd": odd}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Inputs that are wrong in one way each (voxel size 8 is the synthetic data's)."""
    root = tmp_path_factory.mktemp("inputs")
    flat = write_array(root / "flat.zarr", "raw", np.zeros((32, 32), np.uint8), (8, 8), (0, 0))
    fine = write_array(root / "fine.zarr", "raw", np.zeros((16,) * 3, np.uint8), (4,) * 3, (0,) * 3)
    values = np.zeros((16,) * 3, np.float32)
    values[3, 4, 5], values[9, 9, 9] = np.nan, np.inf
    nan = write_array(root / "nan.zarr", "raw", values, (8,) * 3, (0,) * 3)
    return {a.path.stem: {"path": str(a.path), "dataset": "raw"} for a in (flat, fine, nan)}


def target(data, **changes) -> dict:
    given = {
        "name": "em",
        "run": "tiny",
        "criterion": "mito__dice",
        "input": {
            "path": str(data / "validate_0.zarr"),
            "dataset": "raw",
            "min": 127.5,
            "max": 255,
        },
    }
    return merged(given, changes)


def check(runs, *targets, run="tiny") -> str:
    config = {"runs": [{"config": str(runs[run])}], "predictions": list(targets)}
    with pytest.raises(ConfigError) as info:
        load_plan(config, SOURCE)
    return str(info.value)


def passes(runs, *targets, run="tiny"):
    config = {"runs": [{"config": str(runs[run])}], "predictions": list(targets)}
    return load_plan(config, SOURCE)


# (id, changes to the target, what the message must say after "<file>: predictions[0].")
CASES = [
    ("block-zero", {"block_shape": [0, 0, 0]}, "block_shape: [0, 0, 0] must be positive"),
    ("block-2d", {"block_shape": [12, 12]}, "block_shape: [12, 12] has 2 values; run 'tiny'"),
    ("block-empty", {"block_shape": []}, "block_shape: [] has 0 values"),
    (
        "block-huge",
        {"block_shape": [2000, 2000, 2000]},
        "block_shape: [2000, 2000, 2000] needs a network input of (2016, 2016, 2016)",
    ),
    (
        "block-unfit",
        {"block_shape": [13, 12, 12]},
        "block_shape: (13, 12, 12) does not fit the network",
    ),
    (
        "roi-zero",
        {"roi": {"offset": [0, 0, 0], "shape": [0, 64, 64]}},
        "roi.shape: [0, 64, 64] must be positive",
    ),
    (
        "roi-negative",
        {"roi": {"offset": [0, 0, 0], "shape": [64, -8, 64]}},
        "roi.shape: [64, -8, 64] must be positive",
    ),
    ("min-above-max", {"input": {"min": 255, "max": 0}}, "input.max: 0.0 must exceed min 255.0"),
]


@pytest.mark.parametrize("case, changes, message", CASES, ids=[c[0] for c in CASES])
def test_bad_target_values_are_named(runs, data, case, changes, message):
    assert f"{SOURCE}: predictions[0].{message}" in check(runs, target(data, **changes))


@pytest.mark.parametrize(
    "case, message",
    [
        ("flat", "flat.zarr/raw is 2D; run 'tiny''s network runs on 3D data"),
        ("fine", "has voxel size (4, 4, 4), but run 'tiny' trained on raw of voxel size (8, 8, 8)"),
        ("nan", "nan.zarr/raw holds 2 NaN or infinite voxels in the region to predict"),
    ],
)
def test_bad_inputs_are_named(runs, data, inputs, case, message):
    found = check(runs, target(data, input={**inputs[case], "min": 0, "max": 1}))
    assert found.startswith(f"{SOURCE}: predictions[0].input: ") and message in found, found


def test_problems_of_several_targets_name_each(runs, data):
    found = check(
        runs,
        target(data, block_shape=[0, 0, 0]),
        target(data, name="b", roi={"offset": [0, 0, 0], "shape": [0, 8, 8]}),
    )
    assert "predictions[0].block_shape" in found and "predictions[1].roi.shape" in found


def test_the_torch_free_shape_trace_agrees_with_the_model(data):
    from funlib.geometry import Coordinate

    from dacapo_flow.run import Run

    sections = {
        "input_shape": [20, 20],
        "downsample_factors": [[2, 2]],
        "eval_shape_increase": [8, 8],
        "section_axis": 0,
    }
    for task, changes in (
        ("distance", {}),
        ("distance", {"architecture_config": ODD}),
        ("affinities", {"architecture_config": sections}),
        ("one_hot", {"task_config": {"kernel_size": 3}}),
        (
            "one_hot",
            {"task_config": {"kernel_size": 3}, "architecture_config": {"padding": "same"}},
        ),
    ):
        config = RunConfig.model_validate(merged(run_config_dict(data, task), changes))
        model = Run(config).model
        shape_of = network_output_shape(config)
        for increase in (0, 4, 8):
            shape = Coordinate(s + increase if s > 1 else s for s in model.eval_input_shape)
            assert shape_of(shape) == model.compute_output_shape(shape)[1], (task, changes)


# -- pyramids -----------------------------------------------------------------------------


def test_an_odd_default_block_is_refused_for_a_pyramid_with_a_shape_that_fits(runs, data):
    found = check(runs, target(data, run="odd", pyramid=True), run="odd")
    assert found.startswith(f"{SOURCE}: predictions[0].pyramid: target 'em': s1 halves z, y, x")
    assert "the default block shape (23, 23, 23) is odd along z, y, x" in found
    assert found.endswith("set block_shape: [24, 24, 24]")
    found = check(runs, target(data, run="odd", pyramid=True, block_shape=[24, 23, 24]), run="odd")
    assert found.startswith(f"{SOURCE}: predictions[0].block_shape: target 'em'")
    assert "odd along y" in found and found.endswith("set block_shape: [24, 24, 24]")
    passes(runs, target(data, run="odd", pyramid=True, block_shape=[24, 24, 24]), run="odd")


def cremi_like(path: Path, sections=5, plane=(128, 128)) -> Path:
    """config/runs/cremi_2d.yaml's arrays at 40 x 4 x 4 nm, with an odd number of sections."""
    rng = np.random.default_rng(1)
    shape = (sections, *plane)
    write_array(path, "raw", rng.integers(0, 256, shape, dtype=np.uint8), (40, 4, 4), (0, 0, 0))
    labels = np.zeros(shape, np.uint32)
    labels[2, :, :60], labels[2, :, 70:] = 3, 4
    write_array(path, "labels", labels, (40, 4, 4), (0, 0, 0))
    for name, half in (("train_mask", slice(0, 64)), ("validate_mask", slice(64, None))):
        mask = np.zeros(shape, np.uint8)
        mask[2, :, half] = 1
        write_array(path, name, mask, (40, 4, 4), (0, 0, 0))
    return path


@pytest.fixture(scope="module")
def cremi(tmp_path_factory):
    root = tmp_path_factory.mktemp("cremi")
    zarr = str(cremi_like(root / "cremi.zarr"))
    run = yaml.safe_load((ROOT / "config" / "runs" / "cremi_2d.yaml").read_text())
    for dataset in (
        run["datasplit_config"]["train_configs"] + run["datasplit_config"]["validate_configs"]
    ):
        for key in ("raw", "gt", "mask"):
            dataset[key]["path"] = zarr
    return write_yaml(root / "cremi.yaml", run), zarr


def cremi_target(zarr, **changes) -> dict:
    given = {
        "name": "cremi_pyramid",
        "run": "cremi_2d",
        "criterion": "voi",
        "input": {"path": zarr, "dataset": "raw", "min": 127.5, "max": 255},
        "pyramid": True,
    }
    return {**given, **changes}


def test_the_cremi_template_takes_a_pyramid_with_its_default_and_even_blocks(cremi):
    run, zarr = cremi
    config = {
        "runs": [{"config": str(run)}],
        "predictions": [
            cremi_target(zarr),
            cremi_target(zarr, name="even", block_shape=[2, 116, 116]),
        ],
    }
    assert list(load_plan(config, SOURCE)) == ["cremi_2d"]


def test_the_cli_check_names_block_and_pyramid_problems(runs, cremi, data, tmp_path, capsys):
    run, zarr = cremi
    config = {
        "runs": [{"config": str(run)}, {"config": str(runs["odd"])}],
        "predictions": [
            cremi_target(zarr, block_shape=[1, 118, 116]),
            target(data, run="odd", pyramid=True),
        ],
    }
    path = write_yaml(tmp_path / "config.yaml", config)
    assert main(["check", "--config", str(path)]) != 0
    err = capsys.readouterr().err
    assert f"{path}: predictions[0].block_shape: (1, 118, 116) does not fit" in err
    assert f"{path}: predictions[1].pyramid: target 'em': s1 halves z, y, x" in err
    assert "Traceback" not in err


def test_a_large_mutex_watershed_target_is_warned_about_before_any_job(data, tmp_path):
    """The exact merge holds the region graph of the whole ROI in one job: 150 B a voxel
    below bias 0.5, 400 from there (measured on CREMI: 144 and 357)."""
    from dacapo_flow.config.predictions import PredictionTarget
    from dacapo_flow.predict.checks import merge_mem_mb, target_warnings

    runs = {}
    for name, biases in (("mws", [0.25, 0.5]), ("low", [0.1, 0.25])):
        config = run_config_dict(data, "affinities", name=name)
        del config["task_config"]["thresholds"]
        config["task_config"]["post_processing"] = {"mws": {"biases": biases}}
        runs[name] = write_yaml(tmp_path / f"{name}.yaml", config)
    plan = load_plan({"runs": [{"config": str(path)} for path in runs.values()]}, SOURCE)
    big = zarr_open_big(tmp_path / "big.zarr")  # 512 x 1024 x 1024 voxels, no chunk written
    base = {"run": "mws", "criterion": "voi", "outputs": ["prediction", "segmentation"]}
    huge = PredictionTarget.model_validate(target(data, name="big", input=big, **base))
    small = PredictionTarget.model_validate(target(data, name="small", **base))
    no_segmentation = PredictionTarget.model_validate(
        target(data, name="raw", input=big, **{**base, "outputs": ["prediction"]})
    )
    low = PredictionTarget.model_validate(
        target(data, name="low", input=big, **{**base, "run": "low"})
    )
    found = target_warnings([small, huge, no_segmentation, low], plan, SOURCE)
    assert len(found) == 2
    assert found[0].startswith(f"{SOURCE}: predictions[1] (big): run 'mws' can select")
    assert "~200 GiB" in found[0] and "asks that memory of segment_merge (mem_mb)" in found[0]
    assert found[1].startswith(f"{SOURCE}: predictions[3] (low)") and "~75 GiB" in found[1]
    # and the merge job asks for it (MB, times the attempt), at least the profiles' 2000
    voxels = 512 * 1024 * 1024
    assert merge_mem_mb(huge, plan["mws"]) == voxels * 400 // 10**6 + 1
    assert merge_mem_mb(huge, plan["mws"], attempt=2) == 2 * merge_mem_mb(huge, plan["mws"])
    assert merge_mem_mb(low, plan["low"]) == voxels * 150 // 10**6 + 1
    assert merge_mem_mb(small, plan["mws"]) == 2000
    assert merge_mem_mb(no_segmentation, plan["mws"], attempt=3) == 6000


def zarr_open_big(path: Path) -> dict:
    """A uint8 raw array whose shape is large but whose chunks are never written."""
    import zarr

    root = zarr.open_group(str(path), mode="w")
    array = root.create_array("raw", shape=(512, 1024, 1024), chunks=(64, 64, 64), dtype="uint8")
    array.attrs.update({"resolution": [8, 8, 8], "offset": [0, 0, 0]})
    return {"path": str(path), "dataset": "raw", "min": 127.5, "max": 255}
