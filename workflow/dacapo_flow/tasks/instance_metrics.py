"""Instance-segmentation metrics: variation of information and adapted Rand error (numpy only).

Conventions (documented because papers differ):
- `voi(seg, gt)` returns `(split, merge)` in bits: split = H(seg | gt) (one true object cut into
  several segments), merge = H(gt | seg) (several true objects in one segment). Label 0 is an
  ordinary label on both sides, so background errors count (DaCapo evaluates `gt+1, seg+1`).
  The total VOI is `split + merge` (Meila's definition; DaCapo 0.3.5 reported their mean).
- `adapted_rand_error` follows SNEMI3D / scikit-image: voxels whose ground truth is 0 are
  ignored, pairs are counted without self-pairs, and the error is 1 - Rand F-score.
Only voxels where `mask` is true count. A metric with no voxel to count is NaN.
"""

from __future__ import annotations

import numpy as np


def _selected(seg: np.ndarray, gt: np.ndarray, mask: np.ndarray | None):
    seg = np.asarray(seg)
    gt = np.asarray(gt)
    if seg.shape != gt.shape:
        raise ValueError(f"segmentation shape {seg.shape} != ground-truth shape {gt.shape}")
    if mask is None:
        return seg.ravel(), gt.ravel()
    mask = np.asarray(mask)
    if mask.shape != gt.shape:
        raise ValueError(f"mask shape {mask.shape} != ground-truth shape {gt.shape}")
    keep = mask.astype(bool)
    return seg[keep], gt[keep]


def contingency(seg: np.ndarray, gt: np.ndarray):
    """Overlap counts of two flat labelings: (n_ij, seg index of each, gt index of each)."""
    _, seg_idx = np.unique(seg, return_inverse=True)
    _, gt_idx = np.unique(gt, return_inverse=True)
    width = int(seg_idx.max(initial=0)) + 1
    pairs, n_ij = np.unique(gt_idx.astype(np.int64) * width + seg_idx, return_counts=True)
    return n_ij, pairs % width, pairs // width


def _entropy(counts: np.ndarray, total: int) -> float:
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


def voi(seg: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float]:
    """(split, merge) variation of information in bits; NaN, NaN if no voxel is selected."""
    seg, gt = _selected(seg, gt, mask)
    total = seg.size
    if total == 0:
        return float("nan"), float("nan")
    n_ij, seg_j, gt_i = contingency(seg, gt)
    h_joint = _entropy(n_ij, total)
    h_seg = _entropy(np.bincount(seg_j, weights=n_ij), total)
    h_gt = _entropy(np.bincount(gt_i, weights=n_ij), total)
    # max(0, .) guards against -1e-16 from float round-off on identical labelings.
    return max(0.0, h_joint - h_gt), max(0.0, h_joint - h_seg)


def adapted_rand_error(seg: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """1 - Rand F-score over voxels with gt != 0 (0 = perfect); NaN if undefined."""
    seg, gt = _selected(seg, gt, mask)
    keep = gt != 0
    seg, gt = seg[keep], gt[keep]
    n = seg.size
    if n == 0:
        return float("nan")
    n_ij, seg_j, gt_i = contingency(seg, gt)
    n_ij = n_ij.astype(np.float64)
    # Pairs of distinct voxels together in both / in seg / in gt (sum of squares minus self-pairs).
    sum_ij = float((n_ij**2).sum()) - n
    sum_seg = float((np.bincount(seg_j, weights=n_ij) ** 2).sum()) - n
    sum_gt = float((np.bincount(gt_i, weights=n_ij) ** 2).sum()) - n
    if sum_gt == 0:  # every true object is a single voxel: no pair to recall
        return float("nan")
    if sum_ij == 0:  # no true pair recovered (also when every segment is a single voxel)
        return 1.0
    precision = sum_ij / sum_seg
    recall = sum_ij / sum_gt
    return 1.0 - 2.0 * precision * recall / (precision + recall)
