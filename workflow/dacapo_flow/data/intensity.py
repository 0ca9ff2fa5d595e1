"""Raw intensities: NaN scan and percentile normalisation ranges, one pass over an array.

uint8 and uint16 raw get exact percentiles from a histogram of every voxel; wider integers
and floats from a deterministic strided sample of at most `MAX_SAMPLES` voxels. The pass also
counts NaNs: a raw array holding NaN must be refused before training (a NaN input gives a NaN
loss at step 0). A range computed once is recorded (atomically) as JSON, so training,
validation and prediction of a run normalise alike and the run's store says how.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from funlib.geometry import Coordinate, Roi

from ..store.atomic import atomic_write_json
from .arrays import ZarrArray

SLAB_VOXELS = 2**24
MAX_SAMPLES = 2**24


@dataclass
class IntensityScan:
    """What one pass over a raw array found."""

    voxels: int
    nan_voxels: int
    histogram: np.ndarray | None  # counts per value, for uint8 / uint16
    sample: np.ndarray | None  # finite sampled values, otherwise
    inf_voxels: int = 0  # +-inf: normalised, they are NaN or inf inputs too

    def percentiles(self, low: float, high: float) -> tuple[float, float]:
        if self.histogram is not None:
            cumulative = np.cumsum(self.histogram)
            total = cumulative[-1]
            if total == 0:
                raise ValueError("no finite voxel to take percentiles of")
            # The smallest value whose cumulative share reaches q (the "lower" percentile).
            return tuple(
                float(np.searchsorted(cumulative, q / 100 * total, side="left"))
                for q in (low, high)
            )
        if self.sample is None or self.sample.size == 0:
            raise ValueError("no finite voxel to take percentiles of")
        values = np.percentile(self.sample, [low, high], method="lower")
        return float(values[0]), float(values[1])


def scan_intensities(array: ZarrArray, slab_voxels: int = SLAB_VOXELS) -> IntensityScan:
    """One pass over `array` in slabs along its first axis (memory bounded by the slab)."""
    shape = array.shape
    total = math.prod(shape)
    plane = max(1, math.prod(shape[1:]))
    step = max(1, slab_voxels // plane)
    exact = array.dtype in (np.dtype("uint8"), np.dtype("uint16"), np.dtype("bool"))
    histogram = np.zeros(2 ** (8 * array.dtype.itemsize), np.int64) if exact else None
    stride = max(1, total // MAX_SAMPLES)
    samples, nan_voxels, inf_voxels, seen = [], 0, 0, 0
    for start in range(0, shape[0], step):
        stop = min(shape[0], start + step)
        begin = array.offset + Coordinate((start,) + (0,) * (len(shape) - 1)) * array.voxel_size
        size = Coordinate((stop - start,) + tuple(shape[1:])) * array.voxel_size
        data = array.read(Roi(begin, size)).ravel()
        if exact:
            histogram += np.bincount(data.astype(np.int64), minlength=histogram.size)
        else:
            if data.dtype.kind == "f":
                nan_voxels += int(np.count_nonzero(np.isnan(data)))
                inf_voxels += int(np.count_nonzero(np.isinf(data)))
            # Every stride-th voxel of the whole array, whatever the slab size.
            first = (-seen) % stride
            picked = data[first::stride]
            samples.append(picked[np.isfinite(picked)] if data.dtype.kind == "f" else picked)
        seen += data.size
    sample = None if exact else np.concatenate(samples) if samples else np.zeros(0)
    return IntensityScan(total, nan_voxels, histogram, sample, inf_voxels)


def nan_problem(array: ZarrArray, where: str) -> str | None:
    """A problem naming `where` if the float array `array` holds NaN or infinities; None
    otherwise."""
    if array.dtype.kind != "f":
        return None
    scan = scan_intensities(array)
    held = [
        f"{n} {what} voxels"
        for n, what in ((scan.nan_voxels, "NaN"), (scan.inf_voxels, "infinite"))
        if n
    ]
    if not held:
        return None
    return (
        f"{where}: {array.path}/{array.dataset} holds {' and '.join(held)} of "
        f"{scan.voxels}; training on them gives a NaN loss (fill or mask them in the data)"
    )


def percentile_range(array: ZarrArray, low: float, high: float) -> tuple[float, float]:
    """(value at percentile low, value at percentile high) of the array's finite voxels."""
    scan = scan_intensities(array)
    lo, hi = scan.percentiles(low, high)
    if hi <= lo:
        raise ValueError(
            f"{array.path}/{array.dataset}: percentiles {low} and {high} are both {lo}; "
            "the raw is (nearly) constant, give min and max instead"
        )
    return lo, hi


def recorded_range(
    array: ZarrArray, percentiles, record: Path | None, write: bool = True
) -> tuple[float, float]:
    """The percentile range of `array`, read from `record` when it was computed for the same
    array and percentiles, else computed and (when `record` is given and `write`) written
    there. Readers of a finished run's record (export) pass write=False: rewriting an input
    of the training jobs would make Snakemake retrain them."""
    key = {
        "path": str(Path(array.path).resolve()),
        "dataset": array.dataset,
        "percentiles": [float(p) for p in percentiles],
    }
    if record is not None and Path(record).is_file():
        stored = json.loads(Path(record).read_text())
        if {k: stored.get(k) for k in key} == key:
            return float(stored["min"]), float(stored["max"])
    low, high = percentile_range(array, *percentiles)
    if record is not None and write:
        atomic_write_json(record, {**key, "min": low, "max": high})
    return low, high
