"""File names inside one prediction target's directory. Pure strings, no I/O: the Snakefile
builds its rules' inputs and outputs from these, and the library never invents a path itself.

    <dir>/prepared.json                 the plan every later job reads
    <dir>/output.zarr/                  OME-Zarr: prediction/s0[,s1], segmentation/s0[,s1],
                                        fragments (per-block ids, intermediate)
    <dir>/shards/<kind>_<i>.json        a finished shard (kind: predict, segment, relabel)
    <dir>/shards/<kind>_<i>.progress.json  its resume manifest (not a Snakemake output)
    <dir>/records/<block>.npz           face records of one block (segmentation)
    <dir>/merge.json, <dir>/lut.npz     the merged equivalences
    <dir>/verified.json                 written only when every block checks out
    <dir>/logs/<job>.log
"""

from __future__ import annotations

import os

SHARD_KINDS = ("predict", "segment", "relabel")


class PredictionPaths:
    def __init__(self, directory: str | os.PathLike):
        self.dir = str(directory).rstrip("/") or "."

    def __repr__(self) -> str:
        return f"PredictionPaths({self.dir!r})"

    @property
    def prepared(self) -> str:
        return f"{self.dir}/prepared.json"

    @property
    def zarr(self) -> str:
        return f"{self.dir}/output.zarr"

    def shard(self, kind: str, shard: object) -> str:
        if kind not in SHARD_KINDS:
            raise ValueError(f"unknown shard kind {kind!r}; known: {SHARD_KINDS}")
        return f"{self.dir}/shards/{kind}_{shard}.json"

    def shards(self, kind: str, count: int) -> list[str]:
        return [self.shard(kind, i) for i in range(count)]

    @property
    def records(self) -> str:
        return f"{self.dir}/records"

    @property
    def merge(self) -> str:
        return f"{self.dir}/merge.json"

    @property
    def lut(self) -> str:
        return f"{self.dir}/lut.npz"

    @property
    def verified(self) -> str:
        return f"{self.dir}/verified.json"

    def log(self, job: str, shard: object | None = None) -> str:
        suffix = "" if shard is None else f"_{shard}"
        return f"{self.dir}/logs/{job}{suffix}.log"


def manifest_path(shard_json: str | os.PathLike) -> str:
    """The resume manifest kept beside a shard's final JSON: `x.json` -> `x.progress.json`."""
    text = os.fspath(shard_json)
    stem = text.removesuffix(".json")
    return f"{stem}.progress.json"
