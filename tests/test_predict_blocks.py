import pytest
from funlib.geometry import Coordinate, Roi

from dacapo_flow.predict.blocks import (
    BlockGrid,
    fit_network,
    grid_origin,
    input_roi,
    pyramid_factors,
    shard_blocks,
)


def test_grid_tiles_the_roi_and_clips_the_last_blocks():
    grid = BlockGrid(Roi((8, 0, 4), (40, 24, 12)), Coordinate(16, 8, 8))
    assert grid.counts == (3, 3, 2) and grid.num_blocks == 18
    assert grid.block(0) == Roi((8, 0, 4), (16, 8, 8))
    assert grid.index(17) == (2, 2, 1) and grid.block_id((2, 2, 1)) == 17
    assert grid.block(17) == Roi((40, 16, 12), (16, 8, 8))
    assert grid.write_roi(17) == Roi((40, 16, 12), (8, 8, 4))
    covered = sum(grid.write_roi(b).size for b in range(grid.num_blocks))
    assert covered == grid.roi.size
    with pytest.raises(IndexError):
        grid.block(18)


def test_neighbours_include_edges_and_corners():
    grid = BlockGrid(Roi((0, 0, 0), (3, 3, 3)), Coordinate(1, 1, 1))
    assert len(grid.neighbours(13)) == 26 and len(grid.neighbours(0)) == 7


def test_static_sharding_covers_each_block_once():
    shards = [shard_blocks(10, i, 3) for i in range(3)]
    assert shards == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    with pytest.raises(ValueError):
        shard_blocks(10, 3, 3)


def test_input_roi_is_the_block_grown_by_the_context():
    assert input_roi(Roi((0, 0), (8, 8)), Coordinate(4, 2)) == Roi((-4, -2), (16, 12))


def unet_like(shape):
    """A valid-conv net: loses 16 voxels and needs (in - 16) even (one 2x downsampling)."""
    shape = Coordinate(shape)
    if any((s - 16) % 2 or s <= 16 for s in shape):
        raise ValueError(f"cannot take {shape}")
    return shape - Coordinate((16,) * shape.dims)


def test_fit_network_defaults_to_the_eval_output():
    net = fit_network(unet_like, (28, 28, 28), (4, 4, 4), (4, 4, 4))
    assert net.block_shape == (12, 12, 12) and net.input_shape == (28, 28, 28)
    assert net.context == (32, 32, 32) and net.block_world == (48, 48, 48)


def test_fit_network_with_a_block_shape():
    net = fit_network(unet_like, (28, 28, 28), (4, 4, 4), (4, 4, 4), (20, 12, 30))
    assert net.input_shape == (36, 28, 46)
    with pytest.raises(ValueError, match="does not fit the network"):
        fit_network(unet_like, (28, 28, 28), (4, 4, 4), (4, 4, 4), (13, 12, 12))


@pytest.mark.parametrize(
    "voxel, factors",
    [
        ((40, 4, 4), (1, 2, 2)),  # serial sections: z is kept
        ((40, 8, 8), (1, 2, 2)),
        ((40, 20, 20), (1, 2, 2)),  # at most half the coarsest: halved
        ((30, 16, 16), (2, 2, 2)),  # no axis that fine: nearly isotropic, all halved
        ((8, 8, 8), (2, 2, 2)),
        ((4, 4), (2, 2)),
        ((8, 8, 2), (1, 1, 2)),
    ],
)
def test_pyramid_factors_halve_only_the_fine_axes_of_anisotropic_data(voxel, factors):
    assert pyramid_factors(voxel) == factors


def test_grids_start_on_the_anchor_plus_whole_periods_at_or_before_the_roi():
    anchor, period = Coordinate(40, 0, -8), Coordinate(4, 16, 16)
    assert grid_origin(Coordinate(40, 32, 8), anchor, period) == Coordinate(40, 32, 8)
    assert grid_origin(Coordinate(44, 44, 12), anchor, period) == Coordinate(44, 32, 8)
    # before the anchor too: always at or before the ROI's start, never after it
    assert grid_origin(Coordinate(36, -4, -20), anchor, period) == Coordinate(36, -16, -24)
