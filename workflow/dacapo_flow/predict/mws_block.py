"""One block of the blockwise mutex watershed: fragments and region-graph edges.

The mutex watershed takes the edges (x, x + o) of every neighbourhood offset o by decreasing
|affinity - bias|; positive ones join x and y unless a mutex forbids it, negative ones add a
mutex. No repulsive edge is stronger than `bias - low` (`low`: the least affinity the
prediction can hold), so every attractive edge stronger than that comes before all of them
and always joins: the components of those edges are in one segment of the whole-volume
result, whatever lies outside the block. A block's fragments are these components within
itself (labels 1..n, every voxel in one); no context is needed to find them.

Every other edge goes to the merge's graph, unchanged in rank: the edges of a pair of
fragments reduce to the strongest attractive and the strongest repulsive one (the first of a
pair's edges decides; the rest change nothing), kept as the pair's highest and lowest
affinity. With both voxels inside the block: (u, v, highest, lowest) per fragment pair. With
one voxel inside and one in another block: a face record (neighbour block, edge key, own
label, affinity). The neighbour records the same edge under the same key (its window holds
x and x + o too), so the merge joins the two records into a pair of fragments. The affinity
of (x, x + o) is channel o at x, read from the same stored prediction by both.

The graph mutex watershed over these edges is then the whole-volume mutex watershed, up to
the order of edges of equal weight (mws_merge.py). Its cost: with bias < (1 + low) / 2 the
fragments are far fewer than voxels (CREMI, bias 0.25: one per 5 voxels); from there up no
edge is that strong, and every voxel is a fragment. Before handing them over, the block
contracts the merges no edge leaving it can overturn (graph_mws.py): about 2x fewer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..tasks.affinities import _offset_slices, edge_components
from .graph_mws import contract_block
from .segment import BlockPlace


@dataclass
class MwsBlock:
    labels: np.ndarray  # uint64 [*block]: 1..n
    sizes: np.ndarray  # int64 [n]: voxels of local label 1..n
    edges: np.ndarray  # int64 [P, 2]: local labels u < v of touching fragments in the block
    high: np.ndarray  # float32 [P]: highest affinity over their voxel pairs
    low: np.ndarray  # float32 [P]: lowest affinity over their voxel pairs
    neighbour: np.ndarray  # int64 [E]: block holding the other voxel of a crossing edge
    key: np.ndarray  # uint64 [E]: the edge's name, the same in both blocks
    label: np.ndarray  # uint64 [E]: local label of this block's voxel
    affinity: np.ndarray  # float32 [E]


def pair_extremes(u, v, values):
    """Unique (u, v) rows (non-negative ids) with the highest and lowest of their values,
    sorted by (u, v)."""
    u, v = np.asarray(u, np.int64), np.asarray(v, np.int64)
    values = np.asarray(values, np.float32)
    if u.size == 0:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.float32), np.zeros(0, np.float32)
    span = int(v.max()) + 1  # one int64 per pair: u * span + v sorts like (u, v)
    key = u * span + v
    order = np.argsort(key, kind="stable")
    key, values = key[order], values[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    high = np.maximum.reduceat(values, starts)
    low = np.minimum.reduceat(values, starts)
    return np.stack(np.divmod(key[starts], span), axis=1), high, low


def mws_block(
    values: np.ndarray,
    neighborhood,
    bias: float,
    low: float,
    place: BlockPlace,
) -> MwsBlock:
    """`values`: affinities [C, *window] over the block grown by the longest offset, clipped
    to the ROI, none below `low`, at `place` in the ROI's block grid."""
    if values.size and float(values.min()) < low:
        raise ValueError(f"affinities below {low}, the least the prediction may hold")
    spatial = values.shape[1:]
    inner, inside = place.in_window(spatial)
    threshold = 2 * float(bias) - float(low)  # affinity - bias > bias - low
    local, _ = edge_components(values[(slice(None), *inner)], neighborhood, threshold)
    local = local.astype(np.uint64) + np.uint64(1)  # every voxel in a fragment
    labels = np.zeros(spatial, np.uint64)  # the block's labels in window coordinates
    labels[inner] = local
    sizes = np.bincount(local.ravel().astype(np.int64))[1:].astype(np.int64)

    intra = {"u": [], "v": [], "a": []}
    records = {"neighbour": [], "key": [], "label": [], "affinity": []}
    for k, offset in enumerate(neighborhood):
        src, dst = _offset_slices(spatial, offset)
        affinity = values[k][src]
        a, b = labels[src], labels[dst]
        both = inside[src] & inside[dst] & (a != b)
        intra["u"].append(np.minimum(a, b)[both])
        intra["v"].append(np.maximum(a, b)[both])
        intra["a"].append(affinity[both])
        crossing = inside[src] ^ inside[dst]
        if not crossing.any():
            continue
        source = np.stack(np.nonzero(crossing)) + np.array([s.start for s in src])[:, None]
        target = source + np.array(offset)[:, None]
        source_inside = inside[tuple(source)]
        mine = np.where(source_inside, source, target)
        other = np.where(source_inside, target, source)
        key = place.linear(source).astype(np.uint64) * np.uint64(len(neighborhood)) + np.uint64(k)
        records["neighbour"].append(place.neighbour(other))
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
    edges, high, low_ = pair_extremes(*(np.concatenate(intra[n]) for n in ("u", "v", "a")))
    # The merges no edge leaving the block can overturn (graph_mws.py): fewer fragments.
    new = contract_block(
        sizes.size, edges[:, 0], edges[:, 1], high, low_, arrays["label"], arrays["affinity"], bias
    )
    arrays["label"] = new[arrays["label"].astype(np.int64)].astype(np.uint64)
    sizes = np.bincount(new[1:], weights=sizes, minlength=int(new.max()) + 1)[1:].astype(np.int64)
    u, v = new[edges[:, 0]], new[edges[:, 1]]
    apart = u != v
    u, v = np.minimum(u, v)[apart], np.maximum(u, v)[apart]
    # a joined pair keeps the highest of its highs and the lowest of its lows
    edges, high, low_ = pair_extremes(np.r_[u, u], np.r_[v, v], np.r_[high[apart], low_[apart]])
    return MwsBlock(new[local].astype(np.uint64), sizes, edges, high, low_, **arrays)
