"""The sample an export ships: one evaluation block of the selection dataset's raw, the
network's output on it, and a cover image of the two.

The crop is centred on what validation scored (the gt ROI, or its annotated part), moved
inside the raw where the raw is large enough, and read exactly as validation reads it
(`read_normalised`, 0 outside the raw). The output is therefore the workflow's own prediction
of that region: a package that reproduces it reproduces the workflow.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from funlib.geometry import Coordinate, Roi

from dacapo_flow.data.sampling import read_normalised
from dacapo_flow.export.selected import SelectedModel
from dacapo_flow.predict.blocks import grid_origin
from dacapo_flow.validation import model_period, validation_roi


@dataclass
class Sample:
    raw: np.ndarray  # [1, 1, *shape] float32 raw intensities (the package's input)
    output: np.ndarray  # [1, channels, *out shape] float32 eval-mode prediction
    input_roi: Roi  # world units, on the raw's grid
    output_roi: Roi

    def describe(self) -> dict:
        """The crop's place, for the package's metadata (world units, nm)."""
        return {
            "input_offset": list(self.input_roi.offset),
            "input_shape": list(self.input_roi.shape),
            "output_offset": list(self.output_roi.offset),
            "output_shape": list(self.output_roi.shape),
        }


def crop_roi(selected: SelectedModel) -> Roi:
    """One evaluation block of the selection raw, centred on the validated region and moved
    onto validation's block grid (`model_period`), so its output is validation's prediction."""
    raw = selected.selection.raw
    voxel = raw.voxel_size
    shape = Coordinate(selected.model.eval_input_shape)
    out_shape = Coordinate(selected.model.compute_output_shape(shape)[1])
    context = (shape * voxel - out_shape * selected.output_voxel_size) / 2
    period = model_period(selected.model, voxel)
    target = validation_roi(selected.selection)
    if target is None:  # nothing annotated: the middle of the raw
        target = raw.roi
    centre = (target.offset + target.shape / 2 - raw.offset) / voxel
    raw_shape = raw.roi.shape / voxel
    begin = []
    for c, s, r in zip(centre, shape, raw_shape):
        # Inside the raw where it fits; centred on the raw (padded) where it does not.
        begin.append(min(max(c - s // 2, 0), r - s) if r >= s else (r - s) // 2)
    output = grid_origin(raw.offset + Coordinate(begin) * voxel + context, raw.offset, period)
    start = []
    for axis, fits in enumerate(r >= s for r, s in zip(raw_shape, shape)):
        low = output[axis] - context[axis]
        # moved back onto the grid: forward by one step where that keeps it inside the raw
        if (
            fits
            and low < raw.offset[axis]
            and low + period[axis] + shape[axis] * voxel[axis] <= raw.roi.end[axis]
        ):
            low += period[axis]
        start.append(low)
    return Roi(Coordinate(start), shape * voxel)


def _read_raw(selected: SelectedModel, roi: Roi) -> np.ndarray:
    """Raw intensities over roi as float32, the range's low end outside the raw (which
    normalises to the 0 validation pads with)."""
    raw = selected.selection.raw
    out = np.full(roi.shape / raw.voxel_size, selected.raw_range[0], np.float32)
    inside = roi.intersect(raw.roi)
    if not inside.empty:
        data = raw.read(inside)
        if raw.num_channels is not None:
            data = data[0]
        begin = (inside.begin - roi.begin) / raw.voxel_size
        out[tuple(slice(b, b + s) for b, s in zip(begin, data.shape))] = data
    return out


def sample(selected: SelectedModel) -> Sample:
    roi = crop_roi(selected)
    low, high = selected.raw_range
    normalised = read_normalised(selected.selection.raw, roi, low, high)
    with torch.no_grad():
        output = selected.model(torch.from_numpy(normalised[None, None])).numpy()
    out_world = Coordinate(output.shape[2:]) * selected.output_voxel_size
    context = (roi.shape - out_world) / 2
    return Sample(
        raw=_read_raw(selected, roi)[None, None],
        output=output,
        input_roi=roi,
        output_roi=Roi(roi.offset + context, out_world),
    )


def cover_png(sample: Sample, labels: list[str], section_axis: int | None) -> bytes:
    """A PNG of the middle section of the input beside the first output channel there, both
    drawn in world units (the output at its place inside the input's context).
    Deterministic bytes: no pyplot state, no timestamp or software version in the file."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    raw, output = sample.raw[0, 0], sample.output[0, 0]
    begin = sample.input_roi.offset
    boxes = [sample.input_roi, sample.output_roi]
    plane = list(range(raw.ndim))
    if raw.ndim == 3:
        axis = section_axis or 0
        raw = np.take(raw, raw.shape[axis] // 2, axis=axis)
        output = np.take(output, output.shape[axis] // 2, axis=axis)
        plane.remove(axis)
    extents = []
    for box in boxes:  # (left, right, bottom, top) of the plane's two axes, in nm
        (y0, x0), (y1, x1) = (
            [box.offset[a] - begin[a] for a in plane],
            [box.end[a] - begin[a] for a in plane],
        )
        extents.append((x0, x1, y1, y0))
    figure = Figure(figsize=(6, 3), dpi=100)
    FigureCanvasAgg(figure)
    panels = [(raw, "raw", "gray"), (output, f"prediction: {labels[0]}", "magma")]
    for i, ((image, title, cmap), extent) in enumerate(zip(panels, extents)):
        axes = figure.add_subplot(1, 2, i + 1)
        axes.imshow(image, cmap=cmap, interpolation="nearest", extent=extent)
        axes.set_xlim(extents[0][0], extents[0][1])
        axes.set_ylim(extents[0][2], extents[0][3])
        axes.set_title(title, fontsize=9)
        axes.set_axis_off()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
