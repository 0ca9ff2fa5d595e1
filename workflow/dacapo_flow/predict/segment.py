"""Per-block segmentation that agrees with segmenting the whole volume at once.

The whole-volume result (`whole_volume_segmentation`) is the connected components of a graph on
the ROI's voxels: for affinities, x ~ x+o where affinity_o(x) > threshold (both voxels in the
ROI; a voxel is foreground when it has such an edge, as in `segment_affinities`); for distances,
per channel, x ~ x+e (e a unit axis step, face connectivity) where both are above threshold.

Blockwise, each block reads the prediction over itself grown by the longest edge (clipped to the
ROI), so it knows every edge touching its voxels. Its fragments are the components of the edges
inside it, over its foreground voxels (a voxel whose only edges leave the block is a fragment of
its own). Every edge crossing the block's boundary is recorded as (neighbour block, edge key,
fragment); the neighbour records the same edge under the same key, so joining the two blocks'
records by key yields exactly the fragment pairs to merge (`merge.py`). Union of fragments over
those pairs = components of the whole graph: the blockwise result equals the in-memory one up
to the names of the ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from funlib.geometry import Coordinate
from scipy import ndimage

from ..tasks.affinities import _offset_slices, segment_affinities
from .plan import SegmentationSpec

UNIT_OFFSETS = {2: [(1, 0), (0, 1)], 3: [(1, 0, 0), (0, 1, 0), (0, 0, 1)]}


def edge_offsets(spec: SegmentationSpec, dims: int) -> list[tuple[int, ...]]:
    if spec.mode in ("affinities", "mws_exact"):
        return [tuple(o) for o in spec.neighborhood]
    if spec.mode in ("distance", "seeded"):
        return UNIT_OFFSETS[dims]
    return []


def segment_context(spec: SegmentationSpec, dims: int) -> Coordinate:
    """Voxels of prediction a block needs beyond itself per side: its longest edge."""
    offsets = edge_offsets(spec, dims)
    return Coordinate(max((abs(o[d]) for o in offsets), default=0) for d in range(dims))


def whole_volume_segmentation(task, prediction: np.ndarray, spec: SegmentationSpec) -> np.ndarray:
    """The in-memory result blockwise segmentation must equal (up to renaming): the task's
    post-processing, then for distance instances the connected components of each channel
    (mode "whole": what the segment shards write, block by block)."""
    output = task.post_process(prediction, spec.parameters)
    if spec.dtype == "uint8":  # semantic classes, or the 0/1 mask of a distance task's objects
        return (output > 0 if spec.instances else output).astype(np.uint8)
    mask = spec.mode == "distance" or (spec.mode == "whole" and output.dtype == np.uint8)
    if mask:  # the objects of a 0/1 mask: its components
        return np.stack([ndimage.label(channel)[0] for channel in output]).astype(np.uint64)
    return output.astype(np.uint64)


def threshold_regions(task, values: np.ndarray, spec: SegmentationSpec) -> np.ndarray:
    """Boolean [C, *s]: each channel's prediction above the threshold, before any minimum
    size (which the merge applies to whole objects, not to a block's pieces of them)."""
    return task.post_process(values, {"threshold": spec.parameters["threshold"]}) > 0


@dataclass(frozen=True)
class BlockPlace:
    """Where one block lies in the ROI's block grid, and the window of prediction it reads
    (the block grown by the context it needs, clipped to the ROI): all in voxels of the ROI."""

    window_begin: np.ndarray  # [dims]
    block_begin: np.ndarray  # [dims]
    block_shape: tuple[int, ...]
    roi_shape: tuple[int, ...]
    grid_block_shape: np.ndarray  # [dims]: the grid's block shape
    grid_counts: tuple[int, ...]  # blocks per axis

    @classmethod
    def of(cls, window_begin, block_begin, block_shape, roi_shape, grid_block_shape, grid_counts):
        def ints(values):
            return tuple(int(v) for v in values)

        return cls(
            np.asarray(ints(window_begin), np.int64),
            np.asarray(ints(block_begin), np.int64),
            ints(block_shape),
            ints(roi_shape),
            np.asarray(ints(grid_block_shape), np.int64),
            ints(grid_counts),
        )

    def in_window(self, window_shape) -> tuple[tuple[slice, ...], np.ndarray]:
        """(slices of the block within its window, boolean mask of the block's voxels there)."""
        inner = tuple(
            slice(b - w, b - w + s)
            for b, w, s in zip(self.block_begin, self.window_begin, self.block_shape)
        )
        inside = np.zeros(tuple(window_shape), dtype=bool)
        inside[inner] = True
        return inner, inside

    def linear(self, window_positions: np.ndarray) -> np.ndarray:
        """C-order index in the ROI of voxels at window positions [dims, n]."""
        return np.ravel_multi_index(
            tuple(window_positions + self.window_begin[:, None]), self.roi_shape
        )

    def neighbour(self, window_positions: np.ndarray) -> np.ndarray:
        """Id of the grid block holding each voxel at window positions [dims, n]."""
        block = (window_positions + self.window_begin[:, None]) // self.grid_block_shape[:, None]
        return np.ravel_multi_index(tuple(block), self.grid_counts).astype(np.int64)


@dataclass
class BlockFragments:
    labels: np.ndarray  # uint64 [C, *block]: 1..counts[c] per channel, 0 = background
    counts: list[int]
    sizes: np.ndarray  # int64 [sum(counts)]: voxels of each fragment, channel by channel
    channel: np.ndarray  # int64 [E]   the records of the edges crossing the block's boundary
    neighbour: np.ndarray  # int64 [E] block holding the edge's other voxel
    key: np.ndarray  # uint64 [E]      the edge's name, the same in both blocks
    label: np.ndarray  # uint64 [E]    fragment (local label) of the edge's voxel in this block


def _edges(task, values: np.ndarray, spec: SegmentationSpec):
    """(channel, offset index, offset, source slice, target slice, on) of every edge in the
    window: `on[i]` says whether source voxel i of the window joins target voxel i."""
    spatial = values.shape[1:]
    offsets = edge_offsets(spec, len(spatial))
    if spec.mode == "affinities":
        threshold = float(spec.parameters["threshold"])
        for k, offset in enumerate(offsets):
            src, dst = _offset_slices(spatial, offset)
            yield 0, k, offset, src, dst, values[k][src] > threshold
    else:
        regions = threshold_regions(task, values, spec)
        for c, region in enumerate(regions):
            for k, offset in enumerate(offsets):
                src, dst = _offset_slices(spatial, offset)
                yield c, k, offset, src, dst, region[src] & region[dst]


def segment_block(
    task,
    values: np.ndarray,
    spec: SegmentationSpec,
    place: BlockPlace,
) -> BlockFragments:
    """Fragments and boundary records of one block.

    `values` is the prediction [C, *window] over the block grown by `segment_context` and
    clipped to the ROI, at `place` in the ROI's block grid."""
    inner, inside = place.in_window(values.shape[1:])
    dims = len(place.block_shape)
    offsets = edge_offsets(spec, dims)
    channels = spec.channels

    if spec.mode == "affinities":
        labels = segment_affinities(
            values[(slice(None),) + inner], offsets, float(spec.parameters["threshold"])
        )[None]
        foreground = np.zeros(values.shape[1:], dtype=bool)
    else:
        regions = threshold_regions(task, values[(slice(None),) + inner], spec)
        labels = np.stack([ndimage.label(r)[0] for r in regions]).astype(np.uint64)

    edges = list(_edges(task, values, spec))
    if spec.mode == "affinities":
        # Voxels joined only to voxels outside the block are foreground too (own fragments).
        for _, _, _, src, dst, on in edges:
            foreground[src] |= on & inside[src]
            foreground[dst] |= on & inside[dst]
        lonely = foreground[inner] & (labels[0] == 0)
        labels[0][lonely] = labels[0].max() + 1 + np.arange(int(lonely.sum()), dtype=np.uint64)
    counts = [int(channel.max(initial=0)) for channel in labels]
    sizes = [
        np.bincount(ch.ravel().astype(np.int64), minlength=n + 1)[1:]
        for ch, n in zip(labels, counts)
    ]

    records = {"channel": [], "neighbour": [], "key": [], "label": []}
    for c, k, offset, src, dst, on in edges:
        crossing = on & (inside[src] ^ inside[dst])
        if not crossing.any():
            continue
        local = np.stack(np.nonzero(crossing))  # in source-slice coordinates
        source = local + np.array([s.start for s in src])[:, None]  # window coordinates
        target = source + np.array(offset)[:, None]
        source_inside = inside[tuple(source)]
        mine = np.where(source_inside, source, target)
        other = np.where(source_inside, target, source)
        linear = place.linear(source).astype(np.uint64)
        key = (linear * np.uint64(len(offsets)) + np.uint64(k)) * np.uint64(channels) + np.uint64(c)
        in_block = mine - (place.block_begin - place.window_begin)[:, None]
        records["channel"].append(np.full(key.shape, c, dtype=np.int64))
        records["neighbour"].append(place.neighbour(other))
        records["key"].append(key)
        records["label"].append(labels[c][tuple(in_block)])
    empty = {"channel": np.int64, "neighbour": np.int64, "key": np.uint64, "label": np.uint64}
    arrays = {
        name: np.concatenate(parts) if parts else np.zeros(0, empty[name])
        for name, parts in records.items()
    }
    sizes = np.concatenate(sizes).astype(np.int64)
    return BlockFragments(labels=labels, counts=counts, sizes=sizes, **arrays)
