import json

import numpy as np
import pytest

from dacapo_flow.data.arrays import write_array
from dacapo_flow.data.intensity import (
    nan_problem,
    percentile_range,
    recorded_range,
    scan_intensities,
)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32", "int32"])
def test_percentiles_of_every_raw_dtype(tmp_path, dtype):
    values = np.arange(1000).reshape(10, 10, 10) % 200  # 0..199, five of each
    array = write_array(tmp_path / "r.zarr", "raw", values.astype(dtype), (40, 8, 8), (0, 0, 0))
    low, high = percentile_range(array, 1, 99)
    assert (low, high) == (1.0, 197.0)
    # Slabs of one section give the same answer (histogram and sample are slab-independent).
    assert scan_intensities(array, slab_voxels=100).percentiles(1, 99) == (1.0, 197.0)


def test_nan_is_found_and_named(tmp_path):
    data = np.zeros((4, 4, 4), np.float32)
    array = write_array(tmp_path / "r.zarr", "raw", data, (1, 1, 1), (0, 0, 0))
    assert nan_problem(array, "raw") is None
    data[1, 2, 3] = data[0, 0, 0] = np.nan
    array = write_array(tmp_path / "r.zarr", "raw", data, (1, 1, 1), (0, 0, 0))
    assert "r.zarr/raw holds 2 NaN voxels of 64" in nan_problem(array, "raw")
    data[3, 3, 3] = -np.inf
    array = write_array(tmp_path / "r.zarr", "raw", data, (1, 1, 1), (0, 0, 0))
    assert "holds 2 NaN voxels and 1 infinite voxels of 64" in nan_problem(array, "raw")
    data[1, 2, 3] = data[0, 0, 0] = 0
    array = write_array(tmp_path / "r.zarr", "raw", data, (1, 1, 1), (0, 0, 0))
    assert "r.zarr/raw holds 1 infinite voxels of 64" in nan_problem(array, "raw")
    data[3, 3, 3] = 0
    # NaN are left out of the percentiles.
    data[2:] = 5
    array = write_array(tmp_path / "r.zarr", "raw", data, (1, 1, 1), (0, 0, 0))
    assert percentile_range(array, 0, 100) == (0.0, 5.0)


def test_a_constant_raw_has_no_percentile_range(tmp_path):
    array = write_array(tmp_path / "r.zarr", "raw", np.ones((4,) * 3, np.uint8), (1,) * 3, (0,) * 3)
    with pytest.raises(ValueError, match="constant"):
        percentile_range(array, 1, 99)


def test_the_range_is_recorded_once_and_reused(tmp_path):
    values = (np.arange(512) % 100).reshape(8, 8, 8).astype(np.uint8)
    array = write_array(tmp_path / "r.zarr", "raw", values, (1,) * 3, (0,) * 3)
    record = tmp_path / "store" / "normalisation" / "train_0.json"
    assert recorded_range(array, [0, 100], record) == (0.0, 99.0)
    stored = json.loads(record.read_text())
    assert stored["min"] == 0.0 and stored["max"] == 99.0 and stored["percentiles"] == [0, 100]
    record.write_text(json.dumps({**stored, "max": 42.0}))  # the record wins when it matches
    assert recorded_range(array, [0, 100], record) == (0.0, 42.0)
    assert recorded_range(array, [1, 99], record) == (0.0, 98.0)  # other percentiles: recomputed
