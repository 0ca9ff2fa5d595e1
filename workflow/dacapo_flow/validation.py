"""Validation of one checkpoint: blockwise prediction, every post-processing parameter set,
evaluation, and the scores of that iteration written to one file."""

import logging
import tempfile
from concurrent.futures import ThreadPoolExecutor
from itertools import product
from pathlib import Path

import numpy as np
import torch
from funlib.geometry import Coordinate, Roi

from .config.run_config import RunConfig
from .data.mask_index import annotated_roi
from .data.sampling import SamplerDataset
from .predict.blocks import grid_origin, shape_steps
from .run import Run
from .stats.validation_scores import ValidationIterationScores, parameter_label
from .store.weights import load_checkpoint

logger = logging.getLogger(__name__)


def block_rois(roi: Roi, block_shape_world: Coordinate) -> list[Roi]:
    """Output blocks tiling `roi`; the last block of a row may hang over its end."""
    counts = [-(-s // b) for s, b in zip(roi.shape, block_shape_world)]
    return [
        Roi(roi.offset + Coordinate(index) * block_shape_world, block_shape_world)
        for index in product(*(range(c) for c in counts))
    ]


# Elements of the widest activation (input voxels x top-level feature maps) a validation block
# may reach: 2^24 floats, 64 MiB per tensor. Bigger blocks spend less of each forward pass on
# context (the 76³ -> 36³ DaCapo U-Net spends 90 % of an eval-shape pass on it); beyond this
# size a CPU pass gains little per output voxel and its first call costs more.
BLOCK_ELEMENTS = 2**24


def prediction_block(
    model, roi_shape: Coordinate, block_elements: int = BLOCK_ELEMENTS
) -> tuple[Coordinate, Coordinate]:
    """(input, output) shape of the validation forward passes over a ROI of `roi_shape` voxels.

    Of the eval shape grown by whole steps, the one that tiles the ROI with the fewest input
    voxels in all, within `block_elements`. Only for valid padding, where an output voxel sees
    nothing but its own context: the prediction is the eval-shape blocks' one, to float
    rounding (exactly that when the eval output is a multiple of the downsampling, which
    anchors the pooling grid). A 'same'-padded network keeps its eval shape, whose zero-padded
    borders are part of what it was validated with."""
    in_shape = Coordinate(model.eval_input_shape)

    def output_shape_of(shape):
        return model.compute_output_shape(shape)[1]

    out_shape = output_shape_of(in_shape)
    if getattr(model.architecture, "padding", "valid") != "valid":
        return in_shape, out_shape
    steps = shape_steps(output_shape_of, in_shape)
    fmaps = getattr(model.architecture, "num_fmaps", 1) or 1
    budget = max(block_elements, fmaps * int(np.prod(in_shape)))
    context = in_shape - out_shape
    options = []  # per axis: (blocks, input size, output size) of each block count
    for axis, (size, step) in enumerate(zip(roi_shape, steps)):
        most = -(-size // out_shape[axis])  # the eval shape's count
        choices = []
        for count in range(1, most + 1):
            need = -(-size // count) - out_shape[axis]
            grow = 0 if need <= 0 or not step else -(-need // step) * step
            if need > 0 and not step:
                continue
            choices.append((count, in_shape[axis] + grow, out_shape[axis] + grow))
        options.append(choices)
    best = None
    for choice in product(*options):
        shape = Coordinate(c[1] for c in choice)
        if fmaps * int(np.prod(shape)) > budget:
            continue
        total = int(np.prod([c[0] * c[1] for c in choice]))
        if best is None or total < best[0]:
            best = (total, shape)
    if best is None:
        return in_shape, out_shape
    found = output_shape_of(best[1])
    assert found == best[1] - context, (best[1], found)  # valid padding: context is fixed
    return best[1], found


def model_period(model, voxel: Coordinate) -> Coordinate:
    """World units per axis by which the model's block grid may move and predict alike: its
    total downsampling (see `grid_origin`); one voxel where its input cannot grow."""
    steps = shape_steps(
        lambda shape: model.compute_output_shape(shape)[1], Coordinate(model.eval_input_shape)
    )
    return Coordinate(max(step, 1) for step in steps) * voxel


def warn_if_off_period(what: str, block_shape: Coordinate, block_world, period) -> None:
    """Log when blocks of `block_world` (world units) are not whole steps of the network's
    downsampling `period`: neighbouring blocks then pool in different phases, and validation
    and prediction targets may predict some voxels differently."""
    if any(Coordinate(block_world) % period):
        logger.warning(
            "%s: blocks of %s voxels are not whole steps of the network's downsampling: "
            "neighbouring blocks pool in different phases, so validation and prediction "
            "targets may predict some voxels differently",
            what,
            tuple(block_shape),
        )


def predict_blockwise(
    model,
    dataset: SamplerDataset,
    roi: Roi,
    device,
    out: np.ndarray,
    block_elements: int = BLOCK_ELEMENTS,
):
    """Fill `out` ([C, *roi.shape/voxel]) with the model's eval-mode prediction over `roi`,
    in blocks of `prediction_block`.

    The blocks' grid starts on the raw array's offset plus whole steps of the network's
    downsampling, as a prediction target's does: both then predict every voxel alike, wherever
    their ROIs start. Reading block i+1 overlaps with the forward pass of block i; memory holds
    a few blocks.
    """
    voxel = dataset.raw.voxel_size
    period = model_period(model, voxel)
    origin = grid_origin(roi.offset, dataset.raw.roi.offset, period)
    grid = Roi(origin, roi.end - origin)
    in_shape, out_shape = prediction_block(model, grid.shape / voxel, block_elements)
    warn_if_off_period("validation", out_shape, out_shape * voxel, period)
    context = (in_shape - out_shape) // 2 * voxel
    blocks = [b for b in block_rois(grid, out_shape * voxel) if not b.intersect(roi).empty]

    def read(block: Roi) -> np.ndarray:
        return dataset.read_raw(block.grow(context, context))[np.newaxis, np.newaxis]

    model.eval()
    with ThreadPoolExecutor(max_workers=1) as reader, torch.inference_mode():
        pending = reader.submit(read, blocks[0])
        for i, block in enumerate(blocks):
            raw = pending.result()
            if i + 1 < len(blocks):
                pending = reader.submit(read, blocks[i + 1])
            prediction = model(torch.from_numpy(raw).to(device))[0].float().cpu().numpy()
            kept = block.intersect(roi)
            source = (kept.offset - block.offset) / voxel
            target = (kept.offset - roi.offset) / voxel
            shape = kept.shape / voxel
            out[(slice(None), *(slice(t, t + n) for t, n in zip(target, shape)))] = prediction[
                (slice(None), *(slice(s, s + n) for s, n in zip(source, shape)))
            ]


def validation_roi(dataset: SamplerDataset) -> Roi | None:
    """The gt ROI, cut down to the bounding box of its annotated voxels where a mask is
    given: a crop with one labelled section is predicted, post-processed and scored on that
    section alone (None: nothing is annotated)."""
    if dataset.mask is None:
        return dataset.gt.roi
    return annotated_roi(dataset.mask, dataset.gt.roi)


def segmented_roi(roi: Roi, dataset: SamplerDataset, context) -> Roi:
    """What validation predicts and post-processes: the scored `roi`, grown by the dataset's
    `segmentation_context` (world units per axis) within the raw array."""
    if not context:
        return roi
    context = Coordinate(context)
    # Whole voxels on both counts (checked before any job), so the result stays on the raw's
    # grid, wherever its offset lies; a snap to multiples of the voxel size would not.
    return roi.grow(context, context).intersect(dataset.raw.roi).union(roi)


def validate_dataset(
    run: Run, dataset_config, device, scratch: Path, record: Path | None = None
) -> list[list[float]]:
    """Scores [parameter][criterion] of one validation dataset (`record`: its recorded
    percentile range, when its raw is normalised by percentiles)."""
    dataset = SamplerDataset.from_config(dataset_config, record=record)
    roi = validation_roi(dataset)
    if roi is None:
        logger.warning("%s: the mask marks no voxel of gt; every score is NaN", dataset_config.name)
        return [[float("nan")] * len(run.task.criteria) for _ in run.task.parameters]
    region = segmented_roi(roi, dataset, dataset_config.segmentation_context)
    voxel = dataset.gt.voxel_size
    if region != roi:
        logger.info("%s: segmenting %s, scoring %s", dataset_config.name, region, roi)
    shape = (run.model.num_out_channels, *(region.shape / voxel))
    # The prediction lives in a temporary file, not in memory, and is deleted afterwards.
    prediction = np.lib.format.open_memmap(
        scratch / f"{dataset_config.name}.npy", mode="w+", dtype=np.float32, shape=shape
    )
    predict_blockwise(run.model, dataset, region, device, prediction)
    gt = dataset.gt.read(roi)
    mask = dataset.mask.read(roi).astype(np.float32) if dataset.mask else None
    scored = tuple(
        slice(b, b + n) for b, n in zip((roi.offset - region.offset) / voxel, roi.shape / voxel)
    )
    rows = []
    for params in run.task.parameters:
        output = run.task.post_process(np.asarray(prediction), params)
        scores = run.task.evaluate(output[(..., *scored)], gt, mask, voxel)
        rows.append([float(scores[c]) for c in run.task.criteria])
        logger.info("%s %s: %s", dataset_config.name, parameter_label(params), scores)
    del prediction
    return rows


def validate_checkpoint(
    run_config: RunConfig,
    checkpoint: Path,
    out: Path,
    scratch: Path,
    device=None,
    normalisation: dict | None = None,
) -> Path:
    """Validate `checkpoint` on every validation dataset and write its scores to `out`.
    Predictions live in a temporary directory under `scratch`, removed afterwards."""
    device = device or torch.device("cpu")
    run = Run(run_config)
    weights = load_checkpoint(checkpoint)
    if weights.iteration is None:
        raise ValueError(f"checkpoint {checkpoint} records no iteration")
    run.model.load_state_dict(weights.model)
    run.model.to(device)
    scores = run.validation_scores
    Path(scratch).mkdir(parents=True, exist_ok=True)
    prefix = f"validate_{weights.iteration}_"
    with tempfile.TemporaryDirectory(dir=scratch, prefix=prefix) as tmp:
        per_dataset = [
            validate_dataset(run, d, device, Path(tmp), (normalisation or {}).get(d.name))
            for d in run_config.datasplit_config.validate_configs
        ]
    scores.add_iteration_scores(ValidationIterationScores(weights.iteration, per_dataset))
    scores.to_netcdf(out)
    return Path(out)
