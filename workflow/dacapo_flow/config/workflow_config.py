"""config/config.yaml: the store, the runs to build, the exports and prediction targets.

The schema only; `dacapo_flow.plan` expands it into the checked run plan.
"""

from pathlib import Path
from typing import Any

from pydantic import Field

from .base import Config
from .exports import ExportEntry
from .predictions import PredictionTarget


class RunEntry(Config):
    config: Path = Field(description="run config YAML")
    repetitions: int | None = Field(
        None, ge=1, description="N runs <name>_rep0..N-1, each seeded by its repetition"
    )
    grid: dict[str, list[Any]] | None = Field(
        None,
        description="dotted run-config keys -> value lists: one run per grid point "
        "(x repetitions), named <name>_<key><value>..._rep<r>",
    )


class WorkflowConfig(Config):
    store: Path = Field(Path("results/store"), description="where runs are stored")
    runs: list[RunEntry] = Field(min_length=1, description="the run configs to build")
    synthetic_data: Path | None = Field(
        None, description="directory the workflow fills with the bundled synthetic data"
    )
    exports: list[ExportEntry] = Field(
        default_factory=list,
        description="selected models to export to bioimage.io and cellmap-flow",
    )
    predictions: list[PredictionTarget] = Field(
        default_factory=list,
        description="apply selected models to whole volumes (see the prediction section)",
    )


def workflow_schema() -> dict:
    """JSON schema of config/config.yaml, generated from the same model that parses it."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    schema.update(WorkflowConfig.model_json_schema())
    return schema
