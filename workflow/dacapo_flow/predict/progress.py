"""Which blocks a shard has finished: checksums, the resume manifest and the shard JSON.

A block is recorded only after its data is completely written; the manifest is rewritten
atomically at most every `flush_s` seconds (rewriting it per block would cost O(blocks^2) bytes
on big shards), so a killed shard redoes at most the blocks of those seconds. The manifest carries
the config hash: one written under another config is ignored (those blocks are redone). The
shard JSON, the Snakemake output, is written last and holds the same records.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from ..store.atomic import atomic_write_json

logger = logging.getLogger(__name__)

FORMAT = "dacapo-flow-shard"


def checksum(*arrays: np.ndarray) -> str:
    """Digest of arrays as stored: dtype, shape and bytes (C order)."""
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        if array.size:  # memoryview cannot cast an empty array (nothing to add anyway)
            digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file, read in pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for piece in iter(lambda: file.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


class Progress:
    """The resume manifest of one shard: block id -> record (checksum and kind-specific data)."""

    def __init__(self, path: str | os.PathLike, kind: str, config_hash: str, flush_s=5.0):
        self.path = Path(path)
        self.kind = kind
        self.config_hash = config_hash
        self.flush_s = flush_s
        self.done: dict[int, dict] = self._load()
        self._flushed = time.monotonic()

    def _load(self) -> dict[int, dict]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
            if data.get("kind") != self.kind or data.get("config_hash") != self.config_hash:
                logger.info(
                    "%s: written for %s/%s, now %s/%s: redoing every block",
                    self.path,
                    data.get("kind"),
                    data.get("config_hash"),
                    self.kind,
                    self.config_hash,
                )
                return {}
            return {int(block): record for block, record in data["blocks"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            logger.warning("%s is unreadable (%s): redoing every block", self.path, error)
            return {}

    def record(self, block_id: int, record: dict) -> None:
        self.done[int(block_id)] = record
        if time.monotonic() - self._flushed >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        atomic_write_json(self.path, self._payload(sorted(self.done)))
        self._flushed = time.monotonic()

    def _payload(self, block_ids) -> dict:
        return {
            "format": FORMAT,
            "kind": self.kind,
            "config_hash": self.config_hash,
            "blocks": {str(b): self.done[b] for b in block_ids},
        }

    def write_shard_json(self, path, shard: int, shards: int, block_ids, **extra) -> Path:
        """The shard's final JSON: its blocks' records, all of which must be done."""
        missing = [b for b in block_ids if b not in self.done]
        if missing:
            raise RuntimeError(f"{path}: blocks {missing[:20]} of shard {shard} are not done")
        self.flush()
        payload = self._payload(list(block_ids))
        payload.update(shard=shard, shards=shards, **extra)
        return atomic_write_json(path, payload)


def read_shard_json(path: str | os.PathLike, kind: str) -> dict:
    """A shard JSON, checked for format and kind; blocks keyed by int."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"shard file {path} cannot be read: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("kind") != kind:
        raise ValueError(f"shard file {path} is not a {kind} shard JSON")
    try:
        data["blocks"] = {int(b): record for b, record in data["blocks"].items()}
    except (KeyError, ValueError, AttributeError) as error:
        raise ValueError(f"shard file {path}: bad 'blocks': {error}") from None
    return data


def run_blocks(block_ids, progress: Progress, work, max_blocks=None) -> bool:
    """`progress.record(b, work(b))` for every block not done yet, in order; True when all of
    `block_ids` are done. `max_blocks` stops after that many new blocks. Logs its progress."""
    from .rate import BlockRate

    todo = [b for b in block_ids if b not in progress.done]
    done = len(block_ids) - len(todo)
    try:
        with BlockRate(progress.kind, len(block_ids), done) as rate:
            for count, block_id in enumerate(todo):
                if max_blocks is not None and count >= max_blocks:
                    break
                progress.record(block_id, work(block_id))
                rate.tick()
    finally:
        progress.flush()
    return all(b in progress.done for b in block_ids)
