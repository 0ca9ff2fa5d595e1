"""config/config.yaml: the store and the runs to build, expanded into a checked run plan.

The Snakefile calls `load_plan` at parse time, so every bad config is reported (file and key)
before any job starts, and no torch is imported here. Checks that read data (array metadata, gt
contents) run only with `check_data=True`: `dacapo-flow check` and the main Snakemake process,
not every cluster job (see `data_checks`).
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from ..export.targets import ExportEntry, check_exports
from ..layout import RESERVED_DATASET_NAMES, RESERVED_RUN_NAMES
from ..predict.checks import check_targets
from ..predict.config import PredictionTarget
from .base import Config, ConfigError
from .data_checks import check_run_data
from .loading import load_run_config, parse_config
from .run_config import MAX_REPETITION, RunConfig
from .starts import StartConfig
from .sweeps import MAX_PLANNED_RUNS, check_size, expand_sweep, planned_runs


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
            load_run_config(entry.config, name, rep, check_data=False),
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


def check_finetune_fits(run: PlannedRun, plan: dict[str, PlannedRun]) -> None:
    """A finetune loads its upstream's weights: the networks must match (all but the head's
    labels), which the configs tell before the upstream has trained."""
    if run.upstream is None:
        return
    start = run.config.start_config
    upstream = plan[start.run]
    mine, theirs = run.config, upstream.config
    found = []
    body, upstream_body = (
        mine.architecture_config.body_signature(),
        theirs.architecture_config.body_signature(),
    )
    for key in body:
        if body[key] != upstream_body[key]:
            found.append(f"architecture_config.{key}: {body[key]} != {upstream_body[key]}")
    head, upstream_head = mine.task_config.head_labels(), theirs.task_config.head_labels()
    if not set(head) & set(upstream_head):
        found.append(f"task_config: output channels {head} share none with {upstream_head}")
    kernel, upstream_kernel = (
        mine.task_config.head_kernel_size(),
        theirs.task_config.head_kernel_size(),
    )
    if kernel != upstream_kernel:
        found.append(f"task_config.kernel_size: head kernel {kernel} != {upstream_kernel}")
    if found:
        raise ConfigError(
            "\n".join(
                f"{run.source}: {line} of run {start.run!r} ({upstream.source}), whose weights "
                "this run starts from (start_config.run)"
                for line in found
            )
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
    found = upstream.best_record_problems(start.criterion, start.dataset)
    if found:
        raise ConfigError("\n".join(f"{where}.{line}" for line in found))


# -- external start checkpoints: read at check / DAG-build time ------------------------------


def check_start_files(plan: dict[str, PlannedRun]) -> None:
    """Runs that start from a checkpoint file or a DaCapo run's checkpoint: the file is read
    (torch.load weights_only=True) and compared with the run's network, so one that is not a
    torch file, does not fit or shares no head label fails before any job. Torch is imported
    only when the plan has such a start."""
    found, seen = [], set()
    for run in plan.values():
        start = run.config.start_config
        if start is None or isinstance(start, StartConfig):
            continue
        from ..interop.dacapo_store import resolve_external_start
        from ..start import external_start_problems

        resolved = resolve_external_start(start)  # check_upstream reported any failure
        key = (run.source, run.config.model_dump_json(exclude={"name", "repetition"}))
        if key in seen:
            continue  # repetitions differ only by name and seed
        seen.add(key)
        where = "start_config.checkpoint" if hasattr(start, "checkpoint") else "start_config"
        found += [
            f"{run.source}: {where}: {p}" for p in external_start_problems(run.config, resolved)
        ]
    if found:
        raise ConfigError("\n".join(found))


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
