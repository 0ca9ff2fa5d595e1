"""One block of the blockwise seeded watershed: fragments, their open edges and face records.

Per channel, the block reads the prediction over itself grown by one voxel (clipped to the
ROI) and runs `tasks.watershed.kruskal` over the foreground edges with both voxels inside it,
in the whole volume's order, each edge leaving the block an event at its place in that order.
Its fragments are the clusters it ends with: each holds voxels the whole-volume watershed puts
in one object (`tasks/watershed.py` says why). It records
- per fragment: its voxel count and whether it holds a seed voxel;
- the uncertain edges inside it, the first per pair of fragments (local labels, depth, key);
- one record per foreground edge leaving it: neighbour block, key, own fragment, the edge's
  depths and whether both voxels are seeds. The neighbour records the same edge under the
  same key (its window holds both voxels), so the merge joins the two into a fragment pair.
Keys are (linear index in the ROI * dims + axis) * channels + channel: unique per edge and
channel, and in the same order as the whole volume's within a channel.
"""

from __future__ import annotations

import numpy as np

from ..tasks.watershed import edge_order, join_seeds, kruskal, neighbour_edges, roots
from .segment import BlockPlace

FLOAT, INT = np.float64, np.int64
# name -> dtype of every array a block's records hold (each concatenated over channels)
RECORDS = {
    "sizes": INT,  # [n]: voxels of each fragment, channel by channel (labels 1..counts[c])
    "seeded": bool,  # [n]
    "edge_channel": INT,  # [P] uncertain edges inside the block
    "edge_u": INT,  # [P] local labels
    "edge_v": INT,
    "edge_low": FLOAT,
    "edge_high": FLOAT,
    "edge_key": INT,
    "channel": INT,  # [E] records of the edges leaving the block
    "neighbour": INT,
    "key": INT,
    "label": INT,  # local label of this block's voxel
    "low": FLOAT,
    "high": FLOAT,
    "seeds": bool,  # both voxels are seed voxels (one seed, continuing across the face)
}


def seeded_block(
    values: np.ndarray,
    threshold: float,
    seed_level: float,
    place: BlockPlace,
) -> tuple[np.ndarray, list[int], dict]:
    """(labels uint64 [C, *block], counts per channel, records) of one block; `values` is the
    prediction [C, *window] at `place` in the ROI's block grid."""
    inner, inside = place.in_window(values.shape[1:])
    channels = values.shape[0]
    labels, counts, parts = [], [], {name: [] for name in RECORDS}
    for c in range(channels):
        found, records = _channel(values[c], threshold, seed_level, inside, place)
        labels.append(found[inner])
        counts.append(int(records["sizes"].size))
        records["key"] = records["key"] * channels + c
        records["edge_key"] = records["edge_key"] * channels + c
        records["channel"] = np.full(records["key"].size, c, INT)
        records["edge_channel"] = np.full(records["edge_key"].size, c, INT)
        for name in RECORDS:
            parts[name].append(records[name])
    arrays = {name: np.concatenate(parts[name]).astype(RECORDS[name]) for name in RECORDS}
    return np.stack(labels).astype(np.uint64), counts, arrays


def _channel(values, threshold, seed_level, inside, place: BlockPlace):
    values = np.asarray(values, FLOAT)
    foreground = values > threshold
    seeds = foreground & (values > seed_level)
    parent = np.arange(values.size, dtype=INT)
    seeded = np.zeros(values.size, bool)
    opened = np.zeros(values.size, bool)
    join_seeds(parent, seeded, seeds & inside)  # a star: parent[x] is x's root
    u, v, low, high, key = neighbour_edges(values, foreground, place.window_begin, place.roi_shape)
    flat_inside, flat_seeds = inside.ravel(), seeds.ravel()
    in_u, in_v = flat_inside[u], flat_inside[v]
    crossing = in_u != in_v
    keep = (in_u & in_v) | crossing
    u, v, low, high, key, crossing = (a[keep] for a in (u, v, low, high, key, crossing))
    mine = np.where(flat_inside[u], u, v)  # the voxel inside the block (u for inner edges)
    both_seeds = flat_seeds[u] & flat_seeds[v]
    opened[parent[mine[crossing & both_seeds]]] = True  # a seed continuing outside
    order = edge_order(low, high, key)
    uncertain = kruskal(parent, seeded, opened, mine[order], v[order], crossing[order])

    root = roots(parent)
    where = np.flatnonzero(foreground.ravel() & flat_inside)
    ids, local = np.unique(root[where], return_inverse=True)
    label = np.zeros(values.size, INT)
    label[where] = local + 1
    records = {
        "sizes": np.bincount(local, minlength=ids.size).astype(INT),
        "seeded": seeded[ids],
    }
    # The uncertain edges, in order; the first of each pair of fragments is the one that counts.
    first = order[uncertain]
    a, b = label[u[first]], label[v[first]]
    pairs, index = np.unique(
        np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1), axis=0, return_index=True
    )
    pick = first[index]
    records.update(edge_u=pairs[:, 0], edge_v=pairs[:, 1], edge_low=low[pick], edge_high=high[pick])
    records["edge_key"] = key[pick]
    # Records of the edges leaving the block.
    other = np.where(flat_inside[u], v, u)[crossing]
    records.update(
        neighbour=place.neighbour(np.stack(np.unravel_index(other, values.shape))),
        key=key[crossing],
        label=label[mine[crossing]],
        low=low[crossing],
        high=high[crossing],
        seeds=both_seeds[crossing],
    )
    return label.reshape(values.shape).astype(np.uint64), records
