"""A prediction shard equals one forward pass over the whole volume (edges padded as in
validation), writes only its own blocks, and resumes."""

import contextlib

import numpy as np
import pytest
import torch

from dacapo_flow.config.loading import load_run_config
from dacapo_flow.config.predictions import PredictionTarget
from dacapo_flow.data.arrays import open_array
from dacapo_flow.data.sampling import read_normalised
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


SECTIONS = {
    "input_shape": [20, 20],
    "downsample_factors": [[2, 2]],
    "eval_shape_increase": [8, 8],
    "section_axis": 0,
}


@pytest.mark.parametrize("block_shape", [None, [2, 12, 12]], ids=["default-block", "even-block"])
def test_a_sectionwise_pyramid_of_serial_sections_keeps_z(
    tmp_path_factory, data, tmp_path, block_shape
):
    """The CREMI case (issue 17 item 5): a 2D network run section by section over 40 x 4 x 4 nm
    data with an odd number of sections. The default block (one section) and an even block
    (the last one clipped to one section) both work; s1 halves y and x only."""
    from dacapo_flow.data.arrays import write_array
    from dacapo_flow.predict.output import downsample
    from dacapo_flow.predict.verify import verify

    root = tmp_path_factory.mktemp("cremi_like")
    files = write_model(root / "store", data, "affinities", architecture_config=SECTIONS)
    files["run_config"] = load_run_config(files["run_config"], verify=False)
    raw = np.random.default_rng(5).integers(0, 256, (5, 36, 40), dtype=np.uint8)
    write_array(root / "raw.zarr", "raw", raw, (40, 4, 4), (80, 0, 8))
    files["raw"] = root / "raw.zarr"
    extra = {} if block_shape is None else {"block_shape": block_shape}
    plan = planned(files, tmp_path, pyramid=True, shards=2, **extra)
    assert plan.pyramid_factors == [1, 2, 2]
    model, _ = load_model(files["run_config"], files["weights"])
    run_all(plan, model, tmp_path, shards=2)
    jsons = [tmp_path / f"predict_{shard}.json" for shard in range(2)]
    verify(plan, jsons, [], tmp_path / "verified.json")  # checksums of both levels
    s0, s1 = (open_level(plan, "prediction", level) for level in (0, 1))
    assert s1.voxel_size == (40, 8, 8) and s1.offset == s0.offset == (80, 0, 8)
    assert s1.shape == (5, 18, 20) and s1.roi == s0.roi
    stored = s0.read(s0.roi)
    np.testing.assert_allclose(stored, whole_volume(plan, model), atol=1e-5)
    np.testing.assert_allclose(s1.read(s1.roi), downsample(stored, False, (1, 2, 2)), atol=1e-6)
    # The OME-NGFF metadata say the same, read by ome-zarr-py as a viewer reads them.
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    (node,) = [n for n in Reader(parse_url(f"{plan.zarr}/prediction"))() if n.data]
    transforms = node.metadata["coordinateTransformations"]
    assert [t[0]["scale"] for t in transforms] == [[1, 40, 4, 4], [1, 40, 8, 8]]
    assert [t[1]["translation"] for t in transforms] == [[0, 80, 0, 8]] * 2
    assert [level.shape for level in node.data] == [(3, 5, 36, 40), (3, 5, 18, 20)]


def test_a_block_reading_nan_fails_naming_the_target(model_files, tmp_path):
    """Float inputs too large to scan before the jobs are checked block by block."""
    from dacapo_flow.config.base import ConfigError
    from dacapo_flow.data.arrays import write_array

    values = np.zeros((40, 36, 32), np.float32)
    values[20, 18, 16] = np.nan
    write_array(tmp_path / "nan.zarr", "raw", values, (4, 4, 4), (40, 0, 80))
    files = {**model_files, "raw": tmp_path / "nan.zarr"}
    plan = planned(files, tmp_path, input={"path": str(tmp_path / "nan.zarr"), "dataset": "raw"})
    model, _ = load_model(model_files["run_config"], model_files["weights"])
    with pytest.raises(ConfigError, match=r"prediction t: input .*nan.zarr/raw holds NaN"):
        run_all(plan, model, tmp_path, shards=1)
