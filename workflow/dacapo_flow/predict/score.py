"""Scoring a prediction target's segmentation against ground truth with the evaluator
validation uses (the task's `evaluate`), restricted to a mask, beside the score that selected
the model: how far the blockwise whole-volume result is from what validation measured.

The voxels scored are those validation scores: inside the ground truth and, with a mask, the
bounding box of its annotated voxels (only voxels the mask marks count), here also cut to the
target's ROI. Ground truth and mask default to the arrays of the target's validation dataset.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from funlib.geometry import Roi

from ..config.base import ConfigError
from ..config.exports import selection_dataset_config
from ..data.arrays import ZarrArray, open_array
from ..data.mask_index import annotated_roi
from ..store.best_record import BestRecord
from .plan import SEGMENTATION, Plan

logger = logging.getLogger(__name__)


@dataclass
class Reference:
    """Ground truth and (optionally) a mask, as `path:dataset` names for the record."""

    gt: ZarrArray
    mask: ZarrArray | None

    def names(self) -> dict:
        def name(array):
            return None if array is None else f"{array.path}:{array.dataset}"

        return {"gt": name(self.gt), "mask": name(self.mask)}


def open_named(text: str, role: str) -> ZarrArray:
    """`PATH:DATASET` (split at the last colon) opened as an array."""
    path, sep, dataset = text.rpartition(":")
    if not sep or not path or not dataset:
        raise ConfigError(f"--{role} {text!r}: expected PATH:DATASET, e.g. data/x.zarr:labels")
    try:
        return open_array(path, dataset)
    except (OSError, KeyError, ValueError) as error:
        raise ConfigError(f"--{role} {text}: cannot be opened: {error}") from None


def dataset_reference(run_config, dataset: str) -> Reference:
    """The gt and mask that validation scored on the run's validation dataset `dataset`."""
    config = selection_dataset_config(run_config, dataset)
    mask = open_array(config.mask.path, config.mask.dataset) if config.mask else None
    return Reference(open_array(config.gt.path, config.gt.dataset), mask)


def scored_roi(plan: Plan, reference: Reference) -> Roi | None:
    """Where validation would score, cut to the target's ROI (None: nothing to score)."""
    segmentation_voxel = tuple(plan.output_voxel)
    for role, array in (("gt", reference.gt), ("mask", reference.mask)):
        if array is None:
            continue
        if tuple(array.voxel_size) != segmentation_voxel:
            raise ConfigError(
                f"{role} {array.path}:{array.dataset} has voxel size {tuple(array.voxel_size)}, "
                f"the segmentation {segmentation_voxel}; resampling is not supported"
            )
        if array.num_channels is not None:
            raise ConfigError(f"{role} {array.path}:{array.dataset} has a channel axis")
        if any((array.offset - plan.roi.offset) % array.voxel_size):
            raise ConfigError(
                f"{role} {array.path}:{array.dataset} is offset by a fraction of a voxel from "
                f"the segmentation (offsets {tuple(array.offset)}, {tuple(plan.roi.offset)})"
            )
    roi = plan.roi.intersect(reference.gt.roi)
    if reference.mask is not None:
        roi = roi.intersect(reference.mask.roi)
    if roi.empty:
        return None
    return roi if reference.mask is None else annotated_roi(reference.mask, roi)


def left_out(plan: Plan, reference: Reference) -> int:
    """Annotated voxels (mask > 0, or every gt voxel) validation scores that lie outside the
    target's ROI, so this score cannot count them."""
    whole = reference.gt.roi
    if reference.mask is not None:
        whole = annotated_roi(reference.mask, whole.intersect(reference.mask.roi))
        if whole is None:
            return 0
    if plan.roi.contains(whole):
        return 0
    inside = whole.intersect(plan.roi)
    voxel = reference.gt.voxel_size
    if reference.mask is None:
        return int(np.prod(whole.shape / voxel)) - (
            0 if inside.empty else int(np.prod(inside.shape / voxel))
        )
    total = int((reference.mask.read(whole) > 0).sum())
    return total - (0 if inside.empty else int((reference.mask.read(inside) > 0).sum()))


