import json
import os

import numpy as np
import pytest
import torch
import xarray as xr

from dacapo_flow.store.atomic import (
    atomic_torch_save,
    atomic_write,
    atomic_write_json,
    atomic_write_netcdf,
)


def test_atomic_write_creates_parent_dirs_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "a" / "b" / "result.bin"
    returned = atomic_write(target, lambda f: f.write(b"hello"))
    assert returned == target
    assert target.read_bytes() == b"hello"
    assert os.listdir(target.parent) == ["result.bin"]


def test_failure_mid_write_keeps_the_old_file_and_removes_the_temp_file(tmp_path):
    # DaCapo wrote checkpoints with a plain open("wb"): a crash left a truncated file.
    target = tmp_path / "checkpoint"
    target.write_bytes(b"old complete content")

    def half_write(file):
        file.write(b"new but incompl")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_write)
    assert target.read_bytes() == b"old complete content"
    assert os.listdir(tmp_path) == ["checkpoint"]


def test_interrupt_mid_write_also_cleans_up(tmp_path):
    target = tmp_path / "out.json"

    def interrupted(file):
        file.write(b"{")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, interrupted)
    assert os.listdir(tmp_path) == []


def test_written_file_gets_normal_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    target = atomic_write(tmp_path / "f", lambda f: f.write(b"x"))
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_atomic_write_json_writes_strict_json_with_numpy_values(tmp_path):
    target = tmp_path / "best.json"
    atomic_write_json(
        target,
        {"iteration": np.int64(20), "score": np.float32(0.5), "nan": float("nan"), "p": (1, 2)},
    )
    text = target.read_text()
    assert "NaN" not in text
    assert json.loads(text) == {"iteration": 20, "score": 0.5, "nan": None, "p": [1, 2]}


def test_atomic_write_json_replaces_an_existing_file(tmp_path):
    target = tmp_path / "x.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}


def test_atomic_torch_save_loads_with_weights_only(tmp_path):
    target = tmp_path / "ckpt"
    atomic_torch_save({"w": torch.arange(3)}, target)
    loaded = torch.load(target, weights_only=True)
    assert torch.equal(loaded["w"], torch.arange(3))


def test_atomic_write_netcdf_round_trips(tmp_path):
    data = xr.DataArray(
        np.arange(6.0).reshape(2, 3),
        dims=("iterations", "criteria"),
        coords={"iterations": [10, 20], "criteria": ["a", "b", "c"]},
        name="scores",
    )
    target = tmp_path / "scores.nc"
    atomic_write_netcdf(data, target)
    back = xr.load_dataarray(target, engine="h5netcdf")
    xr.testing.assert_identical(back, data)
    atomic_write_netcdf(data.to_dataset(), tmp_path / "ds.nc")
    assert "scores" in xr.load_dataset(tmp_path / "ds.nc", engine="h5netcdf")
