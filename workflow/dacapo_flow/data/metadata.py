"""An array's geometry metadata (voxel size, offset, channel axis): read and written.

Read in this order (`read_geometry`):

1. OME-NGFF multiscales on the parent group: v0.4 in the group attrs ``multiscales``, v0.5 under
   ``ome.multiscales``. The datasets entry whose ``path`` is this array's name gives ``scale``
   and ``translation``; axes of type ``channel`` are not spatial. The translation is taken as
   the world position of the first voxel's corner (the funlib convention, as funlib.persistence
   and DaCapo read it).
2. Plain array attrs ``voxel_size`` (or ``resolution``) and ``offset`` (funlib.persistence style).
3. Voxel size 1 and offset 0, every axis spatial.

Written as both (`plain_attrs`, `write_ome_metadata`), plus the OME-NGFF `omero` channel and
`image-label` attrs viewers read. World units must be integers (funlib.geometry coordinates
are integer tuples).
"""

from __future__ import annotations

import numpy as np
import zarr
from funlib.geometry import Coordinate

SPATIAL_AXIS_NAMES = {1: ["x"], 2: ["y", "x"], 3: ["z", "y", "x"]}


def _integral_coordinate(values, what: str, where: str) -> Coordinate:
    """Coordinate(8.5) silently truncates to 8; refuse non-integral world units instead."""
    values = [float(v) for v in values]
    if any(v != round(v) for v in values):
        raise ValueError(f"{where}: {what} {values} is not integral (world units must be integers)")
    return Coordinate(*(round(v) for v in values))


def _positive(voxel_size: Coordinate, what: str, where: str) -> Coordinate:
    """A voxel size of 0 (or less) would divide by zero in every ROI computation."""
    if any(v <= 0 for v in voxel_size):
        raise ValueError(f"{where}: {what} {tuple(voxel_size)} must be positive on every axis")
    return voxel_size


def multiscales(attrs: dict) -> list:
    """The OME-NGFF multiscales listed in a group's attrs (v0.5 or v0.4), [] if none."""
    if isinstance(attrs.get("ome"), dict) and "multiscales" in attrs["ome"]:
        return attrs["ome"]["multiscales"]  # v0.5
    return attrs.get("multiscales", [])  # v0.4


def _axis_type(axis) -> str | None:
    if isinstance(axis, dict):
        return axis.get("type") or ("channel" if axis.get("name") in ("c", "c^") else None)
    return "channel" if axis in ("c", "c^") else None  # v0.3 axes are plain names


