"""Local shape descriptors (LSDs; Sheridan et al. 2022), the auxiliary target of affinities.

For every voxel x of object L, a Gaussian window G (sigma in world units) around x weighs the
voxels of L; the descriptor holds, in this channel order (3D; 2D drops z):
- 0..2  mean offset: (G-weighted centre of mass of L) - x, per axis, / sigma * 0.5 + 0.5;
- 3..5  variance of L's coordinates in the window, per axis, / sigma**2;
- 6..8  Pearson correlation of (z, y), (z, x), (y, x), * 0.5 + 0.5;
- 9     size: the fraction of the window's weight inside L.
Every channel is clipped to [0, 1]; background voxels are 0 in all of them. This is the
semantics of `lsd.train.LsdExtractor` (mode "gaussian", truncate 3 sigma), which DaCapo's
affinities task uses. `downsample` computes the statistics on every `downsample`-th voxel and
repeats them, as the extractor does (the volume must be a multiple of it).

Each object is computed on its bounding box only. That is exact: the filter input is zero
outside the object, and only the object's own voxels keep their values.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import find_objects, gaussian_filter

TRUNCATE = 3.0  # the extractor's Gaussian support, in sigmas


def num_lsds(dims: int) -> int:
    """Descriptor channels for a `dims`-D volume."""
    if dims not in (2, 3):
        raise ValueError(f"LSDs need 2D or 3D volumes, not {dims}D")
    return 6 if dims == 2 else 10


def lsd_sigma(voxel_size, num_lsd_voxels: int) -> tuple[float, ...]:
    """DaCapo's sigma: `num_lsd_voxels` times the coarsest voxel size, on every axis (nm)."""
    return (float(max(voxel_size)) * num_lsd_voxels,) * len(voxel_size)


def lsd_context(voxel_size, sigma) -> tuple[int, ...]:
    """Voxels of gt needed around a window for exact descriptors inside it (3 sigma)."""
    return tuple(int(np.ceil(TRUNCATE * s / v)) for s, v in zip(sigma, voxel_size))


def local_shape_descriptors(segmentation, sigma, voxel_size, downsample: int = 1) -> np.ndarray:
    """Descriptors [C, *shape] (float32) of a label volume; see the module docstring."""
    segmentation = np.asarray(segmentation)
    dims = segmentation.ndim
    channels = num_lsds(dims)
    sigma = np.asarray(sigma, dtype=np.float64)
    voxel_size = np.asarray(voxel_size, dtype=np.float64)
    if sigma.shape != (dims,) or voxel_size.shape != (dims,):
        raise ValueError(f"sigma {sigma} and voxel size {voxel_size} must be {dims}D")
    df = int(downsample)
    if df < 1 or any(s % df for s in segmentation.shape):
        raise ValueError(f"shape {segmentation.shape} is not a multiple of downsample {df}")
    ids, dense = np.unique(segmentation, return_inverse=True)
    dense = dense.reshape(segmentation.shape)
    if ids[0] != 0:  # keep 0 = background in the dense labels
        dense += 1
    sub = dense[(slice(None, None, df),) * dims]
    sub_voxel = voxel_size * df
    sigma_voxels = sigma / sub_voxel
    out = np.zeros((channels, *segmentation.shape), dtype=np.float64)
    for label, box in enumerate(find_objects(dense), start=1):
        if box is None:
            continue
        sub_box = tuple(slice(b.start // df, (b.stop - 1) // df + 1) for b in box)
        stats = _window_stats(sub[sub_box] == label, sigma_voxels, sub_voxel, sigma)
        for axis in range(dims):
            stats = np.repeat(stats, df, axis=axis + 1)
        crop = tuple(
            slice(b.start - s.start * df, b.stop - s.start * df) for b, s in zip(box, sub_box)
        )
        inside = dense[box] == label
        out[(slice(None), *box)][:, inside] = stats[(slice(None), *crop)][:, inside]
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def section_descriptors(segmentation, sigma, voxel_size, downsample: int, axis: int) -> np.ndarray:
    """2D descriptors [6, *shape] of each section along `axis` (serial sections whose labels
    were painted section by section: nothing is known across sections)."""
    segmentation = np.moveaxis(np.asarray(segmentation), axis, 0)
    plane = [a for a in range(len(voxel_size)) if a != axis]
    plane_sigma = [sigma[a] for a in plane]
    plane_voxel = [voxel_size[a] for a in plane]
    out = np.stack(
        [local_shape_descriptors(s, plane_sigma, plane_voxel, downsample) for s in segmentation],
        axis=1,
    )
    return np.moveaxis(out, 1, axis + 1)


def _window_stats(mask, sigma_voxels, voxel_size, sigma) -> np.ndarray:
    """Normalised descriptors [C, *mask.shape] of one object (valid on its own voxels)."""
    dims = mask.ndim
    mask = mask.astype(np.float64)

    def smooth(values):
        return gaussian_filter(values, sigma_voxels, mode="constant", cval=0.0, truncate=TRUNCATE)

    # coordinates local to the box: the statistics are translation invariant, and small
    # coordinates keep E[x^2] - E[x]^2 accurate
    coords = np.stack(
        np.meshgrid(*[np.arange(n) * v for n, v in zip(mask.shape, voxel_size)], indexing="ij")
    )
    count = smooth(mask)
    safe = np.where(count == 0, 1.0, count)
    mean = np.stack([smooth(coords[d] * mask) for d in range(dims)]) / safe
    offset = mean - coords
    pairs = [(d, d) for d in range(dims)] + [
        (a, b) for a in range(dims) for b in range(a + 1, dims)
    ]
    cov = np.stack(
        [smooth(coords[a] * coords[b] * mask) / safe - mean[a] * mean[b] for a, b in pairs]
    )
    variance = np.maximum(cov[:dims], 1e-3)  # the extractor's floor, in world units squared
    pearson = np.stack(
        [
            cov[dims + i] / np.sqrt(variance[a] * variance[b])
            for i, (a, b) in enumerate(pairs[dims:])
        ]
    )
    return np.concatenate(
        [
            offset / sigma[(slice(None),) + (None,) * dims] * 0.5 + 0.5,
            variance / (sigma**2)[(slice(None),) + (None,) * dims],
            pearson * 0.5 + 0.5,
            count[None],
        ]
    )
