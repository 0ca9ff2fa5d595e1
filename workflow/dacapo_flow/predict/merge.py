"""Merging fragments across block faces: face records -> pairs -> union-find -> lookup table.

Fragment ids are unique over the volume by construction: fragment `l` (1-based) of channel `c`
in block `b` is `(c * num_blocks + b) * block_voxels + l` (`FragmentIds`). The merge joins the
records two neighbouring blocks wrote for their shared edges (same key on both sides), takes
connected components of the resulting fragment pairs, and maps every merged fragment to its
component's smallest fragment. Final ids are compacted per channel (`compact`): fragment l of
block b becomes `first[c, b] + l - 1` where `first` counts the fragments of earlier blocks, so
ids stay small and a fragment that merged with nothing needs no table entry.

A minimum size (`min_size`, as `tasks.instances.remove_small_objects` applies it to the whole
volume) is exact too: each block records its fragments' voxel counts, an object's size is the
sum over its fragments, and the table maps every fragment of a smaller object to 0 (objects
that merged with nothing included: their fragments get entries too).

Memory: the records of two blocks at a time plus the pairs (one per touching fragment pair).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..store.atomic import atomic_write
from .fragment_sizes import FragmentSizes

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FragmentIds:
    num_blocks: int
    block_voxels: int
    channels: int

    def __post_init__(self):
        if self.channels * self.num_blocks * self.block_voxels >= 2**63:
            raise ValueError("too many blocks x voxels per block for uint64 fragment ids")

    def offset(self, channel: int, block: int) -> int:
        return (channel * self.num_blocks + block) * self.block_voxels

    def globalise(self, labels: np.ndarray, block: int) -> np.ndarray:
        """Local labels [C, *s] (1..n per channel, 0 background) -> fragment ids."""
        out = labels.astype(np.uint64, copy=True)
        for c in range(out.shape[0]):
            out[c][out[c] > 0] += np.uint64(self.offset(c, block))
        return out

    def decode(self, fragments: np.ndarray):
        """(channel, block, local label) of fragment ids."""
        cb, local = np.divmod(fragments.astype(np.uint64) - np.uint64(1), self.block_voxels)
        channel, block = np.divmod(cb, self.num_blocks)
        return channel.astype(np.int64), block.astype(np.int64), local.astype(np.int64) + 1


def first_ids(counts: np.ndarray) -> np.ndarray:
    """[C, blocks] fragment counts -> the final id of each block's fragment 1, per channel."""
    ends = np.cumsum(counts, axis=1)
    return (1 + ends - counts).astype(np.uint64)


def compact(ids: FragmentIds, first: np.ndarray, fragments: np.ndarray) -> np.ndarray:
    channel, block, local = ids.decode(fragments)
    return first[channel, block] + local.astype(np.uint64) - np.uint64(1)


def face_pairs(load_records, num_blocks: int) -> np.ndarray:
    """[P, 2] unique fragment pairs joined by an edge across a block face.

    `load_records(b)` gives block b's records as a dict of arrays (neighbour, key, fragment).
    Every edge must be recorded by both of its blocks; a one-sided record means the blocks
    were segmented under different settings, and is an error."""
    load = lru_cache(maxsize=32)(load_records)
    pairs = []
    for block in range(num_blocks):
        mine = load(block)
        for other in np.unique(mine["neighbour"][mine["neighbour"] > block]):
            theirs = load(int(other))
            a = mine["neighbour"] == other
            b = theirs["neighbour"] == block
            keys, ia, ib = np.intersect1d(
                mine["key"][a], theirs["key"][b], assume_unique=True, return_indices=True
            )
            if keys.size != a.sum() or keys.size != b.sum():
                raise ValueError(
                    f"blocks {block} and {int(other)} disagree about the edges between them "
                    f"({int(a.sum())} vs {int(b.sum())} records, {keys.size} shared): were "
                    "they segmented under different settings?"
                )
            pairs.append(np.stack([mine["fragment"][a][ia], theirs["fragment"][b][ib]], axis=1))
    if not pairs:
        return np.zeros((0, 2), np.uint64)
    return np.unique(np.concatenate(pairs), axis=0)


def lookup_table(
    pairs: np.ndarray,
    ids: FragmentIds,
    first: np.ndarray,
    sizes: FragmentSizes | None = None,
    min_size: int = 0,
):
    """(fragments, final ids): every fragment in a pair -> its component's smallest fragment,
    compacted; with `sizes` and `min_size` > 1, every fragment of an object of fewer voxels
    -> 0. Sorted by fragment for `searchsorted`."""
    keys, values = _merged(pairs, ids, first, sizes, min_size)
    if sizes is None or min_size <= 1:
        return keys, values
    small = sizes.below(min_size)
    small = small[~np.isin(small, keys, assume_unique=True)]  # alone: its own object
    keys = np.concatenate([keys, small])
    values = np.concatenate([values, np.zeros(small.size, np.uint64)])
    order = np.argsort(keys, kind="stable")
    return keys[order], values[order]


