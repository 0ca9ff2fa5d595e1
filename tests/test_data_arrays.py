import pickle

import numpy as np
import pytest
import zarr
from funlib.geometry import Coordinate, Roi

from dacapo_flow.data.array_checks import dataset_problems
from dacapo_flow.data.arrays import create_array, open_array, write_array


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_write_then_open_roundtrips_data_and_geometry(tmp_path, volume, zarr_format):
    path = tmp_path / "c.zarr"
    write_array(path, "group/raw", volume, (4, 2, 2), (40, 20, 10), zarr_format=zarr_format)

    array = open_array(path, "group/raw")

    assert array.voxel_size == Coordinate(4, 2, 2)
    assert array.offset == Coordinate(40, 20, 10)
    assert array.roi == Roi((40, 20, 10), (16, 12, 16))
    assert array.shape == Coordinate(4, 6, 8)
    assert array.num_channels is None
    assert array.dtype == np.uint16
    np.testing.assert_array_equal(array.read(array.roi), volume)
    assert zarr.open_group(str(path), mode="r").metadata.zarr_format == zarr_format


def test_missing_container_or_dataset_names_both(tmp_path, volume):
    with pytest.raises(FileNotFoundError, match=r"nope\.zarr.*'raw'"):
        open_array(tmp_path / "nope.zarr", "raw")
    write_array(tmp_path / "c.zarr", "raw", volume, (1, 1, 1), (0, 0, 0))
    with pytest.raises(FileNotFoundError, match=r"'labels'.*c\.zarr"):
        open_array(tmp_path / "c.zarr", "labels")


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_read_outside_the_array_is_padded_with_fill_value(tmp_path, volume, zarr_format):
    path = tmp_path / "c.zarr"
    array = write_array(path, "raw", volume, (4, 2, 2), (40, 20, 10), zarr_format=zarr_format)
    # One voxel before the array in z, two beyond its end in x.
    roi = Roi((36, 20, 14), (8, 12, 16))

    data = array.read(roi, fill_value=7)

    assert data.shape == (2, 6, 8)
    np.testing.assert_array_equal(data[0], 7)
    np.testing.assert_array_equal(data[1, :, :6], volume[0, :, 2:])
    np.testing.assert_array_equal(data[1, :, 6:], 7)
    assert (array.read(Roi((0, 0, 0), (4, 2, 2)), fill_value=3) == 3).all()


def test_misaligned_read_names_the_array(tmp_path, volume):
    array = write_array(tmp_path / "c.zarr", "raw", volume, (4, 2, 2), (40, 20, 10))
    with pytest.raises(ValueError, match=r"c\.zarr/raw.*not aligned"):
        array.read(Roi((41, 20, 10), (4, 2, 2)))
    with pytest.raises(ValueError, match="not aligned"):
        array.read(Roi((40, 20, 10), (4, 3, 2)))


def test_array_pickles_and_reopens(tmp_path, volume):
    array = write_array(tmp_path / "c.zarr", "raw", volume, (1, 1, 1), (0, 0, 0))
    array.read(array.roi)  # opens and caches a handle, which must not travel

    copy = pickle.loads(pickle.dumps(array))

    np.testing.assert_array_equal(copy.read(copy.roi), volume)


def test_create_array_is_filled_blockwise_with_channels(tmp_path):
    path = tmp_path / "c.zarr"
    array = create_array(path, "pred", (4, 4, 4), "float32", (2, 2, 2), (8, 8, 8), (2, 2, 2), 3)
    block = Roi((8, 8, 8), (4, 4, 4))
    array.write(block, np.ones((3, 2, 2, 2), np.float32))

    reopened = open_array(path, "pred")
    data = reopened.read(reopened.roi)

    assert reopened.num_channels == 3
    assert data.shape == (3, 4, 4, 4)
    assert data[:, :2, :2, :2].min() == 1 and data.sum() == 3 * 8
    with pytest.raises(ValueError, match="outside"):
        array.write(Roi((0, 8, 8), (4, 4, 4)), np.ones((3, 2, 2, 2), np.float32))
    with pytest.raises(ValueError, match="shape"):
        array.write(block, np.ones((2, 2, 2), np.float32))


def test_existing_container_keeps_its_format(tmp_path, volume):
    path = tmp_path / "c.zarr"
    write_array(path, "raw", volume, (1, 1, 1), (0, 0, 0), zarr_format=3)
    write_array(path, "labels", volume, (1, 1, 1), (0, 0, 0))  # format follows the container
    assert zarr.open_array(str(path), path="labels", mode="r").metadata.zarr_format == 3
    assert open_array(path, "raw").roi == open_array(path, "labels").roi
    with pytest.raises(ValueError, match="v3 container"):
        write_array(path, "mask", volume, (1, 1, 1), (0, 0, 0), zarr_format=2)


