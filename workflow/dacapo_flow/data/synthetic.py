"""Small synthetic FIB-SEM-like volumes with organelle labels, for the example and the tests.

Each container holds (all with OME-NGFF and plain voxel_size/offset metadata):

- ``raw``       uint8, class-dependent intensity with darker object borders, smoothed, noisy
- ``labels``    uint8 class ids: 0 background, 1 mito, 2 er, 3 nucleus
- ``instances`` uint32, one id per object, 0 background
- ``mask``      uint8, 1 = annotated (train here), 0 = ignore. Training volumes leave a slab at
                one border unannotated; the validation volume is annotated everywhere.
                Labels are complete everywhere; the mask only says where training may look.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from funlib.geometry import Coordinate
from scipy import ndimage

from dacapo_flow.data.arrays import remove_container, write_array

CLASS_NAMES = ("background", "mito", "er", "nucleus")
BACKGROUND, MITO, ER, NUCLEUS = range(4)
VOLUMES = ("train_0", "train_1", "validate_0")
# Offsets in voxels, different per volume so that world-unit handling is exercised.
OFFSETS_IN_VOXELS = {"train_0": (10, 20, 30), "train_1": (20, 10, 30), "validate_0": (30, 20, 10)}
# Mean intensity in [0, 1] per class, and of the border voxels of mito and nucleus.
INTENSITY = {BACKGROUND: 0.75, MITO: 0.35, ER: 0.1, NUCLEUS: 0.55}
BORDER_INTENSITY = 0.2


class _Painter:
    """Paints objects into labels/instances, never over an earlier object."""

    def __init__(self, shape):
        self.shape = tuple(shape)
        self.labels = np.zeros(self.shape, np.uint8)
        self.instances = np.zeros(self.shape, np.uint32)
        self.next_id = 1

    def paint(self, region: tuple[slice, ...], inside: np.ndarray, class_id: int) -> None:
        free = inside & (self.labels[region] == BACKGROUND)
        if not free.any():
            return
        self.labels[region][free] = class_id
        self.instances[region][free] = self.next_id
        self.next_id += 1


def _clipped_box(centre, radius, shape):
    """Slices of the box centre ± radius clipped to the volume, and its voxel coordinates
    relative to centre (as an open grid)."""
    lo = [max(int(np.floor(c - radius)), 0) for c in centre]
    hi = [min(int(np.ceil(c + radius)) + 1, s) for c, s in zip(centre, shape)]
    region = tuple(slice(a, b) for a, b in zip(lo, hi))
    grid = np.ogrid[region]
    return region, [g - c for g, c in zip(grid, centre)]


def _paint_nucleus(painter: _Painter, rng: np.random.Generator) -> None:
    shape = np.array(painter.shape)
    radius = 0.3 * shape.min() * rng.uniform(0.85, 1.1)
    centre = rng.uniform(0.2, 0.8, size=3) * shape
    if rng.random() < 0.5:  # partly out of view: push the centre onto one face
        axis = rng.integers(3)
        centre[axis] = rng.choice([0.1, 0.9]) * shape[axis]
    region, (dz, dy, dx) = _clipped_box(centre, radius, shape)
    painter.paint(region, dz**2 + dy**2 + dx**2 <= radius**2, NUCLEUS)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def _paint_mitos(painter: _Painter, rng: np.random.Generator, count: int) -> None:
    shape = np.array(painter.shape)
    for _ in range(count):
        semi_axes = np.array([rng.uniform(8, 14), rng.uniform(3.5, 5.5), rng.uniform(3.5, 5.5)])
        rotation = _random_rotation(rng)
        centre = rng.uniform(0, 1, size=3) * shape
        region, offsets = _clipped_box(centre, semi_axes[0] + 1, shape)
        coords = np.stack(np.broadcast_arrays(*offsets), axis=-1)  # (..., 3)
        local = coords @ rotation  # coordinates in the ellipsoid's own frame
        inside = ((local / semi_axes) ** 2).sum(axis=-1) <= 1
        painter.paint(region, inside, MITO)


def _paint_er(painter: _Painter, rng: np.random.Generator, count: int) -> None:
    """ER as thin tubes along smooth random walks."""
    shape = np.array(painter.shape)
    radius = 1.5
    r = int(np.ceil(radius))
    ball = np.argwhere(np.ones((2 * r + 1,) * 3)) - r
    ball = ball[(ball**2).sum(axis=1) <= radius**2]
    for _ in range(count):
        steps = int(rng.integers(60, 140))
        direction = rng.normal(size=3)
        point = rng.uniform(0, 1, size=3) * shape
        points = []
        for _ in range(steps):
            direction = direction / np.linalg.norm(direction) + rng.normal(scale=0.15, size=3)
            point = point + 0.7 * direction / np.linalg.norm(direction)
            points.append(point)
        centres = np.unique(np.round(points).astype(int), axis=0)
        voxels = np.unique((centres[:, None, :] + ball[None]).reshape(-1, 3), axis=0)
        voxels = voxels[((voxels >= 0) & (voxels < shape)).all(axis=1)]
        if len(voxels) == 0:
            continue
        lo, hi = voxels.min(axis=0), voxels.max(axis=0) + 1
        inside = np.zeros(hi - lo, bool)
        inside[tuple((voxels - lo).T)] = True
        painter.paint(tuple(slice(a, b) for a, b in zip(lo, hi)), inside, ER)


def _render_raw(labels, instances, rng: np.random.Generator) -> np.ndarray:
    intensity = np.zeros(labels.shape, np.float32)
    for class_id, value in INTENSITY.items():
        intensity[labels == class_id] = value
    # Darker membranes where an object meets a different instance (not for the thin ER).
    border = np.zeros(labels.shape, bool)
    for axis in range(labels.ndim):
        differs = np.diff(instances, axis=axis) != 0
        lower = [slice(None)] * labels.ndim
        upper = [slice(None)] * labels.ndim
        lower[axis], upper[axis] = slice(None, -1), slice(1, None)
        border[tuple(lower)] |= differs
        border[tuple(upper)] |= differs
    border &= (labels == MITO) | (labels == NUCLEUS)
    intensity[border] = BORDER_INTENSITY
    intensity = ndimage.gaussian_filter(intensity, sigma=0.7)
    intensity += rng.normal(scale=0.04, size=labels.shape).astype(np.float32)
    return (np.clip(intensity, 0, 1) * 255).round().astype(np.uint8)


def generate_volume(shape, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """raw, labels, instances of one volume, in memory."""
    painter = _Painter(shape)
    _paint_nucleus(painter, rng)
    scale = np.prod(shape) / 64**3  # object counts grow with the volume
    _paint_mitos(painter, rng, count=max(1, int(np.rint(rng.integers(12, 18) * scale))))
    _paint_er(painter, rng, count=max(1, int(np.rint(rng.integers(12, 18) * scale))))
    raw = _render_raw(painter.labels, painter.instances, rng)
    return {"raw": raw, "labels": painter.labels, "instances": painter.instances}


def _annotation_mask(shape, name: str, index: int) -> np.ndarray:
    mask = np.ones(shape, np.uint8)
    if name.startswith("train"):
        axis = index % len(shape)
        width = max(1, shape[axis] // 8)
        slab = [slice(None)] * len(shape)
        slab[axis] = slice(shape[axis] - width, None)
        mask[tuple(slab)] = 0
    return mask


def write_synthetic_dataset(
    out_dir,
    seed: int = 0,
    shape=(64, 64, 64),
    voxel_size=(8, 8, 8),
    zarr_format: int = 2,
) -> dict[str, Path]:
    """Write out_dir/{train_0,train_1,validate_0}.zarr; returns {volume name: container path}.

    Deterministic for a seed; containers that exist are replaced (idempotent). Each volume has
    its own non-zero offset (a multiple of the voxel size)."""
    shape, voxel_size = tuple(int(s) for s in shape), Coordinate(voxel_size)
    if len(shape) != 3 or len(voxel_size) != 3:
        raise ValueError(f"synthetic data is 3D: got shape {shape}, voxel size {voxel_size}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for index, name in enumerate(VOLUMES):
        rng = np.random.default_rng([seed, index])
        volume = generate_volume(shape, rng)
        volume["mask"] = _annotation_mask(shape, name, index)
        offset = Coordinate(OFFSETS_IN_VOXELS[name]) * voxel_size
        container = out_dir / f"{name}.zarr"
        remove_container(container)
        chunks = tuple(min(s, 32) for s in shape)
        for dataset, data in volume.items():
            write_array(
                container, dataset, data, voxel_size, offset, chunks, zarr_format=zarr_format
            )
        written[name] = container
    return written
