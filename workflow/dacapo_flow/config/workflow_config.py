"""config/config.yaml: the store and the runs to build, expanded into a checked run plan.

The Snakefile calls `load_plan` at parse time, so every bad config is reported (file and key)
before any job starts, and no torch is imported here.
"""

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from ..export.targets import ExportEntry
from .base import Config, ConfigError
from .loading import load_run_config, parse_config
from .run_config import RunConfig
from .starts import StartConfig


class RunEntry(Config):
    config: Path = Field(description="run config YAML")
    repetitions: int | None = Field(
        None, ge=1, description="N runs <name>_rep0..N-1, each seeded by its repetition"
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


@dataclass(frozen=True)
class PlannedRun:
    name: str
    source: Path
    repetition: int
    config: RunConfig

    @property
    def upstream(self) -> str | None:
        """The run of this workflow this run starts from (None: none, or an external start)."""
        start = self.config.start_config
        return start.run if isinstance(start, StartConfig) else None


def expand_entry(entry: RunEntry) -> list[PlannedRun]:
    base = load_run_config(entry.config, verify=False)
    if entry.repetitions is None:
        names = [(base.name, base.repetition)]
    else:
        names = [(f"{base.name}_rep{r}", r) for r in range(entry.repetitions)]
    return [
        PlannedRun(name, Path(entry.config), rep, load_run_config(entry.config, name, rep))
        for name, rep in names
    ]


def load_plan(config: dict, source: str = "config/config.yaml") -> dict[str, PlannedRun]:
    """Every run by name, verified, with upstream runs known and no cycles."""
    workflow = parse_config(WorkflowConfig, config, source)
    plan: dict[str, PlannedRun] = {}
    for i, entry in enumerate(workflow.runs):
        for run in expand_entry(entry):
            if run.name in plan:
                raise ConfigError(
                    f"{source}: runs[{i}]: run name {run.name!r} is produced twice "
                    f"({plan[run.name].source} and {run.source})"
                )
            plan[run.name] = run
    for run in plan.values():
        check_upstream(run, plan)
    check_no_cycles(plan)
    return plan


def check_upstream(run: PlannedRun, plan: dict[str, PlannedRun]) -> None:
    start = run.config.start_config
    if start is None:
        return
    where = f"{run.source}: start_config"
    if not isinstance(start, StartConfig):
        from dacapo_flow.interop.dacapo_store import ExternalStartError, resolve_external_start

        try:
            resolve_external_start(start)
        except (ExternalStartError, ConfigError, OSError) as error:
            raise ConfigError(f"{where}: {error}") from None
        return
    if start.run not in plan:
        raise ConfigError(
            f"{where}.run: run {start.run!r} is not among the runs of this workflow "
            f"({', '.join(sorted(plan))})"
        )
    upstream = plan[start.run].config
    if start.criterion.isdigit():
        if int(start.criterion) not in upstream.iterations():
            raise ConfigError(
                f"{where}.criterion: run {start.run!r} has no checkpoint {start.criterion} "
                f"(its checkpoints: {upstream.iterations()})"
            )
        return
    if start.criterion not in upstream.selected_criteria():
        raise ConfigError(
            f"{where}.criterion: {start.criterion!r} is not selected for run {start.run!r} "
            f"(selected: {upstream.selected_criteria()})"
        )
    datasets = upstream.validation_dataset_names()
    if start.dataset is None and len(datasets) != 1:
        raise ConfigError(
            f"{where}.dataset: run {start.run!r} has validation datasets {datasets}; name one"
        )
    if start.dataset is not None and start.dataset not in datasets:
        raise ConfigError(
            f"{where}.dataset: {start.dataset!r} is not a validation dataset of run "
            f"{start.run!r} ({datasets})"
        )


def start_dataset(run: PlannedRun, plan: dict[str, PlannedRun]) -> str | None:
    start = run.config.start_config
    if not isinstance(start, StartConfig) or start.criterion.isdigit():
        return None
    return start.dataset or plan[start.run].config.validation_dataset_names()[0]


def check_no_cycles(plan: dict[str, PlannedRun]) -> None:
    for name in plan:
        chain = [name]
        while plan[chain[-1]].upstream is not None:
            nxt = plan[chain[-1]].upstream
            if nxt in chain:
                members = chain[chain.index(nxt) :]
                cycle = " -> ".join(members + [nxt])
                where = "; ".join(f"{plan[m].source}: start_config.run" for m in members)
                raise ConfigError(f"start_config cycle between runs: {cycle} ({where})")
            chain.append(nxt)


def workflow_schema() -> dict:
    """JSON schema of config/config.yaml, generated from the same model that parses it."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    schema.update(WorkflowConfig.model_json_schema())
    return schema
