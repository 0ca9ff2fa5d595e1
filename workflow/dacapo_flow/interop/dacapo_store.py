"""Finding a start checkpoint outside this workflow: in a DaCapo files store, or a file.

`resolve_external_start` turns a `DaCapoRunStartConfig` or `CheckpointStartConfig` into the
checkpoint FILE (a Snakemake input) and the labels of its head. DaCapo's best records:
`store_best` writes `checkpoints/<dataset>/<criterion>.json` but `retrieve_best` reads
`checkpoints/<criterion>/<dataset>.json`; both are looked for, and DaCapo's starter fallback
`checkpoints/<criterion>` (a copied or linked checkpoint) last. Torch-free: the workflow calls
this while it builds the DAG.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter

from dacapo_flow.config.base import ConfigError
from dacapo_flow.config.starts import (
    AnyExternalStartConfig,
    CheckpointStartConfig,
    DaCapoRunStartConfig,
)
from dacapo_flow.config.tasks import AnyTaskConfig
from dacapo_flow.interop.dacapo_config import dacapo_run_yaml, load_dacapo_yaml, translate_run

logger = logging.getLogger(__name__)


class ExternalStartError(ValueError):
    """The external start checkpoint cannot be found."""


@dataclass(frozen=True)
class ResolvedStart:
    checkpoint: Path
    head_labels: list[str] | None
    description: str


def _best_records(checkpoints: Path, criterion: str, dataset: str | None) -> list[Path]:
    names = [dataset, f"ds_{dataset}"] if dataset else ["*"]  # str(Dataset) is ds_<name>
    found = []
    for name in names:
        found += checkpoints.glob(f"{name}/{criterion}.json")  # what store_best writes
        found += checkpoints.glob(f"{criterion}/{name}.json")  # what retrieve_best reads
    return sorted({p for p in found if p.is_file()})


def dacapo_best_checkpoint(
    runs_base_dir: str | os.PathLike, run: str, criterion: str, dataset: str | None = None
) -> Path:
    """The checkpoint file DaCapo's records name best for `criterion` (see module docstring)."""
    checkpoints = Path(runs_base_dir) / run / "checkpoints"
    records = _best_records(checkpoints, criterion, dataset)
    iterations = {}
    for record in records:
        try:
            iterations[record] = int(json.loads(record.read_text())["iteration"])
        except (ValueError, KeyError, TypeError) as error:
            raise ExternalStartError(
                f"DaCapo best record {record} has no integer iteration: {error}"
            )
    if len(set(iterations.values())) > 1:
        raise ExternalStartError(
            f"DaCapo best records of run {run} for {criterion} disagree: "
            + ", ".join(f"{p}: {i}" for p, i in iterations.items())
            + ("" if dataset else "; set the dataset")
        )
    if iterations:
        return checkpoints / "iterations" / str(next(iter(iterations.values())))
    fallback = checkpoints / criterion
    if fallback.is_file():
        return fallback.resolve()
    existing = sorted(str(p.relative_to(checkpoints)) for p in checkpoints.glob("**/*.json"))
    raise ExternalStartError(
        f"no DaCapo best record for criterion {criterion!r}"
        + (f" and dataset {dataset!r}" if dataset else "")
        + f" under {checkpoints} (looked for <dataset>/<criterion>.json, "
        f"<criterion>/<dataset>.json and {fallback.name}); records there: {existing or 'none'}"
    )


def dacapo_head_labels(runs_base_dir: str | os.PathLike, run: str) -> list[str] | None:
    """Output-channel labels of a DaCapo run's head, from its stored task config (None when
    the run has no stored config or its task does not translate)."""
    path = dacapo_run_yaml(runs_base_dir, run)
    if not path.is_file():
        logger.warning("DaCapo run %s has no stored config %s: head labels unknown", run, path)
        return None
    config, _ = translate_run(load_dacapo_yaml(path))
    if config.get("task_config") is None:
        return None
    return TypeAdapter(AnyTaskConfig).validate_python(config["task_config"]).head_labels()


def external_start_path(config: AnyExternalStartConfig) -> Path:
    """The checkpoint file an external start config names (it may not exist)."""
    if isinstance(config, CheckpointStartConfig):
        return Path(config.checkpoint)
    if isinstance(config, DaCapoRunStartConfig):
        base = Path(config.runs_base_dir)
        if config.iteration is not None:
            return base / config.run / "checkpoints" / "iterations" / str(config.iteration)
        return dacapo_best_checkpoint(base, config.run, config.criterion, config.dataset)
    raise ConfigError(f"not an external start config: {config!r}")


def external_start_for(config: AnyExternalStartConfig, path: Path) -> ResolvedStart:
    """`path` (the file the start config names) with the labels of its head and a
    description: the config's head labels, or those of the DaCapo run's stored task."""
    if isinstance(config, CheckpointStartConfig):
        labels = list(config.head_labels) if config.head_labels else None
        return ResolvedStart(path, labels, f"checkpoint {path}")
    if isinstance(config, DaCapoRunStartConfig):
        labels = dacapo_head_labels(Path(config.runs_base_dir), config.run)
        return ResolvedStart(path, labels, f"DaCapo run {config.run} ({path})")
    raise ConfigError(f"not an external start config: {config!r}")


def resolve_external_start(config: AnyExternalStartConfig) -> ResolvedStart:
    """The checkpoint file and its head labels. The file must exist (a Snakemake input)."""
    path = external_start_path(config)
    if not path.is_file():
        raise ExternalStartError(f"start checkpoint {path} does not exist")
    return external_start_for(config, path)
