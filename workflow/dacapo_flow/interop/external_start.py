"""Starting a run from weights made outside this workflow: a DaCapo run, or a checkpoint file.

Two start-config forms (alternatives to `StartConfig`, which names a run of this workflow):

    start_config: {runs_base_dir: /dacapo, run: my_run, iteration: 20000}
    start_config: {runs_base_dir: /dacapo, run: my_run, criterion: fg__f1_score, dataset: val}
    start_config: {checkpoint: /models/mito.pt, head_labels: [mito]}

`resolve_external_start` turns either into the checkpoint FILE (a Snakemake input) and the
labels of its head; `initialize_from_checkpoint` loads that file into a `Model`, matching heads
by label. DaCapo's best records: `store_best` writes `checkpoints/<dataset>/<criterion>.json`
but `retrieve_best` reads `checkpoints/<criterion>/<dataset>.json`; both are looked for, and
DaCapo's starter fallback `checkpoints/<criterion>` (a copied or linked checkpoint) last.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import Field, TypeAdapter

from dacapo_flow.config.base import Config, ConfigError
from dacapo_flow.config.tasks import AnyTaskConfig
from dacapo_flow.interop.dacapo_checkpoint import read_model_weights
from dacapo_flow.interop.dacapo_config import dacapo_run_yaml, load_dacapo_yaml, translate_run
from dacapo_flow.start import HEAD_KEYS, StartError, match_heads
from dacapo_flow.store.weights import Weights, state_dict_mismatch

logger = logging.getLogger(__name__)


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
            raise StartError(f"DaCapo best record {record} has no integer iteration: {error}")
    if len(set(iterations.values())) > 1:
        raise StartError(
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
    raise StartError(
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


def resolve_external_start(config: AnyExternalStartConfig) -> ResolvedStart:
    """The checkpoint file and its head labels. The file must exist (a Snakemake input)."""
    if isinstance(config, CheckpointStartConfig):
        path = Path(config.checkpoint)
        labels = list(config.head_labels) if config.head_labels else None
        what = f"checkpoint {path}"
    elif isinstance(config, DaCapoRunStartConfig):
        base = Path(config.runs_base_dir)
        if config.iteration is not None:
            path = base / config.run / "checkpoints" / "iterations" / str(config.iteration)
        else:
            path = dacapo_best_checkpoint(base, config.run, config.criterion, config.dataset)
        labels = dacapo_head_labels(base, config.run)
        what = f"DaCapo run {config.run} ({path})"
    else:
        raise ConfigError(f"not an external start config: {config!r}")
    if not path.is_file():
        raise StartError(f"start checkpoint {path} does not exist")
    return ResolvedStart(path, labels, what)


def initialize_from_weights(
    model: torch.nn.Module,
    weights: Weights,
    source: str,
    old_head: list[str] | None = None,
    new_head: list[str] | None = None,
) -> torch.nn.Module:
    """Load model weights; with both heads' labels known and different, the body strictly and
    the head by label (`match_heads`), else everything strictly. Any mismatch is an error."""
    old_head = old_head or weights.head_labels
    new_head = [str(label) for label in new_head] if new_head else None
    if old_head and new_head and list(old_head) != new_head:
        ignore = set(HEAD_KEYS)
        problems = state_dict_mismatch(model.state_dict(), weights.model, ignore=ignore)
        if problems:
            raise StartError(f"{source} does not fit the model body: " + "; ".join(problems))
        model.load_state_dict({k: v for k, v in weights.model.items() if k not in ignore}, False)
        head = {k: v for k, v in weights.model.items() if k in ignore}
        try:
            match_heads(model, head, list(old_head), new_head)
        except StartError as error:
            raise StartError(f"{source}: {error}") from error
        return model
    problems = state_dict_mismatch(model.state_dict(), weights.model)
    if problems:
        hint = " (its head labels are unknown, so heads cannot be matched)" if new_head else ""
        raise StartError(f"{source} does not fit the model{hint}: " + "; ".join(problems))
    model.load_state_dict(weights.model, strict=True)
    return model


def initialize_from_checkpoint(
    model: torch.nn.Module, resolved: ResolvedStart, new_head: list[str] | None = None
) -> torch.nn.Module:
    """Load `resolved.checkpoint` into `model` (model weights only, as DaCapo's Start)."""
    weights = read_model_weights(resolved.checkpoint)
    initialize_from_weights(model, weights, resolved.description, resolved.head_labels, new_head)
    logger.info("initialised model from %s", resolved.description)
    return model
