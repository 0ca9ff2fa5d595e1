import pickle

import numpy as np
import pytest
from funlib.geometry import Coordinate

from dacapo_flow.data.arrays import create_array, write_array
from dacapo_flow.data.augment import build_augment
from dacapo_flow.data.sampling import BatchSampler, SamplerDataset

VOXEL = (2, 2, 2)
RAW_SHAPE = (36, 36, 36)  # 46656 voxels: every one gets a unique uint16 code
INPUT, OUTPUT = (16, 16, 16), (8, 8, 8)
CONTEXT = 4


def gt_and_weight(gt, mask, voxel_size):
    """Target = gt codes as float (exact below 2**24); weight = mask or ones."""
    target = gt.astype(np.float32)[np.newaxis]
    weight = np.ones_like(target) if mask is None else mask[np.newaxis]
    return target, weight


def raw_codes(raw_batch):
    """Undo the uint16 normalisation: the 1-based linear voxel index of raw, 0 = padding."""
    return np.rint(raw_batch * 65535).astype(np.int64)


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    """raw: uint16 whose value is 1 + the linear voxel index (position code), offset (8,8,8);
    gt: the same codes over a smaller, shifted ROI; mask: zero in the upper half of x."""
    path = tmp_path_factory.mktemp("sampling") / "v.zarr"
    codes = np.arange(1, np.prod(RAW_SHAPE) + 1).reshape(RAW_SHAPE)
    raw = write_array(path, "raw", codes.astype(np.uint16), VOXEL, (8, 8, 8))
    gt_region = (slice(6, 30),) * 3  # raw voxels 6..29 -> world 20..68
    gt = write_array(path, "gt", codes[gt_region].astype(np.uint32), VOXEL, (20, 20, 20))
    mask_data = np.ones(codes[gt_region].shape, np.uint8)
    mask_data[:, :, 12:] = 0
    mask = write_array(path, "mask", mask_data, VOXEL, (20, 20, 20))
    full_gt = write_array(path, "full_gt", codes.astype(np.uint32), VOXEL, (8, 8, 8))
    return {"raw": raw, "gt": gt, "mask": mask, "full_gt": full_gt, "codes": codes}


def make_sampler(datasets, batch_size=4, seed=1, augment=None, **kwargs):
    return BatchSampler(datasets, INPUT, OUTPUT, batch_size, seed, gt_and_weight, augment, **kwargs)


def check_alignment(raw_codes_crop, target):
    """The output window is the centre of the input window, and both show the same voxels."""
    centre = raw_codes_crop[(slice(CONTEXT, CONTEXT + 8),) * 3]
    np.testing.assert_array_equal(centre, target.astype(np.int64))


def test_batch_shapes_and_dtypes(volume):
    batch = make_sampler([SamplerDataset(volume["raw"], volume["gt"], volume["mask"])]).sample(0)
    assert set(batch) == {"raw", "target", "weight"}
    assert batch["raw"].shape == (4, 1, *INPUT)
    assert batch["target"].shape == batch["weight"].shape == (4, 1, *OUTPUT)
    assert all(v.dtype == np.float32 for v in batch.values())
    assert 0 <= batch["raw"].min() and batch["raw"].max() <= 1


def test_windows_are_aligned_inside_gt_and_overlap_the_mask(volume):
    sampler = make_sampler([SamplerDataset(volume["raw"], volume["gt"], volume["mask"])])
    gt_codes = set(np.unique(volume["gt"].read(volume["gt"].roi)))
    masked_x = set()
    for iteration in range(25):
        batch = sampler.sample(iteration)
        for raw, target, weight in zip(batch["raw"], batch["target"], batch["weight"]):
            codes = raw_codes(raw[0])
            check_alignment(codes, target[0])
            assert set(np.unique(target)) <= gt_codes  # output window inside gt
            assert weight[0].max() == 1  # the window holds an annotated voxel
            masked_x.add(int(weight[0].sum(axis=(0, 1)).min() == 0))
    assert masked_x == {0, 1}  # windows do reach into the unmasked region


def test_input_window_outside_raw_is_zero_padded(volume):
    # gt covers all of raw, so windows at the border need context from outside raw.
    sampler = make_sampler([SamplerDataset(volume["raw"], volume["full_gt"])], batch_size=8)
    padded = 0
    for iteration in range(10):
        batch = sampler.sample(iteration)
        for raw, target in zip(batch["raw"], batch["target"]):
            codes = raw_codes(raw[0])
            check_alignment(codes, target[0])
            # Reconstruct where the window sits from its centre and compare every voxel.
            first = int(target[0, 0, 0, 0]) - 1
            begin = np.array(np.unravel_index(first, RAW_SHAPE)) - CONTEXT
            index = np.indices(INPUT) + begin[:, None, None, None]
            inside = ((index >= 0) & (index < np.array(RAW_SHAPE)[:, None, None, None])).all(0)
            expected = np.where(
                inside, np.ravel_multi_index(np.clip(index, 0, 35), RAW_SHAPE) + 1, 0
            )
            np.testing.assert_array_equal(codes, expected)
            padded += not inside.all()
    assert padded > 0


