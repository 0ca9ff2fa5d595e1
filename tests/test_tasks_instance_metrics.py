"""VOI and adapted Rand error against hand-computed values."""

import math

import numpy as np
import pytest

from dacapo_flow.tasks.instance_metrics import adapted_rand_error, contingency, voi


def test_identical_and_relabelled_segmentations_are_perfect():
    gt = np.array([[1, 1, 2, 2], [0, 0, 3, 3]])
    assert voi(gt, gt) == (0.0, 0.0)
    relabelled = np.array([[7, 7, 5, 5], [9, 9, 1, 1]])
    assert voi(relabelled, gt) == pytest.approx((0.0, 0.0))
    assert adapted_rand_error(relabelled, gt) == pytest.approx(0.0)


def test_splitting_one_object_in_halves_costs_one_bit_of_split():
    gt = np.ones((2, 4), dtype=np.uint64)
    seg = np.array([[1, 1, 1, 1], [2, 2, 2, 2]], dtype=np.uint64)
    assert voi(seg, gt) == pytest.approx((1.0, 0.0))
    assert voi(gt, seg) == pytest.approx((0.0, 1.0))  # the reverse is a merge


def test_voi_of_a_four_way_split():
    gt = np.zeros((4, 4), dtype=np.int64)
    seg = np.repeat(np.arange(4), 4).reshape(4, 4)
    assert voi(seg, gt) == pytest.approx((2.0, 0.0))


def test_voi_mask_selects_voxels():
    gt = np.ones((2, 4), dtype=np.uint64)
    seg = np.array([[1, 1, 1, 1], [2, 2, 2, 2]], dtype=np.uint64)
    mask = np.array([[1, 1, 1, 1], [0, 0, 0, 0]])
    assert voi(seg, gt, mask) == (0.0, 0.0)
    assert all(math.isnan(v) for v in voi(seg, gt, np.zeros_like(mask)))
    with pytest.raises(ValueError, match="mask shape"):
        voi(seg, gt, mask[0])


def test_adapted_rand_error_of_a_merge():
    # gt: two objects of 4 voxels; seg: one segment of 8
    # pairs together in both: 2 * (16) - 8 = 24; in seg: 64 - 8 = 56; in gt: 24
    # precision 24/56 = 3/7, recall 1, F = 0.6, error 0.4
    gt = np.array([1, 1, 1, 1, 2, 2, 2, 2])
    seg = np.full(8, 5)
    assert adapted_rand_error(seg, gt) == pytest.approx(0.4)
    assert adapted_rand_error(gt, seg) == pytest.approx(0.4)  # symmetric split case


def test_adapted_rand_error_ignores_ground_truth_background():
    gt = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    seg = np.array([3, 3, 3, 3, 8, 9, 3, 4])
    assert adapted_rand_error(seg, gt) == 0.0
    assert math.isnan(adapted_rand_error(seg, np.zeros_like(gt)))


def test_adapted_rand_error_of_all_single_voxel_segments_is_one():
    gt = np.array([1, 1, 1, 2, 2])
    assert adapted_rand_error(np.arange(5), gt) == 1.0


def test_contingency_counts_overlaps():
    gt = np.array([1, 1, 2, 2, 2])
    seg = np.array([5, 6, 6, 6, 6])
    counts, seg_index, gt_index = contingency(seg, gt)
    table = {(int(g), int(s)): int(n) for n, s, g in zip(counts, seg_index, gt_index)}
    assert table == {(0, 0): 1, (0, 1): 1, (1, 1): 3}
