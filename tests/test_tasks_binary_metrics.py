"""Binary metrics against hand-computed values."""

import math

import numpy as np
import pytest

from dacapo_flow.tasks import binary_metrics as bm


def overlapping_cubes():
    """Two 4^3 cubes overlapping in half their volume (32 of 64 voxels)."""
    a = np.zeros((8, 8, 8), dtype=bool)
    b = np.zeros((8, 8, 8), dtype=bool)
    a[0:4, 0:4, 0:4] = True
    b[0:4, 0:4, 2:6] = True
    return a, b


def shifted_cubes(axis, shift):
    a = np.zeros((14, 14, 14), dtype=bool)
    a[2:8, 2:8, 2:8] = True
    return a, np.roll(a, shift, axis=axis)


def test_counts_and_overlap_scores_of_two_cubes():
    a, b = overlapping_cubes()
    assert bm.confusion_counts(a, b) == (32, 32, 32)
    assert bm.dice(a, b) == pytest.approx(0.5)
    assert bm.jaccard(a, b) == pytest.approx(1 / 3)
    assert bm.precision(a, b) == pytest.approx(0.5)
    assert bm.recall(a, b) == pytest.approx(0.5)
    assert bm.f1_score(a, b) == pytest.approx(0.5)
    assert bm.dice(a, a) == bm.jaccard(a, a) == 1.0


def test_precision_and_recall_are_not_symmetric():
    small = np.zeros((4, 4), dtype=bool)
    small[0, :2] = True
    large = np.zeros((4, 4), dtype=bool)
    large[0, :] = True
    assert bm.precision(small, large) == 1.0
    assert bm.recall(small, large) == 0.5


def test_undefined_scores_are_nan():
    empty = np.zeros((4, 4), dtype=bool)
    full = np.ones((4, 4), dtype=bool)
    assert math.isnan(bm.dice(empty, empty))
    assert math.isnan(bm.jaccard(empty, empty))
    assert math.isnan(bm.precision(empty, full))
    assert bm.recall(empty, full) == 0.0 and bm.dice(empty, full) == 0.0
    assert math.isnan(bm.recall(full, empty))


def test_mask_excludes_voxels():
    a, b = overlapping_cubes()
    mask = np.zeros(a.shape, dtype=bool)
    mask[:, :, 2:4] = True  # only the overlap
    assert bm.dice(a, b, mask) == 1.0
    with pytest.raises(ValueError, match="mask shape"):
        bm.dice(a, b, mask[0])


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="prediction shape"):
        bm.dice(np.zeros((3, 3)), np.zeros((3, 4)))


@pytest.mark.parametrize(
    ("axis", "voxel_size", "expected"),
    [(2, (1, 1, 1), 2.0), (2, (4, 4, 10), 20.0), (0, (10, 4, 4), 20.0), (1, (3, 5, 7), 10.0)],
)
def test_hausdorff_of_shifted_cubes_is_the_shift_in_world_units(axis, voxel_size, expected):
    a, b = shifted_cubes(axis, 2)
    assert bm.hausdorff_distance(a, b, voxel_size, percentile=100) == pytest.approx(expected)
    assert bm.hausdorff_distance(b, a, voxel_size, percentile=100) == pytest.approx(expected)
    assert bm.hausdorff_distance(a, a, voxel_size) == 0.0


def test_hd95_ignores_a_single_stray_voxel_the_maximum_does_not():
    a = np.zeros((20, 20, 20), dtype=bool)
    a[2:8, 2:8, 2:8] = True
    b = a.copy()
    b[2, 2, 18] = True  # 11 voxels beyond the cube's face at z = 7
    assert bm.hausdorff_distance(b, a, (1, 1, 1), percentile=100) == pytest.approx(11.0)
    assert bm.hausdorff_distance(b, a, (1, 1, 1)) == 0.0  # default: 95th percentile


def test_hausdorff_is_nan_when_a_set_is_empty():
    a, _ = shifted_cubes(0, 2)
    assert math.isnan(bm.hausdorff_distance(a, np.zeros_like(a), (1, 1, 1)))
    with pytest.raises(ValueError, match="voxel size"):
        bm.hausdorff_distance(a, a, (1, 1))


def test_f1_with_tolerance():
    a, b = shifted_cubes(2, 2)
    # 6^3 cubes shifted by 2: 144 of 216 voxels overlap
    assert bm.f1_with_tolerance(a, b, (1, 1, 1), tolerance=0) == pytest.approx(144 / 216)
    assert bm.f1_with_tolerance(a, b, (1, 1, 1), tolerance=1) == pytest.approx(180 / 216)
    assert bm.f1_with_tolerance(a, b, (1, 1, 1), tolerance=2) == 1.0
    assert bm.f1_with_tolerance(a, b, (1, 1, 5), tolerance=9) == pytest.approx(180 / 216)
    empty = np.zeros_like(a)
    assert bm.f1_with_tolerance(a, empty, (1, 1, 1), 2) == 0.0
    assert math.isnan(bm.f1_with_tolerance(empty, empty, (1, 1, 1), 2))


def test_binary_voi():
    truth = np.zeros((2, 4), dtype=bool)
    truth[0] = True
    assert bm.binary_voi(truth, truth) == 0.0
    # predicting nothing merges two equal halves: 1 bit
    assert bm.binary_voi(np.zeros_like(truth), truth) == pytest.approx(1.0)
