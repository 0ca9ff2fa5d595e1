"""The one Euclidean distance transform of the library: targets, distance masks and metrics.

Exact separable squared distance transforms (Felzenszwalb & Huttenlocher 2012), compiled with
numba: a first pass per line finds the nearest site along one axis, then a lower envelope of
parabolas per line adds each further axis, in world units (anisotropic voxels).

`signed_distance_to_faces` is the distance task's target geometry: the distance from each voxel
centre to the nearest centre of a face between two voxels of different state (DaCapo's
definition, which it computes with an EDT on a grid of half the voxel size, 8x the points). Here
the face centres of axis k lie half a voxel off the grid along k only, so the first pass along k
measures to half-integer positions and the other axes are ordinary passes: the minimum over k
is the same distance at 3 voxel-grid transforms instead of one on the 8x grid.
"""

from __future__ import annotations

import numba
import numpy as np

_INF = np.inf


def _compiled(function):
    """numba-compiled, with the machine code cached beside this module (or in the user's
    cache folder) so that each worker process loads it instead of compiling for a second;
    uncached where neither can be written (a read-only install, no home)."""
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return numba.njit(nogil=True)(function)


@_compiled
def _nearest_site(sites, spacing, half):  # pragma: no cover - compiled
    """Squared world distance along axis 1 of `sites` [A, count, B] to the nearest True entry.
    `half`: entry q is the point q + 0.5, between voxels q and q + 1 (n = count + 1 voxels)."""
    before, count, after = sites.shape
    n = count + 1 if half else count
    shift = 0.5 if half else 0.0
    out = np.empty((before, n, after), np.float64)
    for a in range(before):
        for b in range(after):  # neighbouring lines share cache lines
            behind = -_INF  # nearest site at or before p, in a forward sweep
            for p in range(n):
                if not half and sites[a, p, b]:
                    behind = p
                out[a, p, b] = (p - behind) ** 2
                if half and p < count and sites[a, p, b]:
                    behind = p + shift  # after p: it is behind p + 1
            ahead = _INF  # nearest site at or after p, in a backward sweep
            for p in range(n - 1, -1, -1):
                if p < count and sites[a, p, b]:
                    ahead = p + shift
                out[a, p, b] = min(out[a, p, b], (ahead - p) ** 2) * spacing * spacing
    return out


@_compiled
def _envelope(f, spacing):  # pragma: no cover - compiled
    """In place along axis 1 of f [A, n, B]: f[p] = min over q of f[q] + (spacing (p - q))^2
    (infinite entries skipped), by the lower envelope of the parabolas."""
    before, n, after = f.shape
    w2 = spacing * spacing
    row = np.empty(n, np.float64)
    v = np.empty(n, np.int64)
    z = np.empty(n + 1, np.float64)
    for a in range(before):
        for b in range(after):
            for q in range(n):
                row[q] = f[a, q, b]
            k = -1
            for q in range(n):
                if row[q] == _INF:
                    continue
                s = -_INF
                while k >= 0:
                    r = v[k]
                    s = ((row[q] + w2 * q * q) - (row[r] + w2 * r * r)) / (2.0 * w2 * (q - r))
                    if s <= z[k]:
                        k -= 1
                    else:
                        break
                if k < 0:
                    s = -_INF
                k += 1
                v[k] = q
                z[k] = s
                z[k + 1] = _INF
            if k < 0:
                continue  # no site on this line: it stays infinite
            j = 0
            for p in range(n):
                while z[j + 1] < p:
                    j += 1
                r = v[j]
                f[a, p, b] = row[r] + w2 * (p - r) * (p - r)


def _lines(array: np.ndarray, axis: int) -> np.ndarray:
    """A C-contiguous array as [before, along axis, after]: a view, no copy."""
    shape = array.shape
    return array.reshape(int(np.prod(shape[:axis], dtype=np.int64)), shape[axis], -1)


def _check(array: np.ndarray, sampling) -> tuple[np.ndarray, tuple[float, ...]]:
    array = np.asarray(array).astype(bool, copy=False)
    sampling = tuple(float(s) for s in sampling)
    if len(sampling) != array.ndim or array.ndim == 0:
        raise ValueError(f"sampling {sampling} does not match a {array.ndim}D array")
    return array, sampling


def _nearest(sites: np.ndarray, axis: int, half: bool, spacing: float) -> np.ndarray:
    """Squared distances along `axis` to the nearest site (the first, 1D pass)."""
    sites = np.ascontiguousarray(sites)
    shape = list(sites.shape)
    shape[axis] += 1 if half else 0
    return _nearest_site(_lines(sites, axis), spacing, half).reshape(shape)


def _add_axes(squared: np.ndarray, axes, sampling) -> np.ndarray:
    """In place: the envelope pass along each of `axes` (of length > 1)."""
    for axis in axes:
        if squared.shape[axis] > 1:
            _envelope(_lines(squared, axis), sampling[axis])
    return squared


def _others(ndim: int, axis: int) -> list[int]:
    return [a for a in range(ndim) if a != axis]


def distance_to_background(foreground: np.ndarray, sampling) -> np.ndarray:
    """World distance (float32) of every voxel to the nearest False voxel of `foreground`
    (0 on False voxels, +inf everywhere when there is none); scipy's distance_transform_edt."""
    foreground, sampling = _check(foreground, sampling)
    if foreground.all():
        return np.full(foreground.shape, np.inf, dtype=np.float32)
    last = foreground.ndim - 1
    squared = _nearest(~foreground, last, False, sampling[last])
    return np.sqrt(_add_axes(squared, _others(foreground.ndim, last), sampling)).astype(np.float32)


def signed_distance_to_faces(region: np.ndarray, sampling) -> np.ndarray:
    """Signed world distance (float32, positive inside) from each voxel centre of a boolean
    `region` to the nearest face between an inside and an outside voxel; +inf / -inf for a
    region with no such face (all in / all out)."""
    region, sampling = _check(region, sampling)
    if region.all() or not region.any():
        return np.full(region.shape, np.inf if region.all() else -np.inf, dtype=np.float32)
    axes = [a for a in range(region.ndim) if region.shape[a] > 1]  # others have no faces
    nearest = {a: _nearest(np.diff(region, axis=a), a, True, sampling[a]) for a in axes}
    if axes == [0, 1, 2]:
        # min over k of the passes along the other axes of nearest[k], with one pass shared:
        # E1 E2 n0, and E0 [min(E2 n1, E1 n2)] (a pass is a min-plus convolution, so it
        # distributes over min): 5 passes instead of 6.
        first = _add_axes(nearest[0], [2, 1], sampling)
        shared = np.minimum(
            _add_axes(nearest[1], [2], sampling), _add_axes(nearest[2], [1], sampling)
        )
        squared = np.minimum(first, _add_axes(shared, [0], sampling))
    else:
        squared = np.minimum.reduce(
            [_add_axes(nearest[a], _others(region.ndim, a), sampling) for a in axes]
        )
    distance = np.sqrt(squared).astype(np.float32)
    return np.where(region, distance, -distance)