def test_sample_depends_only_on_seed_and_iteration(volume):
    augment = build_augment([{"type": "mirror"}, {"type": "transpose"}, {"type": "noise"}])
    dataset = SamplerDataset(volume["raw"], volume["gt"], volume["mask"])
    sampler = make_sampler([dataset], augment=augment)
    fresh = pickle.loads(pickle.dumps(make_sampler([dataset], augment=augment)))

    later = sampler.sample(7)
    sampler.sample(3)  # no hidden state between calls

    for key, value in fresh.sample(7).items():
        np.testing.assert_array_equal(value, later[key])
        np.testing.assert_array_equal(value, sampler.sample(7)[key])
    assert not np.array_equal(sampler.sample(8)["raw"], later["raw"])
    assert not np.array_equal(make_sampler([dataset], seed=2).sample(7)["raw"], later["raw"])


def test_geometric_augments_keep_raw_and_target_aligned(volume):
    augment = build_augment([{"type": "mirror", "p": 1.0}, {"type": "transpose", "p": 1.0}])
    sampler = make_sampler(
        [SamplerDataset(volume["raw"], volume["gt"], volume["mask"])], augment=augment
    )
    for iteration in range(5):
        batch = sampler.sample(iteration)
        for raw, target, weight in zip(batch["raw"], batch["target"], batch["weight"]):
            check_alignment(raw_codes(raw[0]), target[0])
            first = int(target[0, 0, 0, 0])
            assert first > int(target[0, -1, -1, -1])  # every axis mirrored
            assert weight[0].max() == 1  # an annotated voxel, wherever mirroring put it


def test_datasets_are_chosen_by_weight(volume, tmp_path):
    codes = volume["codes"][(slice(6, 30),) * 3]
    other_gt = write_array(
        tmp_path / "o.zarr", "gt", (codes + 10**6).astype(np.uint32), VOXEL, (20,) * 3
    )
    datasets = [
        SamplerDataset(volume["raw"], volume["gt"], weight=3.0),
        SamplerDataset(volume["raw"], other_gt, weight=1.0),
    ]
    sampler = BatchSampler(datasets, (2, 2, 2), (2, 2, 2), 50, 0, gt_and_weight)
    picks = np.concatenate([sampler.sample(i)["target"][:, 0, 0, 0, 0] for i in range(8)])
    share_of_other = float(np.mean(picks > 10**6))
    assert 0.15 < share_of_other < 0.35


def test_raw_normalisation_range(volume):
    dataset = SamplerDataset(volume["raw"], volume["gt"], raw_min=0, raw_max=65535 / 2)
    sampler = BatchSampler([dataset], OUTPUT, OUTPUT, 1, 0, gt_and_weight)
    batch = sampler.sample(0)
    np.testing.assert_allclose(batch["raw"][0, 0] * 65535 / 2, batch["target"][0, 0], rtol=1e-5)


def test_clear_errors(volume, tmp_path):
    empty_mask = write_array(
        tmp_path / "m.zarr", "mask", np.zeros((24,) * 3, np.uint8), VOXEL, (20,) * 3
    )
    with pytest.raises(RuntimeError, match=r"v\.zarr/gt.*no output window.*m\.zarr/mask"):
        make_sampler([SamplerDataset(volume["raw"], volume["gt"], empty_mask)])

    coarse = write_array(
        tmp_path / "c.zarr", "gt", np.zeros((4,) * 3, np.uint32), (4, 4, 4), (20,) * 3
    )
    with pytest.raises(ValueError, match="voxel size"):
        SamplerDataset(volume["raw"], coarse)

    tiny = write_array(tmp_path / "t.zarr", "gt", np.zeros((4,) * 3, np.uint32), VOXEL, (20,) * 3)
    with pytest.raises(RuntimeError, match="smaller than the output shape"):
        make_sampler([SamplerDataset(volume["raw"], tiny)]).sample(0)

    with pytest.raises(ValueError, match="even number"):
        BatchSampler(
            [SamplerDataset(volume["raw"], volume["gt"])], (9, 9, 9), OUTPUT, 1, 0, gt_and_weight
        )


def test_memory_stays_flat_on_huge_lazily_chunked_volumes(tmp_path):
    """4096^3 voxels (64 GiB per array if read whole): sampling must only read crops."""
    path = tmp_path / "huge.zarr"
    shape, chunks = (4096,) * 3, (64,) * 3
    raw = create_array(path, "raw", shape, "uint8", (8, 8, 8), (0, 0, 0), chunks, fill_value=128)
    gt = create_array(path, "gt", shape, "uint32", (8, 8, 8), (0, 0, 0), chunks, fill_value=5)
    # No mask: indexing a mask scans it once, which a 4096^3 one would take minutes to do.
    sampler = make_sampler([SamplerDataset(raw, gt)], batch_size=2)

    batch = sampler.sample(0)

    assert batch["raw"].shape == (2, 1, *INPUT)
    assert batch["target"].min() == 5 and batch["weight"].min() == 1
    assert Coordinate(batch["raw"].shape[2:]) == Coordinate(INPUT)


