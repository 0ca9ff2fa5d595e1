import pickle

import numpy as np
import pytest

from dacapo_flow.data.augment import build_augment

SHAPE = (6, 10, 10)


def positional_crop(shape=SHAPE):
    """gt whose every voxel is unique, raw and mask derived from it voxel by voxel, so that
    any geometric augment that moves all three together keeps raw == f(gt), mask == g(gt)."""
    gt = np.arange(1, np.prod(shape) + 1, dtype=np.uint32).reshape(shape)
    raw = (gt / gt.max()).astype(np.float32)
    mask = (gt % 2).astype(np.float32)
    return raw, gt, mask


def assert_moved_together(raw, gt, mask, max_label):
    np.testing.assert_allclose(raw, gt / max_label, rtol=1e-6)
    np.testing.assert_array_equal(mask, gt % 2)


@pytest.mark.parametrize(
    "configs",
    [
        [{"type": "mirror", "p": 1.0}],
        [{"type": "transpose", "p": 1.0}],
        [{"type": "mirror", "p": 0.5}, {"type": "transpose", "p": 0.5}],
    ],
)
def test_geometric_augments_move_raw_gt_and_mask_together(configs):
    augment = build_augment(configs)
    raw, gt, mask = positional_crop()
    changed = 0
    for seed in range(20):
        out_raw, out_gt, out_mask = augment(raw, gt, mask, np.random.default_rng(seed))
        assert out_raw.shape == out_gt.shape == out_mask.shape == SHAPE
        assert_moved_together(out_raw, out_gt, out_mask, gt.max())
        changed += not np.array_equal(out_gt, gt)
    assert changed > 5


def test_mirror_with_p_one_flips_every_axis():
    raw, gt, mask = positional_crop()
    out_raw, out_gt, _ = build_augment([{"type": "mirror", "p": 1.0}])(
        raw, gt, mask, np.random.default_rng(0)
    )
    np.testing.assert_array_equal(out_gt, gt[::-1, ::-1, ::-1])
    np.testing.assert_array_equal(out_raw, raw[::-1, ::-1, ::-1])


def test_transpose_only_swaps_axes_of_equal_size():
    raw, gt, mask = positional_crop()
    augment = build_augment([{"type": "transpose", "p": 1.0}])
    outcomes = set()
    for seed in range(20):
        _, out_gt, _ = augment(raw, gt, mask, np.random.default_rng(seed))
        # z (size 6) never moves: each z-slice keeps its own set of labels.
        for z in range(SHAPE[0]):
            assert set(out_gt[z].ravel()) == set(gt[z].ravel())
        outcomes.add(out_gt.tobytes())
    assert len(outcomes) == 2  # identity and the y/x swap


def test_elastic_warps_consistently_with_nearest_labels():
    shape = (24, 24, 24)
    gt = np.zeros(shape, np.uint32)
    gt[:, :12] = 1
    gt[:, 12:, :12] = 2
    gt[:, 12:, 12:] = 3
    raw = (gt / 3).astype(np.float32)
    mask = (gt == 2).astype(np.float32)
    augment = build_augment(
        [{"type": "elastic", "control_point_spacing": [6, 6, 6], "sigma": [2, 2, 2], "p": 1.0}]
    )

    out_raw, out_gt, out_mask = augment(raw, gt, mask, np.random.default_rng(0))

    assert out_raw.dtype == np.float32 and out_gt.dtype == np.uint32
    assert not np.array_equal(out_gt, gt)
    assert set(np.unique(out_gt)) <= {1, 2, 3}  # nearest neighbour: no invented labels
    np.testing.assert_array_equal(out_mask, out_gt == 2)
    # Raw is interpolated linearly, so it agrees with the labels away from label borders.
    agree = np.isclose(out_raw, out_gt / 3, atol=1e-5)
    assert agree.mean() > 0.8


def test_intensity_augments_change_raw_only_and_stay_in_range():
    raw, gt, mask = positional_crop()
    configs = [
        {"type": "intensity", "scale": [0.5, 1.5], "shift": [-0.3, 0.3], "p": 1.0},
        {"type": "gamma", "range": [0.5, 2.0], "p": 1.0},
        {"type": "noise", "sigma": 0.2, "p": 1.0},
    ]
    out_raw, out_gt, out_mask = build_augment(configs)(
        raw.copy(), gt.copy(), mask.copy(), np.random.default_rng(1)
    )
    assert out_raw.dtype == np.float32
    assert not np.allclose(out_raw, raw)
    assert 0 <= out_raw.min() and out_raw.max() <= 1
    np.testing.assert_array_equal(out_gt, gt)
    np.testing.assert_array_equal(out_mask, mask)


