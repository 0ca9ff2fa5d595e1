"""OneHotTask: semantic segmentation into mutually exclusive classes (softmax + cross-entropy).

`classes[i]` owns the gt ids `label_ids[classes[i]]`. At most one class may have no entry in
`label_ids`: it is the background and takes every id no other class claims. Without such a
class, voxels whose id no class claims are treated as unannotated (weight 0, not scored).
One class may have the ids "nonzero": it takes every non-zero id no other class lists.

Unlike DaCapo 0.3.5 (placeholder `sum(|pred - target|)` loss, random evaluation scores), the
loss is a real weighted cross-entropy and the scores are real dice / jaccard values.
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F
from torch import nn

from ..config.datasplits import NONZERO
from ..config.tasks import ONE_HOT_METRICS, OneHotTaskConfig
from . import binary_metrics as bm
from .balance import balanced_weights
from .base import Task, nan_if_empty_mean


class OneHotTask(Task):
    """`OneHotTask(classes, label_ids, **options)`: options are OneHotTaskConfig fields
    (defaults and checks there); `OneHotTask.from_config(config, label_ids)` likewise."""

    config_class = OneHotTaskConfig

    def __init__(self, classes, label_ids: dict[str, list[int]], **options):
        if isinstance(classes, OneHotTaskConfig):
            config = classes
        else:
            config = OneHotTaskConfig(classes=list(classes), **options)
        super().__init__(config, label_ids)
        self.classes = list(config.classes)
        catch_all = [c for c in self.classes if c not in self.label_ids]
        self.background = catch_all[0] if catch_all else None
        self.balance_classes = config.balance_classes
        self.clipmin, self.clipmax = config.clipmin, config.clipmax

    def eval_activation(self) -> nn.Module:
        return nn.Softmax(dim=1)

    def class_map(self, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(class index per voxel as int64, whether a class claims the voxel's id)."""
        gt = self._labels(gt)
        index = np.full(gt.shape, -1, dtype=np.int64)
        # "nonzero" first, so that classes listing their ids take those ids from it.
        named = sorted(self.label_ids, key=lambda name: self.label_ids[name] != NONZERO)
        for name in named:
            index[self._in_ids(gt, self.label_ids[name])] = self.classes.index(name)
        if self.background is not None:
            index[index < 0] = self.classes.index(self.background)
        known = index >= 0
        return np.where(known, index, 0), known

    def target(self, gt, mask, voxel_size):
        gt = np.asarray(gt)
        self._voxel_size(voxel_size, gt.ndim)
        index, known = self.class_map(gt)
        mask = self._mask(mask, gt.shape) * known
        if self.balance_classes:
            weight = balanced_weights(index, len(self.classes), mask, self.clipmin, self.clipmax)
        else:
            weight = mask
        return index[None].astype(np.float32), weight[None].astype(np.float32)

    def loss(self, prediction, target, weight):
        """Cross-entropy per voxel times its weight, averaged over all voxels."""
        if target.shape[1] != 1 or weight.shape != target.shape:
            raise ValueError(
                f"OneHotTask.loss: target {tuple(target.shape)} and weight {tuple(weight.shape)} "
                "must both be [B, 1, *spatial]"
            )
        expected = (target.shape[0], len(self.classes), *target.shape[2:])
        if tuple(prediction.shape) != expected:
            raise ValueError(f"OneHotTask.loss: prediction {tuple(prediction.shape)} != {expected}")
        per_voxel = F.cross_entropy(prediction, target[:, 0].long(), reduction="none")
        return (per_voxel * weight[:, 0]).mean()

    @property
    def scored_classes(self) -> list[str]:
        """Classes averaged into the mean scores: all but the background."""
        return [c for c in self.classes if c != self.background]

    @property
    def parameters(self) -> list[dict]:
        return [{}]

    def post_process(self, prediction, params):
        prediction = np.asarray(prediction)
        if prediction.shape[0] != len(self.classes):
            raise ValueError(
                f"OneHotTask.post_process: prediction shape {prediction.shape} is not "
                f"[{len(self.classes)}, *spatial]"
            )
        return np.argmax(prediction, axis=0).astype(np.uint8)[None]

    def evaluate(self, output, gt, mask, voxel_size):
        gt = np.asarray(gt)
        self._voxel_size(voxel_size, gt.ndim)
        predicted = self._check_output(output, gt, 1)[0]
        truth, known = self.class_map(gt)
        keep = (self._mask(mask, gt.shape) > 0) & known
        scores = {}
        for i, name in enumerate(self.classes):
            scores[f"{name}__dice"] = bm.dice(predicted == i, truth == i, keep)
            scores[f"{name}__jaccard"] = bm.jaccard(predicted == i, truth == i, keep)
        for metric in ONE_HOT_METRICS:
            values = [scores[f"{c}__{metric}"] for c in self.scored_classes]
            scores[f"mean__{metric}"] = nan_if_empty_mean(values)
        return scores