def test_sparse_mask_windows_always_hold_annotated_voxels(tmp_path):
    """One annotated section of 1 % of a volume: every window trains on it, no rejection."""
    shape = (100, 40, 40)
    raw = write_array(tmp_path / "s.zarr", "raw", np.zeros(shape, np.uint8), VOXEL, (0,) * 3)
    gt = write_array(tmp_path / "s.zarr", "gt", np.zeros(shape, np.uint32), VOXEL, (0,) * 3)
    mask_data = np.zeros(shape, np.uint8)
    mask_data[37, 5:30, 10:12] = 1
    mask = write_array(tmp_path / "s.zarr", "mask", mask_data, VOXEL, (0,) * 3)
    sampler = make_sampler([SamplerDataset(raw, gt, mask)], batch_size=8)
    assert len(sampler.annotated[0]) == 50
    seen = set()
    for iteration in range(10):
        weight = sampler.sample(iteration)["weight"]
        assert (weight.reshape(8, -1).max(axis=1) == 1).all()
        seen.update(int(z) for z in np.argwhere(weight[:, 0].max(axis=(2, 3)) > 0)[:, 1])
    assert len(seen) > 1  # the section lands at different depths of the window
    again = make_sampler([SamplerDataset(raw, gt, mask)], batch_size=8)
    np.testing.assert_array_equal(again.sample(3)["weight"], sampler.sample(3)["weight"])


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_from_config_normalises_by_recorded_percentiles(tmp_path, dtype):
    from dacapo_flow.config.datasplits import RawGTDatasetConfig

    values = (np.arange(16**3) % 201).reshape((16,) * 3).astype(dtype)
    write_array(tmp_path / "d.zarr", "raw", values, VOXEL, (0,) * 3)
    write_array(tmp_path / "d.zarr", "gt", np.zeros((16,) * 3, np.uint8), VOXEL, (0,) * 3)
    config = RawGTDatasetConfig(
        name="d",
        raw={"path": tmp_path / "d.zarr", "dataset": "raw", "percentiles": [0, 100]},
        gt={"path": tmp_path / "d.zarr", "dataset": "gt"},
    )
    record = tmp_path / "normalisation.json"
    dataset = SamplerDataset.from_config(config, record)
    assert (dataset.raw_min, dataset.raw_max) == (0.0, 200.0) and record.is_file()
    assert dataset.read_raw(dataset.raw.roi).max() == 1.0


def test_small_arrays_are_kept_in_memory_smallest_first_within_the_budget(volume):
    dataset = SamplerDataset(volume["raw"], volume["gt"], volume["mask"])
    budget = volume["mask"].nbytes + volume["gt"].nbytes  # raw (the largest) does not fit
    sampler = make_sampler([dataset], memory_budget=budget)
    kept = sampler.datasets[0]
    assert (kept.mask.resident, kept.gt.resident, kept.raw.resident) == (True, True, False)
    assert not dataset.gt.resident  # the caller's arrays are left as they were
    on_disk = make_sampler([dataset], memory_budget=0)
    assert not on_disk.datasets[0].mask.resident
    for i in range(3):
        a, b = sampler.sample(i), on_disk.sample(i)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize("augmented", [False, True])
def test_target_context_shows_gt_around_the_window_and_crops_back(volume, augmented):
    """Targets that need surroundings (LSDs) see gt beyond the output window, wider than the
    input context too; the batch still holds the output window, aligned with raw, and gt
    outside its array is unannotated."""
    seen = []

    def record(gt, mask, voxel_size):
        seen.append((gt.copy(), None if mask is None else mask.copy()))
        return gt_and_weight(gt, mask, voxel_size)

    extra = (6, 6, 6)  # wider than the input context of 4
    augment = build_augment([{"type": "mirror"}]) if augmented else None
    sampler = BatchSampler(
        [SamplerDataset(volume["raw"], volume["gt"])],
        INPUT,
        OUTPUT,
        8,
        3,
        record,
        augment,
        target_context=lambda voxel_size: extra,
    )
    batch = sampler.sample(0)
    assert batch["target"].shape == (8, 1, *OUTPUT)
    for (gt, mask), raw, target in zip(seen, batch["raw"], batch["target"]):
        assert gt.shape == tuple(o + 2 * e for o, e in zip(OUTPUT, extra))
        np.testing.assert_array_equal(gt[6:14, 6:14, 6:14], target[0])
        check_alignment(raw_codes(raw[0]), target[0])
        assert mask is not None and np.array_equal(mask > 0, gt > 0)  # outside the array: 0
