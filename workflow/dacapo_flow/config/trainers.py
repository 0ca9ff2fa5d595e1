"""Trainer configs: optimisation, batches, augmentation, data loading."""

from typing import Annotated, Literal

from pydantic import Field

from .base import Config, staged


class MirrorAugment(Config):
    type: Literal["mirror"] = "mirror"
    p: float = Field(0.5, ge=0, le=1)


class TransposeAugment(Config):
    type: Literal["transpose"] = "transpose"
    p: float = Field(0.5, ge=0, le=1)


class IntensityAugment(Config):
    type: Literal["intensity"] = "intensity"
    scale: tuple[float, float] = (0.9, 1.1)
    shift: tuple[float, float] = (-0.1, 0.1)
    p: float = Field(1.0, ge=0, le=1)


class GammaAugment(Config):
    type: Literal["gamma"] = "gamma"
    range: tuple[float, float] = (0.8, 1.25)
    p: float = Field(1.0, ge=0, le=1)


class NoiseAugment(Config):
    type: Literal["noise"] = "noise"
    sigma: float = Field(0.05, ge=0)
    p: float = Field(0.5, ge=0, le=1)


class ElasticAugment(Config):
    type: Literal["elastic"] = "elastic"
    control_point_spacing: list[int] = Field(default_factory=lambda: [10, 10, 10])
    sigma: list[float] = Field(default_factory=lambda: [2.0, 2.0, 2.0])
    p: float = Field(0.5, ge=0, le=1)


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
    name: str = staged("none", "default")
    batch_size: int = 1
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    warmup_iterations: int = 0
    augments: list[AugmentConfig] = Field(default_factory=list)
    num_data_fetchers: int = staged("none", 1, ge=0)
    seed: int = 0

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


AnyTrainerConfig = Annotated[TrainerConfig, Field(discriminator="type")]
