import pickle

import numpy as np
import pytest
import zarr
from funlib.geometry import Coordinate, Roi

from dacapo_flow.data.array_checks import dataset_problems
from dacapo_flow.data.arrays import create_array, open_array, write_array


@pytest.fixture
def volume():
    return np.arange(4 * 6 * 8, dtype=np.uint16).reshape(4, 6, 8)


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


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_ome_ngff_metadata_is_written_and_takes_precedence(tmp_path, volume, zarr_format):
    path = tmp_path / "c.zarr"
    write_array(path, "raw", volume, (4, 2, 2), (40, 20, 10), zarr_format=zarr_format)
    attrs = zarr.open_group(str(path), mode="r").attrs
    multiscales = attrs["ome"]["multiscales"] if zarr_format == 3 else attrs["multiscales"]
    assert multiscales[0]["datasets"][0]["path"] == "raw"
    # Contradicting plain attrs must lose against OME-NGFF.
    zarr.open_array(str(path), path="raw", mode="r+").attrs.update(
        {"voxel_size": [1, 1, 1], "offset": [0, 0, 0]}
    )

    array = open_array(path, "raw")

    assert array.voxel_size == Coordinate(4, 2, 2)
    assert array.offset == Coordinate(40, 20, 10)


@pytest.mark.parametrize("key", ["voxel_size", "resolution"])
def test_plain_attrs_are_read_without_ome_ngff(tmp_path, volume, key):
    path = tmp_path / "c.zarr"
    raw = zarr.open_group(str(path), mode="w", zarr_format=2).create_array(
        "raw", shape=volume.shape, dtype=volume.dtype
    )
    raw[:] = volume
    raw.attrs.update({key: [3, 2, 1], "offset": [30, 20, 10]})

    array = open_array(path, "raw")

    assert array.voxel_size == Coordinate(3, 2, 1)
    assert array.offset == Coordinate(30, 20, 10)


def test_plain_attrs_writer_without_ome(tmp_path, volume):
    write_array(tmp_path / "c.zarr", "raw", volume, (4, 2, 2), (8, 4, 2), ome_ngff=False)
    assert "multiscales" not in zarr.open_group(str(tmp_path / "c.zarr"), mode="r").attrs
    assert open_array(tmp_path / "c.zarr", "raw").roi == Roi((8, 4, 2), (16, 12, 16))


def test_missing_metadata_means_unit_voxels_at_origin(tmp_path, volume):
    zarr.open_group(str(tmp_path / "c.zarr"), mode="w").create_array(
        "raw", shape=volume.shape, dtype=volume.dtype
    )
    array = open_array(tmp_path / "c.zarr", "raw")
    assert array.voxel_size == Coordinate(1, 1, 1)
    assert array.offset == Coordinate(0, 0, 0)
    assert array.num_channels is None


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_third_party_ome_ngff_with_channel_axis_and_global_scale(tmp_path, zarr_format):
    """Metadata as another tool writes it: several scale levels, a channel axis, and a
    multiscale-level transform on top of the dataset's own."""
    path = tmp_path / "c.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    for name, shape in (("s0", (2, 8, 8, 8)), ("s1", (2, 4, 4, 4))):
        group.create_array(name, shape=shape, dtype="float32")
    axes = [{"name": "c", "type": "channel"}] + [
        {"name": n, "type": "space", "unit": "nanometer"} for n in "zyx"
    ]

    def level(name, scale, translation):
        return {
            "path": name,
            "coordinateTransformations": [
                {"type": "scale", "scale": [1] + scale},
                {"type": "translation", "translation": [0] + translation},
            ],
        }

    multiscale = {
        "axes": axes,
        "datasets": [level("s0", [4, 4, 4], [0, 0, 0]), level("s1", [8, 8, 8], [2, 2, 2])],
        "coordinateTransformations": [{"type": "scale", "scale": [1, 2, 2, 2]}],
    }
    if zarr_format == 3:
        group.attrs["ome"] = {"version": "0.5", "multiscales": [multiscale]}
    else:
        group.attrs["multiscales"] = [{"version": "0.4", **multiscale}]

    array = open_array(path, "s1")

    assert array.num_channels == 2
    assert array.shape == Coordinate(4, 4, 4)
    assert array.voxel_size == Coordinate(16, 16, 16)
    assert array.offset == Coordinate(4, 4, 4)
    assert array.read(array.roi).shape == (2, 4, 4, 4)


def test_non_integral_world_units_are_refused(tmp_path, volume):
    path = tmp_path / "c.zarr"
    raw = zarr.open_group(str(path), mode="w").create_array("raw", shape=(2, 2), dtype="u1")
    raw.attrs.update({"voxel_size": [3.5, 4], "offset": [0, 0]})
    with pytest.raises(ValueError, match="not integral"):
        open_array(path, "raw")


@pytest.mark.parametrize("ome", [True, False])
def test_a_zero_voxel_size_is_refused_naming_the_array(tmp_path, volume, ome):
    path = tmp_path / "c.zarr"
    write_array(path, "raw", volume, (8, 8, 8), (0, 0, 0), ome_ngff=ome)
    raw = zarr.open_array(store=str(path), path="raw", mode="a")
    raw.attrs["voxel_size"] = [0, 8, 8]
    if ome:
        group = zarr.open_group(str(path), mode="a")
        multiscales = group.attrs["multiscales"]
        multiscales[0]["datasets"][0]["coordinateTransformations"][0]["scale"] = [0, 8, 8]
        group.attrs["multiscales"] = multiscales
    with pytest.raises(ValueError, match=r"c.zarr/raw: .*\(0, 8, 8\) must be positive"):
        open_array(path, "raw")


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
