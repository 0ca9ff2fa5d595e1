"""A tiny selected model on disk (run config, dacapo-flow checkpoint, best JSON) for the export
tests: anisotropic voxels, raw range from the dtype, a two-label distance head."""

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


def write_selected(root: Path, section_axis: int | None = None) -> dict[str, Path]:
    """`section_axis`: a 2D network applied section by section along that axis."""
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data.zarr"
    raw = np.random.default_rng(0).integers(0, 255, (12, 24, 24), dtype=np.uint8)
    write_array(data, "raw", raw, VOXEL_SIZE, (0, 0, 0))
    write_array(data, "labels", (raw > 200).astype(np.uint8), VOXEL_SIZE, (0, 0, 0))
    dataset = {
        "raw": {"path": str(data), "dataset": "raw"},
        "gt": {"path": str(data), "dataset": "labels"},
    }
    config = {
        "name": "tiny_export",
        "num_iterations": 10,
        "validation_interval": 10,
        "task_config": {"type": "distance", "channels": ["mito", "er"]},
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
            "train_configs": [{"name": "train", **dataset}],
            "validate_configs": [{"name": "validate", **dataset}],
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
