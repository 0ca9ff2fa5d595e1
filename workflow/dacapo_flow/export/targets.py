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
        problems += [
            f"exports[{i}].{line}"
            for line in run.config.best_record_problems(entry.criterion, entry.dataset)
        ]
    if problems:
        raise ConfigError("\n".join(problems))
