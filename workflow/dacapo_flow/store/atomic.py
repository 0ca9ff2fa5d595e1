"""Atomic file writes: a reader sees either the old file or the complete new one, never a part.

Every result file of the workflow (checkpoints, best JSONs, stats, scores) is written through
these helpers. A Snakemake job killed mid-write (time limit, pre-emption) must not leave a
truncated checkpoint that a later job would take for a finished one.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

# mkstemp creates files with mode 0600; give results the permissions a plain open() would.
# Reading the umask means setting it, so do it once at import time (single-threaded then).
_UMASK = os.umask(0)
os.umask(_UMASK)


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself: without this a crash can forget the new directory entry."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # platforms that cannot open directories (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on directories; the data is synced
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write_fn: Callable[[BinaryIO], Any]) -> Path:
    """Write `path` atomically: `write_fn(file)` fills a temporary file in the same directory,
    which is flushed, fsynced and renamed over `path`; then the directory is fsynced.

    `write_fn` receives the temporary file opened binary read-write ("w+b"). If it raises, the
    temporary file is removed and an existing `path` is left untouched. Returns `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hidden, ".tmp"-suffixed name: never mistaken for a checkpoint iteration or a result.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w+b") as file:  # h5py reads back while writing
            write_fn(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path


def _json_default(obj: Any) -> Any:
    """Encode numpy scalars/arrays and paths, which results often carry, as plain JSON."""
    if hasattr(obj, "tolist"):  # numpy scalars and arrays, torch tensors
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serialisable: {obj!r}")


def _replace_non_finite(obj: Any) -> Any:
    """NaN/inf are not JSON; write them as null so every reader (jq, JS, Snakemake) copes."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {key: _replace_non_finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_replace_non_finite(value) for value in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return _replace_non_finite(obj.tolist())
    return obj


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as indented, strictly valid JSON (non-finite floats become null)."""
    text = json.dumps(_replace_non_finite(obj), indent=2, default=_json_default, allow_nan=False)
    return atomic_write(path, lambda file: file.write((text + "\n").encode("utf-8")))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """`torch.save(obj, path)`, atomically (same argument order as torch.save)."""
    import torch

    return atomic_write(path, lambda file: torch.save(obj, file))


def atomic_write_netcdf(data: Any, path: str | os.PathLike) -> Path:
    """Write an xarray DataArray or Dataset to netCDF-4 (engine h5netcdf), atomically."""
    return atomic_write(path, lambda file: data.to_netcdf(file, engine="h5netcdf"))
