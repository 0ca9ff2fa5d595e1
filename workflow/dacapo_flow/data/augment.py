"""Augmentations of (raw, gt, mask) crops of the same spatial shape, driven by one numpy rng.

Geometric augments (mirror, transpose, elastic) move raw, gt and mask together; intensity
augments touch raw only. Every random draw comes from the rng passed in, in a fixed order, so
a batch is reproducible from (seed, iteration). Augments are plain classes (not closures) so
that the pipeline pickles into prefetch workers.

Config dicts (``p`` is the probability to apply, default shown):

- ``{"type": "mirror", "p": 0.5}``: flip each spatial axis with probability p
- ``{"type": "transpose", "p": 0.5}``: with probability p, permute axes among those of equal size
- ``{"type": "intensity", "scale": [0.9, 1.1], "shift": [-0.1, 0.1], "p": 1.0, "clip": true}``
- ``{"type": "gamma", "range": [0.8, 1.25], "p": 1.0}``
- ``{"type": "noise", "sigma": 0.05, "p": 0.5, "clip": true}``: additive gaussian noise
- ``{"type": "elastic", "control_point_spacing": [10, 10, 10], "sigma": [2, 2, 2], "p": 0.5}``:
  random displacements (std ``sigma`` voxels) on a control grid, cubic-interpolated to every
  voxel; raw is resampled linearly, gt and mask by nearest neighbour.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
from scipy import ndimage


def _pair(values, key: str, kind: str) -> tuple[float, float]:
    low, high = (float(v) for v in values)
    if low > high:
        raise ValueError(f"augment {kind!r}: {key} {values} must be [low, high]")
    return low, high


class _Augment:
    kind: ClassVar[str] = ""
    keys: ClassVar[dict] = {}  # accepted config keys -> default

    def __init__(self, config: dict):
        unknown = set(config) - set(self.keys) - {"type"}
        if unknown:
            raise ValueError(
                f"augment {self.kind!r}: unknown key(s) {sorted(unknown)}, known: {sorted(self.keys)}"
            )
        values = {**self.keys, **config}
        self.p = float(values["p"])
        if not 0 <= self.p <= 1:
            raise ValueError(f"augment {self.kind!r}: p={self.p} is not in [0, 1]")
        self.configure(values)

    def configure(self, values: dict) -> None:
        pass

    def __call__(self, raw, gt, mask, rng):
        # Always draw the coin, so that the number of draws does not depend on earlier outcomes.
        if rng.random() >= self.p:
            return raw, gt, mask
        return self.apply(raw, gt, mask, rng)

    def apply(self, raw, gt, mask, rng):
        raise NotImplementedError


def _geometric(fn, raw, gt, mask):
    return fn(raw), None if gt is None else fn(gt), None if mask is None else fn(mask)


class Mirror(_Augment):
    kind, keys = "mirror", {"p": 0.5}

    def __call__(self, raw, gt, mask, rng):
        flips = rng.random(raw.ndim) < self.p  # each axis on its own coin
        axes = tuple(int(a) for a in np.flatnonzero(flips))
        if not axes:
            return raw, gt, mask
        return _geometric(lambda x: np.ascontiguousarray(np.flip(x, axes)), raw, gt, mask)


class Transpose(_Augment):
    kind, keys = "transpose", {"p": 0.5}

    def apply(self, raw, gt, mask, rng):
        permutation = list(range(raw.ndim))
        for size in sorted(set(raw.shape)):
            axes = [a for a in range(raw.ndim) if raw.shape[a] == size]
            for a, b in zip(axes, rng.permutation(axes)):
                permutation[a] = int(b)
        if permutation == list(range(raw.ndim)):
            return raw, gt, mask
        return _geometric(lambda x: np.ascontiguousarray(x.transpose(permutation)), raw, gt, mask)


class Intensity(_Augment):
    kind, keys = "intensity", {"scale": [0.9, 1.1], "shift": [-0.1, 0.1], "p": 1.0, "clip": True}

    def configure(self, values):
        self.scale = _pair(values["scale"], "scale", self.kind)
        self.shift = _pair(values["shift"], "shift", self.kind)
        self.clip = bool(values["clip"])

    def apply(self, raw, gt, mask, rng):
        scale, shift = rng.uniform(*self.scale), rng.uniform(*self.shift)
        raw = raw * np.float32(scale) + np.float32(shift)
        return (np.clip(raw, 0, 1) if self.clip else raw), gt, mask


class Gamma(_Augment):
    kind, keys = "gamma", {"range": [0.8, 1.25], "p": 1.0}

    def configure(self, values):
        self.range = _pair(values["range"], "range", self.kind)
        if self.range[0] <= 0:
            raise ValueError(f"augment 'gamma': range {values['range']} must be positive")

    def apply(self, raw, gt, mask, rng):
        gamma = np.float32(rng.uniform(*self.range))
        return np.clip(raw, 0, 1) ** gamma, gt, mask


class Noise(_Augment):
    kind, keys = "noise", {"sigma": 0.05, "p": 0.5, "clip": True}

    def configure(self, values):
        self.sigma = float(values["sigma"])
        if self.sigma < 0:
            raise ValueError(f"augment 'noise': sigma {self.sigma} must be >= 0")
        self.clip = bool(values["clip"])

    def apply(self, raw, gt, mask, rng):
        raw = raw + rng.normal(scale=self.sigma, size=raw.shape).astype(np.float32)
        return (np.clip(raw, 0, 1) if self.clip else raw), gt, mask


def _interpolation_matrix(points: int, samples: int) -> np.ndarray:
    """(samples, points) cubic-spline weights spreading `points` control values over `samples`."""
    if points == 1:
        return np.ones((samples, 1))
    positions = np.linspace(0, points - 1, samples)[None]
    return np.stack(
        [
            ndimage.map_coordinates(unit, positions, order=3, mode="nearest")
            for unit in np.eye(points)
        ],
        axis=1,
    )


class Elastic(_Augment):
    kind: ClassVar[str] = "elastic"
    keys: ClassVar[dict] = {"control_point_spacing": [10, 10, 10], "sigma": [2, 2, 2], "p": 0.5}

    def configure(self, values):
        self.spacing = [float(s) for s in values["control_point_spacing"]]
        self.sigma = [float(s) for s in values["sigma"]]
        if len(self.spacing) != len(self.sigma) or min(self.spacing) <= 0:
            raise ValueError(
                f"augment 'elastic': control_point_spacing {self.spacing} and sigma {self.sigma} "
                "must have one positive entry per spatial axis"
            )

    def _displacement(self, shape, rng) -> np.ndarray:
        """Per-voxel displacement (ndim, *shape) cubic-interpolated from a coarse random grid."""
        grid = [int(np.ceil((s - 1) / sp)) + 1 for s, sp in zip(shape, self.spacing)]
        coarse = [rng.normal(scale=sg, size=grid) for sg in self.sigma]
        # Spline interpolation is linear in the data and separable over axes: interpolate with
        # one small (voxels x control points) matrix per axis instead of per voxel in 3D.
        weights = [_interpolation_matrix(g, s) for g, s in zip(grid, shape)]
        fields = []
        for field in coarse:
            for axis, matrix in enumerate(weights):
                field = np.moveaxis(np.tensordot(matrix, field, axes=([1], [axis])), 0, axis)
            fields.append(field.astype(np.float32))
        return np.stack(fields)

    def apply(self, raw, gt, mask, rng):
        if raw.ndim != len(self.spacing):
            raise ValueError(
                f"augment 'elastic': configured for {len(self.spacing)} dims, raw has {raw.ndim}"
            )
        displacement = self._displacement(raw.shape, rng)
        coords = np.indices(raw.shape, dtype=np.float32) + displacement.astype(np.float32)

        def warp(x, order):
            return ndimage.map_coordinates(x, coords, order=order, mode="mirror").astype(x.dtype)

        raw = warp(raw, 1)
        return raw, None if gt is None else warp(gt, 0), None if mask is None else warp(mask, 0)


AUGMENTS = {cls.kind: cls for cls in (Mirror, Transpose, Intensity, Gamma, Noise, Elastic)}


class AugmentPipeline:
    """Applies augments in config order; callable as (raw, gt, mask, rng) -> (raw, gt, mask)."""

    def __init__(self, augments: list[_Augment]):
        self.augments = augments

    def __call__(self, raw, gt, mask, rng: np.random.Generator):
        if gt is not None and gt.shape != raw.shape or mask is not None and mask.shape != raw.shape:
            raise ValueError(
                f"augment: raw {raw.shape}, gt {None if gt is None else gt.shape} and mask "
                f"{None if mask is None else mask.shape} must share one spatial shape"
            )
        raw = raw.astype(np.float32, copy=False)
        for augment in self.augments:
            raw, gt, mask = augment(raw, gt, mask, rng)
        return raw.astype(np.float32, copy=False), gt, mask


def build_augment(configs: list[dict]) -> Callable:
    """An augment pipeline from config dicts (see the module docstring)."""
    augments = []
    for config in configs:
        kind = config.get("type") if isinstance(config, dict) else None
        if kind not in AUGMENTS:
            raise ValueError(
                f"unknown augment type {kind!r} in {config!r}; known: {sorted(AUGMENTS)}"
            )
        augments.append(AUGMENTS[kind](config))
    return AugmentPipeline(augments)
