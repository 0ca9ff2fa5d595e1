"""Trainer configs: optimisation, batches, augmentation, data loading."""

from typing import Annotated, Literal

from pydantic import Field

from .base import Config, staged


class MirrorAugment(Config):
    """Flip each spatial axis with probability p (raw, gt and mask together)."""

    type: Literal["mirror"] = "mirror"
    p: float = Field(0.5, ge=0, le=1, description="probability per axis")


class TransposeAugment(Config):
    """Permute spatial axes of equal size with probability p."""

    type: Literal["transpose"] = "transpose"
    p: float = Field(0.5, ge=0, le=1, description="probability")


class IntensityAugment(Config):
    type: Literal["intensity"] = "intensity"
    scale: tuple[float, float] = Field((0.9, 1.1), description="raw * uniform(scale)")
    shift: tuple[float, float] = Field((-0.1, 0.1), description="raw + uniform(shift)")
    p: float = Field(1.0, ge=0, le=1, description="probability")


class GammaAugment(Config):
    type: Literal["gamma"] = "gamma"
    range: tuple[float, float] = Field((0.8, 1.25), description="raw ** uniform(range)")
    p: float = Field(1.0, ge=0, le=1, description="probability")


class NoiseAugment(Config):
    type: Literal["noise"] = "noise"
    sigma: float = Field(0.05, ge=0, description="std of additive Gaussian noise")
    p: float = Field(0.5, ge=0, le=1, description="probability")


class ElasticAugment(Config):
    type: Literal["elastic"] = "elastic"
    control_point_spacing: list[int] = Field(
        default_factory=lambda: [10, 10, 10], description="voxels between control points"
    )
    sigma: list[float] = Field(
        default_factory=lambda: [2.0, 2.0, 2.0], description="displacement std, voxels"
    )
    p: float = Field(0.5, ge=0, le=1, description="probability")


AugmentConfig = Annotated[
    MirrorAugment
    | TransposeAugment
    | IntensityAugment
    | GammaAugment
    | NoiseAugment
    | ElasticAugment,
    Field(discriminator="type"),
]


class TrainerConfig(Config):
    """RAdam with a linear warm-up (independent of num_iterations, so raising it retrains
    nothing already done), batches drawn deterministically per iteration."""

    type: Literal["default"] = "default"
    name: str = staged("none", "default", description="a label, ignored")
    batch_size: int = Field(1, description="crops per optimizer step")
    learning_rate: float = Field(1e-4, description="RAdam learning rate")
    weight_decay: float = Field(0.0, description="decoupled weight decay")
    warmup_iterations: int = Field(
        0, description="linear warm-up from 1% of the learning rate over this many steps"
    )
    augments: list[AugmentConfig] = Field(
        default_factory=list, description="applied in order; see the augment sections"
    )
    num_data_fetchers: int = staged(
        "none", 1, ge=0, description="background processes preparing batches (0: inline)"
    )
    seed: int = Field(0, description="base seed, combined with the repetition")

    def problems(self) -> list[str]:
        found = super().problems()
        if self.batch_size < 1:
            found.append(f"batch_size: must be >= 1, got {self.batch_size}")
        if not self.learning_rate > 0:
            found.append(f"learning_rate: must be > 0, got {self.learning_rate}")
        if self.weight_decay < 0:
            found.append(f"weight_decay: must be >= 0, got {self.weight_decay}")
        if self.warmup_iterations < 0:
            found.append(f"warmup_iterations: must be >= 0, got {self.warmup_iterations}")
        return found


# One kind so far, so `type` may be left out; make this a discriminated union when a second
# kind arrives.
AnyTrainerConfig = TrainerConfig
