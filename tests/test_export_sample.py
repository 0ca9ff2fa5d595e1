"""The sample an export ships (dacapo_flow.export.sample): a real crop of the selection
dataset's raw, one evaluation block in size, and the network's output on it, which is what
validation predicts there; and a deterministic cover image."""

import io

import numpy as np
import pytest
import torch
from funlib.geometry import Coordinate
from PIL import Image

from dacapo_flow.export.sample import cover_png, crop_roi, sample
from dacapo_flow.export.selected import load_selected
from dacapo_flow.validation import model_period, predict_blockwise
from helpers_export import VOXEL_SIZE, write_selected


@pytest.fixture(scope="module", params=[None, 0], ids=["3d", "sections"])
def selected(tmp_path_factory, request):
    root = tmp_path_factory.mktemp("sample")
    return load_selected(**write_selected(root / "run", section_axis=request.param))


def test_the_crop_is_one_eval_block_of_the_validation_raw_around_the_gt(selected):
    roi = crop_roi(selected)
    raw, gt = selected.selection.raw, selected.selection.gt
    assert roi.shape / Coordinate(VOXEL_SIZE) == Coordinate(selected.model.eval_input_shape)
    assert raw.roi.contains(roi)
    # Centred on the validated region, to within a voxel and a step of the network's
    # downsampling (the crop sits on validation's block grid).
    offset = roi.offset + roi.shape / 2 - (gt.roi.offset + gt.roi.shape / 2)
    period = model_period(selected.model, raw.voxel_size)
    assert all(abs(o) <= v + p for o, v, p in zip(offset, VOXEL_SIZE, period))


def test_the_output_is_validations_prediction_of_the_region_and_varies(selected):
    test = sample(selected)
    raw = selected.selection.raw
    assert test.raw.shape == (1, 1, *selected.model.eval_input_shape)
    np.testing.assert_array_equal(test.raw[0, 0], raw.read(test.input_roi).astype(np.float32))
    out_voxels = test.output_roi.shape / selected.output_voxel_size
    assert test.output.shape == (1, 2, *out_voxels)
    assert test.output.std() > 0
    expected = np.zeros(test.output.shape[1:], np.float32)
    predict_blockwise(
        selected.model, selected.selection, test.output_roi, torch.device("cpu"), expected
    )
    assert np.abs(test.output[0] - expected).max() <= 1e-5


def test_a_raw_smaller_than_a_block_is_padded_as_validation_pads(tmp_path):
    selected = load_selected(**write_selected(tmp_path / "run", validate_shape=(20, 30, 30)))
    raw = selected.selection.raw
    roi = crop_roi(selected)
    assert roi.shape / Coordinate(VOXEL_SIZE) == Coordinate(36, 36, 36)
    assert roi.contains(raw.roi)
    test = sample(selected)
    # Outside the raw: the range's low end, which normalises to the 0 validation pads with.
    assert test.raw[0, 0, 0, 0, 0] == selected.raw_range[0]
    expected = np.zeros(test.output.shape[1:], np.float32)
    predict_blockwise(
        selected.model, selected.selection, test.output_roi, torch.device("cpu"), expected
    )
    assert np.abs(test.output[0] - expected).max() <= 1e-5


def test_the_cover_is_a_png_of_input_beside_output_with_the_same_bytes_each_time(selected):
    test = sample(selected)
    arch = selected.run_config.architecture_config
    png = cover_png(test, selected.head_labels, arch.section_axis)
    assert png == cover_png(test, selected.head_labels, arch.section_axis)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (600, 300)