def _merged(pairs, ids, first, sizes, min_size):
    if pairs.size == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    nodes, index = np.unique(pairs, return_inverse=True)
    index = index.reshape(pairs.shape)
    graph = coo_matrix(
        (np.ones(len(index), np.int8), (index[:, 0], index[:, 1])), shape=(nodes.size,) * 2
    )
    _, component = connected_components(graph, directed=False)
    smallest = np.full(component.max() + 1, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(smallest, component, nodes)  # nodes are sorted: this is each set's minimum
    values = compact(ids, first, smallest[component])
    if sizes is not None and min_size > 1:
        volume = np.bincount(component, weights=sizes(nodes), minlength=smallest.size)
        values[volume[component] < min_size] = 0
    return nodes, values


def relabel(fragments: np.ndarray, table, ids: FragmentIds, first: np.ndarray) -> np.ndarray:
    """Final ids of a block's fragments [C, *s] (0 stays 0)."""
    keys, values = table
    out = np.zeros(fragments.shape, np.uint64)
    on = fragments > 0
    found = fragments[on]
    final = compact(ids, first, found)
    if keys.size:
        position = np.minimum(np.searchsorted(keys, found), keys.size - 1)
        hit = keys[position] == found
        final[hit] = values[position[hit]]
    out[on] = final
    return out


def save_lookup(path, ids: FragmentIds, first: np.ndarray, **arrays):
    """A merge's lookup file: its `arrays` with the fragment numbering they refer to."""
    numbering = np.array([ids.num_blocks, ids.block_voxels, ids.channels], np.int64)

    def write(file):
        np.savez_compressed(file, first=first, fragment_ids=numbering, **arrays)

    return atomic_write(path, write)


def load_lookup(path, *names) -> tuple[list[np.ndarray], FragmentIds, np.ndarray]:
    """([arrays `names`], FragmentIds, first) of a file `save_lookup` wrote."""
    with np.load(path) as data:
        num_blocks, block_voxels, channels = (int(v) for v in data["fragment_ids"])
        arrays = [data[name] for name in names]
        return arrays, FragmentIds(num_blocks, block_voxels, channels), data["first"]


def save_table(path, table, ids: FragmentIds, first: np.ndarray):
    keys, values = table
    return save_lookup(path, ids, first, fragments=keys, labels=values)


def load_table(path):
    """(table, FragmentIds, first) as `save_table` wrote them."""
    (keys, values), ids, first = load_lookup(path, "fragments", "labels")
    return (keys, values), ids, first


def merge_job(plan, segment_jsons, lut_path, out_json) -> dict:
    """The merge job: every block's records (found through the segment shard JSONs) ->
    lookup table at `lut_path`, then `out_json` naming it (written last)."""
    from ..store.atomic import atomic_write_json
    from .progress import file_digest, read_shard_json

    started = time.monotonic()
    expected = plan.config_key("segment")
    blocks = {}
    for path in segment_jsons:
        shard = read_shard_json(path, "segment")
        if shard["config_hash"] != expected:
            raise ValueError(
                f"segment shard {path} was written for {shard['config_hash']}, the plan is "
                f"{expected}: rerun its segment shard"
            )
        blocks.update(shard["blocks"])
    missing = sorted(set(range(plan.grid.num_blocks)) - set(blocks))
    if missing:
        raise ValueError(f"blocks {missing[:20]} are in none of the segment shards {segment_jsons}")
    spec = plan.segmentation
    ids = FragmentIds(plan.grid.num_blocks, int(np.prod(plan.block_shape)), spec.channels)
    counts = np.zeros((spec.channels, plan.grid.num_blocks), np.int64)
    if spec.instances:
        for block, record in blocks.items():
            counts[:, block] = record["counts"]
    first = first_ids(counts)
    min_size = int(spec.parameters.get("min_size", 0)) if spec.instances else 0

    def load_block(block, names=None) -> dict:
        """Block `block`'s records (all arrays, or those `names`)."""
        with np.load(blocks[block]["records"]) as data:
            return {name: data[name] for name in (names or data.files)}

    if spec.mode == "mws_exact":  # region graph -> graph mutex watershed (mws_merge.py)
        from .mws_merge import mws_lookup, save_dense

        bias = float(spec.parameters["bias"])
        final, found = mws_lookup(load_block, plan.grid.num_blocks, first, bias, min_size)
        save_dense(lut_path, final, ids, first)
        merged, num_pairs = found["fragments"], found["pairs"]
    elif spec.mode == "seeded":  # fragment graph -> the same Kruskal (seeded_merge.py)
        from .mws_merge import save_dense
        from .seeded_merge import seeded_lookup

        final, first, found = seeded_lookup(load_block, plan.grid.num_blocks, counts, min_size)
        save_dense(lut_path, final, ids, first)
        merged, num_pairs = found["fragments"], found["pairs"]
    else:
        pairs = np.zeros((0, 2), np.uint64)
        if spec.instances:
            faces = ("neighbour", "key", "fragment")
            pairs = face_pairs(lambda b: load_block(b, faces), plan.grid.num_blocks)
        sizes = None
        if min_size > 1:
            sizes = FragmentSizes(lambda b: load_block(b, ("sizes",))["sizes"], ids, counts)
        table = lookup_table(pairs, ids, first, sizes, min_size)
        save_table(lut_path, table, ids, first)
        merged, num_pairs = int(table[0].size), len(pairs)
    summary = {
        "format": "dacapo-flow-merge",
        "config_hash": plan.config_key("relabel"),
        "fragments": int(counts.sum()),
        "pairs": num_pairs,
        "merged": merged,
        "lut": str(lut_path),
        "lut_sha256": file_digest(lut_path),
    }
    atomic_write_json(out_json, summary)
    logger.info(
        "merge: %d fragments of %d blocks, %d pairs, %d fragments merged, in %.1fs",
        summary["fragments"],
        plan.grid.num_blocks,
        num_pairs,
        merged,
        time.monotonic() - started,
    )
    return summary
