"""The merge of the blockwise seeded watershed: fragment graph -> the same Kruskal -> table.

Fragments are numbered 1..N in the order the blocks store them (blocks in order, channels
within: `fragment_sizes.storage_start`): fragment l of channel c in block b is
`first[c, b] + l - 1`, and the relabel shards apply the dense table `final[0..N]` as for the
mutex watershed (`mws_merge.relabel_dense`). The graph: every block's uncertain edges, and one edge per
foreground edge crossing a face (both blocks' records joined by key). Fragments holding pieces
of one seed (a seed edge across a face) are joined first; then `tasks.watershed.kruskal` runs
over the edges in the whole volume's order. As the blocks only joined what the whole volume
joins, and kept every edge whose outcome they could not know (`tasks/watershed.py`), the objects
are those of the whole-volume seeded watershed, exactly. Objects of fewer voxels than `min_size`
(fragment sizes summed) become 0.

Memory: each block is read once, in order; the face records of blocks still waiting for a later
neighbour, 9 bytes per fragment and 40 per edge (one per foreground voxel pair across a face,
plus the blocks' uncertain edges), no Python object per edge.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from ..tasks.watershed import edge_order, join, kruskal, roots
from .fragment_sizes import storage_start
from .graph_mws import final_ids

logger = logging.getLogger(__name__)


def seeded_lookup(load_block, num_blocks: int, counts: np.ndarray, min_size: int):
    """(final [N + 1], first, summary) of the merge; `load_block(b)` gives block b's records
    (`seeded_block.RECORDS`)."""
    started = time.monotonic()
    base = storage_start(counts).astype(np.int64)  # id of local label l of (c, b): base + l
    per_block = counts.sum(axis=0)
    sizes, seeded = [np.zeros(1, np.int64)], [np.zeros(1, bool)]
    edges, seed_pairs, pending = [], [], {}
    for block in range(num_blocks):
        mine = load_block(block)
        if mine["sizes"].size != per_block[block]:
            raise ValueError(f"block {block}: its records do not match its fragment counts")
        sizes.append(mine["sizes"])
        seeded.append(mine["seeded"])
        g = base[mine["edge_channel"], block]
        u, v = g + mine["edge_u"], g + mine["edge_v"]
        edges.append((u, v, mine["edge_low"], mine["edge_high"], mine["edge_key"]))
        neighbour = mine["neighbour"]
        for other in np.unique(neighbour):
            other = int(other)
            side = _side(mine, neighbour == other, base[:, block])
            if other > block:
                pending[(block, other)] = side
                continue
            theirs = pending.pop((other, block), None)
            *edge, both_seeds = _join(theirs, side, other, block)  # a, b, low, high, key
            seed_pairs.append((edge[0][both_seeds], edge[1][both_seeds]))
            edges.append(tuple(array[~both_seeds] for array in edge))
    if pending:
        (block, other), _ = next(iter(pending.items()))
        raise ValueError(f"block {block} recorded edges into block {other}, which has none back")
    sizes, seeded = np.concatenate(sizes), np.concatenate(seeded)
    u, v, low, high, key = (np.concatenate([e[i] for e in edges]) for i in range(5))
    parent = np.arange(sizes.size, dtype=np.int64)
    if seed_pairs:
        join(parent, seeded, *(np.concatenate([p[i] for p in seed_pairs]) for i in range(2)))
    order = edge_order(low, high, key)
    none = np.zeros(order.size, bool)
    kruskal(parent, seeded, np.zeros(sizes.size, bool), u[order], v[order], none)
    final = final_ids(roots(parent), sizes, min_size)
    summary = {"fragments": sizes.size - 1, "pairs": int(u.size), "segments": int(final.max())}
    logger.info(
        "seeded watershed merge: %d fragments, %d edges -> %d objects in %.1f s",
        summary["fragments"],
        summary["pairs"],
        summary["segments"],
        time.monotonic() - started,
    )
    return final, (base + 1).astype(np.uint64), summary


def _side(records: dict, which: np.ndarray, base: np.ndarray) -> dict:
    """One block's records of the edges into one neighbour, sorted by key, labels global."""
    key = records["key"][which]
    order = np.argsort(key, kind="stable")
    return {
        "key": key[order],
        "id": (base[records["channel"][which]] + records["label"][which])[order],
        "low": records["low"][which][order],
        "high": records["high"][which][order],
        "seeds": records["seeds"][which][order],
    }


def _join(earlier, later, a: int, b: int):
    if earlier is None or not np.array_equal(earlier["key"], later["key"]):
        found = 0 if earlier is None else earlier["key"].size
        raise ValueError(
            f"blocks {a} and {b} disagree about the edges between them ({found} vs "
            f"{later['key'].size} records): were they segmented under different settings?"
        )
    low, high, key, seeds = (earlier[name] for name in ("low", "high", "key", "seeds"))
    return earlier["id"], later["id"], low, high, key, seeds
