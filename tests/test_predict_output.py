"""Outputs: OME-NGFF metadata our reader reads back, chunks equal blocks, idempotent creation,
value conversion, pyramid level and block checksums."""

import numpy as np
import zarr
from funlib.geometry import Coordinate

from dacapo_flow.data.arrays import open_array
from dacapo_flow.predict.output import (
    create_outputs,
    dequantize,
    downsample,
    open_level,
    quantize,
    read_block_checksum,
    write_block,
)
from dacapo_flow.predict.plan import SegmentationSpec, group_path
from helpers_predict import OFFSET, VOXEL, hand_plan, write_raw

SPEC = SegmentationSpec("distance", {"threshold": 0.0}, 2, "uint64")


def test_ome_zarr_round_trip(tmp_path):
    plan = hand_plan(tmp_path / "o.zarr", SPEC, 2, (22, 17, 20), (8, 6, 8), pyramid=True)
    for name, dtype, channels in [("prediction", np.float32, 2), ("segmentation", np.uint64, 2)]:
        group = group_path(name)
        s0 = open_array(plan.zarr, f"{group}/s0")
        assert s0.voxel_size == VOXEL and s0.offset == OFFSET and s0.roi == plan.roi
        assert s0.num_channels == channels and s0.dtype == dtype
        s1 = open_array(plan.zarr, f"{group}/s1")
        assert s1.voxel_size == VOXEL * 2 and s1.offset == OFFSET
        assert s1.shape == Coordinate(11, 8, 10)
        handle = zarr.open_array(store=plan.zarr, path=f"{group}/s0", mode="r")
        assert handle.chunks == (channels, 8, 6, 8)
        attrs = dict(zarr.open_group(store=plan.zarr, path=group, mode="r").attrs)
        (multiscale,) = attrs["multiscales"]
        assert multiscale["version"] == "0.4"
        assert [a["type"] for a in multiscale["axes"]] == ["channel", "space", "space", "space"]
        assert [d["path"] for d in multiscale["datasets"]] == ["s0", "s1"]
    assert open_array(plan.zarr, "fragments/s0").dtype == np.uint64


def test_ome_zarr_reader_sees_the_segmentation_as_labels_of_the_prediction(tmp_path):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import OMERO, Label, Multiscales, Reader

    raw = open_array(write_raw(tmp_path / "raw.zarr"), "raw")
    plan = hand_plan(tmp_path / "o.zarr", SPEC, 2, pyramid=True)
    nodes = list(Reader(parse_url(str(tmp_path / "o.zarr" / "prediction")))())
    image = nodes[0]
    assert image.load(OMERO) and image.metadata["channel_names"] == ["c0", "c1"]
    (label,) = [node for node in nodes if node.load(Label)]
    assert label.load(Multiscales) and label.zarr.path.endswith("prediction/labels/segmentation")
    assert label.metadata["name"] == "segmentation"
    assert label.data[0].dtype == np.uint64 and label.data[0].shape == (2, 22, 17, 20)
    for level, transforms in enumerate(label.metadata["coordinateTransformations"]):
        scale, translation = transforms
        assert scale["scale"][1:] == list(raw.voxel_size * 2**level)
        assert translation["translation"][1:] == list(raw.offset)  # in register with the raw
    fragments = zarr.open_group(store=plan.zarr, path="fragments", mode="r").attrs
    assert fragments["image-label"]["version"] == "0.4"


def test_creation_is_idempotent_per_hash(tmp_path):
    plan = hand_plan(tmp_path / "o.zarr", SPEC, 2)
    array = open_level(plan, "prediction")
    array.write(plan.grid.write_roi(0), np.ones((2, 8, 6, 7), np.float32))
    assert create_outputs(plan) == plan.generations  # same hashes: kept, data and all
    assert array.read(plan.grid.write_roi(0)).min() == 1
    plan.segmentation_hash = "changed"
    generations = create_outputs(plan)
    assert generations["prediction"] == plan.generations["prediction"]
    assert generations["segmentation"] != plan.generations["segmentation"]
    plan.prediction_hash = "changed"
    assert create_outputs(plan)["prediction"] != plan.generations["prediction"]
    assert open_level(plan, "prediction").read(plan.grid.write_roi(0)).max() == 0


def test_uint8_maps_the_activation_range():
    values = np.array([-1.0, -0.5, 0.0, 1.0, 2.0], np.float32)
    stored = quantize(values, (-1, 1), "uint8")
    assert stored.tolist() == [0, 64, 128, 255, 255]
    assert (
        np.abs(dequantize(stored, (-1, 1))[:4] - values[:4]).max() <= 1 / 255 + 1e-6
    )  # half a step
    assert quantize(values, (0, 1), "float32") is values


def test_downsample_means_values_and_picks_labels():
    data = np.arange(2 * 4 * 4 * 5, dtype=np.float32).reshape(2, 4, 4, 5)
    small = downsample(data, labels=False, factors=(2, 2, 2))
    assert small.shape == (2, 2, 2, 2)
    assert small[0, 0, 0, 0] == data[0, :2, :2, :2].mean()
    labels = downsample(data.astype(np.uint64), labels=True, factors=(2, 2, 2))
    assert labels[1, 1, 1, 1] == data[1, 2, 2, 2]


def test_block_checksum_reads_back_what_was_written(tmp_path):
    plan = hand_plan(tmp_path / "o.zarr", None, 2, (22, 17, 20), (8, 6, 8), pyramid=True)
    levels = [open_level(plan, "prediction", level) for level in (0, 1)]
    for block in range(plan.grid.num_blocks):
        roi = plan.grid.write_roi(block)
        data = np.random.default_rng(block).random((2, *(roi.shape / VOXEL)), dtype=np.float32)
        assert write_block(levels, roi, data, labels=False) == read_block_checksum(levels, roi)
    roi = plan.grid.write_roi(4)
    levels[1].write(levels[1].roi, np.zeros((2, 11, 8, 10), np.float32))
    assert read_block_checksum(levels, roi) != read_block_checksum([levels[0]], roi)


def test_a_block_thinner_than_a_factor_writes_nothing_at_s1_and_checksums(tmp_path):
    # The last z block of 17 voxels in blocks of 8 is one voxel thick: no s1 voxel (z halves).
    plan = hand_plan(tmp_path / "o.zarr", None, 1, (17, 12, 16), (8, 6, 8), pyramid=True)
    levels = [open_level(plan, "prediction", level) for level in (0, 1)]
    for block in range(plan.grid.num_blocks):
        roi = plan.grid.write_roi(block)
        data = np.full((1, *(roi.shape / VOXEL)), block, np.float32)
        assert write_block(levels, roi, data, labels=False) == read_block_checksum(levels, roi)
    assert levels[1].shape == Coordinate(8, 6, 8)


def test_downsample_per_axis():
    data = np.arange(3 * 4 * 6, dtype=np.float32).reshape(1, 3, 4, 6)
    small = downsample(data, labels=False, factors=(1, 2, 2))
    assert small.shape == (1, 3, 2, 3)
    assert small[0, 2, 1, 1] == data[0, 2, 2:4, 2:4].mean()
    labels = downsample(data.astype(np.uint64), labels=True, factors=(1, 2, 2))
    assert labels[0, 1, 1, 2] == data[0, 1, 2, 4]
