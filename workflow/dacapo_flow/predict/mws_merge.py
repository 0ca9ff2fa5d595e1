"""The merge of the blockwise mutex watershed: region graph -> graph mutex watershed -> table.

Fragments are named by their compact id (`merge.first_ids`): fragment l of block b is
`first[0, b] + l - 1`, so the N fragments of the volume are 1..N and a dense table
`final[0..N]` maps each to its segment (`final[0] = 0`).

The region graph holds, per pair of touching fragments, the highest and the lowest affinity
over every voxel pair joining them, through every neighbourhood offset, long-range ones
included (both blocks' records of a crossing edge joined by key, `merge.joined_faces`). A
pair gives the graph an attractive edge `highest - bias` if positive and a repulsive edge
`lowest - bias` if negative: the two of its voxel edges that can decide it in the voxel
mutex watershed. mwatershed's graph mutex watershed (`cluster_edges`: edges by decreasing
|weight|, stable, then `cluster`) groups the fragments; the sort runs in numpy here, the same
order `cluster_edges` would use, which keeps 10^7 edges affordable.

What holds (mws_block.py): the fragments are joined before any repulsive edge in the voxel
watershed too, so this is the whole-volume `mutex_watershed`, exact up to the order of edges
of equal weight (tests/test_predict_mws_merge.py: exact on noisy synthetic volumes; CREMI,
one section, bias 0.25: identical to the whole-section result). As there, a voxel of no
attractive edge is 0, and segments of fewer voxels than `min_size` (summed fragment sizes)
become 0. Segments are numbered 1..S in the order of their smallest fragment.

Memory: each block is read once, in order; the face records of the blocks still waiting
for their later neighbours (a slab of the grid), plus four numbers per graph edge and one per
fragment (the Python list `mwatershed.cluster` needs is the peak, ~100 bytes/edge).
"""

from __future__ import annotations

import hashlib
import logging
import time

import numpy as np

from .graph_mws import final_ids, graph_mutex_watershed, signed_edges
from .merge import FragmentIds, compact, load_lookup, save_lookup
from .mws_block import pair_extremes

logger = logging.getLogger(__name__)


def region_graph(load_block, num_blocks: int, first: np.ndarray, log_s: float = 30.0):
    """(u, v, high, low, sizes): compact fragment ids u < v of every touching pair with the
    highest and lowest affinity over its voxel pairs, and the voxel count of fragments 0..N.

    `load_block(b)` gives a dict of block b's arrays as `mws_block.MwsBlock` names them
    (sizes, edges, high, low, neighbour, key, label, affinity). Each block is loaded once,
    in order; its records for later blocks wait in `pending` until those come (a wavefront of
    faces, not of blocks; 8 bytes per crossing edge). Both blocks of an edge must record it: a one-sided record means
    they were segmented under different settings, and is an error."""
    base = first[0].astype(np.int64) - 1  # compact id of local label l in block b: base[b] + l
    sizes, parts, pending = [np.zeros(1, np.int64)], [], {}
    started = last = time.monotonic()
    for block in range(num_blocks):
        mine = load_block(block)
        sizes.append(np.asarray(mine["sizes"], np.int64))
        edges = np.asarray(mine["edges"], np.int64).reshape(-1, 2) + base[block]
        parts.append((edges[:, 0], edges[:, 1], mine["high"], mine["low"]))
        neighbour = mine["neighbour"]
        order = np.argsort(neighbour, kind="stable")
        others, starts = np.unique(neighbour[order], return_index=True)
        for other, piece in zip(others, np.split(order, starts[1:])):
            other = int(other)
            records = face_side(mine, piece, keep_affinity=other > block)
            if other > block:
                pending[(block, other)] = records
                continue
            theirs = pending.pop((other, block), None)
            parts.append(face_edges(theirs, records, other, block, base))
        now = time.monotonic()
        if now - last >= log_s:
            logger.info("region graph: %d/%d blocks, %.0f s", block + 1, num_blocks, now - started)
            last = now
    if pending:
        (block, other), _ = next(iter(pending.items()))
        raise ValueError(f"block {block} recorded edges into block {other}, which has none back")
    u, v, s, c = (np.concatenate([p[i] for p in parts]) for i in range(4))
    sizes = np.concatenate(sizes)
    logger.info(
        "region graph: %d fragments, %d edges from %d blocks in %.1f s",
        sizes.size - 1,
        u.size,
        num_blocks,
        time.monotonic() - started,
    )
    return u.astype(np.int64), v.astype(np.int64), s.astype(np.float32), c.astype(np.float32), sizes


