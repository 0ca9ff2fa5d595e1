"""Local shape descriptors against a brute-force computation of their definition, and against
what is known of a ball and a box (means, symmetric covariances)."""

import numpy as np
import pytest

from dacapo_flow.tasks.lsds import (
    local_shape_descriptors,
    lsd_context,
    lsd_sigma,
    num_lsds,
)


def _kernel(sigma_voxels):
    """scipy's discrete Gaussian per axis: exp(-d^2 / 2s^2) over |d| <= int(3s + 0.5), normalised."""
    radius = int(3.0 * sigma_voxels + 0.5)
    d = np.arange(-radius, radius + 1)
    w = np.exp(-0.5 * (d / sigma_voxels) ** 2)
    return d, w / w.sum()


def _brute_force(segmentation, voxel, sigma, voxel_size):
    """The descriptor of one voxel, summed term by term from its definition."""
    label = segmentation[voxel]
    axes = [_kernel(s / v) for s, v in zip(sigma, voxel_size)]
    dims = segmentation.ndim
    count, first, second = 0.0, np.zeros(dims), np.zeros((dims, dims))
    for offset in np.ndindex(*[len(d) for d, _ in axes]):
        step = np.array([axes[a][0][i] for a, i in enumerate(offset)])
        weight = np.prod([axes[a][1][i] for a, i in enumerate(offset)])
        where = np.array(voxel) + step
        if np.any(where < 0) or np.any(where >= segmentation.shape):
            continue
        if segmentation[tuple(where)] != label:
            continue
        position = where * np.array(voxel_size, dtype=float)
        count += weight
        first += weight * position
        second += weight * np.outer(position, position)
    mean = first / count
    cov = second / count - np.outer(mean, mean)
    here = np.array(voxel) * np.array(voxel_size, dtype=float)
    variance = np.maximum(np.diag(cov), 1e-3)
    pairs = [(a, b) for a in range(dims) for b in range(a + 1, dims)]
    pearson = [cov[a, b] / np.sqrt(variance[a] * variance[b]) for a, b in pairs]
    values = np.concatenate(
        [
            (mean - here) / np.array(sigma) * 0.5 + 0.5,
            variance / np.array(sigma) ** 2,
            np.array(pearson) * 0.5 + 0.5,
            [count],
        ]
    )
    return np.clip(values, 0, 1)


@pytest.fixture
def ball_and_box():
    shape = (20, 24, 24)
    z, y, x = np.indices(shape)
    seg = np.zeros(shape, np.uint64)
    seg[(z - 10) ** 2 + ((y - 8) / 1.0) ** 2 + ((x - 8) / 1.0) ** 2 <= 36] = 5
    seg[4:16, 15:22, 3:22] = 2**40  # a box touching the ball, with a large id
    return seg


def test_descriptors_equal_their_definition_at_sampled_voxels(ball_and_box):
    voxel_size, sigma = (8, 4, 4), (12.0, 12.0, 12.0)
    descriptors = local_shape_descriptors(ball_and_box, sigma, voxel_size)
    assert descriptors.shape == (10, *ball_and_box.shape) and descriptors.dtype == np.float32
    for voxel in [(10, 8, 8), (10, 3, 8), (5, 15, 4), (15, 21, 20), (12, 18, 12), (7, 11, 9)]:
        expected = _brute_force(ball_and_box, voxel, sigma, voxel_size)
        assert descriptors[(slice(None), *voxel)] == pytest.approx(expected, abs=1e-5), voxel


def test_a_ball_centre_is_symmetric_and_background_is_zero(ball_and_box):
    descriptors = local_shape_descriptors(ball_and_box, (8.0,) * 3, (4, 4, 4))
    centre = descriptors[:, 10, 8, 8]
    assert centre[:3] == pytest.approx([0.5] * 3, abs=1e-6)  # centre of mass is the voxel
    assert centre[6:9] == pytest.approx([0.5] * 3, abs=1e-6)  # no correlation between axes
    assert centre[3] == pytest.approx(centre[4], abs=1e-6) == pytest.approx(centre[5], abs=1e-6)
    assert np.all(descriptors[:, ball_and_box == 0] == 0)


def test_a_box_face_pulls_the_mean_inwards(ball_and_box):
    descriptors = local_shape_descriptors(ball_and_box, (8.0,) * 3, (4, 4, 4))
    # x = 3 is the box's lowest x: its window's mass lies at larger x, deeper y is symmetric
    assert descriptors[2, 10, 18, 3] > 0.6
    assert descriptors[2, 10, 18, 12] == pytest.approx(0.5, abs=1e-6)  # the middle of the box in x


def test_downsampling_repeats_the_coarse_statistics(ball_and_box):
    full = local_shape_descriptors(ball_and_box, (16.0,) * 3, (4, 4, 4), downsample=2)
    assert full.shape == (10, *ball_and_box.shape)
    coarse = local_shape_descriptors(ball_and_box[::2, ::2, ::2], (16.0,) * 3, (8, 8, 8))
    both = ball_and_box[::2, ::2, ::2] != 0
    # a coarse voxel's statistics describe its own full-resolution voxel (mean offsets are
    # relative to the coarse grid position, as in lsd's extractor)
    assert np.allclose(full[:, ::2, ::2, ::2][:, both], coarse[:, both], atol=1e-5)
    with pytest.raises(ValueError, match="multiple of downsample 3"):
        local_shape_descriptors(ball_and_box, (16.0,) * 3, (4, 4, 4), downsample=3)


def test_two_dimensional_descriptors_have_six_channels():
    seg = np.zeros((16, 16), np.uint8)
    seg[4:12, 2:14] = 1
    descriptors = local_shape_descriptors(seg, (6.0, 6.0), (2, 2))
    assert descriptors.shape == (6, 16, 16)
    expected = _brute_force(seg, (5, 7), (6.0, 6.0), (2, 2))
    assert descriptors[:, 5, 7] == pytest.approx(expected, abs=1e-5)


def test_dacapo_sigma_and_the_context_it_needs():
    assert lsd_sigma((40, 4, 4), 10) == (400.0, 400.0, 400.0)
    assert lsd_context((40, 4, 4), (400.0,) * 3) == (30, 300, 300)
    assert num_lsds(3) == 10 and num_lsds(2) == 6
    with pytest.raises(ValueError, match="2D or 3D"):
        num_lsds(4)
