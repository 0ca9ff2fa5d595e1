"""RunConfig: one training run, and StartConfig: where its weights start from."""

import math

from pydantic import Field

from .architectures import AnyArchitectureConfig
from .base import Config, staged
from .datasplits import NAME_PATTERN, AnyDataSplitConfig
from .starts import AnyStartConfig, StartConfig
from .tasks import AnyTaskConfig
from .trainers import MAX_ITERATIONS, TrainerConfig

__all__ = ["RunConfig", "StartConfig"]

# Bounds far above any real run: beyond them the workflow's DAG itself would not fit memory.
MAX_CHECKPOINTS = 10**5
MAX_REPETITION = 10**6


class RunConfig(Config):
    task_config: AnyTaskConfig = Field(description="what is predicted; see the task sections")
    architecture_config: AnyArchitectureConfig = Field(description="the network")
    trainer_config: TrainerConfig = Field(description="optimisation, batches, augmentation")
    datasplit_config: AnyDataSplitConfig = Field(description="training and validation data")
    name: str = staged(
        "none",
        pattern=NAME_PATTERN,
        reruns="all (a new run directory; the old one is kept)",
        description="the run's directory in the store",
    )
    repetition: int = Field(0, ge=0, description="seeds the run; one run per repetition")
    num_iterations: int = staged(
        "none",
        reruns="new chunks, their validation, selection",
        description="optimizer steps in total; raising it trains only the new chunks",
    )
    validation_interval: int = staged(
        "none",
        1000,
        reruns="train (checkpoints move to other iterations)",
        description="steps per chunk: a checkpoint and a validation each",
    )
    start_config: AnyStartConfig | None = Field(
        None,
        description="start from another run's best weights (finetune), a DaCapo run's "
        "checkpoint, or a checkpoint file",
    )
    select_criteria: list[str] | None = staged(
        "select",
        None,
        description="criteria to write best JSONs for (default: all but voi_split and "
        "voi_merge, which are meaningless alone)",
    )
    description: str = staged("none", "", description="free text, ignored")

    def __init__(self, *args, **kwargs):
        # DaCapo's RunConfig takes its first fields positionally.
        names = list(type(self).model_fields)
        for name in names[: len(args)]:
            if name in kwargs:
                raise TypeError(f"RunConfig got {name!r} both by position and by keyword")
        kwargs.update(zip(names, args))
        super().__init__(**kwargs)

    # -- derived facts the workflow needs without building anything -------------------------
    def num_checkpoints(self) -> int:
        return math.ceil(self.num_iterations / self.validation_interval)

    def iterations(self) -> list[int]:
        """Checkpoint iterations: V, 2V, ... and N when N is not a multiple of V."""
        if self.validation_interval < 1 or self.num_checkpoints() > MAX_CHECKPOINTS:
            raise ValueError(f"run {self.name}: refusing {self.num_checkpoints()} checkpoints")
        steps = list(
            range(self.validation_interval, self.num_iterations + 1, self.validation_interval)
        )
        if not steps or steps[-1] != self.num_iterations:
            steps.append(self.num_iterations)
        return steps

    def validation_dataset_names(self) -> list[str]:
        return [d.name for d in self.datasplit_config.validate_configs]

    def criteria(self) -> list[str]:
        return self.task_config.criteria()

    def selected_criteria(self) -> list[str]:
        if self.select_criteria:
            return list(self.select_criteria)
        return self.task_config.default_selected_criteria()

    def best_record_problems(self, criterion: str, dataset: str | None) -> list[str]:
        """Why (dataset, criterion) names none of this run's best records, as "key: why"
        lines: the criterion must be selected, the dataset one of its validation datasets
        (None: the run must have only one). For start configs, predictions and exports."""
        found = []
        selected = self.selected_criteria()
        if criterion not in selected:
            found.append(
                f"criterion: {criterion!r} is not selected for run {self.name!r} "
                f"(selected: {selected})"
            )
        datasets = self.validation_dataset_names()
        if dataset is None and len(datasets) != 1:
            found.append(f"dataset: run {self.name!r} has validation datasets {datasets}; name one")
        if dataset is not None and dataset not in datasets:
            found.append(
                f"dataset: {dataset!r} is not a validation dataset of run {self.name!r} "
                f"({datasets})"
            )
        return found

    def higher_is_better(self, criterion: str) -> bool:
        return self.task_config.higher_is_better(criterion)

    def seed(self) -> int:
        return self.trainer_config.seed * 1000003 + self.repetition

    def problems(self) -> list[str]:
        found = super().problems()
        found += self._size_problems()
        task, arch = self.task_config, self.architecture_config
        found += task.label_problems(self.datasplit_config.label_ids)
        unknown = set(self.select_criteria or []) - set(self.criteria())
        if unknown:
            found.append(
                f"select_criteria: unknown {sorted(unknown)}; this task's criteria are "
                f"{self.criteria()}"
            )
        if isinstance(self.start_config, StartConfig) and self.start_config.run == self.name:
            found.append("start_config.run: a run cannot start from itself")
        if arch.fmaps_in != 1:
            found.append("architecture_config.fmaps_in: raw arrays have one channel; use 1")
        dims = arch.data_dims
        if task.spatial_dims() not in (None, dims):
            found.append(
                f"task_config: configured for {task.spatial_dims()}D, "
                f"architecture_config.input_shape is {dims}D"
            )
        for i, augment in enumerate(self.trainer_config.augments):
            if augment.spatial_dims() not in (None, dims):
                found.append(
                    f"trainer_config.augments[{i}]: configured for {augment.spatial_dims()}D, "
                    f"architecture_config.input_shape is {dims}D"
                )
        return found

    def _size_problems(self) -> list[str]:
        found = []
        if self.num_iterations < 1:
            found.append(f"num_iterations: must be >= 1, got {self.num_iterations}")
        if self.num_iterations > MAX_ITERATIONS:
            found.append(f"num_iterations: at most {MAX_ITERATIONS}, got {self.num_iterations}")
        if self.validation_interval < 1:
            found.append(f"validation_interval: must be >= 1, got {self.validation_interval}")
        elif not found and self.num_checkpoints() > MAX_CHECKPOINTS:
            found.append(
                f"validation_interval: {self.validation_interval} gives "
                f"{self.num_checkpoints()} checkpoints over {self.num_iterations} iterations; "
                f"at most {MAX_CHECKPOINTS}"
            )
        if self.repetition > MAX_REPETITION:
            found.append(f"repetition: at most {MAX_REPETITION}, got {self.repetition}")
        return found
