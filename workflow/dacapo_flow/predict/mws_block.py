"""One block of the blockwise mutex watershed: fragments and region-graph edges.

A block runs `mutex_watershed` (affinities - bias) over itself grown by the longest offset
(clipped to the ROI) and keeps the labels inside itself, renumbered 1..n (0: a voxel joined to
none, as in the whole-volume result). The context lets objects crossing a face be cut where
the whole-volume watershed would see them, not at the face.

Its region-graph edges are the voxel pairs (x, x + o) of every neighbourhood offset o, long-range
ones included, with both voxels in the ROI and labelled:
- both voxels inside the block: summed into (u, v, sum of affinities, count) per fragment pair;
- one voxel inside, one in another block: a face record (neighbour block, edge key, own label,
  affinity). The neighbour records the same edge under the same key (its window holds x and
  x + o too), so the merge joins the two records into a pair of fragments. A record is written
  whatever the labels, 0 included, so both sides always hold the same keys.
The affinity of (x, x + o) is channel o at x, read from the same stored prediction by both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..tasks.affinities import _offset_slices
from ..tasks.instances import mutex_watershed


@dataclass
class MwsBlock:
    labels: np.ndarray  # uint64 [*block]: 1..n, 0 = background
    sizes: np.ndarray  # int64 [n]: voxels of local label 1..n
    edges: np.ndarray  # int64 [P, 2]: local labels u < v of touching fragments in the block
    sums: np.ndarray  # float64 [P]: summed affinity over their voxel pairs
    counts: np.ndarray  # int64 [P]: number of voxel pairs
    neighbour: np.ndarray  # int64 [E]: block holding the other voxel of a crossing edge
    key: np.ndarray  # uint64 [E]: the edge's name, the same in both blocks
    label: np.ndarray  # uint64 [E]: local label of this block's voxel (0 included)
    affinity: np.ndarray  # float32 [E]


def pair_sums(u, v, values, counts=None):
    """Unique (u, v) rows (non-negative ids) with their summed values and counts (counts
    default to 1 each), sorted."""
    u, v = np.asarray(u, np.int64), np.asarray(v, np.int64)
    if u.size == 0:
        return np.zeros((0, 2), np.int64), np.zeros(0), np.zeros(0, np.int64)
    span = int(v.max()) + 1  # one int64 per pair: u * span + v sorts like (u, v)
    key = u * span + v
    cells = (int(u.max()) + 1) * span
    if cells <= max(4 * key.size, 1 << 16):  # few possible pairs (local labels): no sort
        seen = np.bincount(key, minlength=cells)
        keys = np.flatnonzero(seen)
        sums = np.bincount(key, weights=values, minlength=cells)[keys]
        total = seen[keys] if counts is None else np.bincount(key, counts, cells)[keys]
    else:
        keys, inverse = np.unique(key, return_inverse=True)
        sums = np.bincount(inverse, weights=values, minlength=keys.size)
        total = np.bincount(inverse, weights=counts, minlength=keys.size)
    return np.stack(np.divmod(keys, span), axis=1), sums, np.rint(total).astype(np.int64)


def mws_block(
    values: np.ndarray,
    neighborhood,
    bias: float,
    window_begin,
    block_begin,
    block_shape,
    roi_shape,
    grid_block_shape,
    grid_counts,
) -> MwsBlock:
    """`values`: affinities [C, *window] over the block grown by the longest offset, clipped
    to the ROI; positions in voxels of the ROI's grid (as `segment.segment_block`)."""
    window_begin, block_begin = np.asarray(window_begin), np.asarray(block_begin)
    block_shape = tuple(int(s) for s in block_shape)
    spatial = values.shape[1:]
    inner = tuple(
        slice(b - w, b - w + s) for b, w, s in zip(block_begin, window_begin, block_shape)
    )
    found = mutex_watershed(values, neighborhood, bias)[inner]
    ids, local = np.unique(found, return_inverse=True)
    local = local.reshape(block_shape).astype(np.uint64)
    if ids[0] != 0:  # no background in the block: labels start at 1
        local += np.uint64(1)
    labels = np.zeros(spatial, np.uint64)  # the block's labels in window coordinates
    labels[inner] = local
    inside = np.zeros(spatial, dtype=bool)
    inside[inner] = True
    sizes = np.bincount(local.ravel().astype(np.int64))[1:].astype(np.int64)

    intra = {"u": [], "v": [], "a": []}
    records = {"neighbour": [], "key": [], "label": [], "affinity": []}
    roi_shape = tuple(int(s) for s in roi_shape)
    grid_block_shape, grid_counts = np.asarray(grid_block_shape), tuple(grid_counts)
    for k, offset in enumerate(neighborhood):
        src, dst = _offset_slices(spatial, offset)
        affinity = values[k][src]
        a, b = labels[src], labels[dst]
        both = inside[src] & inside[dst] & (a != b) & (a > 0) & (b > 0)
        intra["u"].append(np.minimum(a, b)[both])
        intra["v"].append(np.maximum(a, b)[both])
        intra["a"].append(affinity[both].astype(np.float64))
        crossing = inside[src] ^ inside[dst]
        if not crossing.any():
            continue
        source = np.stack(np.nonzero(crossing)) + np.array([s.start for s in src])[:, None]
        target = source + np.array(offset)[:, None]
        source_inside = inside[tuple(source)]
        mine = np.where(source_inside, source, target)
        other = np.where(source_inside, target, source) + window_begin[:, None]
        linear = np.ravel_multi_index(tuple(source + window_begin[:, None]), roi_shape)
        key = linear.astype(np.uint64) * np.uint64(len(neighborhood)) + np.uint64(k)
        neighbour = np.ravel_multi_index(tuple(other // grid_block_shape[:, None]), grid_counts)
        records["neighbour"].append(neighbour.astype(np.int64))
        records["key"].append(key)
        records["label"].append(labels[tuple(mine)])
        records["affinity"].append(affinity[crossing].astype(np.float32))
    empty = {"neighbour": np.int64, "key": np.uint64, "label": np.uint64, "affinity": np.float32}
    arrays = {
        name: np.concatenate(parts) if parts else np.zeros(0, empty[name])
        for name, parts in records.items()
    }
    order = np.lexsort((arrays["key"], arrays["neighbour"]))  # the order the merge reads them
    arrays = {name: array[order] for name, array in arrays.items()}
    edges, sums, counts = pair_sums(
        *(np.concatenate(intra[n]) for n in ("u", "v")), np.concatenate(intra["a"])
    )
    return MwsBlock(local, sizes, edges, sums, counts, **arrays)
