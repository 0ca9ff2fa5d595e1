"""The base of the task configs: the criteria each task family scores and their directions,
and the checks the task configs share (config/tasks.py holds the tasks themselves)."""

from typing import Annotated

from pydantic import Field

from ..layout import NAME_PATTERN
from .base import Config

# World units (e.g. nm) far beyond any EM volume's features: 1 mm.
MAX_WORLD_DISTANCE = 1e6
# Voxels: an affinity to a neighbour this far away is no affinity between neighbours.
MAX_NEIGHBOUR_OFFSET = 1000

# Channel and class names become parts of criterion names, and so of file names and workflow
# wildcards (`<dataset>/<label>__dice.json`).
Label = Annotated[str, Field(pattern=NAME_PATTERN)]

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
ONE_HOT_METRICS = {"dice": True, "jaccard": True}
INSTANCE_METRICS = {
    "voi_split": False,
    "voi_merge": False,
    "voi": False,
    "adapted_rand_error": False,
}
# Scored and recorded, but not selected by default: each is perfect for a degenerate result.
PARTIAL_METRICS = ("voi_split", "voi_merge")
# Instance scores a distance task adds per channel when it segments instances (seeded watershed).
DISTANCE_INSTANCE_METRICS = {"adapted_rand_error": False}

POST_PROCESSING_HELP = (
    "families of post-processing and their grids, with minimum object sizes (validate stage); "
    "without it, `thresholds` is the grid"
)


def duplicates(values) -> list:
    return sorted({v for v in values if list(values).count(v) > 1}, key=str)


class TaskConfig(Config):
    """Base of the task configs. Each names its output channels (`head_labels`, for head
    matching), its criteria and their directions: the tasks built from it use these."""

    def head_labels(self) -> list[str]:
        raise NotImplementedError

    def head_kernel_size(self) -> int:
        return 1

    def criteria(self) -> list[str]:
        raise NotImplementedError

    def main_criterion(self) -> str:
        raise NotImplementedError

    def parameter_grid(self) -> list[dict]:
        """Post-processing points validation scores (plain dicts; see post_processing.py)."""
        return [{}]

    def default_selected_criteria(self) -> list[str]:
        """Criteria selected when `select_criteria` is not set: all but those meaningless
        alone (a VOI split or merge term is perfect for an all-merged or all-split result)."""
        return [c for c in self.criteria() if c.rsplit("__", 1)[-1] not in PARTIAL_METRICS]

    def _metric_higher_is_better(self, criterion: str) -> bool:
        raise NotImplementedError

    def higher_is_better(self, criterion: str) -> bool:
        """Direction of a criterion, known from the config alone (no torch needed)."""
        if criterion not in self.criteria():
            raise ValueError(
                f"{type(self).__name__}: unknown criterion {criterion!r}; known: {self.criteria()}"
            )
        return self._metric_higher_is_better(criterion)

    def spatial_dims(self) -> int | None:
        """Spatial dimensions the task is configured for (None: any)."""
        return None

    def label_problems(self, label_ids: dict[str, list[int]]) -> list[str]:
        """What is wrong with the datasplit's `label_ids` for this task (`key: message`, keys
        relative to the run config)."""
        return []

    def problems(self) -> list[str]:
        found = super().problems()
        labels = self.head_labels()
        if not labels:
            found.append("the task has no output channels")
        for label in duplicates(labels):
            found.append(f"output channel {label!r} is listed twice")
        grid = [tuple(sorted(point.items())) for point in self.parameter_grid()]
        for point in duplicates(grid):
            found.append(f"post-processing point {dict(point)} is in the grid twice")
        return found


def clip_problems(config) -> list[str]:
    return ["clipmin must be smaller than clipmax"] if config.clipmin >= config.clipmax else []


def missing_labels(key: str, labels: list[str], label_ids: dict) -> list[str]:
    return [
        f"{key}: label {label!r} has no entry in datasplit_config.label_ids {sorted(label_ids)}"
        for label in labels
        if label not in label_ids
    ]


def grid_key_problems(config) -> list[str]:
    """A `post_processing` section names a family; `thresholds` beside it would be unused."""
    section = config.post_processing
    if section is not None and not section.families():
        names = ", ".join(section.family_names())
        return [f"post_processing: name at least one post-processing family ({names})"]
    default = type(config).model_fields["thresholds"].default
    if config.post_processing is not None and list(config.thresholds) != list(default):
        message = "thresholds: with a post_processing section, give the threshold grid as "
        return [message + "post_processing.threshold.thresholds"]
    return []
