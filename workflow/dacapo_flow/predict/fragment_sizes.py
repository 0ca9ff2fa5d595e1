"""Voxel counts of every fragment of a blockwise segmentation, for the merge's minimum size.

Each block's records hold `sizes`: the voxel counts of its fragments, channel by channel
(local labels 1..counts[c]). Stored in block order, they take 8 bytes per fragment.
"""

from __future__ import annotations

import numpy as np


def storage_start(counts: np.ndarray) -> np.ndarray:
    """[C, blocks] position of fragment 1 of channel c in block b when the fragments of all
    blocks are stored in order, each block's channel by channel (as their records are)."""
    per_block = counts.sum(axis=0)
    block_start = np.cumsum(per_block) - per_block
    return block_start[None, :] + np.cumsum(counts, axis=0) - counts


class FragmentSizes:
    """Voxel counts of every fragment, read from the blocks' records; `ids` the fragment
    numbering (`merge.FragmentIds`), `counts` [C, blocks] fragments per channel and block."""

    def __init__(self, load_sizes, ids, counts: np.ndarray):
        self.ids = ids
        per_block = counts.sum(axis=0)
        parts = []
        for block in range(ids.num_blocks):
            sizes = np.asarray(load_sizes(block), np.int64)
            if sizes.size != per_block[block]:
                raise ValueError(
                    f"block {block} records {sizes.size} fragment sizes for "
                    f"{int(per_block[block])} fragments: was it segmented by an older version?"
                )
            parts.append(sizes)
        self.sizes = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        self.start = storage_start(counts)

    def __call__(self, fragments: np.ndarray) -> np.ndarray:
        channel, block, local = self.ids.decode(fragments)
        return self.sizes[self.start[channel, block] + local - 1]

    def below(self, min_size: int) -> np.ndarray:
        """Sorted fragment ids of fewer than `min_size` voxels."""
        position = np.flatnonzero(self.sizes < min_size)
        starts = self.start.T.ravel()  # groups (block, channel) in storage order
        group = np.searchsorted(starts, position, side="right") - 1
        # An empty group shares its start with the next: the last one at or before holds it.
        block, channel = np.divmod(group, self.ids.channels)
        offset = (channel * self.ids.num_blocks + block) * self.ids.block_voxels
        fragments = offset.astype(np.uint64) + (position - starts[group] + 1).astype(np.uint64)
        return np.sort(fragments)
