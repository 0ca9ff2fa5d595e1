"""`PredictionTarget` (`predictions:` in config/config.yaml): which model is applied to which
array, where and what is written.

Values only: the Snakefile parses targets while it builds the DAG. Checks that need the input
array open are in `dacapo_flow.predict.input_checks` (run by the prepare job); the checks
against the run and the data, before any job, in `dacapo_flow.predict.checks`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from funlib.geometry import Coordinate, Roi
from pydantic import Field

from .base import Config, ConfigError
from .datasplits import NAME_PATTERN, ArrayConfig
from .loading import parse_config, read_yaml, verified

OUTPUT_KINDS = ("prediction", "segmentation")

# Fields whose values change the stored prediction (and so everything after it). `name`,
# `shards` and `outputs` do not: resharding or adding a segmentation keeps finished blocks.
PREDICTION_FIELDS = (
    "run",
    "criterion",
    "dataset",
    "input",
    "roi",
    "block_shape",
    "dtype",
    "pyramid",
    "precision",
)
SEGMENTATION_FIELDS = PREDICTION_FIELDS + ("instances",)


class RoiConfig(Config):
    """A box in world units (the input array's units, e.g. nm)."""

    offset: list[int] = Field(min_length=2, max_length=3, description="world units")
    shape: list[int] = Field(min_length=2, max_length=3, description="world units")

    def problems(self) -> list[str]:
        found = super().problems()
        if len(self.offset) != len(self.shape):
            found.append(f"shape: offset {self.offset} and shape {self.shape} differ in length")
        if any(s <= 0 for s in self.shape):
            found.append(f"shape: {self.shape} must be positive along every axis")
        return found

    def roi(self) -> Roi:
        return Roi(Coordinate(self.offset), Coordinate(self.shape))


class PredictionTarget(Config):
    name: str = Field(pattern=NAME_PATTERN, description="names the target's directory")
    run: str = Field(pattern=NAME_PATTERN, description="the trained run")
    criterion: str = Field(pattern=NAME_PATTERN, description="criterion of its best JSON")
    dataset: str | None = Field(
        None, description="validation dataset of the best JSON (optional when the run has one)"
    )
    input: ArrayConfig = Field(
        description="raw array; min/max must match the run's normalisation (default: dtype range)"
    )
    roi: RoiConfig | None = Field(
        None,
        description="region to predict (default: whole input); a start off the network's "
        "block grid (input offset + whole steps of its downsampling) grows to meet it",
    )
    outputs: list[Literal["prediction", "segmentation"]] = Field(
        default_factory=lambda: ["prediction"], min_length=1, description="what to write"
    )
    shards: int = Field(1, ge=1, description="jobs per pass; shard i takes blocks i::shards")
    block_shape: list[int] | None = Field(
        None, description="output voxels per block and chunk (default: the eval output shape)"
    )
    pyramid: bool = Field(
        False,
        description="also write a downsampled level s1 for viewing: axes whose voxel size is at "
        "most half the coarsest are halved (all axes of isotropic data); blocks must be even "
        "along them",
    )
    dtype: Literal["float32", "uint8"] = Field(
        "float32", description="prediction storage; uint8 maps the activation range to 0..255"
    )
    precision: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="autocast dtype on CUDA (ignored on the CPU)"
    )
    instances: bool = Field(
        True,
        description="distance tasks: connected components per channel (false: the thresholded "
        "masks); affinities always give instances, one-hot always classes",
    )

    def problems(self) -> list[str]:
        found = super().problems()
        if len(set(self.outputs)) != len(self.outputs):
            found.append(f"outputs: {self.outputs} lists an output twice")
        if "segmentation" in self.outputs and "prediction" not in self.outputs:
            found.append(
                "outputs: the segmentation is computed from the stored prediction; "
                "list 'prediction' too"
            )
        if self.block_shape is not None and any(s < 1 for s in self.block_shape):
            found.append(f"block_shape: {self.block_shape} must be positive")
        return found

    def prediction_payload(self) -> dict:
        return self.model_dump(mode="json", include=set(PREDICTION_FIELDS))

    def segmentation_payload(self) -> dict:
        return self.model_dump(mode="json", include=set(SEGMENTATION_FIELDS))

    def prediction_hash(self) -> str:
        """Hash of the fields that change the prediction (like `Config.stage_hash`)."""
        return short_hash(self.prediction_payload())

    def segmentation_hash(self) -> str:
        return short_hash(self.segmentation_payload())


def short_hash(payload) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def resolve_dataset(target: PredictionTarget, dataset_names: list[str]) -> str:
    """The validation dataset whose best JSON names the model."""
    if target.dataset is not None:
        if target.dataset not in dataset_names:
            raise ConfigError(
                f"prediction {target.name}: dataset {target.dataset!r} is not a validation "
                f"dataset of run {target.run!r} ({dataset_names})"
            )
        return target.dataset
    if len(dataset_names) != 1:
        raise ConfigError(
            f"prediction {target.name}: run {target.run!r} has validation datasets "
            f"{dataset_names}; name one as `dataset`"
        )
    return dataset_names[0]


def parse_target(data: dict, source: str) -> PredictionTarget:
    """A verified target from a mapping; errors name `source` and the key."""
    return verified(parse_config(PredictionTarget, data, source), source)


def load_target(path, name: str | None = None) -> PredictionTarget:
    """One target from a YAML/JSON file holding either one target or `predictions: [...]`."""
    data = read_yaml(Path(path))
    if "predictions" in data:
        entries = data["predictions"]
        names = [e.get("name") for e in entries if isinstance(e, dict)]
        matches = [e for e in entries if isinstance(e, dict) and e.get("name") == name]
        if len(matches) != 1:
            raise ConfigError(f"{path}: predictions: no single entry named {name!r} in {names}")
        return parse_target(matches[0], f"{path}: predictions[{names.index(name)}]")
    if name is not None and data.get("name") != name:
        raise ConfigError(f"{path}: name is {data.get('name')!r}, expected {name!r}")
    return parse_target(data, str(path))
