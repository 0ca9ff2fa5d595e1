"""The merge of the blockwise mutex watershed: region graph -> graph mutex watershed -> table.

Fragments are named by their compact id (`merge.first_ids`): fragment l of block b is
`first[0, b] + l - 1`, so the N fragments of the volume are 1..N and a dense table
`final[0..N]` maps each to its segment (`final[0] = 0`).

The region graph has one edge per pair of touching fragments: the mean affinity over every
voxel pair joining them, through every neighbourhood offset, long-range ones included (both
blocks' records of a crossing edge joined by key, `merge.joined_faces`). Its weight is
mean - bias, so, as in the voxel mutex watershed, a pair whose mean affinity is below the bias
repels; long-range offsets contribute their (mostly low) affinities to the mean and so keep
apart what they saw apart. mwatershed's graph mutex watershed (`cluster_edges`: edges by
decreasing |weight|, stable, then `cluster`) groups the fragments; the sort runs in numpy
here, the same order `cluster_edges` would use, which keeps 10^7 edges affordable.

After merging, segments of fewer voxels than `min_size` (summed fragment sizes) become 0.
Segments are numbered 1..S in the order of their smallest fragment.

Memory: the records of at most 32 blocks at a time, plus four numbers per graph edge and
one per fragment (the Python list `mwatershed.cluster` needs is the peak, ~100 bytes/edge).
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache

import numpy as np

from ..store.atomic import atomic_write
from .merge import FragmentIds, compact, joined_faces
from .mws_block import pair_sums

logger = logging.getLogger(__name__)


def region_graph(load_block, num_blocks: int, first: np.ndarray, log_s: float = 30.0):
    """(u, v, sums, counts, sizes): compact fragment ids u < v of every touching pair with the
    summed affinity and number of voxel pairs, and the voxel count of fragments 1..N.

    `load_block(b)` gives a dict of block b's arrays as `mws_block.MwsBlock` names them
    (edges, sums, counts, sizes, neighbour, key, label, affinity)."""
    load = lru_cache(maxsize=32)(load_block)
    base = first[0].astype(np.int64) - 1  # compact id of local label l in block b: base[b] + l
    total = int(base[-1] + load(num_blocks - 1)["sizes"].size) if num_blocks else 0
    sizes = np.zeros(total + 1, np.int64)
    parts = []
    started = last = time.monotonic()
    for block in range(num_blocks):
        mine = load(block)
        n = mine["sizes"].size
        sizes[base[block] + 1 : base[block] + 1 + n] = mine["sizes"]
        edges = mine["edges"].astype(np.int64) + base[block]
        parts.append((edges[:, 0], edges[:, 1], mine["sums"], mine["counts"]))
        now = time.monotonic()
        if now - last >= log_s:
            logger.info("region graph: %d/%d blocks, %.0f s", block, num_blocks, now - started)
            last = now
    for block, mine, other, theirs, ia, ib in joined_faces(load, num_blocks):
        a = mine["label"][ia].astype(np.int64)
        b = theirs["label"][ib].astype(np.int64)
        on = (a > 0) & (b > 0)
        a, b = a[on] + base[block], b[on] + base[other]  # different blocks: a != b
        pairs, sums, counts = pair_sums(
            np.minimum(a, b), np.maximum(a, b), mine["affinity"][ia][on].astype(np.float64)
        )
        parts.append((pairs[:, 0], pairs[:, 1], sums, counts))
    # Pairs within one block and across one face are disjoint: no pair appears twice.
    u, v, s, c = (np.concatenate([p[i] for p in parts]) if parts else np.zeros(0) for i in range(4))
    logger.info(
        "region graph: %d fragments, %d edges from %d blocks in %.1f s",
        total,
        u.size,
        num_blocks,
        time.monotonic() - started,
    )
    return u.astype(np.int64), v.astype(np.int64), s.astype(np.float64), c.astype(np.int64), sizes


def graph_mutex_watershed(u, v, weights, num_fragments: int) -> np.ndarray:
    """[N + 1] segment of each fragment 1..N (a fragment id; [0] = 0) by mwatershed's graph
    mutex watershed: positive weights attract, negative repel, larger |weight| first."""
    import mwatershed as mws

    segment = np.arange(num_fragments + 1, dtype=np.int64)
    if u.size == 0:
        return segment
    order = np.argsort(-np.abs(weights), kind="stable")  # as cluster_edges sorts
    edges = list(zip((weights[order] > 0).tolist(), u[order].tolist(), v[order].tolist()))
    mapping = np.asarray(mws.cluster(edges), dtype=np.int64).reshape(-1, 2)
    del edges
    segment[mapping[:, 0]] = mapping[:, 1]
    return segment


def final_ids(segment: np.ndarray, sizes: np.ndarray, min_size: int) -> np.ndarray:
    """[N + 1] final id per fragment: segments numbered 1..S by their smallest fragment,
    those under `min_size` voxels 0."""
    final = np.zeros(segment.size, np.uint64)
    if segment.size <= 1:
        return final
    ids, smallest, inverse = np.unique(segment[1:], return_index=True, return_inverse=True)
    volume = np.bincount(inverse, weights=sizes[1:], minlength=ids.size)
    kept = np.flatnonzero(volume >= max(min_size, 1))
    kept = kept[np.argsort(smallest[kept])]
    rank = np.zeros(ids.size, np.uint64)
    rank[kept] = np.arange(1, kept.size + 1, dtype=np.uint64)
    final[1:] = rank[inverse]
    return final


def mws_lookup(load_block, num_blocks, first, bias: float, min_size: int) -> tuple:
    """(final [N + 1], summary dict) of the merge."""
    u, v, sums, counts, sizes = region_graph(load_block, num_blocks, first)
    started = time.monotonic()
    segment = graph_mutex_watershed(u, v, sums / np.maximum(counts, 1) - bias, sizes.size - 1)
    final = final_ids(segment, sizes, min_size)
    logger.info(
        "graph mutex watershed: %d fragments -> %d segments in %.1f s",
        sizes.size - 1,
        int(final.max(initial=0)),
        time.monotonic() - started,
    )
    summary = {"fragments": sizes.size - 1, "pairs": int(u.size), "segments": int(final.max())}
    return final, summary


def save_dense(path, final: np.ndarray, ids: FragmentIds, first: np.ndarray):
    def write(file):
        np.savez_compressed(
            file,
            final=final,
            first=first,
            fragment_ids=np.array([ids.num_blocks, ids.block_voxels, ids.channels], np.int64),
        )

    return atomic_write(path, write)


def load_dense(path):
    """(final, FragmentIds, first) as `save_dense` wrote them."""
    with np.load(path) as data:
        num_blocks, block_voxels, channels = (int(v) for v in data["fragment_ids"])
        return data["final"], FragmentIds(num_blocks, block_voxels, channels), data["first"]


def relabel_dense(fragments: np.ndarray, final: np.ndarray, ids: FragmentIds, first) -> np.ndarray:
    """Final ids of a block's fragment ids [C, *s] (0 stays 0)."""
    out = np.zeros(fragments.shape, np.uint64)
    on = fragments > 0
    out[on] = final[compact(ids, first, fragments[on]).astype(np.int64)]
    return out
