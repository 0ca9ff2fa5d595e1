"""Task configs: what the network predicts, how it is post-processed and scored.

Training fields (targets, loss weighting) carry the default "train" stage; the post-processing
grid and evaluation settings are "validate" fields, so changing them reruns validation only.
"""

from typing import Annotated, Literal

from pydantic import Field

from .base import added, beyond, staged
from .datasplits import NONZERO
from .post_processing import AffinitiesPostProcessing, DistancePostProcessing
from .task_base import (
    DISTANCE_INSTANCE_METRICS,
    DISTANCE_METRICS,
    INSTANCE_METRICS,
    MAX_NEIGHBOUR_OFFSET,
    MAX_WORLD_DISTANCE,
    ONE_HOT_METRICS,
    POST_PROCESSING_HELP,
    Label,
    TaskConfig,
    clip_problems,
    grid_key_problems,
    missing_labels,
)

# LSD channels in the order of tasks/lsds.py: mean offsets, variances, Pearson correlations, size.
LSD_LABELS = {
    3: ["lsd_mean_z", "lsd_mean_y", "lsd_mean_x", "lsd_var_z", "lsd_var_y", "lsd_var_x"]
    + ["lsd_corr_zy", "lsd_corr_zx", "lsd_corr_yx", "lsd_size"],
    2: ["lsd_mean_y", "lsd_mean_x", "lsd_var_y", "lsd_var_x", "lsd_corr_yx", "lsd_size"],
}


class DistanceTaskConfig(TaskConfig):
    """Per-label signed distance, tanh(d / scale_factor); thresholds in prediction space."""

    type: Literal["distance"] = "distance"
    channels: list[Label] = Field(min_length=1, description="labels, one output channel each")
    scale_factor: float = Field(50.0, gt=0, description="world units; d/scale_factor in tanh")
    clipmin: float = Field(0.05, gt=0, lt=1, description="lower clip of class fractions")
    clipmax: float = Field(0.95, gt=0, lt=1, description="upper clip of class fractions")
    thresholds: list[float] = staged(
        "validate", [-0.25, 0.0, 0.25], min_length=1, description="grid, in (-1, 1)"
    )
    tol_distance: float = staged(
        "validate", 40.0, gt=0, description="world units; tolerance of f1_with_tolerance"
    )
    mask_distances: bool = added(
        False,
        description="sparse masks: weigh 0 where an unannotated voxel is nearer than the "
        "boundary, whose distance is then unknown (DaCapo's mask_distances)",
    )
    post_processing: DistancePostProcessing | None = staged(
        "validate", None, json_schema_extra={"hash_if_set": True}, description=POST_PROCESSING_HELP
    )

    def head_labels(self) -> list[str]:
        return list(self.channels)

    def parameter_grid(self) -> list[dict]:
        if self.post_processing is None:
            return [{"threshold": t} for t in self.thresholds]
        return self.post_processing.grid()

    def segments_instances(self) -> bool:
        """Whether validation scores instances too (a seeded watershed is in the grid)."""
        return (
            self.post_processing is not None and self.post_processing.seeded_watershed is not None
        )

    def _metrics(self) -> dict[str, bool]:
        if self.segments_instances():
            return DISTANCE_METRICS | DISTANCE_INSTANCE_METRICS
        return DISTANCE_METRICS

    def criteria(self) -> list[str]:
        return [f"{c}__{m}" for c in self.channels for m in self._metrics()]

    def main_criterion(self) -> str:
        return f"{self.channels[0]}__dice"

    def _metric_higher_is_better(self, criterion: str) -> bool:
        return self._metrics()[criterion.rsplit("__", 1)[1]]

    def label_problems(self, label_ids):
        return missing_labels("task_config.channels", self.head_labels(), label_ids)

    def problems(self) -> list[str]:
        found = super().problems()
        found += grid_key_problems(self)
        for i, t in enumerate(self.thresholds):
            if not -1.0 < t < 1.0:
                found.append(
                    f"thresholds[{i}]: {t} is outside (-1, 1); predictions are tanh values, "
                    "so this threshold would give an empty or full segmentation"
                )
        for key in ("scale_factor", "tol_distance"):
            found += beyond(key, getattr(self, key), MAX_WORLD_DISTANCE, "world units")
        return found + clip_problems(self)


