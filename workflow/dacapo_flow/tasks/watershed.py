"""The seeded watershed's one algorithm, for a whole volume, a block and the merge's graph.

It is Kruskal's maximum spanning forest with seed constraints (what mwatershed's seeded
agglomeration computes, and a watershed cut): edges in a strict total order, each joins its
two clusters unless both hold a seed. An edge between face neighbours x, y of the foreground
ranks by the shallower depth min(v_x, v_y) (deepest first), then the deeper max(v_x, v_y), then
its key (linear index of x in the ROI) * dims + axis: a total order, so the result does not
depend on how a sort breaks ties (mwatershed's sort is unstable) and a block can reproduce it.

`kruskal` also runs on a block, where it may only join what the whole volume joins too. A
cluster is *closed* while no edge leaving the block has been reached from it: the whole-volume
cluster is then the block's. An *event* (an edge leaving the block, at its place in the order)
opens its voxel's cluster; a seed continuing outside the block opens its cluster from the start.
An edge is decided in the block when its outcome cannot depend on the outside:
- both clusters closed: join unless both hold a seed (the whole volume does the same);
- one closed without a seed: the whole volume joins it to anything, so join (open stays open);
- otherwise (open with open, open with a closed seeded one) it is *uncertain*: both become
  open, the edge is kept for the merge, which runs `kruskal` over the fragment graph.
Joining voxels the whole volume joins, and keeping every other edge (the first per pair of
clusters suffices: after it the two are one, or held apart by seeds for good), leaves the
whole-volume forest unchanged: the blockwise result equals it exactly, up to the ids.
"""

from __future__ import annotations

import numba
import numpy as np


def _compiled(function):
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:  # no cache locator (read-only install): compile each time
        return numba.njit(nogil=True)(function)


@_compiled
def _find(parent, x):  # pragma: no cover - compiled
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        parent[x], x = root, parent[x]
    return root


@_compiled
def kruskal(parent, seeded, opened, u, v, event):  # pragma: no cover - compiled
    """Process edges (u[i], v[i]) in order over union-find `parent` (in place, as `seeded` and
    `opened` of each root); `event[i]` opens u[i]'s cluster instead. Returns which edges were
    uncertain (see the module docstring); without open clusters there are none."""
    uncertain = np.zeros(u.size, np.bool_)
    for i in range(u.size):
        ru = _find(parent, u[i])
        if event[i]:
            opened[ru] = True
            continue
        rv = _find(parent, v[i])
        if ru == rv:
            continue
        ou, ov, su, sv = opened[ru], opened[rv], seeded[ru], seeded[rv]
        if (ou and (ov or sv)) or (ov and su):
            opened[ru] = opened[rv] = True
            uncertain[i] = True
            continue
        if su and sv:
            continue
        root, other = (ru, rv) if ru < rv else (rv, ru)
        parent[other] = root
        seeded[root] = su or sv
        opened[root] = ou or ov
    return uncertain


@_compiled
def roots(parent):  # pragma: no cover - compiled
    out = np.empty(parent.size, parent.dtype)
    for x in range(parent.size):
        out[x] = _find(parent, x)
    return out


def edge_order(low, high, key) -> np.ndarray:
    """Indices of edges in processing order: deeper `low` first, then deeper `high`, then
    smaller `key`."""
    return np.lexsort((key, -np.asarray(high), -np.asarray(low)))


def neighbour_edges(values: np.ndarray, foreground: np.ndarray, origin, roi_shape):
    """(u, v, low, high, key) of every face-neighbour pair (x, x + e_axis) of the array
    with both voxels in the foreground: u, v linear indices in the array, key from the
    position in the ROI (`origin`: the array's first voxel in the ROI of shape `roi_shape`)."""
    from .affinities import _offset_slices

    shape, dims = values.shape, values.ndim
    index = np.arange(values.size, dtype=np.int64).reshape(shape)
    strides = np.cumprod((1,) + tuple(int(s) for s in roi_shape)[:0:-1])[::-1]
    linear = np.zeros(shape, np.int64)  # linear index in the ROI, built axis by axis
    for axis, (size, begin, stride) in enumerate(zip(shape, origin, strides)):
        along = (np.arange(size, dtype=np.int64) + int(begin)) * int(stride)
        linear += along.reshape([-1 if a == axis else 1 for a in range(dims)])
    parts = []
    for axis in range(dims):
        offset = np.eye(dims, dtype=int)[axis]
        src, dst = _offset_slices(shape, offset)
        on = foreground[src] & foreground[dst]
        a, b = values[src][on], values[dst][on]
        key = linear[src][on].astype(np.int64) * dims + axis
        u, v = index[src][on], index[dst][on]
        parts.append((u, v, np.minimum(a, b), np.maximum(a, b), key))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(5))


@_compiled
def join(parent, seeded, u, v):  # pragma: no cover - compiled
    """Join the clusters of every (u[i], v[i]) whatever their seeds (one seed's pieces)."""
    for i in range(u.size):
        ru, rv = _find(parent, u[i]), _find(parent, v[i])
        if ru != rv:
            root, other = (ru, rv) if ru < rv else (rv, ru)
            parent[other] = root
            seeded[root] = seeded[ru] or seeded[rv]


def seeded_forest(values: np.ndarray, threshold: float, seed_level: float) -> np.ndarray:
    """uint64 [*spatial] ids (1..n) of the whole array (see `instances.seeded_watershed`)."""
    values = np.asarray(values, dtype=np.float64)
    foreground = values > threshold
    out = np.zeros(values.shape, np.uint64)
    if not foreground.any():
        return out
    parent = np.arange(values.size, dtype=np.int64)
    seeded = np.zeros(values.size, np.bool_)
    join_seeds(parent, seeded, foreground & (values > seed_level))
    u, v, low, high, key = neighbour_edges(values, foreground, (0,) * values.ndim, values.shape)
    order = edge_order(low, high, key)
    no = np.zeros(order.size, np.bool_)
    kruskal(parent, seeded, np.zeros(values.size, np.bool_), u[order], v[order], no)
    found = roots(parent).reshape(values.shape)[foreground]
    _, compact = np.unique(found, return_inverse=True)
    out[foreground] = compact.astype(np.uint64) + np.uint64(1)
    return out


def join_seeds(parent, seeded, seeds: np.ndarray) -> np.ndarray:
    """Join the voxels of each component of `seeds` (face connectivity) under its first voxel,
    marked seeded; returns the component labels."""
    from scipy import ndimage

    labels, count = ndimage.label(seeds)
    if count:
        flat = labels.ravel()
        where = np.flatnonzero(flat)
        ids, first = np.unique(flat[where], return_index=True)
        representative = np.zeros(count + 1, np.int64)
        representative[ids] = where[first]
        parent[where] = representative[flat[where]]
        seeded[representative[ids]] = True
    return labels
