"""Pictures of the data for the report: one section of raw, prediction, segmentation and
ground truth side by side, each panel in world units (so arrays of different voxel sizes
line up). Byte-stable: the figure is written by `curves.save_figure` (fixed metadata, no
dates, fixed SVG salt), and label colours come from a fixed hash of the label id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

from .curves import RC, save_figure


@dataclass
class Panel:
    title: str
    data: np.ndarray  # 2D [y, x] (one channel) or 3D [C, y, x] (values, up to 3 shown as RGB)
    kind: str  # "raw", "values" or "labels"
    extent: tuple[float, float, float, float]  # (x0, x1, y1, y0) in world units
    window: tuple[float, float] | None = None  # value range shown (None: the data's own)


def label_colours(labels: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] per voxel: a fixed pseudo-random colour per id, black for 0."""
    ids = labels.astype(np.uint64)
    mixed = ids + np.uint64(0x9E3779B97F4A7C15)  # splitmix64: neighbouring ids differ
    mixed = (mixed ^ (mixed >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    mixed = (mixed ^ (mixed >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    mixed ^= mixed >> np.uint64(31)
    rgb = np.stack([(mixed >> np.uint64(s)) & np.uint64(0xFF) for s in (0, 8, 16)], axis=-1)
    rgb = 0.25 + 0.75 * rgb.astype(np.float32) / 255.0  # bright enough on black
    rgb[ids == 0] = 0.0
    return rgb


def _values_image(data: np.ndarray, window=None) -> tuple[np.ndarray, dict]:
    """One channel -> grey; two or three -> RGB; scaled from `window` (the activation's
    range, so a flat prediction looks flat) or else from each channel's own range."""
    if data.ndim == 2 or data.shape[0] == 1:
        plane = data if data.ndim == 2 else data[0]
        low, high = window or (np.nanmin(plane), np.nanmax(plane))
        return plane, {"cmap": "gray", "vmin": low, "vmax": high if high > low else low + 1}
    channels = data[:3].astype(np.float32)
    if window is not None:
        low, span = np.float32(window[0]), np.float32(window[1] - window[0])
    else:
        low = channels.min(axis=(1, 2), keepdims=True)
        span = channels.max(axis=(1, 2), keepdims=True) - low
    scaled = np.clip((channels - low) / np.where(span > 0, span, 1), 0, 1)
    if scaled.shape[0] == 2:
        scaled = np.concatenate([scaled, np.zeros_like(scaled[:1])])
    return np.moveaxis(scaled, 0, -1), {}


def section_figure(panels: list[Panel], title: str = "") -> Figure:
    """The panels in one row."""
    figure = Figure(figsize=(3.2 * len(panels), 3.6), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        if panel.kind == "labels":
            plane = panel.data if panel.data.ndim == 2 else panel.data[0]
            image, options = label_colours(plane), {}
        else:
            image, options = _values_image(panel.data, panel.window)
        ax.imshow(image, extent=panel.extent, interpolation="nearest", **options)
        ax.set_title(panel.title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("x (nm)", fontsize=7)
    axes[0].set_ylabel("y (nm)", fontsize=7)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def write_section_figure(panels: list[Panel], png, title: str = "") -> None:
    with rc_context(RC):
        save_figure(section_figure(panels, title), png=png)


def extent(roi) -> tuple[float, float, float, float]:
    """imshow extent of a 3D (z, y, x) world ROI's y-x plane, y downwards."""
    return (roi.begin[2], roi.end[2], roi.end[1], roi.begin[1])


def central_section(roi, voxel_size):
    """The world ROI of the middle z section (one voxel thick) of a 3D ROI."""
    from funlib.geometry import Coordinate, Roi

    middle = roi.begin[0] + (roi.shape[0] // voxel_size[0]) // 2 * voxel_size[0]
    return Roi(Coordinate(middle, *roi.begin[1:]), Coordinate(voxel_size[0], *roi.shape[1:]))
