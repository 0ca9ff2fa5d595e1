"""Time and peak memory of the mutex watershed merge job on a simulated region graph.

The merge (`predict/mws_merge.py: mws_lookup`) reads every block's fragment sizes, edges within
the block and face records, joins the face records of neighbouring blocks by key, runs one
graph mutex watershed over all edges and numbers the segments. Here the blocks are simulated
in memory (no files): a cubic grid of `blocks` blocks, each with `--fragments` fragments,
`--intra` touching pairs inside it, and `--records` crossing-edge records per face shared
with each of its 6 face neighbours, their labels drawn from `--face-pairs` fragment pairs
per face. Each block count runs in its own subprocess so that its peak RSS is its own.

    python bench/merge_scaling.py [--blocks 1000 10000 100000] [--fragments 10] ...

Prints, per block count: fragments, graph edges, seconds of simulated block loading (`load_s`,
not part of the merge's figures), seconds to build the region graph from the loaded blocks,
seconds of the graph mutex watershed and numbering, and the peak RSS above the interpreter's
(simulated blocks included, one at a time).
"""

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def grid_shape(blocks: int) -> tuple[int, int, int]:
    side = max(1, round(blocks ** (1 / 3)))
    return side, side, max(1, round(blocks / side**2))


def simulated_blocks(shape, fragments, intra, records, face_pairs, seed=0):
    """`load_block(b)` of the merge: deterministic per block and per face, so both blocks of
    a face hold the same keys (as segment shards write them)."""
    num_blocks = int(np.prod(shape))
    base = np.random.default_rng(seed)
    seeds = base.integers(0, 2**31, 2)

    def face(a, b):  # a < b: the face's keys and both sides' labels
        rng = np.random.default_rng([seeds[0], a, b])
        pairs = rng.integers(1, fragments + 1, (face_pairs, 2))
        chosen = pairs[rng.integers(0, face_pairs, records)]
        keys = (np.uint64(a) * np.uint64(3 * num_blocks) + np.uint64(b)) * np.uint64(
            records
        ) + np.arange(records, dtype=np.uint64)
        return keys, chosen[:, 0].astype(np.uint64), chosen[:, 1].astype(np.uint64)

    def load_block(block):
        rng = np.random.default_rng([seeds[1], block])
        u = rng.integers(1, fragments, intra)
        v = np.minimum(u + rng.integers(1, fragments, intra), fragments)
        edges = np.unique(np.stack([u, v], 1), axis=0)
        position = np.unravel_index(block, shape)
        neighbour, key, label = [], [], []
        for axis in range(3):
            for step in (-1, 1):
                other = list(position)
                other[axis] += step
                if not 0 <= other[axis] < shape[axis]:
                    continue
                other = int(np.ravel_multi_index(other, shape))
                keys, la, lb = face(min(block, other), max(block, other))
                neighbour.append(np.full(records, other, np.int64))
                key.append(keys)
                label.append(la if block < other else lb)
        label, neighbour, key = (np.concatenate(a) for a in (label, neighbour, key))
        order = np.lexsort((key, neighbour))  # as segment shards write them
        return {
            "sizes": rng.integers(50, 5000, fragments).astype(np.int64),
            "edges": edges.astype(np.uint64),
            "high": rng.uniform(0.5, 1, len(edges)).astype(np.float32),
            "low": rng.uniform(0, 0.5, len(edges)).astype(np.float32),
            "neighbour": neighbour[order],
            "key": key[order],
            "label": label[order],
            "affinity": rng.uniform(0, 1, label.size).astype(np.float32),
        }

    return num_blocks, load_block


def measure(blocks: int, args) -> dict:
    """In this process: one merge on `blocks` simulated blocks."""
    from dacapo_flow.predict.graph_mws import graph_mutex_watershed, signed_edges
    from dacapo_flow.predict.merge import first_ids
    from dacapo_flow.predict.mws_merge import final_ids, region_graph

    shape = grid_shape(blocks)
    num_blocks, load_block = simulated_blocks(
        shape, args.fragments, args.intra, args.records, args.face_pairs
    )
    counts = np.full((1, num_blocks), args.fragments, np.int64)
    first = first_ids(counts)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    loading = [0.0]

    def timed_load(block):  # the simulation's own time, taken out of the merge's
        started = time.perf_counter()
        found = load_block(block)
        loading[0] += time.perf_counter() - started
        return found

    started = time.perf_counter()
    u, v, high, low, sizes = region_graph(timed_load, num_blocks, first)
    graph_s = time.perf_counter() - started - loading[0]
    started = time.perf_counter()
    segment = graph_mutex_watershed(*signed_edges(u, v, high, low, args.bias), sizes.size - 1)
    final = final_ids(segment, sizes, args.min_size)
    mws_s = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "blocks": num_blocks,
        "grid": list(shape),
        "fragments": int(sizes.size - 1),
        "edges": int(u.size),
        "segments": int(final.max()),
        "load_s": round(loading[0], 2),
        "region_graph_s": round(graph_s, 2),
        "graph_mws_s": round(mws_s, 2),
        "peak_rss_mib": round((peak - baseline) / 1024, 1),  # ru_maxrss is KiB on Linux
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--fragments", type=int, default=10, help="per block")
    parser.add_argument("--intra", type=int, default=20, help="touching pairs drawn per block")
    parser.add_argument("--records", type=int, default=200, help="crossing edges per face")
    parser.add_argument("--face-pairs", type=int, default=6, help="fragment pairs per face")
    parser.add_argument("--bias", type=float, default=0.5)
    parser.add_argument("--min-size", type=int, default=100)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args)))
        return
    rest = [a for a in sys.argv[1:]]
    if "--blocks" in rest:  # the children take one block count each
        index = rest.index("--blocks")
        end = index + 1
        while end < len(rest) and not rest[end].startswith("--"):
            end += 1
        del rest[index:end]
    header = ("blocks", "fragments", "edges", "load_s", "region_graph_s", "graph_mws_s")
    print(" ".join(f"{h:>14}" for h in (*header, "peak_rss_mib")))
    for blocks in args.blocks:
        child = subprocess.run(
            [sys.executable, __file__, "--one", str(blocks), *rest],
            check=True,
            capture_output=True,
            text=True,
        )
        row = json.loads(child.stdout.strip().splitlines()[-1])
        print(" ".join(f"{row[h]:>14}" for h in (*header, "peak_rss_mib")), flush=True)


if __name__ == "__main__":
    main()
