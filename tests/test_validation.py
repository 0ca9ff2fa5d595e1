from pathlib import Path

import numpy as np
import pytest
import torch
from funlib.geometry import Coordinate, Roi

from dacapo_flow.config.run_config import RunConfig
from dacapo_flow.data.array_checks import run_data_problems
from dacapo_flow.data.arrays import open_array, write_array
from dacapo_flow.data.sampling import SamplerDataset
from dacapo_flow.layout import Layout
from dacapo_flow.run import Run
from dacapo_flow.stats.validation_scores import ValidationScores
from dacapo_flow.store.weights_store import LocalWeightsStore
from dacapo_flow.validation import (
    block_rois,
    predict_blockwise,
    prediction_block,
)
from helpers_tiny import (
    dataset_entry,
    run_config_dict,
    tiny_run_config,
    torch_threads,
    train_to,
    validate_at,
)

VOXEL = Coordinate(4, 4, 4)
OFFSET = Coordinate(40, 0, 80)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def raw_volume(tmp_path_factory):
    """Random uint8 raw, 48^3 voxels of size 4, offset off the origin."""
    path = tmp_path_factory.mktemp("raw") / "volume.zarr"
    raw = np.random.default_rng(3).integers(0, 256, (48, 48, 48), dtype=np.uint8)
    array = write_array(path, "raw", raw, VOXEL, OFFSET, chunks=(16, 16, 16))
    return SamplerDataset(raw=array, gt=array, raw_min=0, raw_max=255)


def whole_volume_prediction(model, dataset, roi, context_voxels):
    """One eval-mode forward pass over roi grown by the model's context (no blocks)."""
    context = Coordinate((context_voxels,) * 3) * dataset.raw.voxel_size
    raw = dataset.normalise(dataset.raw.read(roi.grow(context, context)))
    model.eval()
    with torch.inference_mode():
        return model(torch.from_numpy(raw)[None, None])[0].numpy()


def test_block_rois_tile_the_roi_in_order():
    roi = Roi((8, 16, 24), (96, 80, 40))
    blocks = block_rois(roi, Coordinate(32, 32, 32))
    assert len(blocks) == 3 * 3 * 2
    assert blocks[0] == Roi((8, 16, 24), (32, 32, 32))
    assert all(b.shape == Coordinate(32, 32, 32) for b in blocks)
    covered = blocks[0]
    for block in blocks[1:]:
        covered = covered.union(block)
    assert covered.contains(roi)
    assert len({b.offset for b in blocks}) == len(blocks)


@pytest.mark.parametrize("size", [24, 20])
@pytest.mark.parametrize("block_elements", [1, 2**24])
def test_blockwise_prediction_equals_one_whole_volume_pass(data, raw_volume, size, block_elements):
    # Eval input 28 -> output 12: a 24^3 output needs 2x2x2 blocks, a 20^3 output makes the
    # last block of every row hang over the end of the roi (block_elements 1: eval-shape
    # blocks; 2^24: blocks grown to cover the roi).
    run = Run(tiny_run_config(data, "one_hot"))
    model = run.model
    assert model.eval_input_shape == Coordinate(28, 28, 28)
    context = 8
    begin = OFFSET + Coordinate(context, context, context) * VOXEL
    roi = Roi(begin, Coordinate(size, size, size) * VOXEL)
    blockwise = np.full((4, size, size, size), np.nan, np.float32)
    predict_blockwise(model, raw_volume, roi, torch.device("cpu"), blockwise, block_elements)
    whole = whole_volume_prediction(model, raw_volume, roi, context)
    assert whole.shape == blockwise.shape
    assert not np.isnan(blockwise).any()
    np.testing.assert_allclose(blockwise, whole, rtol=0, atol=1e-5)
    # The eval activation (softmax) is applied: channels sum to one.
    np.testing.assert_allclose(blockwise.sum(axis=0), 1.0, atol=1e-5)


