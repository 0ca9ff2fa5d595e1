"""Shared pieces of the DaCapo import tests."""

import copy
from pathlib import Path

import numpy as np

from dacapo_flow.data.arrays import write_array


def with_data(config: dict, root: Path) -> dict:
    """`config` with every dataset pointing at a tiny real zarr (the parity data is absent)."""
    path = root / "tiny.zarr"
    if not path.exists():
        raw = np.random.default_rng(0).integers(0, 255, (80, 80, 80), dtype=np.uint8)
        # 80^3 >= the 76^3 input
        write_array(path, "raw", raw, (8, 8, 8), (0, 0, 0))
        write_array(path, "labels", (raw > 128).astype(np.uint8), (8, 8, 8), (0, 0, 0))
    config = copy.deepcopy(config)
    split = config["datasplit_config"]
    for dataset in split["train_configs"] + split["validate_configs"]:
        for key in ("raw", "gt"):
            dataset[key]["path"] = str(path)
    return config
