"""Where each planned run starts from, resolved in one place: the plan's checks
(`check_upstream`, `check_finetune_fits`, `check_start_files`) and the file a finetune's
first chunk loads (`start_file`, the Snakefile's input; the report's lineage uses
`start_dataset`). Training loads the file it is handed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config.base import ConfigError
from ..config.starts import StartConfig
from ..interop.dacapo_store import ExternalStartError, resolve_external_start
from ..layout import Layout

if TYPE_CHECKING:
    from .runs import PlannedRun


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


def check_upstream(run: PlannedRun, plan: dict[str, PlannedRun]) -> None:
    start = run.config.start_config
    if start is None:
        return
    where = f"{run.source}: start_config"
    if not isinstance(start, StartConfig):
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
        from ..start import external_start_problems  # lazy: torch

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
    """The validation dataset of the best record a finetune starts from: the start config's,
    else the upstream's only one (`check_upstream` refuses a choice). None for a start from
    outside this workflow, or from an iteration that names no dataset."""
    start = run.config.start_config
    if not isinstance(start, StartConfig):
        return None
    if start.dataset is not None or start.criterion.isdigit() or start.run not in plan:
        return start.dataset
    return plan[start.run].config.validation_dataset_names()[0]


def start_file(run: PlannedRun, plan: dict[str, PlannedRun], layout: Layout) -> str:
    """The file a finetune's first chunk loads: the upstream's winning weights (or one of
    its checkpoints when the start names an iteration), or the external checkpoint (a
    DaCapo run's, or a file) the start config names."""
    start = run.config.start_config
    if not isinstance(start, StartConfig):
        return str(resolve_external_start(start).checkpoint)
    if start.criterion.isdigit():
        return layout.checkpoint(start.run, start.criterion)
    return layout.best_weights(start.run, start_dataset(run, plan), start.criterion)
