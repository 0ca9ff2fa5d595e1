"""One segmentation shard: per block, fragments and face records (instances) or the task's
post-processing written directly (semantic outputs). Resumable block by block."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from ..store.atomic import atomic_write
from .blocks import shard_blocks
from .merge import FragmentIds
from .mws_block import mws_block
from .output import dequantize, open_level, write_block
from .plan import FRAGMENTS, PREDICTION, SEGMENTATION, Plan
from .progress import Progress, file_digest, run_blocks
from .seeded_block import seeded_block
from .segment import BlockPlace, segment_block, segment_context, whole_volume_segmentation

logger = logging.getLogger(__name__)

# What a block of the mutex watershed records (mws_block.py). Its meaning is not in the
# segmentation hash: change it together with the mode's name in prepare.segmentation_spec,
# so that stored blocks are redone.
MWS_ARRAYS = ("sizes", "edges", "high", "low", "neighbour", "key", "label", "affinity")


class BlockSegmenter:
    def __init__(self, plan: Plan, task, records_dir):
        self.plan, self.task, self.spec = plan, task, plan.segmentation
        self.grid = plan.grid
        self.records_dir = Path(records_dir)
        self.prediction = open_level(plan, PREDICTION)
        self.voxel = self.prediction.voxel_size
        if self.spec.instances:
            self.levels = [open_level(plan, FRAGMENTS)]
        else:
            self.levels = [open_level(plan, SEGMENTATION, lv) for lv in range(1 + plan.pyramid)]
        if self.spec.mode == "mws":  # fragments of its mutex watershed's blocks no longer fit
            raise ValueError(
                f"{plan.target['name']}: prepared by an earlier version whose blockwise mutex "
                "watershed was not the whole-volume one; rerun its prepare job (snakemake "
                "--forcerun predict_prepare), which keeps the finished prediction blocks"
            )
        self.context = segment_context(self.spec, self.voxel.dims) * self.voxel
        block_voxels = int(np.prod(plan.block_shape))
        self.ids = FragmentIds(self.grid.num_blocks, block_voxels, self.spec.channels)
        self._whole = None

    def whole(self) -> np.ndarray:
        """Mode "whole" (plans of earlier versions only): the segmentation of the whole ROI,
        computed once per shard job (deterministic, so every shard writes its blocks of the
        same result)."""
        if "seed_distance" in self.spec.parameters:
            # Its blocks so far came from mwatershed's tie order: new ones would not fit them.
            raise ValueError(
                f"{self.plan.target['name']}: prepared by an earlier version that segmented "
                "a seeded watershed in memory; rerun its prepare job (snakemake --forcerun "
                "predict_prepare), which keeps the finished prediction blocks"
            )
        if self._whole is None:
            values = self._values(self.grid.roi)
            self._whole = whole_volume_segmentation(self.task, values, self.spec)
        return self._whole

    def _whole_block(self, block_id: int, roi) -> dict:
        begin = (roi.begin - self.grid.roi.begin) / self.voxel
        window = tuple(slice(b, b + s) for b, s in zip(begin, roi.shape / self.voxel))
        labels = self.whole()[(slice(None), *window)].astype(np.uint64)
        empty = {"neighbour": np.zeros(0, np.int64), "key": np.zeros(0, np.uint64)}
        empty["fragment"] = np.zeros(0, np.uint64)  # no face records: nothing to merge
        empty["sizes"] = np.zeros(0, np.int64)
        return self._commit(block_id, roi, labels, [0] * self.spec.channels, empty)

    def _commit(self, block_id: int, roi, fragments, counts, records: dict) -> dict:
        """Write a block's fragments and its records file; the manifest's entry for it."""
        checksum = write_block(self.levels, roi, fragments, labels=True)
        path = self.records_dir / f"{block_id}.npz"
        atomic_write(path, lambda file: np.savez_compressed(file, **records))
        return {
            "checksum": checksum,
            "counts": counts,
            "records": str(path),
            "records_sha256": file_digest(path),
        }

    def _mws_block(self, block_id: int, roi, window) -> dict:
        """Fragments and region-graph edges of one block (mws_block.py)."""
        values = self._values(window)[: len(self.spec.neighborhood)]  # not the LSD channels
        bias, low = float(self.spec.parameters["bias"]), float(self.plan.value_range[0])
        geometry = self._geometry(roi, window)
        found = mws_block(values, self.spec.neighborhood, bias, low, geometry)
        fragments = self.ids.globalise(found.labels[None], block_id)
        arrays = {name: getattr(found, name) for name in MWS_ARRAYS}
        return self._commit(block_id, roi, fragments, [int(found.sizes.size)], arrays)

    def _seeded_block(self, block_id: int, roi, window) -> dict:
        """Fragments, open edges and face records of one block (seeded_block.py)."""
        parameters = self.spec.parameters
        seed_level = np.tanh(float(parameters["seed_distance"]) / self.task.scale_factor)
        labels, counts, arrays = seeded_block(
            self._values(window),
            float(parameters["threshold"]),
            seed_level,
            self._geometry(roi, window),
        )
        return self._commit(block_id, roi, self.ids.globalise(labels, block_id), counts, arrays)

    def _geometry(self, roi, window) -> BlockPlace:
        """The block's place in the ROI's grid, in voxels."""
        origin = self.grid.roi.offset
        return BlockPlace.of(
            (window.begin - origin) / self.voxel,
            (roi.begin - origin) / self.voxel,
            roi.shape / self.voxel,
            self.grid.roi.shape / self.voxel,
            self.grid.block_shape / self.voxel,
            self.grid.counts,
        )

    def _values(self, roi):
        return dequantize(self.prediction.read(roi), self.plan.value_range)

    def __call__(self, block_id: int) -> dict:
        roi = self.grid.write_roi(block_id)
        if not self.spec.instances:
            labels = self.task.post_process(self._values(roi), self.spec.parameters)
            return {"checksum": write_block(self.levels, roi, labels.astype(np.uint8), True)}
        if self.spec.mode == "whole":
            return self._whole_block(block_id, roi)
        window = roi.grow(self.context, self.context).intersect(self.grid.roi)
        if self.spec.mode == "mws_exact":
            return self._mws_block(block_id, roi, window)
        if self.spec.mode == "seeded":
            return self._seeded_block(block_id, roi, window)
        geometry = self._geometry(roi, window)
        found = segment_block(self.task, self._values(window), self.spec, geometry)
        fragments = self.ids.globalise(found.labels, block_id)
        offsets = np.array([self.ids.offset(c, block_id) for c in range(self.spec.channels)])
        records = {
            "neighbour": found.neighbour,
            "key": found.key,
            "fragment": found.label + offsets[found.channel].astype(np.uint64),
            "sizes": found.sizes,  # for the merge's minimum size
        }
        return self._commit(block_id, roi, fragments, found.counts, records)


def logged(work, todo: int, kind: str = "segment", log_s: float = 30.0):
    """`work` that logs blocks done and time every `log_s` seconds and at the last block."""
    started = last = time.monotonic()
    done = 0

    def run(block_id):
        nonlocal done, last
        record = work(block_id)
        done += 1
        now = time.monotonic()
        if now - last >= log_s or done == todo:
            rate = done / max(now - started, 1e-9)
            logger.info(
                "%s: %d/%d blocks in %.0f s (%.2f blocks/s)", kind, done, todo, now - started, rate
            )
            last = now
        return record

    return run


def run_segment_shard(
    plan: Plan, task, shard, shards, records_dir, out_json, manifest, max_blocks=None
) -> bool:
    """Shard `shard` of `shards`; writes its JSON and returns True once all blocks are done."""
    if plan.segmentation is None:
        raise ValueError(f"{plan.target['name']}: the target asks for no segmentation")
    block_ids = shard_blocks(plan.grid.num_blocks, shard, shards)
    progress = Progress(manifest, "segment", plan.config_key("segment"))
    work = logged(BlockSegmenter(plan, task, records_dir), len(block_ids) - len(progress.done))
    if not run_blocks(block_ids, progress, work, max_blocks):
        return False
    progress.write_shard_json(out_json, shard, shards, block_ids)
    if plan.segmentation.instances:
        found = sum(sum(progress.done[b]["counts"]) for b in block_ids)
        logger.info("segment: %d fragments in %d blocks", found, len(block_ids))
    return True
