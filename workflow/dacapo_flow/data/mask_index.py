"""Where a mask marks annotated voxels: coordinates computed once per array, read in slabs.

Sparse annotations (a few labelled sections or small crops inside a large raw volume) are the
rule for real EM data. Sampling draws training windows from these coordinates directly, so a
mask covering 1 % of a volume costs one pass over the mask and memory for the 1 % alone (no
rejection sampling that could take thousands of tries per window).
"""

from __future__ import annotations

import numpy as np
from funlib.geometry import Coordinate, Roi

from .arrays import ZarrArray

#: Voxels read per slab while scanning a mask: bounds the scan's memory whatever the volume.
SLAB_VOXELS = 2**24


def annotated_voxels(mask: ZarrArray, roi: Roi, slab_voxels: int = SLAB_VOXELS) -> np.ndarray:
    """Voxel coordinates [N, dims] (relative to roi.begin, in mask voxels) of every voxel of
    `roi` where mask > 0; outside the mask array nothing is annotated. int32 where it fits."""
    roi = roi.snap_to_grid(mask.voxel_size, mode="shrink")
    voxel_size = mask.voxel_size
    shape = roi.shape / voxel_size
    plane = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    step = max(1, slab_voxels // max(plane, 1))
    found = []
    for start in range(0, shape[0], step):
        stop = min(shape[0], start + step)
        slab_begin = roi.begin + Coordinate((start,) + (0,) * (len(shape) - 1)) * voxel_size
        slab_shape = Coordinate((stop - start,) + tuple(shape[1:])) * voxel_size
        data = mask.read(Roi(slab_begin, slab_shape))
        if mask.num_channels is not None:
            data = data[0]
        where = np.argwhere(data > 0)
        where[:, 0] += start
        found.append(where)
    coords = np.concatenate(found) if found else np.zeros((0, len(shape)), np.int64)
    dtype = np.int32 if max(shape, default=0) < 2**31 else np.int64
    return coords.astype(dtype, copy=False)


def annotated_roi(mask: ZarrArray, roi: Roi) -> Roi | None:
    """Bounding box (world units) of the annotated voxels of `roi`, None if there are none."""
    roi = roi.snap_to_grid(mask.voxel_size, mode="shrink")
    coords = annotated_voxels(mask, roi)
    if len(coords) == 0:
        return None
    low = Coordinate(coords.min(axis=0))
    high = Coordinate(coords.max(axis=0)) + 1
    return Roi(roi.begin + low * mask.voxel_size, (high - low) * mask.voxel_size)


def window_begin(
    rng: np.random.Generator, voxel: np.ndarray, window: Coordinate, free: Coordinate
) -> Coordinate:
    """Uniform window begin (voxels) among the windows of shape `window` that contain `voxel`
    and whose begin lies in [0, free] on every axis."""
    begin = []
    for v, w, f in zip(voxel, window, free):
        low, high = max(0, int(v) - w + 1), min(f, int(v))
        begin.append(int(rng.integers(low, high + 1)))
    return Coordinate(begin)
