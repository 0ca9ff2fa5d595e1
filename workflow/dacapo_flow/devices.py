"""Choosing the torch device and thread count for a job."""

import os

import torch


def select_device(requested: str | None = None) -> torch.device:
    """`auto` (default, or $DACAPO_FLOW_DEVICE) takes CUDA when present, else the CPU."""
    requested = requested or os.environ.get("DACAPO_FLOW_DEVICE", "auto")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} was requested but CUDA is not available")
    return device


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)