class OneHotTaskConfig(TaskConfig):
    """One channel per class, weighted cross-entropy, argmax."""

    type: Literal["one_hot"] = "one_hot"
    classes: list[Label] = Field(
        min_length=2, description="one channel each; one may lack label_ids (the rest)"
    )
    kernel_size: int = Field(1, ge=1, description="head convolution size")
    balance_classes: bool = added(
        False, description="weight voxels by inverse class frequency (clipped fractions)"
    )
    clipmin: float = added(
        0.05, gt=0, lt=1, description="lower clip of class fractions (balance_classes)"
    )
    clipmax: float = added(
        0.95, gt=0, lt=1, description="upper clip of class fractions (balance_classes)"
    )

    def head_labels(self) -> list[str]:
        return list(self.classes)

    def head_kernel_size(self) -> int:
        return self.kernel_size

    def criteria(self) -> list[str]:
        per_class = [f"{c}__{m}" for c in self.classes for m in ONE_HOT_METRICS]
        return per_class + [f"mean__{m}" for m in ONE_HOT_METRICS]

    def main_criterion(self) -> str:
        return "mean__dice"

    def _metric_higher_is_better(self, criterion: str) -> bool:
        return ONE_HOT_METRICS[criterion.rsplit("__", 1)[1]]

    def label_problems(self, label_ids):
        found = []
        unclaimed = [c for c in self.classes if c not in label_ids]
        if len(unclaimed) > 1:
            found.append(
                f"task_config.classes: {unclaimed} have no entry in datasplit_config.label_ids "
                f"{sorted(label_ids)}; only one class (the rest, e.g. background) may lack one"
            )
        for name in label_ids:
            if name not in self.classes:
                found.append(
                    f"datasplit_config.label_ids.{name}: not one of the classes {self.classes}"
                )
        nonzero = [n for n, ids in label_ids.items() if ids == NONZERO]
        if len(nonzero) > 1:
            found.append(
                f"datasplit_config.label_ids: classes {nonzero} are all 'nonzero'; only one may "
                "be (it takes every non-zero id that no other class lists)"
            )
        owner: dict[int, str] = {}
        for name in (n for n in label_ids if n in self.classes and n not in nonzero):
            for i in label_ids[name]:
                if i in owner and owner[i] != name:
                    found.append(
                        f"datasplit_config.label_ids.{name}: id {i} is claimed by both "
                        f"{owner[i]!r} and {name!r}"
                    )
                owner.setdefault(i, name)
        return found

    def problems(self) -> list[str]:
        found = super().problems()
        if "mean" in self.classes:
            found.append("classes: 'mean' names the mean scores (mean__dice); rename the class")
        if len(self.classes) > 255:
            found.append(f"classes: {len(self.classes)} classes do not fit the uint8 output")
        return found + clip_problems(self)


class AffinitiesTaskConfig(TaskConfig):
    """Affinities to neighbours at voxel offsets; instances by thresholded components."""

    type: Literal["affinities"] = "affinities"
    neighborhood: list[list[int]] = Field(min_length=1, description="voxel offsets")
    clipmin: float = Field(0.05, gt=0, lt=1, description="lower clip of class fractions")
    clipmax: float = Field(0.95, gt=0, lt=1, description="upper clip of class fractions")
    thresholds: list[float] = staged(
        "validate", [0.5, 0.7, 0.9], min_length=1, description="affinity grid, in (0, 1)"
    )
    lsds: bool = added(
        False, description="also train local shape descriptors, an auxiliary target (DaCapo)"
    )
    num_lsd_voxels: int = added(
        10, ge=1, le=100, description="LSD sigma: this many times the coarsest voxel size"
    )
    downsample_lsds: int = added(
        1, ge=1, le=8, description="compute LSD targets on every n-th voxel (faster)"
    )
    lsds_to_affs_weight_ratio: float = added(
        1.0, gt=0, le=1000, description="weight of the LSD loss relative to the affinities' loss"
    )
    lsd_section_axis: int | None = added(
        None,
        ge=0,
        le=2,
        description="2D LSDs per section along this axis (labels painted section by section)",
    )
    post_processing: AffinitiesPostProcessing | None = staged(
        "validate", None, json_schema_extra={"hash_if_set": True}, description=POST_PROCESSING_HELP
    )

    def parameter_grid(self) -> list[dict]:
        if self.post_processing is None:
            return [{"threshold": t} for t in self.thresholds]
        return self.post_processing.grid()

    def head_labels(self) -> list[str]:
        affinities = ["aff_" + "_".join(str(o) for o in offset) for offset in self.neighborhood]
        return affinities + (LSD_LABELS[self.lsd_dims()] if self.lsds else [])

    def lsd_dims(self) -> int:
        return self.spatial_dims() - (self.lsd_section_axis is not None)

    def criteria(self) -> list[str]:
        return list(INSTANCE_METRICS)

    def main_criterion(self) -> str:
        return "voi"

    def _metric_higher_is_better(self, criterion: str) -> bool:
        return INSTANCE_METRICS[criterion]

    def spatial_dims(self) -> int:
        return len(self.neighborhood[0])

    def problems(self) -> list[str]:
        found = super().problems()
        found += grid_key_problems(self)
        dims = {len(offset) for offset in self.neighborhood}
        if len(dims) > 1 or not dims <= {2, 3}:
            found.append(f"neighborhood: offsets {self.neighborhood} must all be 2D or all 3D")
        for i, offset in enumerate(self.neighborhood):
            if not any(offset):
                found.append(f"neighborhood[{i}]: the zero offset has no affinity")
            for d, step in enumerate(offset):
                found += beyond(f"neighborhood[{i}][{d}]", step, MAX_NEIGHBOUR_OFFSET, "voxels")
        for i, t in enumerate(self.thresholds):
            if not 0.0 < t < 1.0:
                found.append(f"thresholds[{i}]: {t} is outside (0, 1) (sigmoid outputs)")
        if self.lsd_section_axis is not None and self.lsd_section_axis >= self.spatial_dims():
            found.append(
                f"lsd_section_axis: {self.lsd_section_axis} is not an axis of the "
                f"{self.spatial_dims()}D neighborhood"
            )
        return found + clip_problems(self)


AnyTaskConfig = Annotated[
    DistanceTaskConfig | OneHotTaskConfig | AffinitiesTaskConfig, Field(discriminator="type")
]


def higher_is_better(task_config: TaskConfig, criterion: str) -> bool:
    """Direction of a criterion, known from the config alone (no torch needed)."""
    return task_config.higher_is_better(criterion)
