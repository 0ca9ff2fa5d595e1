"""File names inside one prediction target's directory (defined in `dacapo_flow.layout`). Pure strings, no I/O: the Snakefile
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

from dacapo_flow.layout import SHARD_KINDS, PredictionPaths

__all__ = ["SHARD_KINDS", "PredictionPaths", "manifest_path"]


def manifest_path(shard_json: str | os.PathLike) -> str:
    """The resume manifest kept beside a shard's final JSON: `x.json` -> `x.progress.json`."""
    text = os.fspath(shard_json)
    stem = text.removesuffix(".json")
    return f"{stem}.progress.json"
