"""config/config.yaml expanded into a checked run plan: `load_plan`.

Checks that read data (array metadata, gt contents) run only with `check_data=True`:
`dacapo-flow check` and the main Snakemake process, not every cluster job (see
`data_checks`).
"""

from dataclasses import dataclass, field
from pathlib import Path

from ..config.base import ConfigError
from ..config.exports import check_exports
from ..config.loading import load_run_config, parse_config
from ..config.run_config import MAX_REPETITION, RunConfig
from ..config.starts import StartConfig
from ..config.sweeps import MAX_PLANNED_RUNS, check_size, expand_sweep, planned_runs
from ..config.workflow_config import RunEntry, WorkflowConfig
from ..layout import RESERVED_DATASET_NAMES, RESERVED_RUN_NAMES
from ..predict.checks import check_targets
from .starts import check_finetune_fits, check_start_files, check_upstream


@dataclass(frozen=True)
class PlannedRun:
    name: str
    source: Path
    repetition: int
    config: RunConfig
    base_name: str | None = None  # the run config's own name (a sweep's common prefix)
    grid: dict = field(default_factory=dict)  # the sweep's grid point, dotted key -> value
    repetitions: int | None = None  # repetitions planned for this run's group

    @property
    def upstream(self) -> str | None:
        """The run of this workflow this run starts from (None: none, or an external start)."""
        start = self.config.start_config
        return start.run if isinstance(start, StartConfig) else None


def expand_entry(entry: RunEntry, where: str = "config/config.yaml") -> list[PlannedRun]:
    if not Path(entry.config).is_file():
        raise ConfigError(f"{where}.config: run config {entry.config} does not exist")
    if entry.grid is not None:
        return [
            PlannedRun(
                r.name,
                Path(entry.config),
                r.repetition,
                r.run_config,
                r.base_name,
                r.point,
                r.repetitions,
            )
            for r in expand_sweep(entry.config, entry.grid, entry.repetitions, source=where)
        ]
    base = load_run_config(entry.config, verify=False)
    if entry.repetitions is None:
        names = [(base.name, base.repetition)]
    else:
        names = [(f"{base.name}_rep{r}", r) for r in range(entry.repetitions)]
    return [
        PlannedRun(
            name,
            Path(entry.config),
            rep,
            load_run_config(entry.config, name, rep),
            base.name,
            {},
            entry.repetitions,
        )
        for name, rep in names
    ]


def load_plan(
    config: dict, source: str = "config/config.yaml", check_data: bool = True
) -> dict[str, PlannedRun]:
    """Every run by name, verified, with upstream runs known and no cycles. With `check_data`
    the arrays are opened and the gt scanned too (once per array and process)."""
    workflow = parse_config(WorkflowConfig, config, source)
    check_entries(workflow, source)
    plan: dict[str, PlannedRun] = {}
    for i, entry in enumerate(workflow.runs):
        for run in expand_entry(entry, f"{source}: runs[{i}]"):
            if run.name in RESERVED_RUN_NAMES:
                raise ConfigError(
                    f"{source}: runs[{i}]: run name {run.name!r} is reserved for the store's "
                    f"{run.name}/ directory; rename the run ({run.source}: name)"
                )
            if run.name in plan:
                raise ConfigError(
                    f"{source}: runs[{i}]: run name {run.name!r} is produced twice "
                    f"({plan[run.name].source} and {run.source})"
                )
            plan[run.name] = run
    for run in plan.values():
        check_dataset_names(run)
        check_upstream(run, plan)
    check_no_cycles(plan)
    for run in plan.values():
        check_finetune_fits(run, plan)
    check_targets(workflow.predictions, plan, source, check_data)
    check_exports(workflow.exports, plan, source)
    if check_data:
        check_plan_data(plan)
        check_start_files(plan)
    return plan


def check_entries(workflow: WorkflowConfig, source: str) -> None:
    """Sizes to refuse before expanding the runs: a huge grid or repetition count would
    keep `snakemake -n` busy for hours, or exhaust memory."""
    total = 0
    for i, entry in enumerate(workflow.runs):
        if entry.repetitions is not None and entry.repetitions > MAX_REPETITION:
            raise ConfigError(
                f"{source}: runs[{i}].repetitions: at most {MAX_REPETITION}, "
                f"got {entry.repetitions}"
            )
        key = "grid" if entry.grid else "repetitions"
        check_size(entry.grid, entry.repetitions, f"{source}: runs[{i}].{key}")
        total += planned_runs(entry.grid, entry.repetitions)
    if total > MAX_PLANNED_RUNS:
        raise ConfigError(
            f"{source}: runs: its entries plan {total} runs together; at most "
            f"{MAX_PLANNED_RUNS} runs in one workflow"
        )


def check_plan_data(plan: dict[str, PlannedRun]) -> None:
    """The data checks of every run (arrays opened, gt scanned once per array)."""
    found = [f"{source}: {p}" for source, f in _data_findings(plan) for p in f.problems]
    if found:
        raise ConfigError("\n".join(found))


def plan_warnings(plan: dict[str, PlannedRun]) -> list[str]:
    """`file: key: message` warnings about the plan's data (e.g. label ids that occur in no
    gt array). Cheap after `load_plan(..., check_data=True)`: the gt scans are cached."""
    return [f"{source}: {w}" for source, f in _data_findings(plan) for w in f.warnings]


def _data_findings(plan: dict[str, PlannedRun]) -> list:
    """(source, Findings) per distinct run config: repetitions differ only by name and seed."""
    from .data_checks import check_run_data  # lazy: opens arrays (zarr)

    seen, result = set(), []
    for run in plan.values():
        key = (run.source, run.config.model_dump_json(exclude={"name", "repetition"}))
        if key not in seen:
            seen.add(key)
            result.append((run.source, check_run_data(run.config)))
    return result


def check_dataset_names(run: PlannedRun) -> None:
    """Validation datasets name directories beside a run's own (checkpoints, logs, ...)."""
    for i, name in enumerate(run.config.validation_dataset_names()):
        if name in RESERVED_DATASET_NAMES:
            raise ConfigError(
                f"{run.source}: datasplit_config.validate_configs[{i}].name: {name!r} is "
                f"reserved for the run's {name}/ directory; rename the dataset"
            )


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
