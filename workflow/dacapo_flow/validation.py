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


def predict_blockwise(model, dataset: SamplerDataset, roi: Roi, device, out: np.ndarray):
    """Fill `out` ([C, *roi.shape/voxel]) with the model's eval-mode prediction over `roi`.

    Reading block i+1 overlaps with the forward pass of block i; memory holds a few blocks.
    """
    voxel = dataset.raw.voxel_size
    in_shape = Coordinate(model.eval_input_shape)
    _, out_shape = model.compute_output_shape(in_shape)
    context = (in_shape - out_shape) // 2 * voxel
    blocks = block_rois(roi, out_shape * voxel)

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
            start = (block.offset - roi.offset) / voxel
            stop = Coordinate(min(a, b) for a, b in zip(start + out_shape, out.shape[1:]))
            out[(slice(None), *(slice(a, b) for a, b in zip(start, stop)))] = prediction[
                (slice(None), *(slice(0, b - a) for a, b in zip(start, stop)))
            ]


def validation_roi(dataset: SamplerDataset) -> Roi | None:
    """The gt ROI, cut down to the bounding box of its annotated voxels where a mask is
    given: a crop with one labelled section is predicted, post-processed and scored on that
    section alone (None: nothing is annotated)."""
    if dataset.mask is None:
        return dataset.gt.roi
    return annotated_roi(dataset.mask, dataset.gt.roi)


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
    voxel = dataset.gt.voxel_size
    shape = (run.model.num_out_channels, *(roi.shape / voxel))
    # The prediction lives in a temporary file, not in memory, and is deleted afterwards.
    prediction = np.lib.format.open_memmap(
        scratch / f"{dataset_config.name}.npy", mode="w+", dtype=np.float32, shape=shape
    )
    predict_blockwise(run.model, dataset, roi, device, prediction)
    gt = dataset.gt.read(roi)
    mask = dataset.mask.read(roi).astype(np.float32) if dataset.mask else None
    rows = []
    for params in run.task.parameters:
        output = run.task.post_process(np.asarray(prediction), params)
        scores = run.task.evaluate(output, gt, mask, voxel)
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
