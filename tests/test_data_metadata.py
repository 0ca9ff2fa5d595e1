"""Array geometry metadata: OME-NGFF multiscales (ours and other tools'), plain attrs, defaults."""

import numpy as np
import pytest
import zarr
from funlib.geometry import Coordinate, Roi

from dacapo_flow.data.arrays import open_array, write_array
from dacapo_flow.data.metadata import read_geometry


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


def test_arrays_with_and_without_channels_share_a_group_and_a_rewrite_replaces_its_entry(
    tmp_path, volume
):
    path = tmp_path / "c.zarr"
    write_array(path, "out/raw", volume, (4, 2, 2), (0, 0, 0))
    write_array(
        path, "out/pred", np.stack([volume, volume]).astype("float32"), (4, 2, 2), (8, 0, 0)
    )
    write_array(path, "out/raw", volume, (8, 2, 2), (0, 0, 0))  # rewritten at another size

    group_attrs = dict(zarr.open_group(str(path), path="out", mode="r").attrs)
    assert sorted(m["datasets"][0]["path"] for m in group_attrs["multiscales"]) == ["pred", "raw"]
    assert open_array(path, "out/raw").voxel_size == Coordinate(8, 2, 2)
    pred = open_array(path, "out/pred")
    assert pred.num_channels == 2 and pred.roi == Roi((8, 0, 0), (16, 12, 16))


def test_ome_ngff_wins_over_plain_attrs_which_win_over_defaults():
    ome = {"multiscales": [{"axes": ["z", "y", "x"], "datasets": [
        {"path": "raw", "coordinateTransformations": [{"type": "scale", "scale": [2, 2, 2]}]}
    ]}]}  # fmt: skip
    plain = {"voxel_size": [3, 3, 3], "offset": [6, 6, 6]}
    assert read_geometry(ome, plain, "raw", 3, "w") == ((2, 2, 2), (0, 0, 0), False)
    assert read_geometry(ome, plain, "other", 3, "w") == ((3, 3, 3), (6, 6, 6), False)
    assert read_geometry({}, plain, "raw", 4, "w") == ((3, 3, 3), (6, 6, 6), True)
    assert read_geometry({}, {}, "raw", 2, "w") == ((1, 1), (0, 0), False)
    with pytest.raises(ValueError, match="w: array ndim 2 does not fit"):
        read_geometry({}, plain, "raw", 2, "w")