def face_side(records: dict, piece: np.ndarray, keep_affinity: bool) -> dict:
    """One block's records of the edges into one neighbour, in key order, kept small while
    they wait: the keys as a digest (both sides must hold the same), labels as uint32."""
    piece = piece[np.argsort(records["key"][piece], kind="stable")]
    keys = np.ascontiguousarray(records["key"][piece], dtype=np.uint64)
    label = records["label"][piece]
    side = {
        "digest": hashlib.blake2b(keys.tobytes(), digest_size=16).digest(),
        "size": keys.size,
        "label": label.astype(np.uint32 if label.max(initial=0) < 2**32 else np.uint64),
    }
    if keep_affinity:  # the earlier block's copy is the one used
        side["affinity"] = np.asarray(records["affinity"][piece], np.float32)
    return side


def face_edges(earlier, later, a: int, b: int, base):
    """(u, v, high, low) of the pairs joined across blocks a < b, from the records each
    wrote of their shared edges (`face_side`: the same keys, in the same order)."""
    if earlier is None or earlier["digest"] != later["digest"]:
        found = 0 if earlier is None else earlier["size"]
        raise ValueError(
            f"blocks {a} and {b} disagree about the edges between them ({found} vs "
            f"{later['size']} records): were they segmented under different settings?"
        )
    pairs, high, low = pair_extremes(earlier["label"], later["label"], earlier["affinity"])
    # Fragments of block a come before those of block b (a < b): u < v.
    return pairs[:, 0] + base[a], pairs[:, 1] + base[b], high, low


def mws_lookup(load_block, num_blocks, first, bias: float, min_size: int) -> tuple:
    """(final [N + 1], summary dict) of the merge."""
    u, v, high, low, sizes = region_graph(load_block, num_blocks, first)
    started = time.monotonic()
    a, b, weights = signed_edges(u, v, high, low, bias)
    segment = graph_mutex_watershed(a, b, weights, sizes.size - 1)
    # As mwatershed's voxel watershed: a lone voxel without an attractive edge is 0.
    attracted = np.zeros(sizes.size, bool)
    attracted[a[weights > 0]] = attracted[b[weights > 0]] = True
    final = final_ids(segment, np.where(attracted | (sizes > 1), sizes, 0), min_size)
    logger.info(
        "graph mutex watershed: %d fragments -> %d segments in %.1f s",
        sizes.size - 1,
        int(final.max(initial=0)),
        time.monotonic() - started,
    )
    summary = {"fragments": sizes.size - 1, "pairs": int(u.size), "segments": int(final.max())}
    return final, summary


def save_dense(path, final: np.ndarray, ids: FragmentIds, first: np.ndarray):
    return save_lookup(path, ids, first, final=final)


def load_dense(path):
    """(final, FragmentIds, first) as `save_dense` wrote them."""
    (final,), ids, first = load_lookup(path, "final")
    return final, ids, first


def relabel_dense(fragments: np.ndarray, final: np.ndarray, ids: FragmentIds, first) -> np.ndarray:
    """Final ids of a block's fragment ids [C, *s] (0 stays 0)."""
    out = np.zeros(fragments.shape, np.uint64)
    on = fragments > 0
    out[on] = final[compact(ids, first, fragments[on]).astype(np.int64)]
    return out
