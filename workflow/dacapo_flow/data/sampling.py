"""Random training batches read as crops from zarr arrays, reproducible from (seed, iteration).

The batch of iteration i is drawn from ``np.random.default_rng([seed, i])`` alone, so the
sampler carries no state: resuming at iteration i gives bit-identical batches, and workers can
compute any iteration in any order. Arrays are read crop by crop (the input window per
sample), except the smallest, which are kept in memory up to MEMORY_BUDGET bytes per process;
so memory is bounded whatever the volume size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from funlib.geometry import Coordinate, Roi

from dacapo_flow.data.arrays import ZarrArray, open_array
from dacapo_flow.data.intensity import recorded_range
from dacapo_flow.data.mask_index import annotated_voxels, window_begin


@dataclass
class SamplerDataset:
    """One training volume. Raw is normalised to float32 by (x - raw_min) / (raw_max - raw_min),
    with defaults from the dtype's range for integers and 0..1 for floats. The mask marks
    where training may happen (> 0); without a mask every voxel of gt is trainable."""

    raw: ZarrArray
    gt: ZarrArray
    mask: ZarrArray | None = None
    weight: float = 1.0
    raw_min: float | None = None
    raw_max: float | None = None

    def __post_init__(self):
        arrays = [("raw", self.raw), ("gt", self.gt)] + (
            [("mask", self.mask)] if self.mask is not None else []
        )
        for role, array in arrays:
            if array.voxel_size != self.raw.voxel_size:
                raise ValueError(
                    f"dataset {self.name}: {role} {array} has voxel size {array.voxel_size}, "
                    f"raw has {self.raw.voxel_size}; resampling is not supported"
                )
            if (array.offset - self.raw.offset) % self.raw.voxel_size != Coordinate(
                (0,) * len(array.offset)
            ):
                raise ValueError(
                    f"dataset {self.name}: {role} {array} is offset by a fraction of a voxel "
                    f"from raw {self.raw}"
                )
            allowed_channels = (None, 1) if role == "raw" else (None,)
            if array.num_channels not in allowed_channels:
                raise ValueError(
                    f"dataset {self.name}: {role} {array} has {array.num_channels} channels; "
                    "expected a single-channel array"
                )
        if not self.weight > 0:
            raise ValueError(f"dataset {self.name}: weight {self.weight} must be positive")
        self.raw_min, self.raw_max = raw_range(self.raw.dtype, self.raw_min, self.raw_max)
        if self.raw_max == self.raw_min:
            raise ValueError(f"dataset {self.name}: raw_min == raw_max == {self.raw_min}")

    @classmethod
    def from_config(
        cls, config, record: Path | None = None, write_record: bool = True
    ) -> SamplerDataset:
        """From a RawGTDatasetConfig: raw normalised by its min/max, or by its percentiles
        (computed once and recorded in `record`, a JSON file, when given; see
        `recorded_range` for `write_record`)."""
        raw = open_array(config.raw.path, config.raw.dataset)
        raw_min, raw_max = config.raw.min, config.raw.max
        if getattr(config.raw, "percentiles", None) is not None:
            raw_min, raw_max = recorded_range(raw, config.raw.percentiles, record, write_record)
        return cls(
            raw=raw,
            gt=open_array(config.gt.path, config.gt.dataset),
            mask=open_array(config.mask.path, config.mask.dataset) if config.mask else None,
            weight=config.weight,
            raw_min=raw_min,
            raw_max=raw_max,
        )

    @property
    def name(self) -> str:
        return f"{self.gt.path}/{self.gt.dataset}"

    def normalise(self, data: np.ndarray) -> np.ndarray:
        return normalise(data, self.raw_min, self.raw_max)

    def read_raw(self, roi: Roi) -> np.ndarray:
        """Normalised raw over roi, 0 outside the raw array (after normalising, so training
        and validation pad alike whatever the intensity range)."""
        return read_normalised(self.raw, roi, self.raw_min, self.raw_max)


def normalise(data: np.ndarray, raw_min: float, raw_max: float) -> np.ndarray:
    scale = np.float32(1.0 / (raw_max - raw_min))
    return (data.astype(np.float32) - np.float32(raw_min)) * scale


def read_normalised(raw: ZarrArray, roi: Roi, raw_min: float, raw_max: float) -> np.ndarray:
    """Raw over roi normalised by (x - raw_min) / (raw_max - raw_min), 0 outside the array.
    Training, validation and prediction all read their inputs through this one function."""
    voxel_size = raw.voxel_size
    out = np.zeros(roi.shape / voxel_size, np.float32)
    inside = roi.intersect(raw.roi)
    if inside.empty:
        return out
    data = raw.read(inside)
    if raw.num_channels is not None:
        data = data[0]
    begin = (inside.begin - roi.begin) / voxel_size
    out[tuple(slice(b, b + s) for b, s in zip(begin, data.shape))] = normalise(
        data, raw_min, raw_max
    )
    return out


def raw_range(dtype, raw_min: float | None, raw_max: float | None) -> tuple[float, float]:
    """(raw_min, raw_max) with the dtype's range filling what is None (the training default)."""
    low, high = _dtype_range(dtype)
    return (low if raw_min is None else raw_min), (high if raw_max is None else raw_max)