def test_a_roi_off_the_pooling_grid_is_predicted_as_the_grid_predicts_it(data, raw_volume):
    # A U-Net predicts alike only in whole steps of its downsampling (4 here): ROIs of any
    # start get their blocks from the raw array's grid, as prediction targets do, so a voxel's
    # prediction does not depend on where the annotated box happens to begin.
    model = Run(tiny_run_config(data, "one_hot")).model
    begin = OFFSET + Coordinate(8, 8, 8) * VOXEL
    on_grid = np.zeros((4, 20, 20, 20), np.float32)
    predict_blockwise(model, raw_volume, Roi(begin, Coordinate(20, 20, 20) * VOXEL), "cpu", on_grid)
    for shift in ((1, 0, 0), (0, 2, 3), (3, 3, 1)):
        start = Coordinate(shift)
        roi = Roi(begin + start * VOXEL, (Coordinate(20, 20, 20) - start) * VOXEL)
        off_grid = np.zeros((4, *(roi.shape / VOXEL)), np.float32)
        predict_blockwise(model, raw_volume, roi, "cpu", off_grid)
        expected = on_grid[(slice(None), *(slice(s, None) for s in start))]
        np.testing.assert_allclose(off_grid, expected, rtol=0, atol=1e-5)
        # what a grid starting on the ROI itself predicts: the test could tell them apart
        moved = Roi(roi.offset, Coordinate(20, 20, 20) * VOXEL)
        unanchored = whole_volume_prediction(model, raw_volume, moved, 8)
        overlap = (slice(None), *(slice(0, 20 - s) for s in start))
        assert np.abs(unanchored[overlap] - expected).max() > 1e-3


