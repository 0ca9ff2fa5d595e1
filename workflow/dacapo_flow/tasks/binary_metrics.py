"""Binary-segmentation metrics (numpy / scipy), distances in world units.

Every function takes a predicted and a true boolean volume of equal shape and an optional mask
(only voxels with mask true count). Undefined values are NaN, e.g. the dice of an empty
prediction against an empty truth, or a distance to an empty set.

`hausdorff_distance` is surface based and robust by default: for each surface voxel of one set,
the distance to the nearest surface voxel of the other set, then the `percentile` (95 by default,
"HD95", as in MONAI) of each direction and the larger of the two. `percentile=100` gives the
classical Hausdorff distance. Surfaces are foreground voxels with a background face-neighbour;
the array border counts as background.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .distance_transform import distance_to_background
from .instance_metrics import voi


def _prepare(pred, truth, mask):
    pred = np.asarray(pred).astype(bool)
    truth = np.asarray(truth).astype(bool)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} != truth shape {truth.shape}")
    if mask is None:
        return pred, truth, np.ones(truth.shape, dtype=bool)
    mask = np.asarray(mask).astype(bool)
    if mask.shape != truth.shape:
        raise ValueError(f"mask shape {mask.shape} != truth shape {truth.shape}")
    return pred & mask, truth & mask, mask


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else float("nan")


def confusion_counts(pred, truth, mask=None) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) over the masked voxels."""
    pred, truth, _ = _prepare(pred, truth, mask)
    tp = int(np.count_nonzero(pred & truth))
    return tp, int(np.count_nonzero(pred)) - tp, int(np.count_nonzero(truth)) - tp


def dice(pred, truth, mask=None) -> float:
    tp, fp, fn = confusion_counts(pred, truth, mask)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def jaccard(pred, truth, mask=None) -> float:
    tp, fp, fn = confusion_counts(pred, truth, mask)
    return _ratio(tp, tp + fp + fn)


def precision(pred, truth, mask=None) -> float:
    tp, fp, _ = confusion_counts(pred, truth, mask)
    return _ratio(tp, tp + fp)


def recall(pred, truth, mask=None) -> float:
    tp, _, fn = confusion_counts(pred, truth, mask)
    return _ratio(tp, tp + fn)


def f1_score(pred, truth, mask=None) -> float:
    """Voxel F1 = 2PR / (P + R); equal to dice (kept for DaCapo's criterion names)."""
    return dice(pred, truth, mask)


def binary_voi(pred, truth, mask=None) -> float:
    """VOI (split + merge, bits) of the two volumes as 0/1 labelings."""
    split, merge = voi(np.asarray(pred).astype(bool), np.asarray(truth).astype(bool), mask)
    return split + merge


def _surface(region: np.ndarray) -> np.ndarray:
    structure = ndimage.generate_binary_structure(region.ndim, 1)
    return region & ~ndimage.binary_erosion(region, structure, border_value=0)


def _distance_to(region: np.ndarray, voxel_size) -> np.ndarray:
    """World distance of every voxel to the nearest voxel of a non-empty `region`."""
    return distance_to_background(~region, voxel_size)


def hausdorff_distance(pred, truth, voxel_size, mask=None, percentile: float = 95.0) -> float:
    """Symmetric surface Hausdorff distance (see module docstring); NaN if either set is empty."""
    pred, truth, _ = _prepare(pred, truth, mask)
    if len(voxel_size) != pred.ndim:
        raise ValueError(f"voxel size {tuple(voxel_size)} does not match {pred.ndim}D volumes")
    if not pred.any() or not truth.any():
        return float("nan")
    pred_surface, truth_surface = _surface(pred), _surface(truth)
    to_truth = _distance_to(truth_surface, voxel_size)[pred_surface]
    to_pred = _distance_to(pred_surface, voxel_size)[truth_surface]
    return float(max(np.percentile(to_truth, percentile), np.percentile(to_pred, percentile)))


def f1_with_tolerance(pred, truth, voxel_size, tolerance: float, mask=None) -> float:
    """F1 where a predicted voxel within `tolerance` (world units) of the truth counts as correct
    (precision) and a true voxel within `tolerance` of the prediction counts as found (recall).
    NaN when both are empty, 0 when exactly one is."""
    pred, truth, mask = _prepare(pred, truth, mask)
    if not pred.any() and not truth.any():
        return float("nan")
    if not pred.any() or not truth.any():
        return 0.0
    tol_precision = float(np.mean(_distance_to(truth, voxel_size)[pred] <= tolerance))
    tol_recall = float(np.mean(_distance_to(pred, voxel_size)[truth] <= tolerance))
    if tol_precision + tol_recall == 0:
        return 0.0
    return 2 * tol_precision * tol_recall / (tol_precision + tol_recall)
