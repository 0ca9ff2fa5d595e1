"""Datasplit configs: zarr arrays of raw / gt / mask, grouped into train and validate sets."""

from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag

from ..layout import NAME_PATTERN
from .base import Config, added, beyond, staged

# Raw intensities beyond any integer dtype's range (uint64): a typo, or an overflow to come.
MAX_INTENSITY = 2.0**64
MAX_WEIGHT = 1e6  # relative sampling weight

# A label id is a non-negative integer that fits uint64: no floats, no bools, no negatives.
LabelId = Annotated[int, Field(strict=True, ge=0, le=2**64 - 1)]
#: A label's ids given as this word mean every id but 0 (DaCapo's empty binarize grouping).
NONZERO = "nonzero"
# A label's ids: a list, or NONZERO. Told apart by type, so that an error names only the form
# the user wrote.
LabelIds = Annotated[
    Annotated[list[LabelId], Tag("label-ids")] | Annotated[Literal[NONZERO], Tag("label-nonzero")],
    Discriminator(lambda value: "label-nonzero" if isinstance(value, str) else "label-ids"),
]

# Directories a workflow rule has yet to write (the bundled synthetic data): arrays under them
# are checked by the job that reads them, not when the DAG is built.
_PENDING: ContextVar[tuple[Path, ...]] = ContextVar("pending_outputs", default=())


@contextmanager
def pending_outputs(directories):
    token = _PENDING.set(tuple(Path(d).resolve() for d in directories))
    try:
        yield
    finally:
        _PENDING.reset(token)


def is_pending(path: Path) -> bool:
    path = Path(path).resolve()
    return any(path == d or d in path.parents for d in _PENDING.get())


class ArrayConfig(Config):
    """One array in a zarr container; voxel size and offset come from its metadata."""

    path: Path = Field(description="zarr container (directory)")
    dataset: str = Field(description="array path inside the container")
    min: float | None = Field(None, description="raw intensity mapped to 0 (default: dtype)")
    max: float | None = Field(None, description="raw intensity mapped to 1 (default: dtype)")
    percentiles: list[float] | None = added(
        None,
        min_length=2,
        max_length=2,
        description="[low, high]: map the raw's low..high percentiles to 0..1 (computed once "
        "per array and recorded), instead of min/max",
    )

    def problems(self) -> list[str]:
        found = super().problems()
        for key in ("min", "max"):
            if getattr(self, key) is not None:
                found += beyond(key, getattr(self, key), MAX_INTENSITY, "any raw dtype's range")
        if self.min is not None and self.max is not None and self.min >= self.max:
            found.append(f"max: {self.max} must exceed min {self.min} (raw maps min..max to 0..1)")
        if self.percentiles is not None:
            low, high = self.percentiles
            if not 0 <= low < high <= 100:
                found.append(f"percentiles: {self.percentiles} must satisfy 0 <= low < high <= 100")
            if self.min is not None or self.max is not None:
                found.append("percentiles: give either percentiles or min/max, not both")
        return found


class RawGTDatasetConfig(Config):
    name: str = Field(pattern=NAME_PATTERN, description="unique; names the validation dir")
    weight: float = Field(1.0, gt=0, description="relative sampling weight in training")
    raw: ArrayConfig = Field(description="intensities, one channel")
    gt: ArrayConfig = Field(description="labels (ids) or instances")
    mask: ArrayConfig | None = Field(None, description="1 = annotated, 0 = ignore")
    segmentation_context: list[int] | None = added(
        None,
        description="validation datasets: world units per axis (z, y, x) around the scored "
        "box that validation also predicts and post-processes, within the raw array. Objects "
        "then join or split through their surroundings as in a whole-volume prediction "
        "target; only the annotated voxels are scored. Costs prediction time in proportion",
    )

    def problems(self) -> list[str]:
        found = super().problems()
        if self.segmentation_context is not None and any(c < 0 for c in self.segmentation_context):
            found.append(f"segmentation_context: {self.segmentation_context} must not be negative")
        return found + beyond("weight", self.weight, MAX_WEIGHT, "relative to the others")


class DataSplitConfig(Config):
    """Base of the datasplit configs."""


class TrainValidateDataSplitConfig(DataSplitConfig):
    type: Literal["train_validate"] = "train_validate"
    name: str = staged("none", "datasplit", description="a label, ignored")
    label_ids: dict[str, LabelIds] = Field(
        default_factory=dict,
        description='label name -> ids of that label in the gt arrays, or "nonzero": every '
        "id but 0 (DaCapo's empty binarize grouping)",
    )
    train_configs: list[RawGTDatasetConfig] = Field(min_length=1, description="training crops")
    validate_configs: list[RawGTDatasetConfig] = staged(
        "validate", default_factory=list, description="each gets best JSONs per criterion"
    )

    def datasets(self) -> list[tuple[str, RawGTDatasetConfig]]:
        """(key, dataset) of every training and validation dataset."""
        return [
            (f"{group}[{i}]", dataset)
            for group in ("train_configs", "validate_configs")
            for i, dataset in enumerate(getattr(self, group))
        ]

    def problems(self) -> list[str]:
        found = super().problems()
        names = [d.name for d in self.train_configs + self.validate_configs]
        for name in sorted({n for n in names if names.count(n) > 1}):
            found.append(f"dataset name {name!r} is used twice")
        for i, dataset in enumerate(self.train_configs):
            if dataset.segmentation_context is not None:
                found.append(
                    f"train_configs[{i}].segmentation_context: only validation segments; "
                    "set it on the validate_configs entry"
                )
        return found


# One kind so far, so `type` may be left out; make this a discriminated union when a second
# kind arrives.
AnyDataSplitConfig = TrainValidateDataSplitConfig
