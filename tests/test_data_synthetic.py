import numpy as np
import pytest
import zarr
from funlib.geometry import Coordinate

from dacapo_flow.data.arrays import open_array
from dacapo_flow.data.synthetic import MITO, NUCLEUS, write_synthetic_dataset

DATASETS = {"raw": np.uint8, "labels": np.uint8, "instances": np.uint32, "mask": np.uint8}


def read_all(container):
    arrays = {name: open_array(container, name) for name in DATASETS}
    return {name: array.read(array.roi) for name, array in arrays.items()}, arrays


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("synthetic"), seed=3)


def test_writes_three_containers_with_four_arrays_each(written):
    assert sorted(written) == ["train_0", "train_1", "validate_0"]
    for name, container in written.items():
        assert container.name == f"{name}.zarr"
        _, arrays = read_all(container)
        for dataset, dtype in DATASETS.items():
            array = arrays[dataset]
            assert array.dtype == dtype
            assert array.shape == Coordinate(64, 64, 64)
            assert array.voxel_size == Coordinate(8, 8, 8)
            assert array.roi == arrays["raw"].roi
        assert all(o > 0 for o in arrays["raw"].offset)
        # Geometry comes from OME-NGFF on the container's root group.
        assert len(zarr.open_group(str(container), mode="r").attrs["multiscales"]) == 4
    assert open_array(written["train_0"], "raw").offset == Coordinate(80, 160, 240)


def test_labels_instances_and_mask_are_consistent(written):
    for name, container in written.items():
        data, _ = read_all(container)
        labels, instances, mask = data["labels"], data["instances"], data["mask"]
        assert set(np.unique(labels)) == {0, 1, 2, 3}, name
        np.testing.assert_array_equal(labels > 0, instances > 0)
        for instance in np.unique(instances)[1:]:
            assert len(np.unique(labels[instances == instance])) == 1  # one class per object
        assert len(np.unique(instances[labels == MITO])) > 3  # several separate mitos
        assert len(np.unique(instances[labels == NUCLEUS])) == 1
        assert set(np.unique(mask)) <= {0, 1}
        if name.startswith("train"):
            assert 0.5 < mask.mean() < 1  # an unannotated slab at one border
        else:
            assert mask.min() == 1


def test_raw_intensity_depends_on_class(written):
    data, _ = read_all(written["train_0"])
    raw, labels = data["raw"].astype(float), data["labels"]
    means = [raw[labels == c].mean() for c in range(4)]
    # Background brightest, then nucleus, then mito, ER darkest: separable by a small network.
    assert means[0] > means[3] + 20 > means[1] + 40 > means[2] + 50
    assert raw.std() > 0 and raw[labels == 0].std() > 3  # noisy, not piecewise constant


def test_deterministic_for_a_seed_and_idempotent(tmp_path):
    small = (32, 32, 32)
    first = write_synthetic_dataset(tmp_path / "a", seed=3, shape=small)
    write_synthetic_dataset(tmp_path / "b", seed=3, shape=small, zarr_format=3)
    rewritten = write_synthetic_dataset(tmp_path / "b", seed=3, shape=small)  # v3 -> v2 in place
    other_seed = write_synthetic_dataset(tmp_path / "c", seed=4, shape=small)
    for name in first:
        expected, _ = read_all(first[name])
        actual, _ = read_all(rewritten[name])
        for dataset in DATASETS:
            np.testing.assert_array_equal(actual[dataset], expected[dataset])
        different, _ = read_all(other_seed[name])
        assert not np.array_equal(different["raw"], expected["raw"])


def test_custom_shape_and_voxel_size(tmp_path):
    written = write_synthetic_dataset(tmp_path, shape=(16, 24, 32), voxel_size=(4, 2, 2))
    raw = open_array(written["validate_0"], "raw")
    assert raw.shape == Coordinate(16, 24, 32)
    assert raw.voxel_size == Coordinate(4, 2, 2)
    assert raw.offset == Coordinate(30, 20, 10) * Coordinate(4, 2, 2)
