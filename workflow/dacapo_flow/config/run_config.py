"""RunConfig: one training run, and StartConfig: where its weights start from."""

from pydantic import Field

from .architectures import AnyArchitectureConfig
from .base import Config, staged
from .datasplits import NAME_PATTERN, AnyDataSplitConfig
from .starts import AnyStartConfig, StartConfig
from .tasks import AnyTaskConfig, DistanceTaskConfig, OneHotTaskConfig, higher_is_better
from .trainers import TrainerConfig

__all__ = ["RunConfig", "StartConfig"]


class RunConfig(Config):
    task_config: AnyTaskConfig = Field(description="what is predicted; see the task sections")
    architecture_config: AnyArchitectureConfig = Field(description="the network")
    trainer_config: TrainerConfig = Field(description="optimisation, batches, augmentation")
    datasplit_config: AnyDataSplitConfig = Field(description="training and validation data")
    name: str = staged("none", pattern=NAME_PATTERN, description="the run's directory in the store")
    repetition: int = Field(0, ge=0, description="seeds the run; one run per repetition")
    num_iterations: int = staged(
        "none", description="optimizer steps in total; raising it trains only the new chunks"
    )
    validation_interval: int = staged(
        "none", 1000, description="steps per chunk: a checkpoint and a validation each"
    )
    start_config: AnyStartConfig | None = Field(
        None,
        description="start from another run's best weights (finetune), a DaCapo run's "
        "checkpoint, or a checkpoint file",
    )
    select_criteria: list[str] | None = staged(
        "select", None, description="criteria to write best JSONs for (default: all)"
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
    def iterations(self) -> list[int]:
        """Checkpoint iterations: V, 2V, ... and N when N is not a multiple of V."""
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
        return list(self.select_criteria) if self.select_criteria else self.criteria()

    def higher_is_better(self, criterion: str) -> bool:
        return higher_is_better(self.task_config, criterion)

    def seed(self) -> int:
        return self.trainer_config.seed * 1000003 + self.repetition

    def problems(self) -> list[str]:
        found = super().problems()
        if self.num_iterations < 1:
            found.append(f"num_iterations: must be >= 1, got {self.num_iterations}")
        if self.validation_interval < 1:
            found.append(f"validation_interval: must be >= 1, got {self.validation_interval}")
        task = self.task_config
        label_ids = self.datasplit_config.label_ids
        if isinstance(task, (DistanceTaskConfig, OneHotTaskConfig)):
            key = "channels" if isinstance(task, DistanceTaskConfig) else "classes"
            missing = [label for label in task.head_labels() if label not in label_ids]
            if isinstance(task, OneHotTaskConfig) and len(missing) == 1:
                missing = []  # one class may be the implicit rest (background)
            for label in missing:
                found.append(
                    f"task_config.{key}: label {label!r} has no entry in "
                    f"datasplit_config.label_ids {sorted(label_ids)}"
                )
        unknown = set(self.select_criteria or []) - set(self.criteria())
        if unknown:
            found.append(
                f"select_criteria: unknown {sorted(unknown)}; this task's criteria are "
                f"{self.criteria()}"
            )
        if isinstance(self.start_config, StartConfig) and self.start_config.run == self.name:
            found.append("start_config.run: a run cannot start from itself")
        arch = self.architecture_config
        if arch.fmaps_in != 1:
            found.append("architecture_config.fmaps_in: raw arrays have one channel; use 1")
        return found
