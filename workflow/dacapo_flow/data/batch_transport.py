"""Batches from loader workers to the training process through shared memory.

A multiprocessing queue pickles what it carries and pushes it through a pipe: for a DaCapo-size
batch (196³ raw and 104³ targets, batch 2: 87 MB) that costs ~0.4 s, more than computing it.
A large batch is therefore written once into a POSIX shared-memory segment by the worker, and
the queue carries only its name and layout. The receiver maps the segment and removes its name
at once: its arrays are views of that mapping, with no copy, and the memory goes back to the
system when the last of them is garbage. A segment a crash leaves behind (written, never
received) is removed by multiprocessing's resource tracker, which spawned workers share with
their parent. Small batches, platforms without /dev/shm (macOS), and any batch when /dev/shm
lacks room (a container's default 64 MB, where writing past it would kill the worker with
SIGBUS) go through the pipe.
"""

from __future__ import annotations

import mmap
import os
from multiprocessing import resource_tracker, shared_memory

import numpy as np

SHARED_MIN_BYTES = 1 << 20  # below this the pipe is as fast
_ALIGN = 64
_SHM_DIR = "/dev/shm"


def _free_shared_bytes() -> int | None:
    """Free bytes of /dev/shm, or None where the platform has none (SharedMemory names are
    files there on Linux)."""
    try:
        stats = os.statvfs(_SHM_DIR)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def pack(batch: dict[str, np.ndarray], min_bytes: int = SHARED_MIN_BYTES) -> tuple:
    """What a worker puts on the queue for `batch` (a dict of arrays)."""
    arrays = {key: np.ascontiguousarray(value) for key, value in batch.items()}
    layout, size = [], 0
    for key, array in arrays.items():
        layout.append((key, array.dtype.str, array.shape, size))
        size += -(-array.nbytes // _ALIGN) * _ALIGN
    free = _free_shared_bytes()
    if size < min_bytes or free is None or free < 2 * size:
        return ("pickled", arrays)
    segment = shared_memory.SharedMemory(create=True, size=size)
    try:
        for key, dtype, shape, offset in layout:
            view = np.ndarray(shape, dtype, buffer=segment.buf, offset=offset)
            view[...] = arrays[key]
            del view  # the segment cannot close while a view of it exists
    except BaseException:
        segment.close()
        segment.unlink()
        raise
    segment.close()
    return ("shared", segment.name, layout)


def _claim(name: str) -> mmap.mmap:
    """Map the segment `name` and remove its name (and the resource tracker's record)."""
    path = os.path.join(_SHM_DIR, name)
    fd = os.open(path, os.O_RDWR)
    try:
        mapped = mmap.mmap(fd, 0)
    finally:
        os.close(fd)
        os.unlink(path)
        resource_tracker.unregister("/" + name, "shared_memory")
    return mapped


def unpack(packed: tuple) -> dict[str, np.ndarray]:
    """The batch: the pickled arrays, or writable views of the worker's segment."""
    if packed[0] == "pickled":
        return packed[1]
    _, name, layout = packed
    mapped = _claim(name)
    return {
        key: np.frombuffer(mapped, dtype, count=int(np.prod(shape)), offset=offset).reshape(shape)
        for key, dtype, shape, offset in layout
    }


def discard(packed: tuple) -> None:
    """Release a packed batch nobody will read (shutdown)."""
    if packed and packed[0] == "shared":
        try:
            _claim(packed[1]).close()
        except FileNotFoundError:
            pass
