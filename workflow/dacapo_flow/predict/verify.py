"""The verify job: every block of the ROI is in a shard JSON of the current config, and what is
stored for it has the checksum its shard recorded. Writes verified.json only then."""

from __future__ import annotations

import logging

from ..store.atomic import atomic_write_json
from .output import open_level, read_block_checksum
from .plan import PREDICTION, SEGMENTATION, Plan
from .progress import read_shard_json

logger = logging.getLogger(__name__)


class VerificationError(RuntimeError):
    """Blocks are missing or corrupt; the message names them."""


def _ids(ids) -> str:
    ids = sorted(ids)
    shown = ", ".join(map(str, ids[:30]))
    return f"[{shown}{', ...' if len(ids) > 30 else ''}] ({len(ids)} blocks)"


def collect_blocks(plan: Plan, kind: str, shard_jsons) -> tuple[dict[int, str], list[str]]:
    """block id -> checksum over the shard JSONs of `kind`, and the problems found."""
    expected = plan.config_key(kind)
    blocks, problems = {}, []
    for path in shard_jsons:
        try:
            shard = read_shard_json(path, kind)
        except ValueError as error:
            problems.append(str(error))
            continue
        if shard["config_hash"] != expected:
            problems.append(
                f"{path}: written for config {shard['config_hash']}, expected {expected}; "
                f"its blocks count as missing"
            )
            continue
        for block, record in shard["blocks"].items():
            if blocks.setdefault(block, record["checksum"]) != record["checksum"]:
                problems.append(f"{path}: block {block} has two different checksums")
    return blocks, problems


def check_output(plan: Plan, kind: str, group: str, shard_jsons, read_data=True) -> list[str]:
    blocks, problems = collect_blocks(plan, kind, shard_jsons)
    grid = plan.grid
    missing = set(range(grid.num_blocks)) - set(blocks)
    if missing:
        problems.append(f"{group}: missing blocks {_ids(missing)}")
    if read_data:
        levels = [open_level(plan, group, level) for level in range(1 + plan.pyramid)]
        corrupt = [
            block
            for block, expected in sorted(blocks.items())
            if block < grid.num_blocks
            and read_block_checksum(levels, grid.write_roi(block)) != expected
        ]
        if corrupt:
            problems.append(
                f"{group}: stored data differ from the shard checksums: {_ids(corrupt)}"
            )
    return problems


def verify(plan: Plan, predict_jsons, relabel_jsons, out, read_data: bool = True) -> dict:
    """Raise VerificationError naming every missing / corrupt block; else write `out`."""
    problems = check_output(plan, "predict", PREDICTION, predict_jsons, read_data)
    outputs = {PREDICTION: [plan.dataset(PREDICTION, lv) for lv in range(1 + plan.pyramid)]}
    if plan.segmentation is not None:
        if not relabel_jsons:
            problems.append("segmentation: no relabel shard JSONs given")
        problems += check_output(plan, "relabel", SEGMENTATION, relabel_jsons, read_data)
        outputs[SEGMENTATION] = [plan.dataset(SEGMENTATION, lv) for lv in range(1 + plan.pyramid)]
    name = plan.target["name"]
    if problems:
        raise VerificationError(f"prediction {name} ({plan.zarr}):\n" + "\n".join(problems))
    summary = {
        "format": "dacapo-flow-verified",
        "target": name,
        "zarr": plan.zarr,
        "outputs": outputs,
        "blocks": plan.grid.num_blocks,
        "prediction_hash": plan.prediction_hash,
        "segmentation_hash": plan.segmentation_hash,
        "data_checked": read_data,
    }
    atomic_write_json(out, summary)
    logger.info("%s: all %d blocks verified", name, plan.grid.num_blocks)
    return summary
