"""The random generators' states a checkpoint keeps, so a resumed run draws what it would have.

Python `random`, numpy's legacy global RNG, torch CPU and every CUDA device, captured as plain
containers and tensors (what `torch.load(weights_only=True)` reads back; numpy arrays are not).
"""

from __future__ import annotations

import logging
import random

import numpy as np
import torch

logger = logging.getLogger(__name__)


def capture_rng_states() -> dict:
    """RNG states of python `random`, numpy's legacy global RNG, torch CPU and every CUDA device,
    as plain containers and tensors (numpy arrays are not weights_only-loadable)."""
    py_version, py_state, py_gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {
        "python": {
            "version": int(py_version),
            "state": torch.tensor(py_state, dtype=torch.int64),
            "gauss_next": py_gauss,
        },
        "numpy": {
            "bit_generator": str(np_kind),
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
        "cuda": [state.cpu() for state in cuda],
    }


def restore_rng_states(states: dict) -> None:
    """Inverse of `capture_rng_states`. Missing parts are skipped; CUDA states are restored
    for as many devices as both the checkpoint and this machine have."""
    if states.get("python") is not None:
        py = states["python"]
        state = tuple(int(x) for x in py["state"].tolist())
        random.setstate((py["version"], state, py["gauss_next"]))
    if states.get("numpy") is not None:
        npy = states["numpy"]
        keys = np.asarray(npy["keys"].numpy(), dtype=np.uint32)
        np.random.set_state(
            (npy["bit_generator"], keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"])
        )
    if states.get("torch") is not None:
        torch.set_rng_state(states["torch"].to(torch.uint8))
    cuda = list(states.get("cuda") or [])
    if cuda:
        if not torch.cuda.is_available():
            logger.warning("checkpoint holds CUDA RNG states but CUDA is not available: skipped")
            return
        count = min(len(cuda), torch.cuda.device_count())
        if count != len(cuda) or count != torch.cuda.device_count():
            logger.warning(
                "checkpoint holds %d CUDA RNG states, this machine has %d devices: restoring %d",
                len(cuda),
                torch.cuda.device_count(),
                count,
            )
        for device in range(count):
            torch.cuda.set_rng_state(cuda[device].to(torch.uint8), device)
