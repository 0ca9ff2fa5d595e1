"""DistanceTask: regress tanh of the signed distance to each channel's region boundary.

Target per channel: tanh(d / scale_factor), d the signed Euclidean distance in world units from
the voxel centre to the region boundary (positive inside). As in DaCapo the boundary lies half
way between two voxels of different state, so a voxel next to the boundary has |d| = half its
voxel size along that axis. A region with no boundary in the window is +1 (all in) or -1 (all out).

Post-processing thresholds live in prediction space (-1, 1); 0 is the boundary. DaCapo 0.3.5
thresholded these float predictions at 127 and got empty segmentations, hence the range check.
A grid point (`parameter_grid`) is {"threshold": t}: the 0/1 mask per channel, uint8; or
{"threshold": t, "seed_distance": d}: a seeded watershed per channel (`instances.py`), seeds
deeper than d world units (prediction > tanh(d / scale_factor)), uint64 ids. "min_size": m
drops objects (connected components of a mask) of fewer than m voxels.

With a seeded watershed in the grid, each channel is also scored as instances:
`<channel>__adapted_rand_error` against the gt ids of that channel (a 0/1 mask output counts
its connected components as the instances).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..config.tasks import DistanceTaskConfig
from . import binary_metrics as bm
from .balance import balanced_weights
from .base import Task
from .distance_transform import distance_to_background, signed_distance_to_faces
from .instance_metrics import adapted_rand_error
from .instances import remove_small_components, remove_small_objects, seeded_watershed


class DistanceTask(Task):
    """`DistanceTask(channels, label_ids, **options)`: options are DistanceTaskConfig fields
    (defaults and checks there); `DistanceTask.from_config(config, label_ids)` likewise."""

    config_class = DistanceTaskConfig

    def __init__(self, channels, label_ids: dict[str, list[int]], **options):
        if isinstance(channels, DistanceTaskConfig):
            config = channels
        else:
            config = DistanceTaskConfig(channels=list(channels), **options)
        super().__init__(config, label_ids)
        self.channels = list(config.channels)
        self.label_ids = {c: self.label_ids[c] for c in self.channels}
        self.scale_factor = config.scale_factor
        self.clipmin, self.clipmax = config.clipmin, config.clipmax
        self.thresholds = tuple(config.thresholds)
        self.tol_distance = config.tol_distance
        self.mask_distances = config.mask_distances

    def regions(self, gt: np.ndarray) -> np.ndarray:
        """Boolean [C, *gt.shape]: channel c is gt in label_ids[channels[c]]."""
        gt = self._labels(gt)
        return np.stack([self._in_ids(gt, self.label_ids[c]) for c in self.channels])

    def target(self, gt, mask, voxel_size):
        gt = self._labels(gt)
        voxel_size = self._voxel_size(voxel_size, gt.ndim)
        mask = self._mask(mask, gt.shape)
        regions = self.regions(gt)
        target = np.stack(
            [np.tanh(signed_distance_to_faces(r, voxel_size) / self.scale_factor) for r in regions]
        ).astype(np.float32)
        weight = np.stack(
            [balanced_weights(r, 2, mask, self.clipmin, self.clipmax) for r in regions]
        )
        if self.mask_distances and not mask.all():
            weight *= self.known_distances(regions, mask, voxel_size)
        return target, weight.astype(np.float32)

    def known_distances(self, regions, mask, voxel_size) -> np.ndarray:
        """0/1 [C, *s]: 1 where the boundary is nearer than every unannotated voxel, so that
        the distance seen in the window is the true one (an object could hide in unknown
        voxels). Distances in world units, anisotropic voxels included."""
        to_unknown = distance_to_background(mask > 0, voxel_size)
        known = [np.abs(signed_distance_to_faces(r, voxel_size)) <= to_unknown for r in regions]
        return np.stack(known).astype(np.float32)

    def loss(self, prediction, target, weight):
        """Weighted MSE: mean over all voxels of weight * (prediction - target)^2."""
        self._check_batch(prediction, target, weight)
        return (weight * (prediction - target) ** 2).mean()

    @property
    def parameters(self) -> list[dict]:
        return self.config.parameter_grid()

    def post_process(self, prediction, params):
        prediction = np.asarray(prediction)
        if prediction.ndim < 3 or prediction.shape[0] != len(self.channels):
            raise ValueError(
                f"DistanceTask.post_process: prediction shape {prediction.shape} is not "
                f"[{len(self.channels)}, *spatial]"
            )
        threshold, min_size = float(params["threshold"]), int(params.get("min_size", 0))
        if "seed_distance" in params:
            seed_level = np.tanh(float(params["seed_distance"]) / self.scale_factor)
            labels = [seeded_watershed(c, threshold, seed_level) for c in prediction]
            return np.stack([remove_small_objects(c, min_size) for c in labels])
        masks = (prediction > threshold).astype(np.uint8)
        if min_size > 1:
            masks = np.stack([remove_small_components(m, min_size) for m in masks])
        return masks

    def evaluate(self, output, gt, mask, voxel_size):
        """Per channel: dice, jaccard, precision, recall, f1 (voxel F1, equals dice),
        f1_with_tolerance (tol_distance, world units), voi (bits, split + merge of the 0/1
        labelings) and hausdorff (surface HD95, world units)."""
        gt = np.asarray(gt)
        voxel_size = self._voxel_size(voxel_size, gt.ndim)
        output_labels = np.asarray(output)
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
        if self.config.segments_instances():
            instances = self._check_output(output_labels, gt, len(self.channels))
            for channel, labels, truth in zip(self.channels, instances, self.regions(gt)):
                if labels.dtype == np.uint8:  # a 0/1 mask: its components are its instances
                    labels = ndimage.label(labels)[0]
                true_ids = np.where(truth, self._labels(gt), 0)
                scores[f"{channel}__adapted_rand_error"] = adapted_rand_error(
                    labels, true_ids, keep
                )
        return scores
