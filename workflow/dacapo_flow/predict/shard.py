"""One prediction shard: the network over blocks i::N, with reading, computing and writing
overlapped, resumable block by block.

Memory holds at most two inputs (one being read, one being computed) and two outputs (one being
computed, one being written), whatever the volume size.
"""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ..config.base import ConfigError
from ..data.arrays import open_array
from ..data.sampling import read_normalised
from .blocks import input_roi, shard_blocks
from .output import open_level, quantize, write_block
from .plan import PREDICTION, Plan
from .progress import Progress
from .rate import BlockRate

logger = logging.getLogger(__name__)

_AUTOCAST = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def autocast(device: torch.device, precision: str):
    """Mixed precision on CUDA when asked for; full precision elsewhere."""
    if device.type == "cuda" and precision in _AUTOCAST:
        return torch.autocast("cuda", dtype=_AUTOCAST[precision])
    return contextlib.nullcontext()


class BlockPredictor:
    """Reads a block's input, runs the network, writes the block: the three steps a shard
    overlaps. Also used by the benchmark, which times the steps on their own."""

    def __init__(self, plan: Plan, model, device):
        self.plan = plan
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.grid = plan.grid
        self.context = plan.network.context
        self.raw = open_array(plan.target_config.input.path, plan.target_config.input.dataset)
        self.levels = [open_level(plan, PREDICTION, level) for level in range(1 + plan.pyramid)]
        self.precision = plan.target["precision"]

    def read(self, block_id: int) -> np.ndarray:
        low, high = self.plan.raw_range
        roi = input_roi(self.grid.block(block_id), self.context)
        raw = read_normalised(self.raw, roi, low, high)
        if not np.isfinite(raw).all():  # inputs too large to scan before the jobs
            target = self.plan.target
            raise ConfigError(
                f"prediction {target['name']}: input {target['input']['path']}/"
                f"{target['input']['dataset']} holds NaN or infinite voxels in {roi} (block "
                f"{block_id}); fill or crop them in the data, or set the target's roi"
            )
        return raw

    def compute(self, raw: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(raw)[None, None].to(self.device, non_blocking=True)
        with autocast(self.device, self.precision):
            y = self.model(x)
        return y[0].float().cpu().numpy()

    def write(self, block_id: int, prediction: np.ndarray) -> str:
        """Store the block clipped to the ROI; returns its checksum."""
        block, roi = self.grid.block(block_id), self.grid.write_roi(block_id)
        voxel = self.levels[0].voxel_size
        begin, end = (roi.begin - block.begin) / voxel, (roi.end - block.begin) / voxel
        crop = (slice(None),) + tuple(slice(b, e) for b, e in zip(begin, end))
        data = quantize(prediction[crop], self.plan.value_range, self.plan.target["dtype"])
        return write_block(self.levels, roi, np.ascontiguousarray(data), labels=False)


def predict_blocks(predictor: BlockPredictor, block_ids, progress: Progress, max_blocks=None):
    """Predict every block of `block_ids` not yet in `progress`, overlapping the next block's
    read and the previous block's write with the current forward pass. `max_blocks` stops
    after that many new blocks (partial runs; tests simulate a killed job with it)."""
    todo = [b for b in block_ids if b not in progress.done]
    rate = BlockRate("predict", len(block_ids), len(block_ids) - len(todo))
    if max_blocks is not None:
        todo = todo[:max_blocks]
    if not todo:
        logger.info(
            "predict: nothing to do (%d of %d blocks done before)",
            len(block_ids) - len(todo),
            len(block_ids),
        )
        return

    def write_and_record(block_id, prediction):
        progress.record(block_id, {"checksum": predictor.write(block_id, prediction)})
        rate.tick()

    try:
        with (
            rate,
            ThreadPoolExecutor(1, "predict-read") as reader,
            ThreadPoolExecutor(1, "predict-write") as writer,
            torch.inference_mode(),
        ):
            pending_read = reader.submit(predictor.read, todo[0])
            pending_write = None
            for i, block_id in enumerate(todo):
                raw = pending_read.result()
                if i + 1 < len(todo):
                    pending_read = reader.submit(predictor.read, todo[i + 1])
                prediction = predictor.compute(raw)
                del raw
                if pending_write is not None:
                    pending_write.result()  # one write in flight: memory stays bounded
                pending_write = writer.submit(write_and_record, block_id, prediction)
                logger.debug("block %d computed (%d/%d)", block_id, i + 1, len(todo))
            pending_write.result()
    finally:
        progress.flush()  # after the pools have joined: the last write is in


def run_predict_shard(
    plan: Plan, model, device, shard, shards, out_json, manifest, max_blocks=None
):
    """Shard `shard` of `shards`: predict its blocks (resuming from `manifest`), then write the
    shard JSON. Returns False when `max_blocks` stopped it before the end (no JSON then)."""
    block_ids = shard_blocks(plan.grid.num_blocks, shard, shards)
    progress = Progress(manifest, "predict", plan.config_key("predict"))
    predict_blocks(BlockPredictor(plan, model, device), block_ids, progress, max_blocks)
    if any(b not in progress.done for b in block_ids):
        return False
    progress.write_shard_json(out_json, shard, shards, block_ids)
    return True
