"""Which selected models the workflow exports (`exports:` in config/config.yaml), checked
against the run plan at parse time. No torch: Snakemake imports this while parsing."""

from __future__ import annotations

from pydantic import Field

from dacapo_flow.config.base import Config, ConfigError
from dacapo_flow.config.datasplits import NAME_PATTERN
from dacapo_flow.layout import export_paths

__all__ = ["ExportEntry", "check_exports", "export_paths"]


class ExportEntry(Config):
    """Export the model of `run` that is best for `criterion` on validation `dataset`."""

    run: str = Field(pattern=NAME_PATTERN, description="a run of this workflow")
    dataset: str = Field(description="its validation dataset")
    criterion: str = Field(description="the criterion it was selected for")


def check_exports(exports: list[ExportEntry], plan: dict) -> None:
    """Every entry names a planned run, one of its validation datasets and criteria."""
    problems = []
    for i, entry in enumerate(exports):
        run = plan.get(entry.run)
        if run is None:
            problems.append(f"exports[{i}].run: unknown run {entry.run!r}; known: {sorted(plan)}")
            continue
        datasets = run.config.validation_dataset_names()
        if entry.dataset not in datasets:
            problems.append(f"exports[{i}].dataset: {entry.dataset!r} is not one of {datasets}")
        criteria = run.config.selected_criteria()
        if entry.criterion not in criteria:
            problems.append(
                f"exports[{i}].criterion: {entry.criterion!r} is not selected for run "
                f"{entry.run!r} ({criteria})"
            )
    if problems:
        raise ConfigError("\n".join(problems))
