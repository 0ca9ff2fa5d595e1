"""One relabel shard: final ids per block from the merge's lookup table (instances), or a
checksum of what the segment pass wrote (semantic outputs, nothing to relabel)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from .blocks import shard_blocks
from .merge import load_table, relabel
from .mws_merge import load_dense, relabel_dense
from .output import open_level, read_block_checksum, write_block
from .plan import FRAGMENTS, SEGMENTATION, Plan
from .progress import Progress, file_digest, run_blocks
from .segment_shard import logged

logger = logging.getLogger(__name__)


def check_merge(plan: Plan, merge_json, lut_path) -> None:
    merge = json.loads(Path(merge_json).read_text())
    if merge.get("config_hash") != plan.config_key("relabel"):
        raise ValueError(
            f"merge {merge_json} was made for {merge.get('config_hash')}, the plan is "
            f"{plan.config_key('relabel')}: rerun the merge"
        )
    if merge.get("lut_sha256") != file_digest(lut_path):
        raise ValueError(f"lookup table {lut_path} is not the one {merge_json} wrote")


def run_relabel_shard(
    plan: Plan, merge_json, lut_path, shard, shards, out_json, manifest, max_blocks=None
) -> bool:
    check_merge(plan, merge_json, lut_path)
    grid = plan.grid

    def as_stored(final):
        if plan.segmentation.dtype == "uint8":  # a 0/1 mask of the objects
            return (final > 0).astype(np.uint8)
        return final

    levels = [open_level(plan, SEGMENTATION, level) for level in range(1 + plan.pyramid)]
    if plan.segmentation.mode == "whole":  # the segment pass wrote the final ids
        fragments = open_level(plan, FRAGMENTS)
        dtype = plan.segmentation.dtype

        def work(block_id):
            roi = grid.write_roi(block_id)
            final = fragments.read(roi).astype(dtype)
            return {"checksum": write_block(levels, roi, final, labels=True)}
    elif plan.segmentation.mode in ("mws_exact", "seeded"):
        final, ids, first = load_dense(lut_path)
        fragments = open_level(plan, FRAGMENTS)

        def work(block_id):
            roi = grid.write_roi(block_id)
            relabelled = as_stored(relabel_dense(fragments.read(roi), final, ids, first))
            return {"checksum": write_block(levels, roi, relabelled, labels=True)}
    elif plan.segmentation.instances:
        table, ids, first = load_table(lut_path)
        fragments = open_level(plan, FRAGMENTS)
        logger.info("relabel: a lookup table of %d merged fragments", table[0].size)

        def work(block_id):
            roi = grid.write_roi(block_id)
            final = as_stored(relabel(fragments.read(roi), table, ids, first))
            return {"checksum": write_block(levels, roi, final, labels=True)}
    else:

        def work(block_id):
            return {"checksum": read_block_checksum(levels, grid.write_roi(block_id))}

    block_ids = shard_blocks(grid.num_blocks, shard, shards)
    progress = Progress(manifest, "relabel", plan.config_key("relabel"))
    work = logged(work, len(block_ids) - len(progress.done), "relabel")
    if not run_blocks(block_ids, progress, work, max_blocks):
        return False
    progress.write_shard_json(out_json, shard, shards, block_ids)
    return True
