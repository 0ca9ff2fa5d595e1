"""Augment configs: one model per augment, holding its defaults and checks.

The data layer (`data/augment.py`) builds each augment from its config object, so what a key
means and what it defaults to is written here only.
"""

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from .base import Config, added, beyond

# Raw is normalised to [0, 1]: beyond these bounds an augment leaves no image to learn from.
MAX_NOISE_SIGMA = 1.0
MAX_INTENSITY = 10.0  # |scale| and |shift|
MAX_GAMMA = 100.0
MAX_ELASTIC_SIGMA = 100.0  # voxels of displacement std
MAX_CONTROL_POINT_SPACING = 10**4


def _range_problems(key: str, values) -> list[str]:
    low, high = values
    return [f"{key}: {list(values)} must be [low, high]"] if low > high else []


class AugmentConfig(Config):
    """Base of the augment configs: `p` is the probability to apply."""

    def spatial_dims(self) -> int | None:
        """How many spatial axes the augment is configured for (None: any)."""
        return None


class MirrorAugment(AugmentConfig):
    """Flip each spatial axis with probability p (raw, gt and mask together)."""

    type: Literal["mirror"] = "mirror"
    p: float = Field(0.5, ge=0, le=1, description="probability per axis")


class TransposeAugment(AugmentConfig):
    """Permute spatial axes of equal size with probability p."""

    type: Literal["transpose"] = "transpose"
    p: float = Field(0.5, ge=0, le=1, description="probability")


class IntensityAugment(AugmentConfig):
    """raw * uniform(scale) + uniform(shift), raw only."""

    type: Literal["intensity"] = "intensity"
    scale: tuple[float, float] = Field((0.9, 1.1), description="raw * uniform(scale)")
    shift: tuple[float, float] = Field((-0.1, 0.1), description="raw + uniform(shift)")
    p: float = Field(1.0, ge=0, le=1, description="probability")
    clip: bool = added(True, description="clip the result to [0, 1]")

    def problems(self) -> list[str]:
        found = super().problems()
        for key in ("scale", "shift"):
            values = getattr(self, key)
            found += _range_problems(key, values)
            for i, value in enumerate(values):
                found += beyond(f"{key}[{i}]", value, MAX_INTENSITY, "raw is in [0, 1]")
        return found


class GammaAugment(AugmentConfig):
    """raw ** uniform(range), raw clipped to [0, 1] first."""

    type: Literal["gamma"] = "gamma"
    range: tuple[float, float] = Field((0.8, 1.25), description="raw ** uniform(range)")
    p: float = Field(1.0, ge=0, le=1, description="probability")

    def problems(self) -> list[str]:
        found = super().problems() + _range_problems("range", self.range)
        if self.range[0] <= 0:
            found.append(f"range: {list(self.range)} must be positive")
        found += beyond("range[1]", self.range[1], MAX_GAMMA, "raw ** gamma")
        return found


class NoiseAugment(AugmentConfig):
    """Additive Gaussian noise on raw."""

    type: Literal["noise"] = "noise"
    sigma: float = Field(0.05, ge=0, description="std of additive Gaussian noise")
    p: float = Field(0.5, ge=0, le=1, description="probability")
    clip: bool = added(True, description="clip the result to [0, 1]")

    def problems(self) -> list[str]:
        return super().problems() + beyond("sigma", self.sigma, MAX_NOISE_SIGMA, "raw is in [0, 1]")


class ElasticAugment(AugmentConfig):
    """Random displacements on a control grid, cubic-interpolated to every voxel; raw is
    resampled linearly, gt and mask by nearest neighbour."""

    type: Literal["elastic"] = "elastic"
    control_point_spacing: list[int] = Field(
        default_factory=lambda: [10, 10, 10], description="voxels between control points"
    )
    sigma: list[float] = Field(
        default_factory=lambda: [2.0, 2.0, 2.0], description="displacement std, voxels"
    )
    p: float = Field(0.5, ge=0, le=1, description="probability")

    def spatial_dims(self) -> int:
        return len(self.control_point_spacing)

    def problems(self) -> list[str]:
        found = super().problems()
        if len(self.control_point_spacing) != len(self.sigma):
            found.append(
                f"sigma: {self.sigma} needs one value per axis of control_point_spacing "
                f"{self.control_point_spacing}"
            )
        if not self.control_point_spacing or min(self.control_point_spacing) < 1:
            found.append(f"control_point_spacing: {self.control_point_spacing} must be >= 1")
        if any(s < 0 for s in self.sigma):
            found.append(f"sigma: {self.sigma} must be >= 0")
        for i, sigma in enumerate(self.sigma):
            found += beyond(f"sigma[{i}]", sigma, MAX_ELASTIC_SIGMA, "voxels")
        for i, spacing in enumerate(self.control_point_spacing):
            found += beyond(
                f"control_point_spacing[{i}]", spacing, MAX_CONTROL_POINT_SPACING, "voxels"
            )
        return found


AnyAugmentConfig = Annotated[
    MirrorAugment
    | TransposeAugment
    | IntensityAugment
    | GammaAugment
    | NoiseAugment
    | ElasticAugment,
    Field(discriminator="type"),
]

_ADAPTER = TypeAdapter(AnyAugmentConfig)


def parse_augment(data) -> AugmentConfig:
    """An augment config from a dict (by its `type`), or the config itself."""
    return data if isinstance(data, AugmentConfig) else _ADAPTER.validate_python(data)
