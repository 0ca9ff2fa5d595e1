"""Post-processing grids of the instance tasks: families of methods, each a grid of parameters,
times an optional grid of minimum object sizes. Validation scores every point; selection picks
one, and prediction applies the one selected.

Every point is a dict of plain values; its keys say its family ("threshold" alone: threshold +
connected components; "bias": mutex watershed; "seed_distance": seeded watershed) and
"min_size" is present only when `min_sizes` is not the default [0]. A config without a
`post_processing` section keeps the grid (and the stage hash) it had before this section
existed.
"""

from pydantic import Field

from .base import Config

MWS_BIASES = [0.1, 0.25, 0.5, 0.75, 0.9]  # DaCapo 0.3.5's WatershedPostProcessor grid


class ThresholdGrid(Config):
    """Threshold + connected components."""

    thresholds: list[float] = Field(min_length=1, description="grid of thresholds")


class MwsGrid(Config):
    """Mutex watershed as DaCapo's: affinities above the bias attract, below it they repel."""

    biases: list[float] = Field(
        MWS_BIASES, min_length=1, description="grid of biases subtracted from the affinities"
    )


class SeededWatershedGrid(Config):
    """Seeded watershed within the foreground, seeds deeper inside than a seed distance."""

    thresholds: list[float] = Field(
        min_length=1, description="grid of foreground thresholds, in prediction space (-1, 1)"
    )
    seed_distances: list[float] = Field(
        min_length=1, description="grid of seed depths, world units inside the object (> 0)"
    )


class PostProcessing(Config):
    """Families of one task (at least one) and the minimum object sizes applied to each."""

    min_sizes: list[int] = Field(
        [0], min_length=1, description="grid of minimum object sizes in voxels (0: keep all)"
    )

    def family_names(self) -> list[str]:
        return [n for n in type(self).model_fields if n != "min_sizes"]

    def families(self) -> dict[str, Config]:
        return {
            name: getattr(self, name)
            for name in self.family_names()
            if getattr(self, name) is not None
        }

    def grid(self) -> list[dict]:
        points = []
        for family in self.families().values():
            points += family_points(family)
        if self.min_sizes == [0]:
            return points
        return [{**point, "min_size": size} for point in points for size in self.min_sizes]

    def problems(self) -> list[str]:
        found = super().problems()
        for i, size in enumerate(self.min_sizes):
            if size < 0:
                found.append(f"min_sizes[{i}]: {size} is negative")
        if len(set(self.min_sizes)) != len(self.min_sizes):
            found.append(f"min_sizes: {self.min_sizes} lists a value twice")
        return found


def family_points(family: Config) -> list[dict]:
    if isinstance(family, ThresholdGrid):
        return [{"threshold": t} for t in family.thresholds]
    if isinstance(family, MwsGrid):
        return [{"bias": b} for b in family.biases]
    if isinstance(family, SeededWatershedGrid):
        return [
            {"threshold": t, "seed_distance": d}
            for t in family.thresholds
            for d in family.seed_distances
        ]
    raise TypeError(f"unknown post-processing family {type(family).__name__}")


class AffinitiesPostProcessing(PostProcessing):
    """Families: threshold + components, mutex watershed; each point times each min size."""

    threshold: ThresholdGrid | None = Field(None, description="threshold + components")
    mws: MwsGrid | None = Field(None, description="mutex watershed")

    def problems(self) -> list[str]:
        found = super().problems()
        if self.threshold is not None:
            found += _range_problems("threshold.thresholds", self.threshold.thresholds, 0, 1)
        return found


class DistancePostProcessing(PostProcessing):
    """Families: threshold, seeded watershed (instances); each point times each min size."""

    threshold: ThresholdGrid | None = Field(None, description="threshold (+ components)")
    seeded_watershed: SeededWatershedGrid | None = Field(
        None, description="seeded watershed (touching objects)"
    )

    def problems(self) -> list[str]:
        found = super().problems()
        if self.threshold is not None:
            found += _range_problems("threshold.thresholds", self.threshold.thresholds, -1, 1)
        if self.seeded_watershed is not None:
            grid = self.seeded_watershed
            found += _range_problems("seeded_watershed.thresholds", grid.thresholds, -1, 1)
            for i, d in enumerate(grid.seed_distances):
                if d <= 0:
                    found.append(f"seeded_watershed.seed_distances[{i}]: {d} must be > 0")
        return found


def _range_problems(key: str, values: list[float], low: float, high: float) -> list[str]:
    return [
        f"{key}[{i}]: {v} is outside ({low}, {high}), the range of the predictions"
        for i, v in enumerate(values)
        if not low < v < high
    ]
