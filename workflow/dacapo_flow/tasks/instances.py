"""Instance post-processing beyond threshold + components: mutex watershed of affinities,
seeded watershed of a distance prediction, and a minimum object size.

- `mutex_watershed` is DaCapo 0.3.5's WatershedPostProcessor algorithm,
  `mwatershed.agglom(affinities - bias, offsets)`, with the deterministic (non-randomised)
  strides: every edge takes part, edges above the bias attract, those below repel. Long-range
  offsets are edges like the others, so a low long-range affinity keeps two voxels apart.
  A voxel that joins no neighbour stays background (0).
- `seeded_watershed` grows seeds, the connected regions deeper than the seed level, through
  the foreground (prediction > threshold) in order of depth; a foreground component without a
  seed becomes one object. It is the maximum spanning forest that mwatershed's seeded
  agglomeration of depth-weighted edges computes, with ties broken by a fixed order instead
  of mwatershed's unstable sort, so that blocks reproduce it exactly (`watershed.py`).
- `remove_small_objects` sets objects of fewer voxels than the minimum size to 0.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def mutex_watershed(affinities: np.ndarray, neighborhood, bias: float) -> np.ndarray:
    """uint64 [*spatial] ids of affinities [C, *spatial] with offsets `neighborhood` (0: a
    voxel joined to none; ids are not consecutive)."""
    import mwatershed as mws

    offsets = [[int(o) for o in offset] for offset in neighborhood]
    shifted = np.asarray(affinities, dtype=np.float64) - float(bias)
    return mws.agglom(shifted, offsets, randomized_strides=False).astype(np.uint64)


def seeded_watershed(values: np.ndarray, threshold: float, seed_level: float) -> np.ndarray:
    """uint64 [*spatial] ids (1..n) of one channel's prediction `values` (higher = deeper
    inside): foreground `values > threshold`, seeds the components of `values > seed_level`.

    A watershed by maximum spanning forest (`watershed.py`): face neighbours in the
    foreground join along edges ranked by the shallower voxel's depth, deepest first (ties:
    the deeper voxel, then the position), and two seeds never join. No object crosses the
    background; a foreground component without a seed is one object."""
    from .watershed import seeded_forest

    return seeded_forest(values, threshold, seed_level)


def remove_small_objects(labels: np.ndarray, min_size: int) -> np.ndarray:
    """`labels` with every non-zero id of fewer than `min_size` voxels set to 0 (a copy)."""
    labels = np.asarray(labels)
    if min_size <= 1:
        return labels.copy()
    ids, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    small = (counts < min_size) & (ids != 0)
    out = labels.copy()
    out[small[inverse.reshape(labels.shape)]] = 0
    return out


def remove_small_components(mask: np.ndarray, min_size: int) -> np.ndarray:
    """A 0/1 mask without its connected components (face connectivity) below `min_size`."""
    if min_size <= 1:
        return np.asarray(mask).copy()
    components, _ = ndimage.label(mask)
    return (remove_small_objects(components, min_size) > 0).astype(np.asarray(mask).dtype)
