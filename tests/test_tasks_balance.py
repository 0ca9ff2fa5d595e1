import numpy as np
import pytest

from dacapo_flow.tasks.balance import balanced_weights


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int64, np.float32])
def test_each_class_weighs_half_of_the_annotated_voxels_whatever_the_dtype(dtype):
    classes = np.zeros((4, 5), dtype=dtype)
    classes[0, :2] = 1  # 2 of 20 voxels: fraction 0.1
    weights = balanced_weights(classes, 2)
    assert weights.dtype == np.float32
    np.testing.assert_allclose(weights[0, :2], 1 / (2 * 0.1))
    np.testing.assert_allclose(weights[classes == 0], 1 / (2 * 0.9))
    np.testing.assert_allclose(weights.sum(), 20.0)


def test_fractions_are_clipped_and_the_mask_zeroes_unannotated_voxels():
    classes = np.zeros(100, np.uint8)
    classes[0] = 1  # 1 % -> clipped to clipmin 5 %
    mask = np.ones(100, np.float32)
    mask[50:] = 0
    weights = balanced_weights(classes, 2, mask, clipmin=0.05, clipmax=0.95)
    assert weights[0] == pytest.approx(1 / (2 * 0.05))
    assert weights[1] == pytest.approx(1 / (2 * 0.95))
    assert (weights[50:] == 0).all()


def test_no_annotated_voxel_gives_zero_weights_and_bad_clips_are_refused():
    assert (balanced_weights(np.ones(5, np.uint8), 2, np.zeros(5)) == 0).all()
    with pytest.raises(ValueError, match="clipmin"):
        balanced_weights(np.ones(5, np.uint8), 2, clipmin=0.6, clipmax=0.5)
