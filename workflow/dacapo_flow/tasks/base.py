"""`Task`: what a network learns (targets, loss, head) and how its output is scored.

One object replaces DaCapo's predictor + loss + post-processor + evaluator quartet. Tasks hold
only plain Python / numpy data so they pickle into data-loading worker processes; torch modules
are created on demand (`create_model`, `eval_activation`).

Each task is built from its config (`dacapo_flow.config.tasks`), which holds the defaults, the
checks, the criteria and their directions; the task only computes.

Array conventions: `gt` is an integer label volume [*spatial] (any integer width, uint64 too); `mask` is float 0/1 [*spatial]
(1 = annotated) or None; `target` and `weight` are float32 [C, *spatial]; `prediction` given to
`post_process` is the eval-mode model output [C, *spatial]; every post-processed output is
channel-first [C', *spatial].
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
import torch
from funlib.geometry import Coordinate
from torch import nn

from dacapo_flow.config.datasplits import NONZERO
from dacapo_flow.config.tasks import TaskConfig
from dacapo_flow.nn.head import prediction_head
from dacapo_flow.nn.model import Model


def label_ids_value(ids) -> list[int] | str:
    """A label's ids from a config: "nonzero" or a list of ints."""
    return NONZERO if ids == NONZERO else [int(i) for i in ids]


