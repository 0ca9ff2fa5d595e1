"""The OME-Zarr outputs: created once by the prepare job, then written block by block.

Each output is a group (`prediction`, `prediction/labels/segmentation`, `fragments`) holding
level `s0` and, with `pyramid`, a downsampled `s1` (per axis: `blocks.pyramid_factors`, so
40 x 4 x 4 nm sections give an s1 of 40 x 8 x 8 nm), described by one OME-NGFF 0.4
`multiscales` entry (the same entry `data.metadata` writes, so `open_array(zarr, "prediction/s1")`
reads every level back and napari / neuroglancer show s0 in register with the raw). The entry's
`scale` of each level is its voxel size. Predictions have a leading channel axis; so do
segmentations (one channel per distance label, one for affinities and one-hot). Viewers see
them as what they are: the prediction names its channels (`omero`), the segmentation is an
OME-NGFF 0.4 label image of it (`image-label`, listed in `prediction/labels`), and the
fragments are a label image too.

Chunks equal blocks (s1: blocks divided by the factors), so every block is written by exactly
one job. Translations follow the funlib convention of `data.metadata`: the world position of the
first voxel's corner, for s1 too (its first voxel covers s0's first voxels, so both levels
start at the same corner). Viewers that take a translation as a voxel's centre draw s1 half an
s0 voxel off along the halved axes, as they do every funlib-style pyramid.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path

import numpy as np
import zarr
from funlib.geometry import Coordinate, Roi

from ..data.arrays import ZarrArray, create_array, open_array
from ..data.metadata import list_labels, multiscale_entry, ome_channel_attrs, ome_label_attrs
from .plan import FRAGMENTS, PREDICTION, SEGMENTATION, Plan, group_path
from .progress import checksum

logger = logging.getLogger(__name__)

_STAMP = "dacapo_flow"  # group attribute: which config hash the arrays were made for


def output_groups(plan: Plan) -> dict[str, tuple[str, int, str, str]]:
    """group -> (dtype, channels, config hash, levels) of every array the plan writes."""
    levels = 2 if plan.pyramid else 1
    groups = {PREDICTION: (plan.target["dtype"], len(plan.channels), plan.prediction_hash, levels)}
    spec = plan.segmentation
    if spec is not None:
        groups[SEGMENTATION] = (spec.dtype, spec.channels, plan.segmentation_hash, levels)
        if spec.instances:
            groups[FRAGMENTS] = ("uint64", spec.channels, plan.segmentation_hash, 1)
    return groups


def create_outputs(plan: Plan) -> dict[str, str]:
    """Create the output arrays; a group already made for the same hash is kept as it is
    (so a rerun of prepare does not throw away finished blocks). Returns each group's
    generation: a token that changes whenever the group is (re)created."""
    path = Path(plan.zarr)
    generations = {}
    voxel, offset = Coordinate(plan.output_voxel), plan.roi.offset
    shape = plan.roi.shape / voxel
    block = Coordinate(plan.block_shape)
    for group_name, (dtype, channels, config_hash, levels) in output_groups(plan).items():
        stamp = {"hash": config_hash, "shape": list(shape), "block": list(block), "dtype": dtype}
        stamp["levels"] = levels
        factors = [Coordinate((1,) * voxel.dims), plan.s1_factors][:levels]
        if levels > 1:
            stamp["s1_factors"] = list(plan.s1_factors)
        existing = _existing_stamp(path, group_path(group_name)) or {}
        if {k: v for k, v in existing.items() if k != "generation"} == stamp:
            logger.info("%s/%s is up to date; kept", path, group_path(group_name))
            generations[group_name] = existing["generation"]
            continue
        stamp["generation"] = generations[group_name] = uuid.uuid4().hex[:12]
        if (path / group_path(group_name)).exists():
            shutil.rmtree(path / group_path(group_name))
        for level, factor in enumerate(factors):
            create_array(
                path,
                plan.dataset(group_name, level),
                shape / factor,
                dtype,
                voxel * factor,
                offset,
                chunks=block / factor,
                num_channels=channels,
                ome_ngff=False,
            )
        group = zarr.open_group(store=str(path), path=group_path(group_name), mode="r+")
        name = plan.target["name"] if group_name == PREDICTION else group_name
        entry = _multiscale(name, voxel, offset, channels, factors)
        attrs = {"multiscales": [entry], **_viewer_attrs(plan, group_name, dtype), _STAMP: stamp}
        if group_name == PREDICTION and dtype == "uint8":
            attrs["value_range"] = list(plan.value_range)  # stored 0..255 <-> this range
        group.update_attributes(attrs)  # last: an interrupted prepare leaves no stamp
    if plan.segmentation is not None:
        list_labels(path, PREDICTION, [SEGMENTATION])
    return generations


def _viewer_attrs(plan: Plan, group_name: str, dtype: str) -> dict:
    """What makes viewers show a group as what it is: the prediction's channel names and
    display window, or (segmentation, fragments) OME-NGFF `image-label` metadata."""
    if group_name == PREDICTION:
        window = (0, 255) if dtype == "uint8" else plan.value_range
        return ome_channel_attrs(plan.target["name"], plan.channels, window)
    if group_name == SEGMENTATION:
        return ome_label_attrs("../../")  # prediction/labels/segmentation -> prediction
    return ome_label_attrs("../prediction")


def _existing_stamp(path: Path, group_name: str):
    try:
        return dict(zarr.open_group(store=str(path), path=group_name, mode="r").attrs).get(_STAMP)
    except (FileNotFoundError, KeyError, ValueError):
        return None


def _multiscale(name, voxel, offset, channels, factors) -> dict:
    """One OME-NGFF 0.4 multiscale over s0, s1, ... (data.metadata's entry, extended): level i
    has voxel size `voxel * factors[i]`."""
    entry = multiscale_entry("s0", voxel, offset, channels, "0.4")
    entry["name"] = name
    lead = [1] if channels is not None else []
    lead_zero = [0] if channels is not None else []
    entry["datasets"] = [
        {
            "path": f"s{level}",
            "coordinateTransformations": [
                {"type": "scale", "scale": lead + list(voxel * factor)},
                {"type": "translation", "translation": lead_zero + list(offset)},
            ],
        }
        for level, factor in enumerate(factors)
    ]
    return entry


def open_level(plan: Plan, group: str, level: int = 0) -> ZarrArray:
    return open_array(plan.zarr, plan.dataset(group, level))


# -- values ---------------------------------------------------------------------------------


def quantize(values: np.ndarray, value_range, dtype: str) -> np.ndarray:
    """float32 as is; uint8 maps value_range linearly onto 0..255 (rounded, clipped)."""
    if dtype == "float32":
        return values.astype(np.float32, copy=False)
    low, high = value_range
    scaled = (values.astype(np.float32) - np.float32(low)) * np.float32(255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def dequantize(stored: np.ndarray, value_range) -> np.ndarray:
    if stored.dtype != np.uint8:
        return stored.astype(np.float32, copy=False)
    low, high = value_range
    return stored.astype(np.float32) * np.float32((high - low) / 255.0) + np.float32(low)


def downsample(data: np.ndarray, labels: bool, factors) -> np.ndarray:
    """[C, *s] -> [C, *s // factors]: the mean of each box of `factors` voxels (values), or its
    first voxel (labels, which must not be averaged). Trailing voxels that fill no box are
    dropped, matching the s1 shape."""
    factors = tuple(int(f) for f in factors)
    spatial = data.shape[1:]
    cropped = data[(slice(None),) + tuple(slice(0, s - s % f) for s, f in zip(spatial, factors))]
    if labels:
        return np.ascontiguousarray(
            cropped[(slice(None),) + tuple(slice(None, None, f) for f in factors)]
        )
    shape = [data.shape[0]]
    for s, f in zip(cropped.shape[1:], factors):
        shape += [s // f, f]
    axes = tuple(range(2, 2 + 2 * len(spatial), 2))
    mean = cropped.reshape(shape).astype(np.float32).mean(axis=axes)
    return mean.astype(data.dtype) if data.dtype == np.float32 else np.rint(mean).astype(data.dtype)


# -- one block ------------------------------------------------------------------------------


def _factors(levels: list[ZarrArray]) -> Coordinate:
    """s1's downsampling factors per axis, from the levels' voxel sizes."""
    return levels[1].voxel_size / levels[0].voxel_size


def _s1_roi(roi: Roi, levels: list[ZarrArray]) -> Roi:
    """The s1 voxels whose parents lie in roi (blocks start on multiples of the factors)."""
    factors = _factors(levels)
    shape = (roi.shape / levels[0].voxel_size) // factors * levels[1].voxel_size
    return Roi(roi.begin, shape)


def write_block(levels: list[ZarrArray], roi: Roi, data: np.ndarray, labels: bool) -> str:
    """Write data ([C, *roi]) to s0 and its downsampling to s1; returns the block checksum."""
    levels[0].write(roi, data)
    stored = [data]
    if len(levels) > 1:
        small = downsample(data, labels, _factors(levels))
        if small.size:  # a clipped block thinner than a factor has nothing at s1
            levels[1].write(_s1_roi(roi, levels), small)
        stored.append(small)
    return checksum(*stored)


def read_block_checksum(levels: list[ZarrArray], roi: Roi) -> str:
    """The checksum of what is stored for a block (what `write_block` returned)."""
    stored = [levels[0].read(roi)]
    if len(levels) > 1:
        s1 = _s1_roi(roi, levels)
        if s1.empty:  # a clipped block thinner than a factor has nothing at s1
            shape = stored[0].shape[:1] + tuple(s1.shape / levels[1].voxel_size)
            stored.append(np.zeros(shape, levels[1].dtype))
        else:
            stored.append(levels[1].read(s1))
    return checksum(*stored)
