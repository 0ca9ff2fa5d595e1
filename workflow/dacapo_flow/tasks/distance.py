"""DistanceTask: regress tanh of the signed distance to each channel's region boundary.

Target per channel: tanh(d / scale_factor), d the signed Euclidean distance in world units from
the voxel centre to the region boundary (positive inside). As in DaCapo the boundary lies half
way between two voxels of different state, so a voxel next to the boundary has |d| = half its
voxel size along that axis. A region with no boundary in the window is +1 (all in) or -1 (all out).

Post-processing thresholds live in prediction space (-1, 1); 0 is the boundary. DaCapo 0.3.5
thresholded these float predictions at 127 and got empty segmentations, hence the range check.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..config.tasks import DISTANCE_METRICS
from . import binary_metrics as bm
from .balance import balanced_weights
from .base import Task, label_ids_value, label_region

# One table of metrics and directions, shared with the (torch-free) config layer.
_HIGHER_IS_BETTER = DISTANCE_METRICS


def signed_distance(region: np.ndarray, voxel_size) -> np.ndarray:
    """Signed world distance to the boundary of a boolean `region` (positive inside), float32."""
    region = np.asarray(region, dtype=bool)
    if region.all():
        return np.full(region.shape, np.inf, dtype=np.float32)
    if not region.any():
        return np.full(region.shape, -np.inf, dtype=np.float32)
    dims = region.ndim
    # Grid at half-voxel spacing: voxel centres on even indices, faces between voxels on odd.
    boundary = np.zeros(tuple(2 * s - 1 for s in region.shape), dtype=bool)
    for axis in range(dims):
        faces = [slice(0, None, 2)] * dims
        faces[axis] = slice(1, None, 2)
        boundary[tuple(faces)] |= np.diff(region, axis=axis)
    sampling = tuple(float(v) / 2 for v in voxel_size)
    distance = ndimage.distance_transform_edt(~boundary, sampling=sampling)
    distance = distance[(slice(0, None, 2),) * dims].astype(np.float32)
    return np.where(region, distance, -distance)


class DistanceTask(Task):
    def __init__(
        self,
        channels: list[str],
        label_ids: dict[str, list[int] | str],
        scale_factor: float = 50.0,
        clipmin: float = 0.05,
        clipmax: float = 0.95,
        thresholds=(-0.25, 0.0, 0.25),
        tol_distance: float = 40.0,
    ):
        if not channels:
            raise ValueError("DistanceTask: channels must not be empty")
        if len(set(channels)) != len(channels):
            raise ValueError(f"DistanceTask: duplicate channel names in {channels}")
        missing = [c for c in channels if c not in label_ids]
        if missing:
            raise ValueError(f"DistanceTask: channels {missing} have no entry in label_ids")
        if scale_factor <= 0:
            raise ValueError(f"DistanceTask: scale_factor must be > 0, got {scale_factor}")
        if not thresholds:
            raise ValueError("DistanceTask: thresholds must not be empty")
        bad = [t for t in thresholds if not -1.0 < float(t) < 1.0]
        if bad:
            raise ValueError(
                f"DistanceTask: thresholds {bad} lie outside (-1, 1); predictions are "
                "tanh(distance / scale_factor), so such a threshold gives an all-0 or all-1 output"
            )
        self.channels = list(channels)
        self.label_ids = {c: label_ids_value(label_ids[c]) for c in channels}
        self.scale_factor = float(scale_factor)
        self.clipmin = float(clipmin)
        self.clipmax = float(clipmax)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.tol_distance = float(tol_distance)

    @property
    def head_labels(self) -> list[str]:
        return list(self.channels)

    def regions(self, gt: np.ndarray) -> np.ndarray:
        """Boolean [C, *gt.shape]: channel c is gt in label_ids[channels[c]]."""
        gt = np.asarray(gt)
        return np.stack([label_region(gt, self.label_ids[c]) for c in self.channels])

    def target(self, gt, mask, voxel_size):
        gt = np.asarray(gt)
        voxel_size = self._voxel_size(voxel_size, gt.ndim)
        mask = self._mask(mask, gt.shape)
        regions = self.regions(gt)
        target = np.stack(
            [np.tanh(signed_distance(r, voxel_size) / self.scale_factor) for r in regions]
        ).astype(np.float32)
        weight = np.stack(
            [balanced_weights(r, 2, mask, self.clipmin, self.clipmax) for r in regions]
        )
        return target, weight.astype(np.float32)

    def loss(self, prediction, target, weight):
        """Weighted MSE: mean over all voxels of weight * (prediction - target)^2."""
        self._check_batch(prediction, target, weight)
        return (weight * (prediction - target) ** 2).mean()

    @property
    def criteria(self) -> list[str]:
        return [f"{c}__{m}" for c in self.channels for m in _HIGHER_IS_BETTER]

    def _metric_higher_is_better(self, criterion):
        return _HIGHER_IS_BETTER[criterion.rsplit("__", 1)[1]]

    @property
    def main_criterion(self) -> str:
        return f"{self.channels[0]}__dice"

    @property
    def parameters(self) -> list[dict]:
        return [{"threshold": t} for t in self.thresholds]

    def post_process(self, prediction, params):
        prediction = np.asarray(prediction)
        if prediction.ndim < 3 or prediction.shape[0] != len(self.channels):
            raise ValueError(
                f"DistanceTask.post_process: prediction shape {prediction.shape} is not "
                f"[{len(self.channels)}, *spatial]"
            )
        return (prediction > float(params["threshold"])).astype(np.uint8)

    def evaluate(self, output, gt, mask, voxel_size):
        """Per channel: dice, jaccard, precision, recall, f1 (voxel F1, equals dice),
        f1_with_tolerance (tol_distance, world units), voi (bits, split + merge of the 0/1
        labelings) and hausdorff (surface HD95, world units)."""
        gt = np.asarray(gt)
        voxel_size = self._voxel_size(voxel_size, gt.ndim)
        output = self._check_output(output, gt, len(self.channels)) > 0
        keep = self._mask(mask, gt.shape) > 0
        scores = {}
        for channel, pred, truth in zip(self.channels, output, self.regions(gt)):
            tol = self.tol_distance
            scores[f"{channel}__dice"] = bm.dice(pred, truth, keep)
            scores[f"{channel}__jaccard"] = bm.jaccard(pred, truth, keep)
            scores[f"{channel}__precision"] = bm.precision(pred, truth, keep)
            scores[f"{channel}__recall"] = bm.recall(pred, truth, keep)
            scores[f"{channel}__f1"] = bm.f1_score(pred, truth, keep)
            scores[f"{channel}__f1_with_tolerance"] = bm.f1_with_tolerance(
                pred, truth, voxel_size, tol, keep
            )
            scores[f"{channel}__voi"] = bm.binary_voi(pred, truth, keep)
            scores[f"{channel}__hausdorff"] = bm.hausdorff_distance(pred, truth, voxel_size, keep)
        return scores
