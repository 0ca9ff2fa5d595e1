"""Checks that read the data a run config names: problems and warnings, before any job.

Three costs, three places:

- `Config.problems()`: the values alone. Run wherever a config is parsed, including the
  Snakefile in every cluster job.
- `data.array_checks.run_data_problems()`: array metadata (dimensions, voxel sizes, dtypes,
  shapes). Each job checks the arrays of its own run (`verify_run_data`).
- `label_findings()`, `raw_findings()` and `mask_findings()` here: the voxels themselves
  (negative gt ids, label ids that never occur, NaN or infinities in raw, a mask that marks
  nothing), read chunk by chunk. Only `dacapo-flow check` and the main Snakemake process run it
  (`load_plan(..., check_data=True)`), once per array: results are cached by the array's
  path, dataset and metadata modification times, so repetitions and runs sharing data cost
  one scan.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config.datasplits import ArrayConfig, is_pending
from ..data.array_checks import run_data_problems
from ..data.arrays import open_array

# A gt larger than this is not scanned for its ids (its checks are skipped, not failed).
MAX_SCAN_VOXELS = 2**31
_SLAB_VOXELS = 2**24
_MAX_LISTED = 8


@dataclass
class Findings:
    """Problems (the run cannot work) and warnings (it can, but probably not as meant)."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def extend(self, other: Findings) -> None:
        self.problems += other.problems
        self.warnings += other.warnings


def _signature(path: Path, dataset: str) -> tuple:
    """Modification times of the array's directory and metadata: changes when it is rewritten."""
    root = Path(path) / dataset.strip("/")
    stamps = []
    for item in (root, root / ".zarray", root / "zarr.json", root / ".zattrs"):
        try:
            stamps.append(os.stat(item).st_mtime_ns)
        except OSError:
            stamps.append(None)
    return tuple(stamps)


_IDS_CACHE: dict[tuple, np.ndarray | None] = {}


def gt_ids(array: ArrayConfig) -> np.ndarray | None:
    """The sorted distinct values of an integer gt array, or None when it is too large to
    scan. Reads slabs of about 16M voxels; cached per (path, dataset, modification times)."""
    key = (str(Path(array.path).resolve()), array.dataset.strip("/"))
    key += _signature(array.path, array.dataset)
    if key not in _IDS_CACHE:
        _IDS_CACHE[key] = _scan_ids(array)
    return _IDS_CACHE[key]


