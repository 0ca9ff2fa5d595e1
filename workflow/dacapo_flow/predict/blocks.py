"""Blocks of a prediction: the ROI tiled by output blocks, ids, shards and read ROIs.

All ROIs are in world units. Block `i` is the `i`-th box of the grid in C order, starting at the
ROI's offset; the output arrays start at the same offset with chunks of one block, so block `i`
is chunk `i` and no two blocks share a chunk. Edge blocks are computed whole (the network needs
its full input) and written clipped to the ROI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import product

import numpy as np
from funlib.geometry import Coordinate, Roi


@dataclass(frozen=True)
class BlockGrid:
    roi: Roi
    block_shape: Coordinate  # world units

    def __post_init__(self):
        if self.roi.dims != self.block_shape.dims or any(s <= 0 for s in self.block_shape):
            raise ValueError(f"block shape {self.block_shape} does not fit roi {self.roi}")

    @property
    def counts(self) -> Coordinate:
        """Blocks per axis (the last one may hang over the ROI's end)."""
        return Coordinate(-(-s // b) for s, b in zip(self.roi.shape, self.block_shape))

    @property
    def num_blocks(self) -> int:
        return int(np.prod(self.counts))

    def index(self, block_id: int) -> Coordinate:
        self._check(block_id)
        return Coordinate(np.unravel_index(block_id, tuple(self.counts)))

    def block_id(self, index) -> int:
        return int(np.ravel_multi_index(tuple(index), tuple(self.counts)))

    def block(self, block_id: int) -> Roi:
        """The whole block (what the network computes)."""
        return Roi(self.roi.offset + self.index(block_id) * self.block_shape, self.block_shape)

    def write_roi(self, block_id: int) -> Roi:
        """The block clipped to the ROI (what is stored)."""
        return self.block(block_id).intersect(self.roi)

    def neighbours(self, block_id: int) -> list[int]:
        """The up to 26 blocks touching this one (faces, edges, corners)."""
        index = self.index(block_id)
        found = []
        for step in product((-1, 0, 1), repeat=index.dims):
            other = index + Coordinate(step)
            if any(step) and all(0 <= o < c for o, c in zip(other, self.counts)):
                found.append(self.block_id(other))
        return found

    def _check(self, block_id: int) -> None:
        if not 0 <= block_id < self.num_blocks:
            raise IndexError(f"block {block_id} is not in a grid of {self.num_blocks} blocks")


def shard_blocks(num_blocks: int, shard: int, shards: int) -> list[int]:
    """Static sharding: shard `i` of `N` owns blocks i, i+N, i+2N, ..."""
    if shards < 1 or not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is not one of {shards} shards")
    return list(range(shard, num_blocks, shards))


def pyramid_factors(voxel_size) -> Coordinate:
    """Per-axis factors of the one downsampled level (s1). Anisotropic data are downsampled
    per axis, as OME-Zarr pyramids of serial-section EM are: only axes whose voxel size is at
    most half the coarsest are halved (40 x 4 x 4 nm keeps its sections: s1 is 40 x 8 x 8 nm).
    Data with no such axis (isotropic or nearly) are halved along every axis."""
    voxel = Coordinate(voxel_size)
    coarsest = max(voxel)
    factors = Coordinate(2 if 2 * v <= coarsest else 1 for v in voxel)
    return factors if any(f > 1 for f in factors) else Coordinate((2,) * voxel.dims)


def shape_steps(output_shape_of, in_shape: Coordinate) -> Coordinate:
    """Per axis, the smallest growth of `in_shape` the network takes (its total downsampling
    for a U-Net, 1 across the sections of a 2D one; 0: none found), through its shape
    function."""
    steps = []
    for axis in range(in_shape.dims):
        for step in range(1, 65):
            try:
                output_shape_of(
                    in_shape + Coordinate(step * (a == axis) for a in range(in_shape.dims))
                )
            except ValueError:
                continue
            steps.append(step)
            break
        else:
            steps.append(0)
    return Coordinate(steps)


def grid_origin(offset: Coordinate, anchor: Coordinate, period: Coordinate) -> Coordinate:
    """The block grid's origin for a ROI starting at `offset` (world units): the last point at
    or before it on `anchor` + k * `period`. A valid-padded U-Net is translation-equivariant only
    in whole steps of its downsampling (`period`, world units), so grids anchored to the same
    point (the input array's offset) predict every voxel alike, whatever ROI each covers."""
    return offset - (offset - anchor) % period


def input_roi(block: Roi, context: Coordinate) -> Roi:
    """What the network reads for `block`: the block grown by its context on every side."""
    return block.grow(context, context)


@dataclass(frozen=True)
class NetworkGeometry:
    input_voxel: Coordinate
    output_voxel: Coordinate
    input_shape: Coordinate  # network input per block, input voxels
    block_shape: Coordinate  # network output per block, output voxels
    context: Coordinate  # world units per side

    @property
    def block_world(self) -> Coordinate:
        return self.block_shape * self.output_voxel


def fit_network(
    output_shape_of: Callable[[Coordinate], Coordinate],
    eval_input_shape,
    input_voxel,
    output_voxel,
    block_shape=None,
) -> NetworkGeometry:
    """The network's input for one output block of `block_shape` voxels (default: its eval
    output). `output_shape_of(input_shape)` is the network's shape function (which raises for
    inputs it cannot take); the context is what the network eats on each side."""
    eval_input = Coordinate(eval_input_shape)
    input_voxel, output_voxel = Coordinate(input_voxel), Coordinate(output_voxel)
    eval_output = Coordinate(output_shape_of(eval_input))
    margin = eval_input * input_voxel - eval_output * output_voxel
    if any(m < 0 or m % 2 for m in margin) or any(
        (m // 2) % v for m, v in zip(margin, input_voxel)
    ):
        raise ValueError(
            f"the network maps {eval_input} input voxels of {input_voxel} to {eval_output} output "
            f"voxels of {output_voxel}: its context is not a whole number of input voxels per side"
        )
    context = margin / 2
    block = eval_output if block_shape is None else Coordinate(block_shape)
    world = block * output_voxel
    if any(w % v for w, v in zip(world, input_voxel)):
        raise ValueError(f"block_shape {block} is not a whole number of input voxels")
    needed = (world + margin) / input_voxel
    try:
        produced = Coordinate(output_shape_of(needed))
    except (ValueError, RuntimeError) as error:
        produced = error
    if produced != block:
        raise ValueError(
            f"block_shape {tuple(block)} does not fit the network: an input of {tuple(needed)} "
            f"voxels gives {produced}; the eval output shape {tuple(eval_output)} fits, and so do "
            "shapes that differ from it by multiples of the total downsampling factor"
        )
    return NetworkGeometry(input_voxel, output_voxel, needed, block, context)
