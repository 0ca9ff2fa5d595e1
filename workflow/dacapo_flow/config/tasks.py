"""Task configs: what the network predicts, how it is post-processed and scored.

Training fields (targets, loss weighting) carry the default "train" stage; the post-processing
grid and evaluation settings are "validate" fields, so changing them reruns validation only.
"""

from typing import Annotated, Literal

from pydantic import Field

from .base import Config, staged

DISTANCE_METRICS = {
    "dice": True,
    "jaccard": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "f1_with_tolerance": True,
    "voi": False,
    "hausdorff": False,
}
INSTANCE_METRICS = {
    "voi_split": False,
    "voi_merge": False,
    "voi": False,
    "adapted_rand_error": False,
}


def _duplicates(values) -> list:
    return sorted({v for v in values if list(values).count(v) > 1}, key=str)


class TaskConfig(Config):
    """Base of the task configs; `head_labels` name the output channels for head matching."""

    def head_labels(self) -> list[str]:
        raise NotImplementedError

    def criteria(self) -> list[str]:
        raise NotImplementedError

    def problems(self) -> list[str]:
        found = super().problems()
        labels = self.head_labels()
        if not labels:
            found.append("the task has no output channels")
        for label in _duplicates(labels):
            found.append(f"output channel {label!r} is listed twice")
        return found


class DistanceTaskConfig(TaskConfig):
    """Per-label signed distance, tanh(d / scale_factor); thresholds in prediction space."""

    type: Literal["distance"] = "distance"
    channels: list[str] = Field(min_length=1, description="labels, one output channel each")
    scale_factor: float = Field(50.0, gt=0, description="world units; d/scale_factor in tanh")
    clipmin: float = Field(0.05, gt=0, lt=1, description="lower clip of class fractions")
    clipmax: float = Field(0.95, gt=0, lt=1, description="upper clip of class fractions")
    thresholds: list[float] = staged(
        "validate", [-0.25, 0.0, 0.25], min_length=1, description="grid, in (-1, 1)"
    )
    tol_distance: float = staged(
        "validate", 40.0, gt=0, description="world units; tolerance of f1_with_tolerance"
    )

    def head_labels(self) -> list[str]:
        return list(self.channels)

    def criteria(self) -> list[str]:
        return [f"{c}__{m}" for c in self.channels for m in DISTANCE_METRICS]

    def problems(self) -> list[str]:
        found = super().problems()
        for i, t in enumerate(self.thresholds):
            if not -1.0 < t < 1.0:
                found.append(
                    f"thresholds[{i}]: {t} is outside (-1, 1); predictions are tanh values, "
                    "so this threshold would give an empty or full segmentation"
                )
        if self.clipmin >= self.clipmax:
            found.append("clipmin must be smaller than clipmax")
        return found


class OneHotTaskConfig(TaskConfig):
    """One channel per class, weighted cross-entropy, argmax."""

    type: Literal["one_hot"] = "one_hot"
    classes: list[str] = Field(
        min_length=2, description="one channel each; one may lack label_ids (the rest)"
    )
    kernel_size: int = Field(1, ge=1, description="head convolution size")

    def head_labels(self) -> list[str]:
        return list(self.classes)

    def criteria(self) -> list[str]:
        per_class = [f"{c}__{m}" for c in self.classes for m in ("dice", "jaccard")]
        return per_class + ["mean__dice", "mean__jaccard"]


class AffinitiesTaskConfig(TaskConfig):
    """Affinities to neighbours at voxel offsets; instances by thresholded components."""

    type: Literal["affinities"] = "affinities"
    neighborhood: list[list[int]] = Field(min_length=1, description="voxel offsets")
    clipmin: float = Field(0.05, gt=0, lt=1, description="lower clip of class fractions")
    clipmax: float = Field(0.95, gt=0, lt=1, description="upper clip of class fractions")
    thresholds: list[float] = staged(
        "validate", [0.5, 0.7, 0.9], min_length=1, description="affinity grid, in (0, 1)"
    )

    def head_labels(self) -> list[str]:
        return ["aff_" + "_".join(str(o) for o in offset) for offset in self.neighborhood]

    def criteria(self) -> list[str]:
        return list(INSTANCE_METRICS)

    def problems(self) -> list[str]:
        found = super().problems()
        for i, offset in enumerate(self.neighborhood):
            if not any(offset):
                found.append(f"neighborhood[{i}]: the zero offset has no affinity")
        for i, t in enumerate(self.thresholds):
            if not 0.0 < t < 1.0:
                found.append(f"thresholds[{i}]: {t} is outside (0, 1) (sigmoid outputs)")
        return found


AnyTaskConfig = Annotated[
    DistanceTaskConfig | OneHotTaskConfig | AffinitiesTaskConfig, Field(discriminator="type")
]


def higher_is_better(task_config: TaskConfig, criterion: str) -> bool:
    """Direction of a criterion, known from the config alone (no torch needed)."""
    if isinstance(task_config, AffinitiesTaskConfig):
        return INSTANCE_METRICS[criterion]
    metric = criterion.split("__")[-1]
    if isinstance(task_config, OneHotTaskConfig):
        return True
    return DISTANCE_METRICS[metric]
