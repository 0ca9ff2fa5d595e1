"""Zarr arrays (v2 and v3) with voxel size and offset, read and written by world-unit ROIs.

Where the voxel size, offset and channel axis come from (OME-NGFF multiscales, plain attrs
or defaults) and how they are written is `data.metadata`'s; this module opens, creates, reads
and writes the arrays. Also: which level of an OME-NGFF multiscales pyramid has a voxel size.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import zarr
from funlib.geometry import Coordinate, Roi

from .metadata import multiscales, plain_attrs, read_geometry, write_ome_metadata


def _split_dataset(dataset: str) -> tuple[str, str]:
    """'a/b/raw' -> ('a/b', 'raw'); 'raw' -> ('', 'raw')."""
    dataset = dataset.strip("/")
    parent, _, name = dataset.rpartition("/")
    return parent, name


class ZarrArray:
    """A zarr array in world units. Holds only metadata; the zarr handle opens lazily, so
    instances pickle cheaply into worker processes."""

    def __init__(self, path, dataset: str, voxel_size, offset, shape, num_channels, dtype):
        self.path = Path(path)
        self.dataset = dataset.strip("/")
        self.voxel_size = Coordinate(voxel_size)
        self.offset = Coordinate(offset)
        self.shape = Coordinate(shape)
        self.num_channels = num_channels
        self.dtype = np.dtype(dtype)
        self.roi = Roi(self.offset, self.shape * self.voxel_size)
        self._reader = None
        self._writer = None
        self.resident = False  # read() serves crops from a copy of the whole array
        self._data = None

    def __repr__(self) -> str:
        return (
            f"ZarrArray({self.path}/{self.dataset}, roi={self.roi}, voxel_size={self.voxel_size})"
        )

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_reader"] = state["_writer"] = state["_data"] = None
        return state

    @property
    def nbytes(self) -> int:
        return int(np.prod(self._channel_shape() + tuple(self.shape))) * self.dtype.itemsize

    def kept_in_memory(self) -> ZarrArray:
        """A copy whose reads load the whole array once (per process, on first use) and then
        slice memory: for small arrays read many times, where each zarr read costs more
        than the voxels it returns."""
        kept = copy.copy(self)
        kept._reader = kept._writer = kept._data = None
        kept.resident = True
        return kept

    def _source(self):
        if not self.resident:
            return self._handle(writable=False)
        if self._data is None:
            self._data = self._handle(writable=False)[...]
        return self._data

    def _handle(self, writable: bool):
        if writable:
            if self._writer is None:
                self._writer = zarr.open_array(store=str(self.path), path=self.dataset, mode="r+")
            return self._writer
        if self._reader is None:
            self._reader = zarr.open_array(store=str(self.path), path=self.dataset, mode="r")
        return self._reader

    def _voxel_box(self, roi: Roi) -> tuple[Coordinate, Coordinate]:
        """Begin (relative to the array's first voxel) and shape of roi, in voxels."""
        if roi.dims != self.voxel_size.dims:
            raise ValueError(
                f"{self}: roi {roi} has {roi.dims} dims, array has {self.voxel_size.dims}"
            )
        begin = roi.begin - self.offset
        misaligned = [b % v or s % v for b, s, v in zip(begin, roi.shape, self.voxel_size)]
        if any(misaligned):
            raise ValueError(
                f"{self}: roi {roi} is not aligned to the voxel grid "
                f"(offset {self.offset}, voxel size {self.voxel_size})"
            )
        return begin / self.voxel_size, roi.shape / self.voxel_size

    def _channel_shape(self) -> tuple:
        return () if self.num_channels is None else (self.num_channels,)

    def read(self, roi: Roi, fill_value=0) -> np.ndarray:
        """Voxels of roi (world units, on the voxel grid); outside the array -> fill_value."""
        begin, shape = self._voxel_box(roi)
        out = np.full(self._channel_shape() + tuple(shape), fill_value, dtype=self.dtype)
        inside = roi.intersect(self.roi)
        if inside.empty:
            return out
        src_begin, src_shape = self._voxel_box(inside)
        src = tuple(slice(b, b + s) for b, s in zip(src_begin, src_shape))
        dst = tuple(slice(b - o, b - o + s) for b, o, s in zip(src_begin, begin, src_shape))
        channels = (slice(None),) * len(self._channel_shape())
        out[channels + dst] = self._source()[channels + src]
        return out

    def write(self, roi: Roi, data: np.ndarray) -> None:
        """Write data over roi, which must lie inside the array and on its voxel grid."""
        begin, shape = self._voxel_box(roi)
        if not self.roi.contains(roi):
            raise ValueError(f"{self}: cannot write roi {roi} outside the array roi {self.roi}")
        expected = self._channel_shape() + tuple(shape)
        if tuple(data.shape) != expected:
            raise ValueError(f"{self}: data shape {data.shape} != {expected} for roi {roi}")
        channels = (slice(None),) * len(self._channel_shape())
        index = channels + tuple(slice(b, b + s) for b, s in zip(begin, shape))
        self._handle(writable=True)[index] = data
        self._data = None


def open_array(path, dataset: str) -> ZarrArray:
    """Open `dataset` inside the zarr container `path` (v2 or v3) for reading."""
    path = Path(path)
    dataset = dataset.strip("/")
    where = f"{path}/{dataset}"
    if not path.is_dir():
        raise FileNotFoundError(f"zarr container {path} not found (asked for dataset {dataset!r})")
    try:
        array = zarr.open_array(store=str(path), path=dataset, mode="r")
    except (FileNotFoundError, KeyError) as error:  # zarr's NodeNotFoundError is both
        raise FileNotFoundError(f"no array {dataset!r} in zarr container {path}") from error
    parent, name = _split_dataset(dataset)
    try:
        group_attrs = dict(zarr.open_group(store=str(path), path=parent, mode="r").attrs)
    except FileNotFoundError:  # no group metadata above the array (allowed in zarr v2)
        group_attrs = {}
    voxel_size, offset, has_channels = read_geometry(
        group_attrs, dict(array.attrs), name, array.ndim, where
    )
    shape = array.shape[1:] if has_channels else array.shape
    num_channels = array.shape[0] if has_channels else None
    return ZarrArray(path, dataset, voxel_size, offset, shape, num_channels, array.dtype)


def multiscale_levels(path, dataset: str) -> list[tuple[str, Coordinate]]:
    """(dataset, voxel size) of every level of the OME-NGFF multiscales that `dataset` is one
    level of (in the order listed), or [] if it is not part of one."""
    dataset = dataset.strip("/")
    parent, name = _split_dataset(dataset)
    try:
        attrs = dict(zarr.open_group(store=str(path), path=parent, mode="r").attrs)
    except (FileNotFoundError, KeyError):
        return []
    ndim = open_array(path, dataset).voxel_size.dims
    for multiscale in multiscales(attrs):
        names = [str(e.get("path", "")).strip("/") for e in multiscale.get("datasets", [])]
        if name not in names:
            continue
        levels = []
        for level in names:
            full = f"{parent}/{level}" if parent else level
            try:
                levels.append((full, open_array(path, full).voxel_size))
            except (FileNotFoundError, ValueError):
                continue  # a listed level that is missing cannot be suggested
        return [(d, v) for d, v in levels if v.dims == ndim]
    return []


def level_hint(path, dataset: str, voxel_size) -> str | None:
    """The level of `dataset`'s multiscales that has `voxel_size`, if there is one."""
    for level, size in multiscale_levels(path, dataset):
        if size == Coordinate(voxel_size):
            return level
    return None


def _open_container(path: Path, zarr_format: int | None):
    """Open (creating if needed) the root group; an existing container keeps its format."""
    if path.is_dir():
        try:
            root = zarr.open_group(store=str(path), mode="r+")
        except Exception as error:
            raise FileNotFoundError(f"{path} exists but is not a zarr container") from error
        existing = root.metadata.zarr_format
        if zarr_format is not None and zarr_format != existing:
            raise ValueError(f"{path} is a zarr v{existing} container, asked for v{zarr_format}")
        return root
    return zarr.open_group(store=str(path), mode="w", zarr_format=zarr_format or 2)


def create_array(
    path,
    dataset: str,
    shape,
    dtype,
    voxel_size,
    offset,
    chunks=None,
    num_channels: int | None = None,
    ome_ngff: bool = True,
    zarr_format: int | None = None,
    fill_value=0,
) -> ZarrArray:
    """Create (or overwrite) an empty array to be filled blockwise with ZarrArray.write.

    shape is the spatial voxel shape; num_channels adds a leading channel axis. zarr_format:
    None keeps an existing container's format and creates new containers as v2 (read by
    every zarr tool); 2 or 3 force it (ValueError if an existing container differs). Metadata
    goes both to OME-NGFF multiscales on the parent group (if ome_ngff) and to plain attrs."""
    path = Path(path)
    dataset = dataset.strip("/")
    voxel_size, offset, shape = Coordinate(voxel_size), Coordinate(offset), Coordinate(shape)
    if not len(voxel_size) == len(offset) == len(shape):
        raise ValueError(f"{path}/{dataset}: shape, voxel_size and offset differ in length")
    channel_shape = () if num_channels is None else (num_channels,)
    if chunks is None:
        chunks = tuple(min(s, 64) for s in shape)
    chunks = tuple(chunks)
    if len(chunks) == len(shape):
        chunks = channel_shape + chunks
    root = _open_container(path, zarr_format)
    parent, name = _split_dataset(dataset)
    if parent and parent in root and isinstance(root[parent], zarr.Array):
        raise ValueError(f"{path}/{parent} is an array, cannot hold {name!r}")
    group = root.require_group(parent) if parent else root
    array = group.create_array(
        name,
        shape=channel_shape + tuple(shape),
        dtype=dtype,
        chunks=chunks,
        fill_value=fill_value,
        overwrite=True,
    )
    # one metadata write instead of one per key
    array.update_attributes(plain_attrs(voxel_size, offset, num_channels))
    if ome_ngff:
        write_ome_metadata(group, name, voxel_size, offset, num_channels)
    return ZarrArray(path, dataset, voxel_size, offset, shape, num_channels, array.dtype)


def write_array(
    path,
    dataset: str,
    data: np.ndarray,
    voxel_size,
    offset,
    chunks=None,
    ome_ngff: bool = True,
    zarr_format: int | None = None,
) -> ZarrArray:
    """Write a whole array; data with one more dim than voxel_size has a leading channel axis."""
    voxel_size = Coordinate(voxel_size)
    if data.ndim not in (len(voxel_size), len(voxel_size) + 1):
        raise ValueError(f"{path}/{dataset}: data ndim {data.ndim} does not fit {voxel_size}")
    num_channels = data.shape[0] if data.ndim == len(voxel_size) + 1 else None
    shape = data.shape[-len(voxel_size) :]
    array = create_array(
        path,
        dataset,
        shape,
        data.dtype,
        voxel_size,
        offset,
        chunks=chunks,
        num_channels=num_channels,
        ome_ngff=ome_ngff,
        zarr_format=zarr_format,
    )
    array.write(array.roi, data)
    return array


def remove_container(path) -> None:
    """Delete a zarr container directory (for idempotent rewrites)."""
    path = Path(path)
    if path.is_dir():
        shutil.rmtree(path)