class Task(ABC):
    #: The config class this task is built from.
    config_class: type[TaskConfig]

    def __init__(self, config: TaskConfig, label_ids: dict[str, list[int]] | None = None):
        if not isinstance(config, self.config_class):
            raise TypeError(
                f"{type(self).__name__} needs a {self.config_class.__name__}, "
                f"got {type(config).__name__}"
            )
        label_ids = dict(label_ids or {})
        found = config.problems() + config.label_problems(label_ids)
        if found:
            raise ValueError(f"{type(self).__name__}: " + "; ".join(found))
        self.config = config
        self.label_ids = {name: label_ids_value(ids) for name, ids in label_ids.items()}

    @classmethod
    def from_config(cls, config: TaskConfig, label_ids: dict[str, list[int]] | None = None):
        return cls(config, label_ids)

    @property
    def head_kernel_size(self) -> int:
        """Kernel size of the prediction head's convolution."""
        return self.config.head_kernel_size()

    # -- network ------------------------------------------------------------------------------
    @property
    def head_labels(self) -> list[str]:
        """One label per output channel (used to match heads when finetuning)."""
        return self.config.head_labels()

    @property
    def num_out_channels(self) -> int:
        return len(self.head_labels)

    def eval_activation(self) -> nn.Module | None:
        """A fresh activation applied to the output in eval mode only (None: identity)."""
        return None

    def create_model(self, architecture: nn.Module) -> Model:
        """`architecture` + this task's head (`nn.head`, which model packages copy) + the
        eval activation."""
        head = prediction_head(architecture, self.num_out_channels, self.head_kernel_size)
        return Model(architecture, head, self.eval_activation())

    # -- training -----------------------------------------------------------------------------
    @abstractmethod
    def target(
        self, gt: np.ndarray, mask: np.ndarray | None, voxel_size
    ) -> tuple[np.ndarray, np.ndarray]:
        """(target, weight), both float32 [C, *gt.shape]."""

    def target_context(self, voxel_size) -> tuple[int, ...]:
        """gt voxels that `target` needs beyond the output window, per axis (none here)."""
        return (0,) * len(voxel_size)

    @abstractmethod
    def loss(
        self, prediction: torch.Tensor, target: torch.Tensor, weight: torch.Tensor
    ) -> torch.Tensor:
        """Scalar loss of the raw (train-mode) output against a batch of targets and weights."""

    # -- validation ---------------------------------------------------------------------------
    @property
    def criteria(self) -> list[str]:
        """Names of the scores `evaluate` returns."""
        return self.config.criteria()

    @property
    def main_criterion(self) -> str:
        """The one score to beat."""
        return self.config.main_criterion()

    @property
    @abstractmethod
    def parameters(self) -> list[dict]:
        """Post-processing parameter grid: dicts of plain floats / ints."""

    @abstractmethod
    def post_process(self, prediction: np.ndarray, params: dict) -> np.ndarray:
        """Eval-mode prediction [C, *spatial] -> segmentation for one parameter set."""

    @abstractmethod
    def evaluate(
        self, output: np.ndarray, gt: np.ndarray, mask: np.ndarray | None, voxel_size
    ) -> dict[str, float]:
        """Scores of a post-processed output: one float per criterion, NaN where undefined."""

    def higher_is_better(self, criterion: str) -> bool:
        return self.config.higher_is_better(criterion)

    @property
    def evaluation_scores(self) -> Task:
        """DaCapo spelled this `task.evaluator.score`; the task itself answers the same questions."""
        return self

    # -- helpers for subclasses ---------------------------------------------------------------
    def _labels(self, gt: np.ndarray) -> np.ndarray:
        """`gt` as integer labels; refuses float arrays, whose ids would compare inexactly."""
        gt = np.asarray(gt)
        if gt.dtype == np.bool_:
            return gt.astype(np.uint8)
        if not np.issubdtype(gt.dtype, np.integer):
            raise ValueError(
                f"{type(self).__name__}: gt has dtype {gt.dtype}; label ids must be integers"
            )
        return gt

    def _in_ids(self, gt: np.ndarray, ids) -> np.ndarray:
        """Boolean map of the voxels whose id is in `ids`, exact for every integer dtype.

        np.isin would compare uint64 ids with int64 ones as float64 and merge ids above 2**53;
        the ids are converted to gt's own dtype instead (ids it cannot hold never occur).
        "nonzero" (DaCapo's empty binarize grouping) is every id but 0."""
        if ids == NONZERO:
            return gt != 0
        info = np.iinfo(gt.dtype)
        ids = [int(i) for i in ids if info.min <= int(i) <= info.max]
        return np.isin(gt, np.array(ids, dtype=gt.dtype))

    def _voxel_size(self, voxel_size, ndim: int) -> Coordinate:
        voxel_size = Coordinate(voxel_size)
        if len(voxel_size) != ndim or min(voxel_size) <= 0:
            raise ValueError(
                f"{type(self).__name__}: voxel size {tuple(voxel_size)} does not fit a {ndim}D volume"
            )
        return voxel_size

    def _mask(self, mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
        """Float32 0/1 mask of `shape` (all ones if None)."""
        if mask is None:
            return np.ones(shape, dtype=np.float32)
        mask = np.asarray(mask)
        if mask.shape != tuple(shape):
            raise ValueError(
                f"{type(self).__name__}: mask shape {mask.shape} != gt shape {tuple(shape)}"
            )
        return (mask > 0).astype(np.float32)

    def _check_batch(self, prediction, target, weight) -> None:
        if prediction.shape != target.shape or weight.shape != target.shape:
            raise ValueError(
                f"{type(self).__name__}.loss: prediction {tuple(prediction.shape)}, target "
                f"{tuple(target.shape)} and weight {tuple(weight.shape)} must have equal shapes"
            )

    def _check_output(self, output: np.ndarray, gt: np.ndarray, channels: int) -> np.ndarray:
        """Accept [C, *s] or, for one channel, [*s]; return [C, *s]."""
        output = np.asarray(output)
        if output.shape == gt.shape and channels == 1:
            output = output[np.newaxis]
        if output.shape != (channels, *gt.shape):
            raise ValueError(
                f"{type(self).__name__}.evaluate: output shape {output.shape} does not match "
                f"({channels}, *gt shape {gt.shape})"
            )
        return output


def nan_if_empty_mean(values: list[float]) -> float:
    """Mean over the defined (non-NaN) values; NaN if none is defined."""
    defined = [v for v in values if not math.isnan(v)]
    return float(np.mean(defined)) if defined else float("nan")
