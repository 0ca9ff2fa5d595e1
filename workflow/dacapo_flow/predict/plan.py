"""`Plan`: everything the jobs after prepare need, read from prepared.json.

Written once by the prepare job (which has the model and the input array); every shard, the
merge and the verify job read only this file, so they agree on geometry and hashes by
construction and the light jobs never build a model.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from funlib.geometry import Coordinate, Roi

from ..config.predictions import PredictionTarget
from ..store.atomic import atomic_write_json
from .blocks import BlockGrid, NetworkGeometry

PLAN_FORMAT = "dacapo-flow-prediction-plan"

# Array groups inside the output container; each holds OME-NGFF levels s0 (and s1).
PREDICTION = "prediction"
SEGMENTATION = "segmentation"
FRAGMENTS = "fragments"
# The segmentation is an OME-NGFF 0.4 label image of the prediction: readers (napari-ome-zarr,
# ome-zarr-py) find it from the prediction image through its `labels` group.
LABELS = f"{PREDICTION}/labels"
GROUP_PATHS = {SEGMENTATION: f"{LABELS}/{SEGMENTATION}"}


def group_path(group: str) -> str:
    """Where an output group lives inside the container."""
    return GROUP_PATHS.get(group, group)


@dataclass
class SegmentationSpec:
    """How the prediction becomes a segmentation.

    mode "affinities": connected components of affinities > threshold (instances);
    "distance": connected components of each channel's prediction > threshold (instances);
    "semantic": the task's own post_process per block (one-hot argmax, thresholded distances);
    "mws_exact": mutex watershed of affinities (parameters bias, optionally min_size):
    fragments per block, a region graph, one graph mutex watershed in the merge, the
    whole-volume result (mws_block.py, mws_merge.py); "mws": its earlier, inexact version,
    whose plans must be prepared again;
    "seeded": seeded watershed of each distance channel (threshold, seed_distance): fragments
    per block, a fragment graph, the same forest in the merge (seeded_block.py,
    seeded_merge.py); with "min_size" the merge drops objects of fewer voxels (all instance
    modes). dtype uint8 for "distance" / "seeded": the 0/1 mask of those objects (a minimum
    size on a semantic output).
    "whole": the task's post_process of the whole ROI at once, in every segment shard; no
    longer chosen by prepare, still run for plans an earlier version prepared.
    """

    mode: str
    parameters: dict
    channels: int  # of the segmentation array
    dtype: str
    neighborhood: list[list[int]] | None = None

    @property
    def instances(self) -> bool:
        return self.mode != "semantic"


@dataclass
class Plan:
    target: dict
    zarr: str
    roi_offset: list[int]
    roi_shape: list[int]
    input_voxel: list[int]
    output_voxel: list[int]
    input_shape: list[int]
    block_shape: list[int]
    context: list[int]
    raw_range: list[float]
    channels: list[str]
    value_range: list[float]
    prediction_hash: str
    segmentation_hash: str | None
    weights: dict
    segmentation: SegmentationSpec | None = None
    generations: dict[str, str] = field(default_factory=dict)
    # s1's factors per axis (`blocks.pyramid_factors`); None without a pyramid, and in plans
    # written before per-axis pyramids, whose s1 halves every axis.
    pyramid_factors: list[int] | None = None
    format: str = field(default=PLAN_FORMAT)

    # -- derived --------------------------------------------------------------------------
    @property
    def target_config(self) -> PredictionTarget:
        return PredictionTarget.model_validate(self.target)

    @property
    def roi(self) -> Roi:
        return Roi(Coordinate(self.roi_offset), Coordinate(self.roi_shape))

    @property
    def network(self) -> NetworkGeometry:
        return NetworkGeometry(
            Coordinate(self.input_voxel),
            Coordinate(self.output_voxel),
            Coordinate(self.input_shape),
            Coordinate(self.block_shape),
            Coordinate(self.context),
        )

    @property
    def grid(self) -> BlockGrid:
        return BlockGrid(self.roi, self.network.block_world)

    @property
    def pyramid(self) -> bool:
        return bool(self.target["pyramid"])

    @property
    def s1_factors(self) -> Coordinate:
        if self.pyramid_factors is not None:
            return Coordinate(self.pyramid_factors)
        return Coordinate((2,) * len(self.output_voxel))

    @property
    def shards(self) -> int:
        return int(self.target["shards"])

    def dataset(self, group: str, level: int = 0) -> str:
        return f"{group_path(group)}/s{level}"

    def config_key(self, kind: str) -> str:
        """What a shard's manifest and JSON must carry to count: the config hash of its pass
        and the generation of the arrays it writes (recreated arrays invalidate every block)."""
        if kind == "predict":
            return f"{self.prediction_hash}:{self.generations.get(PREDICTION)}"
        if self.segmentation is None:
            raise ValueError(f"{kind}: the plan has no segmentation")
        writes = FRAGMENTS if kind == "segment" and self.segmentation.instances else SEGMENTATION
        return f"{self.segmentation_hash}:{self.generations.get(writes)}"

    # -- file -----------------------------------------------------------------------------
    def write(self, path: str | os.PathLike) -> Path:
        return atomic_write_json(path, asdict(self))

    @classmethod
    def read(cls, path: str | os.PathLike) -> Plan:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"prepared plan {path} cannot be read: {error}") from None
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            raise ValueError(f"{path} is not a prepared prediction plan")
        if data.get("segmentation") is not None:
            data["segmentation"] = SegmentationSpec(**data["segmentation"])
        try:
            return cls(**data)
        except TypeError as error:
            raise ValueError(f"prepared plan {path}: {error}") from None