def _combine_transforms(transforms: list, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    scale, translation = np.ones(ndim), np.zeros(ndim)
    for transform in transforms or []:
        if transform.get("type") == "scale":
            factor = np.asarray(transform["scale"], dtype=float)
            scale, translation = scale * factor, translation * factor
        elif transform.get("type") == "translation":
            translation = translation + np.asarray(transform["translation"], dtype=float)
    return scale, translation


def _read_ome_metadata(group_attrs: dict, name: str, ndim: int, where: str):
    """(voxel_size, offset, channel_axis) from OME-NGFF multiscales, or None if not described."""
    for multiscale in multiscales(group_attrs):
        for entry in multiscale.get("datasets", []):
            if str(entry.get("path", "")).strip("/") != name:
                continue
            axes = multiscale.get("axes") or [None] * ndim
            if len(axes) != ndim:
                raise ValueError(f"{where}: OME-NGFF axes {axes} do not match array ndim {ndim}")
            scale, translation = _combine_transforms(entry.get("coordinateTransformations"), ndim)
            global_scale, global_translation = _combine_transforms(
                multiscale.get("coordinateTransformations"), ndim
            )
            scale = scale * global_scale
            translation = translation * global_scale + global_translation
            channel_axes = [i for i, a in enumerate(axes) if _axis_type(a) == "channel"]
            if len(channel_axes) > 1 or channel_axes not in ([], [0]):
                raise ValueError(f"{where}: only one leading channel axis is supported: {axes}")
            spatial = [i for i in range(ndim) if i not in channel_axes]
            voxel_size = _positive(
                _integral_coordinate(scale[spatial], "OME-NGFF scale", where), "scale", where
            )
            offset = _integral_coordinate(translation[spatial], "OME-NGFF translation", where)
            return voxel_size, offset, bool(channel_axes)
    return None


def _read_plain_metadata(array_attrs: dict, ndim: int, where: str):
    voxel_size = array_attrs.get("voxel_size", array_attrs.get("resolution"))
    if voxel_size is None:
        return None
    voxel_size = _positive(
        _integral_coordinate(voxel_size, "voxel_size", where), "voxel_size", where
    )
    offset = array_attrs.get("offset", [0] * len(voxel_size))
    offset = _integral_coordinate(offset, "offset", where)
    if len(offset) != len(voxel_size):
        raise ValueError(f"{where}: offset {offset} and voxel_size {voxel_size} differ in length")
    if ndim not in (len(voxel_size), len(voxel_size) + 1):
        raise ValueError(f"{where}: array ndim {ndim} does not fit voxel_size {voxel_size}")
    return voxel_size, offset, ndim == len(voxel_size) + 1


def read_geometry(
    group_attrs: dict, array_attrs: dict, name: str, ndim: int, where: str
) -> tuple[Coordinate, Coordinate, bool]:
    """(voxel_size, offset, has_channel_axis) of the array `name` (of `ndim` dims) from its
    parent group's and its own attrs, in the order of this module's docstring; `where` names
    the array in errors."""
    metadata = _read_ome_metadata(group_attrs, name, ndim, where)
    if metadata is None:
        metadata = _read_plain_metadata(array_attrs, ndim, where)
    if metadata is None:
        metadata = Coordinate((1,) * ndim), Coordinate((0,) * ndim), False
    return metadata


def axis_names(voxel_size) -> list[str]:
    return SPATIAL_AXIS_NAMES.get(len(voxel_size), [f"d{i}" for i in range(len(voxel_size))])


def plain_attrs(voxel_size, offset, num_channels: int | None) -> dict:
    """funlib.persistence-style array attrs (read by funlib, DaCapo and `read_geometry`)."""
    names = (["c^"] if num_channels is not None else []) + axis_names(voxel_size)
    return {
        "voxel_size": list(voxel_size),
        "offset": list(offset),
        "axis_names": names,
        "units": ["nm"] * len(voxel_size),
    }


def multiscale_entry(name, voxel_size, offset, num_channels, version) -> dict:
    """An OME-NGFF multiscale with the one level `name` (a leading channel axis if
    num_channels is not None); `version` "0.4" adds the version key v0.5 moves up."""
    axes = [{"name": n, "type": "space", "unit": "nanometer"} for n in axis_names(voxel_size)]
    scale, translation = list(voxel_size), list(offset)
    if num_channels is not None:
        axes = [{"name": "c", "type": "channel"}] + axes
        scale, translation = [1] + scale, [0] + translation
    entry = {
        "name": name,
        "axes": axes,
        "datasets": [
            {
                "path": name,
                "coordinateTransformations": [
                    {"type": "scale", "scale": scale},
                    {"type": "translation", "translation": translation},
                ],
            }
        ],
    }
    if version == "0.4":
        entry["version"] = "0.4"
    return entry


def write_ome_metadata(group, name, voxel_size, offset, num_channels) -> None:
    """One multiscale per array (so arrays with and without channels can share a group),
    replacing an earlier entry for the same array."""
    v3 = group.metadata.zarr_format == 3
    entry = multiscale_entry(name, voxel_size, offset, num_channels, "0.5" if v3 else "0.4")
    attrs = dict(group.attrs)
    kept = [
        m
        for m in multiscales(attrs)
        if not any(str(d.get("path", "")).strip("/") == name for d in m.get("datasets", []))
    ] + [entry]
    if v3:
        group.attrs["ome"] = {**attrs.get("ome", {}), "version": "0.5", "multiscales": kept}
    else:
        group.attrs["multiscales"] = kept


def ome_label_attrs(source_image: str = "../../") -> dict:
    """OME-NGFF 0.4 `image-label` attrs of a label image (colours left to the viewer);
    `source_image` is the image it labels, relative to the label group."""
    return {"image-label": {"version": "0.4", "source": {"image": source_image}}}


def ome_channel_attrs(name: str, channels: list[str], window) -> dict:
    """OME-NGFF 0.4 `omero` attrs naming each channel (the label viewers show), all with the
    display window `window` = (min, max) of the stored values."""
    low, high = (float(v) for v in window)
    return {
        "omero": {
            "name": name,
            "version": "0.4",
            "channels": [
                {
                    "label": str(label),
                    "color": "FFFFFF",
                    "active": True,
                    "window": {"min": low, "max": high, "start": low, "end": high},
                }
                for label in channels
            ],
            "rdefs": {"model": "greyscale" if len(channels) == 1 else "color"},
        }
    }


def list_labels(path, image: str, names: list[str]) -> None:
    """Make `<image>/labels` list the label images `names` (OME-NGFF 0.4), so readers find
    them from the image."""
    root = zarr.open_group(store=str(path), mode="r+")
    group = root.require_group(f"{image.strip('/')}/labels")
    group.attrs["labels"] = list(names)