def test_crops_of_a_huge_lazily_chunked_array_read_only_the_crop(tmp_path):
    """A 2048^3 array (8 GiB if it were materialised) has no chunks on disk; reading a crop
    must touch only the crop, at any position, padded or not."""
    path = tmp_path / "big.zarr"
    array = create_array(path, "raw", (2048,) * 3, "uint8", (8, 8, 8), (0, 0, 0), (64,) * 3)
    array.write(Roi((8192, 8192, 8192), (512,) * 3), np.full((64,) * 3, 9, np.uint8))

    crop = array.read(Roi((8160, 8160, 8160), (64,) * 3))
    edge = open_array(path, "raw").read(Roi((16320, 0, 0), (64,) * 3))

    assert crop.shape == (8, 8, 8) and edge.shape == (8, 8, 8)
    assert crop[4:, 4:, 4:].min() == 9 and crop[:4].max() == 0
    assert edge.max() == 0
    written_chunks = [p for p in (path / "raw").rglob("*") if p.is_file() and p.name[0] != "."]
    assert len(written_chunks) == 1


def write_pyramid(path, name, base_voxel, levels, dtype="uint8", translation=(0, 0, 0)):
    """An OME-NGFF v0.4 multiscales group `name` with levels s0.. (factor 2 each)."""
    import zarr

    datasets = []
    for level in range(levels):
        factor = 2**level
        shape = (16 // factor,) * 3
        voxel = [v * factor for v in base_voxel]
        write_array(
            path, f"{name}/s{level}", np.zeros(shape, dtype), (1, 1, 1), (0, 0, 0), ome_ngff=False
        )
        datasets.append(
            {
                "path": f"s{level}",
                "coordinateTransformations": [
                    {"type": "scale", "scale": voxel},
                    {"type": "translation", "translation": list(translation)},
                ],
            }
        )
    group = zarr.open_group(store=str(path), path=name, mode="r+")
    # Plain attrs written by write_array would win over nothing; drop them so OME decides.
    for level in range(levels):
        zarr.open_array(store=str(path), path=f"{name}/s{level}", mode="r+").attrs.clear()
    axes = [{"name": n, "type": "space", "unit": "nanometer"} for n in "zyx"]
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": datasets}]


def test_one_level_of_a_multiscales_group_and_which_level_to_use(tmp_path):
    from dacapo_flow.config.datasplits import RawGTDatasetConfig
    from dacapo_flow.data.arrays import multiscale_levels, open_array

    path = tmp_path / "pyramid.zarr"
    write_pyramid(path, "raw", (4, 4, 4), 3, translation=(40, 0, 0))
    write_pyramid(path, "labels", (8, 8, 8), 2, dtype="uint32", translation=(40, 0, 0))
    s1 = open_array(path, "raw/s1")
    assert s1.voxel_size == (8, 8, 8) and s1.offset == (40, 0, 0) and s1.shape == (8, 8, 8)
    assert multiscale_levels(path, "raw/s0") == [
        ("raw/s0", (4, 4, 4)),
        ("raw/s1", (8, 8, 8)),
        ("raw/s2", (16, 16, 16)),
    ]

    def problems(raw, gt):
        return dataset_problems(
            RawGTDatasetConfig(
                name="d", raw={"path": path, "dataset": raw}, gt={"path": path, "dataset": gt}
            )
        )

    assert problems("raw/s1", "labels/s0") == []
    (problem,) = problems("raw/s0", "labels/s0")
    assert "voxel sizes differ" in problem and "use raw dataset 'raw/s1'" in problem
    (problem,) = problems("raw/s2", "labels/s0")
    assert "use gt dataset 'labels/s1'" in problem


def test_an_array_kept_in_memory_reads_the_same_crops_and_pickles_without_its_data(
    tmp_path, volume
):
    array = write_array(tmp_path / "c.zarr", "raw", volume, (4, 2, 2), (40, 20, 10))
    resident = array.kept_in_memory()
    assert resident.nbytes == volume.nbytes == array.nbytes
    for roi in [Roi((44, 22, 12), (8, 4, 6)), Roi((32, 16, 6), (16, 12, 16)), array.roi]:
        np.testing.assert_array_equal(resident.read(roi, fill_value=9), array.read(roi, 9))
    assert resident._data is not None  # loaded once, by the first read
    clone = pickle.loads(pickle.dumps(resident))
    assert clone._data is None and clone.resident  # each worker loads its own copy
    np.testing.assert_array_equal(clone.read(array.roi), volume)