def _dtype_range(dtype) -> tuple[float, float]:
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return float(info.min), float(info.max)
    if np.issubdtype(dtype, np.bool_):
        return 0.0, 1.0
    return 0.0, 1.0


# Per process (each loader worker holds its own copy): the smallest arrays up to this many
# bytes are read once and cropped from memory. Typical gt and mask crops fit; whole raw
# volumes do not, and are read crop by crop.
MEMORY_BUDGET = 256 * 2**20


def kept_in_memory(datasets: list[SamplerDataset], budget: int) -> list[SamplerDataset]:
    """The datasets, with their smallest arrays (raw, gt, mask), in total at most `budget`
    bytes, switched to whole-array reads from memory."""
    arrays = [
        (getattr(d, role).nbytes, i, role)
        for i, d in enumerate(datasets)
        for role in ("raw", "gt", "mask")
        if getattr(d, role) is not None
    ]
    changes: list[dict] = [{} for _ in datasets]
    for nbytes, i, role in sorted(arrays):
        if nbytes > budget:
            break
        budget -= nbytes
        changes[i][role] = getattr(datasets[i], role).kept_in_memory()
    return [replace(d, **c) if c else d for d, c in zip(datasets, changes)]


class BatchSampler:
    """Batches of raw [B,1,*input_shape], target and weight [B,C,*output_shape] (float32).

    Each sample picks a dataset by weight, then an output window (output_shape voxels) inside
    the gt ROI: without a mask uniformly; with one, a window containing an annotated voxel
    drawn uniformly from the mask's coordinates (computed once, here), so sparse annotations
    cost no rejection sampling and every window trains on some annotated voxel. The input window
    is the output window grown by (input_shape - output_shape) / 2 on each side; raw outside
    its array is 0 (after normalisation). gt and mask are read over the input window when
    augmenting (so that geometric augments see context) and cropped to the output window for
    target_fn(gt, mask or None, voxel_size) -> (target [C,...], weight [C,...]).

    `target_context(voxel_size)` (voxels per axis) widens the gt that target_fn sees beyond
    the output window, for targets that need surroundings (LSDs); target and weight are then
    cropped back to the window, and gt outside its array counts as unannotated."""

    def __init__(
        self,
        datasets: list[SamplerDataset],
        input_shape,
        output_shape,
        batch_size: int,
        seed: int,
        target_fn: Callable,
        augment: Callable | None = None,
        memory_budget: int = MEMORY_BUDGET,
        target_context: Callable | None = None,
    ):
        if not datasets:
            raise ValueError("BatchSampler needs at least one dataset")
        self.datasets = kept_in_memory(list(datasets), memory_budget)
        self.input_shape = Coordinate(input_shape)
        self.output_shape = Coordinate(output_shape)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.target_fn = target_fn
        self.augment = augment
        self.target_context = target_context
        growth = self.input_shape - self.output_shape
        if len(self.input_shape) != len(self.output_shape) or any(g < 0 or g % 2 for g in growth):
            raise ValueError(
                f"input shape {self.input_shape} must exceed output shape {self.output_shape} "
                "by an even number of voxels per axis"
            )
        self.context = growth / 2
        for dataset in self.datasets:
            if dataset.raw.voxel_size.dims != len(self.input_shape):
                raise ValueError(
                    f"dataset {dataset.name} is {dataset.raw.voxel_size.dims}D, "
                    f"shapes are {len(self.input_shape)}D"
                )
        weights = np.array([d.weight for d in self.datasets], dtype=float)
        self.probabilities = weights / weights.sum()
        self.annotated = [self._annotated(d) for d in self.datasets]

    def _annotated(self, dataset: SamplerDataset) -> np.ndarray | None:
        """Annotated voxels of gt (relative to its offset), or None without a mask."""
        if dataset.mask is None:
            return None
        coords = annotated_voxels(dataset.mask, dataset.gt.roi)
        if len(coords) == 0:
            raise RuntimeError(
                f"dataset {dataset.name}: no output window can train: the mask "
                f"{dataset.mask.path}/{dataset.mask.dataset} marks no voxel inside gt "
                f"{dataset.gt.roi}"
            )
        return coords

    def sample(self, iteration: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, int(iteration)])
        samples = [self._sample_one(rng) for _ in range(self.batch_size)]
        return {
            key: np.stack([s[key] for s in samples]).astype(np.float32, copy=False)
            for key in ("raw", "target", "weight")
        }

    def _sample_one(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        index = int(rng.choice(len(self.datasets), p=self.probabilities))
        dataset = self.datasets[index]
        voxel_size = dataset.raw.voxel_size
        output_roi = self._random_output_roi(dataset, self.annotated[index], rng)
        input_roi = output_roi.grow(self.context * voxel_size, self.context * voxel_size)
        extra = self._target_context(voxel_size)
        if self.augment is None:
            raw = self._read_raw(dataset, input_roi)
            gt_roi = output_roi.grow(extra * voxel_size, extra * voxel_size)
            gt, mask = dataset.gt.read(gt_roi), self._read_mask(dataset, gt_roi, any(extra))
        else:
            # one window for every array, so that geometric augments move them together
            margin = Coordinate(max(c, e) for c, e in zip(self.context, extra))
            window = output_roi.grow(margin * voxel_size, margin * voxel_size)
            raw = self._read_raw(dataset, window)
            gt, mask = dataset.gt.read(window), self._read_mask(dataset, window, any(extra))
            raw, gt, mask = self.augment(raw, gt, mask, rng, voxel_size)
            raw = raw[_centre(raw.shape, margin - self.context)]
            gt = gt[_centre(gt.shape, margin - extra)]
            mask = None if mask is None else mask[_centre(mask.shape, margin - extra)]
        target, weight = self.target_fn(gt, mask, voxel_size)
        if any(extra):
            crop = (slice(None), *_centre(target.shape[1:], extra))
            target, weight = target[crop], weight[crop]
        expected = tuple(self.output_shape)
        if target.shape[1:] != expected or weight.shape != target.shape:
            raise ValueError(
                f"target_fn returned target {target.shape} and weight {weight.shape}, "
                f"expected [C, *{expected}] for both"
            )
        return {"raw": raw[np.newaxis], "target": target, "weight": weight}

    def _random_output_roi(
        self, dataset: SamplerDataset, annotated: np.ndarray | None, rng: np.random.Generator
    ) -> Roi:
        """Output window inside the gt ROI: uniform without a mask, else one containing a
        uniformly drawn annotated voxel."""
        voxel_size = dataset.gt.voxel_size
        free = dataset.gt.shape - self.output_shape  # possible begins per axis, minus one
        if any(f < 0 for f in free):
            raise RuntimeError(
                f"dataset {dataset.name}: gt shape {dataset.gt.shape} is smaller than the "
                f"output shape {self.output_shape}"
            )
        if annotated is None:
            begin = Coordinate(tuple(int(rng.integers(0, f + 1)) for f in free))
        else:
            voxel = annotated[int(rng.integers(len(annotated)))]
            begin = window_begin(rng, voxel, self.output_shape, free)
        return Roi(dataset.gt.offset + begin * voxel_size, self.output_shape * voxel_size)

    @staticmethod
    def _read_raw(dataset: SamplerDataset, roi: Roi) -> np.ndarray:
        return dataset.read_raw(roi)

    def _target_context(self, voxel_size) -> Coordinate:
        if self.target_context is None:
            return Coordinate((0,) * len(self.output_shape))
        return Coordinate(self.target_context(voxel_size))

    @staticmethod
    def _read_mask(dataset: SamplerDataset, roi: Roi, widened: bool = False) -> np.ndarray | None:
        """The annotation mask over roi; None for fully annotated gt, unless the window was
        widened past the output (then gt outside its array is marked unannotated)."""
        if dataset.mask is not None:
            return (dataset.mask.read(roi) > 0).astype(np.float32)
        if not widened:
            return None
        inside = np.zeros(tuple(roi.shape / dataset.gt.voxel_size), dtype=np.float32)
        overlap = roi.intersect(dataset.gt.roi)
        if not overlap.empty:
            begin = (overlap.begin - roi.begin) / dataset.gt.voxel_size
            inside[
                tuple(slice(b, b + n) for b, n in zip(begin, overlap.shape / dataset.gt.voxel_size))
            ] = 1
        return inside


def _centre(shape, margin) -> tuple[slice, ...]:
    """Slices dropping `margin` voxels on both sides of every axis."""
    return tuple(slice(m, n - m) for n, m in zip(shape, margin))
