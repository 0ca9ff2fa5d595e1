"""The seeded watershed's Kruskal: it is mwatershed's seeded agglomeration under a fixed edge
order, and in a block it joins only voxels the whole volume puts in one object."""

import mwatershed as mws
import numpy as np
from scipy import ndimage

from dacapo_flow.tasks.watershed import (
    edge_order,
    join_seeds,
    kruskal,
    neighbour_edges,
    roots,
    seeded_forest,
)


def blobs(shape, seed, levels=None):
    """A smooth field with touching basins; `levels`: quantised to that many values (ties)."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=shape), 1.2)
    field = field / np.abs(field).max()
    if levels:
        field = np.round(field * levels) / levels
    return field


def test_it_is_mwatershed_under_the_same_order():
    """Ranks as weights make every positive edge distinct: mwatershed's seeded agglomeration
    then processes them in our order, and its objects are ours."""
    values = blobs((12, 14, 10), 0)
    threshold, seed_level = -0.2, 0.3
    ours = seeded_forest(values, threshold, seed_level)
    foreground = values > threshold
    u, _, low, high, key = neighbour_edges(values, foreground, (0, 0, 0), values.shape)
    rank = np.empty(key.size)
    rank[edge_order(low, high, key)] = np.arange(key.size, 0, -1) / (key.size + 1)
    affinities = np.full((3, values.size), -1.0)  # edge (x, x + e_axis) at x
    affinities[key % 3, u] = rank
    affinities = affinities.reshape(3, *values.shape)
    seeds = ndimage.label(foreground & (values > seed_level))[0].astype(np.uint64)
    seeds[seeds > 0] += np.uint64(values.size)
    theirs = mws.agglom(affinities, np.eye(3, dtype=int).tolist(), seeds=seeds)
    assert len(np.unique(ours)) > 5
    pairs = np.unique(np.stack([ours[foreground], theirs[foreground]]), axis=1)
    assert pairs.shape[1] == len(np.unique(ours[foreground])) == len(np.unique(theirs[foreground]))


def block_clusters(values, threshold, seed_level, inside):
    """The block step of seeded_block.py in miniature: clusters of the block's voxels."""
    foreground = values > threshold
    seeds = foreground & (values > seed_level)
    parent = np.arange(values.size)
    seeded, opened = np.zeros(values.size, bool), np.zeros(values.size, bool)
    join_seeds(parent, seeded, seeds & inside)
    u, v, low, high, key = neighbour_edges(values, foreground, (0, 0, 0), values.shape)
    flat = inside.ravel()
    crossing = flat[u] != flat[v]
    keep = (flat[u] & flat[v]) | crossing
    u, v, low, high, key, crossing = (a[keep] for a in (u, v, low, high, key, crossing))
    mine = np.where(flat[u], u, v)
    both = seeds.ravel()[u] & seeds.ravel()[v]
    opened[parent[mine[crossing & both]]] = True
    order = edge_order(low, high, key)
    uncertain = kruskal(parent, seeded, opened, mine[order], v[order], crossing[order])
    return roots(parent).reshape(values.shape), uncertain


def straddles(clusters, whole, where) -> bool:
    pairs = np.unique(np.stack([clusters[where], whole[where]]), axis=1)
    return pairs.shape[1] != len(np.unique(clusters[where]))


def test_a_block_joins_only_what_the_whole_volume_joins():
    """On fields with many ties (quantised) and seeds across the block's faces, every cluster
    a block makes lies in one object of the whole volume."""
    for seed in range(6):
        values = blobs((16, 16, 16), seed, levels=12 if seed % 2 else None)
        whole = seeded_forest(values, -0.1, 0.25)
        inside = np.zeros(values.shape, bool)
        inside[3:11, 4:12, 5:13] = True
        clusters, uncertain = block_clusters(values, -0.1, 0.25, inside)
        assert uncertain.any()
        assert not straddles(clusters, whole, inside & (values > -0.1))


def test_a_block_leaves_the_merge_little():
    """A 32^3 block of ~150 small objects ends with ~30 voxels per fragment: the merge's
    graph grows with the faces, not with the voxels."""
    values = blobs((48, 48, 48), 7)
    inside = np.zeros(values.shape, bool)
    inside[8:40, 8:40, 8:40] = True
    clusters, _ = block_clusters(values, -0.1, 0.25, inside)
    foreground = inside & (values > -0.1)
    assert not straddles(clusters, seeded_forest(values, -0.1, 0.25), foreground)
    assert len(np.unique(clusters[foreground])) < foreground.sum() / 20


def test_seeds_never_join_and_a_component_without_one_is_one_object():
    values = np.array([[0.9, 0.5, 0.2, 0.6, 0.9, -1, 0.3, 0.4]])
    labels = seeded_forest(values, 0.0, 0.8)
    # Seeds at 0 and 4; voxel 2 (0.2) joins via its deeper neighbour 3 (0.6) the second seed.
    assert labels[0, :5].tolist() == [1, 1, 2, 2, 2]
    assert labels[0, 5] == 0 and labels[0, 6] == labels[0, 7] == 3
