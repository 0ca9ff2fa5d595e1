"""Neuroglancer layers of the view: shaders over the stored value range, segmentation layers
without a channel axis, and static-state geometry in world units."""

import numpy as np

from dacapo_flow.data.arrays import write_array
from dacapo_flow.view.neuroglancer_view import FirstChannel, shader, static_state
from dacapo_flow.view.sources import Layer


def test_one_channel_is_grey_and_more_are_rgb_over_the_window(tmp_path):
    one = write_array(
        tmp_path / "a.zarr", "one", np.zeros((1, 2, 2, 2), np.float32), (4,) * 3, (0,) * 3
    )
    two = write_array(
        tmp_path / "a.zarr", "two", np.zeros((2, 2, 2, 2), np.float32), (4,) * 3, (0,) * 3
    )
    grey = shader(Layer("p", one, "image", ["a"], (-1.0, 1.0)))
    assert "range=[-1.0, 1.0]" in grey and "emitGrayscale" in grey
    rgb = shader(Layer("p", two, "image", ["a", "b"], (0.0, 1.0)))
    assert "emitRGB(vec3(normalized(getDataValue(0)), normalized(getDataValue(1)), 0.0))" in rgb
    assert shader(Layer("raw", one, "image")) is None  # neuroglancer's default


def test_segmentations_drop_their_channel_axis_lazily():
    labels = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    view = FirstChannel(labels)
    assert view.shape == (3, 4, 5) and view.dtype == labels.dtype
    assert np.array_equal(view[1:2, :, 3], labels[0, 1:2, :, 3])


def test_the_static_state_places_arrays_by_voxel_size_and_offset(tmp_path):
    raw = write_array(
        tmp_path / "r.zarr", "raw", np.zeros((4, 6, 8), np.uint8), (40, 4, 4), (80, 8, 0)
    )
    state = static_state([Layer("raw", raw, "image")], "http://host:1/", root=tmp_path)
    assert state["dimensions"] == {"x": [4e-9, "m"], "y": [4e-9, "m"], "z": [4e-8, "m"]}
    assert state["position"] == [4.0, 5.0, 4.0]  # centre in voxels, x first
    source = state["layers"][0]["source"]
    assert source["url"] == "zarr://http://host:1/r.zarr/raw"
    assert [row[-1] for row in source["transform"]["matrix"]] == [2.0, 2.0, 0.0]
