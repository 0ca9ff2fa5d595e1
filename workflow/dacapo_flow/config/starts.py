"""Where a run's weights start from: a run of this workflow (`StartConfig`), a run in a
DaCapo files store, or a checkpoint file. Torch-free: parsed with every config."""

from pathlib import Path
from typing import Annotated

from pydantic import Discriminator, Field, Tag

from .base import Config
from .datasplits import NAME_PATTERN


class StartConfig(Config):
    """Start from `run`'s best checkpoint for `criterion` on validation `dataset`
    (or from `iterations/<criterion>` when criterion is an iteration number)."""

    run: str = Field(pattern=NAME_PATTERN, description="the upstream run (of this workflow)")
    criterion: str = Field(
        pattern=NAME_PATTERN, description="criterion of its best JSON, or an iteration number"
    )
    dataset: str | None = Field(
        None,
        pattern=NAME_PATTERN,
        description="its validation dataset (optional when it has only one)",
    )


class DaCapoRunStartConfig(Config):
    """Start from a checkpoint of a run in a DaCapo files store."""

    runs_base_dir: Path = Field(description="DaCapo's runs_base_dir (holds configs/ and <run>/)")
    run: str = Field(description="the DaCapo run")
    iteration: int | None = Field(None, ge=0, description="its checkpoint iteration")
    criterion: str | None = Field(None, description="or: the criterion of a best record")
    dataset: str | None = Field(
        None, description="validation dataset of the best record (optional when only one)"
    )

    def problems(self) -> list[str]:
        found = super().problems()
        if (self.iteration is None) == (self.criterion is None):
            found.append("give exactly one of iteration and criterion")
        if self.dataset is not None and self.criterion is None:
            found.append("dataset: only used with criterion")
        return found


class CheckpointStartConfig(Config):
    """Start from a checkpoint file (dacapo-flow, DaCapo or a plain PyTorch state dict)."""

    checkpoint: Path = Field(description="the checkpoint file")
    head_labels: list[str] | None = Field(
        None, description="labels of its head's output channels (default: as recorded in it)"
    )


AnyExternalStartConfig = DaCapoRunStartConfig | CheckpointStartConfig


def _start_kind(value) -> str:
    """Which start form a config means, from its keys: errors then name that form's keys only."""
    if isinstance(value, dict):
        if "checkpoint" in value:
            return "start-checkpoint"
        if "runs_base_dir" in value:
            return "start-dacapo"
        return "start-run"
    kinds = {CheckpointStartConfig: "start-checkpoint", DaCapoRunStartConfig: "start-dacapo"}
    return kinds.get(type(value), "start-run")


AnyStartConfig = Annotated[
    Annotated[StartConfig, Tag("start-run")]
    | Annotated[DaCapoRunStartConfig, Tag("start-dacapo")]
    | Annotated[CheckpointStartConfig, Tag("start-checkpoint")],
    Discriminator(_start_kind),
]
