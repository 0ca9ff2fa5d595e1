"""Augmentations of (raw, gt, mask) crops of the same spatial shape, driven by one numpy rng.

Geometric augments (mirror, transpose, elastic) move raw, gt and mask together; intensity
augments touch raw only. Every random draw comes from the rng passed in, in a fixed order, so
a batch is reproducible from (seed, iteration). Augments are plain classes (not closures) so
that the pipeline pickles into prefetch workers.

Each augment is built from its config (`dacapo_flow.config.augments`), which holds the keys,
their defaults and their checks; `build_augment` also takes the equivalent dicts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
from pydantic import ValidationError
from scipy import ndimage

from ..config import augments as configs
from ..config.loading import format_validation_error


class _Augment:
    config_class: ClassVar[type[configs.AugmentConfig]]

    def __init__(self, config: configs.AugmentConfig):
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}")
        found = config.problems()
        if found:
            raise ValueError(f"augment {config.type!r}: " + "; ".join(found))
        self.config = config
        self.p = float(config.p)
        self.configure(config)

    def configure(self, config) -> None:
        pass

    def __call__(self, raw, gt, mask, rng, voxel_size=None):
        # Always draw the coin, so that the number of draws does not depend on earlier outcomes.
        if rng.random() >= self.p:
            return raw, gt, mask
        return self.apply(raw, gt, mask, rng, voxel_size)

    def apply(self, raw, gt, mask, rng, voxel_size=None):
        raise NotImplementedError


def _geometric(fn, raw, gt, mask):
    # Views, not copies: the sampler crops gt and mask to the output window and stacks raw
    # into the batch, so a copy of the whole input window here would be thrown away.
    return fn(raw), None if gt is None else fn(gt), None if mask is None else fn(mask)


class Mirror(_Augment):
    config_class = configs.MirrorAugment

    def __call__(self, raw, gt, mask, rng, voxel_size=None):
        flips = rng.random(raw.ndim) < self.p  # each axis on its own coin
        axes = tuple(int(a) for a in np.flatnonzero(flips))
        if not axes:
            return raw, gt, mask
        return _geometric(lambda x: np.flip(x, axes), raw, gt, mask)


class Transpose(_Augment):
    config_class = configs.TransposeAugment

    def apply(self, raw, gt, mask, rng, voxel_size=None):
        # Only axes of equal extent and equal voxel size swap: with anisotropic voxels
        # (40 x 4 x 4 nm) the section axis stays where it is.
        voxel_size = tuple(voxel_size) if voxel_size is not None else (1,) * raw.ndim
        permutation = list(range(raw.ndim))
        for key in sorted(set(zip(raw.shape, voxel_size))):
            axes = [a for a in range(raw.ndim) if (raw.shape[a], voxel_size[a]) == key]
            for a, b in zip(axes, rng.permutation(axes)):
                permutation[a] = int(b)
        if permutation == list(range(raw.ndim)):
            return raw, gt, mask
        return _geometric(lambda x: x.transpose(permutation), raw, gt, mask)


class Intensity(_Augment):
    config_class = configs.IntensityAugment

    def configure(self, config):
        self.scale, self.shift, self.clip = config.scale, config.shift, config.clip

    def apply(self, raw, gt, mask, rng, voxel_size=None):
        scale, shift = rng.uniform(*self.scale), rng.uniform(*self.shift)
        raw = raw * np.float32(scale) + np.float32(shift)
        return (np.clip(raw, 0, 1) if self.clip else raw), gt, mask


class Gamma(_Augment):
    config_class = configs.GammaAugment

    def configure(self, config):
        self.range = config.range

    def apply(self, raw, gt, mask, rng, voxel_size=None):
        gamma = np.float32(rng.uniform(*self.range))
        return np.clip(raw, 0, 1) ** gamma, gt, mask


class Noise(_Augment):
    config_class = configs.NoiseAugment

    def configure(self, config):
        self.sigma, self.clip = config.sigma, config.clip

    def apply(self, raw, gt, mask, rng, voxel_size=None):
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
    config_class = configs.ElasticAugment

    def configure(self, config):
        self.spacing = [float(s) for s in config.control_point_spacing]
        self.sigma = [float(s) for s in config.sigma]

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

    def apply(self, raw, gt, mask, rng, voxel_size=None):
        if raw.ndim != len(self.spacing):
            raise ValueError(
                f"augment 'elastic': configured for {len(self.spacing)} dims, raw has {raw.ndim}"
            )
        displacement = self._displacement(raw.shape, rng)
        coords = np.indices(raw.shape, dtype=np.float32) + displacement.astype(np.float32)

        raw = ndimage.map_coordinates(raw, coords, order=1, mode="mirror").astype(raw.dtype)
        if gt is None and mask is None:
            return raw, gt, mask
        source = _nearest_mirrored(coords, raw.shape)
        return raw, None if gt is None else gt[source], None if mask is None else mask[source]


def _nearest_mirrored(coords: np.ndarray, shape) -> tuple[np.ndarray, ...]:
    """Index arrays of the voxel nearest to each coordinate, mirrored at the edges like
    ndimage's mode="mirror" (d c b | a b c d | c b a). Gathering by index, instead of
    interpolating with order 0, keeps every label id exact: ndimage computes in float64,
    which merges uint64 ids above 2**53."""
    index = []
    for c, n in zip(coords, shape):
        i = np.floor(c.astype(np.float64) + 0.5).astype(np.int64)
        if n == 1:
            i = np.zeros_like(i)
        else:
            period = 2 * (n - 1)
            i = np.abs(i) % period
            i = np.where(i >= n, period - i, i)
        index.append(i)
    return tuple(index)


AUGMENTS = {
    cls.config_class.model_fields["type"].default: cls
    for cls in (Mirror, Transpose, Intensity, Gamma, Noise, Elastic)
}


class AugmentPipeline:
    """Applies augments in config order; callable as (raw, gt, mask, rng, voxel_size=None)
    -> (raw, gt, mask). voxel_size keeps transposes to axes of equal voxel size."""

    def __init__(self, augments: list[_Augment]):
        self.augments = augments

    def __call__(self, raw, gt, mask, rng: np.random.Generator, voxel_size=None):
        if gt is not None and gt.shape != raw.shape or mask is not None and mask.shape != raw.shape:
            raise ValueError(
                f"augment: raw {raw.shape}, gt {None if gt is None else gt.shape} and mask "
                f"{None if mask is None else mask.shape} must share one spatial shape"
            )
        raw = raw.astype(np.float32, copy=False)
        for augment in self.augments:
            raw, gt, mask = augment(raw, gt, mask, rng, voxel_size)
        return raw.astype(np.float32, copy=False), gt, mask


def build_augment(configs_or_dicts: list) -> Callable:
    """An augment pipeline from augment configs, or dicts of their keys (by `type`)."""
    augments = []
    for i, item in enumerate(configs_or_dicts):
        kind = item.get("type") if isinstance(item, dict) else getattr(item, "type", None)
        if kind not in AUGMENTS:
            raise ValueError(
                f"augments[{i}]: unknown augment type {kind!r} in {item!r}; "
                f"known: {sorted(AUGMENTS)}"
            )
        try:
            config = configs.parse_augment(item)
        except ValidationError as error:
            raise ValueError(format_validation_error(error, f"augments[{i}]")) from None
        augments.append(AUGMENTS[kind](config))
    return AugmentPipeline(augments)
