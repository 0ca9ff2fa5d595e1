"""AffinitiesTask: predict, per neighbourhood offset, whether a voxel and its neighbour belong to
the same object; segment by connected components of thresholded affinities.

Conventions:
- Channel c at voxel x is the affinity between x and x + neighborhood[c] (offsets in voxels,
  negative allowed). It is 1 where both carry the same non-zero id. Where x + offset leaves the
  window, or either voxel is unannotated, the weight is 0.
- Post-processing, one point of the config's grid (`parameter_grid`):
  {"threshold": t} joins x and x + offset wherever the affinity is > t, over all offsets
  (long-range ones included), and labels connected components 1..n; voxels without any edge
  above t are background (0). {"bias": b} is DaCapo's mutex watershed (`instances.py`).
  "min_size": m then sets objects of fewer than m voxels to 0. The output is uint64 [1, *s].
- With `lsds: true` the head also predicts local shape descriptors (tasks/lsds.py; sigma =
  num_lsd_voxels x the coarsest voxel size, as in DaCapo) after the affinities. Their loss is
  the MSE of sigmoid(output) against the descriptors, weighted by object/background balance
  (DaCapo's), times lsds_to_affs_weight_ratio, added to the affinities' loss. Unlike DaCapo
  0.3.5, whose head had no LSD channels, they are trained. Post-processing reads the
  affinities only.
- Scores: voi_split, voi_merge, voi = split + merge (bits; DaCapo reported their mean) and
  adapted_rand_error (see instance_metrics); all lower is better.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch import nn

from ..config.tasks import AffinitiesTaskConfig
from .balance import balanced_weights
from .base import Task
from .instance_metrics import adapted_rand_error, voi
from .instances import mutex_watershed, remove_small_objects
from .lsds import (
    local_shape_descriptors,
    lsd_context,
    lsd_sigma,
    num_lsds,
    section_descriptors,
)


def _offset_slices(shape, offset):
    """(source, neighbour) slices so that source[x] and neighbour[x] are x and x + offset."""
    source, neighbour = [], []
    for size, o in zip(shape, offset):
        if o >= 0:
            source.append(slice(0, max(size - o, 0)))
            neighbour.append(slice(o, size))
        else:
            source.append(slice(-o, size))
            neighbour.append(slice(0, max(size + o, 0)))
    return tuple(source), tuple(neighbour)


def edge_components(
    affinities: np.ndarray, neighborhood, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """(components int [*s], 0..n-1, every voxel in one; foreground bool [*s]: voxels with an
    edge) of the graph with edges where affinity > threshold."""
    spatial = affinities.shape[1:]
    index = np.arange(int(np.prod(spatial)), dtype=np.int64).reshape(spatial)
    sources, targets = [], []
    for channel, offset in zip(affinities, neighborhood):
        src, dst = _offset_slices(spatial, offset)
        on = channel[src] > threshold
        sources.append(index[src][on])
        targets.append(index[dst][on])
    sources = np.concatenate(sources) if sources else np.zeros(0, np.int64)
    targets = np.concatenate(targets) if targets else np.zeros(0, np.int64)
    n = index.size
    graph = coo_matrix((np.ones(sources.size, dtype=np.int8), (sources, targets)), shape=(n, n))
    _, components = connected_components(graph, directed=False)
    foreground = np.zeros(n, dtype=bool)
    foreground[sources] = True
    foreground[targets] = True
    return components.reshape(spatial), foreground.reshape(spatial)


def segment_affinities(affinities: np.ndarray, neighborhood, threshold: float) -> np.ndarray:
    """Connected components of the graph with edges where affinity > threshold, over the
    voxels with such an edge (the rest 0); uint64 [*s]."""
    components, foreground = edge_components(affinities, neighborhood, threshold)
    segmentation = np.zeros(components.shape, dtype=np.uint64)
    _, relabelled = np.unique(components[foreground], return_inverse=True)
    segmentation[foreground] = relabelled.astype(np.uint64) + 1
    return segmentation


class AffinitiesTask(Task):
    """`AffinitiesTask(neighborhood, **options)`: options are AffinitiesTaskConfig fields
    (defaults and checks there); `AffinitiesTask.from_config(config)` likewise."""

    config_class = AffinitiesTaskConfig

    def __init__(self, neighborhood, label_ids: dict | None = None, **options):
        if isinstance(neighborhood, AffinitiesTaskConfig):
            config = neighborhood
        else:
            offsets = [[int(o) for o in offset] for offset in neighborhood]
            config = AffinitiesTaskConfig(neighborhood=offsets, **options)
        super().__init__(config, label_ids)
        self.neighborhood = [tuple(offset) for offset in config.neighborhood]
        self.thresholds = tuple(config.thresholds)
        self.clipmin, self.clipmax = config.clipmin, config.clipmax
        self.lsds = config.lsds
        self.num_lsds = num_lsds(config.lsd_dims()) if config.lsds else 0

    def eval_activation(self) -> nn.Module:
        return nn.Sigmoid()

    def target(self, gt, mask, voxel_size):
        gt = self._labels(gt)
        self._voxel_size(voxel_size, gt.ndim)
        if gt.ndim != len(self.neighborhood[0]):
            raise ValueError(
                f"AffinitiesTask: gt is {gt.ndim}D but offsets are {len(self.neighborhood[0])}D"
            )
        mask = self._mask(mask, gt.shape)
        targets, weights = [], []
        for offset in self.neighborhood:
            src, dst = _offset_slices(gt.shape, offset)
            affinity = np.zeros(gt.shape, dtype=np.float32)
            valid = np.zeros(gt.shape, dtype=np.float32)
            affinity[src] = (gt[src] == gt[dst]) & (gt[src] != 0)
            valid[src] = mask[src] * mask[dst]
            targets.append(affinity)
            weights.append(balanced_weights(affinity, 2, valid, self.clipmin, self.clipmax))
        if self.lsds:
            config = self.config
            sigma = self._lsd_sigma(voxel_size)
            if config.lsd_section_axis is None:
                descriptors = local_shape_descriptors(gt, sigma, voxel_size, config.downsample_lsds)
            else:
                descriptors = section_descriptors(
                    gt, sigma, voxel_size, config.downsample_lsds, config.lsd_section_axis
                )
            foreground = (gt != 0).astype(np.float32)
            weight = balanced_weights(foreground, 2, mask, self.clipmin, self.clipmax)
            targets += list(descriptors)
            weights += [weight] * self.num_lsds
        return np.stack(targets), np.stack(weights).astype(np.float32)

    def target_context(self, voxel_size) -> tuple[int, ...]:
        """gt voxels needed around a window: LSDs look 3 sigma around each voxel."""
        if not self.lsds:
            return (0,) * len(self.neighborhood[0])
        context = lsd_context(voxel_size, self._lsd_sigma(voxel_size))
        axis = self.config.lsd_section_axis
        return tuple(0 if a == axis else c for a, c in enumerate(context))

    def _lsd_sigma(self, voxel_size) -> tuple[float, ...]:
        """DaCapo's sigma, from the voxel sizes of the axes the descriptors cover."""
        axis = self.config.lsd_section_axis
        plane = [v for a, v in enumerate(voxel_size) if a != axis]
        return lsd_sigma(plane, self.config.num_lsd_voxels)[:1] * len(voxel_size)

    def loss(self, prediction, target, weight):
        """Binary cross-entropy with logits, times the balanced weight, averaged over voxels;
        with LSDs plus ratio x the weighted MSE of their sigmoid."""
        self._check_batch(prediction, target, weight)
        n = len(self.neighborhood)
        loss = F.binary_cross_entropy_with_logits(
            prediction[:, :n], target[:, :n], weight=weight[:, :n]
        )
        if not self.lsds:
            return loss
        lsd_error = (torch.sigmoid(prediction[:, n:]) - target[:, n:]) ** 2 * weight[:, n:]
        return loss + self.config.lsds_to_affs_weight_ratio * lsd_error.mean()

    @property
    def parameters(self) -> list[dict]:
        return self.config.parameter_grid()

    def post_process(self, prediction, params):
        prediction = np.asarray(prediction)
        if self.lsds and prediction.shape[0] == self.num_out_channels:
            prediction = prediction[: len(self.neighborhood)]  # the LSD channels are not read
        if prediction.shape[0] != len(self.neighborhood) or prediction.ndim != 1 + len(
            self.neighborhood[0]
        ):
            raise ValueError(
                f"AffinitiesTask.post_process: prediction shape {prediction.shape} is not "
                f"[{len(self.neighborhood)}, *{len(self.neighborhood[0])}D spatial]"
            )
        if "bias" in params:
            labels = mutex_watershed(prediction, self.neighborhood, float(params["bias"]))
        else:
            labels = segment_affinities(prediction, self.neighborhood, float(params["threshold"]))
        return remove_small_objects(labels, int(params.get("min_size", 0)))[None]

    def evaluate(self, output, gt, mask, voxel_size):
        gt = self._labels(gt)
        self._voxel_size(voxel_size, gt.ndim)
        segmentation = self._check_output(output, gt, 1)[0]
        keep = self._mask(mask, gt.shape) > 0
        split, merge = voi(segmentation, gt, keep)
        return {
            "voi_split": split,
            "voi_merge": merge,
            "voi": split + merge,
            "adapted_rand_error": adapted_rand_error(segmentation, gt, keep),
        }
