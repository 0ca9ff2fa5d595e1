"""The model-only weights file kept beside each checkpoint, and selection's torch-free copy of it.

After its checkpoint, a training chunk writes the checkpoint's model part (what a winning
weights file holds: state dict, iteration, config hash, head labels; no optimizer or RNG state)
to `Layout.checkpoint_model` (`<run>/checkpoints/model/<N>.pt`), then a JSON beside it
(`<N>.json`: the sha256 of both files and the fields a best record takes). Selection copies
those bytes to the winning weights path, so the light select-best job never imports torch.

Neither file is a Snakemake output (stores written before they existed must not retrain). The
pair is used only when both files still have the digests the JSON records (mtimes prove nothing:
Snakemake touches a job's outputs after it ends); otherwise, e.g. for a store written before
these files existed or a checkpoint rewritten since, selection reads the checkpoint with torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..layout import checkpoint_model_file, iteration_of
from .atomic import atomic_write, atomic_write_json

if TYPE_CHECKING:
    from .weights import Weights

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelInfo:
    """What a best record takes from the winning checkpoint."""

    iteration: int | None
    config_hash: str | None
    head_labels: list[str] | None


def model_record_path(model_file: str | os.PathLike) -> Path:
    """The JSON beside a model file: `model/100.pt` -> `model/100.json`."""
    return Path(model_file).with_suffix(".json")


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def write_model_record(
    model_file: str | os.PathLike, checkpoint: str | os.PathLike, info: ModelInfo
) -> Path:
    """Record both files' digests and `info` beside `model_file` (last: it commits the pair)."""
    record = {
        "sha256": sha256_of(model_file),
        "checkpoint_sha256": sha256_of(checkpoint),
        "iteration": info.iteration,
        "config_hash": info.config_hash,
        "head_labels": info.head_labels,
    }
    return atomic_write_json(model_record_path(model_file), record)


def _usable_record(checkpoint: Path, model_file: Path) -> dict | None:
    """The model file's record, when it was written for this very checkpoint."""
    try:
        record = json.loads(model_record_path(model_file).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("iteration") != iteration_of(checkpoint):
        return None
    if record.get("checkpoint_sha256") != sha256_of(checkpoint):
        return None
    return record


class _DigestMismatch(Exception):
    pass


def copy_model_file(checkpoint: str | os.PathLike, out: str | os.PathLike) -> ModelInfo | None:
    """Copy the model file of `checkpoint` to `out` atomically, checking its sha256 on the way;
    None (and `out` untouched) when there is no usable model file."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist")
    model_file = checkpoint_model_file(checkpoint)
    record = None if model_file is None else _usable_record(checkpoint, Path(model_file))
    if record is None:
        return None

    def copy(destination) -> None:
        digest = hashlib.sha256()
        with open(model_file, "rb") as source:
            while block := source.read(_CHUNK):
                digest.update(block)
                destination.write(block)
        if digest.hexdigest() != record.get("sha256"):
            raise _DigestMismatch

    try:
        atomic_write(out, copy)
    except _DigestMismatch:
        logger.warning("%s does not match its record %s", model_file, model_record_path(model_file))
        return None
    labels = record.get("head_labels")
    return ModelInfo(record["iteration"], record.get("config_hash"), labels)


def copy_winning_weights(checkpoint: str | os.PathLike, out: str | os.PathLike) -> ModelInfo:
    """Write the model part of `checkpoint` to `out`: a byte copy of its model file, or, for a
    checkpoint without one, read and written again with torch."""
    info = copy_model_file(checkpoint, out)
    if info is not None:
        return info
    logger.info("%s has no model file beside it: copying its model part with torch", checkpoint)
    weights = copy_model_weights(checkpoint, out)
    return ModelInfo(weights.iteration, weights.config_hash, weights.head_labels)


def model_part(full: Weights) -> Weights:
    """State dict, iteration, config hash and head labels; no optimizer or RNG state."""
    from .weights import Weights

    return Weights(
        full.model,
        None,
        iteration=full.iteration,
        config_hash=full.config_hash,
        head_labels=full.head_labels,
    )


def copy_model_weights(checkpoint: str | os.PathLike, out: str | os.PathLike) -> Weights:
    """Write the model part of `checkpoint` to `out` atomically: the winning weights a finetune
    or a prediction loads, independent of the checkpoint staying on disk."""
    from .weights import load_checkpoint, save_checkpoint

    weights = model_part(load_checkpoint(checkpoint))
    save_checkpoint(weights, out)
    return weights


def save_model_file(full: Weights, checkpoint: str | os.PathLike) -> Path | None:
    """After `checkpoint` is written: its model part in the store (`Layout.checkpoint_model`)
    with a digest record, which selection copies without torch (`copy_model_file`). None
    for a checkpoint outside a store's layout."""
    from .weights import save_checkpoint

    path = checkpoint_model_file(checkpoint)
    if path is None:
        return None
    weights = model_part(full)
    save_checkpoint(weights, path)
    info = ModelInfo(weights.iteration, weights.config_hash, weights.head_labels)
    write_model_record(path, checkpoint, info)
    return Path(path)
