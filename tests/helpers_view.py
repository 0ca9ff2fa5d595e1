"""A workflow directory holding one finished prediction target, made without a model: a raw
volume, the target's plan and outputs (prediction with a gradient per channel, a segmentation
of 16 squares) and the config naming it, for the `dacapo-flow view` tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from dacapo_flow.layout import Layout
from dacapo_flow.predict.output import open_level
from dacapo_flow.predict.plan import SEGMENTATION, SegmentationSpec
from helpers_predict import hand_plan, store_prediction, write_raw

SHAPE = (20, 64, 64)


def predicted_workdir(work: Path) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    paths = Layout("results/store").prediction("hand")
    raw = write_raw(work / "data" / "raw.zarr", shape=SHAPE)
    spec = SegmentationSpec("distance", {"threshold": 0.0}, 1, "uint64")
    plan = hand_plan(work / paths.zarr, spec, 3, roi_shape=SHAPE, block_shape=(10, 32, 32))
    target = {
        "name": "hand",
        "run": "none",
        "criterion": "none",
        "input": {"path": "data/raw.zarr", "dataset": "raw"},
    }
    z, y, x = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1], 0 : SHAPE[2]]
    values = np.stack([x / SHAPE[2], y / SHAPE[1], z / SHAPE[0]]).astype(np.float32)
    store_prediction(plan, values)
    labels = (1 + (y // 16) * 4 + x // 16)[None].astype(np.uint64)
    open_level(plan, SEGMENTATION).write(plan.roi, labels)
    plan.target["input"] = target["input"]
    plan.zarr = paths.zarr  # as the workflow writes it: relative to the workflow directory
    plan.write(work / paths.prepared)
    config = {"store": "results/store", "runs": [], "predictions": [target]}
    (work / "config").mkdir(exist_ok=True)
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    assert raw.exists()
    return work
