"""Report pictures of what the selected models do, one section each:

- `validation_picture`: a validation dataset's middle section: raw, the winning checkpoint's
  prediction, the selected post-processing's segmentation, and the ground truth (or its mask).
  Validation keeps no predictions (they live in a temporary file), so this predicts a thin slab
  around the section with the winning weights (torch; a small job) and post-processes the slab
  with the selected parameters.
- `prediction_preview`: a prediction target's middle section from what its jobs wrote: raw,
  prediction and segmentation (no torch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from funlib.geometry import Coordinate, Roi

from .pictures import Panel, central_section, extent, write_section_figure

SLAB = 8  # output voxels of z context on each side of the section post-processing sees


def _channels(names) -> str:
    names = list(names)
    shown = names[:3]
    return ", ".join(shown) + (" as RGB" if len(shown) > 1 else "")


def _raw_section(array, section: Roi) -> Roi:
    """The section in the raw's own voxels (one raw voxel thick)."""
    voxel = array.voxel_size
    return Roi(section.begin, Coordinate(voxel[0], *section.shape[1:])).snap_to_grid(voxel)


def picture_section(roi: Roi, region: Roi, voxel) -> tuple[Roi, Roi]:
    """(the section drawn, the slab segmented for it): the scored box's middle section over
    all of what validation segments in-plane (`region`), and up to SLAB sections either side
    of it within `region`."""
    middle = central_section(roi, voxel)
    section = Roi(
        Coordinate(middle.begin[0], *region.begin[1:]),
        Coordinate(middle.shape[0], *region.shape[1:]),
    )
    context = Coordinate(SLAB * voxel[0], *(0 for _ in region.shape[1:]))
    return section, section.grow(context, context).intersect(region)


def validation_picture(
    run_config, best_json, weights_path, dataset_name: str, png, record=None, device=None
) -> Path:
    import torch

    from ..data.sampling import SamplerDataset
    from ..predict.prepare import value_range
    from ..run import Run
    from ..stats.validation_scores import parameter_label
    from ..store.best_record import BestRecord
    from ..store.weights import load_checkpoint
    from ..validation import predict_blockwise, segmented_roi, validation_roi

    best = BestRecord.read(best_json)
    configs = {d.name: d for d in run_config.datasplit_config.validate_configs}
    if dataset_name not in configs:
        raise ValueError(f"run {run_config.name} has no validation dataset {dataset_name!r}")
    run = Run(run_config)
    weights = load_checkpoint(weights_path)
    run.model.load_state_dict(weights.model)
    device = device or torch.device("cpu")
    run.model.to(device)
    dataset = SamplerDataset.from_config(configs[dataset_name], record=record)
    roi = validation_roi(dataset)
    roi = dataset.gt.roi if roi is None else roi
    # What validation segments: the scored box, with its segmentation_context if any.
    region = segmented_roi(roi, dataset, configs[dataset_name].segmentation_context)
    voxel = dataset.gt.voxel_size
    section, slab = picture_section(roi, region, voxel)
    prediction = np.zeros((run.model.num_out_channels, *(slab.shape / voxel)), np.float32)
    predict_blockwise(run.model, dataset, slab, device, prediction)
    parameters = best.parameters
    if parameters is None:
        parameters = run.task.parameters[0]
    segmentation = run.task.post_process(prediction, parameters)
    z = (section.begin[0] - slab.begin[0]) // voxel[0]
    where = extent(section)
    raw_section = _raw_section(dataset.raw, section)
    panels = [
        Panel("raw", dataset.read_raw(raw_section)[0], "raw", extent(raw_section)),
        Panel(
            f"prediction ({_channels(run.task.head_labels)})",
            prediction[:, z],
            "values",
            where,
            tuple(value_range(run.task)),
        ),
        Panel(
            f"segmentation ({parameter_label(parameters)})",
            np.asarray(segmentation)[:, z],
            "labels",
            where,
        ),
    ]
    for name, array in (("ground truth", dataset.gt), ("mask", dataset.mask)):
        known = section.intersect(array.roi) if array is not None else None
        if known is not None and not known.empty:
            panels.append(Panel(name, array.read(known)[..., 0, :, :], "labels", extent(known)))
    title = (
        f"{run_config.name} on {dataset_name}: checkpoint {best.iteration}, "
        f"{best.criterion} {_score(best.score)}, z = {section.begin[0]} nm"
    )
    write_section_figure(panels, png, title)
    return Path(png)


def _score(score) -> str:
    return "-" if score is None else f"{score:.4g}"


def prediction_preview(prepared, png) -> Path:
    from ..data.arrays import open_array
    from ..predict.output import dequantize, open_level
    from ..predict.plan import PREDICTION, SEGMENTATION, Plan

    plan = Plan.read(prepared)
    prediction = open_level(plan, PREDICTION)
    section = central_section(plan.roi, prediction.voxel_size)
    where = extent(section)
    raw = open_array(plan.target_config.input.path, plan.target_config.input.dataset)
    raw_section = _raw_section(raw, section)
    panels = [
        Panel("raw", raw.read(raw_section)[..., 0, :, :], "raw", extent(raw_section)),
        Panel(
            f"prediction ({_channels(plan.channels)})",
            dequantize(prediction.read(section), plan.value_range)[:, 0],
            "values",
            where,
            tuple(plan.value_range),
        ),
    ]
    if plan.segmentation is not None:
        segmentation = open_level(plan, SEGMENTATION).read(section)[:, 0]
        panels.append(Panel("segmentation", segmentation, "labels", where))
    weights = plan.weights
    title = (
        f"{plan.target['name']}: run {plan.target['run']}, checkpoint "
        f"{weights.get('iteration')}, z = {section.begin[0]} nm"
    )
    write_section_figure(panels, png, title)
    return Path(png)