def _scan_ids(array: ArrayConfig) -> np.ndarray | None:
    import zarr  # lazy: parsing configs does not need zarr

    data = zarr.open_array(store=str(array.path), path=array.dataset.strip("/"), mode="r")
    if math.prod(data.shape) > MAX_SCAN_VOXELS:
        return None
    if data.ndim == 0 or data.shape[0] == 0:
        return np.zeros(0, dtype=data.dtype)
    per_slice = max(1, math.prod(data.shape[1:]))
    step = max(1, _SLAB_VOXELS // per_slice)
    chunk = data.chunks[0] if data.chunks else 1
    step = max(chunk, step // chunk * chunk)  # whole chunks per read
    found = [np.unique(data[start : start + step]) for start in range(0, data.shape[0], step)]
    return np.unique(np.concatenate(found))


def _listed(values) -> str:
    values = [int(v) for v in values]
    more = len(values) - _MAX_LISTED
    return str(values[:_MAX_LISTED])[:-1] + (f", ... {more} more]" if more > 0 else "]")


def label_findings(run_config) -> Findings:
    """Negative ids in a gt array (a problem) and label ids that occur in no gt array of the
    datasplit (a warning naming the ids and the arrays)."""
    findings = Findings()
    split = run_config.datasplit_config
    scanned: list[tuple[str, np.ndarray]] = []
    complete = True
    for key, dataset in split.datasets():
        gt = dataset.gt
        if is_pending(gt.path):
            complete = False
            continue
        try:
            dtype = open_array(gt.path, gt.dataset).dtype
        except (FileNotFoundError, ValueError, KeyError):
            complete = False
            continue  # reported by run_data_problems
        if dtype.kind not in "uib":
            complete = False
            continue  # reported by run_data_problems
        ids = gt_ids(gt)
        if ids is None:
            complete = False
            continue
        where = f"{gt.path}/{gt.dataset}"
        negative = ids[ids < 0] if dtype.kind == "i" else ids[:0]
        if negative.size:
            findings.problems.append(
                f"datasplit_config.{key}.gt: {where} holds negative ids {_listed(negative)}; "
                "label ids must be >= 0"
            )
        scanned.append((where, ids))
    used = set(run_config.task_config.head_labels())
    if complete and scanned:
        arrays = ", ".join(where for where, _ in scanned)
        for label, label_ids in split.label_ids.items():
            if label not in used:
                continue
            absent = [i for i in label_ids if not any(_contains(ids, i) for _, ids in scanned)]
            if absent:
                findings.warnings.append(
                    f"datasplit_config.label_ids.{label}: ids {_listed(absent)} occur in no gt "
                    f"array ({arrays})"
                )
    return findings


def _contains(ids: np.ndarray, value: int) -> bool:
    """Whether sorted `ids` hold `value`, exactly for every integer dtype (uint64 too)."""
    if ids.dtype.kind == "b":
        return value in (0, 1) and bool(np.any(ids == bool(value)))
    info = np.iinfo(ids.dtype)
    if not info.min <= value <= info.max:
        return False
    index = np.searchsorted(ids, ids.dtype.type(value))
    return bool(index < ids.size and ids[index] == value)


_NAN_CACHE: dict[tuple, str | None] = {}


def raw_findings(run_config) -> Findings:
    """NaN or infinities in a float raw array (a problem: they give a NaN loss at step 0), one
    scan per array, cached like the gt ids."""
    from ..data.intensity import nan_problem  # lazy: reads the raw voxels

    findings = Findings()
    for key, dataset in run_config.datasplit_config.datasets():
        raw = dataset.raw
        if is_pending(raw.path):
            continue
        array = open_array(raw.path, raw.dataset)
        cache_key = (str(Path(raw.path).resolve()), raw.dataset.strip("/"))
        cache_key += _signature(raw.path, raw.dataset)
        if cache_key not in _NAN_CACHE:
            _NAN_CACHE[cache_key] = nan_problem(array, "raw")
        if _NAN_CACHE[cache_key]:
            findings.problems.append(f"datasplit_config.{key}.{_NAN_CACHE[cache_key]}")
    return findings


_MASK_CACHE: dict[tuple, bool] = {}


def marks_any_gt_voxel(mask, gt) -> bool:
    """Whether the mask array marks (> 0) any voxel inside the gt's ROI: the sampler draws
    its output windows around such voxels. Reads slabs along the first axis; cached."""
    key = (str(Path(mask.path).resolve()), mask.dataset, str(gt.roi))
    key += _signature(mask.path, mask.dataset)
    if key not in _MASK_CACHE:
        _MASK_CACHE[key] = _scan_mask(mask, gt.roi)
    return _MASK_CACHE[key]


def _scan_mask(mask, roi) -> bool:
    from funlib.geometry import Coordinate, Roi

    inside = roi.intersect(mask.roi)
    if inside.empty:
        return False
    shape = inside.shape / mask.voxel_size
    step = max(1, _SLAB_VOXELS // max(1, math.prod(shape[1:])))
    for start in range(0, shape[0], step):
        size = Coordinate((min(step, shape[0] - start),) + tuple(shape[1:]))
        begin = inside.begin + Coordinate((start,) + (0,) * (len(shape) - 1)) * mask.voxel_size
        if np.any(mask.read(Roi(begin, size * mask.voxel_size)) > 0):
            return True
    return False


def mask_findings(run_config) -> Findings:
    """A mask that marks no voxel of its gt (all 0 there): nothing of that dataset can train
    (the sampler would fail at the first batch) or be scored."""
    findings = Findings()
    for key, dataset in run_config.datasplit_config.datasets():
        if dataset.mask is None or is_pending(dataset.mask.path) or is_pending(dataset.gt.path):
            continue
        mask, gt = (
            open_array(dataset.mask.path, dataset.mask.dataset),
            open_array(dataset.gt.path, dataset.gt.dataset),
        )
        if math.prod(mask.shape) > MAX_SCAN_VOXELS:
            continue  # like the gt ids: too large to scan before every run
        if not marks_any_gt_voxel(mask, gt):
            findings.problems.append(
                f"datasplit_config.{key}.mask: {dataset.mask.path}/{dataset.mask.dataset} "
                f"marks no voxel inside the gt's ROI {gt.roi} (all 0 there): nothing is "
                "annotated"
            )
    return findings


def check_run_data(run_config) -> Findings:
    """Everything about the data of one run: array metadata (`run_data_problems`), the gt
    contents (`label_findings`), NaN and infinities in raw (`raw_findings`) and masks that
    mark nothing (`mask_findings`)."""
    findings = Findings(problems=run_data_problems(run_config))
    if not findings.problems:
        findings.extend(label_findings(run_config))
        findings.extend(raw_findings(run_config))
        findings.extend(mask_findings(run_config))
    return findings
