"""A prediction shard equals one forward pass over the whole volume (edges padded as in
validation), writes only its own blocks, and resumes."""

import contextlib

import numpy as np
import pytest
import torch

from dacapo_flow.config.loading import load_run_config
from dacapo_flow.data.arrays import open_array
from dacapo_flow.data.sampling import read_normalised
from dacapo_flow.predict.config import PredictionTarget
from dacapo_flow.predict.output import open_level, quantize
from dacapo_flow.predict.prepare import load_model, prepare
from dacapo_flow.predict.progress import read_shard_json
from dacapo_flow.predict.shard import BlockPredictor, autocast, run_predict_shard
from helpers_predict import target_dict, write_model, write_raw

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model_files(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("shard")
    files = write_model(root / "store", data, "affinities")
    files["raw"] = write_raw(root / "raw.zarr")
    files["run_config"] = load_run_config(files["run_config"], verify=False)
    return files


def planned(model_files, tmp_path, **fields):
    target = PredictionTarget.model_validate(
        target_dict("t", model_files["run"].name, "affinities", model_files["raw"], **fields)
    )
    return prepare(
        model_files["run_config"],
        model_files["weights"],
        model_files["best"],
        target,
        tmp_path / "out.zarr",
        tmp_path / "prepared.json",
    )


def whole_volume(plan, model):
    """One forward pass over the ROI grown by the context, zero-padded outside the raw."""
    raw = open_array(plan.target["input"]["path"], "raw")
    grown = plan.roi.grow(plan.network.context, plan.network.context)
    x = torch.from_numpy(read_normalised(raw, grown, *plan.raw_range))[None, None]
    with torch.inference_mode():
        return model(x)[0].numpy()


def run_all(plan, model, tmp_path, shards):
    for shard in range(shards):
        out = tmp_path / f"predict_{shard}.json"
        manifest = tmp_path / f"predict_{shard}.progress.json"
        assert run_predict_shard(plan, model, "cpu", shard, shards, out, manifest)


def test_shards_equal_a_whole_volume_forward_pass(model_files, tmp_path):
    plan = planned(model_files, tmp_path, roi={"offset": [40, 0, 80], "shape": [160, 144, 128]})
    model, _ = load_model(model_files["run_config"], model_files["weights"])
    run_all(plan, model, tmp_path, shards=3)
    stored = open_level(plan, "prediction").read(plan.roi)
    np.testing.assert_allclose(stored, whole_volume(plan, model), atol=1e-5)
    shard = read_shard_json(tmp_path / "predict_1.json", "predict")
    assert sorted(shard["blocks"]) == list(range(1, plan.grid.num_blocks, 3))


def test_uint8_and_pyramid(model_files, tmp_path):
    roi = {"offset": [40, 0, 80], "shape": [128, 96, 128]}
    plan = planned(
        model_files, tmp_path, roi=roi, dtype="uint8", pyramid=True, block_shape=[16, 16, 16]
    )
    model, _ = load_model(model_files["run_config"], model_files["weights"])
    run_all(plan, model, tmp_path, shards=1)
    expected = quantize(whole_volume(plan, model), plan.value_range, "uint8")
    stored = open_level(plan, "prediction").read(plan.roi)
    assert stored.dtype == np.uint8
    assert np.abs(stored.astype(int) - expected).max() <= 1  # float noise at rounding edges
    s1 = open_level(plan, "prediction", 1)
    assert s1.read(s1.roi).shape == (3, 16, 12, 16)


def test_resume_keeps_finished_blocks(model_files, tmp_path):
    plan = planned(model_files, tmp_path)
    model, _ = load_model(model_files["run_config"], model_files["weights"])
    out, manifest = tmp_path / "p.json", tmp_path / "p.progress.json"
    assert not run_predict_shard(plan, model, "cpu", 0, 1, out, manifest, max_blocks=2)
    assert not out.exists()
    seen = []
    real = BlockPredictor.read
    BlockPredictor.read = lambda self, b: seen.append(b) or real(self, b)
    try:
        assert run_predict_shard(plan, model, "cpu", 0, 1, out, manifest)
    finally:
        BlockPredictor.read = real
    assert seen == list(range(2, plan.grid.num_blocks))


def test_autocast_only_on_cuda():
    assert isinstance(autocast(torch.device("cpu"), "bfloat16"), contextlib.nullcontext)


@pytest.mark.parametrize(
    "architecture",
    [
        {
            "input_shape": [20, 20],
            "downsample_factors": [[2, 2]],
            "eval_shape_increase": [8, 8],
            "section_axis": 0,
        },
        {
            "input_shape": [4, 20, 20],
            "downsample_factors": [[1, 2, 2]],
            "kernel_size_down": [[[1, 3, 3], [1, 3, 3]], [[1, 3, 3], [1, 3, 3]]],
            "kernel_size_up": [[[1, 3, 3], [1, 3, 3]]],
            "eval_shape_increase": [2, 8, 8],
        },
    ],
    ids=["2d-sections", "anisotropic"],
)
def test_sectionwise_and_anisotropic_networks_predict_like_one_pass(
    tmp_path_factory, data, tmp_path, architecture
):
    root = tmp_path_factory.mktemp("sections")
    files = write_model(root / "store", data, "affinities", architecture_config=architecture)
    files["raw"] = write_raw(root / "raw.zarr")
    files["run_config"] = load_run_config(files["run_config"], verify=False)
    plan = planned(files, tmp_path, roi={"offset": [40, 0, 80], "shape": [40, 72, 64]})
    model, _ = load_model(files["run_config"], files["weights"])
    run_all(plan, model, tmp_path, shards=2)
    stored = open_level(plan, "prediction").read(plan.roi)
    np.testing.assert_allclose(stored, whole_volume(plan, model), atol=1e-5)
