"""Trainer configs: optimisation, batches, augmentation, data loading."""

from typing import Literal

from pydantic import Field

from .augments import (  # noqa: F401  (re-exported: the augment configs' former home)
    AnyAugmentConfig,
    ElasticAugment,
    GammaAugment,
    IntensityAugment,
    MirrorAugment,
    NoiseAugment,
    TransposeAugment,
)
from .base import Config, added, beyond, staged

# Bounds far above any real training: beyond them a job exhausts memory or never finishes.
MAX_BATCH_SIZE = 4096
MAX_ITERATIONS = 10**8
MAX_DATA_FETCHERS = 256
MAX_LEARNING_RATE = 1.0  # RAdam steps of this size already destroy any network
MAX_WEIGHT_DECAY = 10.0  # decoupled: each step scales weights by 1 - lr * weight_decay


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
    augments: list[AnyAugmentConfig] = Field(
        default_factory=list, description="applied in order; see the augment sections"
    )
    num_data_fetchers: int | Literal["auto"] = staged(
        "none",
        "auto",
        description="background processes preparing batches (0: inline); auto: one fewer "
        "than the job's threads (`--threads`, the rule's `threads`), at least 1 on a GPU",
    )
    # GPU knobs. Those that change the numbers are in the training hash, but only when set
    # (added): configs written before they existed keep their hashes and checkpoints.
    precision: Literal["float32", "bfloat16", "float16"] = added(
        "float32",
        description="autocast dtype of the forward pass; float16 adds a gradient scaler",
    )
    channels_last: bool = added(
        False, description="model and inputs in channels-last (channels_last_3d) memory format"
    )
    compile: bool = added(False, description="torch.compile the model for the training steps")
    cudnn_benchmark: bool = staged(
        "none", False, description="let cuDNN time its algorithms for the fixed training shape"
    )
    deterministic: bool = staged(
        "none",
        False,
        description="torch.use_deterministic_algorithms: chunked == uninterrupted on CUDA too "
        "(on the CPU training is bit-exact anyway)",
    )
    seed: int = Field(0, description="base seed, combined with the repetition")

    def problems(self) -> list[str]:
        found = super().problems()
        if self.batch_size < 1:
            found.append(f"batch_size: must be >= 1, got {self.batch_size}")
        if self.batch_size > MAX_BATCH_SIZE:
            found.append(
                f"batch_size: at most {MAX_BATCH_SIZE} crops per step, got {self.batch_size}"
            )
        if not self.learning_rate > 0:
            found.append(f"learning_rate: must be > 0, got {self.learning_rate}")
        else:
            found += beyond("learning_rate", self.learning_rate, MAX_LEARNING_RATE, "RAdam")
        if self.weight_decay < 0:
            found.append(f"weight_decay: must be >= 0, got {self.weight_decay}")
        else:
            found += beyond("weight_decay", self.weight_decay, MAX_WEIGHT_DECAY, "decoupled decay")
        if self.warmup_iterations < 0:
            found.append(f"warmup_iterations: must be >= 0, got {self.warmup_iterations}")
        if self.warmup_iterations > MAX_ITERATIONS:
            found.append(
                f"warmup_iterations: at most {MAX_ITERATIONS}, got {self.warmup_iterations}"
            )
        if not 0 <= self.seed < 2**32:
            found.append(f"seed: must be in [0, 2**32), got {self.seed} (numpy and torch seeds)")
        if self.num_data_fetchers != "auto" and self.num_data_fetchers < 0:
            found.append(f"num_data_fetchers: must be >= 0 or auto, got {self.num_data_fetchers}")
        if self.num_data_fetchers != "auto" and self.num_data_fetchers > MAX_DATA_FETCHERS:
            found.append(
                f"num_data_fetchers: {self.num_data_fetchers} processes; at most {MAX_DATA_FETCHERS}"
            )
        return found


# One kind so far, so `type` may be left out; make this a discriminated union when a second
# kind arrives.
AnyTrainerConfig = TrainerConfig
