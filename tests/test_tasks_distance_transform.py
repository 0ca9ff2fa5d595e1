import numpy as np
import pytest
from scipy import ndimage

from dacapo_flow.tasks.distance_transform import distance_to_background, signed_distance_to_faces


def _blobs(shape, seed=0):
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), 2) > 0.5


@pytest.mark.parametrize(
    "shape, sampling",
    [((30,), (4,)), ((20, 30), (10, 2)), ((12, 20, 24), (40, 4, 4)), ((6, 7, 8, 9), (1, 2, 3, 4))],
)
def test_equals_scipy_in_world_units_for_anisotropic_voxels(shape, sampling):
    region = _blobs(shape)
    expected = ndimage.distance_transform_edt(region, sampling=sampling)
    got = distance_to_background(region, sampling)
    assert got.dtype == np.float32 and got.shape == shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)


def test_non_contiguous_and_integer_input_is_treated_as_boolean():
    labels = np.zeros((10, 20), dtype=np.uint64)
    labels[2:8, 4:16] = 7  # one label id: no distance to a 7/3 label boundary
    labels[2:8, 10:16] = 3
    got = distance_to_background(labels[:, ::2], (1, 2))
    expected = ndimage.distance_transform_edt(labels[:, ::2] > 0, sampling=(1, 2))
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_all_foreground_is_infinite_and_background_is_zero():
    assert np.isinf(distance_to_background(np.ones((3, 4, 5), bool), (1, 1, 1))).all()
    assert (distance_to_background(np.zeros((3, 4), bool), (1, 1)) == 0).all()


def test_sampling_must_match_the_dimensions():
    with pytest.raises(ValueError, match="does not match a 3D array"):
        distance_to_background(np.ones((3, 4, 5), bool), (1, 1))


def _faces_on_half_voxel_grid(region, sampling):
    """DaCapo's definition, computed its way: an EDT on a grid of half the voxel size where
    voxel centres sit on even indices and face centres between differing voxels on odd ones."""
    boundary = np.zeros(tuple(2 * s - 1 for s in region.shape), dtype=bool)
    for axis in range(region.ndim):
        faces = [slice(0, None, 2)] * region.ndim
        faces[axis] = slice(1, None, 2)
        boundary[tuple(faces)] |= np.diff(region, axis=axis)
    half = tuple(float(v) / 2 for v in sampling)
    distance = ndimage.distance_transform_edt(~boundary, sampling=half)
    distance = distance[(slice(0, None, 2),) * region.ndim]
    return np.where(region, distance, -distance)


@pytest.mark.parametrize(
    "shape, sampling, seed",
    [((40,), (3,), 0), ((25, 31), (10, 2), 1), ((14, 17, 19), (8, 8, 8), 2)]
    + [((12, 18, 21), (40, 4, 6), 3), ((3, 20, 20), (1, 1, 1), 4), ((9, 1, 13), (2, 5, 3), 5)],
)
def test_signed_distance_equals_the_half_voxel_grid_transform(shape, sampling, seed):
    region = _blobs(shape, seed)
    assert region.any() and not region.all()
    expected = _faces_on_half_voxel_grid(region, sampling)
    got = signed_distance_to_faces(region, sampling)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)


def test_signed_distance_without_a_face_is_infinite():
    assert (signed_distance_to_faces(np.ones((4, 4), bool), (1, 1)) == np.inf).all()
    assert (signed_distance_to_faces(np.zeros((4, 4), bool), (1, 1)) == -np.inf).all()


def test_signed_distance_puts_the_boundary_half_way_between_voxels():
    region = np.zeros((1, 8), dtype=bool)
    region[0, 3:6] = True
    # voxel size 4 along x: neighbours of the boundary are 2 away, positive inside
    expected = [-10, -6, -2, 2, 6, 2, -2, -6]
    np.testing.assert_allclose(signed_distance_to_faces(region, (1, 4))[0], expected)


def test_signed_distance_uses_world_units_per_axis():
    region = np.zeros((5, 5), dtype=bool)
    region[2, 2] = True
    d = signed_distance_to_faces(region, (10, 2))
    assert d[2, 2] == pytest.approx(1.0)  # nearest face is along the 2-unit axis
    assert d[2, 0] == pytest.approx(-3.0)  # two voxels along x: 4 - 1
    assert d[0, 2] == pytest.approx(-15.0)  # two voxels along y: 20 - 5
