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


def data_workers(setting: int | str, threads: int | None = None, device=None) -> int:
    """Background batch processes for `setting` (an int, or "auto"). auto: one process per
    thread the job was given beyond the main one (`threads`, default torch's thread count),
    and at least one when a GPU waits for the batches. Batches are a function of the
    iteration alone, so the count never changes the training."""
    if setting != "auto":
        return int(setting)
    threads = threads or torch.get_num_threads()
    least = 1 if device is not None and torch.device(device).type == "cuda" else 0
    return max(least, threads - 1)


def configure_backends(trainer, device: torch.device) -> None:
    """Apply the trainer's reproducibility and speed switches to torch's global backends."""
    if trainer.deterministic:
        # cuBLAS needs a fixed workspace to be deterministic; it is read at CUDA init.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        # warn_only: the U-Net's MaxPool3d / nearest-Upsample backward have no deterministic
        # CUDA kernel; torch names them in a warning instead of stopping the training.
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = bool(trainer.cudnn_benchmark)


AUTOCAST_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def autocast(device: torch.device, precision: str):
    """The forward pass's autocast context: disabled for float32 (no cast at all)."""
    dtype = AUTOCAST_DTYPES.get(precision)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def memory_format(ndim: int):
    """channels-last layout for a batch of `ndim` dims (5: 3D, 4: 2D), else contiguous."""
    return {5: torch.channels_last_3d, 4: torch.channels_last}.get(ndim, torch.contiguous_format)


def to_device(array, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    """A batch array on `device`: through pinned memory and an asynchronous copy for CUDA,
    so the copy overlaps the previous step's kernels."""
    tensor = torch.as_tensor(array)
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    tensor = tensor.to(device, non_blocking=True)
    if channels_last:
        tensor = tensor.contiguous(memory_format=memory_format(tensor.ndim))
    return tensor