def score_prediction(plan: Plan, task, reference: Reference, best: BestRecord) -> dict:
    """The task's criteria of the target's segmentation over the scored voxels, beside the
    best record's selected score and their gap (target minus selected)."""
    from .output import open_level

    if plan.segmentation is None:
        raise ConfigError(f"prediction {plan.target['name']} has no segmentation output to score")
    roi = scored_roi(plan, reference)
    record = {
        "target": plan.target["name"],
        "run": plan.target["run"],
        "dataset": best.dataset,
        "criterion": best.criterion,
        "iteration": best.iteration,
        "parameters": best.parameters,
        **reference.names(),
        "block_shape": list(plan.block_shape),
        "scored_roi": None
        if roi is None
        else {"offset": list(roi.offset), "shape": list(roi.shape)},
        "left_out_voxels": left_out(plan, reference),
        "selected": {"score": best.score, "higher_is_better": best.higher_is_better},
    }
    if roi is None:
        logger.warning("%s: no annotated voxel inside the target's ROI", plan.target["name"])
        record.update(voxels=0, scores={c: None for c in task.criteria}, gap=None)
        return record
    segmentation = open_level(plan, SEGMENTATION).read(roi)
    gt = reference.gt.read(roi)
    mask = None if reference.mask is None else (reference.mask.read(roi) > 0).astype(np.float32)
    scores = task.evaluate(segmentation, gt, mask, reference.gt.voxel_size)
    scores = {c: float(scores[c]) for c in task.criteria}
    target_score = scores.get(best.criterion)
    gap = None
    if best.score is not None and target_score is not None and np.isfinite(target_score):
        gap = target_score - best.score
    record.update(voxels=int(gt.size if mask is None else mask.sum()), scores=scores, gap=gap)
    return record


def describe(record: dict) -> str:
    """The record as a few lines for the terminal."""
    from ..stats.validation_scores import parameter_label

    parameters = parameter_label(record["parameters"] or {})
    head = (
        f"{record['target']}: run {record['run']}, best {record['criterion']} on "
        f"{record['dataset']} (iteration {record['iteration']}, {parameters}), "
        f"blocks of {record['block_shape']} voxels"
    )
    where = f" where {record['mask']} > 0" if record["mask"] else ""
    roi = f" in {record['scored_roi']}" if record["scored_roi"] else ""
    lines = [head, f"scored {record['voxels']} voxels of {record['gt']}{where}{roi}"]
    if record["left_out_voxels"]:
        lines.append(
            f"warning: {record['left_out_voxels']} annotated voxels lie outside the target's ROI"
        )
    for criterion, value in record["scores"].items():
        line = f"  {criterion:<22} {_number(value)}"
        if criterion == record["criterion"]:
            selected = record["selected"]["score"]
            line += f"   selected on validation: {_number(selected)}"
            line += f", gap {record['gap']:+.4f}" if record["gap"] is not None else ""
        lines.append(line)
    return "\n".join(lines)


def _number(value) -> str:
    return "nan" if value is None or not np.isfinite(value) else f"{value:.4f}"


def score_target(
    config: dict,
    config_path: str,
    name: str,
    gt: str | None = None,
    mask: str | None = None,
    no_mask: bool = False,
    run_config_path: Path | None = None,
) -> dict:
    """Score target `name` of a workflow config (its store, its run's resolved config and
    best record); `gt` / `mask` as PATH:DATASET replace the validation dataset's arrays."""
    from ..config.loading import load_run_config
    from ..config.predictions import PredictionTarget, resolve_dataset
    from ..layout import Layout
    from .prepare import build_task, read_best

    entries = {entry.get("name"): entry for entry in config.get("predictions") or []}
    if name not in entries:
        raise ConfigError(f"{config_path}: no prediction target {name!r} (have {sorted(entries)})")
    target = PredictionTarget.model_validate(entries[name])
    given = {role: open_named(text, role) for role, text in (("gt", gt), ("mask", mask)) if text}
    layout = Layout(config.get("store", "results/store"))
    paths = layout.prediction(name)
    if not Path(paths.verified).exists():
        raise FileNotFoundError(
            f"{paths.verified} is missing: prediction {name} has not finished (run snakemake)"
        )
    plan = Plan.read(paths.prepared)
    run_config_path = run_config_path or Path(layout.run_config(target.run))
    if not run_config_path.exists():
        raise FileNotFoundError(
            f"{run_config_path} is missing: give the run's config with --run-config"
        )
    run_config = load_run_config(run_config_path, verify=False)
    datasets = [d.name for d in run_config.datasplit_config.validate_configs]
    dataset = resolve_dataset(target, datasets)
    best = read_best(layout.best_record(target.run, dataset, target.criterion), target)
    if plan.weights.get("iteration") not in (None, best.iteration):
        raise ConfigError(
            f"prediction {name} was made from iteration {plan.weights['iteration']}, the best "
            f"record now names {best.iteration}: run snakemake to redo it"
        )
    if gt is not None:  # another ground truth: the validation mask no longer applies
        reference = Reference(given["gt"], given.get("mask"))
    else:
        reference = dataset_reference(run_config, dataset)
        if mask is not None or no_mask:
            reference.mask = given.get("mask")
    return score_prediction(plan, build_task(run_config), reference, best)
