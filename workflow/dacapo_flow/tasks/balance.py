"""Class-balanced voxel weights (DaCapo `utils/balance_weights.py`, per sample, no running state)."""

from __future__ import annotations

import numpy as np


def balanced_weights(
    classes: np.ndarray,
    num_classes: int,
    mask: np.ndarray | None = None,
    clipmin: float = 0.05,
    clipmax: float = 0.95,
) -> np.ndarray:
    """Weight of each voxel = mask / (num_classes * fraction of its class).

    `classes` holds integer class indices in [0, num_classes). Fractions are taken over the
    voxels with mask > 0 and clipped to [clipmin, clipmax], so a rare class is up-weighted at
    most by 1 / (num_classes * clipmin). Where the mask is 0 the weight is 0; with no annotated
    voxel at all every weight is 0.
    """
    if not 0.0 < clipmin <= clipmax <= 1.0:
        raise ValueError(
            f"need 0 < clipmin <= clipmax <= 1, got clipmin={clipmin}, clipmax={clipmax}"
        )
    classes = np.asarray(classes)
    if not (np.issubdtype(classes.dtype, np.integer) or classes.dtype == bool):
        classes = classes.astype(np.int64)
    if mask is None:
        mask = np.ones(classes.shape, dtype=np.float32)
    mask = np.asarray(mask, dtype=np.float32)
    if mask.shape != classes.shape:
        raise ValueError(f"mask shape {mask.shape} != class map shape {classes.shape}")
    annotated = mask > 0
    total = int(np.count_nonzero(annotated))
    if total == 0:
        return np.zeros(classes.shape, dtype=np.float32)
    counts = np.bincount(classes[annotated], minlength=num_classes)[:num_classes]
    fractions = np.clip(counts / total, clipmin, clipmax)
    per_class = (1.0 / (num_classes * fractions)).astype(np.float32)
    return np.take(per_class, classes, mode="clip") * mask