def test_prediction_blocks_grow_to_tile_the_roi_with_the_fewest_input_voxels(data):
    model = Run(tiny_run_config(data)).model  # valid padding, eval 28 -> 12, steps of 4
    assert prediction_block(model, Coordinate(12, 12, 12)) == (
        Coordinate(28, 28, 28),
        Coordinate(12, 12, 12),
    )
    # One block of 40 -> 24 instead of 8 eval-shape blocks (8 * 28^3 input voxels).
    assert prediction_block(model, Coordinate(24, 24, 24)) == (
        Coordinate(40, 40, 40),
        Coordinate(24, 24, 24),
    )
    # 100 output voxels: 2 blocks of 52 (2 * 68 input) beat 1 of 100 (116) only with a budget.
    big, _ = prediction_block(model, Coordinate(100, 12, 12))
    assert big == Coordinate(116, 28, 28)
    small, out = prediction_block(model, Coordinate(100, 12, 12), block_elements=4 * 70 * 28 * 28)
    assert small[0] <= 70 and out[0] * -(-100 // out[0]) >= 100
    assert prediction_block(model, Coordinate(100, 100, 100), block_elements=1)[0] == Coordinate(
        28, 28, 28
    )


def test_same_padded_networks_keep_their_eval_shape(data):
    architecture = {"padding": "same"}
    model = Run(tiny_run_config(data, architecture_config=architecture)).model
    assert prediction_block(model, Coordinate(64, 64, 64)) == (
        model.eval_input_shape,
        model.compute_output_shape(model.eval_input_shape)[1],
    )


def test_context_outside_the_raw_array_is_padded_as_in_training(data, raw_volume):
    run = Run(tiny_run_config(data))
    dataset = SamplerDataset(raw=raw_volume.raw, gt=raw_volume.gt, raw_min=127.5, raw_max=255.0)
    roi = Roi(OFFSET, Coordinate(12, 12, 12) * VOXEL)  # its context lies outside the array
    blockwise = np.zeros((2, 12, 12, 12), np.float32)
    predict_blockwise(run.model, dataset, roi, torch.device("cpu"), blockwise)
    context = Coordinate(8, 8, 8) * VOXEL
    padded = np.zeros((28, 28, 28), np.float32)  # training pads with 0 after normalising
    inside = roi.grow(context, context).intersect(dataset.raw.roi)
    padded[8:, 8:, 8:] = dataset.normalise(dataset.raw.read(inside))
    with torch.inference_mode():
        expected = run.model(torch.from_numpy(padded)[None, None])[0].numpy()
    np.testing.assert_allclose(blockwise, expected, rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def validated(data, tmp_path_factory):
    """A distance run with two validation datasets, trained 2 steps and validated."""
    spec = run_config_dict(data, name="val", num_iterations=2, validation_interval=2)
    extra = dataset_entry(data, "validate_1", "train_1", "labels", mask=True)
    spec["datasplit_config"]["validate_configs"].append(extra)
    config = RunConfig.model_validate(spec)
    store = tmp_path_factory.mktemp("store")
    with torch_threads(1):
        train_to(config, store, 2, progress=False)
        path = validate_at(config, store, 2)
    return config, store, path


def test_scores_cover_every_dataset_parameter_and_criterion(validated):
    config, store, path = validated
    assert path == Path(Layout(store).checkpoint_scores("val", 2))
    scores = ValidationScores.from_netcdf(path)
    assert [s.iteration for s in scores.scores] == [2]
    assert scores.dataset_names == ["validate_0", "validate_1"]
    assert scores.parameter_labels == ["threshold=-0.2", "threshold=0.0", "threshold=0.2"]
    assert scores.criteria == config.criteria()
    values = scores.to_array()
    assert values.shape == (1, 2, 3, len(config.criteria()))
    for name in ("nucleus__dice", "mito__dice", "nucleus__precision"):
        column = values[..., scores.criteria.index(name)]
        assert np.all((column >= 0) & (column <= 1)), name
    for criterion in config.criteria():
        assert scores.higher_is_better(criterion) == config.higher_is_better(criterion)


def test_scores_are_those_of_the_checkpoint(validated):
    config, store, path = validated
    scores = ValidationScores.from_netcdf(path).to_array()
    run = Run(config)
    weights = LocalWeightsStore(store).retrieve_weights("val", 2)
    run.model.load_state_dict(weights.model)
    dataset_config = config.datasplit_config.validate_configs[0]
    dataset = SamplerDataset(
        raw=open_array(dataset_config.raw.path, dataset_config.raw.dataset),
        gt=open_array(dataset_config.gt.path, dataset_config.gt.dataset),
        raw_min=dataset_config.raw.min,
        raw_max=dataset_config.raw.max,
    )
    roi = dataset.gt.roi
    prediction = np.zeros((2, *(roi.shape / dataset.gt.voxel_size)), np.float32)
    predict_blockwise(run.model, dataset, roi, torch.device("cpu"), prediction)
    gt = dataset.gt.read(roi)
    mask = (
        open_array(dataset_config.mask.path, dataset_config.mask.dataset)
        .read(roi)
        .astype(np.float32)
    )
    threshold = {"threshold": 0.0}
    expected = run.task.evaluate(
        run.task.post_process(prediction, threshold), gt, mask, dataset.gt.voxel_size
    )
    row = scores[0, 0, 1]
    for c, criterion in enumerate(run.task.criteria):
        np.testing.assert_allclose(row[c], expected[criterion], equal_nan=True)


def test_temporary_predictions_are_removed(validated):
    _, store, _ = validated
    scratch = store / "val" / "tmp"
    assert not scratch.exists() or not any(scratch.iterdir())


def test_temporary_predictions_are_removed_when_validation_fails(data, tmp_path):
    spec = run_config_dict(data, name="broken", num_iterations=2, validation_interval=2)
    missing = dataset_entry(tmp_path / "gone", "validate_1", "validate_0", "labels")
    spec["datasplit_config"]["validate_configs"].append(missing)
    config = RunConfig.model_validate(spec)  # unverified: its second dataset is missing
    train_to(config, tmp_path, 2, progress=False)
    with pytest.raises(FileNotFoundError):
        validate_at(config, tmp_path, 2)
    scratch = tmp_path / "broken" / "tmp"
    assert not scratch.exists() or not any(scratch.iterdir())
    assert not Path(Layout(tmp_path).checkpoint_scores("broken", 2)).exists()


def test_validating_a_missing_checkpoint_names_it(data, tmp_path):
    config = tiny_run_config(data)
    with pytest.raises(FileNotFoundError, match="checkpoints/iterations/2"):
        validate_at(config, tmp_path, 2)


# -- sparse annotations, anisotropic voxels, 2D networks on 3D volumes -----------------------

ANISOTROPIC = (24, 8, 8)


@pytest.fixture(scope="module")
def anisotropic(data, tmp_path_factory):
    """The synthetic volumes relabelled with 24 x 8 x 8 nm voxels; validate_0's mask marks
    one section only (a crop with one labelled section)."""
    from dacapo_flow.data.arrays import open_array

    root = tmp_path_factory.mktemp("anisotropic")
    for volume in ("train_0", "train_1", "validate_0"):
        for name in ("raw", "labels", "instances", "mask"):
            array = open_array(Path(data) / f"{volume}.zarr", name)
            values = array.read(array.roi)
            if volume == "validate_0" and name == "mask":
                values[:] = 0
                values[13] = 1
            write_array(root / f"{volume}.zarr", name, values, ANISOTROPIC, (0, 0, 0))
    return root


ANISOTROPIC_UNET = {
    "input_shape": [4, 28, 28],
    "downsample_factors": [[1, 2, 2]],
    "kernel_size_down": [[[1, 3, 3], [1, 3, 3]], [[1, 3, 3], [1, 3, 3]]],
    "kernel_size_up": [[[1, 3, 3], [1, 3, 3]]],
    "eval_shape_increase": [4, 8, 8],
}
SECTION_UNET = {
    "input_shape": [28, 28],
    "downsample_factors": [[2, 2]],
    "eval_shape_increase": [8, 8],
    "section_axis": 0,
}


@pytest.mark.parametrize("architecture", [ANISOTROPIC_UNET, SECTION_UNET], ids=["aniso", "2d"])
def test_anisotropic_and_sectionwise_networks_train_and_validate_one_section(
    anisotropic, architecture, tmp_path
):
    spec = run_config_dict(anisotropic, name="aniso", num_iterations=2, validation_interval=2)
    spec["architecture_config"] = {
        "type": "cnnectome_unet",
        "fmaps_out": 4,
        "num_fmaps": 4,
        "fmap_inc_factor": 2,
        **architecture,
    }
    config = RunConfig.model_validate(spec)
    ok, message = config.verify()
    assert ok, message
    assert run_data_problems(config) == []
    with torch_threads(1):
        train_to(config, tmp_path, 2, progress=False)
        path = validate_at(config, tmp_path, 2)
    values = ValidationScores.from_netcdf(path).to_array()
    dice = values[..., config.criteria().index("nucleus__dice")]
    assert np.all(np.isfinite(dice) | np.isnan(dice))

    # The scores are those of section 13 alone, predicted and post-processed on its own.
    from dacapo_flow.validation import validation_roi

    run = Run(config)
    run.model.load_state_dict(LocalWeightsStore(tmp_path).retrieve_weights("aniso", 2).model)
    dataset_config = config.datasplit_config.validate_configs[0]
    dataset = SamplerDataset(
        raw=open_array(dataset_config.raw.path, dataset_config.raw.dataset),
        gt=open_array(dataset_config.gt.path, dataset_config.gt.dataset),
        mask=open_array(dataset_config.mask.path, dataset_config.mask.dataset),
        raw_min=dataset_config.raw.min,
        raw_max=dataset_config.raw.max,
    )
    roi = validation_roi(dataset)
    assert roi == Roi((13 * 24, 0, 0), (24, 32 * 8, 32 * 8))
    prediction = np.zeros((2, *(roi.shape / dataset.gt.voxel_size)), np.float32)
    predict_blockwise(run.model, dataset, roi, torch.device("cpu"), prediction)
    params = run.task.parameters[1]
    expected = run.task.evaluate(
        run.task.post_process(prediction, params),
        dataset.gt.read(roi),
        None,
        ANISOTROPIC,
    )
    row = values[0, 0, 1]
    for c, criterion in enumerate(run.task.criteria):
        np.testing.assert_allclose(row[c], expected[criterion], rtol=1e-6, equal_nan=True)


def test_a_2d_network_on_3d_data_without_a_section_axis_is_a_check_error(anisotropic):
    spec = run_config_dict(anisotropic, name="flat")
    spec["architecture_config"].update(
        input_shape=[28, 28], downsample_factors=[[2, 2]], eval_shape_increase=[8, 8]
    )
    problems = run_data_problems(RunConfig.model_validate(spec))
    assert any("section_axis" in p and "validate_configs[0].raw" in p for p in problems)


def test_segmentation_context_scores_the_annotated_box_of_a_larger_segmentation(
    anisotropic, tmp_path
):
    # Half of section 13 is annotated; with context validation predicts and post-processes
    # sections 11..15 whole, as a prediction target of the crop would, and scores the half.
    from dacapo_flow.validation import validate_dataset, validation_roi

    labels = open_array(anisotropic / "validate_0.zarr", "labels")
    mask = np.zeros(labels.shape, np.uint8)
    mask[13, :, 16:] = 1
    write_array(tmp_path / "half.zarr", "mask", mask, ANISOTROPIC, (0, 0, 0))
    spec = run_config_dict(anisotropic, name="context")
    spec["architecture_config"] = {"type": "cnnectome_unet", "fmaps_out": 4, "num_fmaps": 4}
    spec["architecture_config"].update(fmap_inc_factor=2, **ANISOTROPIC_UNET)
    entry = spec["datasplit_config"]["validate_configs"][0]
    entry["mask"] = {"path": str(tmp_path / "half.zarr"), "dataset": "mask"}
    entry["segmentation_context"] = [48, 512, 512]
    config = RunConfig.model_validate(spec)
    assert config.verify()[0] and run_data_problems(config) == []
    run, dataset_config = Run(config), config.datasplit_config.validate_configs[0]
    rows = validate_dataset(run, dataset_config, torch.device("cpu"), tmp_path)

    dataset = SamplerDataset.from_config(dataset_config)
    scored = validation_roi(dataset)
    assert scored == Roi((13 * 24, 0, 16 * 8), (24, 32 * 8, 16 * 8))
    region = Roi((11 * 24, 0, 0), (5 * 24, 32 * 8, 32 * 8))  # cut to the raw array in-plane
    prediction = np.zeros((run.model.num_out_channels, 5, 32, 32), np.float32)
    predict_blockwise(run.model, dataset, region, torch.device("cpu"), prediction)
    gt, annotated = dataset.gt.read(scored), dataset.mask.read(scored).astype(np.float32)
    for params, row in zip(run.task.parameters, rows):
        output = run.task.post_process(prediction, params)[..., 2:3, :, 16:]
        expected = run.task.evaluate(output, gt, annotated, dataset.gt.voxel_size)
        for c, criterion in enumerate(run.task.criteria):
            np.testing.assert_allclose(row[c], expected[criterion], rtol=1e-6, equal_nan=True)


def test_the_segmented_region_stays_on_a_raw_grid_off_the_world_origin(tmp_path):
    # Raw at offset 2 with voxels of 4 (a half-voxel translation, as OME-NGFF levels have):
    # the region grown around the scored box keeps the raw's grid, so its prediction and the
    # scored slice line up voxel for voxel.
    from dacapo_flow.validation import segmented_roi

    raw = write_array(tmp_path / "r.zarr", "raw", np.zeros((10, 10, 10), np.uint8), VOXEL, (2,) * 3)
    dataset = SamplerDataset(raw=raw, gt=raw, raw_min=0, raw_max=255)
    scored = Roi((18, 18, 18), (8, 8, 8))
    region = segmented_roi(scored, dataset, [8, 8, 8])
    assert region == Roi((10, 10, 10), (24, 24, 24))
    assert not any((region.offset - raw.roi.offset) % VOXEL)
    assert segmented_roi(scored, dataset, [100, 0, 0]) == Roi((2, 18, 18), (40, 8, 8))
    assert segmented_roi(scored, dataset, None) == scored


def test_blocks_off_the_downsampling_steps_are_warned_about(caplog):
    from dacapo_flow.validation import warn_if_off_period

    period = Coordinate(16, 16, 16)
    with caplog.at_level("WARNING"):
        warn_if_off_period("t", Coordinate(12, 12, 12), Coordinate(48, 48, 48), period)
        assert caplog.text == ""
        warn_if_off_period("t", Coordinate(9, 12, 12), Coordinate(36, 48, 48), period)
    assert "t: blocks of (9, 12, 12) voxels are not whole steps" in caplog.text
