import numpy as np
from funlib.geometry import Coordinate, Roi

from dacapo_flow.data.arrays import write_array
from dacapo_flow.data.mask_index import annotated_roi, annotated_voxels, window_begin


def test_annotated_voxels_in_slabs_relative_to_the_roi(tmp_path):
    data = np.zeros((6, 5, 4), np.uint8)
    data[1, 2, 3] = data[4, 0, 0] = data[5, 4, 1] = 1
    mask = write_array(tmp_path / "m.zarr", "mask", data, (40, 8, 8), (400, 0, 0))
    coords = annotated_voxels(mask, mask.roi, slab_voxels=20)  # one section per slab
    np.testing.assert_array_equal(coords, [[1, 2, 3], [4, 0, 0], [5, 4, 1]])
    assert coords.dtype == np.int32
    # A roi reaching beyond the mask: nothing annotated outside it.
    wider = Roi((360, 0, 0), (40 * 8, 40, 32))
    np.testing.assert_array_equal(annotated_voxels(mask, wider)[0], [2, 2, 3])


def test_annotated_roi_is_the_bounding_box_in_world_units(tmp_path):
    data = np.zeros((6, 5, 4), np.uint8)
    data[2, 1:3, 1] = 1
    mask = write_array(tmp_path / "m.zarr", "mask", data, (40, 8, 8), (400, 0, 0))
    assert annotated_roi(mask, mask.roi) == Roi((480, 8, 8), (40, 16, 8))
    assert annotated_roi(mask, Roi((400, 0, 0), (40, 40, 32))) is None


def test_window_begin_contains_the_voxel_and_stays_inside():
    rng = np.random.default_rng(0)
    for _ in range(200):
        voxel = rng.integers(0, 20, 3)
        begin = window_begin(rng, voxel, Coordinate(5, 5, 1), Coordinate(15, 15, 19))
        assert all(0 <= b <= f for b, f in zip(begin, (15, 15, 19)))
        assert all(b <= v < b + w for b, v, w in zip(begin, voxel, (5, 5, 1)))