def test_same_rng_seed_gives_identical_results_and_pipeline_pickles():
    configs = [
        {"type": "mirror"},
        {"type": "transpose"},
        {"type": "intensity"},
        {"type": "gamma"},
        {"type": "noise"},
        {"type": "elastic", "control_point_spacing": [4, 4, 4], "sigma": [1, 1, 1]},
    ]
    augment = build_augment(configs)
    copy = pickle.loads(pickle.dumps(augment))
    raw, gt, mask = positional_crop()

    first = augment(raw, gt, mask, np.random.default_rng([7, 3]))
    second = copy(raw, gt, mask, np.random.default_rng([7, 3]))
    third = augment(raw, gt, mask, np.random.default_rng([7, 4]))

    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], third[0])


def test_probability_zero_is_identity_and_mask_may_be_none():
    raw, gt, _ = positional_crop()
    configs = [{"type": t, "p": 0.0} for t in ("mirror", "transpose", "noise", "elastic")]
    out_raw, out_gt, out_mask = build_augment(configs)(raw, gt, None, np.random.default_rng(0))
    np.testing.assert_array_equal(out_raw, raw)
    np.testing.assert_array_equal(out_gt, gt)
    assert out_mask is None


def test_bad_configs_are_refused_by_name():
    with pytest.raises(ValueError, match="'blur'"):
        build_augment([{"type": "blur"}])
    with pytest.raises(ValueError, match="augments.0.: sigmaa: Extra inputs"):
        build_augment([{"type": "noise", "sigmaa": 0.1}])
    with pytest.raises(ValueError, match="augments.0.: p: Input should be less than or equal to 1"):
        build_augment([{"type": "mirror", "p": 2}])
    raw, gt, _ = positional_crop()
    with pytest.raises(ValueError, match="same spatial shape|one spatial shape"):
        build_augment([])(raw, gt[:3], None, np.random.default_rng(0))


def test_augments_build_from_config_objects_and_clip_is_reachable():
    from dacapo_flow.config.augments import IntensityAugment, NoiseAugment

    raw = np.full((6, 6, 6), 0.95, np.float32)
    shifted = IntensityAugment(scale=(1.0, 1.0), shift=(0.2, 0.2), clip=False)
    out, _, _ = build_augment([shifted])(raw, None, None, np.random.default_rng(0))
    np.testing.assert_allclose(out, 1.15, rtol=1e-6)
    clipped = IntensityAugment(scale=(1.0, 1.0), shift=(0.2, 0.2))
    out, _, _ = build_augment([clipped])(raw, None, None, np.random.default_rng(0))
    assert out.max() == 1.0
    noisy = NoiseAugment(sigma=1.0, p=1.0, clip=False)
    out, _, _ = build_augment([noisy])(raw, None, None, np.random.default_rng(0))
    assert out.max() > 1.0 or out.min() < 0.0


def test_augment_checks_come_from_the_configs():
    with pytest.raises(ValueError, match="augment 'gamma': range: \\[0.0, 1.0\\] must be positive"):
        build_augment([{"type": "gamma", "range": [0.0, 1.0]}])


def test_elastic_keeps_uint64_ids_exact_and_matches_nearest_interpolation():
    from scipy import ndimage

    from dacapo_flow.data.augment import _nearest_mirrored

    top = 2**64 - 1
    gt = np.full((8, 8, 8), top - 1, np.uint64)
    gt[:4] = top
    elastic = {"type": "elastic", "p": 1.0, "control_point_spacing": [4, 4, 4], "sigma": [2.0] * 3}
    raw = np.zeros(gt.shape, np.float32)
    _, out, _ = build_augment([elastic])(raw, gt, None, np.random.default_rng(0))
    assert out.dtype == np.uint64 and set(np.unique(out).tolist()) == {top - 1, top}
    rng = np.random.default_rng(1)
    small = rng.integers(0, 200, (7, 9, 5)).astype(np.uint8)
    coords = np.indices(small.shape, dtype=np.float32) + rng.normal(
        scale=3, size=(3, *small.shape)
    ).astype(np.float32)
    expected = ndimage.map_coordinates(small, coords, order=0, mode="mirror")
    np.testing.assert_array_equal(small[_nearest_mirrored(coords, small.shape)], expected)


def test_transpose_keeps_the_section_axis_of_anisotropic_voxels():
    """A 8^3 crop of 40 x 8 x 8 nm voxels: z never swaps with y or x, y and x still do."""
    augment = build_augment([{"type": "transpose", "p": 1.0}])
    raw = np.arange(8**3, dtype=np.float32).reshape(8, 8, 8)
    swapped = False
    for seed in range(20):
        out, _, _ = augment(raw, None, None, np.random.default_rng(seed), (40, 8, 8))
        np.testing.assert_array_equal(np.sort(out[0].ravel()), np.sort(raw[0].ravel()))
        swapped |= not np.array_equal(out, raw)
    assert swapped
