"""Builders for the prediction tests: a tiny untrained model with its best JSON and weights
written where the workflow writes them, a raw volume, and hand-made plans for the
segmentation tests (which need no model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from funlib.geometry import Coordinate

from dacapo_flow.config.predictions import PredictionTarget
from dacapo_flow.config.run_config import RunConfig
from dacapo_flow.data.arrays import write_array
from dacapo_flow.layout import Layout
from dacapo_flow.predict.output import create_outputs, open_level, quantize
from dacapo_flow.predict.plan import PREDICTION, Plan, SegmentationSpec
from dacapo_flow.run import Run
from dacapo_flow.store.atomic import atomic_write_json
from dacapo_flow.store.weights import Weights, save_checkpoint
from helpers_tiny import run_config_dict, write_yaml

VOXEL = Coordinate(4, 4, 4)
OFFSET = Coordinate(40, 0, 80)
# A minimal prediction target (`predictions:` entry); `prediction_target(**changes)`.
TARGET_BASE = {
    "name": "em",
    "run": "r",
    "criterion": "voi",
    "input": {"path": "volume.zarr", "dataset": "raw"},
}


def prediction_target(**changes) -> PredictionTarget:
    return PredictionTarget.model_validate({**TARGET_BASE, **changes})


CRITERION = {"distance": "nucleus__dice", "affinities": "voi", "one_hot": "mean__dice"}
PARAMETERS = {"distance": {"threshold": 0.0}, "affinities": {"threshold": 0.5}, "one_hot": {}}


def write_raw(path: Path, shape=(40, 36, 32), seed=3):
    """Random uint8 raw of voxel size 4 off the origin."""
    raw = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    write_array(path, "raw", raw, VOXEL, OFFSET, chunks=(16, 16, 16))
    return path


def write_model(store: Path, data_dir: Path, task: str = "distance", **config) -> dict:
    """A run config YAML, untrained weights and a best JSON in the store's layout."""
    config = run_config_dict(data_dir, task, name=f"tiny_{task}", **config)
    run_config = write_yaml(store / "configs" / f"{task}.yaml", config)
    run = Run(RunConfig.model_validate(config))
    layout = Layout(store)
    criterion = CRITERION[task]
    weights = Path(layout.best_weights(run.name, "validate_0", criterion))
    save_checkpoint(
        Weights(run.model.state_dict(), None, iteration=4, head_labels=run.head_labels), weights
    )
    best = Path(layout.best_record(run.name, "validate_0", criterion))
    atomic_write_json(
        best,
        {
            "iteration": 4,
            "parameters": PARAMETERS[task],
            "score": 0.5,
            "criterion": criterion,
            "dataset": "validate_0",
        },
    )
    return {"run_config": run_config, "weights": weights, "best": best, "run": run}


def target_dict(name, run, task, raw_path, **fields) -> dict:
    data = {
        "name": name,
        "run": run,
        "criterion": CRITERION[task],
        "input": {"path": str(raw_path), "dataset": "raw"},
    }
    data.update(fields)
    return data


def hand_plan(
    zarr: Path,
    spec: SegmentationSpec | None,
    channels: int,
    roi_shape=(22, 17, 20),
    block_shape=(8, 6, 7),
    pyramid=False,
    dtype="float32",
    value_range=(0.0, 1.0),
) -> Plan:
    """A plan over a ROI of `roi_shape` voxels of size VOXEL, made without a model."""
    target = PredictionTarget.model_validate(
        {
            "name": "hand",
            "run": "none",
            "criterion": "none",
            "input": {"path": str(zarr), "dataset": "unused"},
            "outputs": ["prediction", "segmentation"] if spec else ["prediction"],
            "pyramid": pyramid,
            "dtype": dtype,
            "block_shape": list(block_shape),
        }
    )
    plan = Plan(
        target=target.model_dump(mode="json"),
        zarr=str(zarr),
        roi_offset=list(OFFSET),
        roi_shape=list(Coordinate(roi_shape) * VOXEL),
        input_voxel=list(VOXEL),
        output_voxel=list(VOXEL),
        input_shape=list(block_shape),
        block_shape=list(block_shape),
        context=[0, 0, 0],
        raw_range=[0.0, 255.0],
        channels=[f"c{i}" for i in range(channels)],
        value_range=list(value_range),
        prediction_hash="p" * 16,
        segmentation_hash="s" * 16 if spec else None,
        weights={},
        segmentation=spec,
    )
    plan.generations = create_outputs(plan)
    return plan


def store_prediction(plan: Plan, values: np.ndarray) -> np.ndarray:
    """Write a whole prediction [C, *roi] into the plan's prediction array; returns it as
    stored (after quantisation)."""
    array = open_level(plan, PREDICTION)
    stored = quantize(values, plan.value_range, plan.target["dtype"])
    array.write(plan.roi, stored)
    return stored


def same_up_to_renaming(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal background and a one-to-one map between the ids of a and b."""
    if a.shape != b.shape or not np.array_equal(a == 0, b == 0):
        return False
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))


def read_json(path) -> dict:
    return json.loads(Path(path).read_text())
