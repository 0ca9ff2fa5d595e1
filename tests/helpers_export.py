"""A tiny selected model on disk (run config, dacapo-flow checkpoint, best JSON) for the export
tests: anisotropic voxels, raw range from the dtype (or percentiles), a two-label distance
head; the validation raw is its own volume, darker than the training raw and larger than one
evaluation block."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import yaml

from dacapo_flow.config.run_config import RunConfig
from dacapo_flow.data.arrays import write_array
from dacapo_flow.factory import create_architecture, create_task
from dacapo_flow.store.weights import Weights, save_checkpoint

VOXEL_SIZE = (8, 4, 4)
VALIDATE_OFFSET = (80, 40, 40)  # world units: the validation volume's offset


def _volume(rng, shape, low: int, high: int) -> np.ndarray:
    """uint8 raw with structure (smoothed noise) spanning low..high."""
    noise = rng.normal(size=shape)
    for axis in range(noise.ndim):  # a cheap blur: average of shifted copies
        noise = sum(np.roll(noise, shift, axis) for shift in (-2, -1, 0, 1, 2))
    scaled = (noise - noise.min()) / np.ptp(noise)
    return (low + scaled * (high - low)).astype(np.uint8)


def write_selected(
    root: Path,
    section_axis: int | None = None,
    percentiles: list[float] | None = None,
    validate_shape: tuple[int, ...] = (40, 40, 40),
    task_config: dict | None = None,
) -> dict[str, Path]:
    """`section_axis`: a 2D network applied section by section along that axis.
    `percentiles`: every raw normalised by these percentiles instead of the dtype range.
    `validate_shape`: of the validation raw (the default holds an evaluation block).
    `task_config`: instead of the distance task; its head labels must be mito and er."""
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data.zarr"
    rng = np.random.default_rng(0)
    train, validate = _volume(rng, (12, 24, 24), 0, 255), _volume(rng, validate_shape, 30, 180)
    write_array(data, "raw", train, VOXEL_SIZE, (0, 0, 0))
    write_array(data, "labels", (train > 200).astype(np.uint8), VOXEL_SIZE, (0, 0, 0))
    write_array(data, "validate_raw", validate, VOXEL_SIZE, VALIDATE_OFFSET)
    # gt covers the middle half of the validation raw only: the test crop centres on it.
    begin = [s // 4 for s in validate_shape]
    middle = tuple(slice(b, s - b) for b, s in zip(begin, validate_shape))
    gt_offset = tuple(o + b * v for o, b, v in zip(VALIDATE_OFFSET, begin, VOXEL_SIZE))
    labels = (validate[middle] > 120).astype(np.uint8)
    write_array(data, "validate_labels", labels, VOXEL_SIZE, gt_offset)

    def dataset(raw: str, gt: str) -> dict:
        entry = {
            "raw": {"path": str(data), "dataset": raw},
            "gt": {"path": str(data), "dataset": gt},
        }
        if percentiles is not None:
            entry["raw"]["percentiles"] = list(percentiles)
        return entry

    config = {
        "name": "tiny_export",
        "num_iterations": 10,
        "validation_interval": 10,
        "task_config": task_config or {"type": "distance", "channels": ["mito", "er"]},
        "architecture_config": {
            "input_shape": [28, 28, 28],
            "fmaps_out": 4,
            "num_fmaps": 4,
            "fmap_inc_factor": 2,
            "downsample_factors": [[2, 2, 2]],
            "eval_shape_increase": [8, 8, 8],
        },
        "trainer_config": {},
        "datasplit_config": {
            "label_ids": {"mito": [1], "er": "nonzero"},
            "train_configs": [{"name": "train", **dataset("raw", "labels")}],
            "validate_configs": [
                {"name": "validate", **dataset("validate_raw", "validate_labels")}
            ],
        },
    }
    if section_axis is not None:
        config["architecture_config"].update(
            input_shape=[28, 28],
            downsample_factors=[[2, 2]],
            eval_shape_increase=[8, 8],
            section_axis=section_axis,
        )
    run_config = RunConfig.model_validate(config)
    task = create_task(run_config.task_config, run_config.datasplit_config.label_ids)
    torch.manual_seed(1)
    model = task.create_model(create_architecture(run_config.architecture_config))
    paths = {
        "run_config": root / "run.yaml",
        "weights": root / "mito__dice.pt",
        "best": root / "mito__dice.json",
    }
    paths["run_config"].write_text(yaml.safe_dump(config))
    save_checkpoint(
        Weights(model.state_dict(), None, iteration=10, head_labels=["mito", "er"]),
        paths["weights"],
    )
    best = {
        "iteration": 10,
        "parameters": {"threshold": 0.0},
        "score": 0.5,
        "higher_is_better": True,
        "dataset": "validate",
        "criterion": "mito__dice",
    }
    paths["best"].write_text(json.dumps(best))
    return paths
