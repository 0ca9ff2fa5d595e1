"""The graph mutex watershed over fragment pairs, and the merges one block can make alone.

The merge (mws_merge.py) runs mwatershed's graph mutex watershed over every block's fragments.
A block can take part of that work off it. Among its attractive pair edges, taken by
decreasing weight w, an edge is *certain* when, once every edge of weight w is joined, the
component of its ends (over attractive edges of at least w inside the block) has no edge
leaving the block as strong as w. Until w, the whole-volume watershed joins nothing into that
component from outside, and a mutex with an outside segment forbids nothing inside it; so its
segments at w are those of the block's own graph watershed. A certain edge whose ends share a
segment of the block's own watershed therefore joins them in the whole-volume result too (a
mutex is for ever: ends apart at w stay apart), and the block contracts them into one
fragment. The result is unchanged, up to the order of edges of equal weight, and the merge
holds fewer fragments (1.8x and 2.0x fewer on CREMI at bias 0.25 and 0.5).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from ..tasks.watershed import _compiled, _find


def signed_edges(u, v, high, low, bias: float) -> tuple:
    """(u, v, weights) of the graph: per pair, `high - bias` if it attracts and `low - bias`
    if it repels (in float64 as the voxel watershed subtracts the bias)."""
    attract = high.astype(np.float64) - bias
    repel = low.astype(np.float64) - bias
    a, r = attract > 0, repel < 0
    weights = np.concatenate([attract[a], repel[r]])
    return np.concatenate([u[a], u[r]]), np.concatenate([v[a], v[r]]), weights


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


@_compiled
def certain_edges(parent, open_level, u, v, w):  # pragma: no cover - compiled
    """Which attractive edges (sorted by decreasing w) are certain: after joining every edge
    of weight w, the component of their ends has no edge leaving the block stronger than w
    (`open_level`: each node's strongest edge leaving it, updated per component)."""
    certain = np.zeros(u.size, np.bool_)
    i = 0
    while i < u.size:
        j = i
        while j < u.size and w[j] == w[i]:
            j += 1
        for k in range(i, j):
            a, b = _find(parent, u[k]), _find(parent, v[k])
            if a != b:
                parent[a] = b
                open_level[b] = max(open_level[a], open_level[b])
        for k in range(i, j):
            certain[k] = open_level[_find(parent, u[k])] < w[k]
        i = j
    return certain


def contract_block(num_fragments: int, u, v, high, low, face_label, face_affinity, bias: float):
    """[n + 1] new label of each local fragment 1..n ([0] = 0): the fragments joined by the
    block's certain merges share one, numbered 1..m by their smallest fragment. `u, v, high,
    low`: the block's fragment pairs and their extreme affinities; `face_label`,
    `face_affinity`: the fragment and affinity of every edge leaving the block."""
    n = int(num_fragments)
    a, b, weights = signed_edges(u, v, high, low, bias)
    attract = weights > 0
    open_level = np.full(n + 1, -np.inf)
    np.maximum.at(
        open_level,
        np.asarray(face_label, np.int64),
        np.asarray(face_affinity, np.float64) - bias,
    )
    order = np.argsort(-weights[attract], kind="stable")
    au, av, aw = (x[attract][order] for x in (a, b, weights))
    certain = certain_edges(np.arange(n + 1, dtype=np.int64), open_level, au, av, aw)
    segment = graph_mutex_watershed(a, b, weights, n)
    join = certain & (segment[au] == segment[av])
    graph = sparse.coo_matrix(
        (np.ones(int(join.sum()), np.int8), (au[join], av[join])), shape=(n + 1, n + 1)
    )
    _, component = connected_components(graph, directed=False)
    return final_ids(component, np.ones(n + 1), 0).astype(np.int64)
